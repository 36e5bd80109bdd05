package peliqan

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBaseURLValidation(t *testing.T) {
	t.Parallel()
	good := map[string]string{
		"https://app.eu.peliqan.io":        "https://app.eu.peliqan.io",
		"https://app.us.peliqan.io/":       "https://app.us.peliqan.io",
		"https://acme.peliqan.io":          "https://acme.peliqan.io",
		"https://staging.example.com/pq/":  "https://staging.example.com/pq",
		"https://staging.example.com//pq/": "https://staging.example.com//pq",
		"http://127.0.0.1:8080":            "http://127.0.0.1:8080",
		"http://localhost:9000/x":          "http://localhost:9000/x",
		"http://[::1]:9000":                "http://[::1]:9000",
	}
	for raw, want := range good {
		p, err := NewPartnerClient(testPartnerToken, WithBaseURL(raw))
		require.NoError(t, err, raw)
		assert.Equal(t, want, p.c.base, raw)
	}
	bad := []string{
		"", "app.eu.peliqan.io", "ftp://app.eu.peliqan.io", "https://", "http://app.eu.peliqan.io",
		"http://10.0.0.1", "https://user:pw@app.eu.peliqan.io", "https://app.eu.peliqan.io/?x=1",
		"https://app.eu.peliqan.io/#f", "https://app.eu.peliqan.io/a/../b", "://bad",
	}
	for _, raw := range bad {
		_, err := NewPartnerClient(testPartnerToken, WithBaseURL(raw))
		assert.ErrorIs(t, err, ErrInvalidArgument, "%q", raw)
	}
}

func TestOptionsAreValidated(t *testing.T) {
	t.Parallel()
	cases := map[string]Option{
		"nil http client":  WithHTTPClient(nil),
		"nil logger":       WithLogger(nil),
		"empty UA":         WithUserAgent(" "),
		"UA newline":       WithUserAgent("acme\r\nX-Evil: 1"),
		"negative timeout": WithTimeout(-time.Second),
		"zero max body":    WithMaxResponseBytes(0),
		"zero attempts":    WithRetryPolicy(RetryPolicy{}),
		"unknown backoff":  WithRetryPolicy(RetryPolicy{MaxAttempts: 2, Backoff: "fibonacci"}),
		"max < min":        WithRetryPolicy(RetryPolicy{MaxAttempts: 2, MinWait: time.Second, MaxWait: time.Millisecond}),
		"negative wait":    WithRetryPolicy(RetryPolicy{MaxAttempts: 2, MinWait: -1}),
		"retry on 200":     WithRetryPolicy(RetryPolicy{MaxAttempts: 2, RetryOn: []int{200}}),
	}
	for name, opt := range cases {
		_, err := NewPartnerClient(testPartnerToken, opt)
		assert.ErrorIs(t, err, ErrInvalidArgument, name)
		var ae *ArgumentError
		assert.ErrorAs(t, err, &ae, name)
	}
	for name, tok := range map[string]string{"empty": "", "blank": "  ", "space": "a b", "newline": "a\nb", "scheme": "Bearer abc", "jwt scheme": "JWT abc"} {
		_, err := NewPartnerClient(tok)
		assert.ErrorIs(t, err, ErrInvalidArgument, name)
		_, err = NewSubAccountClient(tok)
		assert.ErrorIs(t, err, ErrInvalidArgument, name)
	}
}

func TestWithHTTPClientIsCopiedNotMutated(t *testing.T) {
	t.Parallel()
	mt := httpmock.NewMockTransport()
	hc := &http.Client{Transport: mt, Timeout: 7 * time.Second}
	p, err := NewPartnerClient(testPartnerToken, WithHTTPClient(hc))
	require.NoError(t, err)
	assert.Same(t, mt, hc.Transport, "caller's transport untouched")
	assert.Equal(t, 7*time.Second, hc.Timeout, "caller's timeout untouched")
	assert.Nil(t, hc.CheckRedirect)
	assert.Equal(t, 7*time.Second, p.c.timeout, "client timeout becomes the per-attempt timeout")
}

func TestConstructorsDoNoIO(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	rt := roundTripFunc(func(*http.Request) (*http.Response, error) { calls.Add(1); return nil, io.EOF })
	_, err := NewPartnerClient(testPartnerToken, WithHTTPClient(&http.Client{Transport: rt}))
	require.NoError(t, err)
	_, err = NewSubAccountClient(testTenantToken, WithHTTPClient(&http.Client{Transport: rt}))
	require.NoError(t, err)
	assert.Zero(t, calls.Load())
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestDoSendsExactRequest(t *testing.T) {
	t.Parallel()
	p, mt := mockPartner(t, WithUserAgent("acme/2.3"))
	var got *http.Request
	var body []byte
	mt.RegisterResponder("POST", testBase+"/api/partner/sub-account/integrate/", func(r *http.Request) (*http.Response, error) {
		got = r
		body, _ = io.ReadAll(r.Body)
		return httpmock.NewStringResponse(200, `{"integration_token":"x"}`), nil
	})
	var out struct {
		Token string `json:"integration_token"`
	}
	in := map[string]string{"external_id": "a<b>&c"}
	err := p.Do(context.Background(), "post", "/api/partner/sub-account/integrate/", in, &out, WithHeader("X-Trace", "t1"))
	require.NoError(t, err)
	assert.Equal(t, "x", out.Token)
	require.NotNil(t, got)
	assert.Equal(t, "/base/api/partner/sub-account/integrate/", got.URL.Path)
	assert.Equal(t, "JWT "+testPartnerToken, got.Header.Get("Authorization"))
	assert.Equal(t, "peliqan-go/"+Version+" acme/2.3", got.Header.Get("User-Agent"))
	assert.Equal(t, "application/json", got.Header.Get("Content-Type"))
	assert.Equal(t, "application/json", got.Header.Get("Accept"))
	assert.Equal(t, "t1", got.Header.Get("X-Trace"))
	assert.JSONEq(t, `{"external_id":"a<b>&c"}`, string(body))
	assert.Contains(t, string(body), "a<b>&c", "no HTML escaping")
}

func TestDoQueryAndEmptyBodies(t *testing.T) {
	t.Parallel()
	s, mt := mockTenant(t)
	var gotQuery string
	mt.RegisterResponder("GET", testBase+"/api/servers/", func(r *http.Request) (*http.Response, error) {
		gotQuery = r.URL.RawQuery
		return httpmock.NewStringResponse(200, ``), nil
	})
	mt.RegisterResponder("DELETE", testBase+"/api/partner/sub-accounts/4/", httpmock.NewStringResponder(204, ""))
	var out map[string]any
	require.NoError(t, s.Do(context.Background(), "GET", "/api/servers/?a=1&b=x%20y", nil, &out))
	assert.Equal(t, "a=1&b=x%20y", gotQuery)
	assert.Nil(t, out, "empty 200 body decodes to nothing")
	require.NoError(t, s.Do(context.Background(), "DELETE", "/api/partner/sub-accounts/4/", nil, &out))
}

func TestDoRefusesBadInputBeforeAnyRequest(t *testing.T) {
	t.Parallel()
	p, mt := mockPartner(t)
	ctx := context.Background()
	for name, path := range map[string]string{
		"no slash": "api/servers/", "absolute": "https://evil.test/api/", "scheme-relative": "//evil.test/api/",
		"dotdot": "/api/../admin/", "dot": "/api/./x/", "fragment": "/api/x/#f",
	} {
		err := p.Do(ctx, "GET", path, nil, nil)
		assert.ErrorIs(t, err, ErrInvalidArgument, name)
	}
	assert.ErrorIs(t, p.Do(ctx, "TRACE", "/api/servers/", nil, nil), ErrInvalidArgument)
	assert.ErrorIs(t, p.Do(ctx, "GET", "/api/servers/", nil, nil, WithHeader("Authorization", "x")), ErrInvalidArgument)
	assert.ErrorIs(t, p.Do(ctx, "GET", "/api/servers/", nil, nil, WithHeader("X-A", "b\r\nc")), ErrInvalidArgument)
	assert.ErrorIs(t, p.Do(ctx, "GET", "/api/servers/", nil, nil, WithAttemptTimeout(-1)), ErrInvalidArgument)
	assert.ErrorIs(t, p.Do(ctx, "GET", "/api/servers/", nil, nil, WithResponse(nil)), ErrInvalidArgument)
	assert.ErrorIs(t, p.Do(ctx, "POST", "/api/servers/", func() {}, nil), ErrInvalidArgument, "unencodable body")
	//nolint:staticcheck // a nil context is exactly what is being refused
	assert.ErrorIs(t, p.Do(nil, "GET", "/api/servers/", nil, nil), ErrInvalidArgument) //lint:ignore SA1012 test
	assert.Zero(t, mt.GetTotalCallCount(), "nothing was sent")
}

func TestRouteParamsAreEscapedOrRefused(t *testing.T) {
	t.Parallel()
	s, mt := mockTenant(t)
	var rawPath string
	mt.RegisterNoResponder(func(r *http.Request) (*http.Response, error) {
		rawPath = r.URL.EscapedPath()
		return httpmock.NewStringResponse(200, `{}`), nil
	})
	ctx := context.Background()
	require.NoError(t, s.c.do(ctx, &call{route: mustRoute(RouteGetServer), params: []string{"a/b c"}}, nil))
	assert.Equal(t, "/base/api/servers/a%2Fb%20c/", rawPath)
	for _, bad := range []string{"", " ", ".", ".."} {
		err := s.c.do(ctx, &call{route: mustRoute(RouteGetServer), params: []string{bad}}, nil)
		assert.ErrorIs(t, err, ErrInvalidArgument, "%q", bad)
	}
	assert.Equal(t, 1, mt.GetTotalCallCount())
	_, err := ID(0).param("server id")
	assert.ErrorIs(t, err, ErrInvalidArgument)
}

func TestWithResponseCapturesTheExchange(t *testing.T) {
	t.Parallel()
	s, mt := mockTenant(t)
	var n atomic.Int32
	mt.RegisterResponder("GET", testBase+"/api/groups/", sequence(&n,
		httpmock.NewStringResponder(503, "busy"),
		func(*http.Request) (*http.Response, error) {
			r := httpmock.NewStringResponse(200, `[]`)
			r.Header.Set("X-Request-Id", "r-1")
			return r, nil
		}))
	var resp Response
	require.NoError(t, s.Do(context.Background(), "GET", "/api/groups/", nil, nil, WithResponse(&resp)))
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, 2, resp.Attempts)
	assert.Equal(t, "r-1", resp.Header.Get("X-Request-Id"))
	assert.Equal(t, "GET", resp.Method)
	assert.Equal(t, "/api/groups/", resp.Path)
	assert.Positive(t, resp.Duration)
}

func TestLoggerIsSilentByDefaultAndNeverLogsTokens(t *testing.T) {
	t.Parallel()
	var logs safeBuffer
	l := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, mt := mockTenant(t, WithLogger(l))
	var n atomic.Int32
	mt.RegisterResponder("GET", testBase+"/api/groups/", sequence(&n,
		httpmock.NewErrorResponder(io.ErrUnexpectedEOF), httpmock.NewStringResponder(200, `[]`)))
	require.NoError(t, s.Do(context.Background(), "GET", "/api/groups/", nil, nil))
	out := logs.String()
	assert.Contains(t, out, "retrying")
	assert.Contains(t, out, "peliqan: request")
	assert.Contains(t, out, "/api/groups/")
	assert.NotContains(t, out, testTenantToken)
}
