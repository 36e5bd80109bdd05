package peliqanotel_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// workload is a fake with one customer, a partner client and a tenant client
// (its token fetched through the partner client, by external id), and the
// ids every route needs.
type workload struct {
	fake *peliqantest.Fake
	p    *peliqan.PartnerClient
	t    *peliqan.SubAccountClient
	seq  int

	acct                           peliqan.ID
	ext                            string
	srv, oauthSrv, serverType      peliqan.ID
	db, schema, table, queryTable  peliqan.ID
	group, script, scriptRun, pRun peliqan.ID
	tokens                         []string // every token the test saw
}

func newWorkload(t *testing.T, tel *telemetry) *workload {
	t.Helper()
	fake, p := fakeWith(t, tel)
	ctx := context.Background()
	a := fake.Seeded().SubAccounts[0]
	w := &workload{fake: fake, p: p, acct: a.ID, ext: a.ExternalID, srv: a.Connections[0].ID,
		oauthSrv: a.Connections[1].ID, db: a.DatabaseID, group: a.GroupID, script: a.Scripts[0],
		table: a.Connections[0].Tables[0], tokens: []string{fake.PartnerToken()}}
	var err error
	w.t, err = p.SubAccount(peliqan.ByExternalID(w.ext))
	require.NoError(t, err)

	types, err := p.ServerTypes(ctx)
	require.NoError(t, err)
	for _, st := range types {
		if st.Name == "pipedrive" {
			w.serverType = st.ID
		}
	}
	dbs, err := w.t.ListDatabases(ctx, &peliqan.DatabaseListOptions{IncludeTables: true})
	require.NoError(t, err)
	for _, d := range dbs {
		if d.ID == w.db && len(d.Schemas) > 0 {
			w.schema = d.Schemas[0].ID
		}
	}
	qt, err := w.t.CreateQueryTable(ctx, w.db, peliqan.QueryTable{SchemaID: w.schema, Name: "q_setup", Query: "select 1"})
	require.NoError(t, err)
	w.queryTable = qt.ID
	sr, err := w.t.SyncServer(ctx, w.srv, nil)
	require.NoError(t, err)
	require.NotEmpty(t, sr.RunData)
	w.pRun = sr.RunData[0].PipelineRunID
	run, err := w.t.RunScript(ctx, w.script)
	require.NoError(t, err)
	w.scriptRun = run.ID
	return w
}

func (w *workload) next() int { w.seq++; return w.seq }

func ptr[T any](v T) *T { return &v }

// routeCalls has one call per route of the SDK's table, through the public
// methods (from the root module's faults_test.go).
var routeCalls = map[string]func(ctx context.Context, w *workload) error{
	peliqan.RouteListSubAccounts: func(ctx context.Context, w *workload) error {
		_, err := w.p.ListSubAccounts(ctx, nil)
		return err
	},
	peliqan.RouteCreateSubAccount: func(ctx context.Context, w *workload) error {
		n := w.next()
		_, err := w.p.CreateSubAccount(ctx, peliqan.SubAccountCreate{ExternalID: fmt.Sprintf("ext-SECRET-new-%d", n),
			FirstName: "Ada", LastName: "Lovelace", Email: fmt.Sprintf("ada%d@new.example", n), CompanyName: "New"})
		return err
	},
	peliqan.RouteGetSubAccount: func(ctx context.Context, w *workload) error {
		_, err := w.p.GetSubAccount(ctx, peliqan.ByExternalID(w.ext))
		return err
	},
	peliqan.RouteSubAccountInfo: func(ctx context.Context, w *workload) error {
		_, err := w.p.SubAccountInfo(ctx, w.acct)
		return err
	},
	peliqan.RouteUpdateSubAccount: func(ctx context.Context, w *workload) error {
		_, err := w.p.UpdateSubAccount(ctx, w.acct, peliqan.SubAccountUpdate{CompanyName: ptr("Acme Ltd")})
		return err
	},
	peliqan.RouteDeleteSubAccount: func(ctx context.Context, w *workload) error {
		sd, err := w.fake.Seed(peliqantest.Fixture{SubAccounts: []peliqantest.SubAccountFixture{
			{ExternalID: fmt.Sprintf("ext-SECRET-victim-%d", w.next())}}})
		if err != nil {
			return err
		}
		return w.p.DeleteSubAccount(ctx, sd.SubAccounts[0].ID)
	},
	peliqan.RouteSubAccountToken: func(ctx context.Context, w *workload) error {
		tok, err := w.p.SubAccountToken(ctx, peliqan.ByExternalID(w.ext), &peliqan.TokenOptions{Expiring: true})
		if err == nil {
			w.tokens = append(w.tokens, tok.Token)
		}
		return err
	},
	peliqan.RouteIntegrationToken: func(ctx context.Context, w *workload) error {
		tok, err := w.p.IntegrationToken(ctx, peliqan.Integration{ExternalID: w.ext, FirstName: "Ada", LastName: "Lovelace",
			Email: "ops@acme.example", CompanyName: "Acme"})
		if err == nil {
			w.tokens = append(w.tokens, tok.Token)
		}
		return err
	},
	peliqan.RouteServerTypes: func(ctx context.Context, w *workload) error {
		_, err := w.p.ServerTypes(ctx)
		return err
	},
	peliqan.RouteListServers: func(ctx context.Context, w *workload) error {
		_, err := w.t.ListServers(ctx)
		return err
	},
	peliqan.RouteGetServer: func(ctx context.Context, w *workload) error {
		_, err := w.t.GetServer(ctx, w.srv)
		return err
	},
	peliqan.RouteCreateServer: func(ctx context.Context, w *workload) error {
		_, err := w.t.CreateServer(ctx, peliqan.ServerCreate{ServerTypeID: w.serverType,
			Fields: map[string]any{"api_token": "pd-SECRET-token", "company_domain": "acme"}})
		return err
	},
	peliqan.RouteDeleteServer: func(ctx context.Context, w *workload) error {
		sc, err := w.fake.AddConnection(w.acct, peliqantest.ConnectionFixture{Type: "pipedrive"})
		if err != nil {
			return err
		}
		return w.t.DeleteServer(ctx, sc.ID)
	},
	peliqan.RouteSendConnectionInvite: func(ctx context.Context, w *workload) error {
		return w.t.SendConnectionInvite(ctx, peliqan.ConnectionInvite{Recipient: "ops@acme.example", ServerType: "hubspot",
			Subject: "ext-SECRET subject", Message: "code-SECRET message"})
	},
	peliqan.RouteServerLogs: func(ctx context.Context, w *workload) error {
		_, err := w.t.ServerLogs(ctx, w.srv)
		return err
	},
	peliqan.RouteSyncServer: func(ctx context.Context, w *workload) error {
		_, err := w.t.SyncServer(ctx, w.srv, nil)
		return err
	},
	peliqan.RouteGetServerSyncRunStatus: func(ctx context.Context, w *workload) error {
		_, err := w.t.GetServerSyncRunStatus(ctx, w.srv, &peliqan.SyncStatusOptions{PipelineRunID: w.pRun})
		return err
	},
	peliqan.RouteFullResync: func(ctx context.Context, w *workload) error {
		_, err := w.t.FullResync(ctx, w.srv)
		return err
	},
	peliqan.RouteFullResyncStatus: func(ctx context.Context, w *workload) error {
		_, err := w.t.GetFullResyncStatus(ctx, w.srv, &peliqan.SyncStatusOptions{PipelineRunID: w.pRun})
		return err
	},
	peliqan.RouteReAuthoriseServer: func(ctx context.Context, w *workload) error {
		_, err := w.t.ReAuthoriseServer(ctx, w.oauthSrv)
		return err
	},
	peliqan.RouteManualRefreshSaltEdge: func(ctx context.Context, w *workload) error {
		_, err := w.t.ManualRefreshSaltEdge(ctx, w.oauthSrv)
		return err
	},
	peliqan.RouteListServerRuns: func(ctx context.Context, w *workload) error {
		_, err := w.t.ListServerRuns(ctx, w.srv, nil)
		return err
	},
	peliqan.RouteGetPipelineRuns: func(ctx context.Context, w *workload) error {
		_, err := w.t.GetPipelineRuns(ctx, []peliqan.ID{w.pRun})
		return err
	},
	peliqan.RoutePipelineRunLogs: func(ctx context.Context, w *workload) error {
		_, err := w.t.PipelineRunLogs(ctx, w.pRun)
		return err
	},
	peliqan.RouteListDatabases: func(ctx context.Context, w *workload) error {
		_, err := w.t.ListDatabases(ctx, &peliqan.DatabaseListOptions{IncludeTables: true})
		return err
	},
	peliqan.RouteListTables: func(ctx context.Context, w *workload) error {
		_, err := w.t.ListTables(ctx, w.db)
		return err
	},
	peliqan.RouteLookupConnection: func(ctx context.Context, w *workload) error {
		_, err := w.t.LookupConnection(ctx, peliqan.LookupKeys{ConnectionID: w.srv})
		return err
	},
	peliqan.RouteLookupDatabase: func(ctx context.Context, w *workload) error {
		_, err := w.t.LookupDatabase(ctx, peliqan.LookupKeys{ConnectionID: w.srv})
		return err
	},
	peliqan.RouteLookupSchema: func(ctx context.Context, w *workload) error {
		_, err := w.t.LookupSchema(ctx, peliqan.LookupKeys{ConnectionID: w.srv})
		return err
	},
	peliqan.RouteLookupTable: func(ctx context.Context, w *workload) error {
		_, err := w.t.LookupTable(ctx, peliqan.LookupKeys{TableID: w.table})
		return err
	},
	peliqan.RouteGetTable: func(ctx context.Context, w *workload) error {
		_, err := w.t.GetTable(ctx, w.table)
		return err
	},
	peliqan.RouteCreateQueryTable: func(ctx context.Context, w *workload) error {
		_, err := w.t.CreateQueryTable(ctx, w.db, peliqan.QueryTable{SchemaID: w.schema,
			Name: fmt.Sprintf("q_%d", w.next()), Query: "select 'sql-SECRET'"})
		return err
	},
	peliqan.RouteUpdateTable: func(ctx context.Context, w *workload) error {
		_, err := w.t.UpdateQueryTable(ctx, w.queryTable, peliqan.QueryTableUpdate{Query: ptr(fmt.Sprintf("select 'sql-SECRET-%d'", w.next()))})
		return err
	},
	peliqan.RouteListRows: func(ctx context.Context, w *workload) error {
		_, err := w.t.ListRows(ctx, w.table, &peliqan.RowsOptions{Fields: []string{"name"}})
		return err
	},
	peliqan.RouteUpdateCell: func(ctx context.Context, w *workload) error {
		return w.t.UpdateCell(ctx, w.table, 1, "name", fmt.Sprintf("cell-SECRET-%d", w.next()))
	},
	peliqan.RouteQuery: func(ctx context.Context, w *workload) error {
		_, err := w.t.Query(ctx, "SELECT * FROM contacts LIMIT 3", nil)
		return err
	},
	peliqan.RouteListScripts: func(ctx context.Context, w *workload) error {
		_, err := w.t.ListScripts(ctx)
		return err
	},
	peliqan.RouteGetScript: func(ctx context.Context, w *workload) error {
		_, err := w.t.GetScript(ctx, w.script)
		return err
	},
	peliqan.RouteCreateScript: func(ctx context.Context, w *workload) error {
		_, err := w.t.CreateScript(ctx, peliqan.ScriptCreate{Name: fmt.Sprintf("s%d", w.next()), Code: "print('code-SECRET')", GroupID: w.group})
		return err
	},
	peliqan.RouteUpdateScript: func(ctx context.Context, w *workload) error {
		_, err := w.t.UpdateScript(ctx, w.script, peliqan.ScriptUpdate{Code: ptr(fmt.Sprintf("print('code-SECRET-%d')", w.next()))})
		return err
	},
	// RunScript is two calls, one of each route.
	peliqan.RouteTriggerScriptRun: runScript,
	peliqan.RouteCreateScriptRun:  runScript,
	peliqan.RouteListScriptRuns: func(ctx context.Context, w *workload) error {
		_, err := w.t.ListScriptRuns(ctx, w.script, nil)
		return err
	},
	peliqan.RouteGetScriptRun: func(ctx context.Context, w *workload) error {
		_, err := w.t.GetScriptRun(ctx, w.scriptRun)
		return err
	},
	peliqan.RouteScriptRunLogs: func(ctx context.Context, w *workload) error {
		_, err := w.t.ScriptRunLogs(ctx, w.scriptRun)
		return err
	},
	peliqan.RouteListGroups: func(ctx context.Context, w *workload) error {
		_, err := w.t.ListGroups(ctx)
		return err
	},
}

func runScript(ctx context.Context, w *workload) error {
	_, err := w.t.RunScript(ctx, w.script)
	return err
}

// secretMarkers are what must never reach telemetry: every token seen, any
// JWT ("eyJ" opens every base64-encoded JSON header), the external ids and
// the values this workload sends in queries and bodies.
func (w *workload) secretMarkers() []string {
	return append([]string{"eyJ", "ext-SECRET", "external_id", "?", "expire=", "task_id", "pipeline_run_id",
		"run_id=", "fields=", "pd-SECRET", "sql-SECRET", "cell-SECRET", "code-SECRET", "Lovelace",
		"ops@acme.example", "contacts LIMIT"}, w.tokens...)
}

// TestNoSecretInAnySpanEventOrMetric runs every route of the table with
// success, a failure on every attempt, and (tenant routes) a 401 replay, plus
// transport errors on a route with a query and Do calls with queries, then
// scans every value the hook produced.
func TestNoSecretInAnySpanEventOrMetric(t *testing.T) {
	t.Parallel()
	tel := newTelemetry(t)
	w := newWorkload(t, tel)
	ctx := context.Background()

	for _, r := range peliqan.Routes() {
		call := routeCalls[r.Name]
		require.NotNil(t, call, "no call for route %s", r.Name)
		require.NoError(t, call(ctx, w), r.Name)

		failures := 1
		if r.Retry {
			failures = 3 // the fake's clients try 3 times
		}
		// The server's message echoes what it was sent.
		w.fake.FailNext(r.Name, failures, peliqantest.StatusFault(http.StatusBadGateway,
			`{"detail": "bad external_id=ext-SECRET-acme api_token=pd-SECRET-token"}`))
		err := call(ctx, w)
		require.ErrorIs(t, err, peliqan.ErrServer, r.Name)
		require.ErrorContains(t, err, "ext-SECRET-acme", "%s: the SDK's error carries the server's message", r.Name)

		if !r.Partner {
			w.fake.FailNext(r.Name, 1, peliqantest.StatusFault(http.StatusUnauthorized, ""))
			require.NoError(t, call(ctx, w), "%s after a 401", r.Name)
		}
	}
	// Attempts that got no answer: their raw errors name the URL and query.
	w.fake.FailNext(peliqan.RouteGetSubAccount, 1, peliqantest.MidBodyResetFault())
	w.fake.FailNext(peliqan.RouteGetSubAccount, 1, peliqantest.ResetFault())
	require.NoError(t, routeCalls[peliqan.RouteGetSubAccount](ctx, w))
	w.fake.FailNext(peliqan.RouteGetSubAccount, 3, peliqantest.MidBodyResetFault())
	require.Error(t, routeCalls[peliqan.RouteGetSubAccount](ctx, w))
	// Do with a query, on a known route and on an unknown path.
	require.NoError(t, w.p.Do(ctx, "GET", "/api/partner/sub-account/?external_id="+w.ext, nil, nil))
	require.Error(t, w.p.Do(ctx, "GET", "/api/not-a-route/?external_id="+w.ext, nil, nil))
	// A tenant client whose token fetch fails: the SDK's error names the
	// external id.
	var bad *peliqan.SubAccountClient
	var err error
	bad, err = w.p.SubAccount(peliqan.ByExternalID("ext-SECRET-unknown"))
	require.NoError(t, err)
	_, err = bad.ListServers(ctx)
	require.ErrorIs(t, err, peliqan.ErrNotFound)

	var values []string // "where: value" of every string the hook produced
	seen := map[string]bool{}
	add := func(where string, attrs []attribute.KeyValue) {
		for _, kv := range attrs {
			values = append(values, fmt.Sprintf("%s %s=%s", where, kv.Key, kv.Value.Emit()))
		}
	}
	spans := tel.ended()
	for _, s := range spans {
		where := "span " + s.Name()
		values = append(values, where, s.Status().Description)
		add(where, s.Attributes())
		for _, e := range s.Events() {
			values = append(values, where+" event "+e.Name)
			add(where+" event "+e.Name, e.Attributes)
		}
		for _, l := range s.Links() {
			add(where+" link", l.Attributes)
		}
		seen[attr(s.Attributes(), "peliqan.route")] = true
	}
	rm := tel.metrics(t)
	points := 0
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			for _, set := range pointSets(t, m) {
				add("metric "+m.Name, set.ToSlice())
				points++
			}
		}
	}

	for _, r := range peliqan.Routes() {
		assert.True(t, seen[r.Name], "no span of route %s", r.Name)
	}
	require.Greater(t, len(spans), 3*len(peliqan.Routes()))
	require.Positive(t, points)
	for _, secret := range w.secretMarkers() {
		for _, v := range values {
			if strings.Contains(v, secret) {
				t.Errorf("%q in %s", secret, v)
			}
		}
	}
	exceptions := 0
	for _, v := range values {
		if strings.Contains(v, "exception.message=") {
			exceptions++
		}
	}
	assert.GreaterOrEqual(t, exceptions, len(peliqan.Routes()), "the failures' messages were scanned")
}

// pointSets returns the attribute sets of a metric's data points.
func pointSets(t testing.TB, m metricdata.Metrics) []attribute.Set {
	t.Helper()
	var out []attribute.Set
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, dp := range d.DataPoints {
			out = append(out, dp.Attributes)
		}
	case metricdata.Histogram[float64]:
		for _, dp := range d.DataPoints {
			out = append(out, dp.Attributes)
		}
	default:
		t.Fatalf("metric %s has an unexpected type %T", m.Name, m.Data)
	}
	return out
}
