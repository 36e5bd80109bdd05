package peliqan

import (
	"context"
	"math"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewRateLimiterRefusesBadSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rate  float64
		burst int
	}{{0, 1}, {-1, 1}, {math.NaN(), 1}, {math.Inf(1), 1}, {10, 0}, {10, -3}} {
		l, err := NewRateLimiter(tc.rate, tc.burst)
		assert.ErrorIs(t, err, ErrInvalidArgument, "rate %v burst %d", tc.rate, tc.burst)
		assert.Nil(t, l)
	}
	l, err := NewRateLimiter(0.5, 1)
	require.NoError(t, err)
	assert.ErrorIs(t, l.Wait(nil), ErrInvalidArgument) //nolint:staticcheck // a nil ctx is refused, not a panic
}

// The bucket lets burst requests through at once, then one per 1/rate: a
// lower bound only, so a loaded machine cannot make it flaky.
func TestRateLimiterPacesRequestsOnTheWire(t *testing.T) {
	t.Parallel()
	l, err := NewRateLimiter(50, 2)
	require.NoError(t, err)
	s, mt := mockTenant(t, WithLimiter(l))
	var n atomic.Int32
	mt.RegisterResponder("GET", testBase+"/api/servers/", func(*http.Request) (*http.Response, error) {
		n.Add(1)
		return jsonResponse(200, "[]"), nil
	})
	start := time.Now()
	for range 7 {
		_, err := s.ListServers(context.Background())
		require.NoError(t, err)
	}
	// 2 at once, then 5 more at 20 ms each.
	assert.GreaterOrEqual(t, time.Since(start), 95*time.Millisecond)
	assert.EqualValues(t, 7, n.Load())
}

func TestRateLimiterHonoursTheContext(t *testing.T) {
	t.Parallel()
	l, err := NewRateLimiter(0.1, 1) // one request, then one per 10 s
	require.NoError(t, err)
	require.NoError(t, l.Wait(context.Background()))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, l.Wait(ctx), context.Canceled)

	// A turn that comes after the deadline fails now, not at the deadline.
	ctx, cancel = context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	assert.ErrorIs(t, l.Wait(ctx), context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 500*time.Millisecond)
}
