package peliqantest

import (
	"maps"
	"net"
	"net/http"
	"strings"

	peliqan "github.com/peliqan-community/peliqan-go"
)

// ReservedPathPrefix starts the fake's own paths. No Peliqan route starts
// with it (a test checks the routes table), and requests under it are
// never recorded, counted, rate-limited or faulted.
const ReservedPathPrefix = "/_peliqantest/"

// CountsPath answers GET (and HEAD) with the fake's Counts as JSON, so that
// another process (a benchmark driving the peliqan-fake command, a client
// in another language) can read them. It needs no token and answers only
// peers on a loopback address (403 otherwise, which matters only when the
// fake is mounted in a server of your own). A trailing slash is accepted.
//
//	curl http://127.0.0.1:8080/_peliqantest/counts
const CountsPath = ReservedPathPrefix + "counts"

// Counts is a snapshot of what the fake counted since it started or since
// ResetRecords. The counts are exact whatever WithRecordLimit keeps.
// Requests are counted on arrival and their statuses when answered, so a
// request still being answered is in Requests but in no ByStatus yet.
//
// Its JSON form is what CountsPath serves; integer map keys (statuses,
// connection ids) are JSON strings:
//
//	{"requests": 7, "unmatched": 1, "rate_limited": 0,
//	 "by_status": {"200": 5, "404": 1, "503": 1},
//	 "routes": {"SyncServer": {"requests": 2, "by_status": {"200": 2}}, ...},
//	 "runs_started": {"14": 1}, "runs_started_total": 1,
//	 "recorded": 7, "record_limit": 10000}
type Counts struct {
	// Requests is every request received (the reserved paths excepted).
	Requests int `json:"requests"`
	// Unmatched is how many of them matched no route (a path without its
	// trailing slash, an unknown path, a wrong method).
	Unmatched int `json:"unmatched"`
	// RateLimited is how many were answered 429 by WithRateLimit.
	RateLimited int `json:"rate_limited"`
	// ByStatus counts answered requests by status; 0 is a connection reset
	// or a client that went away before the answer.
	ByStatus map[int]int `json:"by_status"`
	// Routes counts by route name (a peliqan.Route* constant); only routes
	// that were hit appear.
	Routes map[string]RouteCounts `json:"routes"`
	// RunsStarted counts pipeline runs (syncs and full resyncs) started,
	// by connection id. A sync answered with the run already going, a
	// refused sync and a request not acted on (an injected fault, a 429)
	// start none.
	RunsStarted map[peliqan.ID]int `json:"runs_started"`
	// RunsStartedTotal is the sum of RunsStarted.
	RunsStartedTotal int `json:"runs_started_total"`
	// Recorded is how many requests Requests would return now, and
	// RecordLimit the most it keeps (WithRecordLimit).
	Recorded    int `json:"recorded"`
	RecordLimit int `json:"record_limit"`
}

// RouteCounts is one route's share of Counts.
type RouteCounts struct {
	Requests int         `json:"requests"`  // on arrival, as Count
	ByStatus map[int]int `json:"by_status"` // when answered
}

// Counts returns a snapshot of the fake's counts (see CountsPath for the
// same from another process).
func (s *Fake) Counts() *Counts {
	rc := s.rec
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := &Counts{
		Requests:    rc.requests,
		RateLimited: rc.throttled,
		ByStatus:    map[int]int{},
		Routes:      map[string]RouteCounts{},
		RunsStarted: make(map[peliqan.ID]int, len(rc.runs)),
		Recorded:    len(rc.reqs),
		RecordLimit: rc.limit,
	}
	for name, t := range rc.routes {
		for code, n := range t.status {
			out.ByStatus[code] += n
		}
		if name == "" {
			out.Unmatched = t.arrived
			continue
		}
		out.Routes[name] = RouteCounts{Requests: t.arrived, ByStatus: maps.Clone(t.status)}
	}
	for id, n := range rc.runs {
		out.RunsStarted[peliqan.ID(id)] = n
		out.RunsStartedTotal += n
	}
	return out
}

// RunsStarted returns how many pipeline runs (syncs and full resyncs) were
// started per connection, for checks such as "exactly one run per
// connection". The map is a copy; connections with no run are absent.
func (s *Fake) RunsStarted() map[peliqan.ID]int {
	return s.Counts().RunsStarted
}

// serveReserved answers the fake's own paths under ReservedPathPrefix.
func (s *Fake) serveReserved(w http.ResponseWriter, r *http.Request) {
	if !loopbackPeer(r.RemoteAddr) {
		writeReply(w, detail(http.StatusForbidden, "peliqantest: "+ReservedPathPrefix+" answers loopback peers only."))
		return
	}
	if strings.TrimSuffix(r.URL.Path, "/") != CountsPath {
		writeReply(w, detail(http.StatusNotFound, "Not found."))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeReply(w, detail(http.StatusMethodNotAllowed, "Method \""+r.Method+"\" not allowed."))
		return
	}
	writeReply(w, jsonReply(http.StatusOK, s.Counts()))
}

// loopbackPeer reports whether a request's RemoteAddr is a loopback IP.
func loopbackPeer(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
