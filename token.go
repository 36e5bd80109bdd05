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

// checkToken refuses a token that cannot be sent as a header value.
func checkToken(name, tok string) error {
	switch {
	case strings.TrimSpace(tok) == "":
		return invalidArg(name, "is empty")
	case strings.ContainsAny(tok, " \t\r\n\x00"):
		return invalidArg(name, "contains white space or control characters")
	case strings.HasPrefix(tok, "JWT") && len(tok) > 3 && tok[3] == ' ', strings.HasPrefix(tok, "Bearer "):
		return invalidArg(name, "must be the bare token, without a scheme prefix")
	}
	return nil
}
