package peliqan_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// TestWidgetToFirstSyncFlow is the whole path of a new connection, against
// the fake on loopback sockets: the partner mints an integration token for
// the widget; the widget creates an OAuth connection with it; while the
// backend reads the connection (WaitForConnection), the customer "finishes"
// the OAuth window (the fake completes the flow after a delay) and
// Peliqan's connection_added webhook reaches the partner's endpoint
// (verified, de-duplicated: the fake sends it twice); the wait returns the
// connection healthy; and the first sync runs to its end, its pipeline
// webhooks arriving too. Run with -v to see each step.
func TestWidgetToFirstSyncFlow(t *testing.T) {
	t.Parallel()
	const secret = "whsec-flow-0123456789"
	start := time.Now()
	step := func(format string, args ...any) {
		t.Helper()
		t.Logf("%6.3fs  "+format, append([]any{time.Since(start).Seconds()}, args...)...)
	}
	fake := peliqantest.NewFake(t, peliqantest.WithOAuthCompletion(300*time.Millisecond),
		peliqantest.WithSyncDuration(100*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The partner's webhook endpoint.
	events := make(chan *peliqan.WebhookEvent, 16)
	hook, err := peliqan.WebhookHandler(secret, func(_ context.Context, ev *peliqan.WebhookEvent) error {
		events <- ev
		return nil
	}, peliqan.WithWebhookDedupe(nil))
	require.NoError(t, err)
	endpoint := httptest.NewServer(hook)
	t.Cleanup(endpoint.Close)
	require.NoError(t, fake.AddWebhook(endpoint.URL+"/webhooks/peliqan", secret, peliqantest.DeliverTwice()))
	step("webhook endpoint %s registered with the fake (every event delivered twice)", endpoint.URL)
	next := func(want peliqan.WebhookEventType) map[string]any {
		t.Helper()
		select {
		case ev := <-events:
			require.Equal(t, want, ev.Type)
			var m map[string]any
			require.NoError(t, ev.Decode(&m))
			return m
		case <-ctx.Done():
			t.Fatalf("no %s webhook", want)
			return nil
		}
	}

	// 1. The partner's backend mints a token for the widget.
	p, err := fake.PartnerClient()
	require.NoError(t, err)
	tok, err := p.IntegrationToken(ctx, peliqan.Integration{ExternalID: "cust_1001", FirstName: "Alice",
		LastName: "Martin", Email: "alice@acme.example", CompanyName: "Acme Corp"})
	require.NoError(t, err)
	step("1. IntegrationToken for external_id cust_1001: %s", tok)

	// 2. The widget, holding that token, adds an OAuth connection.
	widget, err := peliqan.NewSubAccountClient(tok.Token, peliqan.WithBaseURL(fake.URL()))
	require.NoError(t, err)
	types, err := p.ServerTypes(ctx)
	require.NoError(t, err)
	var hubspot *peliqan.ServerType
	for i := range types {
		if types[i].Name == "hubspot" {
			hubspot = &types[i]
		}
	}
	require.NotNil(t, hubspot)
	created, err := widget.CreateServer(ctx, peliqan.ServerCreate{Type: hubspot})
	require.NoError(t, err)
	require.NotEmpty(t, created.OAuthURL)
	step("2. CreateServer(hubspot) as the widget: connection %s, health %s, oauth_url %s",
		created.ID, created.Server.HealthStatus, created.OAuthURL)
	assert.Equal(t, peliqan.HealthAuthorizing, created.Server.HealthStatus)

	// 3. The customer is in the OAuth window. The partner's backend starts
	// confirming the connection by reading it (as Peliqan's docs say to do
	// when the window closes); meanwhile the customer grants access (the
	// fake finishes the flow after its delay) and Peliqan tells the
	// partner's webhook endpoint.
	sa, err := p.GetSubAccount(ctx, peliqan.ByExternalID("cust_1001"))
	require.NoError(t, err)
	backend, err := p.SubAccount(peliqan.ByAccountID(sa.ID))
	require.NoError(t, err)
	type waited struct {
		st  *peliqan.ConnectionState
		err error
	}
	done := make(chan waited, 1)
	finished := make(chan struct{})
	defer func() { cancel(); <-finished }() // no log from it after the test ends
	go func() {
		defer close(finished)
		st, err := backend.WaitForConnection(ctx, created.ID, &peliqan.ConnectionWaitOptions{
			Schedule: peliqan.FixedSchedule(100 * time.Millisecond),
			Progress: func(s *peliqan.ConnectionState) { step("   WaitForConnection read %d: %s", s.Polls, s.Status) },
		})
		done <- waited{st, err}
	}()
	added := next(peliqan.WebhookConnectionAdded)
	step("3. webhook connection_added verified: server_id %v, external_id %v, health %v",
		added["server_id"], added["external_id"], added["health_status"])
	assert.Equal(t, "cust_1001", added["external_id"])
	assert.EqualValues(t, created.ID, added["server_id"])

	// 4. The backend's wait ends with the connection healthy.
	w := <-done
	require.NoError(t, w.err)
	require.True(t, w.st.Status.IsHealthy())
	assert.Greater(t, w.st.Polls, 1, "it read the connection while the customer was authorising")
	step("4. WaitForConnection: %s after %d read(s), %s", w.st.Status, w.st.Polls, w.st.Elapsed.Round(time.Millisecond))

	// 5. The first sync, followed to its end.
	res, err := backend.SyncServer(ctx, created.ID, nil)
	require.NoError(t, err)
	step("5. SyncServer: task %s, pipeline run %s", res.TaskID, res.RunData[0].PipelineRunID)
	run, err := backend.WaitForSync(ctx, res, &peliqan.WaitOptions{Schedule: peliqan.FixedSchedule(50 * time.Millisecond)})
	require.NoError(t, err)
	require.Equal(t, peliqan.RunCompleted, run.Status)
	var records int64
	for _, tb := range run.Run.Tables {
		records += tb.Records
	}
	step("6. WaitForSync: run %s %s after %d poll(s), %d table(s), %d record(s)",
		run.Run.ID, run.Status, run.Polls, len(run.Run.Tables), records)
	started := next(peliqan.WebhookPipelineRunStarted)
	completed := next(peliqan.WebhookPipelineRunCompleted)
	step("7. webhooks pipeline_run_started (%v) and pipeline_run_completed (%v) for run %v",
		started["status"], completed["status"], completed["pipeline_run_id"])
	assert.EqualValues(t, run.Run.ID, completed["pipeline_run_id"])

	// Every event was delivered twice and handled once.
	require.Eventually(t, func() bool { return len(fake.WebhookDeliveries()) == 6 }, 5*time.Second, 10*time.Millisecond)
	select {
	case ev := <-events:
		t.Fatalf("a repeat reached the handler: %s", ev.Payload)
	default:
	}
	for _, d := range fake.WebhookDeliveries() {
		assert.Equal(t, 204, d.Status)
	}
	step("deliveries: %d (3 events x 2 copies), handled: 3", len(fake.WebhookDeliveries()))
	calls := map[string]int{}
	for _, r := range fake.Requests() {
		calls[r.Route]++
	}
	out, _ := json.Marshal(calls)
	step("requests the fake received, by route: %s", out)
	assert.Equal(t, 1, calls[peliqan.RouteCreateServer])
	assert.Equal(t, 1, calls[peliqan.RouteSyncServer])
	assert.Zero(t, calls[peliqan.RouteReAuthoriseServer])
}
