package peliqan_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// tokenFake starts a fake with one sub-account ("acme") and returns it with
// a partner client pointed at it.
func tokenFake(t *testing.T, opts ...peliqantest.Option) (*peliqantest.Server, *peliqan.PartnerClient) {
	t.Helper()
	fake := peliqantest.NewServer(t, append([]peliqantest.Option{peliqantest.WithFixture(peliqantest.Fixture{
		SubAccounts: []peliqantest.SubAccountFixture{{ExternalID: "acme"}},
	})}, opts...)...)
	p, err := fake.PartnerClient(peliqan.WithRetryPolicy(zeroWait))
	require.NoError(t, err)
	return fake, p
}

// TestTenantTokenFarFutureExpIsNonExpiring: an identity token whose exp is
// in the year 9999 ("never") is fetched once and kept, not on every call.
func TestTenantTokenFarFutureExpIsNonExpiring(t *testing.T) {
	t.Parallel()
	fake, p := tokenFake(t, peliqantest.WithFarFutureExpiry())
	ctx := context.Background()

	it, err := p.SubAccountToken(ctx, peliqan.ByExternalID("acme"), peliqan.TokenOptions{})
	require.NoError(t, err)
	assert.True(t, it.ExpiresAt.Equal(peliqantest.FarFutureExpiry), "ExpiresAt reports the exp as written: %s", it.ExpiresAt)
	fake.ResetRecords()

	tc, err := p.SubAccount(ctx, peliqan.ByExternalID("acme"))
	require.NoError(t, err)
	for range 5 {
		_, err := tc.ListServers(ctx)
		require.NoError(t, err)
	}
	assert.Equal(t, 5, fake.Count(peliqan.RouteListServers))
	assert.Equal(t, 1, fake.Count(peliqan.RouteSubAccountToken), "5 tenant calls, 1 identity-token fetch")
}
