package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestMain lets a test run the real main in a child process (the test
// binary itself, with PELIQAN_CLI_TEST_MAIN=1), to send it real signals.
func TestMain(m *testing.M) {
	if os.Getenv("PELIQAN_CLI_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// testStart is the fake's clock in every test: outputs with times are
// stable across runs.
var testStart = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// newTestFake starts a fake with 3 customers x 2 connections x 5 rows
// (seed 1) on a manual clock; syncs end on the next request.
func newTestFake(t *testing.T, opts ...peliqantest.Option) (*peliqantest.Fake, *peliqantest.ManualClock) {
	t.Helper()
	clk := peliqantest.NewManualClock(testStart)
	base := []peliqantest.Option{
		peliqantest.WithClock(clk.Now),
		peliqantest.WithSyncDuration(0),
		peliqantest.WithFixture(peliqantest.Generate(1, 3, 2, 5)),
	}
	return peliqantest.NewFake(t, append(base, opts...)...), clk
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of log
// lines and progress.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// cli runs the CLI in-process against a config directory of its own.
type cli struct {
	t         *testing.T
	configDir string // the user config dir; the file is <dir>/peliqan/config.json
	env       map[string]string
	stdin     string
	terminal  bool             // pretend stderr is a terminal
	now       func() time.Time // the reports' clock; testStart when nil
}

type result struct {
	stdout, stderr string
	code           int
}

func newCLI(t *testing.T) *cli {
	return &cli{t: t, configDir: t.TempDir(), env: map[string]string{}}
}

// withProfiles writes a config file with one profile per fake, named by
// names (the first is the default), mode 0600.
func (c *cli) withProfiles(names []string, fakes ...*peliqantest.Fake) *cli {
	c.t.Helper()
	cfg := &config{Default: names[0], Profiles: map[string]*profile{}}
	for i, f := range fakes {
		cfg.Profiles[names[i]] = &profile{BaseURL: f.URL(), PartnerToken: f.PartnerToken()}
	}
	if err := saveConfig(c.configPath(), cfg); err != nil {
		c.t.Fatal(err)
	}
	return c
}

func (c *cli) configPath() string { return filepath.Join(c.configDir, "peliqan", configFileName) }

func (c *cli) app(stdout, stderr io.Writer) *app {
	return &app{
		stdin:         strings.NewReader(c.stdin),
		stdout:        stdout,
		stderr:        stderr,
		getenv:        func(k string) string { return c.env[k] },
		userConfigDir: func() (string, error) { return c.configDir, nil },
		isTerminal:    func(io.Writer) bool { return c.terminal },
		clientOptions: []peliqan.Option{peliqan.WithRetryPolicy(peliqan.RetryPolicy{MaxAttempts: 3, Backoff: peliqan.BackoffConstant})},
		now:           cmpOr(c.now, func() time.Time { return testStart }),
	}
}

// run runs args and returns what the CLI printed and its exit status.
func (c *cli) run(args ...string) result {
	c.t.Helper()
	return c.runContext(context.Background(), args...)
}

func (c *cli) runContext(ctx context.Context, args ...string) result {
	c.t.Helper()
	var out, errb syncBuffer
	code := c.app(&out, &errb).run(ctx, args)
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// must runs args and fails the test unless the exit status is want.
func (c *cli) must(want int, args ...string) result {
	c.t.Helper()
	r := c.run(args...)
	if r.code != want {
		c.t.Fatalf("peliqan %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
	return r
}

// golden compares got with testdata/<name>.golden (rewritten by -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s (go test -update rewrites it)\n--- got:\n%s\n--- want:\n%s", name, path, got, want)
	}
}

// parseJSON decodes a command's JSON output into v.
func parseJSON(t *testing.T, s string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, s)
	}
	if dec.More() {
		t.Fatalf("output has more than one JSON value:\n%s", s)
	}
}

// writes returns the requests the fake received that change something:
// every method but GET and HEAD, and the GETs that start work (a sync, a
// re-authorisation), as the routes table marks them.
func writes(f *peliqantest.Fake) []peliqantest.Request {
	sideEffect := map[string]bool{}
	for _, r := range peliqan.Routes() {
		sideEffect[r.Name] = r.SideEffect
	}
	var out []peliqantest.Request
	for _, r := range f.Requests() {
		if (r.Method != "GET" && r.Method != "HEAD") || sideEffect[r.Route] {
			out = append(out, r)
		}
	}
	return out
}

func cmpOr(f, def func() time.Time) func() time.Time {
	if f != nil {
		return f
	}
	return def
}
