package peliqan_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// tokenFake starts a fake with one sub-account ("acme") and returns it with
// a partner client pointed at it.
func tokenFake(t *testing.T, opts ...peliqantest.Option) (*peliqantest.Fake, *peliqan.PartnerClient) {
	t.Helper()
	fake := peliqantest.NewFake(t, append([]peliqantest.Option{peliqantest.WithFixture(peliqantest.Fixture{
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

	it, err := p.SubAccountToken(ctx, peliqan.ByExternalID("acme"), nil)
	require.NoError(t, err)
	assert.True(t, it.ExpiresAt.Equal(peliqantest.FarFutureExpiry), "ExpiresAt reports the exp as written: %s", it.ExpiresAt)
	fake.ResetRecords()

	tc, err := p.SubAccount(peliqan.ByExternalID("acme"))
	require.NoError(t, err)
	for range 5 {
		_, err := tc.ListServers(ctx)
		require.NoError(t, err)
	}
	assert.Equal(t, 5, fake.Count(peliqan.RouteListServers))
	assert.Equal(t, 1, fake.Count(peliqan.RouteSubAccountToken), "5 tenant calls, 1 identity-token fetch")
}

// windowFake is a fake whose expire=false identity tokens live 10 minutes on
// a manual clock, and a tenant client whose token cache reads that clock.
func windowFake(t *testing.T) (*peliqantest.Fake, *peliqantest.ManualClock, *peliqan.SubAccountClient) {
	t.Helper()
	clk := peliqantest.NewManualClock(time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC))
	fake, p := tokenFake(t, peliqantest.WithClock(clk.Now), peliqantest.WithServerTokenLifetime(10*time.Minute))
	tc, err := p.SubAccount(peliqan.ByExternalID("acme"))
	require.NoError(t, err)
	peliqan.UseTenantClock(tc, clk.Now)
	return fake, clk, tc
}

// outage makes the next identity-token fetch fail on every attempt of the
// test retry policy.
func outage(fake *peliqantest.Fake) {
	fake.FailNext(peliqan.RouteSubAccountToken, zeroWait.MaxAttempts, peliqantest.StatusFault(http.StatusServiceUnavailable, ""))
}

// TestTenantTokenRefreshFailureInsideWindowUsesValidToken: a token is
// refreshed a minute before its exp; when that refresh fails, the call goes
// on with the cached token, still valid, and only a failure past the real
// exp is returned.
func TestTenantTokenRefreshFailureInsideWindowUsesValidToken(t *testing.T) {
	t.Parallel()
	fake, clk, tc := windowFake(t)
	ctx := context.Background()
	_, err := tc.ListServers(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, fake.Count(peliqan.RouteSubAccountToken))

	clk.Advance(9*time.Minute + 30*time.Second) // inside the last minute
	outage(fake)
	_, err = tc.ListServers(ctx)
	require.NoError(t, err, "the cached token is valid for 30 s more")
	assert.Equal(t, 1+zeroWait.MaxAttempts, fake.Count(peliqan.RouteSubAccountToken), "the refresh was tried")
	assert.Equal(t, 2, fake.Count(peliqan.RouteListServers))
	for _, r := range fake.Requests() {
		if r.Route == peliqan.RouteListServers {
			assert.Equal(t, http.StatusOK, r.Status, "sent with a token the server accepts")
		}
	}

	clk.Advance(31 * time.Second) // past the real exp
	outage(fake)
	before := fake.Count(peliqan.RouteListServers)
	_, err = tc.ListServers(ctx)
	require.Error(t, err)
	assert.ErrorIs(t, err, peliqan.ErrServer, "the refresh failure itself")
	assert.NotErrorIs(t, err, peliqan.ErrUnauthorized)
	assert.Equal(t, before, fake.Count(peliqan.RouteListServers), "an expired token is not sent")

	// Once the token route is back, a new token is fetched and used.
	_, err = tc.ListServers(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2+2*zeroWait.MaxAttempts, fake.Count(peliqan.RouteSubAccountToken), "1 + 2 outages + 1")
}

// TestTenantTokenFailedEarlyRefreshIsRetriedAfterDelay: after a failed
// refresh inside the window, the calls of the next few seconds use the valid
// token without hitting the token route again; then the refresh is retried.
func TestTenantTokenFailedEarlyRefreshIsRetriedAfterDelay(t *testing.T) {
	t.Parallel()
	fake, clk, tc := windowFake(t)
	ctx := context.Background()
	_, err := tc.ListServers(ctx)
	require.NoError(t, err)

	clk.Advance(9*time.Minute + 10*time.Second)
	outage(fake)
	_, err = tc.ListServers(ctx)
	require.NoError(t, err)
	failed := fake.Count(peliqan.RouteSubAccountToken)
	require.Equal(t, 1+zeroWait.MaxAttempts, failed)

	clk.Advance(2 * time.Second)
	for range 3 {
		_, err = tc.ListServers(ctx)
		require.NoError(t, err)
	}
	assert.Equal(t, failed, fake.Count(peliqan.RouteSubAccountToken), "no new fetch right after a failed one")

	clk.Advance(5 * time.Second)
	_, err = tc.ListServers(ctx)
	require.NoError(t, err)
	assert.Equal(t, failed+1, fake.Count(peliqan.RouteSubAccountToken), "tried again, and it worked")

	// The new token is fresh: no fetch for the next calls.
	for range 3 {
		_, err = tc.ListServers(ctx)
		require.NoError(t, err)
	}
	assert.Equal(t, failed+1, fake.Count(peliqan.RouteSubAccountToken))
}

// TestTenantTokenConcurrentCallsInsideWindowDuringOutage: concurrent calls
// in the window while the token route fails all go through with the valid
// token.
func TestTenantTokenConcurrentCallsInsideWindowDuringOutage(t *testing.T) {
	t.Parallel()
	fake, clk, tc := windowFake(t)
	ctx := context.Background()
	_, err := tc.ListServers(ctx)
	require.NoError(t, err)

	clk.Advance(9*time.Minute + 50*time.Second)
	fake.AddFaultRule(peliqantest.FaultRule{Route: peliqan.RouteSubAccountToken, Probability: 1,
		Fault: peliqantest.StatusFault(http.StatusServiceUnavailable, "")})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := tc.ListServers(ctx)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
	assert.Equal(t, 21, fake.Count(peliqan.RouteListServers))
}
