package peliqantest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/internal/routes"
)

func TestCountsEndpoint(t *testing.T) {
	t.Parallel()
	srv := NewFake(t, WithSyncDuration(time.Hour))
	sa := seedOne(t, srv, 1)
	c := newTC(t, srv)
	tok := c.tenantToken("acme")
	sid := sa.Connections[0].ID.String()

	c.ok(routes.SyncServer, tok, nil, nil, sid)
	c.ok(routes.SyncServer, tok, nil, nil, sid) // already running: starts nothing
	assert.Equal(t, http.StatusUnauthorized, c.call(routes.ListServers, "", nil, nil).status)
	assert.Equal(t, http.StatusNotFound, c.raw("GET", "/api/nope/", nil, "", nil).status)
	srv.FailNext(routes.ListServers, 1, StatusFault(http.StatusServiceUnavailable, ""))
	assert.Equal(t, http.StatusServiceUnavailable, c.call(routes.ListServers, tok, nil, nil).status)

	r := c.raw("GET", CountsPath, nil, "", nil)
	require.NoError(t, r.err)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))

	// The wire shape, as another process reads it.
	var raw map[string]any
	require.NoError(t, json.Unmarshal(r.body, &raw))
	for _, k := range []string{"requests", "unmatched", "rate_limited", "by_status", "routes",
		"runs_started", "runs_started_total", "recorded", "record_limit"} {
		assert.Contains(t, raw, k)
	}
	assert.Equal(t, map[string]any{"requests": 2.0, "by_status": map[string]any{"200": 2.0}},
		raw["routes"].(map[string]any)[routes.SyncServer])
	assert.Equal(t, map[string]any{sid: 1.0}, raw["runs_started"])
	assert.Equal(t, 6.0, raw["requests"]) // token, 2 syncs, 401, 404, 503
	assert.Equal(t, map[string]any{"200": 3.0, "401": 1.0, "404": 1.0, "503": 1.0}, raw["by_status"])

	// The same values as the Go accessors.
	var got Counts
	require.NoError(t, json.Unmarshal(r.body, &got))
	assert.Equal(t, srv.Counts(), &got)
	assert.Equal(t, srv.Count(routes.ListServers), got.Routes[routes.ListServers].Requests)
	assert.Equal(t, map[int]int{401: 1, 503: 1}, got.Routes[routes.ListServers].ByStatus)
	assert.Equal(t, srv.Count(routes.SubAccountToken), got.Routes[routes.SubAccountToken].Requests)
	assert.Equal(t, srv.RunsStarted(), got.RunsStarted)
	assert.Equal(t, map[peliqan.ID]int{sa.Connections[0].ID: 1}, got.RunsStarted)
	assert.Equal(t, 1, got.RunsStartedTotal)
	assert.Equal(t, 1, got.Unmatched)
	assert.Equal(t, 6, got.Recorded)
	assert.Equal(t, defaultRecordLimit, got.RecordLimit)

	// The endpoint itself is neither recorded nor counted; a trailing slash
	// and HEAD are accepted; anything else under the prefix is not.
	n := len(srv.Requests())
	assert.Equal(t, http.StatusOK, c.raw("GET", CountsPath+"/", nil, "", nil).status)
	assert.Equal(t, http.StatusOK, c.raw("HEAD", CountsPath, nil, "", nil).status)
	post := c.raw("POST", CountsPath, nil, "", nil)
	assert.Equal(t, http.StatusMethodNotAllowed, post.status)
	assert.Equal(t, "GET, HEAD", post.header.Get("Allow"))
	assert.Equal(t, http.StatusNotFound, c.raw("GET", ReservedPathPrefix+"nope", nil, "", nil).status)
	assert.Len(t, srv.Requests(), n)
	assert.Equal(t, 6, srv.Counts().Requests)

	srv.ResetRecords()
	empty := srv.Counts()
	assert.Equal(t, 0, empty.Requests)
	assert.Empty(t, empty.RunsStarted)
	assert.NotNil(t, empty.RunsStarted, "maps stay objects in JSON")
	assert.NotNil(t, empty.Routes)
	assert.NotNil(t, empty.ByStatus)
}

func TestReservedPrefixIsNotARoute(t *testing.T) {
	t.Parallel()
	for _, rt := range routes.All() {
		assert.False(t, strings.HasPrefix(rt.Path, ReservedPathPrefix), rt.Name)
	}
	assert.True(t, strings.HasPrefix(CountsPath, ReservedPathPrefix))
	assert.False(t, routes.MatchPath(CountsPath))
	assert.False(t, routes.MatchPath(CountsPath+"/"))

	// A partner token does not turn it into a Peliqan route.
	srv := NewFake(t)
	c := newTC(t, srv)
	assert.Equal(t, http.StatusOK, c.raw("GET", CountsPath, nil, srv.PartnerToken(), nil).status)
	assert.Empty(t, srv.Requests())
}

func TestCountsEndpointLoopbackOnly(t *testing.T) {
	t.Parallel()
	srv := NewFake(t)
	for addr, want := range map[string]int{
		"192.0.2.1:1234":  http.StatusForbidden,
		"10.0.0.7:80":     http.StatusForbidden,
		"":                http.StatusForbidden,
		"127.0.0.1:5555":  http.StatusOK,
		"[::1]:5555":      http.StatusOK,
		"127.10.0.1:5555": http.StatusOK,
	} {
		req := httptest.NewRequest("GET", CountsPath, nil)
		req.RemoteAddr = addr
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		assert.Equal(t, want, w.Code, addr)
	}
}

func TestRunsStarted(t *testing.T) {
	t.Parallel()
	srv := NewFake(t, WithSyncDuration(time.Hour), WithFixture(Generate(3, 2, 3, 0)))
	c := newTC(t, srv)
	seeded := srv.Seeded().SubAccounts
	a, b := seeded[0], seeded[1]
	tokA, err := srv.TenantToken(a.ID, false)
	require.NoError(t, err)
	tokB, err := srv.TenantToken(b.ID, false)
	require.NoError(t, err)

	c.call(routes.SyncServer, tokA, nil, nil, a.Connections[0].ID.String())
	c.call(routes.SyncServer, tokA, nil, nil, a.Connections[0].ID.String()) // running: no new run
	c.call(routes.FullResync, tokA, nil, nil, a.Connections[1].ID.String())
	c.call(routes.SyncServer, tokB, nil, nil, b.Connections[2].ID.String())
	require.NoError(t, srv.MarkNeedsReauth(b.Connections[0].ID))
	assert.Equal(t, http.StatusBadRequest, c.call(routes.SyncServer, tokB, nil, nil, b.Connections[0].ID.String()).status)
	// A reset sync was not acted on (a fresh connection, so net/http does
	// not resend it on its own).
	fresh := newTC(t, srv)
	fresh.hc.Transport.(*http.Transport).DisableKeepAlives = true
	srv.FailNext(routes.SyncServer, 1, ResetFault())
	require.Error(t, fresh.raw("GET", path(t, routes.SyncServer, b.Connections[1].ID.String()), nil, tokB, nil).err)
	c.call(routes.SyncServer, tokA, nil, nil, b.Connections[1].ID.String()) // another tenant's: 404

	assert.Equal(t, map[peliqan.ID]int{
		a.Connections[0].ID: 1,
		a.Connections[1].ID: 1,
		b.Connections[2].ID: 1,
	}, srv.RunsStarted())
	assert.Equal(t, 3, srv.Counts().RunsStartedTotal)

	// The map is a copy.
	srv.RunsStarted()[a.Connections[0].ID] = 99
	assert.Equal(t, 1, srv.RunsStarted()[a.Connections[0].ID])

	srv.ResetRecords()
	assert.Empty(t, srv.RunsStarted())
}
