package peliqan_test

import (
	"bytes"
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// writeEnv is a fake with one customer behind a front server that can
// rewrite the fake's answers, and clients pointed at the front.
type writeEnv struct {
	fake    *peliqantest.Fake
	front   *httptest.Server
	p       *peliqan.PartnerClient
	t       *peliqan.SubAccountClient
	acct    peliqan.ID
	group   peliqan.ID
	db      peliqan.ID
	script  peliqan.ID
	srv     peliqan.ID
	types   map[string]peliqan.ID
	rewrite func(path string, body []byte) []byte // nil: answers pass as they are
}

func newWriteEnv(t *testing.T) *writeEnv {
	t.Helper()
	fake := peliqantest.NewFake(t, peliqantest.WithFixture(peliqantest.Fixture{SubAccounts: []peliqantest.SubAccountFixture{
		{ExternalID: "acme", CompanyName: "Acme", Email: "ops@acme.example",
			Connections: []peliqantest.ConnectionFixture{{Type: "pipedrive"}},
			Scripts:     []peliqantest.ScriptFixture{{Name: "nightly", Code: "print(1)"}}},
	}}), peliqantest.WithSyncDuration(time.Millisecond), peliqantest.WithScriptRunDuration(time.Millisecond))
	e := &writeEnv{fake: fake, types: map[string]peliqan.ID{}}
	e.front = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e.rewrite == nil {
			fake.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		fake.ServeHTTP(rec, r)
		body := e.rewrite(r.URL.Path, rec.Body.Bytes())
		maps.Copy(w.Header(), rec.Header())
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	}))
	t.Cleanup(e.front.Close)
	a := fake.Seeded().SubAccounts[0]
	e.acct, e.group, e.db, e.script, e.srv = a.ID, a.GroupID, a.DatabaseID, a.Scripts[0], a.Connections[0].ID
	opts := []peliqan.Option{peliqan.WithBaseURL(e.front.URL), peliqan.WithRetryPolicy(zeroWait)}
	var err error
	e.p, err = peliqan.NewPartnerClient(fake.PartnerToken(), opts...)
	require.NoError(t, err)
	tok, err := fake.TenantToken(e.acct, false)
	require.NoError(t, err)
	e.t, err = peliqan.NewSubAccountClient(tok, opts...)
	require.NoError(t, err)
	types, err := e.p.ServerTypes(context.Background())
	require.NoError(t, err)
	for _, st := range types {
		e.types[st.Name] = st.ID
	}
	fake.ResetRecords()
	return e
}

// serverIDs lists the customer's connections as the fake has them.
func (e *writeEnv) serverIDs(t *testing.T) []peliqan.ID {
	t.Helper()
	list, err := e.t.ListServers(context.Background())
	require.NoError(t, err)
	var ids []peliqan.ID
	for _, s := range list {
		ids = append(ids, s.ID)
	}
	return ids
}

// TestCreateServerOAuthURLOnTheWire: against the fake, over loopback, a
// relative oauth_url comes back resolved against the request's URL, and an
// unsafe one comes back as a *DecodeError beside the ID of the connection
// the fake made; either way one POST, one connection.
func TestCreateServerOAuthURLOnTheWire(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	e := newWriteEnv(t)
	e.rewrite = func(path string, b []byte) []byte {
		return bytes.ReplaceAll(b, []byte("https://oauth.example.com/"), []byte("/oauth/"))
	}
	got, err := e.t.CreateServer(ctx, peliqan.ServerCreate{ServerTypeID: e.types["hubspot"]})
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(got.OAuthURL, e.front.URL+"/oauth/hubspot/authorize?"), got.OAuthURL)
	assert.Equal(t, 1, e.fake.Count(peliqan.RouteCreateServer))
	assert.Equal(t, []peliqan.ID{e.srv, got.ID}, e.serverIDs(t))

	e = newWriteEnv(t)
	e.rewrite = func(path string, b []byte) []byte {
		return bytes.ReplaceAll(b, []byte("https://oauth.example.com/"), []byte("javascript:alert(1)//"))
	}
	got, err = e.t.CreateServer(ctx, peliqan.ServerCreate{ServerTypeID: e.types["hubspot"]})
	var de *peliqan.DecodeError
	require.ErrorAs(t, err, &de)
	require.ErrorIs(t, err, peliqan.ErrMalformedResponse)
	require.NotNil(t, got, "the connection exists: its result comes back")
	assert.NotZero(t, got.ID)
	assert.Empty(t, got.OAuthURL)
	assert.Equal(t, 1, e.fake.Count(peliqan.RouteCreateServer))
	assert.Equal(t, []peliqan.ID{e.srv, got.ID}, e.serverIDs(t), "the ID is the connection the fake made")
	// The caller can carry on with it: a fresh authorisation URL.
	e.rewrite = nil
	u, err := e.t.ReAuthoriseServer(ctx, got.ID)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(u, "https://oauth.example.com/hubspot/reauthorize?"), u)
}

// TestWritesCutShortOnTheWire: the fake makes the object and answers with
// the first half of its JSON (TruncatedJSONFault). Every create returns the
// ID of what the fake made beside a *DecodeError, after exactly one request.
func TestWritesCutShortOnTheWire(t *testing.T) {
	t.Parallel()
	type made struct {
		id  peliqan.ID
		err error
	}
	cases := []struct {
		route string
		do    func(*writeEnv) made
		// check finds the object the fake made, by the returned id.
		check func(*testing.T, *writeEnv, peliqan.ID)
	}{
		{peliqan.RouteCreateServer, func(e *writeEnv) made {
			v, err := e.t.CreateServer(context.Background(), peliqan.ServerCreate{ServerTypeID: e.types["pipedrive"],
				Fields: map[string]any{"name": "CRM", "api_token": "k"}})
			if v == nil {
				return made{err: err}
			}
			return made{v.ID, err}
		}, func(t *testing.T, e *writeEnv, id peliqan.ID) {
			assert.Equal(t, []peliqan.ID{e.srv, id}, e.serverIDs(t))
		}},
		{peliqan.RouteCreateSubAccount, func(e *writeEnv) made {
			v, err := e.p.CreateSubAccount(context.Background(), peliqan.SubAccountCreate{ExternalID: "beta", FirstName: "Bo",
				LastName: "Ng", Email: "bo@beta.example", CompanyName: "Beta"})
			if v == nil {
				return made{err: err}
			}
			return made{v.ID, err}
		}, func(t *testing.T, e *writeEnv, id peliqan.ID) {
			sa, err := e.p.GetSubAccount(context.Background(), peliqan.ByExternalID("beta"))
			require.NoError(t, err)
			assert.Equal(t, sa.ID, id)
		}},
		{peliqan.RouteCreateScript, func(e *writeEnv) made {
			v, err := e.t.CreateScript(context.Background(), peliqan.ScriptCreate{Name: "export", Code: "print(2)", GroupID: e.group})
			if v == nil {
				return made{err: err}
			}
			return made{v.ID, err}
		}, func(t *testing.T, e *writeEnv, id peliqan.ID) {
			sc, err := e.t.GetScript(context.Background(), id)
			require.NoError(t, err)
			assert.Equal(t, "export", sc.Name)
		}},
		{peliqan.RouteCreateScriptRun, func(e *writeEnv) made {
			v, err := e.t.RunScript(context.Background(), e.script)
			if v == nil {
				return made{err: err}
			}
			return made{v.ID, err}
		}, func(t *testing.T, e *writeEnv, id peliqan.ID) {
			run, err := e.t.GetScriptRun(context.Background(), id)
			require.NoError(t, err)
			assert.Equal(t, e.script, run.ScriptID)
		}},
	}
	for _, c := range cases {
		t.Run(c.route, func(t *testing.T) {
			t.Parallel()
			e := newWriteEnv(t)
			e.fake.FailNext(c.route, 1, peliqantest.TruncatedJSONFault())
			m := c.do(e)
			require.ErrorIs(t, m.err, peliqan.ErrMalformedResponse)
			require.NotZero(t, m.id, "the ID of what was made comes back: %v", m.err)
			assert.Equal(t, 1, e.fake.Count(c.route), "sent once")
			c.check(t, e, m.id)
		})
	}
	t.Run("EnsureSubAccount", func(t *testing.T) {
		t.Parallel()
		e := newWriteEnv(t)
		e.fake.FailNext(peliqan.RouteCreateSubAccount, 1, peliqantest.TruncatedJSONFault())
		sa, created, err := e.p.EnsureSubAccount(context.Background(), peliqan.SubAccountCreate{ExternalID: "beta",
			FirstName: "Bo", LastName: "Ng", Email: "bo@beta.example", CompanyName: "Beta"})
		require.NoError(t, err, "the account is read back")
		assert.True(t, created)
		assert.Equal(t, "beta", sa.ExternalID)
		assert.Equal(t, "Beta", sa.CompanyName)
		assert.Equal(t, 1, e.fake.Count(peliqan.RouteCreateSubAccount))
	})
	t.Run("SyncServer", func(t *testing.T) {
		t.Parallel()
		e := newWriteEnv(t)
		e.fake.FailNext(peliqan.RouteSyncServer, 1, peliqantest.TruncatedJSONFault())
		res, err := e.t.SyncServer(context.Background(), e.srv, nil)
		require.ErrorIs(t, err, peliqan.ErrMalformedResponse)
		require.NotNil(t, res, "the sync started: its result comes back")
		assert.Equal(t, e.srv, res.ServerID)
		assert.Equal(t, 1, e.fake.Count(peliqan.RouteSyncServer))
	})
}
