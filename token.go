package peliqan

import (
	"context"
	"errors"
	"strings"
)

// tokenSource gives the core the token for a request. Sources are safe for
// concurrent use.
type tokenSource interface {
	// token returns the token to send now.
	token(ctx context.Context) (string, error)
	// refresh is called once after a request sent with stale was answered
	// 401; it returns a new token, or errNoRefresh when the source cannot
	// get one (a fixed token).
	refresh(ctx context.Context, stale string) (string, error)
}

var errNoRefresh = errors.New("peliqan: token cannot be refreshed")

// staticToken is a token the caller handed us.
type staticToken struct{ tok string }

func (s *staticToken) token(context.Context) (string, error)           { return s.tok, nil }
func (s *staticToken) refresh(context.Context, string) (string, error) { return "", errNoRefresh }

// checkToken refuses a token that cannot be sent as a header value, and a
// redaction placeholder ("[REDACTED]", "***") that a log, a JSON encoder
// (IdentityToken.MarshalJSON) or a secret manager wrote instead of the
// token: sent, it would only earn a 401 on every call.
func checkToken(name, tok string) error {
	switch {
	case strings.TrimSpace(tok) == "":
		return invalidArg(name, "is empty")
	case strings.ContainsAny(tok, " \t\r\n\x00"):
		return invalidArg(name, "contains white space or control characters")
	case strings.HasPrefix(tok, "JWT") && len(tok) > 3 && tok[3] == ' ', strings.HasPrefix(tok, "Bearer "):
		return invalidArg(name, "must be the bare token, without a scheme prefix")
	case isRedactionMarker(tok):
		return invalidArg(name, "is a redaction placeholder (%s), not a token: the String, log and JSON forms of "+
			"IdentityToken are redacted; pass its Token field", redactedToken)
	}
	return nil
}

// redactedToken is what the SDK writes in place of a token.
const redactedToken = "[REDACTED]"

// redactionWords are the words placeholders are made of, bracketed or not:
// "[REDACTED]", "<redacted>", "[FILTERED]" (Rails), "[hidden]"...
var redactionWords = []string{"redacted", "filtered", "hidden", "masked", "removed", "omitted", "scrubbed", "censored"}

// isRedactionMarker reports whether tok is a placeholder rather than a
// token: one of redactionWords, alone or inside brackets or stars, or a run
// of mask characters ("***", "xxxx", "•••"). A real token (a JWT: base64url
// and dots) never is one.
func isRedactionMarker(tok string) bool {
	inner := strings.Trim(tok, "[]<>(){}")
	if strings.Trim(inner, "*•●·….#") == "" {
		return true
	}
	if len(inner) >= 3 && strings.Trim(inner, "xX") == "" {
		return true
	}
	word := strings.ToLower(strings.Trim(inner, "*_-"))
	for _, w := range redactionWords {
		if word == w {
			return true
		}
	}
	return false
}
