package peliqantest

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// recordBodyLimit caps how much of each request body is kept.
const recordBodyLimit = 64 << 10

// Request is one request the fake received, as Requests returns it.
// Credentials are redacted: Authorization keeps only its scheme
// ("JWT [REDACTED]"), and Cookie is dropped.
type Request struct {
	Time     time.Time // by the fake's clock
	Method   string
	Path     string // unescaped, as matched against the routes table
	RawQuery string
	Query    url.Values
	Header   http.Header
	Body     []byte // the first 64 KiB
	// Route is the matched route's name (a peliqan.Route* constant), or ""
	// when no route matched (a slash-less path, an unknown path).
	Route string
	// Status is the status the fake answered, or 0 when the connection was
	// reset (an injected reset before or in the middle of the response).
	Status int
	// Fault names the injected fault's kind ("" when none).
	Fault string
	// Throttled is set when WithRateLimit answered the request 429 (it was
	// not acted on). An injected 429 has Fault set instead.
	Throttled bool
}

// recorder keeps the request log (a ring of the limit most recent) and the
// counts, which stay exact whatever the limit.
type recorder struct {
	mu    sync.Mutex
	limit int
	reqs  []Request // grows to limit, then overwritten from next on
	next  int
	// routes counts by route name; "" holds requests that matched no route.
	routes    map[string]*routeTally
	requests  int
	throttled int
	runs      map[int64]int // pipeline runs started, by connection id
}

// routeTally is one route's requests, counted on arrival, and their
// statuses, counted when answered.
type routeTally struct {
	arrived int
	status  map[int]int
}

func newRecorder(limit int) *recorder {
	rc := &recorder{limit: limit}
	rc.reset()
	return rc
}

// reset forgets everything; callers hold rc.mu (or own rc).
func (rc *recorder) reset() {
	rc.reqs, rc.next = nil, 0
	rc.routes, rc.runs = map[string]*routeTally{}, map[int64]int{}
	rc.requests, rc.throttled = 0, 0
}

func (rc *recorder) tally(route string) *routeTally {
	t := rc.routes[route]
	if t == nil {
		t = &routeTally{status: map[int]int{}}
		rc.routes[route] = t
	}
	return t
}

func newEntry(r *http.Request, now time.Time) Request {
	h := r.Header.Clone()
	if v := h.Get("Authorization"); v != "" {
		scheme, _, _ := strings.Cut(v, " ")
		h.Set("Authorization", scheme+" [REDACTED]")
	}
	h.Del("Cookie")
	return Request{Time: now, Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		Query: r.URL.Query(), Header: h}
}

// add counts the answered request's status and keeps it in the log.
func (rc *recorder) add(e Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.tally(e.Route).status[e.Status]++
	if e.Throttled {
		rc.throttled++
	}
	switch {
	case rc.limit == 0:
	case len(rc.reqs) < rc.limit:
		rc.reqs = append(rc.reqs, e)
	default:
		rc.reqs[rc.next] = e
		rc.next = (rc.next + 1) % rc.limit
	}
}

// count counts a request on arrival under its route ("" for none).
func (rc *recorder) count(route string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.requests++
	rc.tally(route).arrived++
}

// runStarted counts a pipeline run started for a connection.
func (rc *recorder) runStarted(serverID int64) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.runs[serverID]++
}

// Requests returns the requests received so far, oldest first: the
// WithRecordLimit most recent ones. Each is recorded when its answer is
// done. The reserved /_peliqantest/ paths are never recorded.
func (s *Fake) Requests() []Request {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	out := make([]Request, 0, len(s.rec.reqs))
	out = append(out, s.rec.reqs[s.rec.next:]...)
	return append(out, s.rec.reqs[:s.rec.next]...)
}

// Count returns how many requests matched route (a peliqan.Route* name),
// faulted and rate-limited ones included, exact whatever WithRecordLimit
// says. It counts on arrival, so a request still being answered is counted. An unknown route name panics: it is a typo in the
// test.
func (s *Fake) Count(route string) int {
	mustRoute(route)
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	if t := s.rec.routes[route]; t != nil {
		return t.arrived
	}
	return 0
}

// ResetRecords forgets recorded requests and every count (Count, Counts,
// RunsStarted).
func (s *Fake) ResetRecords() {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	s.rec.reset()
}

func capBytes(b []byte, limit int) []byte {
	if len(b) > limit {
		b = b[:limit]
	}
	return append([]byte(nil), b...)
}
