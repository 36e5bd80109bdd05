package peliqan_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

const day = 24 * time.Hour

// activityT0 is the day the activity fixture is seeded on.
var activityT0 = time.Date(2026, time.January, 5, 9, 0, 0, 0, time.UTC)

// activityEnv is a fake whose four customers have different last
// activities: idle (a connection made at t0, never synced), syncer (a sync
// at t0+10d), scripter (a script run at t0+20d) and empty (nothing but the
// account, made at t0).
type activityEnv struct {
	fake   *peliqantest.Fake
	clk    *peliqantest.ManualClock
	p      *peliqan.PartnerClient
	ids    map[string]peliqan.ID // external id -> account id
	conn   map[string]peliqan.ID // external id -> its connection
	runID  peliqan.ID            // syncer's pipeline run
	script peliqan.ID            // scripter's script run
}

func newActivityEnv(t *testing.T) *activityEnv {
	t.Helper()
	fake, clk, p := reportsFake(t, activityT0, peliqantest.Fixture{SubAccounts: []peliqantest.SubAccountFixture{
		{ExternalID: "idle", Connections: []peliqantest.ConnectionFixture{{Type: "pipedrive"}}},
		{ExternalID: "syncer", Connections: []peliqantest.ConnectionFixture{{Type: "hubspot"}}},
		{ExternalID: "scripter", Scripts: []peliqantest.ScriptFixture{{Name: "nightly", Code: "print(1)"}}},
		{ExternalID: "empty"},
	}})
	e := &activityEnv{fake: fake, clk: clk, p: p, ids: map[string]peliqan.ID{}, conn: map[string]peliqan.ID{}}
	for _, sd := range fake.Seeded().SubAccounts {
		e.ids[sd.ExternalID] = sd.ID
		if len(sd.Connections) > 0 {
			e.conn[sd.ExternalID] = sd.Connections[0].ID
		}
	}
	ctx := context.Background()

	clk.Advance(10 * day)
	syncer, err := p.SubAccount(peliqan.ByExternalID("syncer"))
	require.NoError(t, err)
	res, err := syncer.SyncServer(ctx, e.conn["syncer"], nil)
	require.NoError(t, err)
	require.NotEmpty(t, res.RunData)
	e.runID = res.RunData[0].PipelineRunID
	clk.Advance(time.Minute)
	runs, err := syncer.ListServerRuns(ctx, e.conn["syncer"], nil)
	require.NoError(t, err)
	require.Equal(t, peliqan.RunStatus("COMPLETED"), runs.Items[0].Status, "the run ended on the fake's clock")

	e.advanceTo(activityT0.Add(20 * day))
	scripter, err := p.SubAccount(peliqan.ByExternalID("scripter"))
	require.NoError(t, err)
	scripts, err := scripter.ListScripts(ctx)
	require.NoError(t, err)
	run, err := scripter.RunScript(ctx, scripts[0].ID)
	require.NoError(t, err)
	e.script = run.ID
	clk.Advance(time.Minute)
	fake.ResetRecords()
	return e
}

func (e *activityEnv) advanceTo(t time.Time) { e.clk.Advance(t.Sub(e.clk.Now())) }

type activityRow struct {
	ext    string
	status peliqan.ActivityStatus
	source peliqan.ActivitySource
	idle   time.Duration
}

func activityRows(lines []peliqan.CustomerActivity) []activityRow {
	out := make([]activityRow, len(lines))
	for i, c := range lines {
		out[i] = activityRow{c.SubAccount.ExternalID, c.Status, c.Source, c.Idle}
	}
	return out
}

const runTime = 50 * time.Millisecond // the fake's default run duration

// TestActivityReportFollowsTheFakeClock: the fake's clock moved past 90
// days without activity makes customers inactive one after the other, each
// with the record that gave its last activity; a report only reads, one
// request per list and per connection or script.
func TestActivityReportFollowsTheFakeClock(t *testing.T) {
	t.Parallel()
	e := newActivityEnv(t)
	ctx := context.Background()
	o := &peliqan.InactivityOptions{Now: e.clk.Now}

	e.advanceTo(activityT0.Add(95 * day))
	rep, err := e.p.ActivityReport(ctx, o)
	require.NoError(t, err)
	assert.Equal(t, e.clk.Now(), rep.Now)
	assert.Equal(t, peliqan.DefaultInactiveFor, rep.InactiveFor)
	assert.Equal(t, []activityRow{
		{"idle", peliqan.ActivityInactive, peliqan.ActivityFromConnection, 95 * day},
		{"empty", peliqan.ActivityInactive, peliqan.ActivityFromAccount, 95 * day},
		{"syncer", peliqan.ActivityActive, peliqan.ActivityFromPipelineRun, 85*day - runTime},
		{"scripter", peliqan.ActivityActive, peliqan.ActivityFromScriptRun, 75*day - runTime},
	}, activityRows(rep.Customers))
	byExt := map[string]peliqan.CustomerActivity{}
	for _, c := range rep.Customers {
		byExt[c.SubAccount.ExternalID] = c
		assert.NoError(t, c.Err)
	}
	assert.Equal(t, e.conn["idle"], byExt["idle"].SourceID)
	assert.Equal(t, activityT0, byExt["idle"].LastActivity)
	assert.Zero(t, byExt["empty"].SourceID)
	assert.Equal(t, e.runID, byExt["syncer"].SourceID)
	assert.Equal(t, activityT0.Add(10*day+runTime), byExt["syncer"].LastActivity)
	assert.Equal(t, e.script, byExt["scripter"].SourceID)
	assert.Equal(t, 2, rep.Count(peliqan.ActivityInactive))

	assert.Empty(t, writes(e.fake), "a report only reads")
	assert.Equal(t, 4, e.fake.Count(peliqan.RouteListServers))
	assert.Equal(t, 2, e.fake.Count(peliqan.RouteListServerRuns), "one per connection")
	assert.Equal(t, 4, e.fake.Count(peliqan.RouteListScripts))
	assert.Equal(t, 1, e.fake.Count(peliqan.RouteListScriptRuns), "one per script")
	for _, r := range e.fake.Requests() {
		if r.Route == peliqan.RouteListServerRuns || r.Route == peliqan.RouteListScriptRuns {
			assert.Equal(t, "1", r.Query.Get("per_page"), "only the newest run is read")
		}
	}

	inactive := func(o *peliqan.InactivityOptions) []string {
		t.Helper()
		o.Now = e.clk.Now
		rep, err := e.p.InactiveCustomers(ctx, o)
		require.NoError(t, err)
		var out []string
		for _, c := range rep.Customers {
			out = append(out, c.SubAccount.ExternalID)
		}
		return out
	}
	assert.Equal(t, []string{"idle", "empty"}, inactive(&peliqan.InactivityOptions{}))
	e.advanceTo(activityT0.Add(101 * day))
	assert.Equal(t, []string{"idle", "empty", "syncer"}, inactive(&peliqan.InactivityOptions{}))
	assert.Equal(t, []string{"idle", "empty"}, inactive(&peliqan.InactivityOptions{InactiveFor: 100 * day}))
	e.advanceTo(activityT0.Add(111 * day))
	assert.Equal(t, []string{"idle", "empty", "syncer", "scripter"}, inactive(&peliqan.InactivityOptions{}))
	assert.Equal(t, []string{"syncer"}, inactive(&peliqan.InactivityOptions{
		Filter: func(sa *peliqan.SubAccount) bool { return sa.ExternalID == "syncer" }}))
}

// TestActivityFilterReadsOnlyTheChosen: customers the filter leaves out
// get no request at all.
func TestActivityFilterReadsOnlyTheChosen(t *testing.T) {
	t.Parallel()
	e := newActivityEnv(t)
	rep, err := e.p.ActivityReport(context.Background(), &peliqan.InactivityOptions{Now: e.clk.Now,
		Filter: func(sa *peliqan.SubAccount) bool { return sa.ExternalID == "idle" }})
	require.NoError(t, err)
	require.Len(t, rep.Customers, 1)
	assert.Equal(t, 1, e.fake.Count(peliqan.RouteListServers))
	assert.Equal(t, 1, e.fake.Count(peliqan.RouteListScripts))
}

type closeRow struct {
	ext     string
	outcome peliqan.CloseOutcome
}

func closeRows(rep *peliqan.CloseReport) []closeRow {
	out := make([]closeRow, len(rep.Results))
	for i, r := range rep.Results {
		out[i] = closeRow{r.Activity.SubAccount.ExternalID, r.Outcome}
	}
	return out
}

// TestCloseInactiveDryRunThenConfirmed: the dry run sends no write and
// lists what it would close; the confirmed run sends exactly those
// deletes and nothing else; the accounts are gone, the active ones stay; a
// second run has nothing to close.
func TestCloseInactiveDryRunThenConfirmed(t *testing.T) {
	t.Parallel()
	e := newActivityEnv(t)
	ctx := context.Background()
	e.advanceTo(activityT0.Add(95 * day))
	inactivity := peliqan.InactivityOptions{Now: e.clk.Now}

	dry, err := e.p.CloseInactiveCustomers(ctx, &peliqan.CloseInactiveOptions{InactivityOptions: inactivity})
	require.NoError(t, err)
	assert.True(t, dry.DryRun)
	assert.Equal(t, []closeRow{{"idle", peliqan.CloseWouldClose}, {"empty", peliqan.CloseWouldClose}}, closeRows(dry))
	assert.NoError(t, dry.Err())
	assert.Empty(t, writes(e.fake), "a dry run sends no write")
	assert.Zero(t, e.fake.Count(peliqan.RouteDeleteSubAccount))
	var planned []string
	for _, r := range dry.Results {
		planned = append(planned, "DELETE /api/partner/sub-accounts/"+r.Activity.SubAccount.ID.String()+"/")
	}

	e.fake.ResetRecords()
	rep, err := e.p.CloseInactiveCustomers(ctx, &peliqan.CloseInactiveOptions{InactivityOptions: inactivity, Confirm: peliqan.Confirmed})
	require.NoError(t, err)
	assert.False(t, rep.DryRun)
	assert.Equal(t, []closeRow{{"idle", peliqan.CloseClosed}, {"empty", peliqan.CloseClosed}}, closeRows(rep))
	assert.Equal(t, 2, rep.Count(peliqan.CloseClosed))
	got := writes(e.fake)
	slices.Sort(got)
	slices.Sort(planned)
	assert.Equal(t, planned, got, "exactly the deletes the dry run listed")
	for ext, gone := range map[string]bool{"idle": true, "empty": true, "syncer": false, "scripter": false} {
		_, err := e.p.GetSubAccount(ctx, peliqan.ByExternalID(ext))
		assert.Equal(t, gone, errors.Is(err, peliqan.ErrNotFound), ext)
	}

	e.fake.ResetRecords()
	again, err := e.p.CloseInactiveCustomers(ctx, &peliqan.CloseInactiveOptions{InactivityOptions: inactivity, Confirm: peliqan.Confirmed})
	require.NoError(t, err)
	assert.Empty(t, again.Results)
	assert.Empty(t, writes(e.fake))
}

// TestCloseNeverClosesUnreadable: a customer whose activity cannot be read
// (its script runs answer 503 on every attempt) is skipped with the error
// and never deleted, though it is in fact inactive; the others are closed.
func TestCloseNeverClosesUnreadable(t *testing.T) {
	t.Parallel()
	e := newActivityEnv(t)
	ctx := context.Background()
	e.advanceTo(activityT0.Add(111 * day)) // every customer is inactive
	e.fake.FailNext(peliqan.RouteListScriptRuns, 3, peliqantest.StatusFault(503, ""))

	rep, err := e.p.CloseInactiveCustomers(ctx, &peliqan.CloseInactiveOptions{
		InactivityOptions: peliqan.InactivityOptions{Now: e.clk.Now}, Confirm: peliqan.Confirmed})
	require.NoError(t, err)
	assert.Equal(t, []closeRow{
		{"scripter", peliqan.CloseSkipped},
		{"idle", peliqan.CloseClosed},
		{"empty", peliqan.CloseClosed},
		{"syncer", peliqan.CloseClosed},
	}, closeRows(rep))
	skipped := rep.Results[0]
	assert.Equal(t, peliqan.ActivityUnreadable, skipped.Activity.Status)
	assert.ErrorIs(t, skipped.Err, peliqan.ErrServer)
	assert.ErrorIs(t, rep.Err(), peliqan.ErrServer)
	assert.Contains(t, rep.Err().Error(), e.ids["scripter"].String())
	assert.Equal(t, 3, e.fake.Count(peliqan.RouteDeleteSubAccount))
	for _, w := range writes(e.fake) {
		assert.NotEqual(t, "DELETE /api/partner/sub-accounts/"+e.ids["scripter"].String()+"/", w)
	}
	_, err = e.p.GetSubAccount(ctx, peliqan.ByExternalID("scripter"))
	assert.NoError(t, err, "still there")
}

// TestCloseDeleteAnswered404: a 404 for an account that still exists is a
// failure; a delete that went through but whose answer was lost (retried,
// then 404) is closed, after a check that the account is gone.
func TestCloseDeleteAnswered404(t *testing.T) {
	t.Parallel()
	e := newActivityEnv(t)
	ctx := context.Background()
	e.advanceTo(activityT0.Add(95 * day))
	only := func(ext string) *peliqan.CloseInactiveOptions {
		return &peliqan.CloseInactiveOptions{Confirm: peliqan.Confirmed, InactivityOptions: peliqan.InactivityOptions{Now: e.clk.Now,
			Filter: func(sa *peliqan.SubAccount) bool { return sa.ExternalID == ext }}}
	}

	e.fake.FailNext(peliqan.RouteDeleteSubAccount, 1, peliqantest.StatusFault(404, `{"detail": "Not found."}`))
	rep, err := e.p.CloseInactiveCustomers(ctx, only("idle"))
	require.NoError(t, err)
	assert.Equal(t, []closeRow{{"idle", peliqan.CloseFailed}}, closeRows(rep))
	assert.ErrorIs(t, rep.Results[0].Err, peliqan.ErrNotFound)
	_, err = e.p.GetSubAccount(ctx, peliqan.ByExternalID("idle"))
	require.NoError(t, err, "the account still exists")

	e.fake.ResetRecords()
	e.fake.FailNext(peliqan.RouteDeleteSubAccount, 1, peliqantest.MidBodyResetFault())
	rep, err = e.p.CloseInactiveCustomers(ctx, only("empty"))
	require.NoError(t, err)
	assert.Equal(t, []closeRow{{"empty", peliqan.CloseClosed}}, closeRows(rep))
	assert.NoError(t, rep.Results[0].Err)
	assert.Equal(t, 2, e.fake.Count(peliqan.RouteDeleteSubAccount), "the delete went through, its answer was lost, the retry found nothing")
	_, err = e.p.GetSubAccount(ctx, peliqan.ByExternalID("empty"))
	assert.ErrorIs(t, err, peliqan.ErrNotFound)
}

// TestInactivityRefusesBadInput: a confirmation other than Confirmed and
// bad options are refused before any request.
func TestInactivityRefusesBadInput(t *testing.T) {
	t.Parallel()
	fake, _, p := reportsFake(t, activityT0, peliqantest.Fixture{SubAccounts: []peliqantest.SubAccountFixture{{ExternalID: "a"}}})
	ctx := context.Background()
	for _, c := range []peliqan.Confirmation{"yes", "true", "Confirmed"} {
		_, err := p.CloseInactiveCustomers(ctx, &peliqan.CloseInactiveOptions{Confirm: c})
		assert.ErrorIs(t, err, peliqan.ErrInvalidArgument, c)
	}
	for name, o := range map[string]peliqan.InactivityOptions{
		"negative duration":    {InactiveFor: -time.Hour},
		"negative concurrency": {Concurrency: -1},
		"huge page":            {PageSize: 1001},
	} {
		_, err := p.ActivityReport(ctx, &o)
		assert.ErrorIs(t, err, peliqan.ErrInvalidArgument, name)
		_, err = p.InactiveCustomers(ctx, &o)
		assert.ErrorIs(t, err, peliqan.ErrInvalidArgument, name)
		_, err = p.CloseInactiveCustomers(ctx, &peliqan.CloseInactiveOptions{InactivityOptions: o, Confirm: peliqan.Confirmed})
		assert.ErrorIs(t, err, peliqan.ErrInvalidArgument, name)
	}
	assert.Empty(t, fake.Requests())
}

// TestCloseListingFailsBeforeAnyDelete: a listing that fails part way
// deletes nothing.
func TestCloseListingFailsBeforeAnyDelete(t *testing.T) {
	t.Parallel()
	e := newActivityEnv(t)
	e.advanceTo(activityT0.Add(200 * day))
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	p, err := e.fake.PartnerClient(peliqan.WithHTTPClient(&http.Client{Transport: failPage{tr}}))
	require.NoError(t, err)
	rep, err := p.CloseInactiveCustomers(context.Background(), &peliqan.CloseInactiveOptions{Confirm: peliqan.Confirmed,
		InactivityOptions: peliqan.InactivityOptions{Now: e.clk.Now, PageSize: 2}})
	assert.Nil(t, rep)
	assert.ErrorIs(t, err, peliqan.ErrServer)
	assert.Empty(t, writes(e.fake))
}

// TestCloseStopsWhenCtxEnds: a cancelled close returns the report of what
// was done until then beside ctx's error, and starts nothing more.
func TestCloseStopsWhenCtxEnds(t *testing.T) {
	t.Parallel()
	e := newActivityEnv(t)
	e.advanceTo(activityT0.Add(200 * day))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := e.fake.PartnerClient(peliqan.WithCallHook(peliqan.CallHook{End: func(_ context.Context, c peliqan.CallInfo, _ peliqan.CallResult) {
		if c.Route == peliqan.RouteDeleteSubAccount {
			cancel() // after the first close
		}
	}}))
	require.NoError(t, err)
	rep, err := p.CloseInactiveCustomers(ctx, &peliqan.CloseInactiveOptions{Confirm: peliqan.Confirmed,
		InactivityOptions: peliqan.InactivityOptions{Now: e.clk.Now, Concurrency: 1}})
	require.ErrorIs(t, err, context.Canceled)
	require.NotNil(t, rep)
	assert.Equal(t, []closeRow{{"idle", peliqan.CloseClosed}}, closeRows(rep))
	assert.Equal(t, 1, e.fake.Count(peliqan.RouteDeleteSubAccount))
}
