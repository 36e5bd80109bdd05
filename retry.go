package peliqan

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// RetryPolicy says when and how a failed request is sent again. Start from
// DefaultRetryPolicy and change fields; WithRetryPolicy validates the result.
//
// Which requests may be retried is not configurable: GET and HEAD (except the
// GETs that trigger work: sync, resync, refresh, script trigger), PUT and
// DELETE. POST and PATCH are never retried, because the API has no
// idempotency key and a retried create makes a duplicate.
type RetryPolicy struct {
	// MaxAttempts is the total number of tries, the first included. 1 turns
	// retries off.
	MaxAttempts int
	// Backoff is how the wait grows between tries; "" means
	// BackoffExponentialJitter.
	Backoff BackoffKind
	// MinWait and MaxWait bound the computed wait. The exponential curves
	// start at MinWait, so MinWait 0 retries at once; both zero means retry
	// at once whatever the curve (useful in tests).
	MinWait, MaxWait time.Duration
	// MaxRetryAfter caps a server's Retry-After. A longer wait is not slept:
	// the call fails at once with an *APIError that matches ErrRateLimited
	// (for a 429) and carries the wait in RetryAfter.
	MaxRetryAfter time.Duration
	// RetryOn lists the statuses that are retried; nil means 429, 500, 502,
	// 503 and 504. Transport errors (reset connections, attempt timeouts)
	// are always retried for retryable requests.
	RetryOn []int
}

// DefaultRetryPolicy returns the policy clients use unless told otherwise:
// 4 attempts, full-jitter exponential back-off from 500 ms to 30 s, and
// Retry-After obeyed up to 60 s.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{
		MaxAttempts:   4,
		Backoff:       BackoffExponentialJitter,
		MinWait:       500 * time.Millisecond,
		MaxWait:       30 * time.Second,
		MaxRetryAfter: 60 * time.Second,
	}
}

// NoRetry returns a policy that sends every request once.
func NoRetry() RetryPolicy {
	p := DefaultRetryPolicy()
	p.MaxAttempts = 1
	return p
}

var defaultRetryOn = []int{
	http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
	http.StatusServiceUnavailable, http.StatusGatewayTimeout,
}

func (p RetryPolicy) validate() error {
	switch {
	case p.MaxAttempts < 1:
		return invalidArg("RetryPolicy.MaxAttempts", "must be at least 1 (got %d); start from DefaultRetryPolicy()", p.MaxAttempts)
	case p.MaxAttempts > 100:
		return invalidArg("RetryPolicy.MaxAttempts", "must be at most 100 (got %d)", p.MaxAttempts)
	case p.Backoff != "" && !p.Backoff.IsKnown():
		return invalidArg("RetryPolicy.Backoff", "unknown kind %q", string(p.Backoff))
	case p.MinWait < 0 || p.MaxWait < 0 || p.MaxRetryAfter < 0:
		return invalidArg("RetryPolicy", "waits must not be negative")
	case p.MaxWait < p.MinWait:
		return invalidArg("RetryPolicy.MaxWait", "is less than MinWait")
	}
	for _, s := range p.RetryOn {
		if s < 400 || s > 599 {
			return invalidArg("RetryPolicy.RetryOn", "status %d is not an error status", s)
		}
	}
	return nil
}

func (p RetryPolicy) retriesStatus(code int) bool {
	if p.RetryOn == nil {
		return slices.Contains(defaultRetryOn, code)
	}
	return slices.Contains(p.RetryOn, code)
}

// wait is the back-off before retry number n (0-based) when the server named
// no Retry-After.
func (p RetryPolicy) wait(n int) time.Duration {
	if p.MaxWait <= 0 {
		return 0
	}
	exp := func() time.Duration {
		if p.MinWait <= 0 {
			return 0 // a curve that starts at zero stays there
		}
		if n >= 62 {
			return p.MaxWait
		}
		d := p.MinWait << n
		if d <= 0 || d > p.MaxWait { // d <= 0: the shift overflowed
			return p.MaxWait
		}
		return d
	}
	switch p.Backoff {
	case BackoffConstant:
		return p.MinWait
	case BackoffLinear:
		d := p.MinWait * time.Duration(n+1)
		if d > p.MaxWait || d < 0 {
			return p.MaxWait
		}
		return d
	case BackoffExponential:
		return exp()
	default:
		if d := exp(); d > 0 {
			return rand.N(d + 1)
		}
		return 0
	}
}

// parseRetryAfter reads Retry-After as seconds or an HTTP date.
func parseRetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	const maxWait = 24 * time.Hour // absurd values are clamped, not overflowed
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		return min(time.Duration(min(secs, int64(maxWait/time.Second)))*time.Second, maxWait), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxWait), true
	}
	return 0, false
}

// checkRetry is retryablehttp's CheckRetry: it decides per attempt, from the
// per-call state the core put in the request context.
func (c *core) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	st := stateFrom(ctx)
	if st != nil && st.hook != nil {
		retry, cerr := c.decideRetry(ctx, st, resp, err)
		st.lastEnd = time.Now()
		if st.hook.Attempt != nil {
			a := AttemptInfo{Attempt: st.attempts, Retrying: retry && cerr == nil && st.attempts < c.policy.MaxAttempts}
			if err != nil {
				// Not the *url.Error: its URL carries the query.
				a.Err = &TransportError{Method: st.method, Path: st.path, Attempts: st.attempts, Err: unwrapURLError(err)}
			}
			if resp != nil {
				a.StatusCode = resp.StatusCode
			}
			st.hook.Attempt(ctx, st.info, a)
		}
		return retry, cerr
	}
	return c.decideRetry(ctx, st, resp, err)
}

func (c *core) decideRetry(ctx context.Context, st *callState, resp *http.Response, err error) (bool, error) {
	if cerr := ctx.Err(); cerr != nil {
		return false, cerr
	}
	if st == nil || !st.retry {
		return false, nil
	}
	if err != nil {
		if !retryableTransportError(ctx, err) {
			return false, nil
		}
		st.maybeApplied = true
		c.logRetry(ctx, st, 0, err)
		return true, nil
	}
	if !c.policy.retriesStatus(resp.StatusCode) || (st.no429Retry && resp.StatusCode == http.StatusTooManyRequests) {
		return false, nil
	}
	if ra, ok := parseRetryAfter(resp.Header, time.Now()); ok && (ra > c.policy.MaxRetryAfter || pastDeadline(ctx, ra)) {
		// The caller gets the status with RetryAfter set, now: sleeping
		// past its cap or its own deadline would only end in a bare
		// context error.
		return false, nil
	}
	if resp.StatusCode != http.StatusTooManyRequests {
		st.maybeApplied = true
	}
	c.logRetry(ctx, st, resp.StatusCode, nil)
	return true, nil
}

// pastDeadline reports whether waiting d would outlast ctx's deadline.
func pastDeadline(ctx context.Context, d time.Duration) bool {
	dl, ok := ctx.Deadline()
	return ok && time.Until(dl) < d
}

// retryableTransportError keeps retryablehttp's judgement of which transport
// errors are safe to retry (not bad schemes, bad headers, TLS trust or
// redirect loops) and adds ours: an over-limit body is final.
func retryableTransportError(ctx context.Context, err error) bool {
	if errors.Is(err, errBodyTooLarge) {
		return false
	}
	retry, _ := retryablehttp.ErrorPropagatedRetryPolicy(ctx, nil, err)
	return retry
}

// backoff is retryablehttp's Backoff: the server's Retry-After (already
// checked against the cap in checkRetry) wins, else the policy's curve.
func (c *core) backoff(_, _ time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil {
		if ra, ok := parseRetryAfter(resp.Header, time.Now()); ok {
			return ra
		}
	}
	return c.policy.wait(attempt)
}

// errorHandler is retryablehttp's ErrorHandler: it passes the last response
// through (so the core builds the typed error from it) and never leaves a
// body open.
func errorHandler(resp *http.Response, err error, _ int) (*http.Response, error) {
	if err != nil {
		if resp != nil {
			drainClose(resp.Body)
		}
		return nil, err
	}
	return resp, nil
}

func (c *core) logRetry(ctx context.Context, st *callState, status int, err error) {
	if !c.logger.Enabled(ctx, levelInfo) {
		return
	}
	attrs := []any{"method", st.method, "path", st.path, "attempt", st.attempts}
	if status != 0 {
		attrs = append(attrs, "status", status)
	}
	if err != nil {
		attrs = append(attrs, "error", logError(err))
	}
	c.logger.InfoContext(ctx, "peliqan: retrying request", attrs...)
}
