package peliqantest

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/internal/routes"
)

// typeIDs maps connector names to their ids, as the API lists them.
func typeIDs(t *testing.T, c *tc) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, ty := range c.ok(routes.ServerTypes, c.srv.PartnerToken(), nil, nil).list(t) {
		out[ty["name"].(string)] = ty["id"]
	}
	return out
}

// TestOAuthCompletesAfterTheDelay: with WithOAuthCompletion a flow the API
// started finishes by itself once its time has come on the fake's clock;
// flows nobody started through the API do not.
func TestOAuthCompletesAfterTheDelay(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t, WithOAuthCompletion(30*time.Second))
	c, tok := f.c, f.tok
	types := typeIDs(t, c)
	health := func(id string) string {
		return c.ok(routes.GetServer, tok, nil, nil, id).json(t)["health_status"].(string)
	}

	sid := id(c.ok(routes.CreateServer, tok, nil, map[string]any{"servertype_id": types["hubspot"]}).json(t)["id"])
	assert.Equal(t, "AUTHORIZING", health(sid))
	f.clk.Advance(29 * time.Second)
	assert.Equal(t, "AUTHORIZING", health(sid))
	f.clk.Advance(time.Second)
	assert.Equal(t, "OK", health(sid), "finished by itself, no CompleteOAuth")
	require.Error(t, f.srv.CompleteOAuth(peliqanIDOf(t, sid)), "nothing left to complete")

	c.ok(routes.ReAuthoriseServer, tok, nil, nil, sid)
	assert.Equal(t, "RE_AUTHORISING", health(sid))
	f.clk.Advance(30 * time.Second)
	assert.Equal(t, "RE_AUTHORISED", health(sid))

	// Stale credentials are not a flow anyone started: they stay stale.
	require.NoError(t, f.srv.MarkNeedsReauth(peliqanIDOf(t, sid)))
	f.clk.Advance(time.Hour)
	assert.Equal(t, "RE_AUTHORISING", health(sid))

	// CompleteOAuth still finishes a flow at once, and the delay then has
	// nothing left to do.
	sid2 := id(c.ok(routes.CreateServer, tok, nil, map[string]any{"servertype_id": types["hubspot"]}).json(t)["id"])
	require.NoError(t, f.srv.CompleteOAuth(peliqanIDOf(t, sid2)))
	assert.Equal(t, "OK", health(sid2))
	f.clk.Advance(time.Minute)
	assert.Equal(t, "OK", health(sid2))

	// A seeded connection mid-flow waits for CompleteOAuth.
	seeded, err := f.srv.AddConnection(f.sa.ID, ConnectionFixture{Type: "hubspot", HealthStatus: "AUTHORIZING"})
	require.NoError(t, err)
	f.clk.Advance(time.Hour)
	assert.Equal(t, "AUTHORIZING", health(seeded.ID.String()))
}

func TestOAuthCompletionNeedsTheOption(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t)
	sid := id(f.c.ok(routes.CreateServer, f.tok, nil, map[string]any{"servertype_id": typeIDs(t, f.c)["hubspot"]}).json(t)["id"])
	f.clk.Advance(24 * time.Hour)
	assert.Equal(t, "AUTHORIZING", f.c.ok(routes.GetServer, f.tok, nil, nil, sid).json(t)["health_status"])

	for _, d := range []time.Duration{0, -time.Second} {
		_, err := New(WithOAuthCompletion(d))
		assert.ErrorContains(t, err, "WithOAuthCompletion")
	}
}

func TestConnectionInvites(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t)
	c, tok := f.c, f.tok
	r := c.ok(routes.SendConnectionInvite, tok, nil, map[string]any{"recipient": "cfo@acme.example", "subject": "Connect",
		"message": "Please", "confirmationRecipient": "ops@saas.example", "serverType": "hubspot"})
	assert.Empty(t, r.body, "204 and no body, as Peliqan's client expects")
	c.ok(routes.SendConnectionInvite, tok, nil, map[string]any{"recipient": "it@acme.example", "subject": nil,
		"message": nil, "confirmationRecipient": nil, "serverType": typeIDs(t, c)["pipedrive"]})

	got := f.srv.Invites()
	require.Len(t, got, 2)
	assert.Equal(t, Invite{AccountID: f.sa.ID, Recipient: "cfo@acme.example", Subject: "Connect", Message: "Please",
		ConfirmationRecipient: "ops@saas.example", ServerType: "hubspot", Time: f.clk.Now()}, got[0])
	assert.Equal(t, "it@acme.example", got[1].Recipient)
	assert.Empty(t, got[1].Subject)

	for name, body := range map[string]map[string]any{
		"no recipient":      {"serverType": "hubspot"},
		"bad recipient":     {"recipient": "Alice <a@b.example>", "serverType": "hubspot"},
		"no connector":      {"recipient": "a@b.example"},
		"unknown connector": {"recipient": "a@b.example", "serverType": "nope"},
		"bad confirmation":  {"recipient": "a@b.example", "serverType": "hubspot", "confirmationRecipient": "ops"},
	} {
		r := c.call(routes.SendConnectionInvite, tok, nil, body)
		assert.Equal(t, http.StatusBadRequest, r.status, "%s: %s", name, r.body)
	}
	assert.Len(t, f.srv.Invites(), 2, "refused invites are not recorded")
}

func TestDeleteConnection(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t)
	c, tok := f.c, f.tok
	sid := f.server
	c.ok(routes.SyncServer, tok, nil, nil, sid) // a run in progress

	r := c.ok(routes.DeleteServer, tok, nil, nil, sid)
	assert.Empty(t, r.body)
	assert.Equal(t, http.StatusNotFound, c.call(routes.GetServer, tok, nil, nil, sid).status)
	assert.Equal(t, http.StatusNotFound, c.call(routes.DeleteServer, tok, nil, nil, sid).status, "already gone")
	assert.Empty(t, c.ok(routes.ListServers, tok, nil, nil).list(t))

	// The run still ends, and its tables stay in the warehouse.
	f.clk.Advance(time.Minute)
	runs := c.ok(routes.GetPipelineRuns, tok, nil, nil).json(t)["data"].([]any)
	require.Len(t, runs, 1)
	assert.Equal(t, "COMPLETED", runs[0].(map[string]any)["status"])
	c.ok(routes.ListRows, tok, nil, nil, f.sa.Connections[0].Tables[0].String())

	// Another tenant's connection is a 404, and stays.
	other, err := f.srv.Seed(Fixture{SubAccounts: []SubAccountFixture{{ExternalID: "other",
		Connections: []ConnectionFixture{{Type: "pipedrive"}}}}})
	require.NoError(t, err)
	oid := other.SubAccounts[0].Connections[0].ID.String()
	assert.Equal(t, http.StatusNotFound, c.call(routes.DeleteServer, tok, nil, nil, oid).status)
	assert.Equal(t, http.StatusOK, c.call(routes.GetServer, c.tenantToken("other"), nil, nil, oid).status)
}

func TestAddConnection(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t)
	sc, err := f.srv.AddConnection(f.sa.ID, ConnectionFixture{Name: "Extra", Type: "postgresql"})
	require.NoError(t, err)
	got := f.c.ok(routes.GetServer, f.tok, nil, nil, sc.ID.String()).json(t)
	assert.Equal(t, "Extra", got["name"])
	assert.Equal(t, "OK", got["health_status"])
	assert.NotEmpty(t, sc.Tables)

	_, err = f.srv.AddConnection(999999, ConnectionFixture{})
	assert.ErrorContains(t, err, "no sub-account")
	_, err = f.srv.AddConnection(f.sa.ID, ConnectionFixture{Type: "nope"})
	assert.ErrorContains(t, err, "unknown server type")
	_, err = f.srv.AddConnection(peliqan.ID(partnerAccountID), ConnectionFixture{})
	assert.Error(t, err, "the partner's own account is not a sub-account")
}
