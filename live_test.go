package peliqan_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	peliqan "github.com/peliqan-community/peliqan-go"
)

// The live smoke test: skipped unless PELIQAN_PARTNER_TOKEN is set. It
// calls every route against the real service and logs, route by route,
// whether the answer is what the contract (the routes table in
// internal/routes, listed in docs/routes.md) says, so the
// first run with real credentials tells which inferred paths are wrong.
//
//	PELIQAN_PARTNER_TOKEN=... go test -v -run TestLiveSmoke .
//
// Optional: PELIQAN_BASE_URL (default https://app.eu.peliqan.io),
// PELIQAN_EXTERNAL_ID (the customer whose data is read; default the first
// listed), PELIQAN_LIVE_SQL (the read-only statement for Query; default
// "SELECT 1"). Against the fake (go run ./peliqantest/cmd/peliqan-fake
// prints both variables) use PELIQAN_LIVE_SQL="SELECT * FROM contacts LIMIT 1".
//
// Read-only routes are called for real with the SDK's typed method (so the
// decoders meet real bodies). Routes that write or trigger work are probed
// without effect: sent with an id that does not exist (999999999) or an
// empty body, through Do, never retried. A probe "answers as the contract
// says" when the service recognises the route and refuses the input with a
// JSON 400/404; an HTML 404 (Django's page for an unknown URL) or a 405
// means the path or method is wrong. Nothing is created, changed or
// deleted.

const missingID = "999999999"

type liveRow struct {
	route, method, path, evidence, how, verdict string
	ok                                          bool
}

func TestLiveSmoke(t *testing.T) {
	tok := os.Getenv("PELIQAN_PARTNER_TOKEN")
	if tok == "" {
		t.Skip("PELIQAN_PARTNER_TOKEN is not set: the live smoke test talks to the real service")
	}
	base := cmp.Or(os.Getenv("PELIQAN_BASE_URL"), peliqan.DefaultBaseURL)
	opts := []peliqan.Option{peliqan.WithBaseURL(base), peliqan.WithRetryPolicy(peliqan.NoRetry()),
		peliqan.WithTimeout(30 * time.Second), peliqan.WithUserAgent("peliqan-go-live-smoke")}
	p, err := peliqan.NewPartnerClient(tok, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	info := map[string]peliqan.RouteInfo{}
	for _, r := range peliqan.Routes() {
		info[r.Name] = r
	}
	var rows []liveRow
	done := map[string]bool{}
	add := func(route, how string, err error) {
		r := info[route]
		ok, verdict := judge(how, err)
		rows = append(rows, liveRow{route: route, method: r.Method, path: r.Path, evidence: r.Evidence, how: how, verdict: verdict, ok: ok})
		done[route] = true
	}
	// probe sends route with params through Do: no retry, no effect.
	probe := func(c interface {
		Do(context.Context, string, string, any, any, ...peliqan.RequestOption) error
	}, route string, body any, params ...string) {
		r := info[route]
		path := r.Path
		for _, v := range params {
			i, j := strings.Index(path, "{"), strings.Index(path, "}")
			path = path[:i] + v + path[j+1:]
		}
		var out any
		add(route, "probe", c.Do(ctx, r.Method, path, body, &out, peliqan.WithoutRetry()))
	}

	// Partner routes.
	page, err := p.ListSubAccounts(ctx, &peliqan.ListOptions{PerPage: 5})
	add(peliqan.RouteListSubAccounts, "call", err)
	var sa *peliqan.SubAccount
	if ext := os.Getenv("PELIQAN_EXTERNAL_ID"); ext != "" {
		sa, err = p.GetSubAccount(ctx, peliqan.ByExternalID(ext))
		add(peliqan.RouteGetSubAccount, "call", err)
	} else if err == nil && len(page.Items) > 0 {
		sa, err = p.GetSubAccount(ctx, peliqan.ByAccountID(page.Items[0].ID))
		add(peliqan.RouteGetSubAccount, "call", err)
	}
	_, err = p.ServerTypes(ctx)
	add(peliqan.RouteServerTypes, "call", err)
	probe(p, peliqan.RouteCreateSubAccount, map[string]any{})
	probe(p, peliqan.RouteUpdateSubAccount, map[string]any{}, missingID)
	probe(p, peliqan.RouteDeleteSubAccount, nil, missingID)
	probe(p, peliqan.RouteIntegrationToken, map[string]any{}) // no external_id: nothing to provision

	var tc *peliqan.SubAccountClient
	if sa != nil {
		_, err = p.SubAccountInfo(ctx, sa.ID)
		add(peliqan.RouteSubAccountInfo, "call", err)
		_, err = p.SubAccountToken(ctx, peliqan.ByAccountID(sa.ID), nil)
		add(peliqan.RouteSubAccountToken, "call", err)
		if tc, err = p.SubAccount(peliqan.ByAccountID(sa.ID)); err != nil {
			t.Logf("tenant client: %v", err)
		}
	}

	if tc != nil {
		liveTenant(ctx, tc, add, func(route string, body any, params ...string) { probe(tc, route, body, params...) })
	}

	var b strings.Builder
	fmt.Fprintf(&b, "live smoke against %s:\n%-24s %-6s %-46s %-10s %-5s %s\n", base, "route", "method", "path", "evidence", "how", "verdict")
	okN := 0
	for _, r := range rows {
		mark := "OK  "
		if r.ok {
			okN++
		} else {
			mark = "FAIL"
		}
		fmt.Fprintf(&b, "%-24s %-6s %-46s %-10s %-5s %s %s\n", r.route, r.method, r.path, r.evidence, r.how, mark, r.verdict)
	}
	for _, r := range peliqan.Routes() {
		if !done[r.Name] {
			fmt.Fprintf(&b, "%-24s %-6s %-46s %-10s %-5s SKIP (no customer, connection, table, script or run to read it with)\n",
				r.Name, r.Method, r.Path, r.Evidence, "-")
		}
	}
	fmt.Fprintf(&b, "%d of %d checked routes answered as the contract says", okN, len(rows))
	t.Log(b.String())
	for _, r := range rows {
		if !r.ok && r.evidence != "inferred" {
			t.Errorf("%s (%s, not inferred) did not answer as the contract says: %s", r.route, r.evidence, r.verdict)
		}
	}
}

func liveTenant(ctx context.Context, tc *peliqan.SubAccountClient, add func(string, string, error),
	probe func(route string, body any, params ...string)) {
	servers, err := tc.ListServers(ctx)
	add(peliqan.RouteListServers, "call", err)
	probe(peliqan.RouteCreateServer, map[string]any{})
	// No recipient: nothing can be sent.
	probe(peliqan.RouteSendConnectionInvite, map[string]any{})
	probe(peliqan.RouteDeleteServer, nil, missingID)
	srv := missingID
	if len(servers) > 0 {
		id := servers[0].ID
		srv = id.String()
		_, err = tc.GetServer(ctx, id)
		add(peliqan.RouteGetServer, "call", err)
		_, err = tc.ServerLogs(ctx, id)
		add(peliqan.RouteServerLogs, "call", err)
		runs, err := tc.ListServerRuns(ctx, id, &peliqan.ListOptions{Page: 1, PerPage: 1})
		add(peliqan.RouteListServerRuns, "call", err)
		if err == nil && len(runs.Items) > 0 {
			_, err = tc.GetPipelineRuns(ctx, []peliqan.ID{runs.Items[0].ID})
			add(peliqan.RouteGetPipelineRuns, "call", err)
			_, err = tc.PipelineRunLogs(ctx, runs.Items[0].ID)
			add(peliqan.RoutePipelineRunLogs, "call", err)
		}
		// Status routes without a task: the service may refuse the query,
		// which still shows the route exists.
		probe(peliqan.RouteGetServerSyncRunStatus, nil, srv)
		probe(peliqan.RouteFullResyncStatus, nil, srv)
	} else {
		probe(peliqan.RouteGetServer, nil, missingID)
	}
	if len(servers) > 0 {
		k := peliqan.LookupKeys{ConnectionID: servers[0].ID}
		_, err = tc.LookupConnection(ctx, k)
		add(peliqan.RouteLookupConnection, "call", err)
		_, err = tc.LookupDatabase(ctx, k)
		add(peliqan.RouteLookupDatabase, "call", err)
		_, err = tc.LookupSchema(ctx, k)
		add(peliqan.RouteLookupSchema, "call", err)
	}
	// Triggers: probed on a connection that does not exist.
	for _, r := range []string{peliqan.RouteSyncServer, peliqan.RouteFullResync, peliqan.RouteReAuthoriseServer, peliqan.RouteManualRefreshSaltEdge} {
		probe(r, nil, missingID)
	}

	dbs, err := tc.ListDatabases(ctx, &peliqan.DatabaseListOptions{IncludeTables: true})
	add(peliqan.RouteListDatabases, "call", err)
	for _, db := range dbs {
		_, err = tc.ListTables(ctx, db.ID)
		add(peliqan.RouteListTables, "call", err)
		if len(db.Tables) > 0 {
			tb := db.Tables[0].ID
			_, err = tc.GetTable(ctx, tb)
			add(peliqan.RouteGetTable, "call", err)
			_, err = tc.ListRows(ctx, tb, &peliqan.RowsOptions{Size: 1})
			add(peliqan.RouteListRows, "call", err)
			_, err = tc.LookupTable(ctx, peliqan.LookupKeys{TableID: tb})
			add(peliqan.RouteLookupTable, "call", err)
		}
		break
	}
	probe(peliqan.RouteCreateQueryTable, map[string]any{}, missingID)
	probe(peliqan.RouteUpdateTable, map[string]any{}, missingID)
	probe(peliqan.RouteUpdateCell, map[string]any{}, missingID)
	_, err = tc.Query(ctx, cmp.Or(os.Getenv("PELIQAN_LIVE_SQL"), "SELECT 1"), nil)
	add(peliqan.RouteQuery, "call", err)

	scripts, err := tc.ListScripts(ctx)
	add(peliqan.RouteListScripts, "call", err)
	_, err = tc.ListGroups(ctx)
	add(peliqan.RouteListGroups, "call", err)
	if len(scripts) > 0 {
		id := scripts[0].ID
		_, err = tc.GetScript(ctx, id)
		add(peliqan.RouteGetScript, "call", err)
		runs, err := tc.ListScriptRuns(ctx, id, &peliqan.ListOptions{Page: 1, PerPage: 1})
		add(peliqan.RouteListScriptRuns, "call", err)
		if err == nil && len(runs.Items) > 0 {
			_, err = tc.GetScriptRun(ctx, runs.Items[0].ID)
			add(peliqan.RouteGetScriptRun, "call", err)
			_, err = tc.ScriptRunLogs(ctx, runs.Items[0].ID)
			add(peliqan.RouteScriptRunLogs, "call", err)
		}
	}
	probe(peliqan.RouteCreateScript, map[string]any{}, missingID)
	probe(peliqan.RouteUpdateScript, map[string]any{}, missingID)
	probe(peliqan.RouteTriggerScriptRun, nil, missingID)
	probe(peliqan.RouteCreateScriptRun, map[string]any{})
}

// judge reads one answer: a call must succeed; a probe must reach the
// route and be refused for its input (a JSON 4xx), or succeed.
func judge(how string, err error) (bool, string) {
	if err == nil {
		return true, "2xx, decoded"
	}
	var ae *peliqan.APIError
	if !errors.As(err, &ae) {
		var de *peliqan.DecodeError
		if errors.As(err, &de) {
			return false, "answered, but the body does not decode as the contract says: " + short(de.Error())
		}
		return false, "no answer: " + short(err.Error())
	}
	html := strings.HasPrefix(ae.Message, "non-JSON")
	st := strconv.Itoa(ae.StatusCode)
	switch {
	case ae.StatusCode == http.StatusMethodNotAllowed:
		return false, "405: the path exists but not with this method (method likely wrong)"
	case ae.StatusCode == http.StatusNotFound && html:
		return false, "HTML 404: no such URL (path likely wrong)"
	case ae.StatusCode == http.StatusUnauthorized || ae.StatusCode == http.StatusForbidden:
		return false, st + ": refused this token (" + short(ae.Message) + ")"
	case how == "probe" && ae.StatusCode >= 400 && ae.StatusCode < 500 && !html:
		return true, st + " JSON: the route exists and refused the probe (" + short(ae.Message) + ")"
	}
	return false, st + ": " + short(ae.Message)
}

func short(s string) string {
	if len(s) > 90 {
		return s[:90] + "..."
	}
	return s
}
