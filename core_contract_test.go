package peliqan

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Smaller contract breaks in the core.

func TestExponentialBackoffFromZero(t *testing.T) {
	t.Parallel()
	p := RetryPolicy{MaxAttempts: 3, Backoff: BackoffExponential, MinWait: 0, MaxWait: 10 * time.Second}
	assert.Zero(t, p.wait(0))
	assert.Zero(t, p.wait(5))
	p.Backoff = BackoffExponentialJitter
	assert.Zero(t, p.wait(0))
	p.MinWait = time.Second // overflow still caps at MaxWait
	assert.Equal(t, 10*time.Second, RetryPolicy{Backoff: BackoffExponential, MinWait: time.Second, MaxWait: 10 * time.Second}.wait(70))
}

func TestRetryAfterBeyondTheCallersDeadlineFailsAtOnce(t *testing.T) {
	t.Parallel()
	cc := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cc++
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	t.Cleanup(srv.Close)
	s, err := NewSubAccountClient(testTenantToken, WithBaseURL(srv.URL)) // default policy: Retry-After up to 60 s
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	err = s.Do(ctx, "GET", "/api/servers/", nil, nil)
	assert.Less(t, time.Since(start), 4*time.Second, "did not sleep past the deadline")
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	assert.ErrorIs(t, err, ErrRateLimited)
	assert.Equal(t, 30*time.Second, ae.RetryAfter)
	assert.Equal(t, 1, cc)
}

func TestWithHeaderRefusesInvalidNamesAndValues(t *testing.T) {
	t.Parallel()
	s, mt := mockTenant(t)
	for _, h := range [][2]string{
		{"Bad Name", "v"}, {"Bad:Name", "v"}, {"Bad\tName", "v"}, {"Naïve", "v"}, {"(x)", "v"},
		{"X-Ok", "a\x01b"}, {"X-Ok", "a\x7fb"}, {"X-Ok", "a\rb"}, {"X-Ok", "a\nb"},
	} {
		err := s.Do(context.Background(), "GET", "/api/servers/", nil, nil, WithHeader(h[0], h[1]))
		assert.ErrorIs(t, err, ErrInvalidArgument, "%q: %q", h[0], h[1])
	}
	assert.Zero(t, mt.GetTotalCallCount())
	var n atomic.Int32
	mt.RegisterResponder("GET", testBase+"/api/servers/", func(r *http.Request) (*http.Response, error) {
		n.Add(1)
		assert.Equal(t, "a\tb c", r.Header.Get("X-Ok"))
		return jsonResponse(200, `[]`), nil
	})
	require.NoError(t, s.Do(context.Background(), "GET", "/api/servers/", nil, nil, WithHeader("X-Ok", "a\tb c")))
	assert.EqualValues(t, 1, n.Load())
}

func TestRetryLogRedactsTheQuery(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	var buf safeBuffer
	p, err := NewPartnerClient(testPartnerToken, WithBaseURL("http://"+addr), WithRetryPolicy(fastRetries(2)),
		WithLogger(newDebugLogger(&buf)))
	require.NoError(t, err)
	_, err = p.GetSubAccount(context.Background(), ByExternalID("secret-customer-ext-id"))
	require.Error(t, err)
	require.Contains(t, buf.String(), "retrying")
	assert.NotContains(t, buf.String(), "secret-customer-ext-id")
}

func TestPlainHTTPOnlyForLoopback(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"http://localhost:8080", "http://LOCALHOST", "http://127.0.0.1:1", "http://127.9.9.9", "http://[::1]:80"} {
		_, err := parseBaseURL(u)
		assert.NoError(t, err, u)
	}
	for _, u := range []string{"http://evil.localhost", "http://a.b.localhost:8080", "http://localhost.evil.com", "http://10.0.0.1"} {
		_, err := parseBaseURL(u)
		assert.ErrorIs(t, err, ErrInvalidArgument, u)
	}
}
