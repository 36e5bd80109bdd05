package peliqanriver_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
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
	// Any second holds at most 40 + burst, plus a few whose sleepers woke
	// late and came out beside the next ones (timer and scheduler jitter
	// on a loaded machine; the fake's clock sees the same in the
	// multi-process test, where the bound holds at 10.5/s over 5 s).
	assert.LessOrEqual(t, maxInWindow(times, time.Second), 40+burst+3)
}

func TestSharedLimiterWaitEndsWithContext(t *testing.T) {
	t.Parallel()
	_, db := tempSQLite(t)
	slotTooLate(t, db, peliqanriver.DialectSQLite)
}

func TestSharedLimiterWaitEndsWithContextPostgres(t *testing.T) {
	t.Parallel()
	_, db := postgresPool(t, postgresDatabase(t))
	slotTooLate(t, db, "")
}

// slotTooLate: a slot past the deadline is refused at once and not taken.
func slotTooLate(t *testing.T, db *sql.DB, d peliqanriver.Dialect) {
	l, err := peliqanriver.NewSharedLimiter(db, d, "slow", 1, 1)
	require.NoError(t, err)
	require.NoError(t, l.Wait(context.Background())) // the burst
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = l.Wait(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	var late *peliqanriver.SlotTooLateError
	require.ErrorAs(t, err, &late)
	assert.Greater(t, late.Wait, 500*time.Millisecond)
	assert.Less(t, time.Since(start), 250*time.Millisecond, "refused at once, not slept on")
	// The refused slot was not taken: the next one is about a second
	// after the first, not two.
	start = time.Now()
	require.NoError(t, l.Wait(context.Background()))
	assert.Less(t, time.Since(start), 1500*time.Millisecond)
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

// Limiters in two processes that start together on a new SQLite file
// (here: two connections) both switch it to WAL on first use, and SQLite
// refuses one of them at once with SQLITE_BUSY instead of waiting out
// busy_timeout (about one start in ten on two cores). Wait retries a busy
// database; it does not fail.
func TestSharedLimiterWaitsOutABusyDatabase(t *testing.T) {
	t.Parallel()
	for i := range 60 {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("jobs-%d.db", i))
		var wg sync.WaitGroup
		for range 2 {
			l, err := peliqanriver.NewSharedLimiter(openSQLite(t, path), "", "partner", 1000, 2)
			require.NoError(t, err)
			wg.Go(func() {
				assert.NoError(t, l.Wait(context.Background()), "start %d", i)
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
	}
}

// A database that stays busy past the caller's deadline ends Wait with the
// context's error.
func TestSharedLimiterBusyPastTheDeadline(t *testing.T) {
	t.Parallel()
	path, db := tempSQLite(t)
	l, err := peliqanriver.NewSharedLimiter(db, "", "partner", 10, 1)
	require.NoError(t, err)
	require.NoError(t, l.Wait(context.Background()))
	other := openSQLite(t, path)
	tx, err := other.Begin()
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	_, err = tx.Exec(`CREATE TABLE hold (x INTEGER)`) // holds the write lock
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = l.Wait(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "%v", err)
	assert.Less(t, time.Since(start), 2*time.Second)
}
