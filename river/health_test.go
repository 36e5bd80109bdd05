package peliqanriver_test

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
	peliqanriver "github.com/peliqan-community/peliqan-go/river"
)

// The health scan stores one row per connection with the verdict the SDK's
// own ConnectionHealth gives it, so a dashboard reads the table instead of
// calling Peliqan; a later scan replaces the rows.
func TestHealthScanStoresConnectionHealthVerdicts(t *testing.T) {
	t.Parallel()
	f := peliqantest.NewFake(t, peliqantest.WithSyncDuration(30*time.Millisecond),
		peliqantest.WithFixture(peliqantest.Generate(5, 6, 3, 1)))
	p := partnerFor(t, f)
	ctx := context.Background()
	conns := connections(t, p)
	// Some variety: a run with errors, one needing re-authorisation, one
	// disabled, one with no run at all.
	// Every outcome is set: the generated fixture gives some connections
	// failing runs, and which ones the map yields first varies.
	ids := slices.Sorted(maps.Keys(conns))
	require.NoError(t, f.SetSyncOutcome(ids[0], peliqantest.OutcomeCompletedWithErrors))
	for _, srv := range ids[1:4] {
		require.NoError(t, f.SetSyncOutcome(srv, peliqantest.OutcomeCompleted))
	}
	for _, srv := range ids[:4] {
		require.NoError(t, f.SetHealthStatus(srv, "OK"))
		tc, err := p.SubAccount(peliqan.ByAccountID(conns[srv]))
		require.NoError(t, err)
		res, err := tc.SyncServer(ctx, srv, nil)
		require.NoError(t, err)
		_, err = tc.WaitForSync(ctx, res, &peliqan.WaitOptions{Schedule: peliqan.FixedSchedule(20 * time.Millisecond)})
		require.NoError(t, err)
	}
	require.NoError(t, f.SetHealthStatus(ids[0], "OK")) // healthy now, its last run had errors
	require.NoError(t, f.MarkNeedsReauth(ids[1]))
	require.NoError(t, f.SetHealthStatus(ids[2], "DISABLED"))

	want := map[peliqan.ID]peliqan.Verdict{}
	for r, err := range p.ConnectionHealth(ctx, nil) {
		require.NoError(t, err)
		want[r.Server.ID] = r.Verdict
	}
	require.Len(t, want, len(conns))

	_, db := tempSQLite(t)
	w := startSQLiteWorker(t, db, p, testOptions())
	_, err := w.client.Insert(ctx, peliqanriver.HealthScanArgs{Period: "h1"}, nil)
	require.NoError(t, err)
	waitJobsFinished(t, w.db, 30*time.Second)

	rows, err := w.jobs.Health(ctx, nil)
	require.NoError(t, err)
	require.Len(t, rows, len(conns))
	got := map[peliqan.ID]peliqan.Verdict{}
	for _, r := range rows {
		got[r.ServerID] = r.Verdict
		assert.Equal(t, conns[r.ServerID], r.SubAccountID)
		assert.NotEmpty(t, r.ExternalID)
		assert.False(t, r.Checked.IsZero())
	}
	assert.Equal(t, want, got)
	assert.Equal(t, peliqan.VerdictRunErrors, got[ids[0]])
	assert.Equal(t, peliqan.VerdictNeedsReauthorisation, got[ids[1]])
	assert.Equal(t, peliqan.VerdictDisabled, got[ids[2]])

	attention, err := w.jobs.Health(ctx, &peliqanriver.HealthQuery{NeedsAttention: true})
	require.NoError(t, err)
	for _, r := range attention {
		assert.True(t, r.Verdict.NeedsAttention(), "%+v", r)
	}
	assert.NotEmpty(t, attention)

	// A later scan replaces the rows: the re-authorised connection is
	// healthy again.
	require.NoError(t, f.SetHealthStatus(ids[1], "OK"))
	_, err = w.client.Insert(ctx, peliqanriver.HealthScanArgs{Period: "h2"}, nil)
	require.NoError(t, err)
	waitJobsFinished(t, w.db, 30*time.Second)
	rows, err = w.jobs.Health(ctx, &peliqanriver.HealthQuery{SubAccountID: conns[ids[1]]})
	require.NoError(t, err)
	for _, r := range rows {
		if r.ServerID == ids[1] {
			assert.Equal(t, peliqan.VerdictHealthy, r.Verdict)
		}
	}
}
