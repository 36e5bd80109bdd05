package peliqan

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func eventOf(t *testing.T, body string) *WebhookEvent {
	t.Helper()
	ev, err := parseWebhookEvent([]byte(body))
	require.NoError(t, err)
	return ev
}

func TestDedupeKey(t *testing.T) {
	t.Parallel()
	key := func(body string) string { return eventOf(t, body).DedupeKey() }
	base := `{"event":"connection_added","server_id":12,"external_id":"cust_1","timestamp":"2026-01-02T03:04:05.000000Z"}`

	// One event, however it is laid out.
	same := []string{base,
		`{"server_id":12, "event":"connection_added", "timestamp":"2026-01-02T03:04:05.000000Z", "external_id":"cust_1"}`,
		"{\n  \"event\": \"connection_added\",\n  \"server_id\": 12,\n  \"external_id\": \"cust_1\",\n  \"timestamp\": \"2026-01-02T03:04:05.000000Z\"\n}\n",
		`{"event":"connection_added","server_id":12,"external_id":"cust_\u0031","timestamp":"2026-01-02T03:04:05.000000Z"}`,
	}
	for _, b := range same {
		assert.Equal(t, key(base), key(b), b)
	}
	// Different events.
	different := []string{
		`{"event":"connection_removed","server_id":12,"external_id":"cust_1","timestamp":"2026-01-02T03:04:05.000000Z"}`,
		`{"event":"connection_added","server_id":13,"external_id":"cust_1","timestamp":"2026-01-02T03:04:05.000000Z"}`,
		`{"event":"connection_added","server_id":12,"external_id":"cust_1","timestamp":"2026-01-02T03:04:06.000000Z"}`,
		`{"event":"connection_added","server_id":12.0,"external_id":"cust_1","timestamp":"2026-01-02T03:04:05.000000Z"}`,
		`{"event":"connection_added","server_id":12,"external_id":"cust_1","timestamp":"2026-01-02T03:04:05.000000Z","x":null}`,
		`[1,2]`, `"connection_added"`,
	}
	seen := map[string]string{key(base): base}
	for _, b := range different {
		k := key(b)
		assert.NotContains(t, seen, k, "%s has the key of %s", b, seen[k])
		seen[k] = b
	}
	// With an event_id, the id (and the type) decide, not the rest.
	a := key(`{"event":"pipeline_run_completed","event_id":"ev-1","sent_at":"10:00"}`)
	assert.Equal(t, a, key(`{"event_id":"ev-1","event":"pipeline_run_completed","sent_at":"10:05"}`), "a redelivery stamped later")
	assert.NotEqual(t, a, key(`{"event":"pipeline_run_error","event_id":"ev-1"}`), "the type is part of the key")
	assert.NotEqual(t, a, key(`{"event":"pipeline_run_completed","event_id":"ev-2"}`))
	assert.Equal(t, key(`{"event":"x","event_id":12}`), key(`{"event":"x","event_id":"12"}`))
	assert.Equal(t, key(`{"event":"x","event_id":{"a":1},"n":1}`), key(`{"n":1,"event_id":{"a":1},"event":"x"}`),
		"an object is no id: the body decides")
	assert.NotEqual(t, key(`{"event":"x","event_id":"","n":1}`), key(`{"event":"x","event_id":"","n":2}`))

	re := regexp.MustCompile(`^(id-|body-)[0-9a-f]{64}$`)
	for k := range seen {
		assert.Regexp(t, re, k)
	}
	assert.True(t, strings.HasPrefix(a, "id-"))
}

func TestMemoryDeduper(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, err := NewMemoryDeduper(3, time.Minute)
	require.NoError(t, err)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m.now = func() time.Time { return now }
	seen := func(k string) bool {
		s, err := m.Seen(ctx, k)
		require.NoError(t, err)
		return s
	}
	assert.False(t, seen("a"))
	assert.True(t, seen("a"))
	assert.False(t, seen("b"))
	assert.False(t, seen("c"))
	assert.False(t, seen("d"), "full: a goes")
	assert.Equal(t, 3, m.Len())
	assert.False(t, seen("a"), "a was dropped, oldest first")
	assert.True(t, seen("d"))

	require.NoError(t, m.Forget(ctx, "d"))
	require.NoError(t, m.Forget(ctx, "never"))
	assert.False(t, seen("d"), "forgotten")

	now = now.Add(59 * time.Second)
	assert.True(t, seen("c"))
	now = now.Add(time.Second)
	assert.False(t, seen("c"), "expired a minute after it was first seen")
	assert.LessOrEqual(t, m.Len(), 3)

	for _, bad := range []struct {
		n   int
		ttl time.Duration
	}{{0, time.Minute}, {-1, time.Minute}, {1, 0}, {1, -time.Second}} {
		_, err := NewMemoryDeduper(bad.n, bad.ttl)
		assert.ErrorIs(t, err, ErrInvalidArgument)
	}
}

// TestMemoryDeduperConcurrentFirstSighting: of many concurrent deliveries
// of one event, exactly one is first.
func TestMemoryDeduperConcurrentFirstSighting(t *testing.T) {
	t.Parallel()
	m, err := NewMemoryDeduper(100, time.Hour)
	require.NoError(t, err)
	var first atomic.Int32
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			if s, _ := m.Seen(context.Background(), "k"); !s {
				first.Add(1)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int32(1), first.Load())
}

// storeFunc is a WebhookDeduper built from functions, to watch the handler
// use it.
type storeFunc struct {
	seen   func(string) (bool, error)
	forget func(string) error
}

func (s storeFunc) Seen(_ context.Context, k string) (bool, error) { return s.seen(k) }
func (s storeFunc) Forget(_ context.Context, k string) error       { return s.forget(k) }

func postSigned(t *testing.T, h http.Handler, body string) int {
	t.Helper()
	return postSignedWith(t, h, "s3cret", body)
}

func postSignedWith(t *testing.T, h http.Handler, secret, body string) int {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(body))
	req.Header.Set(DefaultWebhookSignatureHeader, SignWebhook(secret, []byte(body)))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

// TestWebhookHandlerDedupe: the handler calls fn once per distinct event;
// a failure (or a panic) in fn forgets the event so a redelivery is handled;
// a store error is a 500 without fn.
func TestWebhookHandlerDedupe(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	var fail atomic.Bool
	h := mustHandler(WebhookHandler("s3cret", func(context.Context, *WebhookEvent) error {
		calls.Add(1)
		if fail.Load() {
			return errors.New("database down")
		}
		return nil
	}, WithWebhookDedupe(nil)))
	a := `{"event":"connection_added","server_id":1}`
	b := `{"event":"connection_added","server_id":2}`
	assert.Equal(t, 204, postSigned(t, h, a))
	assert.Equal(t, 204, postSigned(t, h, a))
	assert.Equal(t, 204, postSigned(t, h, ` {"server_id":1, "event":"connection_added"} `))
	assert.Equal(t, int32(1), calls.Load(), "one event, one call")
	assert.Equal(t, 401, postSignedWith(t, h, "wrong", a), "a forged delivery is refused")
	assert.Equal(t, int32(1), calls.Load())

	fail.Store(true)
	assert.Equal(t, 500, postSigned(t, h, b))
	fail.Store(false)
	assert.Equal(t, 204, postSigned(t, h, b), "the failed event was forgotten: the redelivery is handled")
	assert.Equal(t, 204, postSigned(t, h, b))
	assert.Equal(t, int32(3), calls.Load())

	// A panic in fn forgets the event too.
	var keys []string
	var mu sync.Mutex
	store, err := NewMemoryDeduper(10, time.Hour)
	require.NoError(t, err)
	panicky := mustHandler(WebhookHandler("s3cret", func(context.Context, *WebhookEvent) error { panic("boom") },
		WithWebhookDedupe(storeFunc{
			seen: func(k string) (bool, error) {
				mu.Lock()
				keys = append(keys, k)
				mu.Unlock()
				return store.Seen(context.Background(), k)
			},
			forget: func(k string) error { return store.Forget(context.Background(), k) },
		})))
	assert.Panics(t, func() { postSigned(t, panicky, a) })
	assert.Zero(t, store.Len(), "forgotten on the way out of the panic")
	assert.Equal(t, []string{eventOf(t, a).DedupeKey()}, keys)

	// A store that fails: 500, fn not called.
	var fnCalls atomic.Int32
	broken := mustHandler(WebhookHandler("s3cret", func(context.Context, *WebhookEvent) error { fnCalls.Add(1); return nil },
		WithWebhookDedupe(storeFunc{seen: func(string) (bool, error) { return false, errors.New("redis down") },
			forget: func(string) error { return nil }})))
	assert.Equal(t, 500, postSigned(t, broken, a))
	assert.Zero(t, fnCalls.Load())
}

// TestWebhookHandlerWithoutDedupe: without the option every delivery
// reaches fn, as before.
func TestWebhookHandlerWithoutDedupe(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	h := mustHandler(WebhookHandler("s3cret", func(context.Context, *WebhookEvent) error { calls.Add(1); return nil }))
	for i := range 3 {
		assert.Equal(t, 204, postSigned(t, h, `{"event":"connection_added"}`), fmt.Sprint(i))
	}
	assert.Equal(t, int32(3), calls.Load())
}
