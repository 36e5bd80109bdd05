package peliqantest

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/peliqan-community/peliqan-go/internal/routes"
)

// FaultKind is what an injected fault does to a request.
type FaultKind int

// Fault kinds.
const (
	// FaultStatus answers Fault.Status (default 500) with Fault.Body (a
	// Peliqan-shaped error body when empty) and Fault.RetryAfter; the
	// request is not acted on.
	FaultStatus FaultKind = iota + 1
	// FaultLatency waits Fault.Delay, then serves the request normally.
	FaultLatency
	// FaultResetBeforeResponse resets the TCP connection (RST) before any
	// response byte; the request is not acted on.
	FaultResetBeforeResponse
	// FaultResetMidBody acts on the request, sends the headers and half the
	// body, then resets the connection.
	FaultResetMidBody
	// FaultTruncatedJSON acts on the request and answers its success status
	// with the first half of the JSON body (Content-Length matching what is
	// sent, so the client sees a clean end and a body that does not parse).
	FaultTruncatedJSON
	// FaultHTMLPage answers Fault.Status (default 502) with a proxy's HTML
	// error page; the request is not acted on.
	FaultHTMLPage
	// FaultOversizedBody acts on the request and answers its success status
	// with a valid JSON body padded to Fault.Size bytes.
	FaultOversizedBody
)

// String names the kind as Request.Fault records it ("status",
// "reset_mid_body", ...).
func (k FaultKind) String() string {
	switch k {
	case FaultStatus:
		return "status"
	case FaultLatency:
		return "latency"
	case FaultResetBeforeResponse:
		return "reset_before_response"
	case FaultResetMidBody:
		return "reset_mid_body"
	case FaultTruncatedJSON:
		return "truncated_json"
	case FaultHTMLPage:
		return "html_page"
	case FaultOversizedBody:
		return "oversized_body"
	}
	return "FaultKind(" + strconv.Itoa(int(k)) + ")"
}

// Fault is one injected failure. Build it with the constructors below or by
// hand; Delay applies to every kind (a slow 503, a slow reset).
type Fault struct {
	Kind       FaultKind
	Status     int           // FaultStatus, FaultHTMLPage
	Body       string        // FaultStatus; empty: a Peliqan-shaped body for Status
	RetryAfter string        // FaultStatus: the Retry-After header ("2", or an HTTP date)
	Delay      time.Duration // added before anything else happens
	Size       int64         // FaultOversizedBody: total body size
}

// DefaultOversizedSize is FaultOversizedBody's size when Fault.Size is 0:
// just past the SDK's default 64 MiB response cap.
const DefaultOversizedSize = 64<<20 + 1024

// StatusFault answers code with body (a Peliqan-shaped error body when
// empty).
func StatusFault(code int, body string) Fault {
	return Fault{Kind: FaultStatus, Status: code, Body: body}
}

// RetryAfterFault answers code (typically 429 or 503) with a Retry-After
// header.
func RetryAfterFault(code int, retryAfter string) Fault {
	return Fault{Kind: FaultStatus, Status: code, RetryAfter: retryAfter}
}

// LatencyFault delays the request by d, then serves it.
func LatencyFault(d time.Duration) Fault { return Fault{Kind: FaultLatency, Delay: d} }

// ResetFault resets the connection before the response.
func ResetFault() Fault { return Fault{Kind: FaultResetBeforeResponse} }

// MidBodyResetFault resets the connection half-way through the body.
func MidBodyResetFault() Fault { return Fault{Kind: FaultResetMidBody} }

// TruncatedJSONFault answers with half of the JSON body.
func TruncatedJSONFault() Fault { return Fault{Kind: FaultTruncatedJSON} }

// HTMLFault answers code with an HTML error page, as a proxy would.
func HTMLFault(code int) Fault { return Fault{Kind: FaultHTMLPage, Status: code} }

// OversizedFault answers with a JSON body of size bytes (0: DefaultOversizedSize).
func OversizedFault(size int64) Fault { return Fault{Kind: FaultOversizedBody, Size: size} }

// before reports whether the fault replaces the handler (the request is not
// acted on).
func (f Fault) before() bool {
	switch f.Kind {
	case FaultStatus, FaultResetBeforeResponse, FaultHTMLPage:
		return true
	}
	return false
}

func (f Fault) after() bool {
	switch f.Kind {
	case FaultResetMidBody, FaultTruncatedJSON, FaultOversizedBody:
		return true
	}
	return false
}

// FaultRule injects Fault into a share of requests: each request of Route
// ("" for every route) draws against Probability (0..1) from the server's
// seeded random source (WithFaultSeed).
type FaultRule struct {
	Route       string
	Probability float64
	Fault       Fault
}

type queued struct {
	route string
	left  int
	fault Fault
}

type faultSet struct {
	mu    sync.Mutex
	queue []*queued
	rules []FaultRule
	rng   *rand.Rand
}

func newFaultSet(seed uint64) *faultSet {
	return &faultSet{rng: rand.New(rand.NewPCG(seed, seed^0x5eed))}
}

// FailNext injects f into the next n requests of route (a peliqan.Route*
// name, or "" for any route). Calls queue up in order. An unknown route
// name panics: it is a typo in the test.
func (s *Fake) FailNext(route string, n int, f Fault) {
	if route != "" {
		mustRoute(route)
	}
	if n <= 0 {
		return
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.queue = append(s.faults.queue, &queued{route: route, left: n, fault: f})
}

// AddFaultRule adds a probabilistic fault rule. An unknown route name or a
// probability outside 0..1 panics.
func (s *Fake) AddFaultRule(r FaultRule) {
	if r.Route != "" {
		mustRoute(r.Route)
	}
	if r.Probability < 0 || r.Probability > 1 {
		panic(fmt.Sprintf("peliqantest: fault probability %v is outside 0..1", r.Probability))
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.rules = append(s.faults.rules, r)
}

// ClearFaults drops every queued fault and rule.
func (s *Fake) ClearFaults() {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.queue, s.faults.rules = nil, nil
}

// pick returns the fault for this request: the oldest queued one for its
// route, else the first rule that fires.
func (fs *faultSet) pick(route string) (Fault, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i, q := range fs.queue {
		if q.route == "" || q.route == route {
			f := q.fault
			if q.left--; q.left == 0 {
				fs.queue = append(fs.queue[:i], fs.queue[i+1:]...)
			}
			return f, true
		}
	}
	for _, r := range fs.rules {
		if (r.Route == "" || r.Route == route) && fs.rng.Float64() < r.Probability {
			return r.Fault, true
		}
	}
	return Fault{}, false
}

// applyBefore answers a fault that replaces the handler.
func (s *Fake) applyBefore(w http.ResponseWriter, rt routes.Route, f Fault) {
	switch f.Kind {
	case FaultResetBeforeResponse:
		resetConn(w, nil)
	case FaultHTMLPage:
		code := f.Status
		if code == 0 {
			code = http.StatusBadGateway
		}
		writeReply(w, reply{status: code, body: []byte(htmlPage(code)), contentType: "text/html"})
	default:
		code := f.Status
		if code == 0 {
			code = http.StatusInternalServerError
		}
		rep := reply{status: code, body: []byte(f.Body)}
		if f.Body == "" {
			s.mu.Lock()
			rep = s.defaultErrorBody(code, rt)
			s.mu.Unlock()
		}
		if f.RetryAfter != "" {
			rep.header = http.Header{"Retry-After": {f.RetryAfter}}
		}
		writeReply(w, rep)
	}
}

// defaultErrorBody is a Peliqan-shaped body for an injected status.
// Callers hold s.mu.
func (s *Fake) defaultErrorBody(code int, rt routes.Route) reply {
	c := &call{s: s}
	switch {
	case code == http.StatusUnauthorized:
		return unauthorized("Signature has expired.")
	case code == http.StatusForbidden:
		return detail(code, "You do not have permission to perform this action.")
	case code == http.StatusNotFound:
		return notFound()
	case code == http.StatusTooManyRequests:
		return detail(code, "Request was throttled.")
	case code >= 500:
		return jsonReply(code, map[string]any{
			"error": "ERROR_INTERNAL_SERVER_ERROR",
			"detail": map[string]any{
				"type":        "InternalServerError",
				"operation":   rt.Name,
				"message":     "Injected fault",
				"description": fmt.Sprintf("peliqantest injected a %d", code),
				"stack_trace": []string{"Traceback (most recent call last):", "peliqantest.InjectedFault"},
			},
		})
	case code >= 400:
		return c.peliqanError(code, "ERROR_INJECTED_FAULT", fmt.Sprintf("peliqantest injected a %d", code))
	}
	return jsonReply(code, map[string]string{"detail": http.StatusText(code)})
}

func htmlPage(code int) string {
	t := fmt.Sprintf("%d %s", code, http.StatusText(code))
	return "<html>\r\n<head><title>" + t + "</title></head>\r\n<body>\r\n<center><h1>" + t +
		"</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
}

// applyAfter sends a handler's reply damaged by the fault.
func (s *Fake) applyAfter(w http.ResponseWriter, rep reply, f Fault) {
	status, body := rep.status, rep.body
	if status == http.StatusNoContent || len(body) < 2 {
		// Nothing to damage: send a small JSON body under a 200 instead.
		status, body = http.StatusOK, []byte(`{"detail":"peliqantest: body added to be damaged"}`)
	}
	switch f.Kind {
	case FaultTruncatedJSON:
		writeReply(w, reply{status: status, body: body[:len(body)/2], header: rep.header})
	case FaultResetMidBody:
		resetConn(w, func(bw *bufio.ReadWriter) {
			fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
				status, http.StatusText(status), len(body))
			_, _ = bw.Write(body[:len(body)/2])
		})
	case FaultOversizedBody:
		size := f.Size
		if size <= 0 {
			size = DefaultOversizedSize
		}
		writeOversized(w, status, body, size)
	}
}

// writeOversized pads a JSON body to size bytes: an object gets a leading
// "_padding" string member, anything else trailing whitespace. It streams
// the padding in chunks and stops when the client goes away.
func writeOversized(w http.ResponseWriter, status int, body []byte, size int64) {
	var head, tail []byte
	pad := size - int64(len(body))
	if body[0] == '{' && pad > 16 {
		head = []byte(`{"_padding":"`)
		rest := body[1:]
		if len(rest) > 0 && rest[0] != '}' {
			tail = append([]byte(`",`), rest...)
		} else {
			tail = append([]byte(`"`), rest...)
		}
		pad = size - int64(len(head)+len(tail))
	} else {
		head = body
	}
	pad = max(pad, 0)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.FormatInt(int64(len(head))+pad+int64(len(tail)), 10))
	w.WriteHeader(status)
	if _, err := w.Write(head); err != nil {
		return
	}
	fill := byte(' ')
	if len(tail) > 0 {
		fill = 'x'
	}
	filler := bytes.Repeat([]byte{fill}, 32<<10)
	for pad > 0 {
		n := min(pad, int64(len(filler)))
		if _, err := w.Write(filler[:n]); err != nil {
			return
		}
		pad -= n
	}
	_, _ = w.Write(tail)
}

// resetConn hijacks the connection, optionally writes something first, and
// closes it with SO_LINGER 0 so the peer sees a reset (RST), not a clean
// end.
func resetConn(w http.ResponseWriter, write func(*bufio.ReadWriter)) {
	conn, bw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // not hijackable (HTTP/2): abort the stream instead
	}
	if write != nil {
		write(bw)
		_ = bw.Flush()
		// Let the partial response reach the peer before the reset
		// discards anything still queued.
		time.Sleep(20 * time.Millisecond)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
