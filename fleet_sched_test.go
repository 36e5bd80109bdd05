package peliqan

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFleetConcurrencyHalvesOnceAndGrowsBack(t *testing.T) {
	t.Parallel()
	p, _ := mockPartner(t)
	f, err := newFleet(p, FleetSyncOptions{Concurrency: 8}, nil)
	require.NoError(t, err)
	f.pending = 1000
	round := time.Now()
	a, b := &fleetTask{started: round}, &fleetTask{started: round}
	f.inflight = 2

	f.finished(a, &APIError{StatusCode: http.StatusTooManyRequests, RetryAfter: 2 * time.Second})
	assert.Equal(t, 4, f.capLocked(), "a 429 halves the cap")
	assert.WithinDuration(t, time.Now().Add(2*time.Second), f.pauseUntil, 100*time.Millisecond, "and pauses the fleet for Retry-After")
	f.finished(b, &APIError{StatusCode: http.StatusTooManyRequests})
	assert.Equal(t, 4, f.capLocked(), "a 429 to a request of the same round does not cut again")
	assert.Equal(t, 2, f.prog.RateLimited)
	assert.Equal(t, 2, f.hi.len()+f.lo.len(), "both go back in the queue")
	assert.Equal(t, 1000, f.pending, "and stay pending")

	successes := 0
	for f.capLocked() < 8 {
		f.inflight++
		f.finished(&fleetTask{started: time.Now()}, nil)
		successes++
	}
	assert.InDelta(t, 4+5+6+7, successes, 4, "one more slot per cap's worth of successes")
	for range 100 {
		f.inflight++
		f.finished(&fleetTask{started: time.Now()}, nil)
	}
	assert.Equal(t, 8, f.capLocked(), "never past Concurrency")

	// A later round is cut again; a 429 without Retry-After pauses 1 s.
	f.pauseUntil = time.Time{} // the first pause is over
	f.inflight++
	f.finished(&fleetTask{kind: taskTick, started: time.Now()}, &APIError{StatusCode: http.StatusTooManyRequests})
	assert.Equal(t, 4, f.capLocked())
	assert.WithinDuration(t, time.Now().Add(defaultFleetPause), f.pauseUntil, 100*time.Millisecond)
	assert.Equal(t, 1, f.dueTicks.len(), "a refused tick waits, first in line, for the pause")
	for range 20 {
		f.inflight++
		f.finished(&fleetTask{started: time.Now()}, &APIError{StatusCode: http.StatusTooManyRequests})
	}
	assert.Equal(t, 1, f.capLocked(), "never below one")
}

func TestFleetPicksWorkAlreadyBegunFirst(t *testing.T) {
	t.Parallel()
	p, _ := mockPartner(t)
	f, err := newFleet(p, FleetSyncOptions{}, nil)
	require.NoError(t, err)
	f.ctx = context.Background()
	now := time.Now()
	newCustomer := &fleetTask{kind: taskCustomer}
	trigger := &fleetTask{kind: taskTrigger}
	dueTick := &fleetTask{kind: taskTick, due: now.Add(-time.Second), late: now.Add(time.Second)}
	lateTick := &fleetTask{kind: taskTick, due: now.Add(-2 * time.Second), late: now.Add(-time.Second)}
	futureTick := &fleetTask{kind: taskTick, due: now.Add(time.Hour), late: now.Add(2 * time.Hour)}
	for _, tk := range []*fleetTask{newCustomer, dueTick, futureTick, lateTick, trigger} {
		f.enqueueLocked(tk)
	}
	var order []*fleetTask
	for range 4 {
		order = append(order, f.next())
	}
	assert.Equal(t, []*fleetTask{trigger, lateTick, newCustomer, dueTick}, order)
	assert.Equal(t, 1, f.timed.len(), "the tick not due yet waits")
}

// fleetMock is one customer (account 1) with the given connections behind
// httpmock.
func fleetMock(t *testing.T, servers string) (*PartnerClient, *httpmock.MockTransport) {
	p, mt := mockPartner(t, WithRetryPolicy(NoRetry()))
	mt.RegisterResponder("GET", testBase+"/api/partner/sub-account/identity/", httpmock.NewStringResponder(200, `{"token": "tenant-token-abcdefghijkl"}`))
	mt.RegisterResponder("GET", testBase+"/api/servers/", httpmock.NewStringResponder(200, servers))
	return p, mt
}

// After an ambiguous trigger failure the connection's latest run decides:
// one that ended long before the trigger means nothing started (sent
// again); one that started just before may be the trigger's own (unknown).
func TestFleetAmbiguousTriggerUsesTheLatestRunsStart(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		startedAgo time.Duration
		outcome    FleetOutcome
		triggers   int
	}{
		"ended long before": {time.Hour, FleetCompleted, 2},
		"started just now":  {10 * time.Second, FleetUnknown, 1},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, mt := fleetMock(t, `[{"id": 7, "name": "CRM", "server_type": "pipedrive", "health_status": "OK"}]`)
			var syncs atomic.Int32
			mt.RegisterResponder("GET", testBase+"/api/servers/7/syncdb/", sequence(&syncs,
				httpmock.NewStringResponder(502, "bad gateway"),
				httpmock.NewStringResponder(200, `{"server_id": 7, "run_data": [{"pipeline_run_id": 71, "task_id": "t"}]}`)))
			started := time.Now().Add(-tc.startedAgo).UTC().Format(time.RFC3339)
			mt.RegisterResponder("GET", testBase+"/api/servers/7/runs/", httpmock.NewStringResponder(200,
				fmt.Sprintf(`{"data": [{"id": 60, "status": "COMPLETED", "timestamp_start": %q}]}`, started)))
			mt.RegisterResponder("GET", testBase+"/api/pipeline_runs/", httpmock.NewStringResponder(200, `{"data": [{"id": 71, "status": "COMPLETED"}]}`))

			var got []*FleetResult
			for r, err := range p.SyncFleet(context.Background(), &FleetSyncOptions{
				SubAccounts: []SubAccountRef{ByAccountID(1)}, Schedule: FixedSchedule(time.Millisecond)}) {
				require.NoError(t, err)
				got = append(got, r)
			}
			require.Len(t, got, 1)
			assert.Equal(t, tc.outcome, got[0].Outcome)
			assert.Equal(t, tc.triggers, got[0].Triggers)
			assert.EqualValues(t, tc.triggers, syncs.Load())
			if tc.outcome == FleetUnknown {
				assert.ErrorIs(t, got[0].Err, ErrServer)
				assert.Equal(t, ID(60), got[0].Run.Run.ID, "the run the check saw")
			}
		})
	}
}

// A 429 on a poll pauses the fleet, and the poll is sent again after it.
func TestFleetPollAnswered429IsSentAgainAfterThePause(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p, mt := fleetMock(t, `[{"id": 7, "health_status": "OK"}, {"id": 8, "health_status": "OK"}]`)
		for _, id := range []int{7, 8} {
			mt.RegisterResponder("GET", fmt.Sprintf("%s/api/servers/%d/syncdb/", testBase, id), httpmock.NewStringResponder(200,
				fmt.Sprintf(`{"server_id": %d, "run_data": [{"pipeline_run_id": %d}]}`, id, id*10)))
		}
		var polls atomic.Int32
		var at []time.Duration
		start := time.Now()
		limited := httpmock.NewStringResponder(429, `{"detail": "slow down"}`).HeaderSet(http.Header{"Retry-After": {"3"}})
		done := httpmock.NewStringResponder(200, `{"data": [{"id": 70, "status": "COMPLETED"}, {"id": 80, "status": "ERROR"}]}`)
		mt.RegisterResponder("GET", testBase+"/api/pipeline_runs/", func(r *http.Request) (*http.Response, error) {
			at = append(at, time.Since(start))
			return sequence(&polls, limited, done)(r)
		})
		var last FleetProgress
		outcomes := map[ID]FleetOutcome{}
		for r, err := range p.SyncFleet(context.Background(), &FleetSyncOptions{
			SubAccounts: []SubAccountRef{ByAccountID(1)}, Schedule: FixedSchedule(5 * time.Second),
			Progress: func(p FleetProgress) { last = p }}) {
			require.NoError(t, err)
			outcomes[r.Server.ID] = r.Outcome
		}
		assert.Equal(t, map[ID]FleetOutcome{7: FleetCompleted, 8: FleetFailed}, outcomes)
		assert.Equal(t, []time.Duration{5 * time.Second, 8 * time.Second}, at, "first poll one interval after the triggers, again after the 3 s pause")
		assert.Equal(t, 1, last.RateLimited)
	})
}
