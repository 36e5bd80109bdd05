package peliqan

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const dtBase = "https://api.test/base"

// dtClient is a tenant client whose requests go to its own mock transport.
func dtClient(t *testing.T) (*SubAccountClient, *httpmock.MockTransport) {
	t.Helper()
	mt := httpmock.NewMockTransport()
	s, err := NewSubAccountClient("tenant-tok", WithBaseURL(dtBase),
		WithHTTPClient(&http.Client{Transport: mt}),
		WithRetryPolicy(RetryPolicy{MaxAttempts: 3, Backoff: BackoffConstant}))
	require.NoError(t, err)
	return s, mt
}

// dtExpect registers a responder for method+path that asserts the exact
// query (wantQuery, "" for none) and JSON body (wantBody, "" for none), and
// answers status with resp. It returns the call counter.
func dtExpect(t *testing.T, mt *httpmock.MockTransport, method, path, wantQuery, wantBody string, status int, resp string) *atomic.Int32 {
	t.Helper()
	var n atomic.Int32
	mt.RegisterResponder(method, dtBase+path, func(r *http.Request) (*http.Response, error) {
		n.Add(1)
		wq, err := url.ParseQuery(wantQuery)
		assert.NoError(t, err)
		gq := r.URL.Query()
		if len(wq) == 0 {
			assert.Empty(t, gq, "%s %s query", method, path)
		} else {
			assert.Equal(t, wq, gq, "%s %s query", method, path)
		}
		assert.Equal(t, "JWT tenant-tok", r.Header.Get("Authorization"))
		var body []byte
		if r.Body != nil {
			body, _ = io.ReadAll(r.Body)
		}
		if wantBody == "" {
			assert.Empty(t, body, "%s %s body", method, path)
		} else {
			assert.JSONEq(t, wantBody, string(body), "%s %s body", method, path)
			assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
		}
		res := httpmock.NewStringResponse(status, resp)
		res.Header.Set("Content-Type", "application/json")
		return res, nil
	})
	return &n
}

func TestListDatabases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("without tables", func(t *testing.T) {
		t.Parallel()
		s, mt := dtClient(t)
		n := dtExpect(t, mt, "GET", "/api/applications/", "exclude_tables=1", "", 200,
			`[{"id": 1, "name": "dw_123"}, {"id": "2", "name": "hubspot"}]`)
		dbs, err := s.ListDatabases(ctx, nil)
		require.NoError(t, err)
		assert.Equal(t, []Database{{ID: 1, Name: "dw_123"}, {ID: 2, Name: "hubspot"}}, dbs)
		assert.EqualValues(t, 1, n.Load())
	})
	t.Run("with tables", func(t *testing.T) {
		t.Parallel()
		s, mt := dtClient(t)
		dtExpect(t, mt, "GET", "/api/applications/", "", "", 200,
			`[{"id": 1, "name": "dw", "tables": [{"id": 10, "name": "orders", "schema_id": 5}], "schemas": [{"id": 5, "name": "public"}]}]`)
		dbs, err := s.ListDatabases(ctx, &DatabaseListOptions{IncludeTables: true})
		require.NoError(t, err)
		require.Len(t, dbs, 1)
		assert.Equal(t, []TableRef{{ID: 10, Name: "orders", SchemaID: 5}}, dbs[0].Tables)
		assert.Equal(t, []Schema{{ID: 5, Name: "public"}}, dbs[0].Schemas)
	})
	t.Run("empty list", func(t *testing.T) {
		t.Parallel()
		s, mt := dtClient(t)
		dtExpect(t, mt, "GET", "/api/applications/", "exclude_tables=1", "", 200, `[]`)
		dbs, err := s.ListDatabases(ctx, nil)
		require.NoError(t, err)
		assert.NotNil(t, dbs)
		assert.Empty(t, dbs)
	})
}

func TestListTablesAndGetTable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, mt := dtClient(t)
	dtExpect(t, mt, "GET", "/api/database/tables/database/7/", "", "", 200,
		`{"results": [{"id": 10, "name": "orders", "schema_id": 5}], "count": 1, "next": null}`)
	dtExpect(t, mt, "GET", "/api/database/tables/10/", "", "", 200,
		`{"id": 10, "name": "orders", "table_type": "query", "query": "select 1",
		  "all_fields": [{"id": 1, "name": "id", "type": "number", "sql_data_type": "bigint"},
		                 {"name": "email", "type": "text", "sql_data_type": "varchar"}]}`)

	tables, err := s.ListTables(ctx, 7)
	require.NoError(t, err)
	assert.Equal(t, []Table{{ID: 10, Name: "orders", SchemaID: 5}}, tables)

	tb, err := s.GetTable(ctx, 10)
	require.NoError(t, err)
	assert.Equal(t, "query", tb.TableType)
	assert.Equal(t, "select 1", tb.Query)
	assert.Equal(t, []Field{{ID: 1, Name: "id", Type: "number", SQLType: "bigint"},
		{Name: "email", Type: "text", SQLType: "varchar"}}, tb.Fields)
}

func TestCreateQueryTable(t *testing.T) {
	t.Parallel()
	s, mt := dtClient(t)
	n := dtExpect(t, mt, "POST", "/api/database/tables/database/7/", "",
		`{"table_type": "query", "schema_id": 5, "name": "big_orders", "query": "SELECT * FROM orders WHERE total > 100 AND a < b"}`,
		200, `{"id": 99, "name": "big_orders", "table_type": "query"}`)
	tb, err := s.CreateQueryTable(context.Background(), 7, QueryTable{SchemaID: 5, Name: "big_orders",
		Query: "SELECT * FROM orders WHERE total > 100 AND a < b"})
	require.NoError(t, err)
	assert.Equal(t, ID(99), tb.ID)
	assert.EqualValues(t, 1, n.Load())
}

func TestUpdateQueryTable(t *testing.T) {
	t.Parallel()
	s, mt := dtClient(t)
	n := dtExpect(t, mt, "PATCH", "/api/database/tables/99/", "", `{"query": "select 2"}`, 200,
		`{"id": 99, "name": "big_orders", "query": "select 2"}`)
	sql := "select 2"
	tb, err := s.UpdateQueryTable(context.Background(), 99, QueryTableUpdate{Query: &sql})
	require.NoError(t, err)
	assert.Equal(t, "select 2", tb.Query)
	assert.EqualValues(t, 1, n.Load())

	blank := ""
	_, err = s.UpdateQueryTable(context.Background(), 99, QueryTableUpdate{})
	assert.ErrorIs(t, err, ErrInvalidArgument)
	_, err = s.UpdateQueryTable(context.Background(), 99, QueryTableUpdate{Query: &blank})
	assert.ErrorIs(t, err, ErrInvalidArgument)
	_, err = s.UpdateQueryTable(context.Background(), 0, QueryTableUpdate{Query: &sql})
	assert.ErrorIs(t, err, ErrInvalidArgument)
	assert.EqualValues(t, 1, n.Load())
}

func TestUpdateCell(t *testing.T) {
	t.Parallel()
	s, mt := dtClient(t)
	n := dtExpect(t, mt, "PATCH", "/api/database/rows/table/10/", "",
		`{"pk": 42, "data": {"status": "paid"}}`, 204, ``)
	require.NoError(t, s.UpdateCell(context.Background(), 10, 42, "status", "paid"))
	dtExpect(t, mt, "PATCH", "/api/database/rows/table/11/", "",
		`{"pk": "a-1", "data": {"note": null}}`, 204, ``)
	require.NoError(t, s.UpdateCell(context.Background(), 11, "a-1", "note", nil))
	assert.EqualValues(t, 1, n.Load())

	dtExpect(t, mt, "PATCH", "/api/database/rows/table/12/", "", `{"pk": 1, "data": {"x": 1}}`, 500, `{"error": "boom"}`)
	err := s.UpdateCell(context.Background(), 12, 1, "x", 1)
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 1, ae.Attempts, "PATCH is never retried")
}

func TestDataInvalidArguments(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, mt := dtClient(t)
	checks := map[string]error{}
	_, checks["ListTables zero"] = s.ListTables(ctx, 0)
	_, checks["GetTable negative"] = s.GetTable(ctx, -3)
	_, checks["CreateQueryTable zero db"] = s.CreateQueryTable(ctx, 0, QueryTable{SchemaID: 1, Name: "a", Query: "q"})
	_, checks["CreateQueryTable no schema"] = s.CreateQueryTable(ctx, 1, QueryTable{Name: "a", Query: "q"})
	_, checks["CreateQueryTable no name"] = s.CreateQueryTable(ctx, 1, QueryTable{SchemaID: 1, Query: "q"})
	_, checks["CreateQueryTable no query"] = s.CreateQueryTable(ctx, 1, QueryTable{SchemaID: 1, Name: "a", Query: "  "})
	checks["UpdateCell zero table"] = s.UpdateCell(ctx, 0, 1, "f", 1)
	checks["UpdateCell nil pk"] = s.UpdateCell(ctx, 1, nil, "f", 1)
	checks["UpdateCell empty pk"] = s.UpdateCell(ctx, 1, "", "f", 1)
	checks["UpdateCell empty field"] = s.UpdateCell(ctx, 1, 1, " ", 1)
	//nolint:staticcheck // a nil context is the point of the test
	_, checks["ListDatabases nil ctx"] = s.ListDatabases(nil, nil)
	for name, err := range checks {
		assert.ErrorIs(t, err, ErrInvalidArgument, name)
		var ae *ArgumentError
		assert.True(t, errors.As(err, &ae), name)
	}
	assert.Zero(t, mt.GetTotalCallCount(), "no request for bad input")
}
