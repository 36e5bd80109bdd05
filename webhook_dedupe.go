package peliqan

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync"
	"time"
)

// A sender of webhooks may deliver one event more than once: it retries
// when it did not see an answer, and it may not know that it did. A
// WebhookHandler made with WithWebhookDedupe calls its fn once per distinct
// event: it asks a WebhookDeduper whether the event's key (DedupeKey) was
// seen before, and answers a repeat with 204 without calling fn.

// WebhookDeduper is the store WithWebhookDedupe remembers handled webhook
// events in. NewMemoryDeduper is an in-process one; implement it on a
// shared store (Redis SET NX with an expiry, a database row with a unique
// key) when several processes receive the same webhooks. Its methods are
// called concurrently.
type WebhookDeduper interface {
	// Seen records key and reports whether it was already recorded: true
	// means "handled, or being handled, already". It must record and
	// answer in one atomic step, so two concurrent deliveries of one event
	// cannot both see false.
	Seen(ctx context.Context, key string) (bool, error)
	// Forget removes key. The handler calls it when fn fails (or panics),
	// so the sender's next delivery of that event is handled again.
	Forget(ctx context.Context, key string) error
}

// Defaults of the in-memory deduper WithWebhookDedupe(nil) makes.
const (
	// DefaultWebhookDedupeEntries is how many keys it keeps; the oldest
	// goes first when it is full.
	DefaultWebhookDedupeEntries = 10_000
	// DefaultWebhookDedupeTTL is how long it keeps a key: a delivery of the
	// same event later than this is handled again.
	DefaultWebhookDedupeTTL = 24 * time.Hour
)

// WithWebhookDedupe makes WebhookHandler call fn once per distinct event
// (see WebhookEvent.DedupeKey), with d remembering the events handled; nil
// means a NewMemoryDeduper(DefaultWebhookDedupeEntries,
// DefaultWebhookDedupeTTL) of the handler's own.
//
// For each verified event the handler asks d.Seen(key): a repeat is
// answered 204 without calling fn; a first delivery goes to fn, and when fn
// fails (500) or panics the key is forgotten, so the sender's next delivery
// is handled. An error from d.Seen is answered 500 without calling fn (the
// sender may deliver again later). A second delivery that arrives while the
// first is still in fn is a repeat: it is answered 204 at once, and if the
// first then fails, the sender delivers that one again.
//
// What the de-duplication cannot know: Peliqan documents no event id, so
// the key is derived from the body. A redelivery whose body differs (say, a
// delivery time in it) is a new event to it, and two events with identical
// bodies are one. A key is remembered for the store's lifetime (the TTL of
// the default one): make fn idempotent where a late repeat matters.
func WithWebhookDedupe(d WebhookDeduper) WebhookOption {
	return func(c *webhookConfig) error {
		if d == nil {
			m, err := NewMemoryDeduper(DefaultWebhookDedupeEntries, DefaultWebhookDedupeTTL)
			if err != nil {
				return err
			}
			d = m
		}
		c.dedupe = d
		return nil
	}
}

// DedupeKey is the key WithWebhookDedupe remembers the event by: equal for
// deliveries of one event, different for different events, as far as the
// payload can tell (no event id is documented). It is one of:
//
//   - "id-" and the hex SHA-256 of the event type and the "event_id" member,
//     when the payload is an object with a non-empty string or number
//     "event_id" (no document promises one; a sender that adds it makes the
//     key exact);
//   - otherwise "body-" and the hex SHA-256 of the event type and the
//     canonical form of the body: the JSON re-encoded with object members
//     sorted and no insignificant white space, numbers kept as written. So
//     a repeat that differs only in member order or spacing has the same
//     key.
//
// The key is 67 or 69 characters of [a-z0-9-], safe for any store.
func (e *WebhookEvent) DedupeKey() string {
	h := sha256.New()
	var members map[string]json.RawMessage
	if json.Unmarshal(e.Payload, &members) == nil {
		if id := eventID(members["event_id"]); id != "" {
			h.Write([]byte("peliqan-webhook-id\x00" + string(e.Type) + "\x00" + id))
			return "id-" + hex.EncodeToString(h.Sum(nil))
		}
	}
	h.Write([]byte("peliqan-webhook-body\x00" + string(e.Type) + "\x00"))
	h.Write(canonicalJSON(e.Payload))
	return "body-" + hex.EncodeToString(h.Sum(nil))
}

// eventID reads an "event_id" member: a string's contents or a number's
// text ("" for anything else), so 12 and "12" are one id.
func eventID(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch c := raw[0]; {
	case c == '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	case c == '-' || (c >= '0' && c <= '9'):
		var n json.Number
		if json.Unmarshal(raw, &n) == nil {
			return n.String()
		}
	}
	return ""
}

// canonicalJSON re-encodes a JSON value with sorted object members and no
// insignificant white space; numbers keep their text. A body that does not
// decode (never the case for a verified event) is used as it is.
func canonicalJSON(raw []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return raw
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return raw
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// MemoryDeduper is an in-process WebhookDeduper: it keeps at most a fixed
// number of keys, each for a fixed time after it was first seen, and drops
// the oldest first when full. It is safe for concurrent use. Keys live in
// one process: behind a load balancer, use a shared store.
type MemoryDeduper struct {
	max int
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	order *list.List // of *dedupeEntry, oldest first
	items map[string]*list.Element
}

type dedupeEntry struct {
	key     string
	expires time.Time
}

// NewMemoryDeduper returns a MemoryDeduper that keeps up to maxEntries keys
// (the oldest goes first), each for ttl after it was first seen. Both must
// be positive.
func NewMemoryDeduper(maxEntries int, ttl time.Duration) (*MemoryDeduper, error) {
	switch {
	case maxEntries <= 0:
		return nil, invalidArg("maxEntries", "must be positive (got %d)", maxEntries)
	case ttl <= 0:
		return nil, invalidArg("ttl", "must be positive (got %s)", ttl)
	}
	return &MemoryDeduper{max: maxEntries, ttl: ttl, now: time.Now, order: list.New(), items: map[string]*list.Element{}}, nil
}

// Seen records key and reports whether it was already recorded (and not
// expired). It never fails.
func (m *MemoryDeduper) Seen(_ context.Context, key string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.expire(now)
	if _, ok := m.items[key]; ok {
		return true, nil
	}
	m.items[key] = m.order.PushBack(&dedupeEntry{key: key, expires: now.Add(m.ttl)})
	for m.order.Len() > m.max {
		m.remove(m.order.Front())
	}
	return false, nil
}

// Forget removes key. It never fails.
func (m *MemoryDeduper) Forget(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.items[key]; ok {
		m.remove(el)
	}
	return nil
}

// Len reports how many keys are kept (expired ones may still count until
// the next Seen).
func (m *MemoryDeduper) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.order.Len()
}

// expire drops the keys whose time is up. Every key lives as long, so they
// expire in the order they came.
func (m *MemoryDeduper) expire(now time.Time) {
	for el := m.order.Front(); el != nil; el = m.order.Front() {
		if now.Before(el.Value.(*dedupeEntry).expires) {
			return
		}
		m.remove(el)
	}
}

func (m *MemoryDeduper) remove(el *list.Element) {
	delete(m.items, el.Value.(*dedupeEntry).key)
	m.order.Remove(el)
}
