package peliqan

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
)

// Peliqan's outbound webhooks (Settings > API Token & Webhooks > Outbound
// Webhooks) are HTTPS POSTs, signed with HMAC-SHA256 when a signing secret is
// set. The documentation we have names the events but not the signature
// header, the signed string or the payload shape, so this file makes these
// choices, all of them inferred:
//
//   - the signature is the hex HMAC-SHA256 of the raw request body, keyed
//     with the signing secret, optionally prefixed "sha256=" (the GitHub
//     convention);
//   - it travels in DefaultWebhookSignatureHeader unless told otherwise;
//   - the event type is the first string member among "event", "event_type"
//     and "type" of the JSON body.
//
// The header name is configurable and the whole body is kept in
// WebhookEvent.Payload, so a different wire format needs no SDK change to be
// read.

// DefaultWebhookSignatureHeader is the header the signature is read from when
// no other is named. Inferred: Peliqan's documentation does not name it.
const DefaultWebhookSignatureHeader = "X-Peliqan-Signature"

// DefaultWebhookMaxBodyBytes caps the body a webhook request may carry
// (1 MiB). Bigger requests are refused with ErrWebhookTooLarge before any
// signature work.
const DefaultWebhookMaxBodyBytes int64 = 1 << 20

// Webhook verification errors. WebhookHandler answers them with 401, 413 and
// 400 respectively.
var (
	// ErrWebhookSignature: the signature header is missing, is not hex, or
	// does not match the body.
	ErrWebhookSignature = errors.New("peliqan: webhook signature missing or invalid")
	// ErrWebhookTooLarge: the body is over the size cap.
	ErrWebhookTooLarge = errors.New("peliqan: webhook body too large")
	// ErrWebhookMalformed: the signature is valid but the body is not JSON.
	ErrWebhookMalformed = errors.New("peliqan: webhook body is not JSON")
)

// WebhookEventType names what happened. It is an open string enum: types this
// version does not know are kept as sent, and IsKnown tells them apart.
type WebhookEventType string

// Event types listed in Peliqan's webhook documentation.
const (
	WebhookConnectionAdded                WebhookEventType = "connection_added"
	WebhookConnectionRemoved              WebhookEventType = "connection_removed"
	WebhookPipelineRunStarted             WebhookEventType = "pipeline_run_started"               // run status RUNNING
	WebhookPipelineRunCompleted           WebhookEventType = "pipeline_run_completed"             // COMPLETED
	WebhookPipelineRunCompletedWithErrors WebhookEventType = "pipeline_run_completed_with_errors" // COMPLETED_WITH_ERRORS
	WebhookPipelineRunInternalError       WebhookEventType = "pipeline_run_internal_error"        // INTERNAL_ERROR
	WebhookPipelineRunError               WebhookEventType = "pipeline_run_error"                 // ERROR
)

// IsKnown reports whether t is one of the types declared above.
func (t WebhookEventType) IsKnown() bool {
	return t.IsConnection() || t.IsPipelineRun()
}

// IsConnection reports whether t is connection_added or connection_removed
// (whose payload, per the documentation, differs from the pipeline events).
func (t WebhookEventType) IsConnection() bool {
	return t == WebhookConnectionAdded || t == WebhookConnectionRemoved
}

// IsPipelineRun reports whether t is one of the known pipeline_run_* types.
func (t WebhookEventType) IsPipelineRun() bool {
	switch t {
	case WebhookPipelineRunStarted, WebhookPipelineRunCompleted, WebhookPipelineRunCompletedWithErrors,
		WebhookPipelineRunInternalError, WebhookPipelineRunError:
		return true
	}
	return false
}

// WebhookEvent is one verified webhook delivery.
type WebhookEvent struct {
	// Type is the event type read from the body ("" when the body names
	// none). Unknown types are kept as sent.
	Type WebhookEventType
	// Payload is the whole body as received (and signed).
	Payload json.RawMessage
}

// Decode unmarshals the payload into v, for the fields of the event that
// this SDK does not model (the payload shape is not documented).
func (e *WebhookEvent) Decode(v any) error {
	return json.Unmarshal(e.Payload, v)
}

// VerifyWebhookSignature checks signature (hex, optionally "sha256="-prefixed)
// against the HMAC-SHA256 of body keyed with secret, in constant time. It is
// for frameworks that have already read the body; VerifyWebhook does the
// whole job on an *http.Request. An empty secret is refused with
// ErrInvalidArgument (an unsigned webhook is never accepted). The signature
// format is inferred (see DefaultWebhookSignatureHeader).
func VerifyWebhookSignature(secret string, body []byte, signature string) error {
	if secret == "" {
		return invalidArg("webhook secret", "is empty")
	}
	sig := strings.TrimSpace(signature)
	if len(sig) >= len("sha256=") && strings.EqualFold(sig[:len("sha256=")], "sha256=") {
		sig = sig[len("sha256="):]
	}
	got, err := hex.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return ErrWebhookSignature
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return ErrWebhookSignature
	}
	return nil
}

// SignWebhook returns the signature VerifyWebhookSignature accepts for body
// ("sha256=" followed by the lowercase hex HMAC-SHA256). It is for tests and
// fakes that play Peliqan's part.
func SignWebhook(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// VerifyWebhook reads r's body (at most DefaultWebhookMaxBodyBytes), checks
// its signature from header (DefaultWebhookSignatureHeader when empty) with
// secret, and returns the event. Errors: ErrInvalidArgument for an empty
// secret, ErrWebhookTooLarge, ErrWebhookSignature, ErrWebhookMalformed, or
// the body's read error. The signature format is inferred (see
// DefaultWebhookSignatureHeader). The body is consumed.
//
// There is no documented timestamp or delivery id to guard against replays:
// make the handling of an event idempotent, or let WebhookHandler with
// WithWebhookDedupe drop the repeats.
func VerifyWebhook(secret, header string, r *http.Request) (*WebhookEvent, error) {
	return verifyWebhook(secret, header, DefaultWebhookMaxBodyBytes, r)
}

func verifyWebhook(secret, header string, maxBody int64, r *http.Request) (*WebhookEvent, error) {
	if secret == "" {
		return nil, invalidArg("webhook secret", "is empty")
	}
	if r == nil || r.Body == nil {
		return nil, invalidArg("request", "has no body")
	}
	if header == "" {
		header = DefaultWebhookSignatureHeader
	}
	if r.ContentLength > maxBody {
		return nil, ErrWebhookTooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > maxBody {
		return nil, ErrWebhookTooLarge
	}
	if err := VerifyWebhookSignature(secret, body, r.Header.Get(header)); err != nil {
		return nil, err
	}
	return parseWebhookEvent(body)
}

// parseWebhookEvent decodes an authenticated body. Any JSON value is
// accepted; the type is read from an object's "event", "event_type" or
// "type" string member, in that order (inferred).
func parseWebhookEvent(body []byte) (*WebhookEvent, error) {
	if !json.Valid(body) {
		return nil, ErrWebhookMalformed
	}
	ev := &WebhookEvent{Payload: json.RawMessage(bytes.Clone(body))}
	var members map[string]json.RawMessage
	if json.Unmarshal(body, &members) == nil {
		for _, k := range []string{"event", "event_type", "type"} {
			var s string
			if raw, ok := members[k]; ok && json.Unmarshal(raw, &s) == nil && s != "" {
				ev.Type = WebhookEventType(s)
				break
			}
		}
	}
	return ev, nil
}

// WebhookOption configures WebhookHandler; a bad value is returned by
// WebhookHandler as ErrInvalidArgument.
type WebhookOption func(*webhookConfig) error

type webhookConfig struct {
	header  string
	maxBody int64
	dedupe  WebhookDeduper // nil: every delivery reaches fn (WithWebhookDedupe)
}

// WithWebhookHeader reads the signature from name instead of
// DefaultWebhookSignatureHeader.
func WithWebhookHeader(name string) WebhookOption {
	return func(c *webhookConfig) error {
		if !validHeaderName(name) {
			return invalidArg("WithWebhookHeader", "%q is not a valid header name", name)
		}
		c.header = name
		return nil
	}
}

// WithWebhookMaxBody sets the body cap (DefaultWebhookMaxBodyBytes by
// default); it must be positive.
func WithWebhookMaxBody(n int64) WebhookOption {
	return func(c *webhookConfig) error {
		if n <= 0 {
			return invalidArg("WithWebhookMaxBody", "must be positive (got %d)", n)
		}
		c.maxBody = n
		return nil
	}
}

// WebhookHandler returns the http.Handler to point Peliqan's outbound
// webhook at. For each POST it verifies the signature with secret (see
// VerifyWebhook; the format is inferred), then calls fn with the request's
// context and the event.
//
// Answers: 204 when fn returns nil (or, with WithWebhookDedupe, for an event
// already handled, without calling fn); 500 when fn fails (so the sender may
// deliver again); 405 with Allow: POST for other methods; 401 for a missing
// or wrong signature; 413 for a body over the cap; 400 for a signed body that
// is not JSON. Error bodies are small JSON objects ({"error": "..."}) that
// reveal nothing of fn's error or of the secret. fn is never called for an
// unverified request. An empty secret, a nil fn or a bad option is refused
// with ErrInvalidArgument: a webhook endpoint that accepts unsigned events
// would let anyone forge them.
func WebhookHandler(secret string, fn func(context.Context, *WebhookEvent) error, opts ...WebhookOption) (http.Handler, error) {
	switch {
	case secret == "":
		return nil, invalidArg("secret", "is empty")
	case fn == nil:
		return nil, invalidArg("fn", "is nil")
	}
	cfg := webhookConfig{header: DefaultWebhookSignatureHeader, maxBody: DefaultWebhookMaxBodyBytes}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeEmbedError(w, http.StatusMethodNotAllowed, "method_not_allowed")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, cfg.maxBody+1)
		ev, err := verifyWebhook(secret, cfg.header, cfg.maxBody, r)
		switch {
		case err == nil:
		case errors.Is(err, ErrWebhookTooLarge):
			writeEmbedError(w, http.StatusRequestEntityTooLarge, "body_too_large")
			return
		case errors.Is(err, ErrWebhookSignature):
			writeEmbedError(w, http.StatusUnauthorized, "invalid_signature")
			return
		case errors.Is(err, ErrWebhookMalformed):
			writeEmbedError(w, http.StatusBadRequest, "malformed_body")
			return
		default:
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeEmbedError(w, http.StatusRequestEntityTooLarge, "body_too_large")
				return
			}
			writeEmbedError(w, http.StatusBadRequest, "unreadable_body")
			return
		}
		if cfg.dedupe != nil {
			serveOnce(w, r, cfg.dedupe, ev, fn)
			return
		}
		if err := fn(r.Context(), ev); err != nil {
			writeEmbedError(w, http.StatusInternalServerError, "handler_failed")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}), nil
}

// serveOnce calls fn for an event d has not seen, and forgets the event
// again when fn fails or panics, so a redelivery is handled.
func serveOnce(w http.ResponseWriter, r *http.Request, d WebhookDeduper, ev *WebhookEvent, fn func(context.Context, *WebhookEvent) error) {
	key := ev.DedupeKey()
	seen, err := d.Seen(r.Context(), key)
	switch {
	case err != nil:
		writeEmbedError(w, http.StatusInternalServerError, "dedupe_failed")
		return
	case seen:
		w.WriteHeader(http.StatusNoContent)
		return
	}
	handled := false
	defer func() {
		if !handled {
			// The request's context may be over; forgetting must not be.
			_ = d.Forget(context.WithoutCancel(r.Context()), key)
		}
	}()
	if err := fn(r.Context(), ev); err != nil {
		writeEmbedError(w, http.StatusInternalServerError, "handler_failed")
		return
	}
	handled = true
	w.WriteHeader(http.StatusNoContent)
}

// writeEmbedError writes {"error": code} with status, uncached. code is one
// of this package's fixed strings, never a message from an error value.
func writeEmbedError(w http.ResponseWriter, status int, code string) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{code})
	_, _ = w.Write(append(b, '\n'))
}
