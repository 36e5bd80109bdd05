package peliqan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rotatingTokens hands out "tok-1", then "tok-2" after a refresh.
type rotatingTokens struct {
	refreshes atomic.Int32
	fail      error
}

func (r *rotatingTokens) token(context.Context) (string, error) {
	return fmt.Sprintf("tok-%d", r.refreshes.Load()+1), nil
}

func (r *rotatingTokens) refresh(_ context.Context, stale string) (string, error) {
	if r.fail != nil {
		return "", r.fail
	}
	r.refreshes.Add(1)
	return r.token(context.Background())
}

func TestUnauthorizedIsReplayedOnceWithAFreshToken(t *testing.T) {
	t.Parallel()
	s, mt := mockTenant(t)
	ts := &rotatingTokens{}
	s = &SubAccountClient{c: s.c.withTokens(ts)}
	var auths []string
	mt.RegisterResponder("GET", testBase+"/api/servers/3/syncdb/", func(r *http.Request) (*http.Response, error) {
		auths = append(auths, r.Header.Get("Authorization"))
		if r.Header.Get("Authorization") == "JWT tok-1" {
			return httpmock.NewStringResponse(401, `{"detail":"Token expired"}`), nil
		}
		return httpmock.NewStringResponse(200, `{"syncing":true}`), nil
	})
	var resp Response
	require.NoError(t, s.Do(context.Background(), "GET", "/api/servers/3/syncdb/", nil, nil, WithResponse(&resp)))
	assert.Equal(t, []string{"JWT tok-1", "JWT tok-2"}, auths, "a side-effect GET answered 401 was not acted on: replayed once")
	assert.EqualValues(t, 1, ts.refreshes.Load())
	assert.Equal(t, 2, resp.Attempts)
}

func TestUnauthorizedTwiceIsReturned(t *testing.T) {
	t.Parallel()
	s, mt := mockTenant(t)
	ts := &rotatingTokens{}
	s = &SubAccountClient{c: s.c.withTokens(ts)}
	mt.RegisterResponder("POST", testBase+"/api/servers/", httpmock.NewStringResponder(401, `{"detail":"nope"}`))
	err := s.Do(context.Background(), "POST", "/api/servers/", map[string]int{}, nil)
	assert.ErrorIs(t, err, ErrUnauthorized)
	assert.Equal(t, 2, mt.GetTotalCallCount(), "one replay, no more")
	assert.EqualValues(t, 1, ts.refreshes.Load())
}

func TestStaticTokenIsNotReplayed(t *testing.T) {
	t.Parallel()
	s, mt := mockTenant(t)
	mt.RegisterResponder("GET", testBase+"/api/servers/", httpmock.NewStringResponder(401, `{"detail":"Invalid token"}`))
	err := s.Do(context.Background(), "GET", "/api/servers/", nil, nil)
	assert.ErrorIs(t, err, ErrUnauthorized)
	assert.Equal(t, 1, mt.GetTotalCallCount())
}

func TestRefreshFailureIsReturned(t *testing.T) {
	t.Parallel()
	s, mt := mockTenant(t)
	boom := errors.New("partner token revoked")
	s = &SubAccountClient{c: s.c.withTokens(&rotatingTokens{fail: boom})}
	mt.RegisterResponder("GET", testBase+"/api/servers/", httpmock.NewStringResponder(401, `{}`))
	assert.ErrorIs(t, s.Do(context.Background(), "GET", "/api/servers/", nil, nil), boom)
	assert.Equal(t, 1, mt.GetTotalCallCount())
}

// TestTokensNeverLeak formats clients and errors every way a user might log
// them, with a server that echoes the token back in its error bodies.
func TestTokensNeverLeak(t *testing.T) {
	t.Parallel()
	var logs safeBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, mt := mockPartner(t, WithLogger(logger))
	s, mt2 := mockTenant(t, WithLogger(logger))
	echo := func(r *http.Request) (*http.Response, error) {
		return httpmock.NewStringResponse(400, `{"detail":"bad header `+r.Header.Get("Authorization")+`"}`), nil
	}
	mt.RegisterNoResponder(echo)
	mt2.RegisterNoResponder(echo)
	var texts []string
	for _, err := range []error{
		p.Do(context.Background(), "GET", "/api/servertypes/", nil, nil),
		s.Do(context.Background(), "POST", "/api/servers/", map[string]int{}, nil),
	} {
		require.Error(t, err)
		var ae *APIError
		require.ErrorAs(t, err, &ae)
		texts = append(texts, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err), string(ae.Body), ae.Message)
	}
	for _, v := range []any{p, s, *p, *s} {
		texts = append(texts, fmt.Sprint(v), fmt.Sprintf("%v", v), fmt.Sprintf("%+v", v), fmt.Sprintf("%#v", v))
	}
	logger.Info("clients", "partner", p, "tenant", s)
	texts = append(texts, logs.String())
	all := strings.Join(texts, "\n")
	assert.Contains(t, all, "[REDACTED]", "the echoed token was scrubbed, not dropped silently")
	assert.NotContains(t, all, testPartnerToken)
	assert.NotContains(t, all, testTenantToken)
}

// redactionMarkers are placeholders that logs, JSON encoders and secret
// managers write instead of a secret; none of them is a token.
var redactionMarkers = []string{
	"[REDACTED]", "REDACTED", "redacted", "<redacted>", "(redacted)", "{REDACTED}", "*REDACTED*",
	"[FILTERED]", "[filtered]", "<hidden>", "[masked]", "[removed]", "[omitted]",
	"***", "********", "[***]", "xxxxxxxx", "XXXX", "•••••", "…",
}

func TestRedactedTokenRefusedAtConstruction(t *testing.T) {
	t.Parallel()
	for _, m := range redactionMarkers {
		_, err := NewSubAccountClient(m)
		require.ErrorIs(t, err, ErrInvalidArgument, "%q", m)
		assert.Contains(t, err.Error(), "redact", "%q: the message says why", m)
		_, err = NewPartnerClient(m)
		assert.ErrorIs(t, err, ErrInvalidArgument, "%q", m)
	}
	// Real tokens, including JWTs that contain the letters, pass.
	for _, ok := range []string{testTenantToken, "eyJhbGciOiJIUzI1NiJ9.eyJyZWRhY3RlZCI6MX0.c2ln", "xREDACTEDx", "abc-redacted-123"} {
		_, err := NewSubAccountClient(ok)
		assert.NoError(t, err, "%q", ok)
	}
}

func TestRedactedTokenFromServerRefused(t *testing.T) {
	t.Parallel()
	_, err := decodeToken([]byte(`{"token":"[REDACTED]"}`), "token")
	assert.Error(t, err)
}

// TestIdentityTokenJSONDoesNotRoundTrip: the JSON form of an IdentityToken
// is redacted, so decoding it back is an error rather than a token that
// every call then sends and gets 401 for.
func TestIdentityTokenJSONDoesNotRoundTrip(t *testing.T) {
	t.Parallel()
	in := IdentityToken{Token: testTenantToken, ExpiresAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	b, err := json.Marshal(in)
	require.NoError(t, err)
	assert.NotContains(t, string(b), testTenantToken)

	var out IdentityToken
	err = json.Unmarshal(b, &out)
	require.Error(t, err, "the redacted form cannot be decoded into a token")
	assert.ErrorIs(t, err, ErrInvalidArgument)
	assert.Contains(t, err.Error(), "redacted")
	assert.Empty(t, out.Token)

	// Inside a struct (a session stored as JSON) too.
	type session struct {
		User  string
		Token IdentityToken
	}
	b, err = json.Marshal(session{User: "u", Token: in})
	require.NoError(t, err)
	var s session
	assert.ErrorIs(t, json.Unmarshal(b, &s), ErrInvalidArgument)

	// A JSON null leaves the value alone, as encoding/json expects.
	var ptr struct{ Token *IdentityToken }
	require.NoError(t, json.Unmarshal([]byte(`{"Token":null}`), &ptr))
	assert.Nil(t, ptr.Token)
	require.NoError(t, json.Unmarshal([]byte(`null`), &out))
}
