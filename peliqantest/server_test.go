package peliqantest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/internal/routes"
)

func TestEveryRouteHasAHandler(t *testing.T) {
	t.Parallel()
	for _, rt := range routes.All() {
		assert.NotNil(t, handlers[rt.Name], "route %s has no handler", rt.Name)
	}
	assert.Len(t, handlers, len(routes.All()), "a handler for a route that is not in the table")
}

func TestDjangoSlashBehaviour(t *testing.T) {
	t.Parallel()
	srv := NewFake(t)
	c := newTC(t, srv)
	tok := srv.PartnerToken()

	list := path(t, routes.ListSubAccounts)
	r := c.raw("GET", strings.TrimSuffix(list, "/"), url.Values{"page": {"2"}}, tok, nil)
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusMovedPermanently, r.status)
	assert.Equal(t, list+"?page=2", r.header.Get("Location"))

	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		r := c.raw(m, strings.TrimSuffix(list, "/"), nil, tok, `{"external_id":"x"}`)
		require.NoError(t, r.err)
		assert.Equal(t, http.StatusInternalServerError, r.status, m)
		assert.Contains(t, r.header.Get("Content-Type"), "text/html")
		assert.Contains(t, string(r.body), "Server Error (500)")
	}
	// The slash-less POST did not create anything.
	assert.Equal(t, 0, srv.Count(routes.CreateSubAccount))
	sub := c.ok(routes.ListSubAccounts, tok, nil, nil).json(t)
	assert.Empty(t, sub["data"])

	// An unknown path is Django's HTML 404; a known path with another
	// method is DRF's 405.
	r = c.raw("GET", "/api/nothing-here/", nil, tok, nil)
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.Contains(t, string(r.body), "<title>Not Found</title>")
	r = c.raw("DELETE", list, nil, tok, nil)
	assert.Equal(t, http.StatusMethodNotAllowed, r.status)
	assert.Equal(t, "GET, POST", r.header.Get("Allow"))
	assert.Equal(t, `Method "DELETE" not allowed.`, r.json(t)["detail"])
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	srv := NewFake(t)
	other := NewFake(t)
	seedOne(t, srv, 1)
	c := newTC(t, srv)
	tenant := c.tenantToken("acme")

	cases := []struct {
		name, header string
		status       int
		detail       string
	}{
		{"none", "", 401, "Authentication credentials were not provided."},
		{"bearer", "Bearer " + srv.PartnerToken(), 401, "Authentication credentials were not provided."},
		{"garbage", "JWT not-a-token", 401, "Error decoding signature."},
		{"another server's key", "JWT " + other.PartnerToken(), 401, "Error decoding signature."},
		{"tenant token on a partner route", "JWT " + tenant, 403, "You do not have permission to perform this action."},
	}
	for _, tt := range cases {
		req, err := http.NewRequest("GET", srv.URL()+path(t, routes.ListSubAccounts), nil)
		require.NoError(t, err)
		if tt.header != "" {
			req.Header.Set("Authorization", tt.header)
		}
		res, err := c.hc.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, tt.status, res.StatusCode, tt.name)
		if tt.status == 401 {
			assert.Equal(t, `JWT realm="api"`, res.Header.Get("WWW-Authenticate"), tt.name)
		}
		r := c.raw("GET", path(t, routes.ListSubAccounts), nil, strings.TrimPrefix(tt.header, "JWT "), nil)
		if strings.HasPrefix(tt.header, "JWT ") {
			assert.Equal(t, tt.detail, r.json(t)["detail"], tt.name)
		}
	}

	// The partner token on a tenant route opens the partner's own, empty
	// account.
	r := c.ok(routes.ListServers, srv.PartnerToken(), nil, nil)
	assert.Empty(t, r.list(t))
	// The tenant token opens its tenant.
	r = c.ok(routes.ListServers, tenant, nil, nil)
	assert.Len(t, r.list(t), 1)
}

func TestTokenExpiry(t *testing.T) {
	t.Parallel()
	clk := NewManualClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	srv := NewFake(t, WithClock(clk.Now), WithTokenLifetime(10*time.Minute))
	seedOne(t, srv, 1)
	c := newTC(t, srv)
	p := srv.PartnerToken()

	short := c.ok(routes.SubAccountToken, p, url.Values{"external_id": {"acme"}}, nil).json(t)["token"].(string)
	long := c.tenantToken("acme")
	integ := c.ok(routes.IntegrationToken, p, nil, map[string]any{"external_id": "acme"}).json(t)["integration_token"].(string)
	assert.NotEqual(t, short, long)

	for _, tok := range []string{short, long, integ} {
		c.ok(routes.ListServers, tok, nil, nil)
	}
	clk.Advance(10*time.Minute - time.Second)
	c.ok(routes.ListServers, short, nil, nil)

	clk.Advance(2 * time.Second)
	for name, tok := range map[string]string{"identity": short, "integration": integ} {
		r := c.call(routes.ListServers, tok, nil, nil)
		assert.Equal(t, http.StatusUnauthorized, r.status, name)
		assert.Equal(t, "Signature has expired.", r.json(t)["detail"], name)
	}
	// expire=false and the partner token never expire.
	clk.Advance(365 * 24 * time.Hour)
	c.ok(routes.ListServers, long, nil, nil)
	c.ok(routes.ListSubAccounts, p, nil, nil)

	// TenantToken mints the same two kinds.
	exp, err := srv.TenantToken(srv.mustSubAccount(t, "acme"), true)
	require.NoError(t, err)
	c.ok(routes.ListServers, exp, nil, nil)
	clk.Advance(11 * time.Minute)
	assert.Equal(t, http.StatusUnauthorized, c.call(routes.ListServers, exp, nil, nil).status)
}

func (s *Fake) mustSubAccount(t *testing.T, ext string) peliqan.ID {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.st.byExternalID(ext)
	require.NotNil(t, a)
	return peliqan.ID(a.ID)
}

func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	srv := NewFake(t, WithClock(NewManualClock(time.Unix(1e9, 0)).Now))
	f := Generate(7, 2, 1, 3)
	sd, err := srv.Seed(f)
	require.NoError(t, err)
	a, b := sd.SubAccounts[0], sd.SubAccounts[1]
	c := newTC(t, srv)
	tokA := c.tenantToken(a.ExternalID)

	// B's objects, and a run and a script run of B's.
	tokB := c.tenantToken(b.ExternalID)
	bServer := b.Connections[0].ID.String()
	bTable := b.Connections[0].Tables[0].String()
	bScript := b.Scripts[0].String()
	_ = srv.SetHealthStatus(b.Connections[0].ID, "OK")
	run := c.ok(routes.SyncServer, tokB, nil, nil, bServer).json(t)
	bRun := id(run["run_data"].([]any)[0].(map[string]any)["pipeline_run_id"])
	sr := c.ok(routes.CreateScriptRun, tokB, nil, map[string]any{"interface_id": b.Scripts[0]}).json(t)
	bScriptRun := id(sr["id"])

	notFound := []struct {
		route  string
		params []string
		body   any
	}{
		{routes.GetServer, []string{bServer}, nil},
		{routes.ServerLogs, []string{bServer}, nil},
		{routes.SyncServer, []string{bServer}, nil},
		{routes.GetServerSyncRunStatus, []string{bServer}, nil},
		{routes.FullResync, []string{bServer}, nil},
		{routes.FullResyncStatus, []string{bServer}, nil},
		{routes.ReAuthoriseServer, []string{bServer}, nil},
		{routes.ManualRefreshSaltEdge, []string{bServer}, nil},
		{routes.ListServerRuns, []string{bServer}, nil},
		{routes.PipelineRunLogs, []string{bRun}, nil},
		{routes.ListTables, []string{b.DatabaseID.String()}, nil},
		{routes.CreateQueryTable, []string{b.DatabaseID.String()}, map[string]any{"name": "q", "query": "SELECT * FROM contacts"}},
		{routes.GetTable, []string{bTable}, nil},
		{routes.ListRows, []string{bTable}, nil},
		{routes.UpdateCell, []string{bTable}, map[string]any{"pk": 1, "data": map[string]any{"name": "x"}}},
		{routes.GetScript, []string{bScript}, nil},
		{routes.UpdateScript, []string{bScript}, map[string]any{"name": "stolen"}},
		{routes.TriggerScriptRun, []string{bScript}, nil},
		{routes.CreateScript, []string{b.GroupID.String()}, map[string]any{"name": "x"}},
		{routes.CreateScriptRun, nil, map[string]any{"interface_id": b.Scripts[0]}},
		{routes.GetScriptRun, []string{bScriptRun}, nil},
		{routes.ScriptRunLogs, []string{bScriptRun}, nil},
	}
	for _, tt := range notFound {
		r := c.call(tt.route, tokA, nil, tt.body, tt.params...)
		assert.Equal(t, http.StatusNotFound, r.status, "%s: %s", tt.route, r.body)
	}
	// Lists show only A's own objects.
	servers := c.ok(routes.ListServers, tokA, nil, nil).list(t)
	require.Len(t, servers, 1)
	assert.Equal(t, a.Connections[0].ID.String(), id(servers[0]["id"]))
	runs := c.ok(routes.GetPipelineRuns, tokA, url.Values{"run_id": {bRun}}, nil).json(t)
	assert.Empty(t, runs["data"])
	assert.Empty(t, c.ok(routes.ListScriptRuns, tokA, nil, nil).json(t)["data"])
	q := c.ok(routes.Query, tokA, nil, map[string]any{"table_id": b.Connections[0].Tables[0]}).json(t)
	assert.NotNil(t, q["error"])
	dbs := c.ok(routes.ListDatabases, tokA, nil, nil).list(t)
	require.Len(t, dbs, 1)
	assert.Equal(t, a.DatabaseID.String(), id(dbs[0]["id"]))
	groups := c.ok(routes.ListGroups, tokA, nil, nil).list(t)
	require.Len(t, groups, 1)
	assert.Equal(t, a.GroupID.String(), id(groups[0]["id"]))
	// B's state is untouched by A's attempts.
	script := c.ok(routes.GetScript, tokB, nil, nil, bScript).json(t)
	assert.Equal(t, "nightly-report", script["name"])
}

func TestDeletedSubAccountClosesItsTokens(t *testing.T) {
	t.Parallel()
	srv := NewFake(t)
	sa := seedOne(t, srv, 1)
	c := newTC(t, srv)
	tok := c.tenantToken("acme")
	c.ok(routes.DeleteSubAccount, srv.PartnerToken(), nil, nil, sa.ID.String())
	r := c.call(routes.ListServers, tok, nil, nil)
	assert.Equal(t, http.StatusUnauthorized, r.status)
	r = c.call(routes.GetSubAccount, srv.PartnerToken(), url.Values{"external_id": {"acme"}}, nil)
	assert.Equal(t, http.StatusNotFound, r.status)
}

func TestNewRefusesNonLoopback(t *testing.T) {
	t.Parallel()
	_, err := New(WithAddr("0.0.0.0:0"))
	require.Error(t, err)
	_, err = New(WithAddr("192.0.2.1:8080"))
	require.Error(t, err)
	s, err := New(WithAddr("localhost:0"))
	require.NoError(t, err)
	s.Close()
	s.Close() // idempotent
}

func TestPartnerClientHelper(t *testing.T) {
	t.Parallel()
	srv := NewFake(t)
	sa := seedOne(t, srv, 2)
	p, err := srv.PartnerClient()
	require.NoError(t, err)
	var out struct {
		Data []struct {
			ExternalID string `json:"external_id"`
		} `json:"data"`
	}
	require.NoError(t, p.Do(context.Background(), "GET", path(t, routes.ListSubAccounts), nil, &out))
	require.Len(t, out.Data, 1)
	assert.Equal(t, "acme", out.Data[0].ExternalID)

	tc, err := srv.SubAccountClient(sa.ID)
	require.NoError(t, err)
	var servers []map[string]any
	require.NoError(t, tc.Do(context.Background(), "GET", path(t, routes.ListServers), nil, &servers))
	assert.Len(t, servers, 1)
	// Every request carried the JWT scheme, redacted in the record.
	for _, r := range srv.Requests() {
		assert.Equal(t, "JWT [REDACTED]", r.Header.Get("Authorization"))
	}
}

func TestConcurrentClients(t *testing.T) {
	t.Parallel()
	srv := NewFake(t, WithFixture(Generate(3, 4, 2, 20)), WithSyncDuration(5*time.Millisecond))
	srv.AddFaultRule(FaultRule{Route: routes.ListRows, Probability: 0.2, Fault: LatencyFault(2 * time.Millisecond)})
	c := newTC(t, srv)
	seeded := srv.Seeded().SubAccounts
	toks := make([]string, len(seeded))
	for i, sa := range seeded {
		toks[i] = c.tenantToken(sa.ExternalID)
	}
	createPath := path(t, routes.CreateSubAccount)
	type connPaths struct{ sync, status, rows string }
	paths := map[string]connPaths{}
	for _, sa := range seeded {
		for _, cn := range sa.Connections {
			paths[cn.ID.String()] = connPaths{
				sync:   path(t, routes.SyncServer, cn.ID.String()),
				status: path(t, routes.GetServerSyncRunStatus, cn.ID.String()),
				rows:   path(t, routes.ListRows, cn.Tables[0].String()),
			}
		}
	}
	const workers, each = 16, 20
	errs := make(chan error, workers*each)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sa, tok := seeded[w%len(seeded)], toks[w%len(seeded)]
			cp := paths[sa.Connections[w%2].ID.String()]
			for i := range each {
				var r resp
				switch i % 4 {
				case 0:
					r = c.raw("GET", cp.sync, nil, tok, nil)
				case 1:
					r = c.raw("GET", cp.status, nil, tok, nil)
				case 2:
					r = c.raw("GET", cp.rows, nil, tok, nil)
				case 3:
					r = c.raw("POST", createPath, nil, srv.PartnerToken(),
						map[string]any{"external_id": "w" + strconv.Itoa(w) + "-" + strconv.Itoa(i)})
				}
				if r.err != nil {
					errs <- r.err
				} else if r.status >= 300 && !(i%4 == 0 && r.status == http.StatusBadRequest) {
					errs <- fmt.Errorf("%d: %s", r.status, r.body)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	assert.Equal(t, workers*each/4, srv.Count(routes.CreateSubAccount))
	assert.Equal(t, workers*each/4, srv.Count(routes.SyncServer))
	m := c.ok(routes.ListSubAccounts, srv.PartnerToken(), url.Values{"per_page": {"1000"}}, nil).json(t)
	assert.Len(t, m["data"], 4+workers*each/4)
}
