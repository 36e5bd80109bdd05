package peliqan

import (
	"context"
	"time"
)

// PollSchedule says how long to wait before the next status poll. poll is
// the number of polls made so far (1 after the first); a zero or negative
// duration polls again at once (the context is still checked in between).
// A nil PollSchedule means PeliqanSchedule.
type PollSchedule func(poll int) time.Duration

// PeliqanSchedule is the back-off Peliqan's own client uses while it waits
// for a sync or a script run: 5 s between polls, 10 s after the 5th poll and
// 20 s after the 10th, with no overall limit (bound the wait with the
// context).
//
//	polls made   wait before the next
//	1-4          5 s
//	5-9          10 s
//	10+          20 s
func PeliqanSchedule() PollSchedule {
	return func(poll int) time.Duration {
		switch {
		case poll >= 10:
			return 20 * time.Second
		case poll >= 5:
			return 10 * time.Second
		}
		return 5 * time.Second
	}
}

// FixedSchedule waits d between every two polls.
func FixedSchedule(d time.Duration) PollSchedule {
	return func(int) time.Duration { return d }
}

// pollUntil calls fetch, then waits as schedule says and calls it again,
// until fetch reports done or fails, or ctx ends. progress (optional) sees
// every value fetch returns, the last one included, on the caller's
// goroutine.
//
// It returns the final value when done; fetch's error when it fails; and
// ctx's own error, unwrapped, when ctx ends first, during a fetch or a wait.
// With an error the value is always the zero value, as everywhere in this
// package but the writes the server accepted: the last state seen reached
// progress already. It only reads:
// nothing is triggered again, and no goroutine or timer outlives the call.
// A nil ctx is ErrInvalidArgument, before the first fetch.
func pollUntil[T any](ctx context.Context, schedule PollSchedule, fetch func(context.Context) (T, bool, error), progress func(T)) (T, error) {
	if ctx == nil {
		var zero T
		return zero, invalidArg("ctx", "nil context")
	}
	if schedule == nil {
		schedule = PeliqanSchedule()
	}
	var zero T
	for poll := 1; ; poll++ {
		if err := ctx.Err(); err != nil {
			return zero, err
		}
		v, done, err := fetch(ctx)
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return zero, cerr
			}
			return zero, err
		}
		if progress != nil {
			progress(v)
		}
		if done {
			return v, nil
		}
		if err := sleepCtx(ctx, schedule(poll)); err != nil {
			return zero, err
		}
	}
}

// sleepCtx waits d or until ctx ends, whichever comes first, and stops its
// timer either way.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
