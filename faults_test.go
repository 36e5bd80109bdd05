package peliqan_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/internal/routes"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// The fault-injection suite: the real clients against peliqantest, every
// route under every fault kind, judged by the fake's own request counts.

// zeroWait is the tests' retry policy: 3 attempts, no waiting, and a
// Retry-After of up to 2 s obeyed.
var zeroWait = peliqan.RetryPolicy{MaxAttempts: 3, Backoff: peliqan.BackoffConstant, MaxRetryAfter: 2 * time.Second}

// relEnv is one fake behind a front server (so a test can slow a body the
// fake sends), clients pointed at the front, and the ids of everything a
// route call needs.
type relEnv struct {
	fake  *peliqantest.Fake
	front *httptest.Server
	p     *peliqan.PartnerClient
	t     *peliqan.SubAccountClient // static tenant token: no token routes behind it
	hc    *http.Client

	partnerTok, tenantTok string

	acct, victim                   peliqan.ID
	ext                            string
	srv, oauthSrv, serverType      peliqan.ID
	db, schema, table, queryTable  peliqan.ID
	group, script, scriptRun, pRun peliqan.ID

	seq atomic.Int64 // unique names for creates

	slowMu    sync.Mutex
	slowRoute string // the next request of this route gets a slow body
	slowDelay time.Duration
}

// newRelEnv starts a fake with one customer (a Pipedrive and a SaltEdge
// connection, a script) and a second customer to delete, builds clients,
// makes the ids every route needs (a pipeline run, a query table, a script
// run), then forgets those requests.
func newRelEnv(t testing.TB, opts ...peliqan.Option) *relEnv {
	t.Helper()
	fake := peliqantest.NewFake(t, peliqantest.WithFixture(peliqantest.Fixture{SubAccounts: []peliqantest.SubAccountFixture{
		{ExternalID: "acme", CompanyName: "Acme", Email: "ops@acme.example",
			Connections: []peliqantest.ConnectionFixture{{Type: "pipedrive", Tables: []peliqantest.TableFixture{
				{Name: "contacts", Fields: []peliqantest.FieldFixture{{Name: "name", Type: "text"}, {Name: "score", Type: "number"}},
					GeneratedRows: 20}}}, {Type: "saltedge"}},
			Scripts: []peliqantest.ScriptFixture{{Name: "nightly", Code: "print(1)"}}},
		{ExternalID: "victim", CompanyName: "Victim"},
	}}), peliqantest.WithSyncDuration(time.Millisecond), peliqantest.WithScriptRunDuration(time.Millisecond))
	e := &relEnv{fake: fake, partnerTok: fake.PartnerToken()}
	e.front = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.front.Close)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	t.Cleanup(tr.CloseIdleConnections)
	e.hc = &http.Client{Transport: tr}

	seeded := fake.Seeded().SubAccounts
	a := seeded[0]
	e.acct, e.victim, e.ext = a.ID, seeded[1].ID, a.ExternalID
	e.srv, e.oauthSrv = a.Connections[0].ID, a.Connections[1].ID
	e.db, e.group, e.script = a.DatabaseID, a.GroupID, a.Scripts[0]
	e.table = a.Connections[0].Tables[0]

	var err error
	base := []peliqan.Option{peliqan.WithBaseURL(e.front.URL), peliqan.WithHTTPClient(e.hc), peliqan.WithRetryPolicy(zeroWait)}
	base = append(base, opts...)
	e.p, err = peliqan.NewPartnerClient(e.partnerTok, base...)
	require.NoError(t, err)
	e.tenantTok, err = fake.TenantToken(e.acct, false)
	require.NoError(t, err)
	e.t, err = peliqan.NewSubAccountClient(e.tenantTok, base...)
	require.NoError(t, err)

	ctx := context.Background()
	types, err := e.p.ServerTypes(ctx)
	require.NoError(t, err)
	for _, st := range types {
		if st.Name == "pipedrive" {
			e.serverType = st.ID
		}
	}
	require.NotZero(t, e.serverType)
	dbs, err := e.t.ListDatabases(ctx, &peliqan.DatabaseListOptions{IncludeTables: true})
	require.NoError(t, err)
	for _, d := range dbs {
		if d.ID == e.db && len(d.Schemas) > 0 {
			e.schema = d.Schemas[0].ID
		}
	}
	require.NotZero(t, e.schema)
	qt, err := e.t.CreateQueryTable(ctx, e.db, peliqan.QueryTable{SchemaID: e.schema, Name: "q_setup", Query: "select 1"})
	require.NoError(t, err)
	e.queryTable = qt.ID
	sr, err := e.t.SyncServer(ctx, e.srv, nil)
	require.NoError(t, err)
	require.NotEmpty(t, sr.RunData)
	e.pRun = sr.RunData[0].PipelineRunID
	run, err := e.t.RunScript(ctx, e.script)
	require.NoError(t, err)
	e.scriptRun = run.ID
	fake.ResetRecords()
	return e
}

// tenant returns a tenant client that fetches its identity token through the
// partner client (cached, refreshed once after a 401).
func (e *relEnv) tenant(t testing.TB) *peliqan.SubAccountClient {
	t.Helper()
	tc, err := e.p.SubAccount(peliqan.ByAccountID(e.acct))
	require.NoError(t, err)
	return tc
}

// slowNext makes the next request of route answer half its body, then
// stall for d (or until the client leaves), then send the rest.
func (e *relEnv) slowNext(route string, d time.Duration) {
	e.slowMu.Lock()
	defer e.slowMu.Unlock()
	e.slowRoute, e.slowDelay = route, d
}

func (e *relEnv) takeSlow(route string) (time.Duration, bool) {
	e.slowMu.Lock()
	defer e.slowMu.Unlock()
	if e.slowRoute == "" || e.slowRoute != route {
		return 0, false
	}
	e.slowRoute = ""
	return e.slowDelay, true
}

func (e *relEnv) serve(w http.ResponseWriter, r *http.Request) {
	rt, _, ok := routes.Match(r.Method, r.URL.Path)
	d, slow := time.Duration(0), false
	if ok {
		d, slow = e.takeSlow(rt.Name)
	}
	if !slow {
		e.fake.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	e.fake.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	maps.Copy(w.Header(), rec.Header())
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	stall := func() bool {
		select {
		case <-r.Context().Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	if len(body) == 0 && !stall() { // nothing to dribble: a slow answer
		return
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body[:len(body)/2])
	http.NewResponseController(w).Flush()
	if len(body) > 0 && !stall() {
		return
	}
	_, _ = w.Write(body[len(body)/2:])
}

// counts is the fake's per-route request counts.
func (e *relEnv) counts() map[string]int {
	out := map[string]int{}
	for _, r := range peliqan.Routes() {
		if n := e.fake.Count(r.Name); n > 0 {
			out[r.Name] = n
		}
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// routeCall calls the public method behind one route of the table.
type routeCall func(ctx context.Context, e *relEnv, c *peliqan.SubAccountClient, opts ...peliqan.RequestOption) error

// routeCalls has one call per route of the table (TestRouteCallsCoverTable
// keeps it complete). Tenant calls take the tenant client to use.
var routeCalls = map[string]routeCall{
	peliqan.RouteListSubAccounts: func(ctx context.Context, e *relEnv, _ *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := e.p.ListSubAccounts(ctx, nil, o...)
		return err
	},
	peliqan.RouteCreateSubAccount: func(ctx context.Context, e *relEnv, _ *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		n := e.seq.Add(1)
		_, err := e.p.CreateSubAccount(ctx, peliqan.SubAccountCreate{ExternalID: fmt.Sprintf("new-%d", n),
			FirstName: "Ada", LastName: "L", Email: fmt.Sprintf("ada%d@new.example", n), CompanyName: "New"}, o...)
		return err
	},
	peliqan.RouteGetSubAccount: func(ctx context.Context, e *relEnv, _ *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := e.p.GetSubAccount(ctx, peliqan.ByExternalID(e.ext), o...)
		return err
	},
	peliqan.RouteSubAccountInfo: func(ctx context.Context, e *relEnv, _ *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := e.p.SubAccountInfo(ctx, e.acct, o...)
		return err
	},
	peliqan.RouteUpdateSubAccount: func(ctx context.Context, e *relEnv, _ *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := e.p.UpdateSubAccount(ctx, e.acct, peliqan.SubAccountUpdate{CompanyName: ptr("Acme Ltd")}, o...)
		return err
	},
	peliqan.RouteDeleteSubAccount: func(ctx context.Context, e *relEnv, _ *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		// A fresh customer each call, so a repeated call is not a 404.
		sd, err := e.fake.Seed(peliqantest.Fixture{SubAccounts: []peliqantest.SubAccountFixture{
			{ExternalID: fmt.Sprintf("victim-%d", e.seq.Add(1))}}})
		if err != nil {
			return err
		}
		return e.p.DeleteSubAccount(ctx, sd.SubAccounts[0].ID, o...)
	},
	peliqan.RouteSubAccountToken: func(ctx context.Context, e *relEnv, _ *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := e.p.SubAccountToken(ctx, peliqan.ByAccountID(e.acct), nil, o...)
		return err
	},
	peliqan.RouteIntegrationToken: func(ctx context.Context, e *relEnv, _ *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := e.p.IntegrationToken(ctx, peliqan.Integration{ExternalID: e.ext, FirstName: "Ada", LastName: "L",
			Email: "ops@acme.example", CompanyName: "Acme"}, o...)
		return err
	},
	peliqan.RouteServerTypes: func(ctx context.Context, e *relEnv, _ *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := e.p.ServerTypes(ctx, o...)
		return err
	},
	peliqan.RouteListServers: func(ctx context.Context, _ *relEnv, c *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := c.ListServers(ctx, o...)
		return err
	},
	peliqan.RouteGetServer: func(ctx context.Context, e *relEnv, c *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := c.GetServer(ctx, e.srv, o...)
		return err
	},
	peliqan.RouteCreateServer: func(ctx context.Context, e *relEnv, c *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := c.CreateServer(ctx, peliqan.ServerCreate{ServerTypeID: e.serverType,
			Fields: map[string]any{"api_token": "pd-secret", "company_domain": "acme"}}, o...)
		return err
	},
	peliqan.RouteDeleteServer: func(ctx context.Context, e *relEnv, c *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		// A fresh connection each call, so a repeated call is not a 404.
		sc, err := e.fake.AddConnection(e.acct, peliqantest.ConnectionFixture{Type: "pipedrive"})
		if err != nil {
			return err
		}
		return c.DeleteServer(ctx, sc.ID, o...)
	},
	peliqan.RouteSendConnectionInvite: func(ctx context.Context, e *relEnv, c *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		return c.SendConnectionInvite(ctx, peliqan.ConnectionInvite{Recipient: "cfo@acme.example", ServerType: "hubspot",
			Subject: "Connect HubSpot"}, o...)
	},
	peliqan.RouteServerLogs: func(ctx context.Context, e *relEnv, c *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := c.ServerLogs(ctx, e.srv, o...)
		return err
	},
	peliqan.RouteSyncServer: func(ctx context.Context, e *relEnv, c *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := c.SyncServer(ctx, e.srv, nil, o...)
		return err
	},
	peliqan.RouteGetServerSyncRunStatus: func(ctx context.Context, e *relEnv, c *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := c.GetServerSyncRunStatus(ctx, e.srv, &peliqan.SyncStatusOptions{PipelineRunID: e.pRun}, o...)
		return err
	},
	peliqan.RouteFullResync: func(ctx context.Context, e *relEnv, c *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := c.FullResync(ctx, e.srv, o...)
		return err
	},
	peliqan.RouteFullResyncStatus: func(ctx context.Context, e *relEnv, c *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := c.GetFullResyncStatus(ctx, e.srv, &peliqan.SyncStatusOptions{PipelineRunID: e.pRun}, o...)
		return err
	},
	peliqan.RouteReAuthoriseServer: func(ctx context.Context, e *relEnv, c *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := c.ReAuthoriseServer(ctx, e.oauthSrv, o...)
		return err
	},
	peliqan.RouteManualRefreshSaltEdge: func(ctx context.Context, e *relEnv, c *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := c.ManualRefreshSaltEdge(ctx, e.oauthSrv, o...)
		return err
	},
	peliqan.RouteListServerRuns: func(ctx context.Context, e *relEnv, c *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := c.ListServerRuns(ctx, e.srv, nil, o...)
		return err
	},
	peliqan.RouteGetPipelineRuns: func(ctx context.Context, e *relEnv, c *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := c.GetPipelineRuns(ctx, []peliqan.ID{e.pRun}, o...)
		return err
	},
	peliqan.RoutePipelineRunLogs: func(ctx context.Context, e *relEnv, c *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := c.PipelineRunLogs(ctx, e.pRun, o...)
		return err
	},
	peliqan.RouteListDatabases: func(ctx context.Context, _ *relEnv, c *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := c.ListDatabases(ctx, &peliqan.DatabaseListOptions{IncludeTables: true}, o...)
		return err
	},
	peliqan.RouteListTables: func(ctx context.Context, e *relEnv, c *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := c.ListTables(ctx, e.db, o...)
		return err
	},
	peliqan.RouteGetTable: func(ctx context.Context, e *relEnv, c *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := c.GetTable(ctx, e.table, o...)
		return err
	},
	peliqan.RouteCreateQueryTable: func(ctx context.Context, e *relEnv, c *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := c.CreateQueryTable(ctx, e.db, peliqan.QueryTable{SchemaID: e.schema,
			Name: fmt.Sprintf("q_%d", e.seq.Add(1)), Query: "select 2"}, o...)
		return err
	},
	peliqan.RouteUpdateTable: func(ctx context.Context, e *relEnv, c *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := c.UpdateQueryTable(ctx, e.queryTable, peliqan.QueryTableUpdate{Query: ptr(fmt.Sprintf("select %d", e.seq.Add(1)))}, o...)
		return err
	},
	peliqan.RouteListRows: func(ctx context.Context, e *relEnv, c *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := c.ListRows(ctx, e.table, nil, o...)
		return err
	},
	peliqan.RouteUpdateCell: func(ctx context.Context, e *relEnv, c *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		return c.UpdateCell(ctx, e.table, 1, "name", fmt.Sprintf("n%d", e.seq.Add(1)), o...)
	},
	peliqan.RouteQuery: func(ctx context.Context, _ *relEnv, c *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := c.Query(ctx, "SELECT * FROM contacts LIMIT 3", nil, o...)
		return err
	},
	peliqan.RouteLookupConnection: func(ctx context.Context, e *relEnv, c *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := c.LookupConnection(ctx, peliqan.LookupKeys{ConnectionID: e.srv}, o...)
		return err
	},
	peliqan.RouteLookupDatabase: func(ctx context.Context, e *relEnv, c *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := c.LookupDatabase(ctx, peliqan.LookupKeys{ConnectionID: e.srv}, o...)
		return err
	},
	peliqan.RouteLookupSchema: func(ctx context.Context, e *relEnv, c *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := c.LookupSchema(ctx, peliqan.LookupKeys{ConnectionID: e.srv}, o...)
		return err
	},
	peliqan.RouteLookupTable: func(ctx context.Context, e *relEnv, c *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := c.LookupTable(ctx, peliqan.LookupKeys{TableID: e.table}, o...)
		return err
	},
	peliqan.RouteListScripts: func(ctx context.Context, _ *relEnv, c *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := c.ListScripts(ctx, o...)
		return err
	},
	peliqan.RouteGetScript: func(ctx context.Context, e *relEnv, c *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := c.GetScript(ctx, e.script, o...)
		return err
	},
	peliqan.RouteCreateScript: func(ctx context.Context, e *relEnv, c *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := c.CreateScript(ctx, peliqan.ScriptCreate{Name: fmt.Sprintf("s%d", e.seq.Add(1)), Code: "print(2)", GroupID: e.group}, o...)
		return err
	},
	peliqan.RouteUpdateScript: func(ctx context.Context, e *relEnv, c *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := c.UpdateScript(ctx, e.script, peliqan.ScriptUpdate{Code: ptr(fmt.Sprintf("print(%d)", e.seq.Add(1)))}, o...)
		return err
	},
	// RunScript is two calls; each of its routes is faulted on its own.
	peliqan.RouteTriggerScriptRun: runScript,
	peliqan.RouteCreateScriptRun:  runScript,
	peliqan.RouteListScriptRuns: func(ctx context.Context, e *relEnv, c *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := c.ListScriptRuns(ctx, e.script, nil, o...)
		return err
	},
	peliqan.RouteGetScriptRun: func(ctx context.Context, e *relEnv, c *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := c.GetScriptRun(ctx, e.scriptRun, o...)
		return err
	},
	peliqan.RouteScriptRunLogs: func(ctx context.Context, e *relEnv, c *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := c.ScriptRunLogs(ctx, e.scriptRun, o...)
		return err
	},
	peliqan.RouteListGroups: func(ctx context.Context, _ *relEnv, c *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
		_, err := c.ListGroups(ctx, o...)
		return err
	},
}

func runScript(ctx context.Context, e *relEnv, c *peliqan.SubAccountClient, o ...peliqan.RequestOption) error {
	_, err := c.RunScript(ctx, e.script, o...)
	return err
}

// bodyless routes' answers are not read: four answer 204 with no body, and
// the script trigger's answer is only a go-ahead for the second call of
// RunScript. A damaged body there is no failure.
var bodyless = map[string]bool{peliqan.RouteDeleteSubAccount: true, peliqan.RouteUpdateCell: true,
	peliqan.RouteTriggerScriptRun: true, peliqan.RouteDeleteServer: true, peliqan.RouteSendConnectionInvite: true}

func TestRouteCallsCoverTable(t *testing.T) {
	t.Parallel()
	for _, r := range peliqan.Routes() {
		assert.Contains(t, routeCalls, r.Name, "no fault test calls route %s", r.Name)
	}
	assert.Len(t, routeCalls, len(peliqan.Routes()))
}

// TestRouteCallsBaseline: with no fault, every call succeeds and sends
// exactly one request of its route.
func TestRouteCallsBaseline(t *testing.T) {
	t.Parallel()
	for _, r := range peliqan.Routes() {
		t.Run(r.Name, func(t *testing.T) {
			t.Parallel()
			e := newRelEnv(t)
			require.NoError(t, routeCalls[r.Name](context.Background(), e, e.t))
			assert.Equal(t, 1, e.fake.Count(r.Name))
		})
	}
}

// faultCase is one fault kind: what to inject into the route under test,
// and what the call must send and return for a retryable route and for one
// that is sent once (POST, PATCH, side-effect GET).
type faultCase struct {
	name   string
	inject func(e *relEnv, route string)
	opts   []peliqan.RequestOption
	// requests the route must receive; want: the error the call returns
	// (nil: success), checked with errors.Is.
	retryReqs, onceReqs int
	retryWant, onceWant error
	check               func(t *testing.T, err error) // optional extra check of a failure
}

// errTyped stands for "a *TransportError" in a faultCase (it has no
// sentinel of its own).
var errTyped = errors.New("a *peliqan.TransportError")

func faultCases() []faultCase {
	return []faultCase{
		{name: "429_storm_retry_after",
			inject: func(e *relEnv, r string) {
				e.fake.FailNext(r, 50, peliqantest.RetryAfterFault(http.StatusTooManyRequests, "0"))
			},
			retryReqs: 3, onceReqs: 1, retryWant: peliqan.ErrRateLimited, onceWant: peliqan.ErrRateLimited,
			check: func(t *testing.T, err error) {
				var ae *peliqan.APIError
				require.ErrorAs(t, err, &ae)
				assert.Equal(t, http.StatusTooManyRequests, ae.StatusCode)
			}},
		{name: "429_retry_after_over_cap",
			inject: func(e *relEnv, r string) {
				e.fake.FailNext(r, 50, peliqantest.RetryAfterFault(http.StatusTooManyRequests, "3600"))
			},
			retryReqs: 1, onceReqs: 1, retryWant: peliqan.ErrRateLimited, onceWant: peliqan.ErrRateLimited,
			check: func(t *testing.T, err error) {
				var ae *peliqan.APIError
				require.ErrorAs(t, err, &ae)
				assert.Equal(t, time.Hour, ae.RetryAfter)
			}},
		{name: "5xx_burst_of_2",
			inject: func(e *relEnv, r string) {
				e.fake.FailNext(r, 1, peliqantest.StatusFault(http.StatusServiceUnavailable, ""))
				e.fake.FailNext(r, 1, peliqantest.StatusFault(http.StatusInternalServerError, ""))
			},
			retryReqs: 3, onceReqs: 1, retryWant: nil, onceWant: peliqan.ErrServer},
		{name: "5xx_persistent",
			inject: func(e *relEnv, r string) {
				e.fake.FailNext(r, 50, peliqantest.StatusFault(http.StatusBadGateway, ""))
			},
			retryReqs: 3, onceReqs: 1, retryWant: peliqan.ErrServer, onceWant: peliqan.ErrServer},
		{name: "reset_before_response",
			inject:    func(e *relEnv, r string) { e.fake.FailNext(r, 1, peliqantest.ResetFault()) },
			retryReqs: 2, onceReqs: 1, retryWant: nil, onceWant: errTyped},
		{name: "reset_mid_body",
			inject:    func(e *relEnv, r string) { e.fake.FailNext(r, 1, peliqantest.MidBodyResetFault()) },
			retryReqs: 2, onceReqs: 1, retryWant: nil, onceWant: errTyped},
		{name: "slow_body_past_attempt_timeout",
			inject:    func(e *relEnv, r string) { e.slowNext(r, 3*time.Second) },
			opts:      []peliqan.RequestOption{peliqan.WithAttemptTimeout(250 * time.Millisecond)},
			retryReqs: 2, onceReqs: 1, retryWant: nil, onceWant: peliqan.ErrTimeout},
		{name: "truncated_json",
			inject:    func(e *relEnv, r string) { e.fake.FailNext(r, 1, peliqantest.TruncatedJSONFault()) },
			retryReqs: 1, onceReqs: 1, retryWant: peliqan.ErrMalformedResponse, onceWant: peliqan.ErrMalformedResponse},
		{name: "html_error_page",
			inject:    func(e *relEnv, r string) { e.fake.FailNext(r, 50, peliqantest.HTMLFault(http.StatusBadGateway)) },
			retryReqs: 3, onceReqs: 1, retryWant: peliqan.ErrServer, onceWant: peliqan.ErrServer,
			check: func(t *testing.T, err error) {
				var ae *peliqan.APIError
				require.ErrorAs(t, err, &ae)
				assert.Contains(t, ae.Message, "502 Bad Gateway")
			}},
		{name: "html_404_page",
			inject:    func(e *relEnv, r string) { e.fake.FailNext(r, 50, peliqantest.HTMLFault(http.StatusNotFound)) },
			retryReqs: 1, onceReqs: 1, retryWant: peliqan.ErrNotFound, onceWant: peliqan.ErrNotFound},
		{name: "oversized_body",
			inject:    func(e *relEnv, r string) { e.fake.FailNext(r, 1, peliqantest.OversizedFault(2<<20)) },
			retryReqs: 1, onceReqs: 1, retryWant: peliqan.ErrResponseTooLarge, onceWant: peliqan.ErrResponseTooLarge},
	}
}

// faultTally collects requests sent vs expected per fault kind, for the
// summary the suite logs (and the report quotes).
var faultTally = struct {
	sync.Mutex
	sent, want, calls map[string]int
}{sent: map[string]int{}, want: map[string]int{}, calls: map[string]int{}}

func tally(kind string, sent, want int) {
	faultTally.Lock()
	defer faultTally.Unlock()
	faultTally.sent[kind] += sent
	faultTally.want[kind] += want
	faultTally.calls[kind]++
}

// TestFaultMatrix drives every route under every fault kind. For each it
// checks, from the fake's own counts, that the faulted route received
// exactly the requests the retry rules allow (retryable routes up to the
// policy's 3 attempts, the others once), that no other route received more
// than the same call sends without faults, and that the failure is the
// right typed error.
func TestFaultMatrix(t *testing.T) {
	t.Parallel()
	rts := peliqan.Routes()
	t.Run("kinds", func(t *testing.T) {
		for _, fc := range faultCases() {
			t.Run(fc.name, func(t *testing.T) {
				t.Parallel()
				for _, r := range rts {
					t.Run(r.Name, func(t *testing.T) {
						t.Parallel()
						runFault(t, r, fc)
					})
				}
			})
		}
	})
	faultTally.Lock()
	defer faultTally.Unlock()
	for _, k := range slices.Sorted(maps.Keys(faultTally.sent)) {
		t.Logf("fault %-32s calls %3d  requests sent %4d  expected %4d", k, faultTally.calls[k], faultTally.sent[k], faultTally.want[k])
	}
}

func runFault(t *testing.T, r peliqan.RouteInfo, fc faultCase) {
	e := newRelEnv(t, peliqan.WithMaxResponseBytes(1<<20))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// The same call without faults, for the other routes' counts.
	call := routeCalls[r.Name]
	require.NoError(t, call(ctx, e, e.t))
	baseline := e.counts()
	e.fake.ResetRecords()

	fc.inject(e, r.Name)
	err := call(ctx, e, e.t, fc.opts...)
	e.fake.ClearFaults()

	wantReqs, want := fc.onceReqs, fc.onceWant
	if r.Retry {
		wantReqs, want = fc.retryReqs, fc.retryWant
	}
	if bodyless[r.Name] && (errors.Is(want, peliqan.ErrMalformedResponse)) {
		want = nil // a 204 route ignores its body, damaged or not
	}
	if r.Name == peliqan.RouteListRows {
		switch {
		case errors.Is(want, peliqan.ErrResponseTooLarge):
			want = nil // rows are streamed: no body cap, constant memory
		case fc.name == "reset_mid_body" || fc.name == "slow_body_past_attempt_timeout":
			// Rows already handed on cannot be taken back: a streamed page
			// that fails mid-body is not retried, and the error names the
			// table, page and row.
			wantReqs, want = 1, errTyped
			if fc.name == "slow_body_past_attempt_timeout" {
				want = peliqan.ErrTimeout
			}
		}
	}
	got := e.fake.Count(r.Name)
	tally(fc.name, got, wantReqs)
	assert.Equal(t, wantReqs, got, "requests of %s (retry=%t)", r.Name, r.Retry)
	if !r.Retry {
		assert.LessOrEqual(t, got, 1, "%s %s sent twice", r.Method, r.Path)
	}
	for name, n := range e.counts() {
		if name != r.Name {
			assert.LessOrEqual(t, n, baseline[name], "route %s sent more than without faults", name)
		}
	}
	switch {
	case want == nil:
		assert.NoError(t, err)
	case want == errTyped:
		// Every fault that reaches here is a broken connection: the error
		// says so (its cause kept), and it is never passed off as a timeout.
		var te *peliqan.TransportError
		assert.ErrorAs(t, err, &te, "got %T %v", err, err)
		assert.NotErrorIs(t, err, peliqan.ErrTimeout, "a reset reported as a timeout: %v", err)
		assert.True(t, errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF),
			"the cause of %q is lost", err)
	default:
		assert.ErrorIs(t, err, want, "got %T %v", err, err)
		if fc.check != nil && err != nil {
			fc.check(t, err)
		}
	}
	if err != nil {
		assertTyped(t, err)
	}
}

// assertTyped checks that err is one of the SDK's error types.
func assertTyped(t *testing.T, err error) {
	t.Helper()
	var (
		ae *peliqan.APIError
		de *peliqan.DecodeError
		te *peliqan.TransportError
		ar *peliqan.ArgumentError
		rd *peliqan.RowsDecodeError
		qe *peliqan.QueryError
		lm *peliqan.LookupMissError
		cd *peliqan.ConnectionDataError
	)
	ok := errors.As(err, &ae) || errors.As(err, &de) || errors.As(err, &te) || errors.As(err, &ar) || errors.As(err, &rd) ||
		errors.As(err, &qe) || errors.As(err, &lm) || errors.As(err, &cd) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
	assert.True(t, ok, "untyped error %T: %v", err, err)
}

// TestFaultTokenRefreshReplay: a 401 is not acted on, so every route, POST,
// PATCH and side-effect GET included, is replayed exactly once with a fresh
// identity token; a partner route (static token) is not.
func TestFaultTokenRefreshReplay(t *testing.T) {
	t.Parallel()
	for _, r := range peliqan.Routes() {
		t.Run(r.Name, func(t *testing.T) {
			t.Parallel()
			e := newRelEnv(t)
			ctx := context.Background()
			tc := e.tenant(t)
			require.NoError(t, routeCalls[r.Name](ctx, e, tc)) // warms the token cache
			e.fake.ResetRecords()
			e.fake.FailNext(r.Name, 1, peliqantest.StatusFault(http.StatusUnauthorized, ""))
			err := routeCalls[r.Name](ctx, e, tc)
			if r.Partner {
				assert.ErrorIs(t, err, peliqan.ErrUnauthorized)
				assert.Equal(t, 1, e.fake.Count(r.Name))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, 2, e.fake.Count(r.Name), "401 then one replay")
			assert.Equal(t, 1, e.fake.Count(peliqan.RouteSubAccountToken), "one token refresh")
			reqs := e.fake.Requests()
			var statuses []int
			for _, q := range reqs {
				if q.Route == r.Name {
					statuses = append(statuses, q.Status)
				}
			}
			require.Len(t, statuses, 2)
			assert.Equal(t, http.StatusUnauthorized, statuses[0])
		})
	}
}

// TestFaultRetryAfterObeyed: a Retry-After within the cap is slept, not
// guessed: two 503s with Retry-After 1 make the call last at least 2 s.
func TestFaultRetryAfterObeyed(t *testing.T) {
	t.Parallel()
	e := newRelEnv(t)
	e.fake.FailNext(peliqan.RouteListServers, 2, peliqantest.RetryAfterFault(http.StatusServiceUnavailable, "1"))
	start := time.Now()
	var resp peliqan.Response
	_, err := e.t.ListServers(context.Background(), peliqan.WithResponse(&resp))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), 2*time.Second)
	assert.Equal(t, 3, resp.Attempts)
	assert.Equal(t, 3, e.fake.Count(peliqan.RouteListServers))
}

// TestFaultKeepAliveReplay: net/http re-sends a bodiless GET by itself
// when a reused keep-alive connection fails before any answer byte. For
// side-effect GETs that would be a duplicate sync: the reset must reach the
// caller after exactly one request.
func TestFaultKeepAliveReplay(t *testing.T) {
	t.Parallel()
	for _, name := range []string{peliqan.RouteSyncServer, peliqan.RouteFullResync, peliqan.RouteReAuthoriseServer,
		peliqan.RouteManualRefreshSaltEdge, peliqan.RouteTriggerScriptRun} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newRelEnv(t)
			ctx := context.Background()
			for range 3 { // warm a keep-alive connection
				_, err := e.t.ListServers(ctx)
				require.NoError(t, err)
			}
			e.fake.ResetRecords()
			e.fake.FailNext(name, 1, peliqantest.ResetFault())
			err := routeCalls[name](ctx, e, e.t)
			var te *peliqan.TransportError
			require.ErrorAs(t, err, &te)
			assert.Equal(t, 1, e.fake.Count(name))
		})
	}
}

// TestFaultOversizedAtOneMiB: a success body over the client's cap is
// ErrResponseTooLarge whatever the cap, including a cap equal to the 1 MiB
// kept of error bodies (it was once mistaken for an error body and
// silently truncated).
func TestFaultOversizedAtOneMiB(t *testing.T) {
	t.Parallel()
	for _, limit := range []int64{1<<20 - 1, 1 << 20, 1<<20 + 1, 4 << 20} {
		t.Run(strconv.FormatInt(limit, 10), func(t *testing.T) {
			t.Parallel()
			e := newRelEnv(t, peliqan.WithMaxResponseBytes(limit))
			e.fake.FailNext(peliqan.RouteListServers, 1, peliqantest.OversizedFault(limit+4096))
			_, err := e.t.ListServers(context.Background())
			assert.ErrorIs(t, err, peliqan.ErrResponseTooLarge, "got %v", err)
			assert.Equal(t, 1, e.fake.Count(peliqan.RouteListServers))
		})
	}
}

// TestFaultTruncatedLogs: the log routes hand back the body as
// json.RawMessage; a truncated body must be a DecodeError, not a
// RawMessage that breaks the caller's json.Marshal later.
func TestFaultTruncatedLogs(t *testing.T) {
	t.Parallel()
	e := newRelEnv(t)
	ctx := context.Background()
	for name, call := range map[string]func() (json.RawMessage, error){
		peliqan.RouteServerLogs:      func() (json.RawMessage, error) { return e.t.ServerLogs(ctx, e.srv) },
		peliqan.RoutePipelineRunLogs: func() (json.RawMessage, error) { return e.t.PipelineRunLogs(ctx, e.pRun) },
		peliqan.RouteScriptRunLogs:   func() (json.RawMessage, error) { return e.t.ScriptRunLogs(ctx, e.scriptRun) },
	} {
		e.fake.FailNext(name, 1, peliqantest.TruncatedJSONFault())
		raw, err := call()
		assert.ErrorIs(t, err, peliqan.ErrMalformedResponse, "%s gave %q", name, raw)
		raw, err = call()
		require.NoError(t, err)
		assert.True(t, json.Valid(raw), name)
	}
}
