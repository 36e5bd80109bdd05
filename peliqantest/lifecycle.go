package peliqantest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/internal/routes"
)

// The connection lifecycle around the embed widget: OAuth flows that finish
// by themselves (WithOAuthCompletion), connection invites, deleting a
// connection, and (webhooks.go) the webhooks all of it sends.

// lifecycleConfig holds the options of this file and webhooks.go, and the
// fake's lifecycle state (set by New).
type lifecycleConfig struct {
	oauthCompletion time.Duration // 0: an OAuth flow waits for CompleteOAuth
	hub             *lifecycle
}

// WithOAuthCompletion makes every OAuth flow started through the API (a new
// OAuth connection, or a re-authorisation) finish by itself d after it
// began, on the fake's clock, as if the customer had granted access in the
// browser: a new connection then goes from AUTHORIZING to OK, a
// re-authorised one to RE_AUTHORISED. With it a test can wait for a
// connection (peliqan's WaitForConnection) without calling CompleteOAuth.
// CompleteOAuth still finishes a flow at once. Flows of seeded connections
// and of MarkNeedsReauth are not finished by it (no one started them).
//
// Like a sync's end, the completion happens on the next request after it
// is due (so it follows an injected clock exactly); with the real clock and
// a webhook registered (AddWebhook), also by itself when it is due, so its
// connection_added webhook goes out without any request. d must be
// positive.
func WithOAuthCompletion(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("WithOAuthCompletion: must be positive (got %s)", d)
		}
		c.lifecycle.oauthCompletion = d
		return nil
	}
}

// lifecycle is the fake's state for OAuth completions, invites and
// webhooks. Fields under "s.mu" are guarded by Fake.mu; the deliveries have
// their own lock.
type lifecycle struct {
	s *Fake

	// s.mu
	pendingAuth []*server // flows that finish by themselves (authDue set)
	invites     []Invite
	targets     []*webhookTarget
	timers      map[*time.Timer]struct{}
	closed      bool

	wg     sync.WaitGroup  // delivery workers and wake-up timers
	ctx    context.Context // ended by close: deliveries in flight are cancelled
	cancel context.CancelFunc
	stop   <-chan struct{} // ctx.Done()

	recMu      sync.Mutex
	deliveries []WebhookDelivery
}

func newLifecycle(s *Fake) *lifecycle {
	ctx, cancel := context.WithCancel(context.Background())
	return &lifecycle{s: s, timers: map[*time.Timer]struct{}{}, ctx: ctx, cancel: cancel, stop: ctx.Done()}
}

// close ends the delivery workers and timers and waits for them; a
// delivery in flight is cancelled. Called by Fake.Close.
func (h *lifecycle) close() {
	if h == nil {
		return
	}
	h.s.mu.Lock()
	if h.closed {
		h.s.mu.Unlock()
		return
	}
	h.closed = true
	h.cancel()
	timers := h.timers
	h.timers = nil
	targets := slices.Clone(h.targets)
	h.s.mu.Unlock()
	for t := range timers {
		if t.Stop() {
			h.wg.Done() // its function will not run
		}
	}
	h.wg.Wait()
	for _, t := range targets {
		t.closeIdle()
	}
}

// settle finishes the OAuth flows that are due and sends the webhooks of
// the runs about to end. state.settle calls it first, under s.mu.
func (h *lifecycle) settle(st *state, now time.Time) {
	if h == nil {
		return
	}
	if len(h.pendingAuth) > 0 {
		h.pendingAuth = slices.DeleteFunc(h.pendingAuth, func(srv *server) bool {
			switch {
			case srv.authDue.IsZero() || st.servers[srv.ID] != srv:
				return true // finished or dropped (CompleteOAuth, MarkNeedsReauth), or the connection is gone
			case now.Before(srv.authDue):
				return false
			}
			h.completeAuth(st, srv, now)
			return true
		})
	}
	if len(h.targets) > 0 {
		for _, r := range st.pendingRuns {
			if !now.Before(r.finishAt) {
				// state.settle finishes it next, with this outcome.
				h.emitRun(st, runEventType(r.outcome), r, string(r.outcome), tsPtr(r.finishAt))
			}
		}
	}
}

// startAuth notes an OAuth flow the API started on srv; with
// WithOAuthCompletion it will finish by itself. Under s.mu.
func (h *lifecycle) startAuth(srv *server, now time.Time) {
	srv.authDue = time.Time{}
	d := h.s.cfg.lifecycle.oauthCompletion
	if d <= 0 {
		return
	}
	srv.authDue = now.Add(d)
	if !slices.Contains(h.pendingAuth, srv) {
		h.pendingAuth = append(h.pendingAuth, srv)
	}
	h.wakeAt(srv.authDue)
}

// completeAuth finishes srv's pending flow: a new connection becomes OK
// (and connection_added is sent), a re-authorised one RE_AUTHORISED. Under
// s.mu.
func (h *lifecycle) completeAuth(st *state, srv *server, now time.Time) {
	switch srv.authWhat {
	case "oauth":
		srv.HealthStatus = healthOK
		h.emitConnection(st, peliqan.WebhookConnectionAdded, srv, now)
	case "reauth":
		srv.HealthStatus = healthReauthorised
	}
	srv.authWhat, srv.authDue = "", time.Time{}
	srv.logs = append(srv.logs, logAt(now, "INFO", "Authorisation completed"))
}

// wakeAt settles the fake by itself at t, so what falls due then (an OAuth
// completion, a run's end) and its webhooks happen without a request. Only
// with the real clock and a webhook registered: otherwise nobody could tell
// the difference from settling on the next request. Under s.mu.
func (h *lifecycle) wakeAt(t time.Time) {
	if h.closed || len(h.targets) == 0 || h.s.cfg.manualClock {
		return
	}
	d := max(time.Until(t), 0) + time.Millisecond
	var tm *time.Timer
	h.wg.Add(1)
	// The timer cannot fire before it is recorded: its function needs
	// s.mu, which the caller holds.
	tm = time.AfterFunc(d, func() {
		defer h.wg.Done()
		s := h.s
		s.mu.Lock()
		defer s.mu.Unlock()
		if h.closed {
			return
		}
		delete(h.timers, tm)
		s.st.settle(s.now(), s.cfg)
	})
	h.timers[tm] = struct{}{}
}

// Invite is a connection invite the fake received (the SendConnectionInvite
// route). The fake sends no e-mail; it records the invite.
type Invite struct {
	// AccountID is the sub-account (tenant) that sent it.
	AccountID             peliqan.ID
	Recipient             string
	Subject               string
	Message               string
	ConfirmationRecipient string
	// ServerType is the serverType member as sent (a connector name, or an
	// id in its decimal form).
	ServerType string
	Time       time.Time // by the fake's clock
}

// Invites returns the connection invites received so far, oldest first.
func (s *Fake) Invites() []Invite {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.cfg.lifecycle.hub.invites)
}

// sendInvite answers the invite route as Peliqan's client expects it: 204
// and no body. The fake's checks (its choice; the service's are not
// documented): recipient is a bare e-mail address, serverType names a
// connector (by name or id), and a confirmationRecipient, when sent, is an
// address too. Subject and message are optional.
func sendInvite(c *call) reply {
	var b struct {
		Recipient             *string `json:"recipient"`
		Subject               *string `json:"subject"`
		Message               *string `json:"message"`
		ConfirmationRecipient *string `json:"confirmationRecipient"`
		ServerType            any     `json:"serverType"`
	}
	if rep, ok := c.decodeBody(&b); !ok {
		return rep
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	var errs []string
	if !bareAddress(str(b.Recipient)) {
		errs = append(errs, "recipient", "Enter a valid email address.")
	}
	if v := str(b.ConfirmationRecipient); v != "" && !bareAddress(v) {
		errs = append(errs, "confirmationRecipient", "Enter a valid email address.")
	}
	typ := ""
	switch v := b.ServerType.(type) {
	case string:
		typ = strings.TrimSpace(v)
	case json.Number:
		typ = v.String()
	}
	if typ == "" {
		errs = append(errs, "serverType", "This field is required.")
	} else if c.s.st.serverTypeByName(typ) == nil && !serverTypeID(c.s.st, typ) {
		errs = append(errs, "serverType", fmt.Sprintf("Unknown connector %q.", typ))
	}
	if len(errs) > 0 {
		return fieldErrors(errs...)
	}
	h := c.s.cfg.lifecycle.hub
	h.invites = append(h.invites, Invite{AccountID: peliqan.ID(c.acct.ID), Recipient: str(b.Recipient),
		Subject: str(b.Subject), Message: str(b.Message), ConfirmationRecipient: str(b.ConfirmationRecipient),
		ServerType: typ, Time: c.now})
	return c.ok(nil)
}

func bareAddress(v string) bool {
	a, err := mail.ParseAddress(v)
	return err == nil && a.Name == "" && a.Address == v
}

func serverTypeID(st *state, v string) bool {
	id, err := strconv.ParseInt(v, 10, 64)
	return err == nil && st.serverTypeByID(id) != nil
}

// deleteServer removes a connection (204). Its synced tables stay in the
// tenant's warehouse (the fake's choice: what Peliqan does with them is not
// documented), a run in progress still ends, and connection_removed is
// sent. Another tenant's connection, or one already deleted, is a 404.
func deleteServer(c *call, srv *server) reply {
	st := c.s.st
	delete(st.servers, srv.ID)
	c.acct.servers = slices.DeleteFunc(c.acct.servers, func(id int64) bool { return id == srv.ID })
	srv.authDue = time.Time{}
	c.s.cfg.lifecycle.hub.emitConnection(st, peliqan.WebhookConnectionRemoved, srv, c.now)
	return c.ok(nil)
}

// AddConnection adds a connection to an existing sub-account, as a fixture
// would (no webhook is sent, its OAuth flow, if any, is not started), and
// returns its ids. It is for tests that need a fresh connection to delete
// or to wait on.
func (s *Fake) AddConnection(accountID peliqan.ID, cf ConnectionFixture) (*SeededConnection, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.st.subAccount(int64(accountID))
	switch {
	case a == nil:
		return nil, fmt.Errorf("peliqantest: no sub-account %d", accountID)
	case cf.Type != "" && s.st.serverTypeByName(cf.Type) == nil:
		return nil, fmt.Errorf("peliqantest: connection %q: unknown server type %q", cf.Name, cf.Type)
	case cf.SyncOutcome != "" && !cf.SyncOutcome.valid():
		return nil, fmt.Errorf("peliqantest: connection %q: unknown outcome %q", cf.Name, cf.SyncOutcome)
	}
	sc := s.st.seedConnection(a, cf, s.now())
	return &sc, nil
}

func lifecycleHandlers() map[string]handlerFunc {
	return map[string]handlerFunc{
		routes.SendConnectionInvite: sendInvite,
		routes.DeleteServer:         withServer(deleteServer),
	}
}
