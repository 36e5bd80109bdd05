package peliqanriver_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
	peliqanriver "github.com/peliqan-community/peliqan-go/river"
)

// The fleet sync in one process on SQLite, stopped in the middle (running
// jobs cancelled, the database closed) and started again on the same file
// with a new client, as a restarted process would: every connection synced
// once, every job completed.
func TestFleetSyncSQLiteRestart(t *testing.T) {
	t.Parallel()
	f := peliqantest.NewFake(t, peliqantest.WithSyncDuration(400*time.Millisecond),
		peliqantest.WithFixture(peliqantest.Generate(3, 20, 3, 1)))
	p := partnerFor(t, f)
	conns := connections(t, p)
	require.Len(t, conns, 60)
	path, db := tempSQLite(t)
	w := startSQLiteWorker(t, db, p, testOptions())
	ctx := context.Background()
	_, err := w.client.Insert(ctx, peliqanriver.FleetSyncArgs{Period: "p1"}, nil)
	require.NoError(t, err)

	// Stop once some syncs are done and others are in flight.
	deadline := time.Now().Add(30 * time.Second)
	for {
		recs, err := w.jobs.Syncs(ctx, "p1")
		require.NoError(t, err)
		done, started := 0, 0
		for _, r := range recs {
			switch r.State {
			case "done":
				done++
			case "started", "triggering":
				started++
			}
		}
		if done >= 10 && started > 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "no syncs in flight after 30 s (%d done)", done)
		time.Sleep(20 * time.Millisecond)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	require.NoError(t, w.client.StopAndCancel(sctx))
	cancel()
	require.NoError(t, db.Close())

	p2 := partnerFor(t, f)
	w2 := startSQLiteWorker(t, openSQLite(t, path), p2, testOptions())
	recs := waitSyncsDone(t, w2.jobs, "p1", 60, 60*time.Second)
	require.Len(t, recs, 60)
	waitJobsFinished(t, w2.db, 20*time.Second)

	for srv, n := range runsPerConnection(t, p2, conns) {
		assert.Equal(t, 1, n, "connection %d: runs started", srv)
	}
	triggers, checks := 0, 0
	for _, r := range recs {
		assert.NotEqual(t, peliqanriver.OutcomeUnknown, r.Outcome, "%+v", r)
		triggers += r.Triggers
		checks += r.Checks
	}
	t.Logf("60 connections: %d triggers sent, %d runs checks", triggers, checks)
}

// The fleet sync leaves out connections that need re-authorisation, with a
// row saying so.
func TestFleetSyncSkipsConnectionsThatNeedReauthorisation(t *testing.T) {
	t.Parallel()
	f := peliqantest.NewFake(t, peliqantest.WithSyncDuration(50*time.Millisecond),
		peliqantest.WithFixture(peliqantest.Generate(4, 2, 2, 1)))
	p := partnerFor(t, f)
	conns := connections(t, p)
	var skipped peliqan.ID
	for srv := range conns {
		skipped = srv
		break
	}
	require.NoError(t, f.MarkNeedsReauth(skipped))
	_, db := tempSQLite(t)
	w := startSQLiteWorker(t, db, p, testOptions())
	_, err := w.client.Insert(context.Background(), peliqanriver.FleetSyncArgs{Period: "p"}, nil)
	require.NoError(t, err)
	recs := waitSyncsDone(t, w.jobs, "p", len(conns), 30*time.Second)
	for _, r := range recs {
		if r.ServerID == skipped {
			assert.Equal(t, peliqanriver.OutcomeSkipped, r.Outcome)
			assert.Contains(t, r.Message, "re-authorisation")
		} else {
			assert.NotEqual(t, peliqanriver.OutcomeSkipped, r.Outcome)
		}
	}
	assert.Equal(t, 0, runsPerConnection(t, p, map[peliqan.ID]peliqan.ID{skipped: conns[skipped]})[skipped])
}
