package peliqanotel_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	peliqan "github.com/peliqan-community/peliqan-go"
	peliqanotel "github.com/peliqan-community/peliqan-go/otel"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

func TestOneSpanPerCallNamedByRoute(t *testing.T) {
	t.Parallel()
	tel := newTelemetry(t)
	_, p := fakeWith(t, tel)

	_, err := p.ListSubAccounts(context.Background(), nil)
	require.NoError(t, err)

	spans := tel.ended()
	require.Len(t, spans, 1)
	s := spans[0]
	assert.Equal(t, "GET /api/partner/sub-accounts/", s.Name())
	assert.Equal(t, trace.SpanKindClient, s.SpanKind())
	assert.Equal(t, peliqanotel.ScopeName, s.InstrumentationScope().Name)
	a := s.Attributes()
	assert.Equal(t, "GET", attr(a, "http.request.method"))
	assert.Equal(t, "/api/partner/sub-accounts/", attr(a, "url.template"))
	assert.Equal(t, peliqan.RouteListSubAccounts, attr(a, "peliqan.route"))
	assert.Equal(t, "200", attr(a, "http.response.status_code"))
	assert.Equal(t, "1", attr(a, "peliqan.attempts"))
	assert.Equal(t, "false", attr(a, "peliqan.token_refreshed"))
	assert.Equal(t, "0", attr(a, "peliqan.retry_wait"))
	assert.False(t, hasAttr(a, "http.request.resend_count"), "a call sent once is no resend")
	assert.False(t, hasAttr(a, "error.type"))
	assert.Equal(t, codes.Unset, s.Status().Code)
	assert.Empty(t, s.Events())
}

func TestRetriedCallIsOneSpanWithRetryEvents(t *testing.T) {
	t.Parallel()
	tel := newTelemetry(t)
	fake, p := fakeWith(t, tel, peliqan.WithRetryPolicy(peliqan.RetryPolicy{MaxAttempts: 4,
		Backoff: peliqan.BackoffConstant, MinWait: 5 * time.Millisecond, MaxWait: 5 * time.Millisecond}))
	fake.FailNext(peliqan.RouteGetSubAccount, 1, peliqantest.StatusFault(http.StatusServiceUnavailable, ""))
	fake.FailNext(peliqan.RouteGetSubAccount, 1, peliqantest.LatencyFault(time.Second))
	fake.FailNext(peliqan.RouteGetSubAccount, 1, peliqantest.MidBodyResetFault())

	_, err := p.GetSubAccount(context.Background(), peliqan.ByExternalID(fake.Seeded().SubAccounts[0].ExternalID), peliqan.WithAttemptTimeout(50*time.Millisecond))
	require.NoError(t, err)

	spans := tel.ended()
	require.Len(t, spans, 1, "retries stay inside the call's span")
	s := spans[0]
	assert.Equal(t, "GET /api/partner/sub-account/", s.Name())
	require.Equal(t, []string{peliqanotel.EventRetry, peliqanotel.EventRetry, peliqanotel.EventRetry}, events(s))
	first, second, third := s.Events()[0].Attributes, s.Events()[1].Attributes, s.Events()[2].Attributes
	assert.Equal(t, "1", attr(first, "peliqan.attempt"))
	assert.Equal(t, "503", attr(first, "http.response.status_code"))
	assert.Equal(t, "503", attr(first, "error.type"))
	assert.Equal(t, "2", attr(second, "peliqan.attempt"))
	assert.False(t, hasAttr(second, "http.response.status_code"), "a timed-out attempt got no answer")
	assert.Equal(t, "timeout", attr(second, "error.type"))
	assert.Equal(t, "3", attr(third, "peliqan.attempt"))
	assert.Equal(t, "transport", attr(third, "error.type"), "a reset in the body")

	a := s.Attributes()
	assert.Equal(t, "4", attr(a, "peliqan.attempts"))
	assert.Equal(t, "3", attr(a, "http.request.resend_count"))
	assert.Equal(t, "200", attr(a, "http.response.status_code"))
	assert.NotEqual(t, "0", attr(a, "peliqan.retry_wait"), "three back-off waits")
	assert.Equal(t, codes.Unset, s.Status().Code)
}

func TestTokenRefreshIsVisibleAndTheTokenFetchIsAChildSpan(t *testing.T) {
	t.Parallel()
	tel := newTelemetry(t)
	fake, p := fakeWith(t, tel)
	ctx := context.Background()
	sd := fake.Seeded().SubAccounts[0]
	tc, err := p.SubAccount(peliqan.ByExternalID(sd.ExternalID))
	require.NoError(t, err)
	srv := sd.Connections[0].ID

	// The first tenant call fetches the token: a call of its own, inside.
	_, err = tc.GetServer(ctx, srv)
	require.NoError(t, err)
	get, tok := tel.ended(peliqan.RouteGetServer), tel.ended(peliqan.RouteSubAccountToken)
	require.Len(t, get, 1)
	require.Len(t, tok, 1)
	assert.Equal(t, get[0].SpanContext().SpanID(), tok[0].Parent().SpanID(), "the token fetch is a child of the call that needed it")
	assert.Equal(t, "GET /api/servers/{id}/", get[0].Name())

	// A 401 is replayed once with a fresh token, in the same span.
	fake.FailNext(peliqan.RouteGetServer, 1, peliqantest.StatusFault(http.StatusUnauthorized, ""))
	_, err = tc.GetServer(ctx, srv)
	require.NoError(t, err)
	get = tel.ended(peliqan.RouteGetServer)
	require.Len(t, get, 2, "one span per call")
	s := get[1]
	assert.Equal(t, []string{peliqanotel.EventTokenRefresh}, events(s))
	ev := s.Events()[0].Attributes
	assert.Equal(t, "1", attr(ev, "peliqan.attempt"))
	assert.Equal(t, "401", attr(ev, "http.response.status_code"))
	a := s.Attributes()
	assert.Equal(t, "true", attr(a, "peliqan.token_refreshed"))
	assert.Equal(t, "2", attr(a, "peliqan.attempts"))
	assert.Equal(t, "1", attr(a, "http.request.resend_count"))
	assert.Equal(t, "200", attr(a, "http.response.status_code"))
	assert.Equal(t, codes.Unset, s.Status().Code)
	tok = tel.ended(peliqan.RouteSubAccountToken)
	require.Len(t, tok, 2, "the refresh fetched a new token")
	assert.Equal(t, s.SpanContext().SpanID(), tok[1].Parent().SpanID())
}

func TestSpanParentIsTheCallersSpan(t *testing.T) {
	t.Parallel()
	tel := newTelemetry(t)
	_, p := fakeWith(t, tel)
	ctx, parent := tel.tp.Tracer("app").Start(context.Background(), "handle request")
	_, err := p.ServerTypes(ctx)
	require.NoError(t, err)
	parent.End()

	calls := tel.ended(peliqan.RouteServerTypes)
	require.Len(t, calls, 1)
	assert.Equal(t, parent.SpanContext().TraceID(), calls[0].SpanContext().TraceID())
	assert.Equal(t, parent.SpanContext().SpanID(), calls[0].Parent().SpanID())

	// Without a span in the context the call's span is a root.
	_, err = p.ServerTypes(context.Background())
	require.NoError(t, err)
	calls = tel.ended(peliqan.RouteServerTypes)
	require.Len(t, calls, 2)
	assert.False(t, calls[1].Parent().IsValid())
}

func TestErrorsAreRecordedWithTheirKind(t *testing.T) {
	t.Parallel()
	tel := newTelemetry(t)
	fake, p := fakeWith(t, tel)
	ctx := context.Background()
	sd := fake.Seeded().SubAccounts[0]
	tc, err := p.SubAccount(peliqan.ByExternalID(sd.ExternalID))
	require.NoError(t, err)
	srv := sd.Connections[0].ID

	fake.FailNext(peliqan.RouteListSubAccounts, 5, peliqantest.RetryAfterFault(http.StatusTooManyRequests, "3600"))
	_, err = p.ListSubAccounts(ctx, nil)
	require.ErrorIs(t, err, peliqan.ErrRateLimited)

	_, err = p.GetSubAccount(ctx, peliqan.ByExternalID("ext-SECRET-nobody"))
	require.ErrorIs(t, err, peliqan.ErrNotFound)

	fake.FailNext(peliqan.RouteSyncServer, 1, peliqantest.StatusFault(http.StatusServiceUnavailable, ""))
	_, err = tc.SyncServer(ctx, srv, nil)
	require.ErrorIs(t, err, peliqan.ErrServer)

	fake.FailNext(peliqan.RouteFullResync, 1, peliqantest.LatencyFault(time.Second))
	_, err = tc.FullResync(ctx, srv, peliqan.WithAttemptTimeout(50*time.Millisecond))
	require.ErrorIs(t, err, peliqan.ErrTimeout)

	// A server message that echoes what it was sent stays out; a known
	// error code is kept.
	fake.FailNext(peliqan.RouteGetTable, 1, peliqantest.StatusFault(http.StatusNotFound,
		`{"error": "ERROR_TABLE_DOES_NOT_EXIST", "detail": "no table for ext-SECRET-acme"}`))
	_, err = tc.GetTable(ctx, sd.Connections[0].Tables[0])
	require.ErrorIs(t, err, peliqan.ErrNotFound)
	require.ErrorContains(t, err, "ext-SECRET-acme", "the SDK's error keeps the server's message")

	// A tenant whose token cannot be fetched: the SDK's error names the
	// external id, the span does not.
	unknown, err := p.SubAccount(peliqan.ByExternalID("ext-SECRET-unknown"))
	require.NoError(t, err)
	_, err = unknown.ListServers(ctx)
	require.ErrorIs(t, err, peliqan.ErrNotFound)
	require.ErrorContains(t, err, "ext-SECRET-unknown", "the SDK's error names the external id")

	type want struct{ kind, typ, msg string }
	for route, w := range map[string]want{
		peliqan.RouteListSubAccounts: {"rate_limited", "*peliqan.APIError", "peliqan: GET /api/partner/sub-accounts/: 429 Too Many Requests"},
		peliqan.RouteGetSubAccount:   {"not_found", "*peliqan.APIError", "peliqan: GET /api/partner/sub-account/: 404 Not Found"},
		peliqan.RouteSyncServer:      {"server", "*peliqan.APIError", "peliqan: GET /api/servers/{id}/syncdb/: 503 Service Unavailable"},
		peliqan.RouteFullResync:      {"timeout", "*peliqan.TransportError", "peliqan: GET /api/servers/{id}/resync/: attempt deadline exceeded"},
		peliqan.RouteGetTable: {"not_found", "*peliqan.APIError",
			"peliqan: GET /api/database/tables/{id}/: 404 Not Found: ERROR_TABLE_DOES_NOT_EXIST"},
		peliqan.RouteListServers: {"not_found", "*peliqan.APIError", "peliqan: GET /api/partner/sub-account/identity/: 404 Not Found"},
	} {
		spans := tel.ended(route)
		require.NotEmpty(t, spans, route)
		s := spans[len(spans)-1]
		assert.Equal(t, codes.Error, s.Status().Code, route)
		assert.Equal(t, w.kind, s.Status().Description, route)
		assert.Equal(t, w.kind, attr(s.Attributes(), "error.type"), route)
		require.Equal(t, []string{"exception"}, events(s), route)
		ex := s.Events()[0].Attributes
		assert.Equal(t, w.typ, attr(ex, "exception.type"), route)
		assert.Equal(t, w.msg, attr(ex, "exception.message"), route)
	}
	tok := tel.ended(peliqan.RouteSubAccountToken)
	require.NotEmpty(t, tok)
	assert.Equal(t, "not_found", attr(tok[len(tok)-1].Attributes(), "error.type"), "the failed token fetch has its own span")
	assert.Equal(t, "429", attr(tel.ended(peliqan.RouteListSubAccounts)[0].Attributes(), "http.response.status_code"))
	assert.Equal(t, "1", attr(tel.ended(peliqan.RouteListSubAccounts)[0].Attributes(), "peliqan.attempts"),
		"a Retry-After past the cap is not waited for")
	assert.False(t, hasAttr(tel.ended(peliqan.RouteFullResync)[0].Attributes(), "http.response.status_code"), "no answer")
}

func TestUnknownDoPathIsNamedByMethodOnly(t *testing.T) {
	t.Parallel()
	tel := newTelemetry(t)
	_, p := fakeWith(t, tel)
	err := p.Do(context.Background(), "GET", "/api/not-a-route/42/?secret=ext-SECRET-q", nil, nil, peliqan.WithoutRetry())
	require.ErrorIs(t, err, peliqan.ErrNotFound)

	spans := tel.ended()
	require.Len(t, spans, 1)
	s := spans[0]
	assert.Equal(t, "GET", s.Name())
	assert.False(t, hasAttr(s.Attributes(), "url.template"))
	assert.False(t, hasAttr(s.Attributes(), "peliqan.route"))
	assert.NotContains(t, attr(s.Events()[0].Attributes, "exception.message"), "ext-SECRET")

	calls := findSum(t, tel.metrics(t), peliqanotel.MetricCalls)
	assert.Equal(t, map[string]int64{"_OTHER GET not_found": 1}, calls)
}

func TestHookOptions(t *testing.T) {
	t.Parallel()
	for name, opt := range map[string]peliqanotel.Option{
		"nil tracer provider": peliqanotel.WithTracerProvider(nil),
		"nil meter provider":  peliqanotel.WithMeterProvider(nil),
		"nil option":          nil,
	} {
		_, err := peliqanotel.Hook(opt)
		assert.ErrorIs(t, err, peliqan.ErrInvalidArgument, name)
	}

	h, err := peliqanotel.Hook() // the global providers
	require.NoError(t, err)
	_, err = peliqan.NewPartnerClient("partner-token-0123456789", peliqan.WithCallHook(h))
	require.NoError(t, err)

	h, err = peliqanotel.Hook(peliqanotel.WithTracerProvider(tracenoop.NewTracerProvider()),
		peliqanotel.WithMeterProvider(metricnoop.NewMeterProvider()))
	require.NoError(t, err)
	fake := peliqantest.NewFake(t)
	p, err := fake.PartnerClient(peliqan.WithCallHook(h))
	require.NoError(t, err)
	_, err = p.ListSubAccounts(context.Background(), nil)
	require.NoError(t, err, "a no-op provider does no harm")
}
