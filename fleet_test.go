package peliqan_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// fleetEnv is a fake with customers, and a partner client on it whose
// retries never wait.
type fleetEnv struct {
	fake *peliqantest.Fake
	p    *peliqan.PartnerClient
	sas  []peliqantest.SeededSubAccount
}

func newFleetEnv(t testing.TB, fix peliqantest.Fixture, fakeOpts []peliqantest.Option, opts ...peliqan.Option) *fleetEnv {
	t.Helper()
	fake := peliqantest.NewFake(t, append([]peliqantest.Option{peliqantest.WithFixture(fix)}, fakeOpts...)...)
	p, err := fake.PartnerClient(opts...)
	require.NoError(t, err)
	return &fleetEnv{fake: fake, p: p, sas: fake.Seeded().SubAccounts}
}

// pipedrives is n customers with k Pipedrive connections each.
func pipedrives(n, k int) peliqantest.Fixture {
	var fix peliqantest.Fixture
	for i := range n {
		sa := peliqantest.SubAccountFixture{ExternalID: fmt.Sprintf("cust%04d", i)}
		for range k {
			sa.Connections = append(sa.Connections, peliqantest.ConnectionFixture{Type: "pipedrive"})
		}
		fix.SubAccounts = append(fix.SubAccounts, sa)
	}
	return fix
}

// runsStarted is the fake's own count of the pipeline runs started for each
// seeded connection (0 for one never started).
func runsStarted(t testing.TB, fake *peliqantest.Fake, sas []peliqantest.SeededSubAccount) map[peliqan.ID]int {
	t.Helper()
	started := fake.RunsStarted()
	out := map[peliqan.ID]int{}
	for _, sa := range sas {
		for _, c := range sa.Connections {
			out[c.ID] = started[c.ID]
		}
	}
	return out
}

// collectFleet drains SyncFleet, keyed by connection id (customers not
// listed under a negative id), and returns the iterator's error.
func collectFleet(t testing.TB, seq func(func(*peliqan.FleetResult, error) bool)) (map[peliqan.ID]*peliqan.FleetResult, error) {
	t.Helper()
	got := map[peliqan.ID]*peliqan.FleetResult{}
	var last error
	for r, err := range seq {
		if err != nil {
			assert.Nil(t, last, "the iterator's error comes once")
			last = err
			continue
		}
		require.NotNil(t, r)
		id := -r.SubAccount.ID
		if r.Server != nil {
			id = r.Server.ID
		}
		_, dup := got[id]
		assert.False(t, dup, "one result per connection: %d twice", id)
		got[id] = r
	}
	return got, last
}

func TestSyncFleetSyncsEveryConnectionOnceAndReportsEach(t *testing.T) {
	t.Parallel()
	fix := peliqantest.Fixture{SubAccounts: []peliqantest.SubAccountFixture{
		{ExternalID: "acme", Connections: []peliqantest.ConnectionFixture{
			{Type: "pipedrive"},
			{Type: "pipedrive", SyncOutcome: peliqantest.OutcomeCompletedWithErrors},
			{Type: "postgresql", SyncOutcome: peliqantest.OutcomeError},
			{Type: "hubspot", HealthStatus: "AUTHORIZING"},
			{Type: "pipedrive", HealthStatus: "DISABLED"},
		}},
		{ExternalID: "globex", Connections: []peliqantest.ConnectionFixture{{Type: "pipedrive"}, {Type: "pipedrive"}}},
		{ExternalID: "empty"},
	}}
	e := newFleetEnv(t, fix, []peliqantest.Option{peliqantest.WithSyncDuration(2 * time.Second)}) // long enough to find one still going
	acme, globex := e.sas[0], e.sas[1]

	// globex's second connection is already syncing when the fleet lists it.
	busy := globex.Connections[1].ID
	tc, err := e.fake.SubAccountClient(globex.ID)
	require.NoError(t, err)
	before, err := tc.SyncServer(context.Background(), busy, nil)
	require.NoError(t, err)

	var progress []peliqan.FleetProgress
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := collectFleet(t, e.p.SyncFleet(ctx, &peliqan.FleetSyncOptions{
		Concurrency: 4, Schedule: peliqan.FixedSchedule(100 * time.Millisecond), PageSize: 2,
		Progress: func(p peliqan.FleetProgress) { progress = append(progress, p) },
	}))
	require.NoError(t, err)

	outcome := func(id peliqan.ID) peliqan.FleetOutcome {
		require.Contains(t, got, id)
		return got[id].Outcome
	}
	assert.Len(t, got, 7)
	assert.Equal(t, peliqan.FleetCompleted, outcome(acme.Connections[0].ID))
	assert.Equal(t, peliqan.FleetCompletedWithErrors, outcome(acme.Connections[1].ID))
	assert.Equal(t, peliqan.FleetFailed, outcome(acme.Connections[2].ID))
	assert.Equal(t, peliqan.FleetSkippedNeedsReauthorisation, outcome(acme.Connections[3].ID))
	assert.Equal(t, peliqan.FleetSkippedDisabled, outcome(acme.Connections[4].ID))
	assert.Equal(t, peliqan.FleetCompleted, outcome(globex.Connections[0].ID))
	assert.Equal(t, peliqan.FleetCompleted, outcome(busy))

	r := got[busy]
	assert.True(t, r.AlreadySyncing)
	assert.Zero(t, r.Triggers, "a connection already syncing is followed, not triggered")
	require.NotNil(t, r.Run)
	assert.Equal(t, before.RunData[0].PipelineRunID, r.Run.Run.ID)

	r = got[acme.Connections[0].ID]
	assert.Equal(t, "acme", r.SubAccount.ExternalID)
	assert.Equal(t, acme.ID, r.SubAccount.ID)
	assert.Equal(t, "pipedrive", r.Server.ServerType)
	assert.Nil(t, r.Server.Raw)
	assert.Equal(t, 1, r.Triggers)
	assert.NoError(t, r.Err)
	require.NotNil(t, r.Run)
	assert.Equal(t, peliqan.RunCompleted, r.Run.Status)
	assert.Positive(t, r.Run.Run.Records, "the run's tables came with the batched read")

	assert.Equal(t, 1+4, e.fake.Count(peliqan.RouteSyncServer), "the test's own trigger, then the fleet's four")
	assert.Equal(t, 1, e.fake.Count(peliqan.RouteListServerRuns), "one look at the connection that was checking")
	assert.Zero(t, e.fake.Count(peliqan.RouteGetServerSyncRunStatus), "runs with ids are followed through their records")
	runs := runsStarted(t, e.fake, e.sas)
	for _, c := range acme.Connections[:3] {
		assert.Equal(t, 1, runs[c.ID], "one run per connection")
	}
	for _, c := range acme.Connections[3:] {
		assert.Zero(t, runs[c.ID], "skipped connections are not triggered")
	}
	assert.Equal(t, 1, runs[globex.Connections[0].ID])
	assert.Equal(t, 1, runs[busy], "the test's run, and no other")

	require.NotEmpty(t, progress)
	last := progress[len(progress)-1]
	assert.Equal(t, 3, last.Customers)
	assert.Equal(t, 7, last.Connections)
	assert.Equal(t, 5, last.Started)
	assert.Equal(t, 7, last.Done)
	assert.Equal(t, 4, last.Concurrency)
	assert.Zero(t, last.RateLimited)
	for i := 1; i < len(progress); i++ {
		assert.GreaterOrEqual(t, progress[i].Done, progress[i-1].Done, "progress comes in order")
	}
}

// One status request per customer per poll, whatever the number of its
// connections.
func TestSyncFleetPollsOnceForEachCustomer(t *testing.T) {
	t.Parallel()
	e := newFleetEnv(t, pipedrives(3, 5), []peliqantest.Option{peliqantest.WithSyncDuration(400 * time.Millisecond)})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := collectFleet(t, e.p.SyncFleet(ctx, &peliqan.FleetSyncOptions{Concurrency: 16, Schedule: peliqan.FixedSchedule(100 * time.Millisecond)}))
	require.NoError(t, err)
	require.Len(t, got, 15)
	polls := map[peliqan.ID]int{} // per customer
	for _, r := range got {
		assert.Equal(t, peliqan.FleetCompleted, r.Outcome)
		polls[r.SubAccount.ID] = max(polls[r.SubAccount.ID], r.Run.Polls)
	}
	total := 0
	for _, n := range polls {
		total += n
	}
	assert.Equal(t, total, e.fake.Count(peliqan.RouteGetPipelineRuns), "one GetPipelineRuns per customer per tick")
	assert.GreaterOrEqual(t, total, 6, "the runs were still going at the first ticks")
	assert.Equal(t, 1+3+3+15+total, len(e.fake.Requests()),
		"a list page, a token and a connection list per customer, a trigger per connection, the polls")
	for id, n := range runsStarted(t, e.fake, e.sas) {
		assert.Equal(t, 1, n, "connection %d", id)
	}
}

func TestSyncFleetPausesTheFleetOnA429AndSendsTheTriggerAgain(t *testing.T) {
	t.Parallel()
	e := newFleetEnv(t, pipedrives(2, 2), []peliqantest.Option{peliqantest.WithSyncDuration(50 * time.Millisecond)})
	e.fake.FailNext(peliqan.RouteSyncServer, 1, peliqantest.RetryAfterFault(http.StatusTooManyRequests, "1"))
	var mu sync.Mutex
	var progress []peliqan.FleetProgress
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := collectFleet(t, e.p.SyncFleet(ctx, &peliqan.FleetSyncOptions{
		Concurrency: 1, Schedule: peliqan.FixedSchedule(50 * time.Millisecond),
		Progress: func(p peliqan.FleetProgress) { mu.Lock(); progress = append(progress, p); mu.Unlock() },
	}))
	require.NoError(t, err)
	require.Len(t, got, 4)
	triggers := 0
	for _, r := range got {
		assert.Equal(t, peliqan.FleetCompleted, r.Outcome)
		triggers += r.Triggers
	}
	assert.Equal(t, 5, triggers, "the trigger answered 429 was sent again")
	for id, n := range runsStarted(t, e.fake, e.sas) {
		assert.Equal(t, 1, n, "connection %d", id)
	}

	// Nothing was sent during the pause.
	reqs := e.fake.Requests()
	i := slices.IndexFunc(reqs, func(r peliqantest.Request) bool { return r.Status == http.StatusTooManyRequests })
	require.GreaterOrEqual(t, i, 0)
	require.Less(t, i+1, len(reqs))
	assert.GreaterOrEqual(t, reqs[i+1].Time.Sub(reqs[i].Time), 950*time.Millisecond, "the fleet paused for Retry-After")
	assert.Equal(t, reqs[i].Path, reqs[i+1].Path, "the refused trigger goes first after the pause")

	var paused bool
	for _, p := range progress {
		paused = paused || !p.PausedUntil.IsZero()
		assert.LessOrEqual(t, p.Concurrency, 1)
	}
	assert.True(t, paused)
	assert.Equal(t, 1, progress[len(progress)-1].RateLimited)
}

// Against the fake's own rate limit (a token bucket answering 429 with
// Retry-After), without a limiter: the fleet pauses and halves its
// concurrency, every connection completes, and none is started twice.
func TestSyncFleetUnderTheFakesRateLimit(t *testing.T) {
	t.Parallel()
	e := newFleetEnv(t, pipedrives(3, 3), []peliqantest.Option{
		peliqantest.WithSyncDuration(50 * time.Millisecond), peliqantest.WithRateLimit(20, 4)})
	var last peliqan.FleetProgress
	minConc := 16
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, err := collectFleet(t, e.p.SyncFleet(ctx, &peliqan.FleetSyncOptions{
		Concurrency: 16, Schedule: peliqan.FixedSchedule(100 * time.Millisecond),
		Progress: func(p peliqan.FleetProgress) { last, minConc = p, min(minConc, p.Concurrency) },
	}))
	require.NoError(t, err)
	require.Len(t, got, 9)
	for _, r := range got {
		assert.Equal(t, peliqan.FleetCompleted, r.Outcome, "%v", r.Err)
	}
	counts := e.fake.Counts()
	require.Positive(t, counts.RateLimited, "a burst of 16 against a bucket of 4 is throttled")
	assert.Equal(t, counts.RateLimited, last.RateLimited, "every 429 reached the fleet, none was slept on and retried by the call")
	assert.Less(t, minConc, 16, "the concurrency was cut")
	for id, n := range runsStarted(t, e.fake, e.sas) {
		assert.Equal(t, 1, n, "connection %d", id)
	}
}

func TestSyncFleetAmbiguousTriggers(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		fault    peliqantest.Fault
		times    int
		outcome  peliqan.FleetOutcome
		triggers int
		runs     int
		checks   int
	}{
		// Not acted on: the check shows nothing started, so it is sent again.
		"503":             {peliqantest.StatusFault(http.StatusServiceUnavailable, ""), 1, peliqan.FleetCompleted, 2, 1, 1},
		"reset":           {peliqantest.ResetFault(), 1, peliqan.FleetCompleted, 2, 1, 1},
		"always 502":      {peliqantest.HTMLFault(http.StatusBadGateway), 10, peliqan.FleetFailedToStart, 3, 0, 3},
		"slow 503 thrice": {peliqantest.StatusFault(http.StatusServiceUnavailable, ""), 3, peliqan.FleetFailedToStart, 3, 0, 3},
		// Acted on, then the answer broke: a run exists, so nothing is sent
		// again and the outcome is unknown.
		"reset mid-body": {peliqantest.MidBodyResetFault(), 1, peliqan.FleetUnknown, 1, 1, 1},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newFleetEnv(t, pipedrives(1, 1), []peliqantest.Option{peliqantest.WithSyncDuration(50 * time.Millisecond)})
			e.fake.FailNext(peliqan.RouteSyncServer, tc.times, tc.fault)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			got, err := collectFleet(t, e.p.SyncFleet(ctx, &peliqan.FleetSyncOptions{Schedule: peliqan.FixedSchedule(50 * time.Millisecond)}))
			require.NoError(t, err)
			id := e.sas[0].Connections[0].ID
			require.Contains(t, got, id)
			r := got[id]
			assert.Equal(t, tc.outcome, r.Outcome)
			assert.Equal(t, tc.triggers, r.Triggers)
			assert.Equal(t, tc.checks, e.fake.Count(peliqan.RouteListServerRuns), "one status check per ambiguous failure")
			assert.Equal(t, tc.triggers, e.fake.Count(peliqan.RouteSyncServer))
			assert.Equal(t, tc.runs, runsStarted(t, e.fake, e.sas)[id])
			if tc.outcome != peliqan.FleetCompleted {
				assert.Error(t, r.Err)
			}
			if tc.outcome == peliqan.FleetUnknown {
				require.NotNil(t, r.Run, "the run the check saw")
				assert.Positive(t, r.Run.Run.ID)
			}
		})
	}
}

func TestSyncFleetRefusedTriggerIsNotSentAgain(t *testing.T) {
	t.Parallel()
	e := newFleetEnv(t, pipedrives(1, 2), nil)
	e.fake.FailNext(peliqan.RouteSyncServer, 1, peliqantest.StatusFault(http.StatusBadRequest, `{"error": "ERROR_SERVER_NOT_AUTHORISED"}`))
	got, err := collectFleet(t, e.p.SyncFleet(context.Background(), &peliqan.FleetSyncOptions{Concurrency: 1, Schedule: peliqan.FixedSchedule(50 * time.Millisecond)}))
	require.NoError(t, err)
	outcomes := map[peliqan.FleetOutcome]int{}
	for _, r := range got {
		outcomes[r.Outcome]++
		if r.Outcome == peliqan.FleetFailedToStart {
			assert.ErrorIs(t, r.Err, peliqan.ErrValidation)
			assert.Nil(t, r.Run)
		}
	}
	assert.Equal(t, map[peliqan.FleetOutcome]int{peliqan.FleetFailedToStart: 1, peliqan.FleetCompleted: 1}, outcomes)
	assert.Equal(t, 2, e.fake.Count(peliqan.RouteSyncServer))
	assert.Zero(t, e.fake.Count(peliqan.RouteListServerRuns), "a 4xx is not ambiguous: no status check")
}

func TestSyncFleetFilters(t *testing.T) {
	t.Parallel()
	fix := peliqantest.Fixture{SubAccounts: []peliqantest.SubAccountFixture{
		{ExternalID: "a", Connections: []peliqantest.ConnectionFixture{{Type: "pipedrive"}, {Type: "postgresql"}, {Type: "pipedrive", HealthStatus: "ERROR"}}},
		{ExternalID: "b", Connections: []peliqantest.ConnectionFixture{{Type: "pipedrive"}, {Type: "hubspot", HealthStatus: "AUTHORIZING"}}},
		{ExternalID: "c", Connections: []peliqantest.ConnectionFixture{{Type: "pipedrive"}}},
	}}
	// Each case on a fresh fake: a sync changes a connection's health.
	type conn struct{ sa, i int }
	for name, tc := range map[string]struct {
		o    *peliqan.FleetSyncOptions
		want []conn
	}{
		"type":           {&peliqan.FleetSyncOptions{ConnectionTypes: []string{"PipeDrive"}}, []conn{{0, 0}, {0, 2}, {1, 0}, {2, 0}}},
		"healthy":        {&peliqan.FleetSyncOptions{Health: []peliqan.Verdict{peliqan.VerdictHealthy}}, []conn{{0, 0}, {0, 1}, {1, 0}, {2, 0}}},
		"failed, reauth": {&peliqan.FleetSyncOptions{Health: []peliqan.Verdict{peliqan.VerdictFailed, peliqan.VerdictNeedsReauthorisation}}, []conn{{0, 2}, {1, 1}}},
		"customer":       {&peliqan.FleetSyncOptions{SubAccountFilter: func(sa *peliqan.SubAccount) bool { return sa.ExternalID == "b" }}, []conn{{1, 0}, {1, 1}}},
		"connection": {&peliqan.FleetSyncOptions{ConnectionFilter: func(sa *peliqan.SubAccount, s *peliqan.Server) bool {
			return sa.ExternalID == "a" && s.ServerType == "postgresql"
		}}, []conn{{0, 1}}},
		"named": {&peliqan.FleetSyncOptions{SubAccounts: []peliqan.SubAccountRef{peliqan.ByExternalID("a"), peliqan.ByAccountID(-1), peliqan.ByExternalID("a")}},
			[]conn{{0, 0}, {0, 1}, {0, 2}, {2, 0}}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newFleetEnv(t, fix, []peliqantest.Option{peliqantest.WithSyncDuration(10 * time.Millisecond)})
			o := *tc.o
			o.Schedule = peliqan.FixedSchedule(20 * time.Millisecond)
			if name == "named" {
				o.SubAccounts = slices.Clone(o.SubAccounts)
				o.SubAccounts[1] = peliqan.ByAccountID(e.sas[2].ID)
			}
			got, err := collectFleet(t, e.p.SyncFleet(context.Background(), &o))
			require.NoError(t, err)
			var ids, want []peliqan.ID
			for id := range got {
				ids = append(ids, id)
			}
			for _, c := range tc.want {
				want = append(want, e.sas[c.sa].Connections[c.i].ID)
			}
			slices.Sort(ids)
			slices.Sort(want)
			assert.Equal(t, want, ids)
			if name == "named" {
				assert.Zero(t, e.fake.Count(peliqan.RouteListSubAccounts), "named customers are not listed")
			}
		})
	}
}

func TestSyncFleetReportsACustomerItCannotList(t *testing.T) {
	t.Parallel()
	e := newFleetEnv(t, pipedrives(2, 1), nil)
	got, err := collectFleet(t, e.p.SyncFleet(context.Background(), &peliqan.FleetSyncOptions{
		SubAccounts: []peliqan.SubAccountRef{peliqan.ByExternalID("cust0000"), peliqan.ByExternalID("nobody")},
		Schedule:    peliqan.FixedSchedule(20 * time.Millisecond),
	}))
	require.NoError(t, err)
	require.Len(t, got, 2)
	r := got[0] // SubAccount.ID is 0 for a customer named by external id
	require.NotNil(t, r)
	assert.Equal(t, peliqan.FleetNotListed, r.Outcome)
	assert.Equal(t, "nobody", r.SubAccount.ExternalID)
	assert.Nil(t, r.Server)
	assert.ErrorIs(t, r.Err, peliqan.ErrNotFound)
	assert.Equal(t, peliqan.FleetCompleted, got[e.sas[0].Connections[0].ID].Outcome)
}

func TestSyncFleetRefusesBadOptionsBeforeAnyRequest(t *testing.T) {
	t.Parallel()
	e := newFleetEnv(t, pipedrives(1, 1), nil)
	for name, o := range map[string]*peliqan.FleetSyncOptions{
		"concurrency":  {Concurrency: -1},
		"page size":    {PageSize: 1001},
		"ref":          {SubAccounts: []peliqan.SubAccountRef{{}}},
		"verdict":      {Health: []peliqan.Verdict{peliqan.VerdictRunErrors}},
		"empty type":   {ConnectionTypes: []string{" "}},
		"request opt":  nil,
		"nil ctx only": nil,
	} {
		ctx := context.Background()
		var opts []peliqan.RequestOption
		switch name {
		case "request opt":
			opts = append(opts, peliqan.WithHeader("Authorization", "x"))
		case "nil ctx only":
			ctx = nil
		}
		got, err := collectFleet(t, e.p.SyncFleet(ctx, o, opts...))
		assert.ErrorIs(t, err, peliqan.ErrInvalidArgument, name)
		assert.Empty(t, got, name)
	}
	assert.Empty(t, e.fake.Requests())
}

// The fleet's Limiter paces every request it sends, the tenant clients'
// included.
func TestSyncFleetWaitsForItsLimiterBeforeEveryRequest(t *testing.T) {
	t.Parallel()
	e := newFleetEnv(t, pipedrives(3, 2), []peliqantest.Option{peliqantest.WithSyncDuration(20 * time.Millisecond)})
	l := &countLimiter{}
	got, err := collectFleet(t, e.p.SyncFleet(context.Background(), &peliqan.FleetSyncOptions{
		Limiter: l, Schedule: peliqan.FixedSchedule(20 * time.Millisecond)}))
	require.NoError(t, err)
	assert.Len(t, got, 6)
	assert.EqualValues(t, len(e.fake.Requests()), l.n.Load())
}

type countLimiter struct{ n atomic.Int64 }

func (l *countLimiter) Wait(context.Context) error { l.n.Add(1); return nil }

// When ctx ends, every connection already triggered is reported unknown
// with ctx's error, then the error itself; nothing else is reported.
func TestSyncFleetReportsTriggeredConnectionsWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	e := newFleetEnv(t, pipedrives(2, 2), []peliqantest.Option{peliqantest.WithSyncDuration(time.Hour)})
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	got, err := collectFleet(t, e.p.SyncFleet(ctx, &peliqan.FleetSyncOptions{
		Concurrency: 1, Schedule: peliqan.FixedSchedule(20 * time.Millisecond),
		Progress: func(p peliqan.FleetProgress) {
			if p.Started == 3 {
				once.Do(cancel)
			}
		},
	}))
	assert.Same(t, context.Canceled, err)
	require.Len(t, got, 3, "the three connections triggered, not the fourth")
	for _, r := range got {
		assert.Equal(t, peliqan.FleetUnknown, r.Outcome)
		assert.ErrorIs(t, r.Err, context.Canceled)
		require.NotNil(t, r.Run)
		assert.Len(t, r.Run.RunIDs, 1, "the run id is known")
	}
}

func TestSyncFleetStopsWhenTheLoopBreaks(t *testing.T) {
	t.Parallel()
	rt := &countingTransport{base: http.DefaultTransport}
	e := newFleetEnv(t, pipedrives(4, 1), []peliqantest.Option{peliqantest.WithSyncDuration(10 * time.Millisecond)},
		peliqan.WithHTTPClient(&http.Client{Transport: rt}))
	n := 0
	for _, err := range e.p.SyncFleet(context.Background(), &peliqan.FleetSyncOptions{Concurrency: 2, Schedule: peliqan.FixedSchedule(10 * time.Millisecond)}) {
		require.NoError(t, err)
		n++
		break
	}
	assert.Equal(t, 1, n)
	sent := rt.n.Load()
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, sent, rt.n.Load(), "nothing is sent after the loop ended")
}

// countingTransport counts the requests that start.
type countingTransport struct {
	base http.RoundTripper
	n    atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.base.RoundTrip(r)
}

// A failed sub-account list stops the listing, not the customers already
// listed; its error comes at the end.
func TestSyncFleetListFailure(t *testing.T) {
	t.Parallel()
	e := newFleetEnv(t, pipedrives(3, 1), []peliqantest.Option{peliqantest.WithSyncDuration(10 * time.Millisecond)},
		peliqan.WithRetryPolicy(peliqan.NoRetry()))
	var once sync.Once
	got, err := collectFleet(t, e.p.SyncFleet(context.Background(), &peliqan.FleetSyncOptions{
		PageSize: 2, Concurrency: 1, Schedule: peliqan.FixedSchedule(10 * time.Millisecond),
		Progress: func(p peliqan.FleetProgress) {
			if p.Customers == 1 { // page 2 is read after page 1's customers
				once.Do(func() {
					e.fake.FailNext(peliqan.RouteListSubAccounts, 1, peliqantest.StatusFault(http.StatusInternalServerError, ""))
				})
			}
		},
	}))
	assert.ErrorIs(t, err, peliqan.ErrServer)
	assert.ErrorContains(t, err, "listing sub-accounts stopped")
	require.Len(t, got, 2, "page 1's customers were synced")
	for _, r := range got {
		assert.Equal(t, peliqan.FleetCompleted, r.Outcome)
	}
	assert.Equal(t, 2, e.fake.Count(peliqan.RouteListSubAccounts))
}

// Goroutine leaks (not parallel: goleak sees the whole process; see
// leaks_test.go): the fleet broken out of early, and cancelled mid-wait.
func TestLeakSyncFleetBrokenEarlyAndCancelled(t *testing.T) {
	noLeak(t, func(t *testing.T, e *leakEnv) {
		// A customer that does not exist gives the first result while the
		// others' triggers and polls are in flight.
		refs := []peliqan.SubAccountRef{peliqan.ByExternalID("nobody")}
		for i := range 40 {
			refs = append(refs, peliqan.ByExternalID(fmt.Sprintf("leak%02d", i)))
		}
		for r, err := range e.p.SyncFleet(context.Background(), &peliqan.FleetSyncOptions{
			Concurrency: 8, SubAccounts: refs, Schedule: peliqan.FixedSchedule(10 * time.Millisecond)}) {
			require.NoError(t, err)
			assert.Equal(t, peliqan.FleetNotListed, r.Outcome)
			break
		}
		ctx, cancel := context.WithCancel(context.Background())
		n := 0
		for r, err := range e.p.SyncFleet(ctx, &peliqan.FleetSyncOptions{
			Concurrency: 8, PageSize: 5, Schedule: peliqan.FixedSchedule(time.Hour),
			Progress: func(p peliqan.FleetProgress) {
				if p.Started >= 10 {
					cancel() // every worker is then waiting for a poll an hour away
				}
			}}) {
			if err != nil {
				assert.ErrorIs(t, err, context.Canceled)
				continue
			}
			assert.Equal(t, peliqan.FleetUnknown, r.Outcome)
			n++
		}
		assert.GreaterOrEqual(t, n, 10)
	}, peliqantest.WithSyncDuration(time.Hour))
}
