package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// The generated fixture (seed 1): customers 9 (cust-0001: connections 13,
// in ERROR, and 28), 44 (cust-0002: 48 and 63) and 73 (cust-0003: 77, in
// ERROR, and 86).

// syncOnce runs one sync of a connection through the SDK, so that runs
// have something to list; the fake's clock moves a minute.
func syncOnce(t *testing.T, f *peliqantest.Fake, clk *peliqantest.ManualClock, account, conn peliqan.ID) {
	t.Helper()
	s, err := f.SubAccountClient(account)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SyncServer(context.Background(), conn, nil); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	if _, err := s.ListServers(context.Background()); err != nil { // ends the run
		t.Fatal(err)
	}
}

// TestTablesGolden pins the table form of every read command.
func TestTablesGolden(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"customers_list", []string{"customers", "list"}, exitOK},
		{"customers_get", []string{"customers", "get", "cust-0002"}, exitOK},
		{"customers_get_by_id", []string{"customers", "get", "id:73"}, exitOK},
		{"connections_list", []string{"connections", "list", "--customer", "cust-0001"}, exitOK},
		{"connections_get", []string{"connections", "get", "28", "-c", "cust-0001"}, exitOK},
		{"connections_health_attention", []string{"connections", "health", "-c", "cust-0001"}, exitAttention},
		{"connections_health_ok", []string{"connections", "health", "-c", "cust-0002", "48", "63"}, exitOK},
		{"connections_tables", []string{"connections", "tables", "28", "-c", "cust-0001"}, exitOK},
		{"connections_reauth_url", []string{"connections", "reauth-url", "28", "-c", "cust-0001"}, exitOK},
		{"runs_list", []string{"runs", "list", "-c", "cust-0001", "--connection", "28"}, exitOK},
		{"query", []string{"query", `SELECT * FROM "dw_9"."hubspot_c28"."contacts" LIMIT 3`, "-c", "cust-0001"}, exitOK},
		{"fleet_health", []string{"fleet", "health"}, exitAttention},
		{"fleet_health_attention_only", []string{"fleet", "health", "--attention-only", "--skip-last-run"}, exitAttention},
		{"tokens_identity", []string{"tokens", "identity", "cust-0001"}, exitOK},
		{"customers_delete_dry_run", []string{"customers", "delete", "cust-0003"}, exitOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, clk := newTestFake(t)
			syncOnce(t, f, clk, 9, 28)
			c := newCLI(t).withProfiles([]string{"eu"}, f)
			r := c.must(tc.code, tc.args...)
			golden(t, "table/"+tc.name, r.stdout)
		})
	}
}

// TestProfilesListGolden pins "profiles list" on a config of fixed URLs
// (the fakes' ports vary).
func TestProfilesListGolden(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	cfg := &config{Default: "us", Profiles: map[string]*profile{
		"eu":         {PartnerToken: "eu-token-value"},
		"us":         {BaseURL: "https://app.us.peliqan.io", PartnerToken: "us-token-value"},
		"whitelabel": {BaseURL: "https://data.example.com", PartnerToken: "wl-token-value"},
	}}
	if err := saveConfig(c.configPath(), cfg); err != nil {
		t.Fatal(err)
	}
	r := c.must(exitOK, "profiles", "list")
	golden(t, "table/profiles_list", r.stdout)
	if strings.Contains(r.stdout, "token-value") {
		t.Errorf("profiles list printed a token without --reveal")
	}
}

// TestStructuredOutput parses the JSON and CSV forms of the list commands
// and checks their field names are the documented ones, in order.
func TestStructuredOutput(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		args   []string
		fields string
		rows   int
		code   int
	}{
		{"customers", []string{"customers", "list"}, fieldNames(customerListColumns(false)), 3, exitOK},
		{"connections", []string{"connections", "list", "-c", "cust-0002"}, fieldNames(connectionListColumns), 2, exitOK},
		{"health", []string{"connections", "health", "-c", "cust-0003"}, fieldNames(healthColumns), 2, exitAttention},
		{"tables", []string{"connections", "tables", "86", "-c", "cust-0003"}, fieldNames(tableRefColumns), 1, exitOK},
		{"runs", []string{"runs", "list", "-c", "cust-0001", "--connection", "28"}, fieldNames(runColumns), 1, exitOK},
		{"fleet", []string{"fleet", "health"}, fieldNames(fleetColumns(false)), 6, exitAttention},
		{"profiles", []string{"profiles", "list"}, fieldNames(profileColumnsFor(false)), 1, exitOK},
		{"query", []string{"query", `SELECT * FROM "dw_9"."hubspot_c28"."deals" LIMIT 4`, "-c", "cust-0001"}, "id, title, amount, stage, won, closed_at", 4, exitOK},
		{"delete_plan", []string{"customers", "delete", "id:44"}, fieldNames(planColumns), 1, exitOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, clk := newTestFake(t)
			syncOnce(t, f, clk, 9, 28)
			c := newCLI(t).withProfiles([]string{"eu"}, f)
			want := strings.Split(tc.fields, ", ")

			r := c.must(tc.code, append(tc.args, "-o", "json")...)
			var items []map[string]any
			parseJSON(t, r.stdout, &items)
			if len(items) != tc.rows {
				t.Fatalf("json: %d items, want %d:\n%s", len(items), tc.rows, r.stdout)
			}
			for _, it := range items {
				if got := jsonKeys(t, it); !slices.Equal(got, sorted(want)) {
					t.Fatalf("json keys %v, want %v", got, sorted(want))
				}
			}
			first := strings.SplitN(r.stdout, "\n", 3)[1]
			if keys := objectKeyOrder(t, strings.TrimSuffix(strings.TrimSpace(first), ",")); !slices.Equal(keys, want) {
				t.Errorf("json key order %v, want %v", keys, want)
			}

			r = c.must(tc.code, append(tc.args, "-o", "csv")...)
			recs, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
			if err != nil {
				t.Fatalf("csv: %v\n%s", err, r.stdout)
			}
			if !slices.Equal(recs[0], want) {
				t.Errorf("csv header %v, want %v", recs[0], want)
			}
			if len(recs)-1 != tc.rows {
				t.Errorf("csv: %d rows, want %d", len(recs)-1, tc.rows)
			}
		})
	}
}

func profileColumnsFor(reveal bool) []column[profileRow] { return (&app{}).profileColumns(reveal) }

func jsonKeys(t *testing.T, m map[string]any) []string {
	t.Helper()
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return sorted(keys)
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// objectKeyOrder returns the keys of one JSON object in the order written.
func objectKeyOrder(t *testing.T, obj string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(obj))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// TestSingleRecordJSON checks the JSON of the commands that print one
// record: an object with the documented fields.
func TestSingleRecordJSON(t *testing.T) {
	t.Parallel()
	f, _ := newTestFake(t)
	c := newCLI(t).withProfiles([]string{"eu"}, f)

	var sa map[string]any
	parseJSON(t, c.must(exitOK, "customers", "get", "cust-0001", "-o", "json").stdout, &sa)
	if sa["id"] != json.Number("9") || sa["external_id"] != "cust-0001" || sa["expires_on"] != nil {
		t.Errorf("customers get: %v", sa)
	}
	if got, want := jsonKeys(t, sa), sorted(strings.Split(fieldNames(customerColumns), ", ")); !slices.Equal(got, want) {
		t.Errorf("customers get keys %v, want %v", got, want)
	}

	var conn map[string]any
	parseJSON(t, c.must(exitOK, "connections", "get", "13", "-c", "cust-0001", "-o", "json").stdout, &conn)
	if conn["id"] != json.Number("13") || conn["health_status"] != "ERROR" || conn["run_interval_seconds"] != json.Number("86400") {
		t.Errorf("connections get: %v", conn)
	}

	var tok map[string]any
	parseJSON(t, c.must(exitOK, "tokens", "identity", "cust-0001", "-o", "json").stdout, &tok)
	if tok["token"] != masked || tok["kind"] != "identity" || tok["expiring"] != false {
		t.Errorf("tokens identity: %v", tok)
	}
}

// TestCustomersEnsureAndUpdate: ensure creates once, then finds; update
// sends only the fields given.
func TestCustomersEnsureAndUpdate(t *testing.T) {
	t.Parallel()
	f, _ := newTestFake(t)
	c := newCLI(t).withProfiles([]string{"eu"}, f)
	args := []string{"customers", "ensure", "--external-id", "wood_123", "--first-name", "Ada", "--last-name", "Wood",
		"--email", "ada@wood.example", "--company", "Wood Ltd", "--license", "pro", "--expires-on", "2027-01-31", "-o", "json"}
	var first, second map[string]any
	parseJSON(t, c.must(exitOK, args...).stdout, &first)
	parseJSON(t, c.must(exitOK, args...).stdout, &second)
	if first["created"] != true || second["created"] != false || first["id"] != second["id"] {
		t.Fatalf("ensure twice: %v then %v", first, second)
	}
	if first["expires_on"] != "2027-01-31" || first["license"] != "pro" {
		t.Errorf("ensure: %v", first)
	}
	if n := f.Count(peliqan.RouteCreateSubAccount); n != 1 {
		t.Errorf("%d creates, want 1", n)
	}

	f.ResetRecords()
	var upd map[string]any
	parseJSON(t, c.must(exitOK, "customers", "update", "wood_123", "--license", "enterprise", "--no-expiry", "-o", "json").stdout, &upd)
	if upd["license"] != "enterprise" || upd["expires_on"] != nil {
		t.Errorf("update: %v", upd)
	}
	w := writes(f)
	if len(w) != 1 || w[0].Method != "PUT" {
		t.Fatalf("writes %+v, want one PUT", w)
	}
	var body map[string]any
	if err := json.Unmarshal(w[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	if len(body) != 2 || body["license"] != "enterprise" || body["expires_on"] != nil {
		t.Errorf("PUT body %s: want only license and expires_on=null", w[0].Body)
	}

	r := c.must(exitUsage, "customers", "update", "wood_123")
	if !strings.Contains(r.stderr, "nothing to change") {
		t.Errorf("update without fields: %q", r.stderr)
	}
	c.must(exitUsage, "customers", "update", "wood_123", "--expires-on", "31/01/2027")
}

// TestDeleteDryRunAndYes: the dry run sends no write and lists the
// request; --yes sends exactly that request.
func TestDeleteDryRunAndYes(t *testing.T) {
	t.Parallel()
	f, _ := newTestFake(t)
	c := newCLI(t).withProfiles([]string{"eu"}, f)

	r := c.must(exitOK, "customers", "delete", "cust-0003", "-o", "json")
	if w := writes(f); len(w) != 0 {
		t.Fatalf("dry run sent %d writes: %+v", len(w), w)
	}
	var plan []map[string]any
	parseJSON(t, r.stdout, &plan)
	if len(plan) != 1 || plan[0]["result"] != resultDryRun || plan[0]["method"] != "DELETE" || plan[0]["path"] != "/api/partner/sub-accounts/73/" {
		t.Fatalf("plan: %v", plan)
	}
	if !strings.Contains(r.stderr, "--yes") {
		t.Errorf("dry run does not say how to do it: %q", r.stderr)
	}

	r = c.must(exitOK, "customers", "delete", "cust-0003", "--yes", "-o", "json")
	w := writes(f)
	if len(w) != 1 || w[0].Method != plan[0]["method"] || w[0].Path != plan[0]["path"] || w[0].Status != 204 {
		t.Fatalf("--yes sent %+v, want exactly the planned DELETE", w)
	}
	var done []map[string]any
	parseJSON(t, r.stdout, &done)
	if done[0]["result"] != resultDone {
		t.Errorf("result %v", done[0])
	}
	c.must(exitAttention, "customers", "get", "cust-0003")
}

// TestTokensMaskedUnlessReveal.
func TestTokensMaskedUnlessReveal(t *testing.T) {
	t.Parallel()
	f, _ := newTestFake(t)
	c := newCLI(t).withProfiles([]string{"eu"}, f)
	r := c.must(exitOK, "tokens", "identity", "cust-0001")
	if regexpJWT.MatchString(r.stdout) || !strings.Contains(r.stdout, masked) {
		t.Errorf("identity token not masked:\n%s", r.stdout)
	}
	r = c.must(exitOK, "tokens", "identity", "cust-0001", "--reveal", "-o", "json")
	var got map[string]any
	parseJSON(t, r.stdout, &got)
	// The revealed token is the real one: it opens customer 9's API.
	tok, _ := got["token"].(string)
	s, err := peliqan.NewSubAccountClient(tok, peliqan.WithBaseURL(f.URL()))
	if err != nil {
		t.Fatalf("--reveal printed %q: %v", tok, err)
	}
	if servers, err := s.ListServers(context.Background()); err != nil || len(servers) != 2 || servers[0].ID != 13 {
		t.Errorf("the revealed token does not open customer 9: %v %v", servers, err)
	}

	args := []string{"tokens", "integration", "--external-id", "new_1", "--first-name", "A", "--last-name", "B",
		"--email", "a@b.example", "--company", "B Ltd"}
	r = c.must(exitOK, args...)
	if !strings.Contains(r.stdout, masked) || regexpJWT.MatchString(r.stdout) {
		t.Errorf("integration token not masked:\n%s", r.stdout)
	}
	r = c.must(exitOK, append(args, "--reveal")...)
	if !regexpJWT.MatchString(r.stdout) {
		t.Errorf("--reveal did not print the integration token:\n%s", r.stdout)
	}

	r = c.must(exitOK, "profiles", "list", "--reveal", "-o", "json")
	if !strings.Contains(r.stdout, f.PartnerToken()) {
		t.Errorf("profiles list --reveal did not print the partner token")
	}
}

// TestConnectionsSync: without --wait the run's ids; with --wait the end,
// exit 1 for a run that failed.
func TestConnectionsSync(t *testing.T) {
	t.Parallel()
	f, _ := newTestFake(t)
	c := newCLI(t).withProfiles([]string{"eu"}, f)

	var started map[string]any
	parseJSON(t, c.must(exitOK, "connections", "sync", "28", "-c", "cust-0001", "-o", "json").stdout, &started)
	if started["connection_id"] != json.Number("28") || started["run_ids"] == "" {
		t.Errorf("sync: %v", started)
	}
	var done map[string]any
	parseJSON(t, c.must(exitOK, "connections", "sync", "48", "-c", "cust-0002", "--wait", "--poll-interval", "1ms", "-o", "json").stdout, &done)
	if done["status"] != "COMPLETED" || done["records"] == nil {
		t.Errorf("sync --wait: %v", done)
	}
	r := c.must(exitAttention, "connections", "sync", "77", "-c", "cust-0003", "--wait", "--poll-interval", "1ms")
	if !strings.Contains(r.stdout, "ERROR") {
		t.Errorf("failed sync:\n%s", r.stdout)
	}
	if n := f.Count(peliqan.RouteSyncServer); n != 3 {
		t.Errorf("%d sync requests, want 3 (one per command)", n)
	}
}

// TestRunsLogs prints a run's logs.
func TestRunsLogs(t *testing.T) {
	t.Parallel()
	f, clk := newTestFake(t)
	syncOnce(t, f, clk, 9, 28)
	c := newCLI(t).withProfiles([]string{"eu"}, f)
	var runs []map[string]any
	parseJSON(t, c.must(exitOK, "runs", "list", "-c", "cust-0001", "--connection", "28", "-o", "json").stdout, &runs)
	id := string(runs[0]["id"].(json.Number))
	r := c.must(exitOK, "runs", "logs", id, "-c", "cust-0001")
	if strings.TrimSpace(r.stdout) == "" {
		t.Errorf("no logs printed")
	}
	r = c.must(exitOK, "runs", "logs", id, "-c", "cust-0001", "-o", "json")
	if !json.Valid([]byte(r.stdout)) {
		t.Errorf("runs logs -o json is not JSON: %q", r.stdout)
	}
	c.must(exitUsage, "runs", "logs", id, "-c", "cust-0001", "-o", "csv")
}

// TestScriptsPublish: created everywhere, then unchanged; exit 1 when a
// customer fails.
func TestScriptsPublish(t *testing.T) {
	t.Parallel()
	f, _ := newTestFake(t)
	c := newCLI(t).withProfiles([]string{"eu"}, f)
	file := filepath.Join(t.TempDir(), "sync-report.py")
	if err := os.WriteFile(file, []byte("print('hello')\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := c.must(exitOK, "scripts", "publish", "--file", file, "--all", "--concurrency", "1") // ids in order
	golden(t, "table/scripts_publish", r.stdout)
	var again []map[string]any
	parseJSON(t, c.must(exitOK, "scripts", "publish", "--file", file, "--all", "-o", "json").stdout, &again)
	for _, res := range again {
		if res["outcome"] != "unchanged" {
			t.Errorf("second publish: %v", res)
		}
	}
	r = c.must(exitAttention, "scripts", "publish", "--file", file, "-c", "cust-0001", "-c", "no-such-customer")
	if !strings.Contains(r.stdout, "failed") || !strings.Contains(r.stderr, "1 failed") {
		t.Errorf("publish with a missing customer:\n%s\n%s", r.stdout, r.stderr)
	}
	c.must(exitUsage, "scripts", "publish", "--file", file)
	c.must(exitUsage, "scripts", "publish", "--file", file, "--all", "-c", "cust-0001")
}

// TestScriptsPublishInterrupted: an interrupted publish says what state
// the customers may be in.
func TestScriptsPublishInterrupted(t *testing.T) {
	t.Parallel()
	f, _ := newTestFake(t)
	c := newCLI(t).withProfiles([]string{"eu"}, f)
	file := filepath.Join(t.TempDir(), "r.py")
	if err := os.WriteFile(file, []byte("print(2)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.AddFaultRule(peliqantest.FaultRule{Route: peliqan.RouteListScripts, Probability: 1, Fault: peliqantest.LatencyFault(time.Minute)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result)
	go func() { done <- c.runContext(ctx, "scripts", "publish", "--file", file, "--all") }()
	waitForCount(t, f, peliqan.RouteListScripts, 1)
	cancel()
	r := <-done
	if r.code != exitAttention || !strings.Contains(r.stderr, "Publishing again is safe") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}
