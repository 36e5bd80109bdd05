package peliqan_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// Five connections of one customer synced together are followed with one
// status request per tick, not five, and each is reported with its own
// outcome.
func TestWaitForSyncsOnTheFakeSendsOneRequestPerTick(t *testing.T) {
	t.Parallel()
	var conns []peliqantest.ConnectionFixture
	for range 5 {
		conns = append(conns, peliqantest.ConnectionFixture{Type: "pipedrive"})
	}
	fake := peliqantest.NewFake(t, peliqantest.WithSyncDuration(300*time.Millisecond),
		peliqantest.WithFixture(peliqantest.Fixture{SubAccounts: []peliqantest.SubAccountFixture{{ExternalID: "acme", Connections: conns}}}))
	sa := fake.Seeded().SubAccounts[0]
	require.NoError(t, fake.SetSyncOutcome(sa.Connections[1].ID, peliqantest.OutcomeCompletedWithErrors))
	require.NoError(t, fake.SetSyncOutcome(sa.Connections[2].ID, peliqantest.OutcomeError))
	tc, err := fake.SubAccountClient(sa.ID)
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var results []*peliqan.SyncResult
	for _, c := range sa.Connections {
		res, err := tc.SyncServer(ctx, c.ID, nil)
		require.NoError(t, err)
		results = append(results, res)
	}
	fake.ResetRecords()

	ticks := 0
	got := map[peliqan.ID]peliqan.RunStatus{}
	for end, err := range tc.WaitForSyncs(ctx, results, &peliqan.WaitManyOptions{
		Schedule: peliqan.FixedSchedule(100 * time.Millisecond),
		Progress: func(p peliqan.WaitManyProgress) { ticks = p.Tick },
	}) {
		require.NoError(t, err)
		require.NoError(t, end.Err)
		got[end.Result.ServerID] = end.Run.Status
		require.NotNil(t, end.Run.Run, "the run was read")
		assert.Equal(t, end.Result.RunData[0].PipelineRunID, end.Run.Run.ID)
	}
	assert.Equal(t, map[peliqan.ID]peliqan.RunStatus{
		sa.Connections[0].ID: peliqan.RunCompleted,
		sa.Connections[1].ID: peliqan.RunCompletedWithErrors,
		sa.Connections[2].ID: peliqan.RunError,
		sa.Connections[3].ID: peliqan.RunCompleted,
		sa.Connections[4].ID: peliqan.RunCompleted,
	}, got)
	assert.GreaterOrEqual(t, ticks, 2, "the runs were still going at the first tick")
	assert.Equal(t, ticks, fake.Count(peliqan.RouteGetPipelineRuns), "one status request per tick for five runs")
	assert.Zero(t, fake.Count(peliqan.RouteGetServerSyncRunStatus))
	assert.Zero(t, fake.Count(peliqan.RouteSyncServer), "nothing is triggered again")
	assert.Len(t, fake.Requests(), ticks, "nothing else is sent")
}
