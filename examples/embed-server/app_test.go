package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

const testWebhookSecret = "demo-webhook-secret"

// startApp runs the example against a fresh in-process fake, on loopback.
// customers, when given, replace the demo customers.
func startApp(t *testing.T, customers ...customer) (*app, *httptest.Server, *peliqantest.Fake, *peliqan.PartnerClient) {
	t.Helper()
	fake := peliqantest.NewFake(t)
	p, err := fake.PartnerClient()
	if err != nil {
		t.Fatal(err)
	}
	a, h, err := newApp(config{Partner: p, WidgetScriptURL: StandInScriptPath, WebhookSecret: testWebhookSecret, Customers: customers})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return a, srv, fake, p
}

// browserlessClient keeps cookies like a browser and does not follow
// redirects unless told.
func browserlessClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func post(t *testing.T, c *http.Client, u, body string, hdr map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestPageNeedsLoginAndRendersWidget(t *testing.T) {
	t.Parallel()
	_, srv, _, _ := startApp(t)
	c := browserlessClient(t)

	// Not logged in: the page sends you to the login, keeping where you were.
	noRedirect := *c
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noRedirect.Get(srv.URL + "/?autoconnect=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2F%3Fautoconnect%3D1" {
		t.Fatalf("got %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	code, body := get(t, c, srv.URL+"/login?customer=cust_2002")
	if code != 200 {
		t.Fatalf("login: %d", code)
	}
	for _, want := range []string{
		`<script type="module" src="/static/peliqan-standin.js"></script>`,
		`<div id="peliqan-integration-button">Add connection</div>`,
		`const options = {"availableConnectors":["exact_online"]};`,
		`options.onConnected = (data) => handleOnConnected(data);`,
		`await fetch("/api/peliqan/token"`,
		`data-external-id="cust_2002"`,
		`<a href="/events">Your webhook events</a>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(body, "integrationToken = \"") {
		t.Error("the page must not embed a token: it fetches one")
	}

	code, js := get(t, c, srv.URL+StandInScriptPath)
	if code != 200 || !strings.Contains(js, "globalThis.Peliqan = Peliqan") {
		t.Fatalf("stand-in script: %d", code)
	}
}

func TestTokenEndpointUsesTheSession(t *testing.T) {
	t.Parallel()
	a, srv, fake, p := startApp(t)

	anon := browserlessClient(t)
	code, body := post(t, anon, srv.URL+"/api/peliqan/token", `{"external_id":"cust_1001"}`, nil)
	if code != http.StatusUnauthorized || strings.TrimSpace(body) != `{"error":"unauthenticated"}` {
		t.Fatalf("anonymous: %d %s", code, body)
	}

	bob := browserlessClient(t)
	get(t, bob, srv.URL+"/login?customer=cust_2002")
	// The body names Alice; the session is Bob's: Bob's token it is.
	code, body = post(t, bob, srv.URL+"/api/peliqan/token", `{"external_id":"cust_1001"}`, map[string]string{"Content-Type": "application/json"})
	if code != 200 {
		t.Fatalf("token: %d %s", code, body)
	}
	var out struct {
		Token     string `json:"integration_token"`
		ExpiresAt string `json:"expires_at"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil || out.Token == "" || out.ExpiresAt == "" {
		t.Fatalf("token body %s: %v", body, err)
	}
	if got := a.tokenRequests(); len(got) != 1 || got[0] != "cust_2002" {
		t.Fatalf("identified %v", got)
	}
	reqs := integrateRequests(fake)
	if len(reqs) != 1 || reqs[0]["external_id"] != "cust_2002" || reqs[0]["email"] != "bob@woodworks.example" {
		t.Fatalf("integrate requests %v", reqs)
	}
	sa, err := p.GetSubAccount(context.Background(), peliqan.ByExternalID("cust_2002"))
	if err != nil {
		t.Fatalf("the integrate call provisioned the sub-account: %v", err)
	}
	if sa.ExternalID != "cust_2002" {
		t.Fatalf("sub-account %+v", sa)
	}
	if _, err := p.GetSubAccount(context.Background(), peliqan.ByExternalID("cust_1001")); err == nil {
		t.Fatal("Alice was never provisioned by Bob's request")
	}

	code, _ = get(t, bob, srv.URL+"/api/peliqan/token")
	if code != http.StatusMethodNotAllowed {
		t.Fatalf("GET token: %d", code)
	}
}

// integrateRequests returns the JSON bodies of the integrate calls the fake
// received.
func integrateRequests(fake *peliqantest.Fake) []map[string]any {
	var out []map[string]any
	for _, r := range fake.Requests() {
		if r.Route != peliqan.RouteIntegrationToken {
			continue
		}
		var m map[string]any
		_ = json.Unmarshal(r.Body, &m)
		out = append(out, m)
	}
	return out
}

func TestWebhookEndpoint(t *testing.T) {
	t.Parallel()
	_, srv, _, _ := startApp(t)
	c := browserlessClient(t)

	body := `{"event":"connection_added","server_id":1001,"external_id":"cust_1001"}`
	code, _ := post(t, c, srv.URL+"/webhooks/peliqan", body,
		map[string]string{peliqan.DefaultWebhookSignatureHeader: peliqan.SignWebhook(testWebhookSecret, []byte(body))})
	if code != http.StatusNoContent {
		t.Fatalf("signed webhook: %d", code)
	}
	code, resp := post(t, c, srv.URL+"/webhooks/peliqan", `{"event":"connection_removed"}`,
		map[string]string{peliqan.DefaultWebhookSignatureHeader: peliqan.SignWebhook("wrong", []byte(`{"event":"connection_removed"}`))})
	if code != http.StatusUnauthorized || strings.TrimSpace(resp) != `{"error":"invalid_signature"}` {
		t.Fatalf("forged webhook: %d %s", code, resp)
	}

	get(t, c, srv.URL+"/login?customer=cust_1001")
	code, resp = get(t, c, srv.URL+"/events")
	var evs []receivedEvent
	if err := json.Unmarshal([]byte(resp), &evs); err != nil || code != 200 {
		t.Fatalf("events: %d %s", code, resp)
	}
	if len(evs) != 1 || evs[0].Type != peliqan.WebhookConnectionAdded || !evs[0].Known {
		t.Fatalf("events %+v", evs)
	}
}

// sendWebhook posts body to the app's webhook endpoint, signed as Peliqan
// would sign it, and fails the test unless it is accepted.
func sendWebhook(t *testing.T, srv *httptest.Server, body string) {
	t.Helper()
	code, resp := post(t, http.DefaultClient, srv.URL+"/webhooks/peliqan", body,
		map[string]string{peliqan.DefaultWebhookSignatureHeader: peliqan.SignWebhook(testWebhookSecret, []byte(body))})
	if code != http.StatusNoContent {
		t.Fatalf("webhook %s: %d %s", body, code, resp)
	}
}

// eventsOf logs in as customer and returns the payloads /events shows them.
func eventsOf(t *testing.T, srv *httptest.Server, customer string) []string {
	t.Helper()
	c := browserlessClient(t)
	get(t, c, srv.URL+"/login?customer="+customer)
	code, resp := get(t, c, srv.URL+"/events")
	var evs []receivedEvent
	if err := json.Unmarshal([]byte(resp), &evs); err != nil || code != 200 {
		t.Fatalf("events for %s: %d %s", customer, code, resp)
	}
	var out []string
	for _, ev := range evs {
		out = append(out, string(ev.Payload))
	}
	return out
}

// Each customer sees only the events whose payload names them; an event
// that names no customer of this app is shown to nobody.
func TestEventsShowEachCustomerOnlyItsOwn(t *testing.T) {
	t.Parallel()
	_, srv, _, _ := startApp(t)

	alice := `{"event":"connection_added","server_id":1001,"external_id":"cust_1001","note":"alice-secret"}`
	bob := `{"event":"pipeline_run_error","server_id":2002,"external_id":"cust_2002","note":"bob-secret"}`
	unattributable := []string{
		`{"event":"connection_added","server_id":3003,"note":"nobody-1"}`,                             // no external_id
		`{"event":"connection_removed","server_id":3004,"external_id":"cust_9999","note":"nobody-2"}`, // not our customer
		`{"event":"connection_removed","external_id":1001,"note":"nobody-3"}`,                         // not a string
		`[{"external_id":"cust_1001","note":"nobody-4"}]`,                                             // not an object
		`{"event":"connection_added","customer":{"external_id":"cust_1001"},"note":"nobody-5"}`,       // nested: not read
	}
	for _, body := range append([]string{alice, bob}, unattributable...) {
		sendWebhook(t, srv, body)
	}

	if got := eventsOf(t, srv, "cust_1001"); len(got) != 1 || got[0] != alice {
		t.Errorf("Alice sees %q, want only her own event", got)
	}
	if got := eventsOf(t, srv, "cust_2002"); len(got) != 1 || got[0] != bob {
		t.Errorf("Bob sees %q, want only his own event", got)
	}
	for _, who := range []string{"cust_1001", "cust_2002"} {
		for _, ev := range eventsOf(t, srv, who) {
			if strings.Contains(ev, "nobody-") {
				t.Errorf("%s sees the unattributable event %s", who, ev)
			}
		}
	}
}

// One busy customer cannot push another's events out of the list.
func TestEventsAreCappedPerCustomer(t *testing.T) {
	t.Parallel()
	_, srv, _, _ := startApp(t)
	sendWebhook(t, srv, `{"event":"connection_added","external_id":"cust_2002"}`)
	for i := range maxEvents + 5 {
		sendWebhook(t, srv, fmt.Sprintf(`{"event":"pipeline_run_started","external_id":"cust_1001","n":%d}`, i))
	}
	got := eventsOf(t, srv, "cust_1001")
	if len(got) != maxEvents || !strings.Contains(got[len(got)-1], fmt.Sprintf(`"n":%d`, maxEvents+4)) {
		t.Errorf("Alice: %d events, last %q; want the newest %d", len(got), got[len(got)-1], maxEvents)
	}
	if got := eventsOf(t, srv, "cust_2002"); len(got) != 1 {
		t.Errorf("Bob's event was pushed out by Alice's: %q", got)
	}
}

func TestLocalPath(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"":                     "/",
		"/":                    "/",
		"/?autoconnect=1":      "/?autoconnect=1",
		"//evil.example/":      "/",
		"/\\evil.example":      "/",
		"https://evil.example": "/",
		"javascript:alert(1)":  "/",
		"relative":             "/",
	}
	for in, want := range cases {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	cfg, cleanup, err := configFromEnv(env(map[string]string{
		"PELIQAN_PARTNER_TOKEN": "partner-token", "PELIQAN_BASE_URL": "https://acme.peliqan.io",
		"PELIQAN_WEBHOOK_SECRET": "s",
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	cleanup()
	if cfg.WidgetScriptURL != "" || cfg.WebhookSecret != "s" || !strings.Contains(cfg.Partner.String(), "acme.peliqan.io") {
		t.Fatalf("real config %+v", cfg)
	}

	cfg, cleanup, err = configFromEnv(env(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	if cfg.WidgetScriptURL != StandInScriptPath || len(cfg.WebhookSecret) != 48 {
		t.Fatalf("fake config %+v", cfg)
	}
	u, _ := url.Parse(strings.TrimSuffix(strings.TrimPrefix(cfg.Partner.String(), "peliqan.PartnerClient{"), "}"))
	if u == nil || u.Hostname() != "127.0.0.1" {
		t.Fatalf("fake partner client %s", cfg.Partner)
	}

	if _, _, err := configFromEnv(env(map[string]string{"PELIQAN_PARTNER_TOKEN": "t", "PELIQAN_BASE_URL": "http://example.com"}), nil); err == nil {
		t.Fatal("plain http to a remote host is refused")
	}
}
