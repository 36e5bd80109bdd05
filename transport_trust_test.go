package peliqan

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Transport errors keep their cause: only an attempt's own deadline is a
// timeout. These run with the default 30 s per-attempt timeout, which is
// what made every failure look like one.

func TestRefusedConnectionKeepsItsCause(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now

	s, err := NewSubAccountClient(testTenantToken, WithBaseURL("http://"+addr), WithRetryPolicy(fastRetries(2)))
	require.NoError(t, err)
	err = s.Do(context.Background(), "GET", "/api/servers/", nil, nil)
	var te *TransportError
	require.ErrorAs(t, err, &te)
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)
	assert.NotErrorIs(t, err, ErrTimeout)
	assert.Contains(t, err.Error(), "refused")
	assert.NotContains(t, err.Error(), "timed out")
	assert.Equal(t, 2, te.Attempts, "a refused connection is retried for a GET")
}

func TestUntrustedCertificateIsTriedOnce(t *testing.T) {
	t.Parallel()
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("no request can get through an untrusted certificate")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Config.ErrorLog = discardLog()
	srv.StartTLS()
	t.Cleanup(srv.Close)

	s, err := NewSubAccountClient(testTenantToken, WithBaseURL(srv.URL), WithRetryPolicy(fastRetries(4)))
	require.NoError(t, err)
	err = s.Do(context.Background(), "GET", "/api/servers/", nil, nil)
	var te *TransportError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, 1, te.Attempts, "a certificate problem is final")
	assert.EqualValues(t, 1, conns.Load())
	var ua x509.UnknownAuthorityError
	var cve *tls.CertificateVerificationError
	assert.True(t, errors.As(err, &ua) || errors.As(err, &cve), "the x509 error is reachable: %v", err)
	assert.Contains(t, err.Error(), "certificate")
	assert.NotErrorIs(t, err, ErrTimeout)
}

func TestResetMidBodyIsNotATimeout(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n[{\"id\":1},")
		buf.Flush()
		conn.(*net.TCPConn).SetLinger(0)
		conn.Close()
	}))
	t.Cleanup(srv.Close)
	s, err := NewSubAccountClient(testTenantToken, WithBaseURL(srv.URL), WithRetryPolicy(fastRetries(2)))
	require.NoError(t, err)
	err = s.Do(context.Background(), "GET", "/api/servers/", nil, nil)
	var te *TransportError
	require.ErrorAs(t, err, &te)
	assert.NotErrorIs(t, err, ErrTimeout)
	assert.NotContains(t, err.Error(), "timed out")

	// The same reset under a streamed read (Rows) is not a timeout either.
	rowsErr := func() error {
		for _, err := range s.Rows(context.Background(), 5, nil) {
			if err != nil {
				return err
			}
		}
		return nil
	}()
	require.Error(t, rowsErr)
	assert.NotErrorIs(t, rowsErr, ErrTimeout)
}

func TestAttemptTimeoutUnwrapsToItsCause(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	s, err := NewSubAccountClient(testTenantToken, WithBaseURL(srv.URL), WithTimeout(50*time.Millisecond), WithRetryPolicy(NoRetry()))
	require.NoError(t, err)
	err = s.Do(context.Background(), "GET", "/api/servers/", nil, nil)
	require.ErrorIs(t, err, ErrTimeout)
	var ate *attemptTimeoutError
	require.ErrorAs(t, err, &ate)
	assert.NotNil(t, errors.Unwrap(ate), "a timeout keeps what the transport said")
	assert.NotErrorIs(t, err, context.DeadlineExceeded, "not the caller's deadline")
}

// Nothing the SDK does not retry can be replayed by net/http. Each case runs
// on the reset-on-reuse server: the request goes out on a reused keep-alive
// connection that the server resets after reading it, which is exactly when
// net/http re-sends a request it believes replayable.

func TestNotRetriedRequestsAreNeverReplayed(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		path string
		call func(s *SubAccountClient) error
	}{
		{"GET WithoutRetry", "/api/servers/9/", func(s *SubAccountClient) error {
			return s.Do(context.Background(), "GET", "/api/servers/9/", nil, nil, WithoutRetry())
		}},
		{"POST with an Idempotency-Key header", "/api/interfaces/group/3/", func(s *SubAccountClient) error {
			_, err := s.CreateScript(context.Background(), ScriptCreate{GroupID: 3, Name: "n", Code: "print(1)"},
				WithHeader("Idempotency-Key", "k-1"))
			return err
		}},
		{"POST with an X-Idempotency-Key header", "/api/servers/", func(s *SubAccountClient) error {
			return s.Do(context.Background(), "POST", "/api/servers/", map[string]int{"a": 1}, nil,
				WithHeader("X-Idempotency-Key", "k-2"))
		}},
		{"HEAD on a side-effect path", "/api/servers/7/syncdb/", func(s *SubAccountClient) error {
			return s.Do(context.Background(), "HEAD", "/api/servers/7/syncdb/", nil, nil)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newResetOnReuseServer(t)
			s, err := NewSubAccountClient(testTenantToken, WithBaseURL(srv.URL()), WithRetryPolicy(fastRetries(3)))
			require.NoError(t, err)
			require.NoError(t, s.Do(context.Background(), "GET", "/api/groups/", nil, nil)) // opens the connection
			err = tc.call(s)
			var te *TransportError
			require.ErrorAs(t, err, &te)
			assert.Equal(t, 1, srv.count(tc.path), "sent exactly once")
		})
	}
}

func TestHeadFollowsTheGetRouteOfItsPath(t *testing.T) {
	t.Parallel()
	req := request{method: http.MethodHead}
	classifyRaw(&req, "/api/servers/7/syncdb/")
	assert.False(t, req.retry)
	assert.True(t, req.sideEffect)
	req = request{method: http.MethodHead}
	classifyRaw(&req, "/api/servers/7/")
	assert.True(t, req.retry)
	assert.False(t, req.sideEffect)
}

// Connection pools: shared, never flushed by one failure.

// connCounter is a loopback server that counts the TCP connections it
// accepted and answers each request with the next status of a script.
type connCounter struct {
	srv      *httptest.Server
	conns    atomic.Int32
	requests atomic.Int32
}

func newConnCounter(t *testing.T, statuses ...int) *connCounter {
	t.Helper()
	cc := &connCounter{}
	cc.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(cc.requests.Add(1)) - 1
		status := http.StatusOK
		if n < len(statuses) {
			status = statuses[n]
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprint(w, `[]`)
	}))
	cc.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			cc.conns.Add(1)
		}
	}
	cc.srv.Start()
	t.Cleanup(cc.srv.Close)
	return cc
}

func TestShortLivedClientsShareOneConnection(t *testing.T) {
	t.Parallel()
	cc := newConnCounter(t)
	for i := range 20 {
		s, err := NewSubAccountClient(fmt.Sprintf("stored-token-%02d-abcdefgh", i), WithBaseURL(cc.srv.URL))
		require.NoError(t, err)
		require.NoError(t, s.Do(context.Background(), "GET", "/api/servers/", nil, nil))
	}
	assert.EqualValues(t, 20, cc.requests.Load())
	assert.EqualValues(t, 1, cc.conns.Load(), "clients built without WithHTTPClient share one pool")
}

func TestAFailedCallDoesNotFlushThePool(t *testing.T) {
	t.Parallel()
	for _, own := range []bool{false, true} {
		t.Run(fmt.Sprintf("own transport %v", own), func(t *testing.T) {
			t.Parallel()
			cc := newConnCounter(t, 200, 503, 503, 200)
			opts := []Option{WithBaseURL(cc.srv.URL), WithRetryPolicy(fastRetries(2))}
			if own {
				tr := &http.Transport{}
				t.Cleanup(tr.CloseIdleConnections)
				opts = append(opts, WithHTTPClient(&http.Client{Transport: tr}))
			}
			s, err := NewSubAccountClient(testTenantToken, opts...)
			require.NoError(t, err)
			ctx := context.Background()
			require.NoError(t, s.Do(ctx, "GET", "/api/servers/", nil, nil))
			require.ErrorIs(t, s.Do(ctx, "GET", "/api/servers/", nil, nil), ErrServer) // 503 x2: retries exhausted
			require.NoError(t, s.Do(ctx, "GET", "/api/servers/", nil, nil))
			assert.EqualValues(t, 4, cc.requests.Load())
			assert.EqualValues(t, 1, cc.conns.Load(), "the failure left the pool alone")
		})
	}
}

func TestACancelledBackoffDoesNotFlushThePool(t *testing.T) {
	t.Parallel()
	cc := newConnCounter(t, 200, 503, 200)
	p := DefaultRetryPolicy()
	p.MinWait, p.MaxWait, p.Backoff = time.Minute, time.Minute, BackoffConstant
	s, err := NewSubAccountClient(testTenantToken, WithBaseURL(cc.srv.URL), WithRetryPolicy(p))
	require.NoError(t, err)
	require.NoError(t, s.Do(context.Background(), "GET", "/api/servers/", nil, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, s.Do(ctx, "GET", "/api/servers/", nil, nil), context.DeadlineExceeded)
	require.NoError(t, s.Do(context.Background(), "GET", "/api/servers/", nil, nil))
	assert.EqualValues(t, 1, cc.conns.Load())
}

func TestSharedTransportIsSizedForFanOut(t *testing.T) {
	t.Parallel()
	tr := sharedTransport()
	assert.Same(t, tr, sharedTransport(), "one pool for every default client")
	// 32 is the concurrency fan-out users run at (the benchmarks' figure);
	// a pool that keeps fewer idle connections reconnects on every wave.
	assert.GreaterOrEqual(t, tr.MaxIdleConnsPerHost, 32+4)
}

// Streams stop at once and do not punish slow consumers.

func TestRowsBreakOnAStalledServerReturnsAtOnce(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	defer close(release)
	s, _ := newRowsSrv(t, 21, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"count": 9, "results": [%s,`, rowJSON(0))
		w.(http.Flusher).Flush()
		select { // stall mid-page
		case <-release:
		case <-r.Context().Done():
		}
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, err := range s.Rows(context.Background(), 21, nil, WithAttemptTimeout(20*time.Second)) {
			require.NoError(t, err)
			break
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("break waited for the stalled body instead of closing it")
	}
}

func TestRowsSlowConsumerOfAFullySentPage(t *testing.T) {
	t.Parallel()
	const rows = 200
	pad := strings.Repeat("x", 1000) // 200 KB: more than the client reads ahead
	s, _ := newRowsSrv(t, 22, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"count": %d, "next": null, "results": [`, rows)
		for i := range rows {
			if i > 0 {
				fmt.Fprint(w, ",")
			}
			fmt.Fprintf(w, `{"id": %d, "pad": %q}`, i, pad)
		}
		fmt.Fprint(w, "]}")
	})
	n := 0
	for _, err := range s.Rows(context.Background(), 22, nil, WithAttemptTimeout(150*time.Millisecond)) {
		require.NoError(t, err, "the consumer's own time is not the server's")
		time.Sleep(2 * time.Millisecond) // 200 x 2 ms = 400 ms, over the 150 ms attempt timeout
		n++
	}
	assert.Equal(t, rows, n)
}

func TestRowsServerThatStopsMidPageTimesOut(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	defer close(release)
	s, _ := newRowsSrv(t, 23, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"count": 9, "results": [%s,`, rowJSON(0))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	var last error
	n := 0
	for _, err := range s.Rows(context.Background(), 23, nil, WithAttemptTimeout(100*time.Millisecond)) {
		if err != nil {
			last = err
			break
		}
		n++
	}
	assert.Equal(t, 1, n)
	assert.ErrorIs(t, last, ErrTimeout, "no byte for the idle timeout")
}

func discardLog() *log.Logger { return log.New(io.Discard, "", 0) }

func newDebugLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func jsonResponse(status int, body string) *http.Response {
	r := httpmock.NewStringResponse(status, body)
	r.Header.Set("Content-Type", "application/json")
	return r
}
