package peliqan

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPeliqanSchedule(t *testing.T) {
	t.Parallel()
	s := PeliqanSchedule()
	want := map[int]time.Duration{
		1: 5 * time.Second, 4: 5 * time.Second,
		5: 10 * time.Second, 9: 10 * time.Second,
		10: 20 * time.Second, 11: 20 * time.Second, 1000: 20 * time.Second,
	}
	for poll, d := range want {
		assert.Equal(t, d, s(poll), "poll %d", poll)
	}
	assert.Equal(t, 7*time.Millisecond, FixedSchedule(7*time.Millisecond)(3))
}

func TestPollUntilStopsWhenDone(t *testing.T) {
	t.Parallel()
	calls := 0
	var seen []int
	v, err := pollUntil(context.Background(), FixedSchedule(0), func(context.Context) (int, bool, error) {
		calls++
		return calls * 10, calls == 3, nil
	}, func(v int) { seen = append(seen, v) })
	require.NoError(t, err)
	assert.Equal(t, 30, v)
	assert.Equal(t, 3, calls)
	assert.Equal(t, []int{10, 20, 30}, seen, "progress sees every poll, the last included")
}

func TestPollUntilFetchErrorStops(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	calls := 0
	v, err := pollUntil(context.Background(), FixedSchedule(0), func(context.Context) (string, bool, error) {
		calls++
		if calls == 2 {
			return "partial", false, boom
		}
		return "first", false, nil
	}, nil)
	require.ErrorIs(t, err, boom)
	assert.Empty(t, v, "no value beside an error")
	assert.Equal(t, 2, calls, "no poll after an error")
}

func TestPollUntilNilScheduleIsPeliqans(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var at []time.Duration
		_, err := pollUntil(context.Background(), nil, func(context.Context) (int, bool, error) {
			at = append(at, time.Since(start))
			return len(at), len(at) == 12, nil
		}, nil)
		require.NoError(t, err)
		// Polls 1..12: waits of 5 s after polls 1-4, 10 s after 5-9, 20 s after 10-11.
		want := []time.Duration{0}
		s := PeliqanSchedule()
		for i := 1; i < 12; i++ {
			want = append(want, want[i-1]+s(i))
		}
		assert.Equal(t, want, at)
		assert.Equal(t, 4*5*time.Second+5*10*time.Second+2*20*time.Second, at[11])
	})
}

func TestPollUntilCancelDuringWait(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		calls := 0
		time.AfterFunc(12*time.Second, cancel) // during the 3rd wait
		start := time.Now()
		v, err := pollUntil(ctx, PeliqanSchedule(), func(context.Context) (int, bool, error) {
			calls++
			return calls, false, nil
		}, nil)
		require.ErrorIs(t, err, context.Canceled)
		assert.Same(t, context.Canceled, err, "ctx's error comes back unwrapped")
		assert.Zero(t, v, "no value beside an error: progress saw the last one")
		assert.Equal(t, 3, calls)
		assert.Equal(t, 12*time.Second, time.Since(start), "returns as soon as ctx ends")
	})
}

func TestPollUntilDeadlineDuringFetch(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	_, err := pollUntil(ctx, FixedSchedule(0), func(ctx context.Context) (int, bool, error) {
		calls++
		cancel()
		return 0, false, &TransportError{Err: ctx.Err()}
	}, nil)
	assert.Same(t, context.Canceled, err, "ctx's error wins over the fetch's wrapped one")
	assert.Equal(t, 1, calls)
}

func TestPollUntilCancelledBeforeStart(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := 0
	_, err := pollUntil(ctx, FixedSchedule(0), func(context.Context) (int, bool, error) {
		calls++
		return 0, true, nil
	}, nil)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, calls)
}

func TestPollUntilZeroWaitStillChecksContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	_, err := pollUntil(ctx, FixedSchedule(-time.Second), func(context.Context) (int, bool, error) {
		calls++
		if calls == 5 {
			cancel()
		}
		return calls, false, nil
	}, nil)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 5, calls)
}
