package peliqan

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func withRetryAfter(status int, value string) httpmock.Responder {
	return func(*http.Request) (*http.Response, error) {
		r := httpmock.NewStringResponse(status, `{"error":"RATE_LIMITED"}`)
		r.Header.Set("Retry-After", value)
		return r, nil
	}
}

func TestRetriesIdempotentRequests(t *testing.T) {
	t.Parallel()
	ok := httpmock.NewStringResponder(200, `[]`)
	cases := map[string]struct {
		method, path string
		first        httpmock.Responder
	}{
		"GET 429 Retry-After seconds": {"GET", "/api/servers/", withRetryAfter(429, "0")},
		"GET 429 Retry-After date":    {"GET", "/api/servers/", withRetryAfter(429, time.Now().Add(-time.Second).UTC().Format(http.TimeFormat))},
		"GET 503":                     {"GET", "/api/servers/", httpmock.NewStringResponder(503, "unavailable")},
		"GET 500":                     {"GET", "/api/servers/", httpmock.NewStringResponder(500, "boom")},
		"GET 502 HTML":                {"GET", "/api/servers/", httpmock.NewStringResponder(502, "<html><title>Bad Gateway</title></html>")},
		"GET 504":                     {"GET", "/api/servers/", httpmock.NewStringResponder(504, "")},
		"GET reset":                   {"GET", "/api/servers/", httpmock.NewErrorResponder(errors.New("read tcp: connection reset by peer"))},
		"PUT 503":                     {"PUT", "/api/partner/sub-accounts/3/", httpmock.NewStringResponder(503, "")},
		"DELETE reset":                {"DELETE", "/api/partner/sub-accounts/3/", httpmock.NewErrorResponder(errors.New("connection reset by peer"))},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, mt := mockTenant(t)
			var n atomic.Int32
			mt.RegisterResponder(tc.method, testBase+tc.path, sequence(&n, tc.first, ok))
			var resp Response
			err := s.Do(context.Background(), tc.method, tc.path, nil, nil, WithResponse(&resp))
			require.NoError(t, err)
			assert.EqualValues(t, 2, n.Load(), "one retry")
			assert.Equal(t, 2, resp.Attempts)
		})
	}
}

func TestNeverRetriesPostPatchOrSideEffectGets(t *testing.T) {
	t.Parallel()
	cases := map[string]struct{ method, path string }{
		"POST create":           {"POST", "/api/servers/"},
		"PATCH update":          {"PATCH", "/api/interfaces/3/"},
		"GET syncdb":            {"GET", "/api/servers/3/syncdb/"},
		"GET resync":            {"GET", "/api/servers/3/resync/"},
		"GET reauthorise":       {"GET", "/api/servers/3/reauthorise/"},
		"GET saltedge refresh":  {"GET", "/api/servers/3/saltedge/refresh/"},
		"GET script trigger":    {"GET", "/api/interfaces/trigger_run/3/?shell=1"},
		"POST run script":       {"POST", "/api/interface_runs/"},
		"POST integrate":        {"POST", "/api/partner/sub-account/integrate/"},
		"any GET, WithoutRetry": {"GET", "/api/servers/"},
	}
	failures := map[string]httpmock.Responder{
		"503":   httpmock.NewStringResponder(503, ""),
		"429":   withRetryAfter(429, "0"),
		"reset": httpmock.NewErrorResponder(errors.New("connection reset by peer")),
	}
	for name, tc := range cases {
		for fname, fail := range failures {
			t.Run(name+"/"+fname, func(t *testing.T) {
				t.Parallel()
				s, mt := mockTenant(t)
				var n atomic.Int32
				mt.RegisterNoResponder(sequence(&n, fail, httpmock.NewStringResponder(200, `{}`)))
				var opts []RequestOption
				if name == "any GET, WithoutRetry" {
					opts = append(opts, WithoutRetry())
				}
				var body any
				if tc.method != "GET" {
					body = map[string]int{"a": 1}
				}
				err := s.Do(context.Background(), tc.method, tc.path, body, nil, opts...)
				require.Error(t, err)
				assert.EqualValues(t, 1, n.Load(), "sent exactly once")
				if fname == "reset" {
					var te *TransportError
					assert.ErrorAs(t, err, &te)
				} else {
					var ae *APIError
					require.ErrorAs(t, err, &ae)
					assert.Equal(t, 1, ae.Attempts)
				}
			})
		}
	}
}

func TestExhaustedRetriesReturnTheLastAnswer(t *testing.T) {
	t.Parallel()
	s, mt := mockTenant(t, WithRetryPolicy(fastRetries(4)))
	var n atomic.Int32
	mt.RegisterResponder("GET", testBase+"/api/servers/", sequence(&n,
		httpmock.NewStringResponder(503, `{"error":"UNAVAILABLE","detail":"try later"}`)))
	err := s.Do(context.Background(), "GET", "/api/servers/", nil, nil)
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	assert.EqualValues(t, 4, n.Load())
	assert.Equal(t, 4, ae.Attempts)
	assert.Equal(t, 503, ae.StatusCode)
	assert.Equal(t, "try later", ae.Message)
	assert.ErrorIs(t, err, ErrServer)
	assert.Contains(t, err.Error(), "attempts=4")
}

func TestRetryAfterBeyondCapFailsFast(t *testing.T) {
	t.Parallel()
	p := DefaultRetryPolicy()
	p.MaxRetryAfter = 2 * time.Second
	s, mt := mockTenant(t, WithRetryPolicy(p))
	var n atomic.Int32
	mt.RegisterResponder("GET", testBase+"/api/servers/", sequence(&n, withRetryAfter(429, "3600")))
	start := time.Now()
	err := s.Do(context.Background(), "GET", "/api/servers/", nil, nil)
	assert.Less(t, time.Since(start), time.Second)
	assert.ErrorIs(t, err, ErrRateLimited)
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, time.Hour, ae.RetryAfter)
	assert.EqualValues(t, 1, n.Load())
}

func TestRetryAfterIsObeyed(t *testing.T) {
	t.Parallel()
	s, mt := mockTenant(t, WithRetryPolicy(RetryPolicy{MaxAttempts: 2, MaxRetryAfter: 5 * time.Second}))
	var n atomic.Int32
	var first, second time.Time
	mt.RegisterResponder("GET", testBase+"/api/servers/", func(r *http.Request) (*http.Response, error) {
		if n.Add(1) == 1 {
			first = time.Now()
			return withRetryAfter(429, "1")(r)
		}
		second = time.Now()
		return httpmock.NewStringResponse(200, `[]`), nil
	})
	require.NoError(t, s.Do(context.Background(), "GET", "/api/servers/", nil, nil))
	assert.GreaterOrEqual(t, second.Sub(first), 900*time.Millisecond)
}

func TestCancelDuringBackoffReturnsPromptly(t *testing.T) {
	t.Parallel()
	p := DefaultRetryPolicy()
	p.Backoff, p.MinWait, p.MaxWait = BackoffConstant, time.Minute, time.Minute
	s, mt := mockTenant(t, WithRetryPolicy(p))
	mt.RegisterResponder("GET", testBase+"/api/servers/", httpmock.NewStringResponder(503, ""))
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	start := time.Now()
	err := s.Do(ctx, "GET", "/api/servers/", nil, nil)
	elapsed := time.Since(start)
	assert.Equal(t, context.Canceled, err, "context errors come back unwrapped")
	assert.Less(t, elapsed, 50*time.Millisecond+30*time.Millisecond, "returns within a few ms of the cancel")
	assert.Equal(t, 1, mt.GetTotalCallCount())
}

func TestDeleteNotFoundAfterAmbiguousAttemptIsSuccess(t *testing.T) {
	t.Parallel()
	s, mt := mockTenant(t)
	var n atomic.Int32
	mt.RegisterResponder("DELETE", testBase+"/api/partner/sub-accounts/5/", sequence(&n,
		httpmock.NewStringResponder(502, ""), httpmock.NewStringResponder(404, `{"detail":"Not found."}`)))
	require.NoError(t, s.Do(context.Background(), "DELETE", "/api/partner/sub-accounts/5/", nil, nil))
	assert.EqualValues(t, 2, n.Load())

	// A first-attempt 404 is still an error, and so is a 404 after a 429
	// (the server did not act on a rate-limited request).
	s2, mt2 := mockTenant(t)
	mt2.RegisterResponder("DELETE", testBase+"/api/partner/sub-accounts/5/", httpmock.NewStringResponder(404, `{"detail":"Not found."}`))
	assert.ErrorIs(t, s2.Do(context.Background(), "DELETE", "/api/partner/sub-accounts/5/", nil, nil), ErrNotFound)
	s3, mt3 := mockTenant(t)
	var n3 atomic.Int32
	mt3.RegisterResponder("DELETE", testBase+"/api/partner/sub-accounts/5/", sequence(&n3,
		withRetryAfter(429, "0"), httpmock.NewStringResponder(404, `{"detail":"Not found."}`)))
	assert.ErrorIs(t, s3.Do(context.Background(), "DELETE", "/api/partner/sub-accounts/5/", nil, nil), ErrNotFound)
}

func TestBackoffCurves(t *testing.T) {
	t.Parallel()
	base := RetryPolicy{MaxAttempts: 5, MinWait: 100 * time.Millisecond, MaxWait: time.Second}
	exp, lin, con, jit := base, base, base, base
	exp.Backoff, lin.Backoff, con.Backoff, jit.Backoff = BackoffExponential, BackoffLinear, BackoffConstant, BackoffExponentialJitter
	assert.Equal(t, []time.Duration{100, 200, 400, 800, 1000, 1000}, scaled(exp, 6))
	assert.Equal(t, []time.Duration{100, 200, 300, 400, 500, 1000}, []time.Duration{
		lin.wait(0) / time.Millisecond, lin.wait(1) / time.Millisecond, lin.wait(2) / time.Millisecond,
		lin.wait(3) / time.Millisecond, lin.wait(4) / time.Millisecond, lin.wait(20) / time.Millisecond})
	assert.Equal(t, []time.Duration{100, 100, 100}, scaled(con, 3))
	assert.Equal(t, time.Second, exp.wait(200), "no overflow")
	for i := range 200 {
		w := jit.wait(i % 8)
		assert.GreaterOrEqual(t, w, time.Duration(0))
		assert.LessOrEqual(t, w, exp.wait(i%8))
	}
	assert.Zero(t, fastRetries(3).wait(3))
}

func scaled(p RetryPolicy, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = p.wait(i) / time.Millisecond
	}
	return out
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	h := func(v string) http.Header { return http.Header{"Retry-After": {v}} }
	d, ok := parseRetryAfter(h("7"), now)
	assert.True(t, ok)
	assert.Equal(t, 7*time.Second, d)
	d, ok = parseRetryAfter(h(now.Add(90*time.Second).Format(http.TimeFormat)), now)
	assert.True(t, ok)
	assert.Equal(t, 90*time.Second, d)
	d, ok = parseRetryAfter(h(now.Add(-time.Hour).Format(http.TimeFormat)), now)
	assert.True(t, ok)
	assert.Zero(t, d)
	for _, bad := range []string{"", "-3", "soon", "1.5"} {
		_, ok = parseRetryAfter(h(bad), now)
		assert.False(t, ok, bad)
	}
	d, _ = parseRetryAfter(h(strconv.Itoa(1<<40)), now)
	assert.Equal(t, 24*time.Hour, d, "absurd values are clamped")
}
