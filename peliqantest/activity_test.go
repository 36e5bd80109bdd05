package peliqantest

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/internal/routes"
)

// TestFixtureExpiresOn: a fixture's licence expiry is what the partner
// routes show ("YYYY-MM-DD"; null when unset), and an impossible date is
// refused with nothing seeded.
func TestFixtureExpiresOn(t *testing.T) {
	t.Parallel()
	srv := NewFake(t, WithFixture(Fixture{SubAccounts: []SubAccountFixture{
		{ExternalID: "dated", License: "pro", ExpiresOn: peliqan.NewDate(2026, time.March, 20)},
		{ExternalID: "open"},
	}}))
	c := newTC(t, srv)
	get := func(ext string) map[string]any {
		return c.ok(routes.GetSubAccount, srv.PartnerToken(), map[string][]string{"external_id": {ext}}, nil).json(t)
	}
	dated := get("dated")
	assert.Equal(t, "2026-03-20", dated["expires_on"])
	assert.Equal(t, "pro", dated["license"])
	open := get("open")
	assert.Contains(t, open, "expires_on")
	assert.Nil(t, open["expires_on"])

	_, err := srv.Seed(Fixture{SubAccounts: []SubAccountFixture{
		{ExternalID: "fine"},
		{ExternalID: "bad", ExpiresOn: peliqan.NewDate(2026, time.February, 30)},
	}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "2026-02-30")
	assert.Equal(t, 404, c.call(routes.GetSubAccount, srv.PartnerToken(), map[string][]string{"external_id": {"fine"}}, nil).status,
		"an invalid fixture seeds nothing")
}

// TestActivityTimesFollowTheClock: everything the SDK's inactivity report
// reads is stamped with the fake's clock: an account's and a connection's
// created_at, a pipeline run's start and end (and the connection's
// last_sync_at), a script run's created_at and finished_at.
func TestActivityTimesFollowTheClock(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, time.January, 5, 9, 0, 0, 0, time.UTC)
	clk := NewManualClock(t0)
	srv := NewFake(t, WithClock(clk.Now), WithFixture(Fixture{SubAccounts: []SubAccountFixture{{
		ExternalID:  "acme",
		Connections: []ConnectionFixture{{Type: "pipedrive"}},
		Scripts:     []ScriptFixture{{Name: "report", Code: "print(1)"}},
	}}}))
	c := newTC(t, srv)
	sd := srv.Seeded().SubAccounts[0]
	tok := c.tenantToken("acme")
	sid := sd.Connections[0].ID.String()
	stamp := func(t time.Time) string { return t.Format(timeFormat) }

	acct := c.ok(routes.GetSubAccount, srv.PartnerToken(), map[string][]string{"external_id": {"acme"}}, nil).json(t)
	assert.Equal(t, stamp(t0), acct["created_at"])
	assert.Equal(t, stamp(t0), c.ok(routes.GetServer, tok, nil, nil, sid).json(t)["created_at"])

	syncAt := t0.Add(10 * 24 * time.Hour)
	clk.Advance(10 * 24 * time.Hour)
	c.ok(routes.SyncServer, tok, nil, nil, sid)
	clk.Advance(time.Minute) // the run ends on the next request
	runs := c.ok(routes.ListServerRuns, tok, nil, nil, sid).json(t)["data"].([]any)
	require.Len(t, runs, 1)
	run := runs[0].(map[string]any)
	assert.Equal(t, "COMPLETED", run["status"])
	assert.Equal(t, stamp(syncAt), run["timestamp_start"])
	assert.Equal(t, stamp(syncAt.Add(defaultSyncDuration)), run["timestamp_end"])
	assert.Equal(t, stamp(syncAt.Add(defaultSyncDuration)), c.ok(routes.GetServer, tok, nil, nil, sid).json(t)["last_sync_at"])

	scriptAt := t0.Add(20 * 24 * time.Hour)
	clk.Advance(scriptAt.Sub(clk.Now()))
	c.ok(routes.CreateScriptRun, tok, nil, map[string]any{"interface_id": sd.Scripts[0], "run_mode": "SHELL", "source": "SCRIPT"})
	clk.Advance(time.Minute)
	sruns := c.ok(routes.ListScriptRuns, tok, map[string][]string{"interface_id": {strconv.FormatInt(int64(sd.Scripts[0]), 10)}}, nil).json(t)["data"].([]any)
	require.Len(t, sruns, 1)
	srun := sruns[0].(map[string]any)
	assert.Equal(t, stamp(scriptAt), srun["created_at"])
	assert.Equal(t, stamp(scriptAt.Add(defaultScriptDuration)), srun["finished_at"])
}

// TestUpdateClearsExpiresOn: an update sending "expires_on": null removes
// the expiry (what SubAccountUpdate.ClearExpiresOn sends); one that leaves
// the member out keeps it.
func TestUpdateClearsExpiresOn(t *testing.T) {
	t.Parallel()
	srv := NewFake(t, WithFixture(Fixture{SubAccounts: []SubAccountFixture{
		{ExternalID: "dated", ExpiresOn: peliqan.NewDate(2026, time.March, 20)},
	}}))
	c := newTC(t, srv)
	sid := srv.Seeded().SubAccounts[0].ID.String()
	kept := c.ok(routes.UpdateSubAccount, srv.PartnerToken(), nil, map[string]any{"license": "pro"}, sid).json(t)
	assert.Equal(t, "2026-03-20", kept["expires_on"])
	moved := c.ok(routes.UpdateSubAccount, srv.PartnerToken(), nil, map[string]any{"expires_on": "2027-01-31"}, sid).json(t)
	assert.Equal(t, "2027-01-31", moved["expires_on"])
	cleared := c.ok(routes.UpdateSubAccount, srv.PartnerToken(), nil, map[string]any{"expires_on": nil}, sid).json(t)
	assert.Contains(t, cleared, "expires_on")
	assert.Nil(t, cleared["expires_on"])
	assert.Equal(t, "pro", cleared["license"])
}
