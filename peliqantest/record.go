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
}

type recorder struct {
	mu     sync.Mutex
	limit  int
	reqs   []Request
	counts map[string]int
}

func newRecorder(limit int) *recorder {
	return &recorder{limit: limit, counts: map[string]int{}}
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

func (rc *recorder) add(e Request) {
	if rc.limit == 0 {
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.reqs) >= rc.limit {
		// Drop the oldest half at once, so the cost stays amortised O(1).
		n := copy(rc.reqs, rc.reqs[len(rc.reqs)-rc.limit/2:])
		clear(rc.reqs[n:])
		rc.reqs = rc.reqs[:n]
	}
	rc.reqs = append(rc.reqs, e)
}

func (rc *recorder) count(route string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.counts[route]++
}

// Requests returns the requests received so far, oldest first (at most the
// WithRecordLimit most recent ones). Each is recorded when its answer is
// done.
func (s *Fake) Requests() []Request {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	out := make([]Request, len(s.rec.reqs))
	copy(out, s.rec.reqs)
	return out
}

// Count returns how many requests matched route (a peliqan.Route* name),
// faulted ones included. It counts on arrival, so a request still being
// answered is counted. An unknown route name panics: it is a typo in the
// test.
func (s *Fake) Count(route string) int {
	mustRoute(route)
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	return s.rec.counts[route]
}

// ResetRecords forgets recorded requests and counts.
func (s *Fake) ResetRecords() {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	s.rec.reqs, s.rec.counts = nil, map[string]int{}
}

func capBytes(b []byte, limit int) []byte {
	if len(b) > limit {
		b = b[:limit]
	}
	return append([]byte(nil), b...)
}
