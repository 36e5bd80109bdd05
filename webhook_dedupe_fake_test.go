package peliqan_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

const hookSecret = "whsec-e2e-0123456789"

// hookEndpoint is a loopback server running a WebhookHandler, counting the
// events its fn saw (by type) and the keys, in order.
type hookEndpoint struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []*peliqan.WebhookEvent
	// fail, when set, decides whether fn fails for this event.
	fail func(ev *peliqan.WebhookEvent, n int) bool
	n    int
}

func newHookEndpoint(t *testing.T, opts ...peliqan.WebhookOption) *hookEndpoint {
	t.Helper()
	e := &hookEndpoint{}
	h, err := peliqan.WebhookHandler(hookSecret, func(_ context.Context, ev *peliqan.WebhookEvent) error {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.n++
		if e.fail != nil && e.fail(ev, e.n) {
			return errors.New("not now")
		}
		e.seen = append(e.seen, ev)
		return nil
	}, opts...)
	require.NoError(t, err)
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	return e
}

func (e *hookEndpoint) events() []*peliqan.WebhookEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]*peliqan.WebhookEvent(nil), e.seen...)
}

func eventTypes(evs []*peliqan.WebhookEvent) []peliqan.WebhookEventType {
	out := make([]peliqan.WebhookEventType, len(evs))
	for i, ev := range evs {
		out[i] = ev.Type
	}
	return out
}

// deliveriesTo waits until the fake has made n delivery attempts to url.
func deliveriesTo(t *testing.T, fake *peliqantest.Fake, url string, n int) []peliqantest.WebhookDelivery {
	t.Helper()
	var out []peliqantest.WebhookDelivery
	require.Eventually(t, func() bool {
		out = out[:0]
		for _, d := range fake.WebhookDeliveries() {
			if d.URL == url {
				out = append(out, d)
			}
		}
		return len(out) >= n
	}, 10*time.Second, 5*time.Millisecond, "deliveries to %s", url)
	return out
}

// TestWebhookDedupeEndToEnd: the fake delivers every event twice over real
// sockets. The handler without WithWebhookDedupe runs twice per event; the
// one with it runs once per distinct event, and answers the repeats 204.
func TestWebhookDedupeEndToEnd(t *testing.T) {
	t.Parallel()
	fake, c, sa := lifecycleFake(t, peliqantest.WithSyncDuration(20*time.Millisecond))
	plain := newHookEndpoint(t)
	once := newHookEndpoint(t, peliqan.WithWebhookDedupe(nil))
	require.NoError(t, fake.AddWebhook(plain.srv.URL, hookSecret, peliqantest.DeliverTwice()))
	require.NoError(t, fake.AddWebhook(once.srv.URL, hookSecret, peliqantest.DeliverTwice()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	created, err := c.CreateServer(ctx, peliqan.ServerCreate{ServerTypeID: serverTypeID(t, fake, "pipedrive"),
		Fields: map[string]any{"api_token": "k"}})
	require.NoError(t, err)
	res, err := c.SyncServer(ctx, sa.Connections[0].ID, nil)
	require.NoError(t, err)
	_, err = c.WaitForSync(ctx, res, &peliqan.WaitOptions{Schedule: peliqan.FixedSchedule(10 * time.Millisecond)})
	require.NoError(t, err)
	require.NoError(t, c.DeleteServer(ctx, created.ID))

	want := []peliqan.WebhookEventType{peliqan.WebhookConnectionAdded, peliqan.WebhookPipelineRunStarted,
		peliqan.WebhookPipelineRunCompleted, peliqan.WebhookConnectionRemoved}
	for _, d := range deliveriesTo(t, fake, once.srv.URL, 2*len(want)) {
		assert.Equal(t, http.StatusNoContent, d.Status, "copy %d of %s", d.Copy, d.Event)
	}
	deliveriesTo(t, fake, plain.srv.URL, 2*len(want))

	assert.Equal(t, want, eventTypes(once.events()), "once per distinct event")
	got := eventTypes(plain.events())
	require.Len(t, got, 2*len(want), "without de-duplication every copy reaches fn")
	for i, typ := range want {
		assert.Equal(t, []peliqan.WebhookEventType{typ, typ}, got[2*i:2*i+2])
	}
}

// TestWebhookDedupeLateAndOutOfOrder: copies that come late and events
// that come out of order are still handled once each.
func TestWebhookDedupeLateAndOutOfOrder(t *testing.T) {
	t.Parallel()
	fake, c, sa := lifecycleFake(t, peliqantest.WithSyncDuration(20*time.Millisecond))
	ep := newHookEndpoint(t, peliqan.WithWebhookDedupe(nil))
	require.NoError(t, fake.AddWebhook(ep.srv.URL, hookSecret, peliqantest.DeliverTwice()))
	require.NoError(t, fake.AddWebhook(ep.srv.URL, hookSecret, peliqantest.DeliverOutOfOrder(150*time.Millisecond),
		peliqantest.DeliverLate(50*time.Millisecond)))
	ctx := context.Background()
	res, err := c.SyncServer(ctx, sa.Connections[0].ID, nil)
	require.NoError(t, err)
	_, err = c.WaitForSync(ctx, res, &peliqan.WaitOptions{Schedule: peliqan.FixedSchedule(10 * time.Millisecond)})
	require.NoError(t, err)
	deliveriesTo(t, fake, ep.srv.URL, 6) // 2 events: twice by one registration, once by the other
	got := eventTypes(ep.events())
	assert.ElementsMatch(t, []peliqan.WebhookEventType{peliqan.WebhookPipelineRunStarted, peliqan.WebhookPipelineRunCompleted}, got)
}

// TestWebhookDedupeRedeliveryAfterFailure: fn fails the first time; the
// handler answers 500 and forgets the event, the fake delivers it again,
// and this time it is handled; the second copy is then a repeat.
func TestWebhookDedupeRedeliveryAfterFailure(t *testing.T) {
	t.Parallel()
	fake, c, sa := lifecycleFake(t)
	ep := newHookEndpoint(t, peliqan.WithWebhookDedupe(nil))
	ep.fail = func(_ *peliqan.WebhookEvent, n int) bool { return n == 1 }
	require.NoError(t, fake.AddWebhook(ep.srv.URL, hookSecret, peliqantest.DeliverTwice(),
		peliqantest.DeliverRetries(2, 10*time.Millisecond)))
	require.NoError(t, c.DeleteServer(context.Background(), sa.Connections[0].ID))
	ds := deliveriesTo(t, fake, ep.srv.URL, 3)
	var statuses []int
	for _, d := range ds {
		statuses = append(statuses, d.Status)
	}
	assert.Equal(t, []int{500, 204, 204}, statuses)
	assert.Equal(t, []peliqan.WebhookEventType{peliqan.WebhookConnectionRemoved}, eventTypes(ep.events()))
	ep.mu.Lock()
	assert.Equal(t, 2, ep.n, "fn: the failed try and the redelivery; the copy never reached it")
	ep.mu.Unlock()
}
