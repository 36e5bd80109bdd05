package peliqan

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countingLimiter counts Wait calls and can hold them until released.
type countingLimiter struct {
	waits atomic.Int32
	gate  chan struct{} // nil: never holds
}

func (l *countingLimiter) Wait(ctx context.Context) error {
	l.waits.Add(1)
	if l.gate == nil {
		return nil
	}
	select {
	case <-l.gate:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestLimiterIsWaitedForBeforeEveryAttempt(t *testing.T) {
	t.Parallel()
	l := &countingLimiter{}
	s, mt := mockTenant(t, WithLimiter(l))
	var n atomic.Int32
	mt.RegisterResponder("GET", testBase+"/api/servers/", sequence(&n,
		httpmock.NewStringResponder(503, ""), httpmock.NewStringResponder(503, ""), httpmock.NewStringResponder(200, "[]")))
	_, err := s.ListServers(context.Background())
	require.NoError(t, err)
	assert.EqualValues(t, 3, n.Load())
	assert.EqualValues(t, 3, l.waits.Load(), "one Wait per request on the wire, retries included")

	_, err = NewPartnerClient(testPartnerToken, WithLimiter(nil))
	assert.ErrorIs(t, err, ErrInvalidArgument)
}

func TestLimiterHoldsRequestsAndHonoursTheContext(t *testing.T) {
	t.Parallel()
	l := &countingLimiter{gate: make(chan struct{})}
	s, mt := mockTenant(t, WithLimiter(l), WithTimeout(20*time.Millisecond))
	var n atomic.Int32
	mt.RegisterResponder("GET", testBase+"/api/servers/", func(*http.Request) (*http.Response, error) {
		n.Add(1)
		return jsonResponse(200, "[]"), nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := s.ListServers(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Zero(t, n.Load(), "nothing sent while the limiter held it")

	// Time spent waiting for the limiter is not the attempt's: released
	// after 60 ms, a call with a 20 ms attempt timeout succeeds.
	go func() { time.Sleep(60 * time.Millisecond); close(l.gate) }()
	_, err = s.ListServers(context.Background())
	require.NoError(t, err)
	assert.EqualValues(t, 1, n.Load())
}

func TestTenantClientsShareThePartnersLimiter(t *testing.T) {
	t.Parallel()
	l := &countingLimiter{}
	p, mt := mockPartner(t, WithLimiter(l))
	mt.RegisterResponder("GET", testBase+"/api/partner/sub-account/identity/", httpmock.NewStringResponder(200, `{"token": "tenant-token-abcdefghijkl"}`))
	mt.RegisterResponder("GET", testBase+"/api/servers/", httpmock.NewStringResponder(200, `[]`))
	for _, ref := range []SubAccountRef{ByAccountID(1), ByAccountID(2)} {
		tc, err := p.SubAccount(ref)
		require.NoError(t, err)
		_, err = tc.ListServers(context.Background())
		require.NoError(t, err)
	}
	assert.EqualValues(t, 4, l.waits.Load(), "2 token fetches + 2 tenant calls, one limiter")
}

func TestWithoutRateLimitRetryReturnsThe429(t *testing.T) {
	t.Parallel()
	s, mt := mockTenant(t)
	var n atomic.Int32
	mt.RegisterResponder("GET", testBase+"/api/servers/", func(*http.Request) (*http.Response, error) {
		n.Add(1)
		r := jsonResponse(429, `{"detail": "slow down"}`)
		r.Header.Set("Retry-After", "0")
		return r, nil
	})
	_, err := s.ListServers(context.Background(), withoutRateLimitRetry())
	require.ErrorIs(t, err, ErrRateLimited)
	assert.EqualValues(t, 1, n.Load())
	_, err = s.ListServers(context.Background())
	require.ErrorIs(t, err, ErrRateLimited)
	assert.EqualValues(t, 4, n.Load(), "without the option the policy retries a 429")
}
