package peliqantest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/internal/routes"
)

// maxRequestBody caps how much of a request body the fake reads.
const maxRequestBody = 10 << 20

// Fake is a stateful fake of the Peliqan API listening on a loopback
// address. It is safe for concurrent use.
type Fake struct {
	cfg  config
	http *httptest.Server

	mu     sync.Mutex // guards st and seeded
	st     *state
	seeded Seeded

	auth    *authority
	rec     *recorder
	faults  *faultSet
	limiter *tokenBucket // nil without WithRateLimit

	closed    chan struct{}
	closeOnce sync.Once
}

// NewFake starts a fake on a loopback port for the duration of a test; it
// is closed by t.Cleanup. An invalid option or fixture fails the test.
func NewFake(t testing.TB, opts ...Option) *Fake {
	t.Helper()
	s, err := New(opts...)
	if err != nil {
		t.Fatalf("peliqantest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// New starts a fake without a testing.TB, for long-running use (the
// peliqan-fake command, a dev environment). Call Close when done. It listens
// on 127.0.0.1 on a free port unless WithAddr names another loopback address.
func New(opts ...Option) (*Fake, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	s := &Fake{
		cfg:    cfg,
		auth:   newAuthority(cfg),
		rec:    newRecorder(cfg.recordLimit),
		faults: newFaultSet(cfg.faultSeed),
		closed: make(chan struct{}),
	}
	if cfg.rateLimit > 0 {
		s.limiter = newTokenBucket(cfg.rateLimit, cfg.rateBurst)
	}
	s.cfg.lifecycle.hub = newLifecycle(s)
	s.st = newState(cfg)
	for _, f := range cfg.fixtures {
		if _, err := s.Seed(f); err != nil {
			return nil, err
		}
	}
	l, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("peliqantest: listen on %s: %w", cfg.addr, err)
	}
	s.http = httptest.NewUnstartedServer(s)
	s.http.Listener.Close()
	s.http.Listener = l
	s.http.Config.ReadHeaderTimeout = 10 * time.Second
	s.http.Start()
	return s, nil
}

// Close stops the server and ends any request it is holding (added latency,
// a server-side wait). It is safe to call more than once.
func (s *Fake) Close() {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.http.CloseClientConnections()
		s.http.Close()
		s.cfg.lifecycle.hub.close()
	})
}

// URL is the server's base URL, e.g. "http://127.0.0.1:41234" (no trailing
// slash); pass it to peliqan.WithBaseURL.
func (s *Fake) URL() string { return s.http.URL }

// PartnerToken is the partner's API token: a non-expiring JWT signed by the
// fake. It opens the /api/partner/ routes and, on tenant routes, the
// partner's own (empty) account.
func (s *Fake) PartnerToken() string { return s.auth.partnerToken }

// PartnerClient returns a real SDK partner client pointed at the fake, with
// retries that never wait (3 attempts, constant zero back-off). opts are
// applied after those defaults and may override them.
func (s *Fake) PartnerClient(opts ...peliqan.Option) (*peliqan.PartnerClient, error) {
	return peliqan.NewPartnerClient(s.PartnerToken(), s.clientOptions(opts)...)
}

// SubAccountClient returns a real SDK tenant client for the sub-account with
// the given id, holding a fresh non-expiring identity token, with the same
// zero-wait retries as PartnerClient.
func (s *Fake) SubAccountClient(accountID peliqan.ID, opts ...peliqan.Option) (*peliqan.SubAccountClient, error) {
	tok, err := s.TenantToken(accountID, false)
	if err != nil {
		return nil, err
	}
	return peliqan.NewSubAccountClient(tok, s.clientOptions(opts)...)
}

func (s *Fake) clientOptions(opts []peliqan.Option) []peliqan.Option {
	base := []peliqan.Option{
		peliqan.WithBaseURL(s.URL()),
		peliqan.WithRetryPolicy(peliqan.RetryPolicy{MaxAttempts: 3, Backoff: peliqan.BackoffConstant}),
	}
	return append(base, opts...)
}

// TenantToken mints an identity token for a sub-account, as the
// SubAccountToken route does: expiring selects the short-lived kind (see
// WithTokenLifetime), otherwise it never expires.
func (s *Fake) TenantToken(accountID peliqan.ID, expiring bool) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.st.subAccount(int64(accountID))
	if a == nil {
		return "", fmt.Errorf("peliqantest: no sub-account %d", accountID)
	}
	return s.auth.mint(a.ID, kindIdentity, expiring, s.now())
}

// Now is the fake's current time (its clock, see WithClock).
func (s *Fake) Now() time.Time { return s.now() }

func (s *Fake) now() time.Time { return s.cfg.now().UTC() }

// ServeHTTP dispatches one request. The server itself uses it; it is
// exported so the fake can also be mounted in another http.Server or driven
// by httptest.NewRecorder.
func (s *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, ReservedPathPrefix) {
		s.serveReserved(w, r)
		return
	}
	entry := newEntry(r, s.now())
	body, bodyErr := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	entry.Body = capBytes(body, recordBodyLimit)
	// The request is recorded as its status is decided, before the client
	// can see any answer, so Requests() right after a call includes it.
	rw := &recWriter{ResponseWriter: w, record: func(status int) {
		entry.Status = status
		s.rec.add(entry)
	}}
	defer rw.recordOnce(0) // no answer at all (the client went away)

	path := r.URL.Path
	if !strings.HasSuffix(path, "/") && routes.MatchPath(path+"/") {
		s.rec.count("")
		djangoAppendSlash(rw, r)
		return
	}
	rt, params, ok := routes.Match(r.Method, path)
	if !ok {
		s.rec.count("")
		if routes.MatchPath(path) {
			rw.Header().Set("Allow", allowedMethods(path))
			writeReply(rw, detail(http.StatusMethodNotAllowed, fmt.Sprintf("Method %q not allowed.", r.Method)))
			return
		}
		writeReply(rw, djangoNotFound())
		return
	}
	entry.Route = rt.Name
	s.rec.count(rt.Name)
	if rep, ok := s.throttle(); !ok {
		entry.Throttled = true
		writeReply(rw, rep)
		return
	}

	f, faulted := s.faults.pick(rt.Name)
	if faulted {
		entry.Fault = f.Kind.String()
		if f.Kind == FaultResetBeforeResponse || f.Kind == FaultResetMidBody {
			rw.recordOnce(0)
		}
		if f.Delay > 0 && !s.sleep(r.Context(), f.Delay) {
			return
		}
		if f.before() {
			s.applyBefore(rw, rt, f)
			return
		}
	}
	var rep reply
	switch {
	case bodyErr != nil:
		rep = detail(http.StatusBadRequest, "Could not read the request body.")
	case len(body) > maxRequestBody:
		rep = detail(http.StatusRequestEntityTooLarge, "Request body is too large.")
	default:
		rep = s.handle(r, rt, params, body)
	}
	if faulted && f.after() {
		s.applyAfter(rw, rep, f)
		return
	}
	writeReply(rw, rep)
}

// handle authenticates and runs the route's handler under the state lock.
// A handler may ask for one server-side wait (the status routes' timeout):
// the lock is released while waiting and the handler runs once more.
func (s *Fake) handle(r *http.Request, rt routes.Route, params []string, body []byte) reply {
	h := handlers[rt.Name]
	c := &call{s: s, r: r, route: rt, params: params, query: r.URL.Query(), body: body, base: baseURL(r)}
	for attempt := 0; attempt < 2; attempt++ {
		s.mu.Lock()
		c.now = s.now()
		s.st.settle(c.now, s.cfg)
		rep := s.authenticate(c)
		if rep.status == 0 {
			rep = h(c)
		}
		s.mu.Unlock()
		if rep.wait <= 0 || attempt == 1 {
			return rep
		}
		c.waited = true
		if !s.sleep(r.Context(), rep.wait) {
			return detail(http.StatusServiceUnavailable, "The server is shutting down.")
		}
	}
	return detail(http.StatusInternalServerError, "unreachable")
}

// sleep waits d unless the request or the server ends first.
func (s *Fake) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.closed:
		return false
	}
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// djangoAppendSlash answers a slash-less path the way Django's
// CommonMiddleware does with APPEND_SLASH: a GET or HEAD is redirected
// permanently to the path with the slash; any other method cannot be
// redirected without losing its body, and production Django answers it with
// its bare 500 page.
func djangoAppendSlash(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		u := url.URL{Path: r.URL.Path + "/", RawQuery: r.URL.RawQuery}
		w.Header().Set("Location", u.String())
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusMovedPermanently)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = io.WriteString(w, djangoServerError)
}

const djangoServerError = "\n<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Server Error (500)</title>\n</head>\n<body>\n  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n"

const djangoNotFoundPage = "\n<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Not Found</title>\n</head>\n<body>\n  <h1>Not Found</h1><p>The requested resource was not found on this server.</p>\n</body>\n</html>\n"

func djangoNotFound() reply {
	return reply{status: http.StatusNotFound, body: []byte(djangoNotFoundPage), contentType: "text/html; charset=utf-8"}
}

func allowedMethods(path string) string {
	var ms []string
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		if _, _, ok := routes.Match(m, path); ok {
			ms = append(ms, m)
		}
	}
	return strings.Join(ms, ", ")
}

// recWriter records the request once, when its status is written (or, for
// a reset, before the connection is cut).
type recWriter struct {
	http.ResponseWriter
	record func(status int)
	done   bool
}

func (w *recWriter) recordOnce(status int) {
	if !w.done {
		w.done = true
		w.record(status)
	}
}

// WriteHeader records the request with its status, then writes it.
func (w *recWriter) WriteHeader(code int) {
	w.recordOnce(code)
	w.ResponseWriter.WriteHeader(code)
}

// Write records the request as a 200 if no status was written yet.
func (w *recWriter) Write(b []byte) (int, error) {
	w.recordOnce(http.StatusOK)
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flush, hijack).
func (w *recWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

var errUnknownRoute = errors.New("peliqantest: unknown route name")

// mustRoute checks a route name given by a test: the names are the exported
// peliqan.Route* constants. An unknown name is a bug in the test, so it
// panics rather than letting a typo pass silently.
func mustRoute(name string) {
	if _, ok := routes.Lookup(name); !ok {
		panic(fmt.Sprintf("%v: %q (use the peliqan.Route* constants)", errUnknownRoute, name))
	}
}
