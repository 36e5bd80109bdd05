package peliqantest

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// WithRateLimit limits the partner to perSecond requests per second with
// bursts of up to burst, by a token bucket that starts full. Every request
// to a Peliqan route counts, whatever token it carries: the partner's, any
// of its sub-accounts' (the fake serves one partner, so its tenants are all
// the sub-accounts), or none. A request over the limit is answered 429
// with Django REST framework's throttled body, {"detail": "Request was
// throttled. Expected available in N seconds."}, and Retry-After: N, where
// N is the wait for the next token rounded up to whole seconds (at least
// 1). It is recorded (Request.Throttled, status 429) and counted (Count,
// Counts.RateLimited) but not acted on: no state changes, and no queued
// fault is used up.
//
// The bucket refills on the fake's clock (WithClock), so with a
// ManualClock the answers are exact; with the real clock they follow real
// time. perSecond must be positive and finite, burst at least 1. Peliqan
// documents no rate limit; this is for testing how a client paces itself.
func WithRateLimit(perSecond float64, burst int) Option {
	return func(c *config) error {
		if !(perSecond > 0) || math.IsInf(perSecond, 0) {
			return fmt.Errorf("WithRateLimit: rate must be positive and finite (got %v)", perSecond)
		}
		if burst < 1 {
			return fmt.Errorf("WithRateLimit: burst must be at least 1 (got %d)", burst)
		}
		c.rateLimit, c.rateBurst = perSecond, burst
		return nil
	}
}

// tokenBucket is the partner's bucket. Its zero value (rate 0) lets every
// request through.
type tokenBucket struct {
	mu     sync.Mutex
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
}

func newTokenBucket(rate float64, burst int) *tokenBucket {
	return &tokenBucket{rate: rate, burst: float64(burst), tokens: float64(burst)}
}

// take spends a token at now, or reports how long until one is available.
func (b *tokenBucket) take(now time.Time) (wait time.Duration, ok bool) {
	if b == nil || b.rate == 0 {
		return 0, true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() {
		if d := now.Sub(b.last); d > 0 { // a clock stepped back refills nothing
			b.tokens = min(b.burst, b.tokens+d.Seconds()*b.rate)
		}
	}
	if b.last.IsZero() || now.After(b.last) {
		b.last = now
	}
	if b.tokens >= 1-1e-9 { // float sums of refills may fall a hair short of 1
		b.tokens--
		return 0, true
	}
	return time.Duration((1 - b.tokens) / b.rate * float64(time.Second)), false
}

// throttle applies WithRateLimit to a request of a route: ok, or the 429
// to answer.
func (s *Fake) throttle() (reply, bool) {
	wait, ok := s.limiter.take(s.cfg.now())
	if ok {
		return reply{}, true
	}
	secs := retryAfterSeconds(wait)
	unit := "seconds"
	if secs == 1 {
		unit = "second"
	}
	rep := detail(http.StatusTooManyRequests,
		fmt.Sprintf("Request was throttled. Expected available in %d %s.", secs, unit))
	rep.header = http.Header{"Retry-After": {strconv.Itoa(secs)}}
	return rep, false
}

// retryAfterSeconds rounds a wait up to whole seconds, at least 1; a
// nanosecond of float error does not add a second.
func retryAfterSeconds(wait time.Duration) int {
	return max(1, int(math.Ceil((wait - time.Microsecond).Seconds())))
}
