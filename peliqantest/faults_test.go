package peliqantest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/peliqan-community/peliqan-go/internal/routes"
)

func lastRequest(t *testing.T, srv *Fake) Request {
	t.Helper()
	// The record is written when the handler returns, which may be a moment
	// after the client saw a reset; wait for it, boundedly.
	for range 200 {
		reqs := srv.Requests()
		if len(reqs) > 0 {
			return reqs[len(reqs)-1]
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("no request recorded")
	return Request{}
}

func subAccountCount(t *testing.T, c *tc) int {
	t.Helper()
	return len(c.ok(routes.ListSubAccounts, c.srv.PartnerToken(), url.Values{"per_page": {"1000"}}, nil).json(t)["data"].([]any))
}

func TestFaultStatus(t *testing.T) {
	t.Parallel()
	srv := NewFake(t)
	c := newTC(t, srv)
	p := srv.PartnerToken()

	srv.FailNext(routes.ListSubAccounts, 2, RetryAfterFault(http.StatusServiceUnavailable, "3"))
	for range 2 {
		r := c.call(routes.ListSubAccounts, p, nil, nil)
		assert.Equal(t, http.StatusServiceUnavailable, r.status)
		assert.Equal(t, "3", r.header.Get("Retry-After"))
		m := r.json(t)
		assert.Equal(t, "ERROR_INTERNAL_SERVER_ERROR", m["error"])
		d := m["detail"].(map[string]any)
		assert.Equal(t, routes.ListSubAccounts, d["operation"])
		assert.NotEmpty(t, d["stack_trace"])
	}
	c.ok(routes.ListSubAccounts, p, nil, nil)
	assert.Equal(t, 3, srv.Count(routes.ListSubAccounts))
	assert.Equal(t, "status", lastRequestAt(srv, -2).Fault)
	assert.Equal(t, "", lastRequest(t, srv).Fault)

	// A body as given; a 4xx default is the tuple form; 429 is DRF's.
	srv.FailNext(routes.ListSubAccounts, 1, StatusFault(http.StatusTooManyRequests, `{"detail":"slow down"}`))
	r := c.call(routes.ListSubAccounts, p, nil, nil)
	assert.Equal(t, http.StatusTooManyRequests, r.status)
	assert.JSONEq(t, `{"detail":"slow down"}`, string(r.body))
	srv.FailNext(routes.ListSubAccounts, 1, StatusFault(http.StatusConflict, ""))
	requireTupleError(t, c.call(routes.ListSubAccounts, p, nil, nil), http.StatusConflict, "ERROR_INJECTED_FAULT")

	// The faulted request was not acted on.
	srv.FailNext(routes.CreateSubAccount, 1, StatusFault(http.StatusInternalServerError, ""))
	assert.Equal(t, 500, c.call(routes.CreateSubAccount, p, nil, map[string]any{"external_id": "x"}).status)
	assert.Equal(t, 0, subAccountCount(t, c))
}

func lastRequestAt(srv *Fake, back int) Request {
	reqs := srv.Requests()
	return reqs[len(reqs)+back]
}

func TestFaultLatency(t *testing.T) {
	t.Parallel()
	srv := NewFake(t)
	c := newTC(t, srv)
	srv.FailNext(routes.ListSubAccounts, 1, LatencyFault(150*time.Millisecond))
	start := time.Now()
	c.ok(routes.ListSubAccounts, srv.PartnerToken(), nil, nil)
	assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)
	assert.Equal(t, "latency", lastRequest(t, srv).Fault)

	// Delay composes with any kind: a slow 503.
	f := StatusFault(503, "")
	f.Delay = 100 * time.Millisecond
	srv.FailNext(routes.ListSubAccounts, 1, f)
	start = time.Now()
	assert.Equal(t, 503, c.call(routes.ListSubAccounts, srv.PartnerToken(), nil, nil).status)
	assert.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
}

func TestFaultResetBeforeResponse(t *testing.T) {
	t.Parallel()
	srv := NewFake(t)
	sa := seedOne(t, srv, 1)
	c := newTC(t, srv)
	p := srv.PartnerToken()
	tok := c.tenantToken("acme")

	srv.FailNext(routes.CreateSubAccount, 1, ResetFault())
	r := c.raw("POST", path(t, routes.CreateSubAccount), nil, p, map[string]any{"external_id": "x"})
	require.Error(t, r.err, "the client sees the connection die")
	assert.Equal(t, 0, r.status)
	rec := lastRequest(t, srv)
	assert.Equal(t, 0, rec.Status)
	assert.Equal(t, "reset_before_response", rec.Fault)
	assert.Equal(t, 1, subAccountCount(t, c), "not acted on")

	// A side-effect GET hit by a reset started no sync.
	sid := sa.Connections[0].ID.String()
	fresh := newTC(t, srv)
	fresh.hc.Transport.(*http.Transport).DisableKeepAlives = true
	srv.FailNext(routes.SyncServer, 1, ResetFault())
	r = fresh.raw("GET", path(t, routes.SyncServer, sid), nil, tok, nil)
	require.Error(t, r.err)
	assert.Equal(t, 1, srv.Count(routes.SyncServer))
	assert.Empty(t, c.ok(routes.ListServerRuns, tok, nil, nil, sid).json(t)["data"])

	// On a reused keep-alive connection, net/http itself silently sends a
	// bodiless GET again after such a reset: the fake sees the duplicate
	// (this is why the SDK makes side-effect GETs non-replayable).
	c.ok(routes.ListServers, tok, nil, nil) // leaves an idle connection in c's pool
	srv.FailNext(routes.SyncServer, 1, ResetFault())
	r = c.raw("GET", path(t, routes.SyncServer, sid), nil, tok, nil)
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, 3, srv.Count(routes.SyncServer))
	assert.Len(t, c.ok(routes.ListServerRuns, tok, nil, nil, sid).json(t)["data"], 1)
}

func TestFaultResetMidBody(t *testing.T) {
	t.Parallel()
	srv := NewFake(t)
	c := newTC(t, srv)
	p := srv.PartnerToken()

	srv.FailNext(routes.CreateSubAccount, 1, MidBodyResetFault())
	r := c.raw("POST", path(t, routes.CreateSubAccount), nil, p, map[string]any{"external_id": "mid"})
	assert.Equal(t, http.StatusOK, r.status, "the headers arrived")
	require.Error(t, r.err, "the body did not")
	assert.Equal(t, 1, subAccountCount(t, c), "acted on: the create happened")
	assert.Equal(t, "reset_mid_body", lastRequestAt(srv, -2).Fault)

	// On a 204 route there is still a body to cut.
	srv.FailNext(routes.ListSubAccounts, 1, MidBodyResetFault())
	r = c.raw("GET", path(t, routes.ListSubAccounts), nil, p, nil)
	assert.Equal(t, http.StatusOK, r.status)
	require.Error(t, r.err)
}

func TestFaultTruncatedJSON(t *testing.T) {
	t.Parallel()
	srv := NewFake(t)
	seedOne(t, srv, 1)
	c := newTC(t, srv)
	full := c.ok(routes.ListSubAccounts, srv.PartnerToken(), nil, nil)
	srv.FailNext(routes.ListSubAccounts, 1, TruncatedJSONFault())
	r := c.ok(routes.ListSubAccounts, srv.PartnerToken(), nil, nil)
	assert.Len(t, r.body, len(full.body)/2)
	assert.Equal(t, strconv.Itoa(len(r.body)), r.header.Get("Content-Length"))
	assert.Equal(t, full.body[:len(full.body)/2], r.body)
	var v any
	assert.Error(t, json.Unmarshal(r.body, &v))
}

func TestFaultHTMLPage(t *testing.T) {
	t.Parallel()
	srv := NewFake(t)
	c := newTC(t, srv)
	srv.FailNext(routes.ListSubAccounts, 1, HTMLFault(0))
	srv.FailNext(routes.ListSubAccounts, 1, HTMLFault(http.StatusGatewayTimeout))
	r := c.call(routes.ListSubAccounts, srv.PartnerToken(), nil, nil)
	assert.Equal(t, http.StatusBadGateway, r.status)
	assert.Equal(t, "text/html", r.header.Get("Content-Type"))
	assert.Contains(t, string(r.body), "<title>502 Bad Gateway</title>")
	r = c.call(routes.ListSubAccounts, srv.PartnerToken(), nil, nil)
	assert.Equal(t, http.StatusGatewayTimeout, r.status)
	assert.Contains(t, string(r.body), "504 Gateway Timeout")
}

func TestFaultOversizedBody(t *testing.T) {
	t.Parallel()
	srv := NewFake(t)
	seedOne(t, srv, 1)
	c := newTC(t, srv)
	const size = 2 << 20

	// An object gets a padding member and stays valid JSON.
	srv.FailNext(routes.ListSubAccounts, 1, OversizedFault(size))
	r := c.ok(routes.ListSubAccounts, srv.PartnerToken(), nil, nil)
	require.NoError(t, r.err)
	assert.Len(t, r.body, size)
	m := r.json(t)
	assert.Len(t, m["data"], 1)
	pad := m["_padding"].(string)
	assert.Greater(t, len(pad), size-1024)
	assert.Equal(t, byte('x'), pad[0])

	// An array gets trailing whitespace.
	tok := c.tenantToken("acme")
	srv.FailNext(routes.ListServers, 1, OversizedFault(size))
	r = c.ok(routes.ListServers, tok, nil, nil)
	assert.Len(t, r.body, size)
	assert.Len(t, r.list(t), 1)

	// A 204 route acts, then answers 200 with a padded body.
	sid := id(c.ok(routes.CreateSubAccount, srv.PartnerToken(), nil, map[string]any{"external_id": "gone"}).json(t)["id"])
	srv.FailNext(routes.DeleteSubAccount, 1, OversizedFault(size))
	r = c.call(routes.DeleteSubAccount, srv.PartnerToken(), nil, nil, sid)
	assert.Equal(t, http.StatusOK, r.status)
	assert.Len(t, r.body, size)
	assert.Equal(t, http.StatusNotFound, c.call(routes.SubAccountInfo, srv.PartnerToken(), nil, nil, sid).status)
}

func TestFaultRules(t *testing.T) {
	t.Parallel()
	statuses := func(seed uint64) []int {
		srv := NewFake(t, WithFaultSeed(seed))
		srv.AddFaultRule(FaultRule{Route: routes.ListSubAccounts, Probability: 0.5, Fault: StatusFault(503, "")})
		c := newTC(t, srv)
		var out []int
		for range 200 {
			out = append(out, c.call(routes.ListSubAccounts, srv.PartnerToken(), nil, nil).status)
		}
		// Other routes are untouched by a route's rule.
		c.ok(routes.ServerTypes, srv.PartnerToken(), nil, nil)
		return out
	}
	a, b := statuses(42), statuses(42)
	assert.Equal(t, a, b, "the same seed gives the same faults")
	failed := 0
	for _, s := range a {
		if s == 503 {
			failed++
		}
	}
	assert.InDelta(t, 100, failed, 40)
	assert.NotEqual(t, a, statuses(43))

	// "" matches every route; FailNext wins over rules; ClearFaults ends both.
	srv := NewFake(t)
	c := newTC(t, srv)
	p := srv.PartnerToken()
	srv.AddFaultRule(FaultRule{Probability: 1, Fault: HTMLFault(502)})
	srv.FailNext("", 1, StatusFault(418, `{"detail":"teapot"}`))
	assert.Equal(t, 418, c.call(routes.ServerTypes, p, nil, nil).status)
	assert.Equal(t, 502, c.call(routes.ServerTypes, p, nil, nil).status)
	assert.Equal(t, 502, c.call(routes.ListSubAccounts, p, nil, nil).status)
	srv.FailNext(routes.ListSubAccounts, 5, StatusFault(500, ""))
	srv.ClearFaults()
	c.ok(routes.ListSubAccounts, p, nil, nil)
	srv.AddFaultRule(FaultRule{Route: routes.ListSubAccounts, Probability: 0, Fault: ResetFault()})
	c.ok(routes.ListSubAccounts, p, nil, nil)
}

func TestFaultMisuse(t *testing.T) {
	t.Parallel()
	srv := NewFake(t)
	assert.Panics(t, func() { srv.FailNext("SyncSever", 1, ResetFault()) })
	assert.Panics(t, func() { srv.Count("Nope") })
	assert.Panics(t, func() { srv.AddFaultRule(FaultRule{Probability: 1.5}) })
	srv.FailNext(routes.SyncServer, 0, ResetFault()) // n <= 0: nothing queued
	c := newTC(t, srv)
	c.ok(routes.ListSubAccounts, srv.PartnerToken(), nil, nil)
	assert.Equal(t, "latency", FaultLatency.String())
	assert.Equal(t, "FaultKind(99)", FaultKind(99).String())
}
