package peliqanriver_test

import (
	"context"
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/peliqan-community/peliqan-go"
	peliqanriver "github.com/peliqan-community/peliqan-go/river"
)

// maxInWindow is the most times that fall in any window of length w.
func maxInWindow(times []time.Time, w time.Duration) int {
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	best, lo := 0, 0
	for hi := range times {
		for times[hi].Sub(times[lo]) >= w {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

// Two limiters on two connections to one SQLite file (as two processes
// would be) share one rate.
func TestSharedLimiterPacesAllHoldersTogether(t *testing.T) {
	t.Parallel()
	path, db1 := tempSQLite(t)
	db2 := openSQLite(t, path)
	const rate, burst = 40.0, 2
	l1, err := peliqanriver.NewSharedLimiter(db1, "", "partner", rate, burst)
	require.NoError(t, err)
	l2, err := peliqanriver.NewSharedLimiter(db2, "", "partner", rate, burst)
	require.NoError(t, err)
	var mu sync.Mutex
	var times []time.Time
	var wg sync.WaitGroup
	start := time.Now()
	for i := range 8 {
		l := l1
		if i%2 == 1 {
			l = l2
		}
		wg.Go(func() {
			for range 10 {
				if err := l.Wait(context.Background()); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				times = append(times, time.Now())
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	require.Len(t, times, 80)
	// 80 requests at 40/s with a burst of 2: about 1.95 s.
	assert.GreaterOrEqual(t, elapsed, 1900*time.Millisecond)
	// Any 500 ms holds at most 40*0.5 + burst, plus one for timer jitter.
	assert.LessOrEqual(t, maxInWindow(times, 500*time.Millisecond), 20+burst+1)
}

func TestSharedLimiterWaitEndsWithContext(t *testing.T) {
	t.Parallel()
	_, db := tempSQLite(t)
	l, err := peliqanriver.NewSharedLimiter(db, peliqanriver.DialectSQLite, "slow", 0.5, 1)
	require.NoError(t, err)
	require.NoError(t, l.Wait(context.Background())) // the burst
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = l.Wait(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), time.Second, "a slot past the deadline is not waited for")
}

func TestConstructorsRefuseBadInput(t *testing.T) {
	t.Parallel()
	_, db := tempSQLite(t)
	p, err := peliqan.NewPartnerClient("x")
	require.NoError(t, err)
	for name, err := range map[string]error{
		"nil db":        first(peliqanriver.NewSharedLimiter(nil, "", "n", 1, 1)),
		"empty name":    first(peliqanriver.NewSharedLimiter(db, "", "", 1, 1)),
		"zero rate":     first(peliqanriver.NewSharedLimiter(db, "", "n", 0, 1)),
		"zero burst":    first(peliqanriver.NewSharedLimiter(db, "", "n", 1, 0)),
		"bad dialect":   first(peliqanriver.NewSharedLimiter(db, "oracle", "n", 1, 1)),
		"nil partner":   first(peliqanriver.NewJobs(nil, db, nil)),
		"nil jobs db":   first(peliqanriver.NewJobs(p, nil, nil)),
		"negative wait": first(peliqanriver.NewJobs(p, db, &peliqanriver.Options{WaitPerAttempt: -1})),
		"page size":     first(peliqanriver.NewJobs(p, db, &peliqanriver.Options{PageSize: 5000})),
	} {
		assert.True(t, errors.Is(err, peliqan.ErrInvalidArgument), "%s: %v", name, err)
	}
	j, err := peliqanriver.NewJobs(p, db, nil)
	require.NoError(t, err)
	//lint:ignore SA1012 the nil context is the point
	_, err = j.Health(nil, nil) //nolint:staticcheck
	assert.ErrorIs(t, err, peliqan.ErrInvalidArgument)
}

func first[T any](_ T, err error) error { return err }
