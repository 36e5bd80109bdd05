package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// bigTableFake has one customer ("big") with one connection whose
// "events" table holds n rows; it returns the connection's and the table's
// ids as arguments.
func bigTableFake(t *testing.T, n int) (f *peliqantest.Fake, conn, table string) {
	t.Helper()
	f = peliqantest.NewFake(t, peliqantest.WithFixture(peliqantest.Fixture{SubAccounts: []peliqantest.SubAccountFixture{{
		ExternalID: "big",
		Connections: []peliqantest.ConnectionFixture{{Type: "hubspot", Tables: []peliqantest.TableFixture{{
			Name:          "events",
			Fields:        []peliqantest.FieldFixture{{Name: "name", Type: "text"}, {Name: "amount", Type: "decimal"}, {Name: "note", Type: "text"}},
			Rows:          []map[string]any{{"name": "quoted, \"comma\"", "amount": 12345678901234567, "note": "line\nbreak <b>&</b>"}},
			GeneratedRows: n - 1,
		}}}},
	}}}))
	c := f.Seeded().SubAccounts[0].Connections[0]
	return f, c.ID.String(), c.Tables[0].String()
}

// TestRowsExportToFile: every row, in CSV and JSON Lines, through pages,
// written to the file complete; numbers exact; a row counter summary.
func TestRowsExportToFile(t *testing.T) {
	t.Parallel()
	const n = 2345
	f, conn, _ := bigTableFake(t, n)
	c := newCLI(t).withProfiles([]string{"eu"}, f)
	dir := t.TempDir()

	csvPath := filepath.Join(dir, "events.csv")
	r := c.must(exitOK, "rows", "export", "-c", "big", "--connection", conn, "--table", "events", "--format", "csv", "--file", csvPath, "--page-size", "1000")
	if r.stdout != "" {
		t.Errorf("stdout with --file: %q", r.stdout)
	}
	if !strings.Contains(r.stderr, "Exported 2345 rows") {
		t.Errorf("summary: %q", r.stderr)
	}
	fh, err := os.Open(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	recs, err := csv.NewReader(fh).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != n+1 {
		t.Fatalf("%d CSV records, want header + %d", len(recs), n)
	}
	if strings.Join(recs[0], ",") != "id,name,amount,note" {
		t.Errorf("header %v", recs[0])
	}
	if recs[1][1] != `quoted, "comma"` || recs[1][2] != "12345678901234567" || recs[1][3] != "line\nbreak <b>&</b>" {
		t.Errorf("first row %q", recs[1])
	}
	if n := f.Count(peliqan.RouteListRows); n != 3 {
		t.Errorf("%d page requests, want 3 of 1000", n)
	}

	r = c.must(exitOK, "rows", "export", "-c", "big", "--connection", conn, "--table", "events", "--limit", "10")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 10 {
		t.Fatalf("--limit 10: %d lines", len(lines))
	}
	var first map[string]any
	dec := json.NewDecoder(strings.NewReader(lines[0]))
	dec.UseNumber()
	if err := dec.Decode(&first); err != nil {
		t.Fatal(err)
	}
	if first["amount"] != json.Number("12345678901234567") || first["note"] != "line\nbreak <b>&</b>" {
		t.Errorf("first JSON line %s", lines[0])
	}
	if !strings.Contains(lines[0], "<b>&</b>") {
		t.Errorf("JSON Lines escape HTML: %s", lines[0])
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("files left in the directory: %v", entries)
	}
}

// TestRowsExportByName finds the table by its warehouse name.
func TestRowsExportByName(t *testing.T) {
	t.Parallel()
	f, _ := newTestFake(t)
	c := newCLI(t).withProfiles([]string{"eu"}, f)
	r := c.must(exitOK, "rows", "export", "-c", "cust-0001", "--table", "dw_9.hubspot_c28.deals", "--format", "csv")
	golden(t, "data/rows_export_deals.csv", r.stdout)
	r2 := c.must(exitOK, "rows", "export", "-c", "cust-0001", "--table-id", "37", "--format", "csv")
	if r2.stdout != r.stdout {
		t.Errorf("by id and by name differ")
	}
	r = c.must(exitAttention, "rows", "export", "-c", "cust-0001", "--connection", "28", "--table", "nope")
	if !strings.Contains(r.stderr, `no table "nope"`) {
		t.Errorf("unknown table: %q", r.stderr)
	}
}

// stallSecondPage makes the fake answer the first rows page at once and
// hold the second for a minute.
func stallSecondPage(f *peliqantest.Fake) {
	f.FailNext(peliqan.RouteListRows, 1, peliqantest.LatencyFault(time.Nanosecond))
	f.FailNext(peliqan.RouteListRows, 1, peliqantest.LatencyFault(time.Minute))
}

func waitForCount(t *testing.T, f *peliqantest.Fake, route string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for f.Count(route) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s reached %d requests, want %d", route, f.Count(route), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRowsExportInterrupted: an export stopped half-way leaves no file
// (nor a temporary one), keeps an older file as it was, and says what was
// done.
func TestRowsExportInterrupted(t *testing.T) {
	t.Parallel()
	f, _, table := bigTableFake(t, 50)
	c := newCLI(t).withProfiles([]string{"eu"}, f)
	dir := t.TempDir()
	path := filepath.Join(dir, "events.csv")
	if err := os.WriteFile(path, []byte("yesterday's export\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stallSecondPage(f)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result)
	go func() {
		done <- c.runContext(ctx, "rows", "export", "-c", "big", "--table-id", table, "--format", "csv", "--file", path, "--page-size", "20")
	}()
	waitForCount(t, f, peliqan.RouteListRows, 2)
	cancel()
	r := <-done
	if r.code != exitAttention {
		t.Fatalf("exit %d, want 1\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "Stopped after 20 rows: "+path+" was not written.") || !strings.Contains(r.stderr, "interrupted") {
		t.Errorf("summary: %q", r.stderr)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "yesterday's export\n" {
		t.Errorf("the old file was touched: %q %v", b, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("a temporary file was left: %v", entries)
	}
}

// TestCtrlCStopsCleanly sends a real SIGINT to the CLI (this test binary
// running main) in the middle of an export to a file.
func TestCtrlCStopsCleanly(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("no SIGINT to send on Windows")
	}
	f, _, table := bigTableFake(t, 50)
	stallSecondPage(f)
	dir := t.TempDir()
	path := filepath.Join(dir, "events.jsonl")
	cmd := exec.Command(os.Args[0], "rows", "export", "-c", "big", "--table-id", table, "--file", path, "--page-size", "20")
	cmd.Env = append(os.Environ(), "PELIQAN_CLI_TEST_MAIN=1", envToken+"="+f.PartnerToken(), envBaseURL+"="+f.URL(),
		"XDG_CONFIG_HOME="+t.TempDir(), "HOME="+t.TempDir())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForCount(t, f, peliqan.RouteListRows, 2)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitAttention {
		t.Fatalf("exit: %v, want status 1\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "Stopped after 20 rows: "+path+" was not written.") {
		t.Errorf("stderr: %q", stderr.String())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files left behind: %v", entries)
	}
}

// TestFakeCommand runs "peliqan fake" and points the CLI at it through the
// environment.
func TestFakeCommand(t *testing.T) {
	t.Parallel()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := newCLI(t)
	done := make(chan int)
	go func() {
		a := c.app(pw, &syncBuffer{})
		done <- a.run(ctx, []string{"fake", "--addr", "127.0.0.1:0", "--tenants", "2", "--seed", "7"})
		pw.Close()
	}()
	env := map[string]string{}
	sc := bufio.NewScanner(pr)
	for len(env) < 2 && sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			env[k] = v
		}
	}
	if !strings.HasPrefix(env[envBaseURL], "http://127.0.0.1:") || env[envToken] == "" {
		t.Fatalf("fake printed %v", env)
	}
	// The token is the standalone peliqan-fake's for the same seed.
	key := sha256.Sum256([]byte("peliqan-fake/7"))
	same := peliqantest.NewFake(t, peliqantest.WithSigningKey(key[:]))
	if env[envToken] != same.PartnerToken() {
		t.Errorf("the partner token differs from peliqan-fake's for seed 7")
	}
	user := newCLI(t)
	user.env = env
	r := user.must(exitOK, "customers", "list", "-o", "json")
	var items []map[string]any
	parseJSON(t, r.stdout, &items)
	if len(items) != 2 {
		t.Errorf("%d customers, want 2", len(items))
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("fake exited %d", code)
	}
	go func() {
		for sc.Scan() {
		}
	}()
}
