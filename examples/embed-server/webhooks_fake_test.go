package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// widgetConnects does what the widget does for the logged-in customer c:
// fetches an integration token from the app's token endpoint, then creates
// a connection of connector name with it, against the fake.
func widgetConnects(t *testing.T, srv *httptest.Server, fake *peliqantest.Fake, c *http.Client, name string, fields map[string]any) *peliqan.ServerCreated {
	t.Helper()
	code, body := post(t, c, srv.URL+"/api/peliqan/token", `{}`, map[string]string{"Content-Type": "application/json"})
	if code != http.StatusOK {
		t.Fatalf("token: %d %s", code, body)
	}
	var tok struct {
		Token string `json:"integration_token"`
	}
	if err := json.Unmarshal([]byte(body), &tok); err != nil || tok.Token == "" {
		t.Fatalf("token body %s: %v", body, err)
	}
	widget, err := peliqan.NewSubAccountClient(tok.Token, peliqan.WithBaseURL(fake.URL()))
	if err != nil {
		t.Fatal(err)
	}
	p, err := fake.PartnerClient()
	if err != nil {
		t.Fatal(err)
	}
	types, err := p.ServerTypes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var typeID peliqan.ID
	for _, st := range types {
		if st.Name == name {
			typeID = st.ID
		}
	}
	created, err := widget.CreateServer(context.Background(), peliqan.ServerCreate{ServerTypeID: typeID, Fields: fields})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return created
}

// eventsNow returns the events /events shows the customer logged in on c.
func eventsNow(t *testing.T, srv *httptest.Server, c *http.Client) []receivedEvent {
	t.Helper()
	code, resp := get(t, c, srv.URL+"/events")
	var evs []receivedEvent
	if err := json.Unmarshal([]byte(resp), &evs); err != nil || code != http.StatusOK {
		t.Fatalf("events: %d %s", code, resp)
	}
	return evs
}

// TestFakeWebhooksReachTheRightCustomer: the fake sends its real
// connection_added webhooks (signed, each delivered twice) to the app's
// endpoint. Alice's OAuth connection, finished by the fake after a delay,
// and Bob's API-key connection each show up once, for their own customer
// only: the app verifies the signature, drops the repeat, and attributes
// the event by the payload's external_id.
func TestFakeWebhooksReachTheRightCustomer(t *testing.T) {
	t.Parallel()
	fake := peliqantest.NewFake(t, peliqantest.WithOAuthCompletion(100*time.Millisecond))
	p, err := fake.PartnerClient()
	if err != nil {
		t.Fatal(err)
	}
	_, h, err := newApp(config{Partner: p, WidgetScriptURL: StandInScriptPath, WebhookSecret: testWebhookSecret})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	hook := srv.URL + "/webhooks/peliqan"
	if err := fake.AddWebhook(hook, testWebhookSecret, peliqantest.DeliverTwice(),
		peliqantest.DeliverOnly(peliqan.WebhookConnectionAdded)); err != nil {
		t.Fatal(err)
	}
	// A second registration signs with another secret: the app must refuse
	// every one of those deliveries.
	if err := fake.AddWebhook(hook, "not-the-app-secret", peliqantest.DeliverOnly(peliqan.WebhookConnectionAdded)); err != nil {
		t.Fatal(err)
	}

	alice, bob := browserlessClient(t), browserlessClient(t)
	get(t, alice, srv.URL+"/login?customer=cust_1001")
	get(t, bob, srv.URL+"/login?customer=cust_2002")

	aliceConn := widgetConnects(t, srv, fake, alice, "hubspot", nil)
	if aliceConn.OAuthURL == "" {
		t.Fatal("an OAuth connector answers with an oauth_url")
	}
	bobConn := widgetConnects(t, srv, fake, bob, "pipedrive", map[string]any{"api_token": "bob-token"})

	// Bob's event comes at once; Alice's when the fake finishes her OAuth
	// flow (no request needed).
	deadline := time.Now().Add(10 * time.Second)
	for len(eventsNow(t, srv, alice)) == 0 || len(eventsNow(t, srv, bob)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("events: alice %v, bob %v; deliveries %+v", eventsNow(t, srv, alice), eventsNow(t, srv, bob), fake.WebhookDeliveries())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Let the repeats and the forged copies arrive too.
	for len(fake.WebhookDeliveries()) < 6 {
		if time.Now().After(deadline) {
			t.Fatalf("deliveries %+v", fake.WebhookDeliveries())
		}
		time.Sleep(10 * time.Millisecond)
	}

	check := func(who string, evs []receivedEvent, want *peliqan.ServerCreated, ext string) {
		t.Helper()
		if len(evs) != 1 {
			t.Fatalf("%s sees %d events, want exactly its own one: %+v", who, len(evs), evs)
		}
		ev := evs[0]
		var body struct {
			Event      string     `json:"event"`
			ServerID   peliqan.ID `json:"server_id"`
			ExternalID string     `json:"external_id"`
			Health     string     `json:"health_status"`
		}
		if err := json.Unmarshal(ev.Payload, &body); err != nil {
			t.Fatal(err)
		}
		if ev.Type != peliqan.WebhookConnectionAdded || !ev.Known || body.ServerID != want.ID ||
			body.ExternalID != ext || body.Health != "OK" {
			t.Errorf("%s sees %s", who, ev.Payload)
		}
	}
	check("Alice", eventsNow(t, srv, alice), aliceConn, "cust_1001")
	check("Bob", eventsNow(t, srv, bob), bobConn, "cust_2002")

	var ok, refused int
	for _, d := range fake.WebhookDeliveries() {
		switch {
		case d.Status == http.StatusNoContent:
			ok++
		case d.Status == http.StatusUnauthorized && strings.Contains(d.URL, "/webhooks/peliqan"):
			refused++
		default:
			t.Errorf("delivery %+v", d)
		}
	}
	if ok != 4 || refused != 2 {
		t.Errorf("%d deliveries accepted (want 2 events x 2 copies), %d refused (want the 2 wrongly signed)", ok, refused)
	}
}
