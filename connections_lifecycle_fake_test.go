package peliqan_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// lifecycleFake is a fake with one customer ("acme", a Pipedrive
// connection) and a tenant client for it, on real loopback sockets.
func lifecycleFake(t *testing.T, opts ...peliqantest.Option) (*peliqantest.Fake, *peliqan.SubAccountClient, peliqantest.SeededSubAccount) {
	t.Helper()
	fake := peliqantest.NewFake(t, append([]peliqantest.Option{peliqantest.WithFixture(peliqantest.Fixture{
		SubAccounts: []peliqantest.SubAccountFixture{{ExternalID: "acme", CompanyName: "Acme",
			Connections: []peliqantest.ConnectionFixture{{Type: "pipedrive"}}}}})}, opts...)...)
	sa := fake.Seeded().SubAccounts[0]
	c, err := fake.SubAccountClient(sa.ID)
	require.NoError(t, err)
	return fake, c, sa
}

func serverTypeID(t *testing.T, fake *peliqantest.Fake, name string) peliqan.ID {
	t.Helper()
	p, err := fake.PartnerClient()
	require.NoError(t, err)
	types, err := p.ServerTypes(context.Background())
	require.NoError(t, err)
	for _, st := range types {
		if st.Name == name {
			return st.ID
		}
	}
	t.Fatalf("no connector %s", name)
	return 0
}

// TestWaitForConnectionAgainstTheFake: a new OAuth connection the fake
// finishes by itself (WithOAuthCompletion, no CompleteOAuth): the wait
// reads it until it is OK, and sends nothing but reads.
func TestWaitForConnectionAgainstTheFake(t *testing.T) {
	t.Parallel()
	fake, c, _ := lifecycleFake(t, peliqantest.WithOAuthCompletion(150*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	created, err := c.CreateServer(ctx, peliqan.ServerCreate{ServerTypeID: serverTypeID(t, fake, "hubspot")})
	require.NoError(t, err)
	require.NotEmpty(t, created.OAuthURL)
	fake.ResetRecords()

	var seen []peliqan.HealthStatus
	st, err := c.WaitForConnection(ctx, created.ID, &peliqan.ConnectionWaitOptions{
		Schedule: peliqan.FixedSchedule(20 * time.Millisecond),
		Progress: func(p *peliqan.ConnectionState) { seen = append(seen, p.Status) }})
	require.NoError(t, err)
	assert.Equal(t, peliqan.HealthOK, st.Status)
	assert.True(t, st.Status.IsHealthy())
	assert.Equal(t, created.ID, st.Server.ID)
	assert.GreaterOrEqual(t, st.Elapsed, 100*time.Millisecond)
	require.Greater(t, len(seen), 1, "it waited")
	assert.Equal(t, peliqan.HealthAuthorizing, seen[0])
	assert.Equal(t, peliqan.HealthOK, seen[len(seen)-1])

	assert.Equal(t, st.Polls, fake.Count(peliqan.RouteGetServer))
	for _, r := range fake.Requests() {
		assert.Equal(t, peliqan.RouteGetServer, r.Route, "only reads: nothing triggered")
	}
}

// TestWaitForConnectionGivesUpWithTheContext: without a completion the
// connection stays AUTHORIZING; the context ends the wait.
func TestWaitForConnectionGivesUpWithTheContext(t *testing.T) {
	t.Parallel()
	fake, c, _ := lifecycleFake(t)
	created, err := c.CreateServer(context.Background(), peliqan.ServerCreate{ServerTypeID: serverTypeID(t, fake, "hubspot")})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	st, err := c.WaitForConnection(ctx, created.ID, &peliqan.ConnectionWaitOptions{Schedule: peliqan.FixedSchedule(20 * time.Millisecond)})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Nil(t, st)

	_, err = c.WaitForConnection(context.Background(), 999999, nil)
	require.ErrorIs(t, err, peliqan.ErrNotFound)
}

func TestSendConnectionInviteAgainstTheFake(t *testing.T) {
	t.Parallel()
	fake, c, sa := lifecycleFake(t)
	ctx := context.Background()
	require.NoError(t, c.SendConnectionInvite(ctx, peliqan.ConnectionInvite{Recipient: "cfo@acme.example",
		ServerType: "hubspot", Subject: "Connect HubSpot", ConfirmationRecipient: "ops@saas.example"}))
	invites := fake.Invites()
	require.Len(t, invites, 1)
	assert.Equal(t, sa.ID, invites[0].AccountID)
	assert.Equal(t, "cfo@acme.example", invites[0].Recipient)
	assert.Equal(t, "hubspot", invites[0].ServerType)
	assert.Equal(t, "ops@saas.example", invites[0].ConfirmationRecipient)
	assert.Equal(t, 1, fake.Count(peliqan.RouteSendConnectionInvite))

	// The fake refuses an unknown connector: a 400 with the field named,
	// sent once.
	err := c.SendConnectionInvite(ctx, peliqan.ConnectionInvite{Recipient: "cfo@acme.example", ServerType: "nope"})
	var ae *peliqan.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusBadRequest, ae.StatusCode)
	assert.Contains(t, ae.Error(), "serverType")

	// A reset after the server acted: never sent again.
	fake.ResetRecords()
	fake.FailNext(peliqan.RouteSendConnectionInvite, 1, peliqantest.MidBodyResetFault())
	err = c.SendConnectionInvite(ctx, peliqan.ConnectionInvite{Recipient: "it@acme.example", ServerType: "hubspot"})
	var te *peliqan.TransportError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, 1, fake.Count(peliqan.RouteSendConnectionInvite))
	assert.Len(t, fake.Invites(), 2, "one e-mail, not two")
}

// TestDeleteServerAgainstTheFake: on real sockets, a connection that does
// not exist is ErrNotFound after one request; a delete whose answer is cut
// after the fake deleted it is retried, and the retry's 404 is success.
func TestDeleteServerAgainstTheFake(t *testing.T) {
	t.Parallel()
	fake, c, sa := lifecycleFake(t)
	ctx := context.Background()

	require.ErrorIs(t, c.DeleteServer(ctx, 999999), peliqan.ErrNotFound)
	assert.Equal(t, 1, fake.Count(peliqan.RouteDeleteServer), "a first-attempt 404 is not retried")

	fake.ResetRecords()
	fake.FailNext(peliqan.RouteDeleteServer, 1, peliqantest.MidBodyResetFault())
	require.NoError(t, c.DeleteServer(ctx, sa.Connections[0].ID))
	var seen []string
	for _, r := range fake.Requests() {
		if r.Route == peliqan.RouteDeleteServer {
			seen = append(seen, fmt.Sprintf("%d %s", r.Status, r.Fault))
		}
	}
	// The first request deleted it and its answer was cut (a reset records
	// status 0); the retry found nothing to delete.
	assert.Equal(t, []string{"0 reset_mid_body", "404 "}, seen)
	_, err := c.GetServer(ctx, sa.Connections[0].ID)
	require.ErrorIs(t, err, peliqan.ErrNotFound)

	// A 502 before the fake acted: the retry deletes it.
	sc, err := fake.AddConnection(sa.ID, peliqantest.ConnectionFixture{Type: "pipedrive"})
	require.NoError(t, err)
	fake.ResetRecords()
	fake.FailNext(peliqan.RouteDeleteServer, 1, peliqantest.StatusFault(http.StatusBadGateway, ""))
	require.NoError(t, c.DeleteServer(ctx, sc.ID))
	assert.Equal(t, 2, fake.Count(peliqan.RouteDeleteServer))
	servers, err := c.ListServers(ctx)
	require.NoError(t, err)
	assert.Empty(t, servers)
}
