package peliqantest

import (
	"math"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/internal/routes"
)

var rateEpoch = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// requireThrottled checks a rate-limit answer: 429, Retry-After in whole
// seconds, and DRF's throttled body naming the same wait.
func requireThrottled(t *testing.T, r resp, retryAfter int) {
	t.Helper()
	require.NoError(t, r.err)
	require.Equal(t, http.StatusTooManyRequests, r.status, "%s", r.body)
	assert.Equal(t, strconv.Itoa(retryAfter), r.header.Get("Retry-After"))
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	unit := "seconds"
	if retryAfter == 1 {
		unit = "second"
	}
	assert.Equal(t, "Request was throttled. Expected available in "+strconv.Itoa(retryAfter)+" "+unit+".",
		r.json(t)["detail"])
}

func TestRateLimitBurstThenRetryAfter(t *testing.T) {
	t.Parallel()
	clk := NewManualClock(rateEpoch)
	srv := NewFake(t, WithClock(clk.Now), WithRateLimit(2, 3))
	c := newTC(t, srv)
	p := srv.PartnerToken()

	for range 3 {
		c.ok(routes.ListSubAccounts, p, nil, nil)
	}
	requireThrottled(t, c.call(routes.ListSubAccounts, p, nil, nil), 1) // a token in 0.5 s
	requireThrottled(t, c.call(routes.ListSubAccounts, p, nil, nil), 1)

	clk.Advance(500 * time.Millisecond)
	c.ok(routes.ListSubAccounts, p, nil, nil)
	requireThrottled(t, c.call(routes.ListSubAccounts, p, nil, nil), 1)

	// A long pause refills the bucket to its burst, not beyond.
	clk.Advance(time.Minute)
	for range 3 {
		c.ok(routes.ListSubAccounts, p, nil, nil)
	}
	requireThrottled(t, c.call(routes.ListSubAccounts, p, nil, nil), 1)

	assert.Equal(t, 11, srv.Count(routes.ListSubAccounts), "429s are counted")
	counts := srv.Counts()
	assert.Equal(t, 4, counts.RateLimited)
	assert.Equal(t, map[int]int{200: 7, 429: 4}, counts.Routes[routes.ListSubAccounts].ByStatus)
	last := lastRequest(t, srv)
	assert.Equal(t, http.StatusTooManyRequests, last.Status)
	assert.True(t, last.Throttled)
	assert.Equal(t, routes.ListSubAccounts, last.Route)
	assert.Equal(t, "", last.Fault)
}

func TestRateLimitRetryAfterIsTheWaitRoundedUp(t *testing.T) {
	t.Parallel()
	clk := NewManualClock(rateEpoch)
	srv := NewFake(t, WithClock(clk.Now), WithRateLimit(0.25, 1)) // one token every 4 s
	c := newTC(t, srv)
	p := srv.PartnerToken()
	c.ok(routes.ServerTypes, p, nil, nil)
	requireThrottled(t, c.call(routes.ServerTypes, p, nil, nil), 4)
	clk.Advance(1500 * time.Millisecond)
	requireThrottled(t, c.call(routes.ServerTypes, p, nil, nil), 3) // 2.5 s left
	clk.Advance(2400 * time.Millisecond)
	requireThrottled(t, c.call(routes.ServerTypes, p, nil, nil), 1) // 0.1 s left: at least 1
	clk.Advance(100 * time.Millisecond)
	c.ok(routes.ServerTypes, p, nil, nil)
}

func TestRateLimitUnderTheRateNeverThrottles(t *testing.T) {
	t.Parallel()
	clk := NewManualClock(rateEpoch)
	srv := NewFake(t, WithClock(clk.Now), WithRateLimit(10, 10))
	c := newTC(t, srv)
	p := srv.PartnerToken()
	for range 10 { // the whole burst at one instant
		c.ok(routes.ListSubAccounts, p, nil, nil)
	}
	for range 50 { // then exactly the rate
		clk.Advance(100 * time.Millisecond)
		c.ok(routes.ListSubAccounts, p, nil, nil)
	}
	assert.Equal(t, 0, srv.Counts().RateLimited)
	assert.Equal(t, 60, srv.Counts().ByStatus[200])
}

func TestRateLimitTenantsCountTowardTheirPartner(t *testing.T) {
	t.Parallel()
	clk := NewManualClock(rateEpoch)
	srv := NewFake(t, WithClock(clk.Now), WithRateLimit(1, 5), WithFixture(Generate(1, 2, 1, 0)))
	c := newTC(t, srv)
	sas := srv.Seeded().SubAccounts
	tokA, err := srv.TenantToken(sas[0].ID, false)
	require.NoError(t, err)
	tokB, err := srv.TenantToken(sas[1].ID, false)
	require.NoError(t, err)
	p := srv.PartnerToken()

	c.ok(routes.ListSubAccounts, p, nil, nil)
	c.ok(routes.ListServers, tokA, nil, nil)
	c.ok(routes.ListServers, tokB, nil, nil)
	c.ok(routes.ListServers, tokA, nil, nil)
	assert.Equal(t, http.StatusUnauthorized, c.call(routes.ListServers, "", nil, nil).status, "no token still counts")
	requireThrottled(t, c.call(routes.ListServers, tokB, nil, nil), 1)
	requireThrottled(t, c.call(routes.ListSubAccounts, p, nil, nil), 1)
	requireThrottled(t, c.call(routes.ListServers, tokA, nil, nil), 1)

	// Unmatched paths and the counts endpoint are not Peliqan routes: not limited.
	assert.Equal(t, http.StatusNotFound, c.raw("GET", "/api/nope/", nil, p, nil).status)
	assert.Equal(t, http.StatusOK, c.raw("GET", CountsPath, nil, "", nil).status)
}

func TestRateLimitedRequestsChangeNothing(t *testing.T) {
	t.Parallel()
	clk := NewManualClock(rateEpoch)
	srv := NewFake(t, WithClock(clk.Now), WithSyncDuration(time.Hour), WithRateLimit(1, 1))
	sa := seedOne(t, srv, 1)
	c := newTC(t, srv)
	tok, err := srv.TenantToken(sa.ID, false)
	require.NoError(t, err)
	p := srv.PartnerToken()
	sid := sa.Connections[0].ID.String()

	c.ok(routes.ServerTypes, p, nil, nil) // the one token
	srv.FailNext(routes.ListSubAccounts, 1, StatusFault(http.StatusBadGateway, ""))
	requireThrottled(t, c.call(routes.CreateSubAccount, p, nil, map[string]any{"external_id": "new"}), 1)
	requireThrottled(t, c.call(routes.SyncServer, tok, nil, nil, sid), 1)
	requireThrottled(t, c.call(routes.ListSubAccounts, p, nil, nil), 1)
	assert.Empty(t, srv.RunsStarted(), "a throttled sync started no run")

	clk.Advance(time.Second)
	assert.Equal(t, http.StatusBadGateway, c.call(routes.ListSubAccounts, p, nil, nil).status,
		"a throttled request does not use up a queued fault")
	clk.Advance(time.Second)
	page := c.ok(routes.ListSubAccounts, p, url.Values{"per_page": {"100"}}, nil).json(t)
	assert.Len(t, page["data"], 1, "the throttled create created nothing")
	assert.Equal(t, 3, srv.Counts().RateLimited)
}

// With the real clock the bucket refills in real time; margins are wide.
func TestRateLimitRealClock(t *testing.T) {
	t.Parallel()
	srv := NewFake(t, WithRateLimit(0.5, 2)) // a token every 2 s
	c := newTC(t, srv)
	p := srv.PartnerToken()
	var ok, throttled int
	for range 6 {
		r := c.call(routes.ServerTypes, p, nil, nil)
		switch r.status {
		case http.StatusOK:
			ok++
		case http.StatusTooManyRequests:
			throttled++
			ra, err := strconv.Atoi(r.header.Get("Retry-After"))
			require.NoError(t, err)
			assert.GreaterOrEqual(t, ra, 1)
			assert.LessOrEqual(t, ra, 2)
		default:
			t.Fatalf("status %d", r.status)
		}
	}
	assert.GreaterOrEqual(t, ok, 2)
	assert.GreaterOrEqual(t, throttled, 3, "6 requests well inside 2 s get at most 3 tokens")
}

func TestWithRateLimitValidates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rate  float64
		burst int
	}{{0, 1}, {-1, 1}, {math.NaN(), 1}, {math.Inf(1), 1}, {1, 0}, {1, -3}} {
		_, err := New(WithRateLimit(tc.rate, tc.burst))
		assert.Error(t, err, "%v/%d", tc.rate, tc.burst)
	}
}

// The SDK's own retry sees the 429 and its Retry-After; a side-effect GET
// (a sync) is not retried and the run is not started.
func TestRateLimitThroughTheSDK(t *testing.T) {
	t.Parallel()
	clk := NewManualClock(rateEpoch)
	srv := NewFake(t, WithClock(clk.Now), WithRateLimit(1, 1))
	sa := seedOne(t, srv, 1)
	cl, err := srv.SubAccountClient(sa.ID)
	require.NoError(t, err)
	_, err = cl.ListServers(t.Context())
	require.NoError(t, err)
	_, err = cl.SyncServer(t.Context(), sa.Connections[0].ID, nil)
	require.ErrorIs(t, err, peliqan.ErrRateLimited)
	assert.Equal(t, 1, srv.Count(routes.SyncServer))
	assert.Empty(t, srv.RunsStarted())
}
