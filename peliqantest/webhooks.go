package peliqantest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	peliqan "github.com/peliqan-community/peliqan-go"
)

// Outbound webhooks: see AddWebhook.

// DeliveryOption changes how the fake delivers to one webhook URL.
type DeliveryOption func(*deliveryConfig) error

type deliveryConfig struct {
	header    string
	twice     bool
	late      time.Duration
	reorder   time.Duration
	only      map[peliqan.WebhookEventType]bool
	retries   int
	retryWait time.Duration
	client    *http.Client
}

// DeliverTwice sends every event twice in a row, the same body with the
// same signature, as a sender does that did not see the first answer.
func DeliverTwice() DeliveryOption {
	return func(c *deliveryConfig) error { c.twice = true; return nil }
}

// DeliverLate holds each event for d (real time) after it happened before
// sending it. d must be positive.
func DeliverLate(d time.Duration) DeliveryOption {
	return func(c *deliveryConfig) error {
		if d <= 0 {
			return fmt.Errorf("DeliverLate: must be positive (got %s)", d)
		}
		c.late = d
		return nil
	}
}

// DeliverOutOfOrder gathers events for window (real time) after the first
// of a batch happens, then sends the batch newest first: a run's
// pipeline_run_completed before its pipeline_run_started when the run ends
// within window. window must be positive.
func DeliverOutOfOrder(window time.Duration) DeliveryOption {
	return func(c *deliveryConfig) error {
		if window <= 0 {
			return fmt.Errorf("DeliverOutOfOrder: window must be positive (got %s)", window)
		}
		c.reorder = window
		return nil
	}
}

// DeliverOnly sends only events of these types (every type by default).
func DeliverOnly(types ...peliqan.WebhookEventType) DeliveryOption {
	return func(c *deliveryConfig) error {
		if len(types) == 0 {
			return errors.New("DeliverOnly: no event type")
		}
		c.only = map[peliqan.WebhookEventType]bool{}
		for _, t := range types {
			if !t.IsKnown() {
				return fmt.Errorf("DeliverOnly: unknown event type %q", string(t))
			}
			c.only[t] = true
		}
		return nil
	}
}

// DeliverRetries sends an event again, up to n more times and wait apart,
// while the endpoint answers other than 2xx or cannot be reached. By
// default an event is sent once (Peliqan's retry policy is not documented).
func DeliverRetries(n int, wait time.Duration) DeliveryOption {
	return func(c *deliveryConfig) error {
		if n < 0 || wait < 0 {
			return fmt.Errorf("DeliverRetries: negative count %d or wait %s", n, wait)
		}
		c.retries, c.retryWait = n, wait
		return nil
	}
}

// DeliverHeader puts the signature in header name instead of
// peliqan.DefaultWebhookSignatureHeader.
func DeliverHeader(name string) DeliveryOption {
	return func(c *deliveryConfig) error {
		if strings.TrimSpace(name) == "" || strings.ContainsAny(name, " :\r\n") {
			return fmt.Errorf("DeliverHeader: %q is not a header name", name)
		}
		c.header = name
		return nil
	}
}

// DeliverWithClient sends with hc (for an httptest TLS server, its
// Client()). By default the fake uses a client of its own, closed by Close.
func DeliverWithClient(hc *http.Client) DeliveryOption {
	return func(c *deliveryConfig) error {
		if hc == nil {
			return errors.New("DeliverWithClient: nil client")
		}
		c.client = hc
		return nil
	}
}

// WebhookDelivery is one attempt to deliver an event, as WebhookDeliveries
// lists them.
type WebhookDelivery struct {
	URL   string
	Event peliqan.WebhookEventType
	// Body is the JSON sent (and signed).
	Body []byte
	// Copy is 1, or 2 for the second sending of DeliverTwice.
	Copy int
	// Attempt counts the tries of this copy, from 1 (DeliverRetries).
	Attempt int
	// Status is the endpoint's answer, 0 when there was none (Err says why).
	Status int
	Err    string
	Time   time.Time // when the attempt ended (real time)
}

// webhookTarget is one registered URL and its delivery worker.
type webhookTarget struct {
	url, secret string
	cfg         deliveryConfig
	transport   *http.Transport // the fake's own; nil with DeliverWithClient

	mu    sync.Mutex
	queue []webhookEvent
	wake  chan struct{} // capacity 1: "the queue has something"
}

type webhookEvent struct {
	typ    peliqan.WebhookEventType
	body   []byte
	queued time.Time // real time
}

// AddWebhook registers rawURL to receive the fake's outbound webhooks,
// signed with secret, as Peliqan sends them to the URL set in an account's
// settings (Settings > API Token & Webhooks > Outbound Webhooks): an HTTP
// POST of a JSON event, signed with HMAC-SHA256 when a signing secret is
// set. An empty secret sends them unsigned, as Peliqan does without one.
// The URL must be http or https on a loopback host (127.0.0.1, ::1,
// localhost): the fake talks to nothing else.
//
// Peliqan documents the event types and the HMAC, not the header, the
// signed string or the payload, so the fake sends what peliqan.VerifyWebhook
// checks (the hex HMAC-SHA256 of the raw body, "sha256="-prefixed, in
// peliqan.DefaultWebhookSignatureHeader unless DeliverHeader names
// another) and payloads of its own choosing:
//
//	connection_added, connection_removed:
//	  {"event", "timestamp", "account_id", "external_id", "server_id",
//	   "server_name", "server_type", "health_status"}
//	pipeline_run_started, _completed, _completed_with_errors, _error:
//	  the same members but "health_status", plus "pipeline_run_id",
//	  "task_id", "status" (the run's status), "timestamp_start" and
//	  "timestamp_end" (null while it runs)
//
// "external_id" is the sub-account's external id (the partner's own id for
// its customer; null for the partner's own account), so one endpoint can
// tell the partner's customers apart. "timestamp" is when the event
// happened, on the fake's clock, so a redelivery carries the same body. No
// event id is sent: none is documented.
//
// When the fake sends them:
//   - connection_added: an API-key connection is created (POST
//     /api/servers/), or a new OAuth connection finishes its flow
//     (CompleteOAuth, WithOAuthCompletion). A re-authorisation sends none.
//   - connection_removed: a connection is deleted (DELETE
//     /api/servers/{id}/). Deleting a whole sub-account sends none.
//   - pipeline_run_started: a sync or resync starts a run;
//     pipeline_run_completed, pipeline_run_completed_with_errors and
//     pipeline_run_error: the run ends, with that outcome. The fake has no
//     internal errors, so it never sends pipeline_run_internal_error.
//
// Only events that happen after AddWebhook are sent, to every registered
// URL whose DeliverOnly lets them through, in the order they happened
// unless DeliverOutOfOrder says otherwise. Each URL has a goroutine of its
// own; Close stops them all and cancels a delivery in flight. Once a
// webhook is registered and the clock is real, an OAuth completion or a
// run's end also happens by itself when it is due, so its event is sent
// without a request to notice it. WebhookDeliveries lists every attempt.
func (s *Fake) AddWebhook(rawURL, secret string, opts ...DeliveryOption) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("peliqantest: AddWebhook: %q is not an http(s) URL", rawURL)
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("peliqantest: AddWebhook: %q is not a loopback host", u.Hostname())
	}
	cfg := deliveryConfig{header: peliqan.DefaultWebhookSignatureHeader}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return fmt.Errorf("peliqantest: %w", err)
		}
	}
	t := &webhookTarget{url: rawURL, secret: secret, cfg: cfg, wake: make(chan struct{}, 1)}
	if cfg.client == nil {
		t.transport = &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second}
		t.cfg.client = &http.Client{Transport: t.transport, Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.cfg.lifecycle.hub
	if h.closed {
		return errors.New("peliqantest: AddWebhook: the fake is closed")
	}
	h.targets = append(h.targets, t)
	h.wg.Add(1)
	go t.run(h)
	// What is already pending now has someone to tell.
	for _, srv := range h.pendingAuth {
		if !srv.authDue.IsZero() {
			h.wakeAt(srv.authDue)
		}
	}
	for _, r := range s.st.pendingRuns {
		h.wakeAt(r.finishAt)
	}
	return nil
}

// WebhookDeliveries returns every delivery attempt so far, in the order
// they ended.
func (s *Fake) WebhookDeliveries() []WebhookDelivery {
	h := s.cfg.lifecycle.hub
	h.recMu.Lock()
	defer h.recMu.Unlock()
	return slices.Clone(h.deliveries)
}

// webhookPayload is the body of every event the fake sends (the run
// members only for pipeline events).
type webhookPayload struct {
	Event        peliqan.WebhookEventType `json:"event"`
	Timestamp    string                   `json:"timestamp"`
	AccountID    int64                    `json:"account_id"`
	ExternalID   *string                  `json:"external_id"`
	ServerID     int64                    `json:"server_id"`
	ServerName   string                   `json:"server_name"`
	ServerType   string                   `json:"server_type"`
	HealthStatus string                   `json:"health_status,omitempty"` // connection events only
	*runMembers
}

type runMembers struct {
	PipelineRunID  int64   `json:"pipeline_run_id"`
	TaskID         string  `json:"task_id"`
	Status         string  `json:"status"`
	TimestampStart string  `json:"timestamp_start"`
	TimestampEnd   *string `json:"timestamp_end"`
}

func (st *state) accountOf(id int64) *account {
	if st.partner != nil && id == st.partner.ID {
		return st.partner
	}
	return st.accounts[id]
}

func newPayload(st *state, typ peliqan.WebhookEventType, accountID int64, srv *server, at time.Time) webhookPayload {
	p := webhookPayload{Event: typ, Timestamp: ts(at), AccountID: accountID}
	if a := st.accountOf(accountID); a != nil && a.ExternalID != "" {
		ext := a.ExternalID
		p.ExternalID = &ext
	}
	if srv != nil {
		p.ServerID, p.ServerName, p.ServerType, p.HealthStatus = srv.ID, srv.Name, srv.ServerType, srv.HealthStatus
	}
	return p
}

// emitConnection sends a connection event about srv. Under s.mu.
func (h *lifecycle) emitConnection(st *state, typ peliqan.WebhookEventType, srv *server, now time.Time) {
	if h == nil || len(h.targets) == 0 {
		return
	}
	h.emit(typ, newPayload(st, typ, srv.account, srv, now))
}

// emitRun sends a pipeline event about r, with the run's status and end
// as they are (or are about to be). Under s.mu.
func (h *lifecycle) emitRun(st *state, typ peliqan.WebhookEventType, r *pipelineRun, status string, end *string) {
	if h == nil || len(h.targets) == 0 || typ == "" {
		return
	}
	at := r.finishAt
	if end == nil {
		at = parseTS(r.TimestampStart, r.finishAt)
	}
	p := newPayload(st, typ, r.account, st.servers[r.ServerID], at)
	// The run's status says it; the connection's health is about to follow
	// the run (state.finishRun), so it is left out rather than stale.
	p.ServerID, p.HealthStatus = r.ServerID, ""
	p.runMembers = &runMembers{PipelineRunID: r.ID, TaskID: r.TaskID, Status: status,
		TimestampStart: r.TimestampStart, TimestampEnd: end}
	h.emit(typ, p)
}

// runStarted sends pipeline_run_started and, with a webhook registered,
// settles the fake by itself when the run is due to end. Under s.mu.
func (h *lifecycle) runStarted(st *state, r *pipelineRun) {
	if h == nil || len(h.targets) == 0 {
		return
	}
	h.emitRun(st, peliqan.WebhookPipelineRunStarted, r, r.Status, nil)
	h.wakeAt(r.finishAt)
}

func runEventType(o RunOutcome) peliqan.WebhookEventType {
	switch o {
	case OutcomeCompleted:
		return peliqan.WebhookPipelineRunCompleted
	case OutcomeCompletedWithErrors:
		return peliqan.WebhookPipelineRunCompletedWithErrors
	case OutcomeError:
		return peliqan.WebhookPipelineRunError
	}
	return ""
}

func parseTS(s string, fallback time.Time) time.Time {
	if t, err := time.Parse(timeFormat, s); err == nil {
		return t
	}
	return fallback
}

func (h *lifecycle) emit(typ peliqan.WebhookEventType, payload any) {
	body, err := json.Marshal(payload)
	if err != nil {
		return // the payload types always encode
	}
	ev := webhookEvent{typ: typ, body: body, queued: time.Now()}
	for _, t := range h.targets {
		if t.cfg.only == nil || t.cfg.only[typ] {
			t.enqueue(ev)
		}
	}
}

func (t *webhookTarget) enqueue(ev webhookEvent) {
	t.mu.Lock()
	t.queue = append(t.queue, ev)
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

func (t *webhookTarget) take() []webhookEvent {
	t.mu.Lock()
	defer t.mu.Unlock()
	q := t.queue
	t.queue = nil
	return q
}

// run is the target's delivery worker: events in the order they happened
// unless told otherwise, one at a time.
func (t *webhookTarget) run(h *lifecycle) {
	defer h.wg.Done()
	for {
		select {
		case <-h.stop:
			return
		case <-t.wake:
		}
		if t.cfg.reorder > 0 && !sleepOrStop(h.stop, t.cfg.reorder) {
			return
		}
		batch := t.take()
		if t.cfg.reorder > 0 {
			slices.Reverse(batch)
		}
		for _, ev := range batch {
			if t.cfg.late > 0 && !sleepOrStop(h.stop, time.Until(ev.queued.Add(t.cfg.late))) {
				return
			}
			copies := 1
			if t.cfg.twice {
				copies = 2
			}
			for c := 1; c <= copies; c++ {
				if !t.deliver(h, ev, c) {
					return
				}
			}
		}
	}
}

// deliver sends one copy of ev, with the retries asked for, and records
// every attempt; false when the fake is closing.
func (t *webhookTarget) deliver(h *lifecycle, ev webhookEvent, copyNo int) bool {
	for attempt := 1; attempt <= 1+t.cfg.retries; attempt++ {
		if attempt > 1 && !sleepOrStop(h.stop, t.cfg.retryWait) {
			return false
		}
		d := WebhookDelivery{URL: t.url, Event: ev.typ, Body: ev.body, Copy: copyNo, Attempt: attempt}
		req, err := http.NewRequestWithContext(h.ctx, http.MethodPost, t.url, bytes.NewReader(ev.body))
		if err != nil {
			d.Err, d.Time = err.Error(), time.Now()
			h.record(d)
			return true // the URL was checked; nothing else can make this fail
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "peliqantest-webhooks")
		if t.secret != "" {
			req.Header.Set(t.cfg.header, peliqan.SignWebhook(t.secret, ev.body))
		}
		resp, err := t.cfg.client.Do(req)
		if err != nil {
			d.Err = err.Error()
		} else {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			_ = resp.Body.Close()
			d.Status = resp.StatusCode
		}
		d.Time = time.Now()
		h.record(d)
		if h.ctx.Err() != nil {
			return false
		}
		if err == nil && d.Status >= 200 && d.Status <= 299 {
			return true
		}
	}
	return true
}

func (h *lifecycle) record(d WebhookDelivery) {
	h.recMu.Lock()
	defer h.recMu.Unlock()
	h.deliveries = append(h.deliveries, d)
}

func sleepOrStop(stop <-chan struct{}, d time.Duration) bool {
	if d <= 0 {
		select {
		case <-stop:
			return false
		default:
			return true
		}
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-stop:
		return false
	case <-tm.C:
		return true
	}
}

func (t *webhookTarget) closeIdle() {
	if t.transport != nil {
		t.transport.CloseIdleConnections()
	}
}
