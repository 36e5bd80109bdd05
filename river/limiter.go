package peliqanriver

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/peliqan-community/peliqan-go"
)

// SharedLimiter is a peliqan.Limiter whose state is one row of
// peliqan_rate_limits, so every process using the same database and name
// shares one rate: all workers on all machines together send at most
// Rate requests per second, with bursts of at most Burst.
//
// It is a GCRA (virtual scheduling) bucket: each Wait reserves the next
// free slot with one atomic UPDATE ... RETURNING by the database's clock,
// then sleeps until its slot. Over any window of w seconds at most
// Rate*w + Burst requests pass. A Wait whose context ends before its slot
// gives the slot up unused (the rate errs on the slow side).
type SharedLimiter struct {
	st       *store
	name     string
	interval time.Duration
	burst    int
	ready    atomic.Bool
}

var _ peliqan.Limiter = (*SharedLimiter)(nil)

// NewSharedLimiter returns a limiter of rate requests per second (above
// 0, at most 1e6) with bursts of burst (at least 1) shared through db under
// name. The table is created on first use if missing (Jobs.Migrate creates
// it too). It does no I/O.
func NewSharedLimiter(db *sql.DB, d Dialect, name string, rate float64, burst int) (*SharedLimiter, error) {
	switch {
	case db == nil:
		return nil, invalidArg("db", "is nil")
	case name == "":
		return nil, invalidArg("name", "is empty")
	case !(rate > 0) || rate > 1e6 || math.IsInf(rate, 0):
		return nil, invalidArg("rate", "must be above 0 and at most 1e6 requests per second (got %v)", rate)
	case burst < 1:
		return nil, invalidArg("burst", "must be at least 1 (got %d)", burst)
	}
	dl, err := resolveDialect(db, d)
	if err != nil {
		return nil, err
	}
	return &SharedLimiter{st: &store{db: db, d: dl}, name: name,
		interval: time.Duration(float64(time.Second) / rate), burst: burst}, nil
}

// Wait reserves the next slot and sleeps until it.
func (l *SharedLimiter) Wait(ctx context.Context) error {
	if ctx == nil {
		return invalidArg("ctx", "nil context")
	}
	wait, err := l.reserve(ctx)
	if err != nil {
		return err
	}
	if wait <= 0 {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
		return fmt.Errorf("peliqanriver: rate limit %q: the next slot is %s away, past the deadline: %w",
			l.name, wait.Round(time.Millisecond), context.DeadlineExceeded)
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// reserve takes a slot and returns how long to wait for it.
func (l *SharedLimiter) reserve(ctx context.Context) (time.Duration, error) {
	if !l.ready.Load() {
		if _, err := l.st.db.ExecContext(ctx, rateLimitTable); err != nil {
			return 0, fmt.Errorf("peliqanriver: rate limit %q: %w", l.name, err)
		}
		if _, err := l.st.exec(ctx, `INSERT INTO peliqan_rate_limits (name, tat_us) VALUES (?, 0) ON CONFLICT (name) DO NOTHING`, l.name); err != nil {
			return 0, fmt.Errorf("peliqanriver: rate limit %q: %w", l.name, err)
		}
		l.ready.Store(true)
	}
	step := l.interval.Microseconds()
	// tat is the theoretical arrival time of the next request: this one
	// goes at max(tat, now), and may go up to burst-1 intervals early.
	var tat, now int64
	err := l.st.db.QueryRowContext(ctx, l.st.d.q(`UPDATE peliqan_rate_limits SET tat_us = {greatest}(tat_us, {now}) + ?
		WHERE name = ? RETURNING tat_us, {now}`), step, l.name).Scan(&tat, &now)
	if err != nil {
		return 0, fmt.Errorf("peliqanriver: rate limit %q: %w", l.name, err)
	}
	slot := tat - step - int64(l.burst-1)*step
	return time.Duration(slot-now) * time.Microsecond, nil
}
