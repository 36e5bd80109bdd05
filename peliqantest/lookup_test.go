package peliqantest

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/peliqan-community/peliqan-go/internal/routes"
)

// lookupKeys is the body Peliqan's own client sends: every key, null where
// it has no value.
func lookupKeys(set map[string]any) map[string]any {
	m := map[string]any{}
	for _, k := range []string{"connection_id", "connection_name", "database_id", "database_name",
		"schema_id", "schema_name", "table_id", "table_name", "field_id", "field_name"} {
		m[k] = nil
	}
	for k, v := range set {
		m[k] = v
	}
	return m
}

// A client that derives a connection's schema from its name (as the fake's
// old godoc suggested) finds nothing: the schema name is generated.
func TestGuessedSchemaNamesFail(t *testing.T) {
	t.Parallel()
	srv := NewFake(t)
	sa := seedOne(t, srv, 4) // connection "CRM"
	c := newTC(t, srv)
	tok := c.tenantToken("acme")
	db := "dw_" + sa.ID.String()
	for _, guess := range []string{"CRM", "crm", "pipedrive", "crm_" + sa.Connections[0].ID.String()} {
		for _, q := range []string{`SELECT * FROM "` + guess + `".contacts`, `SELECT * FROM ` + db + `."` + guess + `".contacts`} {
			m := c.ok(routes.Query, tok, nil, map[string]any{"query": q}).json(t)
			assert.Contains(t, m["error"], "does not exist", q)
		}
		m := c.ok(routes.Query, tok, nil, map[string]any{"schema_name": guess, "table_name": "contacts"}).json(t)
		assert.Contains(t, m["error"], "does not exist", guess)
	}

	// The way that works: ask where the connection's data is.
	sc := c.ok(routes.LookupSchema, tok, nil, lookupKeys(map[string]any{"connection_id": sa.Connections[0].ID})).json(t)
	name, _ := sc["schema_name"].(string)
	require.NotEmpty(t, name)
	assert.NotEqual(t, "crm", strings.ToLower(name))
	m := c.ok(routes.Query, tok, nil, map[string]any{"query": `SELECT * FROM "` + db + `"."` + name + `"."contacts"`}).json(t)
	assert.Nil(t, m["error"])
	assert.Len(t, m["records"], 4)

	// target_schema names the same schema, and the connection carries no
	// made-up database_id.
	srvJSON := c.ok(routes.GetServer, tok, nil, nil, sa.Connections[0].ID.String()).json(t)
	assert.Equal(t, map[string]any{"schema_name": name}, srvJSON["target_schema"])
	assert.NotContains(t, srvJSON, "database_id")
}

func TestLookupRoutes(t *testing.T) {
	t.Parallel()
	srv := NewFake(t)
	sd, err := srv.Seed(Fixture{SubAccounts: []SubAccountFixture{
		{ExternalID: "acme", Connections: []ConnectionFixture{
			{Name: "CRM", Type: "pipedrive"},
			{Name: "Bank", Type: "saltedge", OmitTargetSchema: true},
		}},
		{ExternalID: "other", Connections: []ConnectionFixture{{Name: "CRM", Type: "pipedrive"}}},
	}})
	require.NoError(t, err)
	acme, other := sd.SubAccounts[0], sd.SubAccounts[1]
	crm, bank := acme.Connections[0], acme.Connections[1]
	c := newTC(t, srv)
	tok := c.tenantToken("acme")
	dbName := "dw_" + acme.ID.String()

	// Connection, by id or by name.
	for _, keys := range []map[string]any{{"connection_id": crm.ID}, {"connection_name": "CRM"}, {"connection_id": crm.ID.String()}} {
		m := c.ok(routes.LookupConnection, tok, nil, lookupKeys(keys)).json(t)
		assert.Equal(t, crm.ID.String(), id(m["connection_id"]), "%v", keys)
		assert.Equal(t, "CRM", m["connection_name"])
	}

	// Database and schema of a connection: where its data lands, also for
	// a connection that sends no target_schema.
	for _, conn := range []SeededConnection{crm, bank} {
		d := c.ok(routes.LookupDatabase, tok, nil, lookupKeys(map[string]any{"connection_id": conn.ID})).json(t)
		assert.Equal(t, acme.DatabaseID.String(), id(d["database_id"]))
		assert.Equal(t, dbName, d["database_name"])
		assert.Equal(t, conn.ID.String(), id(d["connection_id"]))
		s := c.ok(routes.LookupSchema, tok, nil, lookupKeys(map[string]any{"connection_id": conn.ID})).json(t)
		assert.Equal(t, dbName, s["database_name"])
		assert.NotEmpty(t, s["schema_name"])
		assert.NotEmpty(t, id(s["schema_id"]))
		assert.Equal(t, conn.Name, s["connection_name"])
	}
	bankJSON := c.ok(routes.GetServer, tok, nil, nil, bank.ID.String()).json(t)
	assert.NotContains(t, bankJSON, "target_schema")

	// Table by names, and one of its fields.
	s := c.ok(routes.LookupSchema, tok, nil, lookupKeys(map[string]any{"connection_id": crm.ID})).json(t)
	schemaName := s["schema_name"].(string)
	tb := c.ok(routes.LookupTable, tok, nil, lookupKeys(map[string]any{
		"database_name": dbName, "schema_name": schemaName, "table_name": "deals"})).json(t)
	assert.Equal(t, crm.Tables[1].String(), id(tb["table_id"]))
	assert.Equal(t, "deals", tb["table_name"])
	assert.Equal(t, schemaName, tb["schema_name"])
	assert.Equal(t, crm.ID.String(), id(tb["connection_id"]))
	assert.Nil(t, tb["field_id"])
	f := c.ok(routes.LookupTable, tok, nil, lookupKeys(map[string]any{"table_id": crm.Tables[1], "field_name": "amount"})).json(t)
	assert.Equal(t, "amount", f["field_name"])
	assert.Equal(t, "amount", f["field_physical_name"])
	assert.NotEmpty(t, id(f["field_id"]))
	// A body without the null keys is the same question.
	tb2 := c.ok(routes.LookupTable, tok, nil, map[string]any{"schema_name": schemaName, "table_name": "deals"}).json(t)
	assert.Equal(t, tb["table_id"], tb2["table_id"])

	// No match: DRF's 404. Another tenant's objects do not match either.
	for route, keys := range map[string]map[string]any{
		routes.LookupConnection: {"connection_id": other.Connections[0].ID},
		routes.LookupDatabase:   {"database_id": other.DatabaseID},
		routes.LookupSchema:     {"connection_id": 999999},
		routes.LookupTable:      {"schema_name": schemaName, "table_name": "nope"},
	} {
		r := c.call(route, tok, nil, lookupKeys(keys))
		assert.Equal(t, http.StatusNotFound, r.status, "%s %v", route, keys)
		assert.Equal(t, map[string]any{"detail": "Not found."}, r.json(t))
	}
	// A table lookup whose keys disagree finds nothing.
	r := c.call(routes.LookupTable, tok, nil, lookupKeys(map[string]any{"table_id": crm.Tables[1], "table_name": "contacts"}))
	assert.Equal(t, http.StatusNotFound, r.status)

	// Nothing to look up, or a body that is not JSON: 400.
	for route := range map[string]bool{routes.LookupConnection: true, routes.LookupDatabase: true, routes.LookupSchema: true, routes.LookupTable: true} {
		assert.Equal(t, http.StatusBadRequest, c.call(route, tok, nil, lookupKeys(nil)).status, route)
		assert.Equal(t, http.StatusBadRequest, c.call(route, tok, nil, "{nope").status, route)
		assert.Equal(t, http.StatusBadRequest, c.call(route, tok, nil, lookupKeys(map[string]any{"connection_id": "x"})).status, route)
	}
	// The partner token opens only the partner's own, empty account.
	assert.Equal(t, http.StatusNotFound, c.call(routes.LookupConnection, srv.PartnerToken(), nil, lookupKeys(map[string]any{"connection_name": "CRM"})).status)
}

// Names are SQL identifiers: quoted, with a doubled quote inside, they
// reach exactly the table they name.
func TestQueryEvaluatorQuotedIdentifiers(t *testing.T) {
	t.Parallel()
	srv := NewFake(t)
	_, err := srv.Seed(Fixture{SubAccounts: []SubAccountFixture{{ExternalID: "acme", Connections: []ConnectionFixture{{
		Name: "odd", Tables: []TableFixture{
			{Name: `a"; DROP`, Fields: []FieldFixture{{Name: "n", Type: "number"}}, GeneratedRows: 3},
			{Name: "a", Fields: []FieldFixture{{Name: "n", Type: "number"}}, GeneratedRows: 7},
			{Name: "two words.dot", Fields: []FieldFixture{{Name: "n", Type: "number"}}, GeneratedRows: 2},
		}}}}}})
	require.NoError(t, err)
	c := newTC(t, srv)
	tok := c.tenantToken("acme")
	for q, n := range map[string]int{
		`SELECT * FROM "a""; DROP"`:           3,
		`SELECT * FROM "a""; DROP" LIMIT 1`:   1,
		`select * from "a"`:                   7,
		`SELECT * FROM a`:                     7,
		`SELECT * FROM "two words.dot"`:       2,
		`SELECT  *  FROM  "two words.dot"  ;`: 2,
	} {
		m := c.ok(routes.Query, tok, nil, map[string]any{"query": q}).json(t)
		assert.Nil(t, m["error"], q)
		assert.Len(t, m["records"], n, q)
	}
	for _, q := range []string{`SELECT * FROM a"; DROP`, `SELECT * FROM "a"; DROP`, `SELECT * FROM "a`, `SELECT * FROM "a"b`,
		`SELECT * FROM ""`, `SELECT * FROM a..b`, `SELECT * FROM "a" LIMIT x`} {
		m := c.ok(routes.Query, tok, nil, map[string]any{"query": q}).json(t)
		assert.NotEmpty(t, m["error"], q)
	}
}
