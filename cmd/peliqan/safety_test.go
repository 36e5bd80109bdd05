package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// regexpJWT matches any JWT (three base64url parts, the first a JSON
// header): no output may carry one unless --reveal asked for it.
var regexpJWT = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`)

// invocation is one run of a command: name is its path (for the
// coverage check), args the whole command line.
type invocation struct {
	name string
	args []string
}

// everyCommand runs each leaf command at least once against the fixture,
// in order (profiles set comes before profiles remove). Runs that need a
// file get one in dir.
func everyCommand(dir string) []invocation {
	script := filepath.Join(dir, "report.py")
	_ = os.WriteFile(script, []byte("print(1)\n"), 0o644)
	return []invocation{
		{"customers list", []string{"customers", "list"}},
		{"customers list", []string{"customers", "list", "--all-profiles"}},
		{"customers get", []string{"customers", "get", "cust-0001"}},
		{"customers ensure", []string{"customers", "ensure", "--external-id", "n1", "--first-name", "A", "--last-name", "B", "--email", "a@b.example", "--company", "B"}},
		{"customers update", []string{"customers", "update", "cust-0002", "--license", "pro"}},
		{"customers delete", []string{"customers", "delete", "cust-0003"}},
		{"customers delete", []string{"customers", "delete", "cust-0003", "--yes"}},
		{"tokens identity", []string{"tokens", "identity", "cust-0001"}},
		{"tokens identity", []string{"tokens", "identity", "cust-0001", "--expiring"}},
		{"tokens integration", []string{"tokens", "integration", "--external-id", "n2", "--first-name", "A", "--last-name", "B", "--email", "a@b.example", "--company", "B"}},
		{"connections list", []string{"connections", "list", "-c", "cust-0001"}},
		{"connections get", []string{"connections", "get", "13", "-c", "cust-0001"}},
		{"connections health", []string{"connections", "health", "-c", "cust-0001"}},
		{"connections health", []string{"connections", "health", "-c", "cust-0001", "28"}},
		{"connections sync", []string{"connections", "sync", "28", "-c", "cust-0001", "--wait", "--poll-interval", "1ms"}},
		{"connections reauth-url", []string{"connections", "reauth-url", "28", "-c", "cust-0001"}},
		{"connections tables", []string{"connections", "tables", "28", "-c", "cust-0001"}},
		{"connections invite", []string{"connections", "invite", "-c", "cust-0001", "--email", "it@nova.example", "--type", "hubspot"}},
		{"connections delete", []string{"connections", "delete", "86", "-c", "cust-0003"}},
		{"connections delete", []string{"connections", "delete", "86", "-c", "cust-0003", "--yes"}},
		{"runs list", []string{"runs", "list", "-c", "cust-0001", "--connection", "28"}},
		{"runs logs", []string{"runs", "logs", "93", "-c", "cust-0001"}}, // the run syncOnce makes
		{"rows export", []string{"rows", "export", "-c", "cust-0001", "--connection", "28", "--table", "deals", "--format", "csv"}},
		{"query", []string{"query", `SELECT * FROM "dw_9"."hubspot_c28"."deals"`, "-c", "cust-0001"}},
		{"scripts publish", []string{"scripts", "publish", "--file", script, "--all"}},
		{"report licences", []string{"report", "licences"}},
		{"report licences", []string{"report", "licences", "--all-profiles"}},
		{"report inactive", []string{"report", "inactive", "--days", "1", "--all-profiles"}},
		{"report inactive", []string{"report", "inactive", "--days", "1", "--close"}},
		{"customers change-licences", []string{"customers", "change-licences", "--all", "--license", "pro"}},
		{"fleet sync", []string{"fleet", "sync", "-c", "cust-0002", "--poll-interval", "1ms"}},
		{"fleet health", []string{"fleet", "health"}},
		{"fleet health", []string{"fleet", "health", "--all-profiles", "-o", "html"}},
		{"profiles list", []string{"profiles", "list"}},
		{"profiles use", []string{"profiles", "use", "eu"}},
		{"profiles set", []string{"profiles", "set", "spare"}},
		{"profiles remove", []string{"profiles", "remove", "spare"}},
	}
}

// exemptFromScan are the commands whose purpose is to print a token: the
// fake prints its own partner token, like the standalone peliqan-fake.
var exemptFromScan = []string{"fake"}

// TestNoTokenInAnyOutput runs every command (in every output format,
// with --debug so each request is logged) and scans stdout and stderr for
// the partner tokens, the customers' identity tokens and any JWT at all.
func TestNoTokenInAnyOutput(t *testing.T) {
	t.Parallel()
	f1, clk := newTestFake(t)
	syncOnce(t, f1, clk, 9, 28)
	f2, _ := newTestFake(t, peliqantest.WithSigningKey([]byte("a second fake's own signing key")))
	// The customers' identity tokens differ on every mint (iat, jti), so
	// they are caught by regexpJWT, which matches any token the fake signs.
	secrets := []string{f1.PartnerToken(), f2.PartnerToken()}
	c := newCLI(t).withProfiles([]string{"eu", "us"}, f1, f2)
	c.stdin = f2.PartnerToken() + "\n" // for profiles set
	cmds := everyCommand(t.TempDir())
	checkCoverage(t, cmds)
	logged := false
	for _, format := range []string{"table", "json", "csv"} {
		for _, inv := range cmds {
			var full []string
			switch {
			case inv.name == "runs logs" && format == "csv":
				continue // logs have no CSV form
			case slices.Contains(inv.args, "html"), inv.name == "rows export":
				if format != "table" {
					continue // their format is in their arguments
				}
				full = append([]string{"--debug"}, inv.args...)
			default:
				full = append(append([]string{"--debug"}, inv.args...), "-o", format)
			}
			r := c.run(full...)
			if r.code == exitUsage {
				t.Errorf("peliqan %s: usage error: %s", strings.Join(full, " "), r.stderr)
			}
			if strings.Contains(r.stderr, "peliqan: request") {
				logged = true
			}
			out := r.stdout + r.stderr
			for _, s := range secrets {
				if strings.Contains(out, s) {
					t.Errorf("peliqan %s printed a partner token", strings.Join(full, " "))
				}
			}
			if m := regexpJWT.FindString(out); m != "" {
				t.Errorf("peliqan %s printed a JWT: %.20s...", strings.Join(full, " "), m)
			}
		}
	}
	if !logged {
		t.Fatal("--debug logged no request: the scan proves nothing")
	}
}

// checkCoverage fails when a leaf command has no run in cmds.
func checkCoverage(t *testing.T, cmds []invocation) {
	t.Helper()
	covered := map[string]bool{}
	for _, inv := range cmds {
		covered[inv.name] = true
	}
	for _, p := range leafPaths(t) {
		name := strings.Join(p, " ")
		if !covered[name] && !slices.Contains(exemptFromScan, name) {
			t.Errorf("command %q is not exercised by everyCommand", name)
		}
	}
}

// TestNoEscapeCodesWhenNotATerminal: with stdout and stderr not terminals
// (files, pipes) nothing writes an escape sequence or a carriage return;
// the same commands with a terminal stderr draw their progress there.
func TestNoEscapeCodesWhenNotATerminal(t *testing.T) {
	t.Parallel()
	f1, clk := newTestFake(t)
	syncOnce(t, f1, clk, 9, 28)
	f2, _ := newTestFake(t)
	c := newCLI(t).withProfiles([]string{"eu", "us"}, f1, f2)
	c.stdin = f2.PartnerToken() + "\n"
	cmds := everyCommand(t.TempDir())
	for _, inv := range cmds {
		args := inv.args
		{
			r := c.run(args...)
			if strings.ContainsAny(r.stdout+r.stderr, "\x1b\r") {
				t.Errorf("peliqan %s wrote an escape code or CR: %q", strings.Join(args, " "), r.stdout+r.stderr)
			}
		}
	}

	// The gate itself: the same export with a terminal stderr shows the
	// row counter there (and still nothing on stdout).
	tty := newCLI(t).withProfiles([]string{"eu"}, f1)
	tty.terminal = true
	r := tty.must(exitOK, "rows", "export", "-c", "cust-0001", "--connection", "28", "--table", "deals", "--format", "csv")
	if !strings.Contains(r.stderr, "\r") {
		t.Errorf("terminal stderr got no progress display: %q", r.stderr)
	}
	if strings.ContainsAny(r.stdout, "\x1b\r") {
		t.Errorf("progress leaked into stdout: %q", r.stdout)
	}
}

// TestConfigFileModes: "profiles set" creates the file with mode 0600 in a
// 0700 directory; a file others can read is refused until fixed.
func TestConfigFileModes(t *testing.T) {
	t.Parallel()
	f, _ := newTestFake(t)
	c := newCLI(t)
	c.stdin = f.PartnerToken() + "\n"
	c.must(exitOK, "profiles", "set", "eu", "--base-url", f.URL())
	fi, err := os.Stat(c.configPath())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("config file mode %04o, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(filepath.Dir(c.configPath()))
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Errorf("config dir mode %04o, want 0700", di.Mode().Perm())
	}
	c.must(exitOK, "customers", "list")

	if err := os.Chmod(c.configPath(), 0o644); err != nil {
		t.Fatal(err)
	}
	r := c.must(exitUsage, "customers", "list")
	if !strings.Contains(r.stderr, "0644") || !strings.Contains(r.stderr, "chmod 600") {
		t.Errorf("loose mode not explained: %q", r.stderr)
	}
	if strings.Contains(r.stderr, f.PartnerToken()) {
		t.Error("the refusal printed the token")
	}
	// Writing the profile again fixes the mode.
	c.stdin = "\n"
	c.must(exitUsage, "profiles", "set", "eu") // refuses to read it either
	if err := os.Chmod(c.configPath(), 0o600); err != nil {
		t.Fatal(err)
	}
	c.must(exitOK, "customers", "list")
}

// TestProfilesAndEnvironment: --profile picks, the environment overrides,
// and is enough alone.
func TestProfilesAndEnvironment(t *testing.T) {
	t.Parallel()
	f1, _ := newTestFake(t)
	f2, _ := newTestFake(t, peliqantest.WithFixture(peliqantest.Fixture{SubAccounts: []peliqantest.SubAccountFixture{{ExternalID: "only-in-us"}}}))
	c := newCLI(t).withProfiles([]string{"eu", "us"}, f1, f2)
	if r := c.must(exitOK, "customers", "list"); strings.Contains(r.stdout, "only-in-us") {
		t.Errorf("default profile eu listed us's customer")
	}
	if r := c.must(exitOK, "--profile", "us", "customers", "list"); !strings.Contains(r.stdout, "only-in-us") {
		t.Errorf("--profile us did not list us's customers:\n%s", r.stdout)
	}
	c.must(exitUsage, "--profile", "nope", "customers", "list")

	// The environment overrides the selected profile.
	c.env[envToken], c.env[envBaseURL] = f2.PartnerToken(), f2.URL()
	if r := c.must(exitOK, "customers", "list"); !strings.Contains(r.stdout, "only-in-us") {
		t.Errorf("environment did not override the profile")
	}

	// The environment alone, without any config file.
	alone := newCLI(t)
	alone.env[envToken], alone.env[envBaseURL] = f1.PartnerToken(), f1.URL()
	alone.must(exitOK, "customers", "list")
	nothing := newCLI(t)
	r := nothing.must(exitUsage, "customers", "list")
	if !strings.Contains(r.stderr, envToken) {
		t.Errorf("missing token not explained: %q", r.stderr)
	}
}

// TestUsageErrors exit 2.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	f, _ := newTestFake(t)
	c := newCLI(t).withProfiles([]string{"eu"}, f)
	for _, args := range [][]string{
		{"no-such-command"},
		{"customers", "no-such-command"},
		{"connections", "list", "extra-argument", "-c", "cust-0001"},
		{"customers", "list", "--no-such-flag"},
		{"customers", "get"},
		{"customers", "get", "id:x"},
		{"connections", "list"},
		{"connections", "get", "abc", "-c", "cust-0001"},
		{"customers", "list", "-o", "yaml"},
		{"customers", "list", "-o", "html"},
		{"rows", "export", "-c", "cust-0001"},
		{"rows", "export", "-c", "cust-0001", "--table-id", "37", "-o", "json"},
		{"rows", "export", "-c", "cust-0001", "--table", "a.b.c.d"},
		{"runs", "list", "-c", "cust-0001"},
		{"customers", "ensure", "--external-id", "x"}, // the SDK refuses it before any request
	} {
		r := c.run(args...)
		if r.code != exitUsage {
			t.Errorf("peliqan %s: exit %d, want 2\n%s", strings.Join(args, " "), r.code, r.stderr)
		}
		if !strings.HasPrefix(r.stderr, "Error: ") {
			t.Errorf("peliqan %s: stderr %q", strings.Join(args, " "), r.stderr)
		}
	}
	if w := writes(f); len(w) != 0 {
		t.Errorf("usage errors sent writes: %+v", w)
	}
}

// TestAPIErrorsShowCodeAndTraceID: an API error goes to stderr with its
// status, code and trace id, and exits 1.
func TestAPIErrorsShowCodeAndTraceID(t *testing.T) {
	t.Parallel()
	f, _ := newTestFake(t)
	c := newCLI(t).withProfiles([]string{"eu"}, f)
	f.FailNext(peliqan.RouteListSubAccounts, 1, peliqantest.StatusFault(400, `{"error": "ERROR_PARTNER_DISABLED", "detail": "({'error': 'ERROR_PARTNER_DISABLED', 'message': 'partner disabled'}, 'TraceId: 4bf92f3577b34da6')"}`))
	r := c.must(exitAttention, "customers", "list")
	for _, want := range []string{"status: 400", "code: ERROR_PARTNER_DISABLED", "trace id: 4bf92f3577b34da6", "GET /api/partner/sub-accounts/"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if r.stdout != "" {
		t.Errorf("stdout on error: %q", r.stdout)
	}
	r = c.must(exitAttention, "customers", "get", "nobody")
	if !strings.Contains(r.stderr, "status: 404") {
		t.Errorf("404 not reported: %s", r.stderr)
	}
}
