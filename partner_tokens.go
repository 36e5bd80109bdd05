package peliqan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/peliqan-community/peliqan-go/internal/routes"
)

// TokenOptions chooses which identity token SubAccountToken asks for.
type TokenOptions struct {
	// Expiring asks for the short-lived token meant for client-side use.
	// The default (false) asks for the non-expiring server-side token
	// (expire=false), which is what a backend and SubAccount use.
	Expiring bool
}

// IdentityToken is a sub-account's identity token: it opens that tenant's
// whole API. Keep it on the server. It never prints: String, GoString,
// Format (every verb), LogValue and MarshalJSON all redact it; use the
// Token field itself where the token is needed, e.g. NewSubAccountClient.
// Its JSON form is write-only: UnmarshalJSON refuses it, and the
// constructors refuse the "[REDACTED]" placeholder as a token, so a
// redacted value can never be used as a token by mistake.
type IdentityToken struct {
	// Token is the raw token, sent as "Authorization: JWT <Token>".
	Token string
	// Expiring reports that the short-lived kind was asked for.
	Expiring bool
	// ExpiresAt is the token's JWT exp when readable (not verified: only
	// used to schedule a refresh); zero when the token states none.
	ExpiresAt time.Time
}

// String describes the token without revealing it.
func (t IdentityToken) String() string {
	return "peliqan.IdentityToken{Token:[REDACTED]" + expirySuffix(t.ExpiresAt) + "}"
}

// GoString keeps %#v from revealing the token.
func (t IdentityToken) GoString() string { return t.String() }

// Format makes every fmt verb print the redacted String.
func (t IdentityToken) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, t.String()) }

// LogValue logs the token redacted.
func (t IdentityToken) LogValue() slog.Value {
	return slog.GroupValue(slog.String("token", redactedToken), slog.Bool("expiring", t.Expiring),
		slog.Time("expires_at", t.ExpiresAt))
}

// MarshalJSON redacts the token, so an identity token cannot leak through a
// JSON log or API response by accident. Store t.Token itself if you must.
func (t IdentityToken) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Token     string     `json:"token"`
		Expiring  bool       `json:"expiring"`
		ExpiresAt *time.Time `json:"expires_at,omitempty"`
	}{redactedToken, t.Expiring, timePtr(t.ExpiresAt)})
}

// UnmarshalJSON always fails with an error matching ErrInvalidArgument
// (a JSON null excepted, which leaves t unchanged, as encoding/json
// expects). The JSON that MarshalJSON writes carries "[REDACTED]" instead
// of the token, so decoding it back would give a value that looks like a
// token and earns a 401 on every call; failing here makes a struct that
// holds an IdentityToken and is stored as JSON (a session, a cache entry)
// fail loudly when read back. To keep a token, store the Token string
// itself, or fetch a new one with PartnerClient.SubAccountToken.
func (t *IdentityToken) UnmarshalJSON(b []byte) error {
	if string(bytes.TrimSpace(b)) == "null" {
		return nil
	}
	return invalidArg("IdentityToken", "its JSON form is redacted and cannot be decoded back into a token; "+
		"store the Token field itself")
}

// Integration is the end-customer an integration token is minted for. The
// integrate call creates the sub-account when it does not exist yet, so the
// profile is required: ExternalID, FirstName, LastName, Email (one bare
// address) and CompanyName.
type Integration struct {
	ExternalID  string `json:"external_id"`
	FirstName   string `json:"first_name"`
	LastName    string `json:"last_name"`
	Email       string `json:"email"`
	CompanyName string `json:"company_name"`
}

func (in Integration) validate() error {
	if err := checkExternalID("external_id", in.ExternalID); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{
		{"first_name", in.FirstName}, {"last_name", in.LastName}, {"company_name", in.CompanyName},
	} {
		if isBlank(f.v) {
			return invalidArg(f.name, "is empty")
		}
	}
	return checkEmail("email", in.Email)
}

// IntegrationTokenLifetime is how long an integration token lives when the
// token itself does not say (Peliqan's embedding doc: 30 minutes).
const IntegrationTokenLifetime = 30 * time.Minute

// IntegrationToken is a short-lived token for the embedded "Add connection"
// widget in one customer's browser. It is a different type from
// IdentityToken on purpose: it is the one token meant to leave your server.
// String, GoString, Format (every verb) and LogValue redact it;
// MarshalJSON writes it, because serving it to the widget is its purpose:
//
//	{"integration_token": "...", "expires_at": "2026-11-23T10:30:00Z"}
type IntegrationToken struct {
	// Token is the raw token for the widget.
	Token string
	// ExpiresAt is the JWT exp when readable, else the time the request
	// was sent plus IntegrationTokenLifetime (so it errs early).
	ExpiresAt time.Time
}

// String describes the token without revealing it.
func (t IntegrationToken) String() string {
	return "peliqan.IntegrationToken{Token:[REDACTED]" + expirySuffix(t.ExpiresAt) + "}"
}

// GoString keeps %#v from revealing the token.
func (t IntegrationToken) GoString() string { return t.String() }

// Format makes every fmt verb print the redacted String.
func (t IntegrationToken) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, t.String()) }

// LogValue logs the token redacted.
func (t IntegrationToken) LogValue() slog.Value {
	return slog.GroupValue(slog.String("token", redactedToken), slog.Time("expires_at", t.ExpiresAt))
}

// MarshalJSON writes the token and its expiry for the browser.
func (t IntegrationToken) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Token     string     `json:"integration_token"`
		ExpiresAt *time.Time `json:"expires_at,omitempty"`
	}{t.Token, timePtr(t.ExpiresAt)})
}

// SubAccountToken fetches a sub-account's identity token: by default the
// non-expiring server-side one (expire=false), or the short-lived one with
// &TokenOptions{Expiring: true}. A backend rarely needs it directly:
// SubAccount gives a tenant client that fetches and caches it.
func (p *PartnerClient) SubAccountToken(ctx context.Context, ref SubAccountRef, o *TokenOptions, opts ...RequestOption) (*IdentityToken, error) {
	opt := optionsOr(o)
	if err := ref.validate(); err != nil {
		return nil, err
	}
	q := ref.query()
	if !opt.Expiring {
		q.Set("expire", "false")
	}
	var tok string
	err := p.c.do(ctx, &call{route: routes.MustLookup(routes.SubAccountToken), query: q, decode: func(b []byte) error {
		var err error
		tok, err = decodeToken(b, "token", "identity_token", "access_token")
		return err
	}}, opts)
	if err != nil {
		return nil, err
	}
	out := &IdentityToken{Token: tok, Expiring: opt.Expiring}
	if exp, ok := jwtExpiry(tok); ok {
		out.ExpiresAt = exp
	}
	return out, nil
}

// IntegrationToken mints a 30-minute token for the embedded widget of one
// end-customer (POST /api/partner/sub-account/integrate/). Peliqan creates
// the sub-account from in when it does not exist yet. It is never retried
// (a POST).
func (p *PartnerClient) IntegrationToken(ctx context.Context, in Integration, opts ...RequestOption) (*IntegrationToken, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	in.Email = strings.TrimSpace(in.Email)
	issued := time.Now()
	var tok string
	err := p.c.do(ctx, &call{route: routes.MustLookup(routes.IntegrationToken), body: in, decode: func(b []byte) error {
		var err error
		tok, err = decodeToken(b, "integration_token", "token")
		return err
	}}, opts)
	if err != nil {
		return nil, err
	}
	out := &IntegrationToken{Token: tok, ExpiresAt: issued.Add(IntegrationTokenLifetime)}
	if exp, ok := jwtExpiry(tok); ok {
		out.ExpiresAt = exp
	}
	return out, nil
}

var errNoToken = errors.New("no token in the response")

// decodeToken takes the first non-empty member of keys from a JSON object,
// or a bare JSON string, and checks it can be sent as a header.
func decodeToken(b []byte, keys ...string) (string, error) {
	b = bytes.TrimSpace(b)
	var tok string
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &tok); err != nil {
			return "", err
		}
	} else {
		var top map[string]json.RawMessage
		if err := json.Unmarshal(b, &top); err != nil {
			return "", err
		}
		for _, k := range keys {
			if s, ok := looseString(top[k]); ok && s != "" {
				tok = s
				break
			}
		}
	}
	if tok == "" {
		return "", errNoToken
	}
	if checkToken("token", tok) != nil {
		return "", errors.New("the token in the response cannot be sent as a header")
	}
	return tok, nil
}

// jwtExpiry reads a JWT's exp without verifying it (it is only used to
// schedule a refresh, never to trust the token).
func jwtExpiry(tok string) (time.Time, bool) {
	var claims jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &claims); err != nil || claims.ExpiresAt == nil {
		return time.Time{}, false
	}
	return claims.ExpiresAt.Time, true
}

func expirySuffix(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return " ExpiresAt:" + t.UTC().Format(time.RFC3339)
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
