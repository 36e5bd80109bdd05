package peliqan

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func healthBody(id int, status string) httpmock.Responder {
	raw, _ := json.Marshal(status)
	return srvJSON(200, `{"id": `+ID(id).String()+`, "name": "CRM", "health_status": `+string(raw)+`}`)
}

// TestWaitForConnectionFollowsTheAuthorisation: AUTHORIZING, then CHECKING,
// then OK: three reads of the connection, each seen by Progress, and only
// reads.
func TestWaitForConnectionFollowsTheAuthorisation(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	m.on("GET", "/api/servers/9/", healthBody(9, "AUTHORIZING"), healthBody(9, "CHECKING"), healthBody(9, "OK"))
	var seen []HealthStatus
	var polls []int
	st, err := c.WaitForConnection(context.Background(), 9, &ConnectionWaitOptions{Schedule: FixedSchedule(0),
		Progress: func(p *ConnectionState) { seen = append(seen, p.Status); polls = append(polls, p.Polls) }})
	require.NoError(t, err)
	assert.Equal(t, HealthOK, st.Status)
	assert.Equal(t, ID(9), st.Server.ID)
	assert.Equal(t, HealthOK, st.Server.HealthStatus)
	assert.Equal(t, 3, st.Polls)
	assert.False(t, st.Authorising())
	assert.Equal(t, []HealthStatus{HealthAuthorizing, HealthChecking, HealthOK}, seen)
	assert.Equal(t, []int{1, 2, 3}, polls)
	for _, r := range m.reqs() {
		assert.Equal(t, "GET", r.Method)
		assert.Equal(t, "/api/servers/9/", r.Path)
	}
	assert.Equal(t, 3, m.count())
}

// TestWaitForConnectionStatusTable: the documented mapping. A status the
// wait goes on with is read again (then OK ends it); one that ends it is
// read once and returned as sent.
func TestWaitForConnectionStatusTable(t *testing.T) {
	t.Parallel()
	waitsOn := map[HealthStatus]bool{HealthAuthorizing: true, HealthReAuthorising: true, HealthConfigSelect: true,
		HealthChecking: true, "authorizing": true, " checking ": true}
	cases := []HealthStatus{"BRAND_NEW_STATE", "", "authorizing", " checking "}
	for _, h := range healthTable {
		cases = append(cases, h.status)
	}
	for _, status := range cases {
		t.Run(string(status), func(t *testing.T) {
			t.Parallel()
			c, m := srvClient(t)
			m.on("GET", "/api/servers/4/", healthBody(4, string(status)), healthBody(4, "OK"))
			st, err := c.WaitForConnection(context.Background(), 4, &ConnectionWaitOptions{Schedule: FixedSchedule(0)})
			require.NoError(t, err)
			if waitsOn[status] {
				assert.Equal(t, 2, m.count(), "%q is still authorising", status)
				assert.Equal(t, HealthOK, st.Status)
				return
			}
			assert.Equal(t, 1, m.count(), "%q ends the wait", status)
			assert.Equal(t, status, st.Status, "returned as sent")
		})
	}
}

// TestWaitForConnectionContextEnds: a customer who never finishes: the wait
// ends with the context's error alone, and Progress saw the last read.
func TestWaitForConnectionContextEnds(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	m.on("GET", "/api/servers/9/", healthBody(9, "AUTHORIZING"))
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Millisecond)
	defer cancel()
	var last *ConnectionState
	st, err := c.WaitForConnection(ctx, 9, &ConnectionWaitOptions{Schedule: FixedSchedule(10 * time.Millisecond),
		Progress: func(p *ConnectionState) { last = p }})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Nil(t, st)
	require.NotNil(t, last)
	assert.Equal(t, HealthAuthorizing, last.Status)
	assert.GreaterOrEqual(t, m.count(), 2)
}

// TestWaitForConnectionErrorsEndIt: a 404 ends the wait at once (not
// retried, not waited on); a 503 is retried as a read before it counts.
func TestWaitForConnectionErrorsEndIt(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	m.on("GET", "/api/servers/9/", srvJSON(404, `{"detail":"Not found."}`))
	_, err := c.WaitForConnection(context.Background(), 9, &ConnectionWaitOptions{Schedule: FixedSchedule(0)})
	require.ErrorIs(t, err, ErrNotFound)
	assert.Equal(t, 1, m.count())

	c, m = srvClient(t)
	m.on("GET", "/api/servers/9/", srvJSON(503, `{}`), healthBody(9, "OK"))
	st, err := c.WaitForConnection(context.Background(), 9, nil)
	require.NoError(t, err)
	assert.Equal(t, HealthOK, st.Status)
	assert.Equal(t, 2, m.count())
}

func TestWaitForConnectionRefusesBadInput(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	ctx := context.Background()
	for _, id := range []ID{0, -1} {
		_, err := c.WaitForConnection(ctx, id, nil)
		assert.ErrorIs(t, err, ErrInvalidArgument)
	}
	_, err := c.WaitForConnection(ctx, 3, nil, WithHeader("Bad Name", "x"))
	assert.ErrorIs(t, err, ErrInvalidArgument)
	assert.Zero(t, m.count())
}

func TestSendConnectionInviteBody(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	m.on("POST", "/api/servers/invite/", func(*http.Request) (*http.Response, error) {
		return httpmock.NewStringResponse(204, ""), nil
	})
	err := c.SendConnectionInvite(context.Background(), ConnectionInvite{Recipient: "cfo@acme.example", ServerType: "hubspot",
		Subject: "Connect <HubSpot> & co", Message: "Please connect our CRM.", ConfirmationRecipient: "ops@saas.example"})
	require.NoError(t, err)
	err = c.SendConnectionInvite(context.Background(), ConnectionInvite{Recipient: " cfo@acme.example ", ServerType: "exact_online"})
	require.NoError(t, err)
	rs := m.reqs()
	require.Len(t, rs, 2)
	assert.Equal(t, "POST", rs[0].Method)
	assert.Equal(t, "/api/servers/invite/", rs[0].Path)
	assert.JSONEq(t, `{"recipient": "cfo@acme.example", "subject": "Connect <HubSpot> & co", "message": "Please connect our CRM.",
		"confirmationRecipient": "ops@saas.example", "serverType": "hubspot"}`, rs[0].Body)
	assert.Contains(t, rs[0].Body, "<HubSpot> & co", "no HTML escaping")
	assert.JSONEq(t, `{"recipient": "cfo@acme.example", "subject": null, "message": null,
		"confirmationRecipient": null, "serverType": "exact_online"}`, rs[1].Body, "unset fields are null, as Peliqan's client sends None")
}

// TestSendConnectionInviteSentOnce: a POST that sends an e-mail is never
// retried, whatever the failure.
func TestSendConnectionInviteSentOnce(t *testing.T) {
	t.Parallel()
	for _, status := range []int{500, 502, 503, 429} {
		c, m := srvClient(t)
		m.on("POST", "/api/servers/invite/", srvJSON(status, `{"detail":"busy"}`))
		err := c.SendConnectionInvite(context.Background(), ConnectionInvite{Recipient: "a@b.example", ServerType: "hubspot"})
		var ae *APIError
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, status, ae.StatusCode)
		assert.Equal(t, 1, m.count(), "status %d: sent once", status)
	}
	c, m := srvClient(t)
	m.on("POST", "/api/servers/invite/", httpmock.NewErrorResponder(errors.New("connection reset by peer")))
	err := c.SendConnectionInvite(context.Background(), ConnectionInvite{Recipient: "a@b.example", ServerType: "hubspot"})
	var te *TransportError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, 1, m.count())
}

func TestSendConnectionInviteRefusesBadInput(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	good := ConnectionInvite{Recipient: "a@b.example", ServerType: "hubspot"}
	with := func(f func(*ConnectionInvite)) ConnectionInvite { in := good; f(&in); return in }
	for name, in := range map[string]ConnectionInvite{
		"no recipient":         with(func(i *ConnectionInvite) { i.Recipient = " " }),
		"not an address":       with(func(i *ConnectionInvite) { i.Recipient = "alice" }),
		"display name":         with(func(i *ConnectionInvite) { i.Recipient = "Alice <a@b.example>" }),
		"two addresses":        with(func(i *ConnectionInvite) { i.Recipient = "a@b.example, c@d.example" }),
		"header injection":     with(func(i *ConnectionInvite) { i.Recipient = "a@b.example\r\nBcc: x@y.example" }),
		"no connector":         with(func(i *ConnectionInvite) { i.ServerType = "" }),
		"bad confirm address":  with(func(i *ConnectionInvite) { i.ConfirmationRecipient = "ops" }),
		"confirm with a name":  with(func(i *ConnectionInvite) { i.ConfirmationRecipient = "Ops <ops@x.example>" }),
		"blank connector name": with(func(i *ConnectionInvite) { i.ServerType = "\t" }),
	} {
		err := c.SendConnectionInvite(context.Background(), in)
		assert.ErrorIs(t, err, ErrInvalidArgument, name)
	}
	assert.Zero(t, m.count(), "bad input is refused before any request")
}

func TestDeleteServer(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	m.on("DELETE", "/api/servers/12/", func(*http.Request) (*http.Response, error) {
		return httpmock.NewStringResponse(204, ""), nil
	})
	require.NoError(t, c.DeleteServer(context.Background(), 12))
	assert.Equal(t, []srvReq{{Method: "DELETE", Path: "/api/servers/12/", Query: map[string][]string{}, Auth: "JWT tenant-tok"}}, m.reqs())

	for _, id := range []ID{0, -2} {
		assert.ErrorIs(t, c.DeleteServer(context.Background(), id), ErrInvalidArgument)
	}
	assert.Equal(t, 1, m.count())
}

// TestDeleteServerNotFound: a 404 on the first attempt is ErrNotFound;
// after an attempt that may have deleted it (a 502, a reset), the retry's
// 404 is the outcome asked for.
func TestDeleteServerNotFound(t *testing.T) {
	t.Parallel()
	notFound := srvJSON(404, `{"detail":"Not found."}`)
	t.Run("first attempt", func(t *testing.T) {
		t.Parallel()
		c, m := srvClient(t)
		m.on("DELETE", "/api/servers/12/", notFound)
		require.ErrorIs(t, c.DeleteServer(context.Background(), 12), ErrNotFound)
		assert.Equal(t, 1, m.count())
	})
	t.Run("after a 502", func(t *testing.T) {
		t.Parallel()
		c, m := srvClient(t)
		m.on("DELETE", "/api/servers/12/", srvJSON(502, `{}`), notFound)
		require.NoError(t, c.DeleteServer(context.Background(), 12))
		assert.Equal(t, 2, m.count())
	})
	t.Run("after a reset", func(t *testing.T) {
		t.Parallel()
		c, m := srvClient(t)
		m.on("DELETE", "/api/servers/12/", httpmock.NewErrorResponder(errors.New("connection reset by peer")), notFound)
		require.NoError(t, c.DeleteServer(context.Background(), 12))
		assert.Equal(t, 2, m.count())
	})
	t.Run("after a 429", func(t *testing.T) {
		t.Parallel()
		// A 429 was not acted on: the 404 that follows is a real one.
		c, m := srvClient(t)
		m.on("DELETE", "/api/servers/12/", srvJSON(429, `{}`), notFound)
		require.ErrorIs(t, c.DeleteServer(context.Background(), 12), ErrNotFound)
		assert.Equal(t, 2, m.count())
	})
}
