package peliqan

import "context"

// Limiter paces the requests a client sends. Before every request goes on
// the wire (retries and a 401 replay included) the client calls Wait, and
// sends only when Wait returns nil. It is how one partner's fleet job stays
// under Peliqan's rate limit: a PartnerClient and every tenant client made
// from it share the limiter, and an implementation backed by shared storage
// can pace many processes at once.
//
// Wait must be safe for concurrent use, return promptly when ctx ends (with
// ctx's error), and not hold the request: the time spent in Wait does not
// count against the per-attempt timeout.
type Limiter interface {
	Wait(ctx context.Context) error
}

// WithLimiter makes the client wait for l before every request it sends.
// Tenant clients made with PartnerClient.SubAccount share it.
func WithLimiter(l Limiter) Option {
	return func(c *config) error {
		if l == nil {
			return invalidArg("WithLimiter", "nil Limiter")
		}
		c.limiter = l
		return nil
	}
}

// withoutRateLimitRetry returns a 429 to the caller at once instead of
// sleeping its Retry-After and retrying: for callers (SyncFleet) that pause
// a whole fleet on one 429 rather than each call on its own.
func withoutRateLimitRetry() RequestOption {
	return func(o *callOptions) error { o.no429Retry = true; return nil }
}
