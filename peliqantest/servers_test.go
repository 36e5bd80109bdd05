package peliqantest

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/peliqan-community/peliqan-go/internal/routes"
)

type syncFixture struct {
	srv    *Fake
	clk    *ManualClock
	c      *tc
	tok    string
	sa     SeededSubAccount
	server string
}

func newSyncFixture(t *testing.T, opts ...Option) *syncFixture {
	clk := NewManualClock(time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC))
	srv := NewFake(t, append([]Option{WithClock(clk.Now), WithSyncDuration(10 * time.Second), WithRowsPerSync(4)}, opts...)...)
	sa := seedOne(t, srv, 3)
	c := newTC(t, srv)
	return &syncFixture{srv: srv, clk: clk, c: c, tok: c.tenantToken("acme"), sa: sa, server: sa.Connections[0].ID.String()}
}

func (f *syncFixture) health(t *testing.T) string {
	return f.c.ok(routes.GetServer, f.tok, nil, nil, f.server).json(t)["health_status"].(string)
}

func (f *syncFixture) rowCount(t *testing.T, table string) int {
	return int(f.c.ok(routes.ListRows, f.tok, nil, nil, table).json(t)["count"].(float64))
}

func TestSyncStateMachine(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t)
	c, tok := f.c, f.tok
	contacts := f.sa.Connections[0].Tables[0].String()
	assert.Equal(t, 3, f.rowCount(t, contacts))

	// Before any sync the status names no run.
	st := c.ok(routes.GetServerSyncRunStatus, tok, nil, nil, f.server).json(t)
	assert.Equal(t, false, st["running"])
	assert.Nil(t, st["run_id"])

	res := c.ok(routes.SyncServer, tok, url.Values{"pipeline": {"true"}, "is_async": {"true"}}, nil, f.server).json(t)
	assert.Equal(t, f.server, id(res["server_id"]))
	assert.Equal(t, "CHECKING", res["health_status"])
	assert.Equal(t, true, res["syncing"])
	assert.Equal(t, "Sync started", res["detail"])
	rd := res["run_data"].([]any)
	require.Len(t, rd, 1)
	ref := rd[0].(map[string]any)
	runID, task := id(ref["pipeline_run_id"]), ref["task_id"].(string)
	assert.Equal(t, task, res["task_id"])
	assert.Equal(t, "CHECKING", f.health(t))

	// A second sync while running starts nothing and names the same run.
	again := c.ok(routes.SyncServer, tok, nil, nil, f.server).json(t)
	assert.Equal(t, task, again["task_id"])
	assert.Equal(t, 2, f.srv.Count(routes.SyncServer))

	st = c.ok(routes.GetServerSyncRunStatus, tok, url.Values{"task_id": {task}, "pipeline_run_id": {runID}}, nil, f.server).json(t)
	assert.Equal(t, true, st["running"])
	assert.Equal(t, runID, id(st["run_id"]))
	// An injected clock never waits on a status timeout.
	st = c.ok(routes.GetServerSyncRunStatus, tok, url.Values{"task_id": {task}, "timeout": {"30"}}, nil, f.server).json(t)
	assert.Equal(t, true, st["running"])

	f.clk.Advance(9 * time.Second)
	assert.Equal(t, true, c.ok(routes.GetServerSyncRunStatus, tok, url.Values{"task_id": {task}}, nil, f.server).json(t)["running"])
	assert.Equal(t, 3, f.rowCount(t, contacts))

	f.clk.Advance(time.Second)
	st = c.ok(routes.GetServerSyncRunStatus, tok, url.Values{"task_id": {task}}, nil, f.server).json(t)
	assert.Equal(t, false, st["running"])
	assert.Equal(t, "COMPLETED", st["status"])
	assert.Equal(t, "OK", f.health(t))
	assert.Equal(t, 7, f.rowCount(t, contacts), "the sync appended WithRowsPerSync rows")

	runs := c.ok(routes.ListServerRuns, tok, nil, nil, f.server).json(t)["data"].([]any)
	require.Len(t, runs, 1)
	run := runs[0].(map[string]any)
	assert.Equal(t, "COMPLETED", run["status"])
	assert.Equal(t, "2025-06-01T08:00:10.000000Z", run["timestamp_end"])
	assert.Equal(t, []any{map[string]any{"name": "contacts", "records": 4.0}, map[string]any{"name": "deals", "records": 4.0}}, run["tables"])

	byID := c.ok(routes.GetPipelineRuns, tok, url.Values{"run_id": {runID + ",999999"}}, nil).json(t)["data"].([]any)
	require.Len(t, byID, 1)
	logs := c.ok(routes.PipelineRunLogs, tok, nil, nil, runID).json(t)["logs"].([]any)
	assert.GreaterOrEqual(t, len(logs), 3)
	srvLogs := c.ok(routes.ServerLogs, tok, nil, nil, f.server).json(t)["logs"].([]any)
	assert.Contains(t, srvLogs[len(srvLogs)-1].(map[string]any)["message"], "COMPLETED")

	// Only the named tables sync when tables= is given.
	c.ok(routes.SyncServer, tok, url.Values{"tables": {"deals"}}, nil, f.server)
	f.clk.Advance(10 * time.Second)
	assert.Equal(t, 7, f.rowCount(t, contacts))
	requireTupleError(t, c.call(routes.SyncServer, tok, url.Values{"tables": {"nope"}}, nil, f.server),
		http.StatusBadRequest, "ERROR_TABLE_DOES_NOT_EXIST")
	assert.Equal(t, http.StatusNotFound, c.call(routes.GetServerSyncRunStatus, tok, url.Values{"task_id": {"nope"}}, nil, f.server).status)
}

func TestSyncOutcomes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		outcome     RunOutcome
		viaOption   bool
		health      string
		rowsAdded   int
		errorNonNil bool
	}{
		{OutcomeCompleted, false, "OK", 4, false},
		{OutcomeCompletedWithErrors, false, "COMPLETED_WITH_ERRORS", 2, true},
		{OutcomeError, false, "ERROR", 0, true},
		{OutcomeError, true, "ERROR", 0, true},
	} {
		t.Run(string(tt.outcome), func(t *testing.T) {
			t.Parallel()
			var opts []Option
			if tt.viaOption {
				opts = append(opts, WithSyncOutcome(tt.outcome))
			}
			f := newSyncFixture(t, opts...)
			if !tt.viaOption {
				require.NoError(t, f.srv.SetSyncOutcome(f.sa.Connections[0].ID, tt.outcome))
			}
			contacts := f.sa.Connections[0].Tables[0].String()
			res := f.c.ok(routes.SyncServer, f.tok, nil, nil, f.server).json(t)
			runID := id(res["run_data"].([]any)[0].(map[string]any)["pipeline_run_id"])
			f.clk.Advance(10 * time.Second)
			assert.Equal(t, tt.health, f.health(t))
			assert.Equal(t, 3+tt.rowsAdded, f.rowCount(t, contacts))
			run := f.c.ok(routes.GetPipelineRuns, f.tok, url.Values{"run_id": {runID}}, nil).json(t)["data"].([]any)[0].(map[string]any)
			assert.Equal(t, string(tt.outcome), run["status"])
			assert.Equal(t, tt.errorNonNil, run["error"] != nil)
		})
	}
}

func TestFullResync(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t)
	res := f.c.ok(routes.FullResync, f.tok, nil, nil, f.server).json(t)
	rd, ok := res["run_data"].(map[string]any)
	require.True(t, ok, "resync run_data is one object: %s", res["run_data"])
	runID := id(rd["pipeline_run_id"])
	st := f.c.ok(routes.FullResyncStatus, f.tok, url.Values{"task_id": {rd["task_id"].(string)}}, nil, f.server).json(t)
	assert.Equal(t, true, st["running"])
	assert.Equal(t, runID, id(st["run_id"]))
	// The sync status does not see the resync unless asked by id.
	assert.Nil(t, f.c.ok(routes.GetServerSyncRunStatus, f.tok, nil, nil, f.server).json(t)["run_id"])
	f.clk.Advance(10 * time.Second)
	st = f.c.ok(routes.FullResyncStatus, f.tok, nil, nil, f.server).json(t)
	assert.Equal(t, false, st["running"])
	run := f.c.ok(routes.GetPipelineRuns, f.tok, url.Values{"run_id": {runID}}, nil).json(t)["data"].([]any)[0].(map[string]any)
	assert.Equal(t, "resync", run["type"])
}

func TestOAuthAndReauthorisation(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t)
	c, tok := f.c, f.tok
	types := c.ok(routes.ServerTypes, f.srv.PartnerToken(), nil, nil).list(t)
	typeID := map[string]any{}
	for _, ty := range types {
		typeID[ty["name"].(string)] = ty["id"]
	}

	created := c.ok(routes.CreateServer, tok, nil, map[string]any{"servertype_id": typeID["hubspot"], "name": "HubSpot EU"}).json(t)
	sid := id(created["id"])
	assert.Equal(t, "AUTHORIZING", created["health_status"])
	assert.True(t, strings.HasPrefix(created["oauth_url"].(string), "https://oauth.example.com/hubspot/authorize?"), created["oauth_url"])
	requireTupleError(t, c.call(routes.SyncServer, tok, nil, nil, sid), http.StatusBadRequest, "ERROR_SERVER_NOT_AUTHORISED")

	require.NoError(t, f.srv.CompleteOAuth(peliqanIDOf(t, sid)))
	assert.Equal(t, "OK", c.ok(routes.GetServer, tok, nil, nil, sid).json(t)["health_status"])
	require.Error(t, f.srv.CompleteOAuth(peliqanIDOf(t, sid)), "no flow pending")

	require.NoError(t, f.srv.MarkNeedsReauth(peliqanIDOf(t, sid)))
	assert.Equal(t, "RE_AUTHORISING", c.ok(routes.GetServer, tok, nil, nil, sid).json(t)["health_status"])
	requireTupleError(t, c.call(routes.SyncServer, tok, nil, nil, sid), http.StatusBadRequest, "ERROR_SERVER_NOT_AUTHORISED")
	auth := c.ok(routes.ReAuthoriseServer, tok, nil, nil, sid).json(t)
	assert.Contains(t, auth["auth_uri"], "https://oauth.example.com/hubspot/reauthorize?")
	require.NoError(t, f.srv.CompleteOAuth(peliqanIDOf(t, sid)))
	assert.Equal(t, "RE_AUTHORISED", c.ok(routes.GetServer, tok, nil, nil, sid).json(t)["health_status"])
	c.ok(routes.SyncServer, tok, nil, nil, sid)

	// An API-key connection is OK at once, checks its form, and cannot be
	// re-authorised or refreshed through SaltEdge.
	r := c.call(routes.CreateServer, tok, nil, map[string]any{"servertype_id": typeID["pipedrive"]})
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Equal(t, []any{"This field is required."}, r.json(t)["api_token"])
	r = c.call(routes.CreateServer, tok, nil, map[string]any{"servertype_id": 424242})
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Contains(t, r.json(t), "servertype_id")
	pd := c.ok(routes.CreateServer, tok, nil, map[string]any{"servertype_id": typeID["pipedrive"], "api_token": "k"}).json(t)
	assert.Equal(t, "OK", pd["health_status"])
	assert.NotContains(t, pd, "oauth_url")
	assert.NotContains(t, pd, "api_token", "secrets are not echoed")
	requireTupleError(t, c.call(routes.ReAuthoriseServer, tok, nil, nil, id(pd["id"])), http.StatusBadRequest, "ERROR_REAUTHORISATION_NOT_SUPPORTED")
	requireTupleError(t, c.call(routes.ManualRefreshSaltEdge, tok, nil, nil, id(pd["id"])), http.StatusBadRequest, "ERROR_NOT_A_SALTEDGE_CONNECTION")

	se := c.ok(routes.CreateServer, tok, nil, map[string]any{"servertype_id": typeID["saltedge"]}).json(t)
	ref := c.ok(routes.ManualRefreshSaltEdge, tok, nil, nil, id(se["id"])).json(t)
	assert.Contains(t, ref["refresh_url"], "https://saltedge.example.com/connect/refresh?")

	// The new connections are listed, with their tables in the warehouse.
	assert.Len(t, c.ok(routes.ListServers, tok, nil, nil).list(t), 4)
	require.NoError(t, f.srv.SetHealthStatus(peliqanIDOf(t, id(pd["id"])), "DISABLED"))
	requireTupleError(t, c.call(routes.SyncServer, tok, nil, nil, id(pd["id"])), http.StatusBadRequest, "ERROR_SERVER_DISABLED")
}

func TestStatusTimeoutAndBlockingSyncWaitOnTheRealClock(t *testing.T) {
	t.Parallel()
	srv := NewFake(t, WithSyncDuration(150*time.Millisecond))
	sa := seedOne(t, srv, 1)
	c := newTC(t, srv)
	tok := c.tenantToken("acme")
	sid := sa.Connections[0].ID.String()

	res := c.ok(routes.SyncServer, tok, nil, nil, sid).json(t)
	task := res["task_id"].(string)
	start := time.Now()
	st := c.ok(routes.GetServerSyncRunStatus, tok, url.Values{"task_id": {task}, "timeout": {"10"}}, nil, sid).json(t)
	assert.Equal(t, false, st["running"], "the long poll waited for the run")
	assert.Less(t, time.Since(start), 5*time.Second)

	// A timeout shorter than the run: ERROR_PIPELINE_RUN_TIMEOUT.
	slow := NewFake(t, WithSyncDuration(time.Hour))
	sa2 := seedOne(t, slow, 1)
	c2 := newTC(t, slow)
	tok2 := c2.tenantToken("acme")
	sid2 := sa2.Connections[0].ID.String()
	c2.ok(routes.SyncServer, tok2, nil, nil, sid2)
	requireTupleError(t, c2.call(routes.GetServerSyncRunStatus, tok2, url.Values{"timeout": {"0.05"}}, nil, sid2),
		http.StatusBadRequest, "ERROR_PIPELINE_RUN_TIMEOUT")

	// is_async=false answers when the run is over.
	start = time.Now()
	res = c.ok(routes.SyncServer, tok, url.Values{"is_async": {"false"}}, nil, sid).json(t)
	assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)
	assert.Equal(t, false, res["syncing"])
	assert.Equal(t, "OK", res["health_status"])
	assert.Equal(t, "Sync completed", res["detail"])
	assert.Equal(t, 2, srv.Count(routes.SyncServer))
	runs := c.ok(routes.ListServerRuns, tok, nil, nil, sid).json(t)["data"].([]any)
	assert.Len(t, runs, 2, "the blocking sync started exactly one run")
}
