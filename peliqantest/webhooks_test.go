package peliqantest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/internal/routes"
)

const hookSecret = "whsec-test-0123456789"

// hookSink is a loopback endpoint that verifies each webhook with the SDK
// and keeps what it received, in arrival order.
type hookSink struct {
	srv    *httptest.Server
	mu     sync.Mutex
	events []map[string]any
	raw    [][]byte
	got    chan struct{}
	// answer, when set, decides the status of the n-th request (from 1).
	answer func(n int) int
	n      atomic.Int32
}

func newHookSink(t *testing.T, secret string) *hookSink {
	t.Helper()
	k := &hookSink{got: make(chan struct{}, 1000)}
	k.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(k.n.Add(1))
		ev, err := peliqan.VerifyWebhook(secret, "", r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		if k.answer != nil {
			if code := k.answer(n); code/100 != 2 {
				w.WriteHeader(code)
				return
			}
		}
		var m map[string]any
		_ = json.Unmarshal(ev.Payload, &m)
		assert.Equal(t, string(ev.Type), m["event"])
		k.mu.Lock()
		k.events = append(k.events, m)
		k.raw = append(k.raw, ev.Payload)
		k.mu.Unlock()
		k.got <- struct{}{}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(k.srv.Close)
	return k
}

// wait blocks until n events have been received (or fails after 5 s).
func (k *hookSink) wait(t *testing.T, n int) []map[string]any {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		k.mu.Lock()
		if len(k.events) >= n {
			out := append([]map[string]any(nil), k.events...)
			k.mu.Unlock()
			return out
		}
		k.mu.Unlock()
		select {
		case <-k.got:
		case <-deadline:
			k.mu.Lock()
			defer k.mu.Unlock()
			t.Fatalf("got %d webhooks, want %d: %v", len(k.events), n, k.events)
		}
	}
}

func types(evs []map[string]any) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i], _ = e["event"].(string)
	}
	return out
}

// TestWebhooksForTheWholeLifecycle: every event the fake has, signed so
// that peliqan.VerifyWebhook accepts it, with the documented type names and
// the customer's external_id, in the order things happened, and sent
// without any request to make them due (the OAuth completion and the run's
// end happen on timers once a webhook is registered).
func TestWebhooksForTheWholeLifecycle(t *testing.T) {
	t.Parallel()
	srv := NewFake(t, WithSyncDuration(30*time.Millisecond), WithOAuthCompletion(30*time.Millisecond))
	sa := seedOne(t, srv, 2)
	k := newHookSink(t, hookSecret)
	require.NoError(t, srv.AddWebhook(k.srv.URL+"/hooks", hookSecret))
	c := newTC(t, srv)
	tok := c.tenantToken("acme")
	types0 := typeIDs(t, c)

	pd := id(c.ok(routes.CreateServer, tok, nil, map[string]any{"servertype_id": types0["pipedrive"], "api_token": "k", "name": "CRM 2"}).json(t)["id"])
	evs := k.wait(t, 1)
	hs := id(c.ok(routes.CreateServer, tok, nil, map[string]any{"servertype_id": types0["hubspot"]}).json(t)["id"])
	evs = k.wait(t, 2) // no request: the completion's timer
	run := c.ok(routes.SyncServer, tok, nil, nil, pd).json(t)["run_data"].([]any)[0].(map[string]any)
	evs = k.wait(t, 4) // started, then completed (the run's end: a timer)
	c.ok(routes.DeleteServer, tok, nil, nil, hs)
	evs = k.wait(t, 5)

	assert.Equal(t, []string{"connection_added", "connection_added", "pipeline_run_started", "pipeline_run_completed",
		"connection_removed"}, types(evs))
	for _, e := range evs {
		assert.Equal(t, "acme", e["external_id"])
		assert.EqualValues(t, sa.ID, e["account_id"])
		assert.NotEmpty(t, e["timestamp"])
	}
	assert.Equal(t, pd, id(evs[0]["server_id"]))
	assert.Equal(t, "CRM 2", evs[0]["server_name"])
	assert.Equal(t, "pipedrive", evs[0]["server_type"])
	assert.Equal(t, "OK", evs[0]["health_status"])
	assert.Equal(t, hs, id(evs[1]["server_id"]))
	assert.Equal(t, "OK", evs[1]["health_status"], "sent when the OAuth flow finished")
	assert.Equal(t, id(run["pipeline_run_id"]), id(evs[2]["pipeline_run_id"]))
	assert.Equal(t, "RUNNING", evs[2]["status"])
	assert.Nil(t, evs[2]["timestamp_end"])
	assert.Equal(t, "COMPLETED", evs[3]["status"])
	assert.NotNil(t, evs[3]["timestamp_end"])
	assert.Equal(t, run["task_id"], evs[3]["task_id"])
	assert.Equal(t, hs, id(evs[4]["server_id"]))
	assert.NotContains(t, evs[4], "pipeline_run_id", "connection events have their own shape")
	assert.NotContains(t, evs[3], "health_status", "pipeline events carry the run's status instead")

	require.Eventually(t, func() bool { return len(srv.WebhookDeliveries()) == 5 }, 5*time.Second, time.Millisecond)
	for _, d := range srv.WebhookDeliveries() {
		assert.Equal(t, http.StatusNoContent, d.Status)
		assert.Equal(t, 1, d.Attempt)
		assert.Equal(t, 1, d.Copy)
		assert.Equal(t, k.srv.URL+"/hooks", d.URL)
	}
}

// TestWebhookOutcomes: each run outcome has its event type; an event that
// happens before AddWebhook is not sent.
func TestWebhookOutcomes(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t)
	c, tok := f.c, f.tok
	c.ok(routes.SyncServer, tok, nil, nil, f.server) // before any webhook
	f.clk.Advance(time.Minute)
	c.ok(routes.ListServers, tok, nil, nil)

	k := newHookSink(t, hookSecret)
	require.NoError(t, f.srv.AddWebhook(k.srv.URL, hookSecret, DeliverOnly(peliqan.WebhookPipelineRunCompleted,
		peliqan.WebhookPipelineRunCompletedWithErrors, peliqan.WebhookPipelineRunError)))
	for _, o := range []RunOutcome{OutcomeCompletedWithErrors, OutcomeError, OutcomeCompleted} {
		require.NoError(t, f.srv.SetSyncOutcome(f.sa.Connections[0].ID, o))
		c.ok(routes.SyncServer, tok, nil, nil, f.server)
		f.clk.Advance(time.Minute) // the manual clock: the run ends on the next request
		c.ok(routes.ListServers, tok, nil, nil)
	}
	evs := k.wait(t, 3)
	assert.Equal(t, []string{"pipeline_run_completed_with_errors", "pipeline_run_error", "pipeline_run_completed"}, types(evs))
	assert.Equal(t, []any{"COMPLETED_WITH_ERRORS", "ERROR", "COMPLETED"}, []any{evs[0]["status"], evs[1]["status"], evs[2]["status"]})
	time.Sleep(50 * time.Millisecond)
	assert.Len(t, f.srv.WebhookDeliveries(), 3, "nothing else: the first sync's events were never sent, started is filtered")
}

// TestWebhookTwiceLateOutOfOrder: the delivery knobs a handler must
// survive.
func TestWebhookTwiceLateOutOfOrder(t *testing.T) {
	t.Parallel()
	t.Run("twice", func(t *testing.T) {
		t.Parallel()
		f := newSyncFixture(t)
		k := newHookSink(t, hookSecret)
		require.NoError(t, f.srv.AddWebhook(k.srv.URL, hookSecret, DeliverTwice()))
		f.c.ok(routes.CreateServer, f.tok, nil, map[string]any{"servertype_id": typeIDs(t, f.c)["postgresql"],
			"host": "h", "port": 5432, "database": "d", "username": "u", "password": "p"})
		evs := k.wait(t, 2)
		assert.Equal(t, evs[0], evs[1])
		k.mu.Lock()
		assert.Equal(t, k.raw[0], k.raw[1], "the same bytes, so the same signature")
		k.mu.Unlock()
		require.Eventually(t, func() bool { return len(f.srv.WebhookDeliveries()) == 2 }, 5*time.Second, time.Millisecond)
		ds := f.srv.WebhookDeliveries()
		assert.Equal(t, []int{1, 2}, []int{ds[0].Copy, ds[1].Copy})
	})
	t.Run("late", func(t *testing.T) {
		t.Parallel()
		f := newSyncFixture(t)
		k := newHookSink(t, hookSecret)
		require.NoError(t, f.srv.AddWebhook(k.srv.URL, hookSecret, DeliverLate(150*time.Millisecond)))
		start := time.Now()
		f.c.ok(routes.DeleteServer, f.tok, nil, nil, f.server)
		k.wait(t, 1)
		assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)
	})
	t.Run("out of order", func(t *testing.T) {
		t.Parallel()
		f := newSyncFixture(t)
		k := newHookSink(t, hookSecret)
		require.NoError(t, f.srv.AddWebhook(k.srv.URL, hookSecret, DeliverOutOfOrder(500*time.Millisecond)))
		f.c.ok(routes.SyncServer, f.tok, nil, nil, f.server)
		f.clk.Advance(time.Minute)
		f.c.ok(routes.ListServers, f.tok, nil, nil)
		assert.Equal(t, []string{"pipeline_run_completed", "pipeline_run_started"}, types(k.wait(t, 2)))
	})
}

// TestWebhookRetriesAndHeader: a non-2xx answer is retried when asked; the
// signature goes in the header named; an empty secret sends unsigned.
func TestWebhookRetriesAndHeader(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t)
	k := newHookSink(t, hookSecret)
	k.answer = func(n int) int {
		if n == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	}
	require.NoError(t, f.srv.AddWebhook(k.srv.URL, hookSecret, DeliverRetries(2, time.Millisecond)))
	f.c.ok(routes.DeleteServer, f.tok, nil, nil, f.server)
	k.wait(t, 1)
	require.Eventually(t, func() bool { return len(f.srv.WebhookDeliveries()) == 2 }, 5*time.Second, time.Millisecond)
	ds := f.srv.WebhookDeliveries()
	assert.Equal(t, []int{500, 204}, []int{ds[0].Status, ds[1].Status})
	assert.Equal(t, []int{1, 2}, []int{ds[0].Attempt, ds[1].Attempt})

	var mu sync.Mutex
	var hdrs []http.Header
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hdrs = append(hdrs, r.Header.Clone())
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(other.Close)
	f2 := newSyncFixture(t)
	require.NoError(t, f2.srv.AddWebhook(other.URL, hookSecret, DeliverHeader("X-Signature")))
	require.NoError(t, f2.srv.AddWebhook(other.URL, ""))
	f2.c.ok(routes.DeleteServer, f2.tok, nil, nil, f2.server)
	require.Eventually(t, func() bool { return len(f2.srv.WebhookDeliveries()) == 2 }, 5*time.Second, 5*time.Millisecond)
	ds = f2.srv.WebhookDeliveries()
	assert.Equal(t, ds[0].Body, ds[1].Body)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, hdrs, 2)
	var signed, unsigned int
	for _, h := range hdrs {
		assert.Equal(t, "application/json", h.Get("Content-Type"))
		assert.Empty(t, h.Get(peliqan.DefaultWebhookSignatureHeader))
		if sig := h.Get("X-Signature"); sig != "" {
			assert.NoError(t, peliqan.VerifyWebhookSignature(hookSecret, ds[0].Body, sig))
			signed++
		} else {
			unsigned++
		}
	}
	assert.Equal(t, []int{1, 1}, []int{signed, unsigned}, "one signed in X-Signature, one unsigned")
}

func TestAddWebhookRefuses(t *testing.T) {
	t.Parallel()
	srv := NewFake(t)
	for _, u := range []string{"https://example.com/hook", "http://10.0.0.1/hook", "ftp://127.0.0.1/x", "not a url", "http:///x"} {
		assert.Error(t, srv.AddWebhook(u, "s"), u)
	}
	for name, o := range map[string]DeliveryOption{
		"late":     DeliverLate(0),
		"reorder":  DeliverOutOfOrder(-1),
		"only":     DeliverOnly(),
		"unknown":  DeliverOnly("connection_exploded"),
		"retries":  DeliverRetries(-1, 0),
		"header":   DeliverHeader("Bad Header"),
		"client":   DeliverWithClient(nil),
		"negative": DeliverRetries(1, -time.Second),
	} {
		assert.Error(t, srv.AddWebhook("http://127.0.0.1:1/x", "s", o), name)
	}
	require.NoError(t, srv.AddWebhook("http://localhost:1/x", "s"))
	require.NoError(t, srv.AddWebhook("http://[::1]:1/x", "s"))
	srv.Close()
	assert.Error(t, srv.AddWebhook("http://127.0.0.1:1/x", "s"), "closed")
}

// TestCloseStopsDeliveries: an endpoint that never answers does not hold
// Close up, and no goroutine survives it (TestMain's goleak check).
func TestCloseStopsDeliveries(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	entered := make(chan struct{}, 10)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(release)
	f := newSyncFixture(t)
	require.NoError(t, f.srv.AddWebhook(hang.URL, hookSecret, DeliverRetries(5, time.Hour)))
	f.c.ok(routes.DeleteServer, f.tok, nil, nil, f.server)
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("no delivery")
	}
	done := make(chan struct{})
	go func() { f.srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waits for a delivery that never ends")
	}
	ds := f.srv.WebhookDeliveries()
	require.Len(t, ds, 1)
	assert.Contains(t, ds[0].Err, context.Canceled.Error())
}
