package peliqan

import (
	"context"
	"net/mail"
	"strings"
	"time"

	"github.com/peliqan-community/peliqan-go/internal/routes"
)

// A connection's life around the embed widget: the customer adds it (the
// widget, or CreateServer), finishes its OAuth window, and the partner's
// backend confirms it by reading it (WaitForConnection); someone else can be
// asked to connect a source by e-mail (SendConnectionInvite); and a
// connection can be removed (DeleteServer).

// ConnectionWaitOptions tunes WaitForConnection. nil means all defaults.
type ConnectionWaitOptions struct {
	// Schedule spaces the reads; nil means PeliqanSchedule (5 s, then 10 s
	// after the 5th read, 20 s after the 10th). A customer who has just
	// closed the OAuth window is usually done within seconds:
	// FixedSchedule(time.Second) answers sooner.
	Schedule PollSchedule
	// Progress, when set, sees every read, the last one included, on the
	// caller's goroutine.
	Progress func(*ConnectionState)
}

// ConnectionState is one read of a connection by WaitForConnection, and its
// answer.
type ConnectionState struct {
	// Server is the connection as read.
	Server *Server
	// Status is Server.HealthStatus, as sent.
	Status HealthStatus
	// Polls counts the reads so far, from 1.
	Polls int
	// Elapsed is the time since the wait began.
	Elapsed time.Duration
}

// Authorising reports whether WaitForConnection keeps waiting on this
// status: the customer has not finished (NeedsReauthorisation: AUTHORIZING,
// RE_AUTHORISING, CONFIG_SELECT) or Peliqan is still checking the new
// credentials (InProgress: CHECKING). Every other value, unknown ones and
// an empty one included, is where the wait ends.
func (st *ConnectionState) Authorising() bool { return stillAuthorising(st.Status) }

func stillAuthorising(h HealthStatus) bool { return h.NeedsReauthorisation() || h.InProgress() }

// WaitForConnection reads a connection until it leaves the authorising
// states, and returns the last read: what the partner's backend does after
// the customer's OAuth window closes (Peliqan's docs: "on window close, GET
// the server to confirm").
//
// The statuses it waits on, and the ones that end it:
//
//	status                                      helper                the wait
//	AUTHORIZING, RE_AUTHORISING, CONFIG_SELECT  NeedsReauthorisation  goes on: the customer has not finished
//	CHECKING                                    InProgress            goes on: Peliqan is checking it
//	OK, HEALTHY, RE_ENABLED, RE_AUTHORISED      IsHealthy             ends: ready to sync
//	ERROR, COMPLETED_WITH_ERRORS                IsFailed              ends: see ServerLogs
//	DISABLED                                    IsDisabled            ends
//	any other value, or none                    (IsKnown is false)    ends: returned as sent
//
// An unknown status ends the wait rather than prolonging it: this SDK cannot
// tell whether it will ever change. CHECKING is also what a connection may
// show while it syncs; a wait on a syncing connection lasts until the sync
// ends. A connection that is still authorising
// when ctx ends is not an error of its own: ctx's error comes back (nil
// state), and the last read reached o.Progress. Bound the wait with a
// deadline: a customer who never finishes keeps the connection
// AUTHORIZING.
//
// It reads with GetServer (GET /api/servers/{id}/, retried like every
// read), the route the docs name for this check, and returns the whole
// connection; GetServerHealthStatus is the same request with fewer fields.
// It never triggers anything: no authorisation is started again and no
// sync begins. Any error ends the wait (ErrNotFound when the connection is
// gone).
func (s *SubAccountClient) WaitForConnection(ctx context.Context, id ID, o *ConnectionWaitOptions, opts ...RequestOption) (*ConnectionState, error) {
	opt := optionsOr(o)
	if ctx == nil {
		return nil, invalidArg("ctx", "nil context")
	}
	if _, err := id.param("server id"); err != nil {
		return nil, err
	}
	if _, err := applyCallOptions(opts); err != nil {
		return nil, err
	}
	start := time.Now()
	polls := 0
	return pollUntil(ctx, opt.Schedule, func(ctx context.Context) (*ConnectionState, bool, error) {
		polls++
		srv, err := s.GetServer(ctx, id, opts...)
		if err != nil {
			return nil, false, err
		}
		st := &ConnectionState{Server: srv, Status: srv.HealthStatus, Polls: polls, Elapsed: time.Since(start)}
		return st, !st.Authorising(), nil
	}, opt.Progress)
}

// ConnectionInvite is an e-mail Peliqan sends on the customer's behalf,
// asking someone else (a colleague who holds the credentials) to connect a
// source.
type ConnectionInvite struct {
	// Recipient is the e-mail address of the person asked to connect.
	// Required.
	Recipient string
	// ServerType names the connector to connect, as ServerType.Name and the
	// connection's server_type do (e.g. "hubspot"). Required. Sent as a
	// string; Peliqan's client passes it through unchanged, and no source
	// says whether the service also takes a connector id.
	ServerType string
	// Subject and Message are the e-mail's subject and text; empty ones are
	// sent as null, as Peliqan's client sends None, and Peliqan's own
	// wording is then used (inferred).
	Subject string
	Message string
	// ConfirmationRecipient, when set, is the e-mail address told when the
	// connection has been made (the meaning is read from the parameter's
	// name in Peliqan's client; no document describes it).
	ConfirmationRecipient string
}

func (in ConnectionInvite) body() (map[string]any, error) {
	rcpt, err := inviteAddress("Recipient", in.Recipient)
	if err != nil {
		return nil, err
	}
	if rcpt == "" {
		return nil, invalidArg("Recipient", "is empty")
	}
	confirm, err := inviteAddress("ConfirmationRecipient", in.ConfirmationRecipient)
	if err != nil {
		return nil, err
	}
	typ := strings.TrimSpace(in.ServerType)
	if typ == "" {
		return nil, invalidArg("ServerType", "is empty")
	}
	orNull := func(v string) any {
		if v == "" {
			return nil
		}
		return v
	}
	// Keys and their spelling as Peliqan's client sends them (camelCase).
	return map[string]any{
		"recipient":             rcpt,
		"subject":               orNull(in.Subject),
		"message":               orNull(in.Message),
		"confirmationRecipient": orNull(confirm),
		"serverType":            typ,
	}, nil
}

// inviteAddress checks one bare e-mail address ("" is allowed here; the
// caller says whether it is required).
func inviteAddress(name, v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", nil
	}
	a, err := mail.ParseAddress(v)
	if err != nil || a.Address != v || a.Name != "" {
		return "", invalidArg(name, "%.100q is not a bare e-mail address", v)
	}
	return v, nil
}

// SendConnectionInvite asks Peliqan to e-mail in.Recipient an invitation to
// connect a source of type in.ServerType to this customer's account (POST
// /api/servers/invite/, as Peliqan's own client's send_connection_invite;
// the service answers 204). The invitee finishes in Peliqan, so the new
// connection shows up in ListServers and, when configured, in a
// connection_added webhook.
//
// It is sent once and never retried: a retried POST could send the e-mail
// twice. Bad input (an empty or malformed address, no connector) is refused
// with ErrInvalidArgument before any request.
func (s *SubAccountClient) SendConnectionInvite(ctx context.Context, in ConnectionInvite, opts ...RequestOption) error {
	if ctx == nil {
		return invalidArg("ctx", "nil context")
	}
	body, err := in.body()
	if err != nil {
		return err
	}
	return s.c.do(ctx, &call{route: routes.MustLookup(routes.SendConnectionInvite), body: body}, opts)
}

// DeleteServer removes a connection from the customer's account.
//
// The route (DELETE /api/servers/{id}/) is inferred: no Peliqan source
// shows how a connection is deleted; the SDK uses the REST form of the
// connection routes, as for DeleteSubAccount. If your instance disagrees,
// call Do with the path that works.
//
// A DELETE is retried after a transient failure like a read. When an
// earlier attempt may have reached the server (a 5xx, a connection reset)
// and the retry answers 404, the connection is gone as asked, and
// DeleteServer returns nil. A 404 on the first attempt is ErrNotFound: there
// was no such connection (or it belongs to another customer).
func (s *SubAccountClient) DeleteServer(ctx context.Context, id ID, opts ...RequestOption) error {
	p, err := id.param("server id")
	if err != nil {
		return err
	}
	return s.c.do(ctx, &call{route: routes.MustLookup(routes.DeleteServer), params: []string{p}}, opts)
}
