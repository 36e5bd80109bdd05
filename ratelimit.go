package peliqan

import (
	"context"
	"math"

	"golang.org/x/time/rate"
)

// NewRateLimiter returns the SDK's default Limiter: a token bucket that lets
// perSecond requests through per second on average and up to burst at once
// after a quiet spell. Give it to a PartnerClient with WithLimiter and every
// tenant client made from that client shares it, so one partner's requests
// stay under one rate whatever the number of customers; SyncFleet takes one
// in FleetSyncOptions too.
//
// It paces one process. To pace several machines, implement Limiter on
// shared storage instead.
//
// perSecond must be positive and finite and burst at least 1; anything else
// is ErrInvalidArgument. Wait returns ctx's error when ctx ends first, and
// at once (without waiting out the deadline) when ctx's deadline would pass
// before the request's turn comes.
func NewRateLimiter(perSecond float64, burst int) (Limiter, error) {
	switch {
	case math.IsNaN(perSecond) || math.IsInf(perSecond, 0) || perSecond <= 0:
		return nil, invalidArg("perSecond", "must be a positive rate (got %v)", perSecond)
	case burst < 1:
		return nil, invalidArg("burst", "must be at least 1 (got %d)", burst)
	}
	return &rateLimiter{l: rate.NewLimiter(rate.Limit(perSecond), burst)}, nil
}

// rateLimiter adapts golang.org/x/time/rate, kept behind Limiter so the
// dependency is not part of the API.
type rateLimiter struct {
	l *rate.Limiter
}

func (r *rateLimiter) Wait(ctx context.Context) error {
	if ctx == nil {
		return invalidArg("ctx", "nil context")
	}
	if err := r.l.Wait(ctx); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		// The turn would come after ctx's deadline: report it as that
		// deadline, which is what the caller will see anyway.
		return context.DeadlineExceeded
	}
	return nil
}
