package peliqan

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// resetOnReuseServer is a raw loopback HTTP/1.1 server: the first request on
// a connection gets a keep-alive 200; the second request on the same
// connection is read and then the connection is reset without a response
// byte. That is exactly when net/http replays a request it thinks is safe.
type resetOnReuseServer struct {
	ln    net.Listener
	mu    sync.Mutex
	paths []string
	conns []net.Conn
	wg    sync.WaitGroup
}

func newResetOnReuseServer(t *testing.T) *resetOnReuseServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &resetOnReuseServer{ln: ln}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *resetOnReuseServer) URL() string { return "http://" + s.ln.Addr().String() }

func (s *resetOnReuseServer) serve() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, conn)
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			br := bufio.NewReader(conn)
			for n := 0; ; n++ {
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				s.mu.Lock()
				s.paths = append(s.paths, req.URL.Path)
				s.mu.Unlock()
				if n == 1 {
					conn.(*net.TCPConn).SetLinger(0) // RST, not FIN
					return
				}
				body := `[]`
				fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
			}
		}()
	}
}

func (s *resetOnReuseServer) count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range s.paths {
		if p == path {
			n++
		}
	}
	return n
}

func TestSideEffectGetIsNotReplayedOnReusedConnectionReset(t *testing.T) {
	t.Parallel()
	srv := newResetOnReuseServer(t)
	s, err := NewSubAccountClient(testTenantToken, WithBaseURL(srv.URL()), WithRetryPolicy(fastRetries(3)))
	require.NoError(t, err)
	ctx := context.Background()

	require.NoError(t, s.Do(ctx, "GET", "/api/groups/", nil, nil)) // opens a keep-alive connection
	err = s.Do(ctx, "GET", "/api/servers/7/syncdb/", nil, nil)     // reuses it; the server resets
	var te *TransportError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, 1, srv.count("/api/servers/7/syncdb/"), "a sync must be sent exactly once")
}

// The control: a plain GET on the same kind of connection IS replayed by
// net/http itself (even with our retries off), so the test above can fail.
func TestControlPlainGetIsReplayedByNetHTTP(t *testing.T) {
	t.Parallel()
	srv := newResetOnReuseServer(t)
	s, err := NewSubAccountClient(testTenantToken, WithBaseURL(srv.URL()), WithRetryPolicy(NoRetry()))
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, s.Do(ctx, "GET", "/api/groups/", nil, nil))
	require.NoError(t, s.Do(ctx, "GET", "/api/servers/7/", nil, nil))
	assert.Equal(t, 2, srv.count("/api/servers/7/"), "net/http replayed the idempotent GET on a new connection")
}

func TestAttemptTimeoutIsRetriedAndTyped(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	// 200 ms: long enough for each attempt to reach the handler on a loaded
	// 2-core machine, so the hit count below is the attempt count.
	s, err := NewSubAccountClient(testTenantToken, WithBaseURL(srv.URL), WithTimeout(200*time.Millisecond), WithRetryPolicy(fastRetries(3)))
	require.NoError(t, err)
	start := time.Now()
	err = s.Do(context.Background(), "GET", "/api/servers/", nil, nil)
	assert.Less(t, time.Since(start), 3*time.Second)
	assert.ErrorIs(t, err, ErrTimeout)
	assert.NotErrorIs(t, err, context.DeadlineExceeded)
	var te *TransportError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, 3, te.Attempts)
	assert.EqualValues(t, 3, hits.Load())

	// A POST that times out is not sent again: the server may have acted.
	hits.Store(0)
	err = s.Do(context.Background(), "POST", "/api/servers/", map[string]int{}, nil)
	assert.ErrorIs(t, err, ErrTimeout)
	assert.EqualValues(t, 1, hits.Load())

	// One call can raise the per-attempt timeout.
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(120 * time.Millisecond)
		w.Write([]byte(`[]`))
	}))
	t.Cleanup(fast.Close)
	s2, err := NewSubAccountClient(testTenantToken, WithBaseURL(fast.URL), WithTimeout(50*time.Millisecond), WithRetryPolicy(NoRetry()))
	require.NoError(t, err)
	assert.ErrorIs(t, s2.Do(context.Background(), "GET", "/api/servers/", nil, nil), ErrTimeout)
	assert.NoError(t, s2.Do(context.Background(), "GET", "/api/servers/", nil, nil, WithAttemptTimeout(2*time.Second)))
}

func TestSlowBodyPastTheAttemptTimeout(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Length", "100")
		w.Write([]byte(`[{"id":1},`))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	s, err := NewSubAccountClient(testTenantToken, WithBaseURL(srv.URL), WithTimeout(80*time.Millisecond), WithRetryPolicy(fastRetries(2)))
	require.NoError(t, err)
	err = s.Do(context.Background(), "GET", "/api/servers/", nil, nil)
	assert.ErrorIs(t, err, ErrTimeout)
	assert.EqualValues(t, 2, hits.Load(), "a body that stalls is retried for a GET")
}

func TestResetMidBody(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		if n == 3 {
			w.Write([]byte(`[]`))
			return
		}
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
	s, err := NewSubAccountClient(testTenantToken, WithBaseURL(srv.URL), WithRetryPolicy(fastRetries(3)))
	require.NoError(t, err)
	var out []map[string]int
	require.NoError(t, s.Do(context.Background(), "GET", "/api/servers/", nil, &out))
	assert.EqualValues(t, 3, hits.Load(), "two broken bodies, then a whole one")
	assert.Empty(t, out)

	hits.Store(0)
	err = s.Do(context.Background(), "POST", "/api/servers/", map[string]int{}, nil)
	var te *TransportError
	assert.ErrorAs(t, err, &te)
	assert.EqualValues(t, 1, hits.Load(), "a POST whose answer broke is not sent again")
}

func TestRedirectsStayOnTheSameHost(t *testing.T) {
	t.Parallel()
	var evilHits atomic.Int32
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		evilHits.Add(1)
		assert.Empty(t, r.Header.Get("Authorization"))
	}))
	t.Cleanup(evil.Close)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/servers": // Django: a slash-less GET is redirected
			http.Redirect(w, r, "/api/servers/", http.StatusMovedPermanently)
		case "/api/servers/":
			assert.Equal(t, "JWT "+testTenantToken, r.Header.Get("Authorization"))
			w.Write([]byte(`[]`))
		case "/api/elsewhere/":
			http.Redirect(w, r, evil.URL+"/steal/", http.StatusFound)
		}
	}))
	t.Cleanup(srv.Close)
	s, err := NewSubAccountClient(testTenantToken, WithBaseURL(srv.URL))
	require.NoError(t, err)
	require.NoError(t, s.Do(context.Background(), "GET", "/api/servers", nil, nil))
	err = s.Do(context.Background(), "GET", "/api/elsewhere/", nil, nil)
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusFound, ae.StatusCode)
	assert.Zero(t, evilHits.Load(), "never followed to another host")
}

// go-retryablehttp closes the client's idle connections after every failed
// call; the attempt transport must not pass that on to a shared pool.
func TestAttemptTransportDoesNotPassOnCloseIdle(t *testing.T) {
	t.Parallel()
	var closed atomic.Bool
	hc := &http.Client{Transport: &attemptTransport{base: closeIdler{&closed}}}
	hc.CloseIdleConnections()
	assert.False(t, closed.Load())
	assert.True(t, errors.Is(&attemptTimeoutError{}, ErrTimeout))
	assert.True(t, strings.Contains((&attemptTimeoutError{after: time.Second}).Error(), "1s"))
}

type closeIdler struct{ closed *atomic.Bool }

func (c closeIdler) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("unused")
}
func (c closeIdler) CloseIdleConnections() { c.closed.Store(true) }
