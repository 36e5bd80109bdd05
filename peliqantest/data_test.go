package peliqantest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/peliqan-community/peliqan-go/internal/routes"
)

func TestRowsPaging(t *testing.T) {
	t.Parallel()
	srv := NewFake(t)
	sa := seedOne(t, srv, 250)
	c := newTC(t, srv)
	tok := c.tenantToken("acme")
	tid := sa.Connections[0].Tables[0].String()

	// Default page size 100; next/previous are DRF's absolute links.
	m := c.ok(routes.ListRows, tok, url.Values{"user_field_names": {"true"}}, nil, tid).json(t)
	assert.Equal(t, 250.0, m["count"])
	assert.Len(t, m["results"], 100)
	assert.Nil(t, m["previous"])
	next, err := url.Parse(m["next"].(string))
	require.NoError(t, err)
	assert.Equal(t, path(t, routes.ListRows, tid), next.Path)
	assert.Equal(t, "2", next.Query().Get("page"))
	assert.Equal(t, "true", next.Query().Get("user_field_names"))
	first := m["results"].([]any)[0].(map[string]any)
	assert.Equal(t, 1.0, first["id"])
	for _, k := range []string{"name", "email", "company", "score", "active", "created_at"} {
		assert.Contains(t, first, k)
	}

	// Walk every page with size 40 and see each pk once, in order.
	var pks []int
	page := 1
	for range 20 { // bounded: 7 pages expected
		m := c.ok(routes.ListRows, tok, url.Values{"page": {strconv.Itoa(page)}, "size": {"40"}, "user_field_names": {"true"}}, nil, tid).json(t)
		for _, r := range m["results"].([]any) {
			pks = append(pks, int(r.(map[string]any)["id"].(float64)))
		}
		if m["next"] == nil {
			break
		}
		page++
	}
	require.Len(t, pks, 250)
	for i, pk := range pks {
		require.Equal(t, i+1, pk)
	}

	// Without user_field_names the keys are field_<id>.
	tbl := c.ok(routes.GetTable, tok, nil, nil, tid).json(t)
	fields := tbl["all_fields"].([]any)
	require.NotEmpty(t, fields)
	row := c.ok(routes.ListRows, tok, url.Values{"size": {"1"}}, nil, tid).json(t)["results"].([]any)[0].(map[string]any)
	assert.Contains(t, row, "field_"+id(fields[0].(map[string]any)["id"]))
	assert.NotContains(t, row, "name")

	// Same data on every read (deterministic generation).
	again := c.ok(routes.ListRows, tok, url.Values{"user_field_names": {"1"}, "size": {"1"}}, nil, tid).json(t)["results"].([]any)[0]
	assert.Equal(t, first, again)

	// include keeps only the named fields.
	row = c.ok(routes.ListRows, tok, url.Values{"size": {"1"}, "user_field_names": {"true"}, "include": {"email,score"}}, nil, tid).json(t)["results"].([]any)[0].(map[string]any)
	assert.Equal(t, []string{"email", "id", "score"}, sortedKeys(row))
	requireTupleError(t, c.call(routes.ListRows, tok, url.Values{"include": {"nope"}}, nil, tid), http.StatusBadRequest, "ERROR_FIELD_DOES_NOT_EXIST")

	requireTupleError(t, c.call(routes.ListRows, tok, url.Values{"size": {"1001"}}, nil, tid), http.StatusBadRequest, "ERROR_PAGE_SIZE_LIMIT")
	r := c.call(routes.ListRows, tok, url.Values{"page": {"4"}}, nil, tid)
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.Equal(t, "Invalid page.", r.json(t)["detail"])
}

func TestUpdateCell(t *testing.T) {
	t.Parallel()
	srv := NewFake(t)
	sa := seedOne(t, srv, 5)
	c := newTC(t, srv)
	tok := c.tenantToken("acme")
	tid := sa.Connections[0].Tables[0].String()

	r := c.ok(routes.UpdateCell, tok, nil, map[string]any{"pk": 2, "data": map[string]any{"name": "Renamed", "score": 7}}, tid)
	assert.Equal(t, http.StatusNoContent, r.status)
	assert.Empty(t, r.body)
	rows := c.ok(routes.ListRows, tok, url.Values{"user_field_names": {"true"}}, nil, tid).json(t)["results"].([]any)
	assert.Equal(t, "Renamed", rows[1].(map[string]any)["name"])
	assert.Equal(t, 7.0, rows[1].(map[string]any)["score"])
	assert.NotEqual(t, "Renamed", rows[0].(map[string]any)["name"])

	requireTupleError(t, c.call(routes.UpdateCell, tok, nil, map[string]any{"pk": 99, "data": map[string]any{"name": "x"}}, tid),
		http.StatusNotFound, "ERROR_ROW_DOES_NOT_EXIST")
	requireTupleError(t, c.call(routes.UpdateCell, tok, nil, map[string]any{"pk": 1, "data": map[string]any{"nope": "x"}}, tid),
		http.StatusBadRequest, "ERROR_FIELD_DOES_NOT_EXIST")
	assert.Equal(t, http.StatusBadRequest, c.call(routes.UpdateCell, tok, nil, map[string]any{"data": map[string]any{"name": "x"}}, tid).status)
	assert.Equal(t, http.StatusBadRequest, c.call(routes.UpdateCell, tok, nil, "{not json", tid).status)
}

func TestQueryEvaluator(t *testing.T) {
	t.Parallel()
	srv := NewFake(t)
	sa := seedOne(t, srv, 12)
	c := newTC(t, srv)
	tok := c.tenantToken("acme")

	crm := c.schemaOf(tok, sa.Connections[0].ID.String())
	for _, q := range []string{"SELECT * FROM contacts LIMIT 3", `select * from "` + crm + `"."contacts" limit 3;`, "SELECT * FROM dw_" + sa.ID.String() + "." + crm + ".contacts LIMIT 3"} {
		m := c.ok(routes.Query, tok, nil, map[string]any{"query": q}).json(t)
		assert.Nil(t, m["error"], q)
		assert.Len(t, m["records"], 3, q)
		cols := m["columns"].([]any)
		assert.Equal(t, []any{"id", "bigint"}, cols[0], q)
		assert.Equal(t, []any{"name", "varchar"}, cols[1], q)
	}
	m := c.ok(routes.Query, tok, nil, map[string]any{"query": "SELECT * FROM deals"}).json(t)
	assert.Len(t, m["records"], 12)
	m = c.ok(routes.Query, tok, nil, map[string]any{"schema_name": crm, "table_name": "deals"}).json(t)
	assert.Len(t, m["records"], 12)

	for _, q := range []string{"SELECT name FROM contacts", "DELETE FROM contacts", "SELECT * FROM nowhere", ""} {
		r := c.ok(routes.Query, tok, nil, map[string]any{"query": q})
		m := r.json(t)
		assert.NotEmpty(t, m["error"], q)
		assert.Empty(t, m["records"], q)
	}
}

func TestQueryTablesAndDatabases(t *testing.T) {
	t.Parallel()
	srv := NewFake(t)
	sa := seedOne(t, srv, 8)
	c := newTC(t, srv)
	tok := c.tenantToken("acme")
	db := sa.DatabaseID.String()

	dbs := c.ok(routes.ListDatabases, tok, nil, nil).list(t)
	require.Len(t, dbs, 1)
	assert.Len(t, dbs[0]["tables"], 2)
	schemas := dbs[0]["schemas"].([]any)
	assert.Equal(t, "public", schemas[0].(map[string]any)["name"])
	crm := c.schemaOf(tok, sa.Connections[0].ID.String())
	assert.Equal(t, crm, schemas[1].(map[string]any)["name"])
	noTables := c.ok(routes.ListDatabases, tok, url.Values{"exclude_tables": {"1"}}, nil).list(t)
	assert.NotContains(t, noTables[0], "tables")

	qt := c.ok(routes.CreateQueryTable, tok, nil, map[string]any{
		"table_type": "query", "schema_id": schemas[0].(map[string]any)["id"], "name": "top5", "query": "SELECT * FROM " + crm + ".contacts LIMIT 5",
	}, db).json(t)
	assert.Equal(t, "query", qt["table_type"])
	assert.Equal(t, 5.0, qt["row_count"])
	assert.Len(t, qt["all_fields"], 6)
	rows := c.ok(routes.ListRows, tok, url.Values{"user_field_names": {"true"}}, nil, id(qt["id"])).json(t)
	assert.Equal(t, 5.0, rows["count"])

	// The source grows with a sync; the query table follows, up to its limit.
	opaque := c.ok(routes.CreateQueryTable, tok, nil, map[string]any{"name": "fancy", "query": "SELECT a, b FROM x JOIN y"}, db).json(t)
	assert.Equal(t, 0.0, opaque["row_count"])
	assert.Len(t, c.ok(routes.ListTables, tok, nil, nil, db).list(t), 4)

	requireTupleError(t, c.call(routes.CreateQueryTable, tok, nil, map[string]any{"name": "top5", "query": "SELECT 1"}, db),
		http.StatusBadRequest, "ERROR_TABLE_ALREADY_EXISTS")
	requireTupleError(t, c.call(routes.CreateQueryTable, tok, nil, map[string]any{"name": "z", "query": "SELECT 1", "schema_id": 1}, db),
		http.StatusBadRequest, "ERROR_SCHEMA_DOES_NOT_EXIST")
	r := c.call(routes.CreateQueryTable, tok, nil, map[string]any{"name": "z"}, db)
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Contains(t, r.json(t), "query")
	requireTupleError(t, c.call(routes.UpdateCell, tok, nil, map[string]any{"pk": 1, "data": map[string]any{"name": "x"}}, id(qt["id"])),
		http.StatusBadRequest, "ERROR_TABLE_NOT_WRITABLE")
	assert.True(t, strings.HasPrefix(qt["query"].(string), "SELECT"))
}

func TestLargeGeneratedTableIsCheap(t *testing.T) {
	t.Parallel()
	srv := NewFake(t)
	sd, err := srv.Seed(Fixture{SubAccounts: []SubAccountFixture{{ExternalID: "big", Connections: []ConnectionFixture{{
		Name: "warehouse", Tables: []TableFixture{{Name: "events", Fields: []FieldFixture{{Name: "kind", Type: "text"}, {Name: "n", Type: "number"}}, GeneratedRows: 1_000_000}},
	}}}}})
	require.NoError(t, err)
	c := newTC(t, srv)
	tok := c.tenantToken("big")
	tid := sd.SubAccounts[0].Connections[0].Tables[0].String()
	m := c.ok(routes.ListRows, tok, url.Values{"page": {"1000"}, "size": {"1000"}}, nil, tid).json(t)
	assert.Equal(t, 1_000_000.0, m["count"])
	res := m["results"].([]any)
	require.Len(t, res, 1000)
	assert.Equal(t, 1_000_000.0, res[999].(map[string]any)["id"])
	assert.Nil(t, m["next"])
	q := c.ok(routes.Query, tok, nil, map[string]any{"query": "SELECT * FROM events"}).json(t)
	assert.Contains(t, q["error"], "LIMIT")
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestGeneratedRowFastPathMatchesValues(t *testing.T) {
	t.Parallel()
	st := newState(config{now: time.Now})
	a := st.addSubAccount(profile{ExternalID: "x"}, time.Now())
	fields := append(append([]FieldFixture{}, contactsTable.Fields...), dealsTable.Fields...)
	tb := st.newTable(a.dw, a.dw.schemas[0], "t", fields, 12345, time.Now())
	tb.gen = 50
	for pk := int64(1); pk <= 50; pk++ {
		for _, names := range []bool{true, false} {
			fast := tb.appendRow(nil, pk, names, nil)
			tb.overrides = map[int64]map[int]any{pk: {}} // forces the values() path
			slow := tb.appendRow(nil, pk, names, nil)
			tb.overrides = nil
			require.Equal(t, string(slow), string(fast))
			var m map[string]any
			require.NoError(t, json.Unmarshal(fast, &m))
		}
	}
}

func TestUpdateTable(t *testing.T) {
	t.Parallel()
	if _, ok := routes.Lookup(updateTableRoute); !ok {
		t.Skip("the UpdateTable row is not in this routes table yet")
	}
	srv := NewFake(t)
	sa := seedOne(t, srv, 8)
	c := newTC(t, srv)
	tok := c.tenantToken("acme")
	db := sa.DatabaseID.String()
	qt := c.ok(routes.CreateQueryTable, tok, nil, map[string]any{"name": "top", "query": "SELECT * FROM contacts LIMIT 5"}, db).json(t)
	qid := id(qt["id"])

	up := c.ok(updateTableRoute, tok, nil, map[string]any{"name": "top2", "query": "SELECT * FROM deals LIMIT 2"}, qid).json(t)
	assert.Equal(t, "top2", up["name"])
	assert.Equal(t, "SELECT * FROM deals LIMIT 2", up["query"])
	assert.Equal(t, 2.0, up["row_count"])
	assert.Len(t, up["all_fields"], 5)
	rows := c.ok(routes.ListRows, tok, url.Values{"user_field_names": {"true"}}, nil, qid).json(t)["results"].([]any)
	assert.Contains(t, rows[0], "stage")

	contacts := sa.Connections[0].Tables[0].String()
	requireTupleError(t, c.call(updateTableRoute, tok, nil, map[string]any{"query": "SELECT 1"}, contacts), http.StatusBadRequest, "ERROR_TABLE_NOT_A_QUERY")
	c.ok(routes.CreateQueryTable, tok, nil, map[string]any{"name": "other", "query": "SELECT 1"}, db)
	requireTupleError(t, c.call(updateTableRoute, tok, nil, map[string]any{"name": "other"}, qid), http.StatusBadRequest, "ERROR_TABLE_ALREADY_EXISTS")
	assert.Equal(t, http.StatusBadRequest, c.call(updateTableRoute, tok, nil, map[string]any{"name": " "}, qid).status)
	assert.Equal(t, "top2", c.ok(routes.GetTable, tok, nil, nil, qid).json(t)["name"])
}
