package peliqan_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// hookRecorder keeps everything a CallHook was told, in order.
type hookRecorder struct {
	mu     sync.Mutex
	events []string
	calls  []peliqan.CallInfo
	tries  []peliqan.AttemptInfo
	ends   []peliqan.CallResult
	ctxOK  []bool // End saw the context Start returned
}

type hookKey struct{}

func (h *hookRecorder) hook() peliqan.CallHook {
	return peliqan.CallHook{
		Start: func(ctx context.Context, c peliqan.CallInfo) context.Context {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.events = append(h.events, "start "+c.Route)
			h.calls = append(h.calls, c)
			return context.WithValue(ctx, hookKey{}, c.Route)
		},
		Attempt: func(ctx context.Context, c peliqan.CallInfo, a peliqan.AttemptInfo) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.events = append(h.events, fmt.Sprintf("attempt %s %d %d %t", c.Route, a.Attempt, a.StatusCode, a.Retrying))
			h.tries = append(h.tries, a)
		},
		End: func(ctx context.Context, c peliqan.CallInfo, r peliqan.CallResult) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.events = append(h.events, "end "+c.Route)
			h.ends = append(h.ends, r)
			h.ctxOK = append(h.ctxOK, ctx.Value(hookKey{}) == c.Route)
		},
	}
}

func hookFake(t *testing.T, h *hookRecorder, opts ...peliqan.Option) (*peliqantest.Fake, *peliqan.PartnerClient) {
	t.Helper()
	fake := peliqantest.NewFake(t, peliqantest.WithFixture(peliqantest.Fixture{SubAccounts: []peliqantest.SubAccountFixture{
		{ExternalID: "hook-secret-ext", Connections: []peliqantest.ConnectionFixture{{Type: "pipedrive"}}}}}))
	p, err := fake.PartnerClient(append([]peliqan.Option{peliqan.WithCallHook(h.hook())}, opts...)...)
	require.NoError(t, err)
	return fake, p
}

func TestCallHookSeesEveryAttemptOfARetriedCall(t *testing.T) {
	t.Parallel()
	h := &hookRecorder{}
	fake, p := hookFake(t, h)
	sd := fake.Seeded().SubAccounts[0]
	fake.FailNext(peliqan.RouteGetSubAccount, 2, peliqantest.StatusFault(http.StatusServiceUnavailable, ""))

	_, err := p.GetSubAccount(context.Background(), peliqan.ByExternalID(sd.ExternalID))
	require.NoError(t, err)
	assert.Equal(t, []string{
		"start GetSubAccount",
		"attempt GetSubAccount 1 503 true",
		"attempt GetSubAccount 2 503 true",
		"attempt GetSubAccount 3 200 false",
		"end GetSubAccount",
	}, h.events)
	require.Len(t, h.ends, 1)
	r := h.ends[0]
	assert.Equal(t, 3, r.Attempts)
	assert.Equal(t, http.StatusOK, r.StatusCode)
	assert.NoError(t, r.Err)
	assert.False(t, r.TokenRefreshed)
	assert.Positive(t, r.Duration)
	assert.GreaterOrEqual(t, r.Duration, r.RetryWait)
	assert.Equal(t, []bool{true}, h.ctxOK, "the hooks share the context Start returned")
	u, _ := url.Parse(fake.URL())
	port, _ := strconv.Atoi(u.Port())
	assert.Equal(t, peliqan.CallInfo{Route: peliqan.RouteGetSubAccount, Method: "GET", PathTemplate: "/api/partner/sub-account/",
		ServerAddress: "127.0.0.1", ServerPort: port}, h.calls[0])
}

func TestCallHookFailureAndTokenRefresh(t *testing.T) {
	t.Parallel()
	h := &hookRecorder{}
	fake, p := hookFake(t, h, peliqan.WithRetryPolicy(peliqan.RetryPolicy{MaxAttempts: 2, Backoff: peliqan.BackoffConstant}))
	ctx := context.Background()
	tc, err := p.SubAccount(peliqan.ByExternalID(fake.Seeded().SubAccounts[0].ExternalID))
	require.NoError(t, err)
	srv := fake.Seeded().SubAccounts[0].Connections[0].ID
	_, err = tc.GetServer(ctx, srv) // warms the token
	require.NoError(t, err)

	// A 401 is replayed once with a new token: one call, two attempts.
	h.mu.Lock()
	h.events, h.ends, h.tries = nil, nil, nil
	h.mu.Unlock()
	fake.FailNext(peliqan.RouteGetServer, 1, peliqantest.StatusFault(http.StatusUnauthorized, ""))
	_, err = tc.GetServer(ctx, srv)
	require.NoError(t, err)
	var end peliqan.CallResult
	for i, e := range h.events {
		if e == "end GetServer" {
			end = h.ends[countPrefix(h.events[:i], "end ")]
		}
	}
	assert.True(t, end.TokenRefreshed)
	assert.Equal(t, 2, end.Attempts)
	assert.Contains(t, h.events, "start SubAccountToken", "the token fetch is a call of its own")

	// A sync answered 503 is not retried: one attempt, Retrying false, the
	// typed error in End.
	fake.FailNext(peliqan.RouteSyncServer, 1, peliqantest.StatusFault(http.StatusServiceUnavailable, ""))
	_, err = tc.SyncServer(ctx, srv, nil)
	require.ErrorIs(t, err, peliqan.ErrServer)
	last := h.ends[len(h.ends)-1]
	assert.Equal(t, 1, last.Attempts)
	assert.ErrorIs(t, last.Err, peliqan.ErrServer)
	assert.Equal(t, "server", peliqan.ErrorKind(last.Err))
	assert.Equal(t, "attempt SyncServer 1 503 false", h.events[len(h.events)-2])
	assert.Equal(t, "/api/servers/{id}/syncdb/", h.calls[len(h.calls)-1].PathTemplate)
}

func countPrefix(ss []string, p string) int {
	n := 0
	for _, s := range ss {
		if strings.HasPrefix(s, p) {
			n++
		}
	}
	return n
}

func TestCallHookNeverSeesSecretsOrConcretePaths(t *testing.T) {
	t.Parallel()
	h := &hookRecorder{}
	fake, p := hookFake(t, h)
	sd := fake.Seeded().SubAccounts[0]
	ctx := context.Background()
	_, _ = p.GetSubAccount(ctx, peliqan.ByExternalID(sd.ExternalID))
	tc, err := p.SubAccount(peliqan.ByExternalID(sd.ExternalID))
	require.NoError(t, err)
	_, _ = tc.GetServer(ctx, sd.Connections[0].ID)
	require.NoError(t, p.Do(ctx, "GET", fmt.Sprintf("/api/partner/sub-accounts/?external_id=%s", sd.ExternalID), nil, nil))
	_ = p.Do(ctx, "GET", fmt.Sprintf("/api/not-a-route/%d/", sd.ID), nil, nil)
	unknown := h.calls[len(h.calls)-1]
	// An attempt cut off by a reset: its error names the path, not the URL.
	fake.FailNext(peliqan.RouteGetSubAccount, 10, peliqantest.ResetFault())
	_, err = p.GetSubAccount(ctx, peliqan.ByExternalID(sd.ExternalID))
	require.Error(t, err)
	var te *peliqan.TransportError
	require.ErrorAs(t, h.tries[len(h.tries)-1].Err, &te)

	tok := fake.PartnerToken()
	var errs []string
	for _, a := range h.tries {
		if a.Err != nil {
			errs = append(errs, a.Err.Error())
		}
	}
	require.NotEmpty(t, errs)
	dump := fmt.Sprintf("%+v %+v %+v %v", h.calls, h.tries, h.ends, errs)
	for _, secret := range []string{tok, sd.ExternalID, fmt.Sprintf("/%d/", sd.Connections[0].ID), "external_id"} {
		assert.NotContains(t, dump, secret)
	}
	assert.Empty(t, unknown.Route, "an unknown Do path is not named")
	assert.Empty(t, unknown.PathTemplate)
}

func TestCallHookValidationAndErrorKinds(t *testing.T) {
	t.Parallel()
	_, err := peliqan.NewPartnerClient("partner-token-0123456789", peliqan.WithCallHook(peliqan.CallHook{}))
	assert.ErrorIs(t, err, peliqan.ErrInvalidArgument)

	for want, err := range map[string]error{
		"":                   nil,
		"invalid_argument":   &peliqan.ArgumentError{Name: "x"},
		"canceled":           context.Canceled,
		"deadline_exceeded":  fmt.Errorf("wrapped: %w", context.DeadlineExceeded),
		"rate_limited":       &peliqan.APIError{StatusCode: 429},
		"not_found":          &peliqan.APIError{StatusCode: 404},
		"server":             &peliqan.APIError{StatusCode: 502},
		"malformed_response": &peliqan.DecodeError{Err: errors.New("x")},
		"transport":          &peliqan.TransportError{Err: errors.New("reset")},
		"other":              errors.New("x"),
	} {
		assert.Equal(t, want, peliqan.ErrorKind(err), "%v", err)
	}
}

// ctxHandler records a value from the context of every log record.
type ctxHandler struct {
	mu   *sync.Mutex
	seen *[]any
}

func (h ctxHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h ctxHandler) Handle(ctx context.Context, _ slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.seen = append(*h.seen, ctx.Value(hookKey{}))
	return nil
}
func (h ctxHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h ctxHandler) WithGroup(string) slog.Handler      { return h }

func TestLogLinesCarryTheCallersContext(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []any
	fake := peliqantest.NewFake(t)
	p, err := fake.PartnerClient(peliqan.WithLogger(slog.New(ctxHandler{&mu, &seen})))
	require.NoError(t, err)
	fake.FailNext(peliqan.RouteListSubAccounts, 1, peliqantest.StatusFault(http.StatusBadGateway, ""))
	ctx := context.WithValue(context.Background(), hookKey{}, "trace-123")
	_, err = p.ListSubAccounts(ctx, nil)
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, seen, 2, "a retry line and a request line")
	for _, v := range seen {
		assert.Equal(t, "trace-123", v)
	}
}
