package testenv

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestDecide(t *testing.T) {
	t.Parallel()
	cases := []struct {
		env  string
		ok   bool
		want action
		msg  []string // substrings of the message
	}{
		{env: "", ok: true, want: actRun},
		{env: "1", ok: true, want: actRun},
		{env: "nonsense", ok: true, want: actRun},
		{env: "", ok: false, want: actSkip, msg: []string{"skipped: Chromium is not available: not on PATH", "PELIQAN_REQUIRE_SERVICES=1"}},
		{env: "0", ok: false, want: actSkip, msg: []string{"skipped: Chromium"}},
		{env: "false", ok: false, want: actSkip, msg: []string{"skipped: Chromium"}},
		{env: "1", ok: false, want: actFail, msg: []string{"Chromium is required (PELIQAN_REQUIRE_SERVICES=1) but not available: not on PATH"}},
		{env: "true", ok: false, want: actFail, msg: []string{"Chromium is required"}},
		{env: "yes", ok: false, want: actFail, msg: []string{`PELIQAN_REQUIRE_SERVICES="yes" is not a boolean`, "not on PATH"}},
	}
	for _, c := range cases {
		got, msg := decide(c.env, "Chromium", c.ok, "not on PATH")
		if got != c.want {
			t.Errorf("decide(env=%q, ok=%t) = %d, want %d (%s)", c.env, c.ok, got, c.want, msg)
		}
		for _, s := range c.msg {
			if !strings.Contains(msg, s) {
				t.Errorf("decide(env=%q, ok=%t) message %q lacks %q", c.env, c.ok, msg, s)
			}
		}
	}
}

// helperEnv makes TestHelperMissingService do its work: it only runs when
// TestRequireInATestBinary starts this test binary again.
const helperEnv = "TESTENV_HELPER_PROCESS"

// TestHelperMissingService is the tiny test program the test below runs: a
// test that needs a "widget service" that is missing.
func TestHelperMissingService(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		return
	}
	Require(t, "the widget service", false, "nothing listens on 127.0.0.1:1")
	t.Log("after Require: the test went on")
}

// Through a real test binary: the missing service is a SKIP (and the run
// passes) without the variable, a FAIL (and the run fails) with it.
func TestRequireInATestBinary(t *testing.T) {
	t.Parallel()
	cases := []struct {
		env      string
		wantExit int
		want     string
	}{
		{"", 0, "--- SKIP: TestHelperMissingService"},
		{"1", 1, "--- FAIL: TestHelperMissingService"},
	}
	for _, c := range cases {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperMissingService$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), helperEnv+"=1", RequireServicesEnv+"="+c.env)
		out, err := cmd.CombinedOutput()
		exit := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			exit = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if exit != c.wantExit || !strings.Contains(string(out), c.want) || !strings.Contains(string(out), "the widget service") {
			t.Errorf("%s=%q: exit %d, want %d and %q; output:\n%s", RequireServicesEnv, c.env, exit, c.wantExit, c.want, out)
		}
		if strings.Contains(string(out), "the test went on") {
			t.Errorf("%s=%q: the test went on after Require:\n%s", RequireServicesEnv, c.env, out)
		}
	}
}

// The nested modules examples/embed-server and river cannot import this
// package, so each holds a copy of testenv.go: the copies must not drift
// apart.
func TestCopiesAreIdentical(t *testing.T) {
	t.Parallel()
	want, err := os.ReadFile("testenv.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, nested := range []string{filepath.Join("..", "..", "examples", "embed-server"), filepath.Join("..", "..", "river")} {
		if _, err := os.Stat(filepath.Join(nested, "go.mod")); err != nil {
			t.Skipf("not a repository checkout (no %s): %v", nested, err)
		}
		got, err := os.ReadFile(filepath.Join(nested, "internal", "testenv", "testenv.go"))
		if err != nil {
			t.Fatalf("the nested module's copy: %v", err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s/internal/testenv/testenv.go differs from internal/testenv/testenv.go: copy it over", nested)
		}
	}
}
