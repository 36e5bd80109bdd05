package main

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/peliqan-community/peliqan-go"
)

//go:embed static
var staticFiles embed.FS

// StandInScriptPath is where the app serves its stand-in for Peliqan's embed
// script (used with the in-process fake, where the real widget cannot work).
const StandInScriptPath = "/static/peliqan-standin.js"

// customer is one of the demo SaaS's own customers. In a real app this is
// your user/organisation record; ID is what Peliqan knows as external_id.
type customer struct {
	ID, FirstName, LastName, Email, Company string
	// Connectors are the connectors this customer's plan offers.
	Connectors []string
}

var demoCustomers = []customer{
	{ID: "cust_1001", FirstName: "Alice", LastName: "Martin", Email: "alice@acme.example", Company: "Acme Corp",
		Connectors: []string{"hubspot", "exact_online", "teamleader"}},
	{ID: "cust_2002", FirstName: "Bob", LastName: "Peeters", Email: "bob@woodworks.example", Company: "Woodworks BV",
		Connectors: []string{"exact_online"}},
}

// config is what the app needs from main (or from a test).
type config struct {
	Partner *peliqan.PartnerClient
	// WidgetScriptURL is the embed script; "" means Peliqan's own.
	WidgetScriptURL string
	// WebhookSecret is the signing secret set in Peliqan's webhook settings.
	WebhookSecret string
	Logger        *slog.Logger
	// Customers replaces the demo customers (tests use it).
	Customers []customer
}

// app is a tiny SaaS backend: a demo login, the integrations page with the
// "Add connection" button, the token endpoint and the webhook endpoint.
type app struct {
	cfg       config
	customers map[string]customer

	mu       sync.Mutex
	sessions map[string]string // session id -> customer id
	tokenFor []string          // customer ids the token endpoint served, in order
	// events holds each customer's last webhook events, newest last. Events
	// that belong to no customer (see eventOwner) are not kept.
	events map[string][]receivedEvent
}

type receivedEvent struct {
	Type       peliqan.WebhookEventType `json:"type"`
	Known      bool                     `json:"known"`
	ReceivedAt time.Time                `json:"received_at"`
	Payload    json.RawMessage          `json:"payload"`
}

const (
	sessionCookie = "demo_session"
	maxEvents     = 50 // per customer
)

func newApp(cfg config) (*app, http.Handler, error) {
	if cfg.Partner == nil {
		return nil, nil, errors.New("embed-server: no partner client")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Customers == nil {
		cfg.Customers = demoCustomers
	}
	a := &app{cfg: cfg, customers: map[string]customer{}, sessions: map[string]string{}, events: map[string][]receivedEvent{}}
	for _, c := range cfg.Customers {
		a.customers[c.ID] = c
	}
	static, err := fs.Sub(staticFiles, "static")
	if err != nil {
		return nil, nil, err
	}
	var tokenOpts []peliqan.TokenHandlerOption
	if cfg.Logger != nil {
		tokenOpts = append(tokenOpts, peliqan.WithTokenHandlerLogger(cfg.Logger))
	}
	tokens, err := peliqan.IntegrationTokenHandler(cfg.Partner, a.identify, tokenOpts...)
	if err != nil {
		return nil, nil, err
	}
	// Peliqan may deliver an event more than once: WithWebhookDedupe hands
	// each distinct event to onWebhook once (in memory, per process).
	webhooks, err := peliqan.WebhookHandler(cfg.WebhookSecret, a.onWebhook, peliqan.WithWebhookDedupe(nil))
	if err != nil {
		return nil, nil, fmt.Errorf("webhook endpoint: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.page)
	mux.HandleFunc("GET /login", a.login)
	mux.HandleFunc("GET /logout", a.logout)
	mux.Handle("/api/peliqan/token", tokens)
	mux.Handle("/webhooks/peliqan", webhooks)
	mux.HandleFunc("GET /events", a.listEvents)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	return a, securityHeaders(mux), nil
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

// current returns the logged-in customer, from the session cookie only.
func (a *app) current(r *http.Request) (customer, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return customer{}, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	id, ok := a.sessions[c.Value]
	if !ok {
		return customer{}, false
	}
	return a.customers[id], true
}

// identify is the IntegrationTokenHandler hook: the session decides who the
// customer is; nothing the page sends does.
func (a *app) identify(r *http.Request) (peliqan.Integration, error) {
	c, ok := a.current(r)
	if !ok {
		return peliqan.Integration{}, errors.New("no session")
	}
	a.mu.Lock()
	a.tokenFor = append(a.tokenFor, c.ID)
	a.mu.Unlock()
	return peliqan.Integration{ExternalID: c.ID, FirstName: c.FirstName, LastName: c.LastName,
		Email: c.Email, CompanyName: c.Company}, nil
}

// tokenRequests lists the customers the token endpoint identified.
func (a *app) tokenRequests() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.tokenFor...)
}

// login is a demo login: /login?customer=cust_1001[&next=/path]. A real app
// has its own authentication; only the session it creates matters here.
func (a *app) login(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("customer")
	if _, ok := a.customers[id]; !ok {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = loginPage.Execute(w, a.cfg.Customers)
		return
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	sid := hex.EncodeToString(b[:])
	a.mu.Lock()
	a.sessions[sid] = id
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: sid, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil})
	http.Redirect(w, r, localPath(r.URL.Query().Get("next")), http.StatusSeeOther)
}

// localPath keeps a redirect target on this site.
func localPath(next string) string {
	u, err := url.Parse(next)
	if err != nil || next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.HasPrefix(next, "/\\") || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return u.RequestURI()
}

func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		a.mu.Lock()
		delete(a.sessions, c.Value)
		a.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// page is the integrations page with the "Add connection" button.
func (a *app) page(w http.ResponseWriter, r *http.Request) {
	c, ok := a.current(r)
	if !ok {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	widget, err := peliqan.Widget(peliqan.WidgetConfig{
		TokenURL:            "/api/peliqan/token",
		AvailableConnectors: c.Connectors,
		OnConnected:         "handleOnConnected",
		ButtonText:          "Add connection",
		ScriptURL:           a.cfg.WidgetScriptURL,
	})
	if err != nil {
		a.cfg.Logger.Error("rendering the widget", "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := integrationsPage.Execute(w, map[string]any{"Customer": c, "Widget": widget}); err != nil {
		a.cfg.Logger.Error("rendering the page", "error", err)
	}
}

// eventOwner returns the customer a webhook event belongs to: the one whose
// ID the payload's top-level "external_id" string names (the ID this app
// gives Peliqan for the customer in every integrate call). Peliqan does not
// document the payload shape, and the IDs of Peliqan's own a payload may
// carry (a server_id, a pipeline run) say nothing about the customer without
// asking Peliqan. So external_id is the one field this
// example attributes by, and an event without it, or naming no customer of
// this app, belongs to nobody and is shown to nobody. If your payloads name
// the sub-account another way, map that to your customer here by asking
// Peliqan (for example which sub-account owns the server), never by
// guessing: this decides who sees what.
func (a *app) eventOwner(ev *peliqan.WebhookEvent) (string, bool) {
	var body struct {
		ExternalID json.RawMessage `json:"external_id"`
	}
	var id string
	if ev.Decode(&body) != nil || json.Unmarshal(body.ExternalID, &id) != nil {
		return "", false
	}
	if _, ok := a.customers[id]; !ok {
		return "", false
	}
	return id, true
}

func (a *app) onWebhook(ctx context.Context, ev *peliqan.WebhookEvent) error {
	owner, ok := a.eventOwner(ev)
	if !ok {
		// Accepted (Peliqan need not deliver it again) but kept for nobody.
		a.cfg.Logger.WarnContext(ctx, "peliqan webhook names no customer of this app: shown to nobody",
			"type", string(ev.Type), "known", ev.Type.IsKnown())
		return nil
	}
	a.cfg.Logger.InfoContext(ctx, "peliqan webhook", "type", string(ev.Type), "known", ev.Type.IsKnown(), "customer", owner)
	a.mu.Lock()
	defer a.mu.Unlock()
	evs := append(a.events[owner], receivedEvent{Type: ev.Type, Known: ev.Type.IsKnown(), ReceivedAt: time.Now().UTC(), Payload: ev.Payload})
	if len(evs) > maxEvents {
		evs = append([]receivedEvent(nil), evs[len(evs)-maxEvents:]...)
	}
	a.events[owner] = evs
	return nil
}

// listEvents shows the logged-in customer its own events only.
func (a *app) listEvents(w http.ResponseWriter, r *http.Request) {
	c, ok := a.current(r)
	if !ok {
		http.Error(w, "log in first", http.StatusUnauthorized)
		return
	}
	a.mu.Lock()
	evs := append([]receivedEvent{}, a.events[c.ID]...)
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(evs)
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Demo SaaS: sign in</title></head>
<body style="font-family: system-ui, sans-serif; margin: 3rem">
<h1>Demo SaaS</h1>
<p>Sign in as one of the demo customers:</p>
<ul>{{range .}}
<li><a href="/login?customer={{.ID}}">{{.FirstName}} {{.LastName}} ({{.Company}})</a></li>{{end}}
</ul>
</body></html>
`))

var integrationsPage = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Demo SaaS: integrations</title>
<style>
body { font-family: system-ui, sans-serif; margin: 0; color: #1d2330; }
header { background: #1d2330; color: #fff; padding: .8rem 2rem; }
header a { color: #9cc3ff; }
main { padding: 1.5rem 2rem; }
#peliqan-integration-button { display: inline-block; background: #3355ff; color: #fff; padding: .7rem 1.3rem;
  border-radius: 6px; cursor: pointer; font-weight: 600; }
#peliqan-standin-modal { margin-top: 1rem; border: 1px solid #c9d3e6; border-radius: 8px; padding: .5rem 1rem; background: #f4f7fc; }
pre { background: #f6f6f6; padding: 1rem; border-radius: 6px; }
</style></head>
<body>
<header>Signed in as <strong id="customer" data-external-id="{{.Customer.ID}}">{{.Customer.FirstName}} {{.Customer.LastName}}</strong>
({{.Customer.Company}}) &middot; <a href="/logout">switch customer</a></header>
<main>
<h1>Integrations</h1>
<p>Connect the tools your team already uses; their data is synced for you.</p>
{{.Widget}}
<h2>Last connection</h2>
<pre id="connected" data-state="waiting">none yet</pre>
<h2>Events</h2>
<p><a href="/events">Your webhook events</a>: the last Peliqan webhooks whose payload names your
customer ID ({{.Customer.ID}}) as <code>external_id</code>. Events that name no customer are
shown to nobody.</p>
</main>
<script>
const handleOnConnected = (connection) => {
  const el = document.getElementById("connected");
  el.textContent = JSON.stringify(connection, null, 2);
  el.dataset.state = "connected";
};
</script>
</body></html>
`))
