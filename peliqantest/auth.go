package peliqantest

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/peliqan-community/peliqan-go/internal/routes"
)

// Token kinds, carried in the "token_type" claim.
const (
	kindPartner     = "partner"
	kindIdentity    = "identity"
	kindIntegration = "integration"
)

const tokenIssuer = "peliqantest"

// claims is what the fake's JWTs carry: the account they open, their kind,
// and the registered claims (exp only on short-lived tokens).
type claims struct {
	AccountID int64  `json:"account_id"`
	Kind      string `json:"token_type"`
	jwt.RegisteredClaims
}

// authority signs and checks the fake's tokens (HS256).
type authority struct {
	key          []byte
	ttl          time.Duration
	now          func() time.Time
	partnerToken string
	// serverExp, when set, is the exp of the "non-expiring" tokens
	// (WithFarFutureExpiry, WithServerTokenLifetime).
	serverExp func(now time.Time) time.Time
	// seq makes every minted token distinct (jti); guarded by Fake.mu.
	seq int64
}

func newAuthority(cfg config) *authority {
	a := &authority{key: cfg.signingKey, ttl: cfg.tokenTTL, now: cfg.now, serverExp: cfg.serverTokenExp}
	// The partner token has no iat or jti, so a fixed signing key gives the
	// same token on every start (the standalone command relies on it).
	tok, err := a.sign(claims{AccountID: partnerAccountID, Kind: kindPartner, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: tokenIssuer, Subject: "partner",
	}})
	if err != nil {
		panic("peliqantest: signing the partner token: " + err.Error())
	}
	a.partnerToken = tok
	return a
}

func (a *authority) sign(c claims) (string, error) {
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(a.key)
}

// mint issues a tenant token. expiring tokens carry exp = now + ttl; the
// others carry none unless serverExp gives one. Callers hold Fake.mu.
func (a *authority) mint(accountID int64, kind string, expiring bool, now time.Time) (string, error) {
	a.seq++
	c := claims{AccountID: accountID, Kind: kind, RegisteredClaims: jwt.RegisteredClaims{
		Issuer:   tokenIssuer,
		Subject:  strconv.FormatInt(accountID, 10),
		IssuedAt: jwt.NewNumericDate(now),
		ID:       strconv.FormatInt(a.seq, 10),
	}}
	switch {
	case expiring:
		c.ExpiresAt = jwt.NewNumericDate(now.Add(a.ttl))
	case a.serverExp != nil:
		c.ExpiresAt = jwt.NewNumericDate(a.serverExp(now))
	}
	return a.sign(c)
}

var errTokenExpired = errors.New("token expired")

// verify checks a token's signature, issuer and expiry against the fake's
// clock.
func (a *authority) verify(tok string) (*claims, error) {
	var c claims
	_, err := jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return a.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(tokenIssuer),
		jwt.WithTimeFunc(a.now))
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return nil, errTokenExpired
		}
		return nil, err
	}
	return &c, nil
}

// authenticate resolves the request's token to an account, the way
// djangorestframework-jwt answers: 401 with its messages for a missing, bad
// or expired token, 403 for a tenant token on a partner route. A tenant
// route with the partner token opens the partner's own account. On success
// it returns a zero reply and sets c.acct and c.claims. Callers hold
// Fake.mu.
func (s *Fake) authenticate(c *call) reply {
	h := c.r.Header.Get("Authorization")
	scheme, tok, _ := strings.Cut(h, " ")
	if scheme != "JWT" || strings.TrimSpace(tok) == "" {
		return unauthorized("Authentication credentials were not provided.")
	}
	cl, err := s.auth.verify(strings.TrimSpace(tok))
	switch {
	case errors.Is(err, errTokenExpired):
		return unauthorized("Signature has expired.")
	case err != nil:
		return unauthorized("Error decoding signature.")
	}
	c.claims = cl
	if c.route.Auth == routes.Partner {
		if cl.Kind != kindPartner {
			return detail(http.StatusForbidden, "You do not have permission to perform this action.")
		}
		c.acct = s.st.partner
		return reply{}
	}
	if cl.Kind == kindPartner {
		c.acct = s.st.partner
		return reply{}
	}
	a := s.st.subAccount(cl.AccountID)
	if a == nil {
		return unauthorized("User account is disabled.")
	}
	c.acct = a
	return reply{}
}

func unauthorized(msg string) reply {
	r := detail(http.StatusUnauthorized, msg)
	r.header = http.Header{"Www-Authenticate": {`JWT realm="api"`}}
	return r
}
