package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/examples/embed-server/internal/testenv"
)

// The real-browser test: headless Chromium loads the example page from a
// loopback server backed by the in-process fake, with the stand-in widget
// script. Chrome's --dump-dom prints the DOM once the page has settled
// (--virtual-time-budget lets the token fetch, the widget's initialisation
// and the auto-click run first), so no browser-driving dependency is needed.
//
// Set CHROMIUM to the browser binary (default: chromium, chromium-browser
// or google-chrome on PATH) and EMBED_SCREENSHOT to a .png path to keep the
// screenshot taken along the way. Without a browser the tests skip, or fail
// under PELIQAN_REQUIRE_SERVICES=1 (as .ci/run sets it): see testenv.

func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testenv.Require(t, "Chromium", false, "none of chromium, chromium-browser, google-chrome, google-chrome-stable "+
		"is on PATH (install Debian's chromium package, or set CHROMIUM=/path/to/chrome)")
	return ""
}

// runChromium runs one headless Chromium with a fresh profile and returns
// its stdout.
func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--no-proxy-server", "--user-data-dir=" + t.TempDir(),
		"--virtual-time-budget=10000",
	}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	setProcessGroup(cmd)
	// Files, not pipes: Chromium's helper processes inherit stdout and may
	// outlive the browser, and Wait would then block on the pipe.
	dir := t.TempDir()
	stdout, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	stderr, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	runErr := cmd.Run()
	killProcessGroup(cmd) // helpers left behind, if any
	if runErr != nil {
		errText, _ := os.ReadFile(stderr.Name())
		t.Fatalf("chromium %v: %v\nstderr (tail): %s", args, runErr, tail(string(errText), 2000))
	}
	out, err := os.ReadFile(stdout.Name())
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

var (
	reButtonTag = regexp.MustCompile(`<div id="peliqan-integration-button"([^>]*)>([^<]*)</div>`)
	reConnected = regexp.MustCompile(`(?s)<pre id="connected" data-state="([a-z]+)">(.*?)</pre>`)
	reAttr      = regexp.MustCompile(`([a-z-]+)="([^"]*)"`)
)

func attrs(s string) map[string]string {
	m := map[string]string{}
	for _, a := range reAttr.FindAllStringSubmatch(s, -1) {
		m[a[1]] = html.UnescapeString(a[2])
	}
	return m
}

func TestRealBrowserAddConnection(t *testing.T) {
	t.Parallel()
	bin := findChromium(t)
	a, srv, fake, p := startApp(t)

	cases := []struct {
		customer, email, connector string
	}{
		{"cust_1001", "alice@acme.example", "hubspot"},
		{"cust_2002", "bob@woodworks.example", "exact_online"},
	}
	for i, c := range cases {
		page := srv.URL + "/login?customer=" + c.customer + "&next=" + url.QueryEscape("/?autoconnect=1")
		dom := string(runChromium(t, bin, "--dump-dom", page))

		// 1. The button rendered, and the widget got a token.
		m := reButtonTag.FindStringSubmatch(dom)
		if m == nil {
			t.Fatalf("%s: no button in the DOM:\n%s", c.customer, dom)
		}
		btn := attrs(m[1])
		if m[2] != "Add connection" || btn["data-peliqan-ready"] != "true" || btn["data-token-received"] != "yes" || btn["role"] != "button" {
			t.Fatalf("%s: button not initialised: %q %v\n%s", c.customer, m[2], btn, dom)
		}

		// 2. The token request was made with this customer's identity: the
		// app identified them from the session cookie, Peliqan (the fake)
		// got their profile, and the token the page received opens their
		// sub-account.
		if got := a.tokenRequests(); len(got) != i+1 || got[i] != c.customer {
			t.Fatalf("token endpoint identified %v, want %s last", got, c.customer)
		}
		reqs := integrateRequests(fake)
		if len(reqs) != i+1 || reqs[i]["external_id"] != c.customer || reqs[i]["email"] != c.email {
			t.Fatalf("integrate requests %v", reqs)
		}
		sa, err := p.GetSubAccount(context.Background(), peliqan.ByExternalID(c.customer))
		if err != nil {
			t.Fatalf("%s: not provisioned: %v", c.customer, err)
		}
		if btn["data-account-id"] != fmt.Sprint(sa.ID) {
			t.Fatalf("%s: the page's token opens account %q, the customer's sub-account is %v", c.customer, btn["data-account-id"], sa.ID)
		}

		// 3. onConnected fired with the new connection.
		m = reConnected.FindStringSubmatch(dom)
		if m == nil || m[1] != "connected" {
			t.Fatalf("%s: onConnected did not fire:\n%s", c.customer, dom)
		}
		var conn struct {
			ServerID  int    `json:"server_id"`
			Connector string `json:"connector"`
			AccountID int64  `json:"account_id"`
		}
		if err := json.Unmarshal([]byte(html.UnescapeString(m[2])), &conn); err != nil {
			t.Fatalf("%s: callback data %q: %v", c.customer, m[2], err)
		}
		if conn.ServerID != 1001 || conn.Connector != c.connector || conn.AccountID != int64(sa.ID) {
			t.Fatalf("%s: callback got %+v", c.customer, conn)
		}
		if !strings.Contains(dom, `id="peliqan-standin-modal"`) {
			t.Fatalf("%s: the modal never opened", c.customer)
		}
	}

	// A screenshot of the first customer's page after adding a connection.
	shot := os.Getenv("EMBED_SCREENSHOT")
	if shot == "" {
		shot = filepath.Join(t.TempDir(), "embed.png")
	}
	page := srv.URL + "/login?customer=cust_1001&next=" + url.QueryEscape("/?autoconnect=1")
	runChromium(t, bin, "--hide-scrollbars", "--window-size=1000,640", "--screenshot="+shot, page)
	png, err := os.ReadFile(shot)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 1000 {
		t.Fatalf("screenshot %s: %d bytes, %v", shot, len(png), err)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
}

// Hostile values in the customer's name, company and connector list reach
// the browser as text: nothing they contain runs or becomes an element, and
// the widget still gets them intact.
func TestRealBrowserHostileValuesStayText(t *testing.T) {
	t.Parallel()
	bin := findChromium(t)
	const evilConnector = `</script><img src=x onerror="document.title='pwned'">"'`
	evil := customer{
		ID: "cust_evil", FirstName: `<img src=x onerror="document.title='pwned'">`, LastName: "O'Brien",
		Email: "mallory@evil.example", Company: `</strong><script>document.title='pwned'</script>`,
		Connectors: []string{evilConnector, "hubspot"},
	}
	_, srv, _, _ := startApp(t, evil)
	page := srv.URL + "/login?customer=cust_evil&next=" + url.QueryEscape("/?autoconnect=1")
	dom := string(runChromium(t, bin, "--dump-dom", page))

	if !strings.Contains(dom, "<title>Demo SaaS: integrations</title>") || strings.Contains(dom, "pwned</title>") {
		t.Fatalf("the title changed: injected code ran:\n%s", dom)
	}
	if n := strings.Count(strings.ToLower(dom), "<img"); n != 0 {
		t.Fatalf("%d injected <img> elements:\n%s", n, dom)
	}
	if n := strings.Count(strings.ToLower(dom), "<script"); n != 3 {
		t.Fatalf("%d script elements, want the page's 3:\n%s", n, dom)
	}
	m := reConnected.FindStringSubmatch(dom)
	if m == nil || m[1] != "connected" {
		t.Fatalf("onConnected did not fire:\n%s", dom)
	}
	var conn struct {
		Connector string `json:"connector"`
	}
	if err := json.Unmarshal([]byte(html.UnescapeString(m[2])), &conn); err != nil || conn.Connector != evilConnector {
		t.Fatalf("the connector name did not reach the widget intact: %q (%v)", conn.Connector, err)
	}
}
