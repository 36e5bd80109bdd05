package peliqanriver

import (
	"context"
	"database/sql"
	"errors"
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
// Rate*w + Burst requests pass. A slot past the caller's deadline is not
// taken (SlotTooLateError), so callers that would give up anyway do not
// push the queue back; one whose context ends while it sleeps leaves its
// slot unused (the rate errs on the slow side).
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

// SlotTooLateError is Wait's error when the next free slot lies past the
// context's deadline: Wait returns it at once, without taking the slot, so
// callers that give up do not push everyone else's turn back. It matches
// context.DeadlineExceeded. The jobs snooze for Wait when they meet it.
type SlotTooLateError struct {
	Name string
	// Wait is how far away the next free slot was.
	Wait time.Duration
}

func (e *SlotTooLateError) Error() string {
	return fmt.Sprintf("peliqanriver: rate limit %q: the next slot is %s away, past the deadline", e.Name, e.Wait.Round(time.Millisecond))
}

// Is matches context.DeadlineExceeded.
func (e *SlotTooLateError) Is(target error) bool { return target == context.DeadlineExceeded }

// Wait takes the next free slot and sleeps until it. A slot past ctx's
// deadline is not taken: Wait returns a *SlotTooLateError at once. A
// database that is busy for a moment (SQLite's SQLITE_BUSY) delays Wait,
// for up to 10 s or the context's end; it does not fail it.
func (l *SharedLimiter) Wait(ctx context.Context) error {
	if ctx == nil {
		return invalidArg("ctx", "nil context")
	}
	wait, err := l.reserveWhenNotBusy(ctx)
	if err != nil {
		return err
	}
	if wait <= 0 {
		return nil
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

// busyRetryFor bounds how long Wait retries a busy database when the
// context has no earlier deadline: as long as the busy_timeout the
// package's examples open SQLite with.
const busyRetryFor = 10 * time.Second

// reserveWhenNotBusy is reserve, retried while the database says it is
// busy. SQLite answers SQLITE_BUSY at once, without waiting out
// busy_timeout, in a few cases: two connections switching a new file to
// WAL together (two processes starting on it) is the one seen here. A
// refused statement changed nothing, so it is safe to run again.
func (l *SharedLimiter) reserveWhenNotBusy(ctx context.Context) (time.Duration, error) {
	pause, giveUp := 5*time.Millisecond, time.Now().Add(busyRetryFor)
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		limit := time.Duration(math.MaxInt64)
		if dl, ok := ctx.Deadline(); ok {
			limit = time.Until(dl)
		}
		wait, err := l.reserve(ctx, limit)
		if err == nil || !isBusy(err) || time.Now().Add(pause).After(giveUp) {
			return wait, err
		}
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		}
		pause = min(2*pause, 200*time.Millisecond)
	}
}

// isBusy reports whether err is SQLite's SQLITE_BUSY or SQLITE_LOCKED (any
// extended code), as modernc.org/sqlite reports them (an error with a Code
// method); the driver itself is not imported.
func isBusy(err error) bool {
	var c interface{ Code() int }
	if !errors.As(err, &c) {
		return false
	}
	switch c.Code() & 0xff {
	case 5, 6: // SQLITE_BUSY, SQLITE_LOCKED
		return true
	}
	return false
}

// reserve takes a slot no more than limit away and returns how long to wait
// for it.
func (l *SharedLimiter) reserve(ctx context.Context, limit time.Duration) (time.Duration, error) {
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
	early := int64(l.burst-1) * step
	maxLead := int64(math.MaxInt64 / 4) // no deadline: any slot
	if us := limit.Microseconds(); us < maxLead {
		maxLead = us + early
	}
	// tat is the theoretical arrival time of the next request: this one
	// goes at max(tat, now), and may go up to burst-1 intervals early. The
	// slot is taken only if it is within the limit.
	var tat, now int64
	err := l.st.db.QueryRowContext(ctx, l.st.d.q(`UPDATE peliqan_rate_limits SET tat_us = {greatest}(tat_us, {now}) + ?
		WHERE name = ? AND {greatest}(tat_us, {now}) - {now} <= ? RETURNING tat_us, {now}`), step, l.name, maxLead).Scan(&tat, &now)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if err := l.st.db.QueryRowContext(ctx, l.st.d.q(`SELECT tat_us, {now} FROM peliqan_rate_limits WHERE name = ?`), l.name).Scan(&tat, &now); err != nil {
			return 0, fmt.Errorf("peliqanriver: rate limit %q: %w", l.name, err)
		}
		return 0, &SlotTooLateError{Name: l.name, Wait: time.Duration(tat-early-now) * time.Microsecond}
	case err != nil:
		return 0, fmt.Errorf("peliqanriver: rate limit %q: %w", l.name, err)
	}
	return time.Duration(tat-step-early-now) * time.Microsecond, nil
}
