package peliqantest

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/peliqan-community/peliqan-go/internal/routes"
)

// tokenExp reads a token's exp claim (nil when it has none).
func tokenExp(t *testing.T, tok string) *jwt.NumericDate {
	t.Helper()
	var c claims
	_, _, err := jwt.NewParser().ParseUnverified(tok, &c)
	require.NoError(t, err)
	return c.ExpiresAt
}

func TestServerTokenExpiryOptions(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

	t.Run("default: no exp", func(t *testing.T) {
		t.Parallel()
		srv := NewFake(t, WithClock(NewManualClock(start).Now))
		seedOne(t, srv, 1)
		assert.Nil(t, tokenExp(t, newTC(t, srv).tenantToken("acme")))
	})

	t.Run("WithFarFutureExpiry", func(t *testing.T) {
		t.Parallel()
		clk := NewManualClock(start)
		srv := NewFake(t, WithClock(clk.Now), WithFarFutureExpiry(), WithTokenLifetime(10*time.Minute))
		seedOne(t, srv, 1)
		c := newTC(t, srv)
		long := c.tenantToken("acme")
		exp := tokenExp(t, long)
		require.NotNil(t, exp)
		assert.True(t, exp.Time.Equal(FarFutureExpiry), "exp %s", exp.Time)
		viaHelper, err := srv.TenantToken(srv.mustSubAccount(t, "acme"), false)
		require.NoError(t, err)
		assert.True(t, tokenExp(t, viaHelper).Time.Equal(FarFutureExpiry))
		// The short-lived kinds keep their lifetime.
		short := c.ok(routes.SubAccountToken, srv.PartnerToken(), url.Values{"external_id": {"acme"}}, nil).json(t)["token"].(string)
		assert.True(t, tokenExp(t, short).Time.Equal(start.Add(10*time.Minute)))
		// It still opens the tenant a century later.
		clk.Advance(100 * 365 * 24 * time.Hour)
		c.ok(routes.ListServers, long, nil, nil)
	})

	t.Run("WithServerTokenLifetime", func(t *testing.T) {
		t.Parallel()
		clk := NewManualClock(start)
		srv := NewFake(t, WithClock(clk.Now), WithServerTokenLifetime(5*time.Minute))
		seedOne(t, srv, 1)
		c := newTC(t, srv)
		tok := c.tenantToken("acme")
		assert.True(t, tokenExp(t, tok).Time.Equal(start.Add(5*time.Minute)))
		clk.Advance(5*time.Minute - time.Second)
		c.ok(routes.ListServers, tok, nil, nil)
		clk.Advance(2 * time.Second)
		r := c.call(routes.ListServers, tok, nil, nil)
		assert.Equal(t, http.StatusUnauthorized, r.status)
		assert.Equal(t, "Signature has expired.", r.json(t)["detail"])
	})

	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		for name, opts := range map[string][]Option{
			"both":              {WithFarFutureExpiry(), WithServerTokenLifetime(time.Minute)},
			"both, other order": {WithServerTokenLifetime(time.Minute), WithFarFutureExpiry()},
			"zero lifetime":     {WithServerTokenLifetime(0)},
			"negative lifetime": {WithServerTokenLifetime(-time.Second)},
		} {
			_, err := New(opts...)
			assert.Error(t, err, name)
		}
	})
}
