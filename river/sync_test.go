package peliqanriver_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
	peliqanriver "github.com/peliqan-community/peliqan-go/river"
)

// One connection synced through each path the trigger can take, one at a
// time (the fault queue applies to the next trigger, whichever connection
// sends it). Each must end with exactly one run on the connection.
func TestSyncConnectionPathsSQLite(t *testing.T) {
	t.Parallel()
	f, p := pathsFake(t)
	_, db := tempSQLite(t)
	w := startSQLiteWorker(t, db, p, testOptions())
	syncPaths(t, f, p, w.jobs, db, func(ctx context.Context, a river.JobArgs) (*rivertype.JobInsertResult, error) {
		return w.client.Insert(ctx, a, nil)
	})
}

// The same on PostgreSQL.
func TestSyncConnectionPathsPostgres(t *testing.T) {
	t.Parallel()
	dsn := postgresDatabase(t)
	f, p := pathsFake(t)
	pool, db := postgresPool(t, dsn)
	w := startPostgresWorker(t, pool, db, p, testOptions())
	syncPaths(t, f, p, w.jobs, db, func(ctx context.Context, a river.JobArgs) (*rivertype.JobInsertResult, error) {
		return w.client.Insert(ctx, a, nil)
	})
}

func pathsFake(t *testing.T) (*peliqantest.Fake, *peliqan.PartnerClient) {
	// Syncs long enough that the one started by hand in "already syncing"
	// still runs when the job looks, even under -race on a loaded machine.
	f := peliqantest.NewFake(t, peliqantest.WithSyncDuration(2*time.Second),
		peliqantest.WithFixture(peliqantest.Generate(7, 1, 8, 1)))
	return f, partnerFor(t, f)
}

func syncPaths(t *testing.T, f *peliqantest.Fake, p *peliqan.PartnerClient, jobs *peliqanriver.Jobs, db *sql.DB,
	insert func(context.Context, river.JobArgs) (*rivertype.JobInsertResult, error)) {
	conns := connections(t, p)
	require.Len(t, conns, 8)
	var ids []peliqan.ID
	var sub peliqan.ID
	for srv, s := range conns {
		ids, sub = append(ids, srv), s
	}
	ctx := context.Background()

	syncOne := func(t *testing.T, srv peliqan.ID, period string) peliqanriver.SyncRecord {
		t.Helper()
		_, err := insert(ctx, peliqanriver.SyncConnectionArgs{SubAccountID: sub, ServerID: srv, Period: period})
		require.NoError(t, err)
		recs := waitSyncsDone(t, jobs, period, 1, 30*time.Second)
		require.Len(t, recs, 1)
		return recs[0]
	}
	runs := func(srv peliqan.ID) int {
		return runsPerConnection(t, p, map[peliqan.ID]peliqan.ID{srv: sub})[srv]
	}

	t.Run("plain", func(t *testing.T) {
		r := syncOne(t, ids[0], "plain")
		assert.Equal(t, "triggered", r.How)
		assert.Equal(t, 1, r.Triggers)
		assert.Equal(t, 0, r.Checks)
		assert.Contains(t, []peliqanriver.Outcome{peliqanriver.OutcomeCompleted, peliqanriver.OutcomeFailed}, r.Outcome)
		assert.NotEmpty(t, r.RunIDs)
		assert.Equal(t, 1, runs(ids[0]))
	})
	t.Run("answer lost after the run started (reset mid-body)", func(t *testing.T) {
		f.FailNext(peliqan.RouteSyncServer, 1, peliqantest.MidBodyResetFault())
		r := syncOne(t, ids[1], "reset")
		assert.Equal(t, "adopted", r.How, "the check finds the run the lost answer started")
		assert.Equal(t, 1, r.Triggers)
		assert.Equal(t, 1, r.Checks)
		assert.Equal(t, 1, runs(ids[1]))
	})
	t.Run("503 before the run started", func(t *testing.T) {
		f.FailNext(peliqan.RouteSyncServer, 1, peliqantest.StatusFault(503, ""))
		r := syncOne(t, ids[2], "503")
		assert.Equal(t, "triggered", r.How)
		assert.Equal(t, 2, r.Triggers, "the check saw no new run, so the trigger went again")
		assert.Equal(t, 1, r.Checks)
		assert.Equal(t, 1, runs(ids[2]))
	})
	t.Run("429 snoozes, then triggers without a check", func(t *testing.T) {
		f.FailNext(peliqan.RouteSyncServer, 1, peliqantest.RetryAfterFault(429, "1"))
		start := time.Now()
		r := syncOne(t, ids[3], "429")
		assert.GreaterOrEqual(t, time.Since(start), time.Second, "snoozed for Retry-After")
		assert.Equal(t, 2, r.Triggers)
		assert.Equal(t, 0, r.Checks)
		assert.Equal(t, 1, runs(ids[3]))
	})
	t.Run("already syncing is followed", func(t *testing.T) {
		tc, err := p.SubAccount(peliqan.ByAccountID(sub))
		require.NoError(t, err)
		_, err = tc.SyncServer(ctx, ids[4], nil)
		require.NoError(t, err)
		r := syncOne(t, ids[4], "followed")
		assert.Equal(t, "followed", r.How)
		assert.Equal(t, 0, r.Triggers)
		assert.Equal(t, 1, runs(ids[4]))
	})
	t.Run("refused", func(t *testing.T) {
		require.NoError(t, f.MarkNeedsReauth(ids[5]))
		r := syncOne(t, ids[5], "refused")
		assert.Equal(t, peliqanriver.OutcomeFailedToStart, r.Outcome)
		assert.Contains(t, r.Message, "ERROR_SERVER_NOT_AUTHORISED")
		assert.Equal(t, 0, runs(ids[5]))
	})
	t.Run("a second job for the same period triggers nothing", func(t *testing.T) {
		syncOne(t, ids[6], "again")
		// The same arguments while the first is kept: River inserts nothing.
		res, err := insert(ctx, peliqanriver.SyncConnectionArgs{SubAccountID: sub, ServerID: ids[6], Period: "again"})
		require.NoError(t, err)
		assert.True(t, res.UniqueSkippedAsDuplicate)
		// With River's record of it gone (cleaned up), a new job finds the
		// row and ends without a request.
		_, err = db.Exec(`DELETE FROM river_job WHERE kind = '` + peliqanriver.KindSyncConnection + `'`)
		require.NoError(t, err)
		before := f.Count(peliqan.RouteSyncServer)
		res, err = insert(ctx, peliqanriver.SyncConnectionArgs{SubAccountID: sub, ServerID: ids[6], Period: "again"})
		require.NoError(t, err)
		require.False(t, res.UniqueSkippedAsDuplicate)
		waitJobsFinished(t, db, 10*time.Second)
		assert.Equal(t, before, f.Count(peliqan.RouteSyncServer))
		assert.Equal(t, 1, runs(ids[6]))
	})
}

// waitJobsFinished waits until River has no job left that is not
// completed.
func waitJobsFinished(t testing.TB, db *sql.DB, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		left := unfinishedJobs(t, db)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, jobs not completed: %v", limit, left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A sync job without a period (or ids) is cancelled: nothing to sync once.
func TestSyncConnectionArgsWithoutPeriodAreCancelled(t *testing.T) {
	t.Parallel()
	f := peliqantest.NewFake(t, peliqantest.WithFixture(peliqantest.Generate(8, 1, 1, 1)))
	p := partnerFor(t, f)
	_, db := tempSQLite(t)
	w := startSQLiteWorker(t, db, p, testOptions())
	res, err := w.client.Insert(context.Background(), peliqanriver.SyncConnectionArgs{SubAccountID: 1, ServerID: 2}, nil)
	require.NoError(t, err)
	deadline := time.Now().Add(20 * time.Second)
	for {
		j, err := w.client.JobGet(context.Background(), res.Job.ID)
		require.NoError(t, err)
		if j.State == rivertype.JobStateCancelled {
			require.NotEmpty(t, j.Errors)
			assert.Contains(t, j.Errors[len(j.Errors)-1].Error, "period")
			break
		}
		require.True(t, time.Now().Before(deadline), "job state %s", j.State)
		time.Sleep(50 * time.Millisecond)
	}
	assert.Zero(t, f.Count(peliqan.RouteSyncServer))
}

// A run that does not end within MaxWait is recorded as unknown and the
// job ends, over several attempts (each waits WaitPerAttempt, then snoozes).
func TestSyncStopsWaitingAfterMaxWait(t *testing.T) {
	t.Parallel()
	f := peliqantest.NewFake(t, peliqantest.WithSyncDuration(time.Hour),
		peliqantest.WithFixture(peliqantest.Generate(9, 1, 1, 1)))
	p := partnerFor(t, f)
	conns := connections(t, p)
	o := testOptions()
	o.WaitPerAttempt, o.MaxWait = 300*time.Millisecond, 1500*time.Millisecond
	_, db := tempSQLite(t)
	w := startSQLiteWorker(t, db, p, o)
	for srv, sub := range conns {
		_, err := w.client.Insert(context.Background(), peliqanriver.SyncConnectionArgs{SubAccountID: sub, ServerID: srv, Period: "p"}, nil)
		require.NoError(t, err)
	}
	start := time.Now()
	recs := waitSyncsDone(t, w.jobs, "p", 1, 30*time.Second)
	assert.GreaterOrEqual(t, time.Since(start), 1500*time.Millisecond)
	assert.Equal(t, peliqanriver.OutcomeUnknown, recs[0].Outcome)
	assert.Contains(t, recs[0].Message, "MaxWait")
	assert.Equal(t, 1, recs[0].Triggers)
	waitJobsFinished(t, db, 10*time.Second)
}

// While another attempt holds the sync's trigger lease (one River rescued
// while the first still runs), the job sends nothing and snoozes; once the
// lease is given back it triggers, once.
func TestSyncWaitsForAnotherAttemptsTriggerLease(t *testing.T) {
	t.Parallel()
	f := peliqantest.NewFake(t, peliqantest.WithSyncDuration(100*time.Millisecond),
		peliqantest.WithFixture(peliqantest.Generate(10, 1, 1, 1)))
	p := partnerFor(t, f)
	var srv, sub peliqan.ID
	for s, a := range connections(t, p) {
		srv, sub = s, a
	}
	_, db := tempSQLite(t)
	w := startSQLiteWorker(t, db, p, testOptions())
	key := fmt.Sprintf("%d/%d/lease", sub, srv)
	_, err := db.Exec(`INSERT INTO peliqan_syncs (sync_key, sub_account_id, server_id, period, state, lease_owner, lease_until_us, created_us, updated_us)
		VALUES (?, ?, ?, 'lease', 'new', 'another attempt', ?, 0, 0)`, key, int64(sub), int64(srv), time.Now().Add(time.Hour).UnixMicro())
	require.NoError(t, err)
	_, err = w.client.Insert(context.Background(), peliqanriver.SyncConnectionArgs{SubAccountID: sub, ServerID: srv, Period: "lease"}, nil)
	require.NoError(t, err)
	time.Sleep(1500 * time.Millisecond)
	assert.Zero(t, f.Count(peliqan.RouteSyncServer), "nothing sent while the lease is held")
	assert.Zero(t, f.Count(peliqan.RouteListServerRuns))
	_, err = db.Exec(`UPDATE peliqan_syncs SET lease_owner = '', lease_until_us = 0 WHERE sync_key = ?`, key)
	require.NoError(t, err)
	recs := waitSyncsDone(t, w.jobs, "lease", 1, 20*time.Second)
	assert.Equal(t, 1, recs[0].Triggers)
	assert.Equal(t, 1, f.Count(peliqan.RouteSyncServer))
}
