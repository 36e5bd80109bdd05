package peliqantest

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/peliqan-community/peliqan-go/internal/routes"
)

func TestGenerateIsDeterministic(t *testing.T) {
	t.Parallel()
	f1, f2 := Generate(1, 4, 3, 10), Generate(1, 4, 3, 10)
	assert.Equal(t, f1, f2)
	assert.NotEqual(t, f1, Generate(2, 4, 3, 10))
	require.Len(t, f1.SubAccounts, 4)
	for _, sa := range f1.SubAccounts {
		require.Len(t, sa.Connections, 3)
		for _, cf := range sa.Connections {
			for _, tf := range cf.Tables {
				assert.Equal(t, 10, tf.GeneratedRows)
			}
		}
	}
	assert.Empty(t, Generate(1, 0, 3, 10).SubAccounts)

	// Two servers loaded with the same fixture and key agree on ids, data
	// and the partner token.
	key := []byte("0123456789abcdef0123456789abcdef")
	dump := func() (string, *Seeded, string) {
		srv := NewFake(t, WithSigningKey(key), WithFixture(Generate(9, 3, 2, 5)))
		c := newTC(t, srv)
		sd := srv.Seeded()
		tok := c.tenantToken(sd.SubAccounts[2].ExternalID)
		rows := c.ok(routes.ListRows, tok, url.Values{"user_field_names": {"true"}}, nil, sd.SubAccounts[2].Connections[1].Tables[0].String())
		return string(rows.body), sd, srv.PartnerToken()
	}
	r1, s1, p1 := dump()
	r2, s2, p2 := dump()
	assert.Equal(t, r1, r2)
	assert.Equal(t, s1, s2)
	assert.Equal(t, p1, p2)
}

func TestGeneratedFleetHasDeadConnections(t *testing.T) {
	t.Parallel()
	srv := NewFake(t, WithFixture(Generate(1, 20, 3, 1)))
	c := newTC(t, srv)
	dead, total := 0, 0
	for _, sa := range srv.Seeded().SubAccounts {
		for _, s := range c.ok(routes.ListServers, c.tenantToken(sa.ExternalID), nil, nil).list(t) {
			total++
			if s["health_status"] == "ERROR" {
				dead++
			}
		}
	}
	assert.Equal(t, 60, total)
	assert.Greater(t, dead, 0)
	assert.Less(t, dead, total/2)
}

func TestSeedFixture(t *testing.T) {
	t.Parallel()
	srv := NewFake(t)
	sd, err := srv.Seed(Fixture{
		ServerTypes: []ServerType{{Name: "exact", DisplayName: "Exact Online", AuthType: AuthOAuth,
			Tables: []TableFixture{{Name: "invoices", Fields: []FieldFixture{{Name: "total", Type: "decimal"}}}}}},
		SubAccounts: []SubAccountFixture{{
			ExternalID: "e1", CompanyName: "E One",
			Connections: []ConnectionFixture{
				{Name: "Books", Type: "exact", HealthStatus: "AUTHORIZING"},
				{Name: "Sheet", Tables: []TableFixture{{Name: "people", Rows: []map[string]any{
					{"name": "Ann", "age": 41, "vip": true}, {"name": "Bob", "age": 37, "vip": false},
				}, GeneratedRows: 2}}},
			},
			Scripts: []ScriptFixture{{Name: "s", Code: "print(1)"}},
		}},
	})
	require.NoError(t, err)
	sa := sd.SubAccounts[0]
	require.Len(t, sa.Connections, 2)
	c := newTC(t, srv)
	tok := c.tenantToken("e1")

	books := c.ok(routes.GetServer, tok, nil, nil, sa.Connections[0].ID.String()).json(t)
	assert.Equal(t, "AUTHORIZING", books["health_status"])
	assert.Equal(t, "exact", books["server_type"])
	require.NoError(t, srv.CompleteOAuth(sa.Connections[0].ID))

	rows := c.ok(routes.ListRows, tok, url.Values{"user_field_names": {"true"}}, nil, sa.Connections[1].Tables[0].String()).json(t)
	assert.Equal(t, 4.0, rows["count"])
	res := rows["results"].([]any)
	assert.Equal(t, map[string]any{"id": 1.0, "age": 41.0, "name": "Ann", "vip": true}, res[0])
	tbl := c.ok(routes.GetTable, tok, nil, nil, sa.Connections[1].Tables[0].String()).json(t)
	types := map[string]any{}
	for _, f := range tbl["all_fields"].([]any) {
		types[f.(map[string]any)["name"].(string)] = f.(map[string]any)["type"]
	}
	assert.Equal(t, map[string]any{"age": "number", "name": "text", "vip": "boolean"}, types)

	types2 := c.ok(routes.ServerTypes, srv.PartnerToken(), nil, nil).list(t)
	assert.Len(t, types2, 5)

	// Invalid fixtures change nothing.
	for _, bad := range []Fixture{
		{SubAccounts: []SubAccountFixture{{ExternalID: ""}}},
		{SubAccounts: []SubAccountFixture{{ExternalID: "e1"}}},
		{SubAccounts: []SubAccountFixture{{ExternalID: "n1"}, {ExternalID: "n1"}}},
		{SubAccounts: []SubAccountFixture{{ExternalID: "n2", Connections: []ConnectionFixture{{Type: "nope"}}}}},
		{SubAccounts: []SubAccountFixture{{ExternalID: "n3", Connections: []ConnectionFixture{{SyncOutcome: "MAYBE"}}}}},
		{ServerTypes: []ServerType{{Name: "x", AuthType: "magic"}}},
	} {
		_, err := srv.Seed(bad)
		assert.Error(t, err)
	}
	assert.Len(t, c.ok(routes.ListSubAccounts, srv.PartnerToken(), nil, nil).json(t)["data"], 1)
	assert.Len(t, srv.Seeded().SubAccounts, 1)

	_, err = New(WithFixture(Fixture{SubAccounts: []SubAccountFixture{{}}}))
	assert.Error(t, err)
}

func TestRequestsAreRecordedRedacted(t *testing.T) {
	t.Parallel()
	srv := NewFake(t, WithRecordLimit(4))
	c := newTC(t, srv)
	p := srv.PartnerToken()
	c.ok(routes.CreateSubAccount, p, url.Values{"trace": {"1"}}, map[string]any{"external_id": "r1"})
	reqs := srv.Requests()
	require.Len(t, reqs, 1)
	r := reqs[0]
	assert.Equal(t, "POST", r.Method)
	assert.Equal(t, path(t, routes.CreateSubAccount), r.Path)
	assert.Equal(t, "1", r.Query.Get("trace"))
	assert.Equal(t, routes.CreateSubAccount, r.Route)
	assert.Equal(t, 200, r.Status)
	assert.JSONEq(t, `{"external_id":"r1"}`, string(r.Body))
	assert.Equal(t, "JWT [REDACTED]", r.Header.Get("Authorization"))
	for _, req := range srv.Requests() {
		for _, vs := range req.Header {
			for _, v := range vs {
				assert.NotContains(t, v, p)
			}
		}
	}

	for range 6 {
		c.ok(routes.ListSubAccounts, p, nil, nil)
	}
	assert.LessOrEqual(t, len(srv.Requests()), 4)
	assert.Equal(t, 6, srv.Count(routes.ListSubAccounts), "counts stay exact past the record limit")
	assert.Equal(t, 1, srv.Count(routes.CreateSubAccount))
	assert.Equal(t, 0, srv.Count(routes.SyncServer))

	// Unmatched requests are recorded without a route and not counted.
	c.raw("GET", "/api/partner/sub-accounts", nil, p, nil)
	last := srv.Requests()[len(srv.Requests())-1]
	assert.Equal(t, "", last.Route)
	assert.Equal(t, 301, last.Status)

	srv.ResetRecords()
	assert.Empty(t, srv.Requests())
	assert.Equal(t, 0, srv.Count(routes.ListSubAccounts))
}
