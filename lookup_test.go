package peliqan

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lookupRecorder answers a lookup route with the given responders in turn
// and keeps every request body it saw.
type lookupRecorder struct {
	mu     sync.Mutex
	bodies []string
	n      atomic.Int32
}

func (lr *lookupRecorder) responder(t *testing.T, rs ...httpmock.Responder) httpmock.Responder {
	return sequence(&lr.n, func() []httpmock.Responder {
		out := make([]httpmock.Responder, len(rs))
		for i, r := range rs {
			out[i] = func(req *http.Request) (*http.Response, error) {
				assert.Equal(t, http.MethodGet, req.Method)
				assert.Equal(t, "application/json", req.Header.Get("Content-Type"))
				b, err := io.ReadAll(req.Body)
				assert.NoError(t, err)
				lr.mu.Lock()
				lr.bodies = append(lr.bodies, string(b))
				lr.mu.Unlock()
				return r(req)
			}
		}
		return out
	}()...)
}

func (lr *lookupRecorder) seen() []string {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	return append([]string(nil), lr.bodies...)
}

const allNullKeys = `{"connection_id": null, "connection_name": null, "database_id": null, "database_name": null,
	"schema_id": null, "schema_name": null, "table_id": null, "table_name": null, "field_id": null, "field_name": null}`

func withKeys(t *testing.T, set map[string]any) string {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(allNullKeys), &m))
	for k, v := range set {
		m[k] = v
	}
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return string(b)
}

func TestLookupsSendEveryKeyAsPeliqansClientDoes(t *testing.T) {
	t.Parallel()
	s, mt := mockTenant(t)
	for _, tc := range []struct {
		path string
		call func() (*Resource, error)
		want string
	}{
		{"/api/database/resource/lookup/connection/", func() (*Resource, error) {
			return s.LookupConnection(context.Background(), LookupKeys{ConnectionName: "CRM"})
		}, withKeys(t, map[string]any{"connection_name": "CRM"})},
		{"/api/database/resource/lookup/database/", func() (*Resource, error) {
			return s.LookupDatabase(context.Background(), LookupKeys{ConnectionID: 7})
		}, withKeys(t, map[string]any{"connection_id": 7})},
		{"/api/database/resource/lookup/schema/", func() (*Resource, error) {
			return s.LookupSchema(context.Background(), LookupKeys{ConnectionID: 7, DatabaseName: "dw_1"})
		}, withKeys(t, map[string]any{"connection_id": 7, "database_name": "dw_1"})},
		{"/api/database/resource/lookup/table/", func() (*Resource, error) {
			return s.LookupTable(context.Background(), LookupKeys{SchemaName: "s", TableName: `a"; DROP`, FieldName: "amount"})
		}, withKeys(t, map[string]any{"schema_name": "s", "table_name": `a"; DROP`, "field_name": "amount"})},
	} {
		lr := &lookupRecorder{}
		mt.RegisterResponder(http.MethodGet, testBase+tc.path, lr.responder(t, httpmock.NewStringResponder(200,
			`{"connection_id": "7", "connection_name": "CRM", "database_id": 3, "database_name": "dw_1",
			  "schema_id": 4, "schema_name": "pipedrive_c7", "table_id": 9, "table_name": "deals",
			  "field_id": null, "field_name": null, "field_physical_name": null, "extra": [1]}`)))
		res, err := tc.call()
		require.NoError(t, err, tc.path)
		require.Len(t, lr.seen(), 1, tc.path)
		assert.JSONEq(t, tc.want, lr.seen()[0], tc.path)
		assert.Equal(t, &Resource{LookupKeys: LookupKeys{ConnectionID: 7, ConnectionName: "CRM", DatabaseID: 3, DatabaseName: "dw_1",
			SchemaID: 4, SchemaName: "pipedrive_c7", TableID: 9, TableName: "deals"}}, res, tc.path)
	}
}

func TestLookupsRefuseBadKeysBeforeAnyRequest(t *testing.T) {
	t.Parallel()
	s, mt := mockTenant(t)
	ctx := context.Background()
	for name, call := range map[string]func() (*Resource, error){
		"no connection":      func() (*Resource, error) { return s.LookupConnection(ctx, LookupKeys{TableName: "t"}) },
		"no database":        func() (*Resource, error) { return s.LookupDatabase(ctx, LookupKeys{SchemaName: "s"}) },
		"no schema":          func() (*Resource, error) { return s.LookupSchema(ctx, LookupKeys{DatabaseName: "d"}) },
		"no table":           func() (*Resource, error) { return s.LookupTable(ctx, LookupKeys{FieldName: "f"}) },
		"nothing":            func() (*Resource, error) { return s.LookupTable(ctx, LookupKeys{}) },
		"negative id":        func() (*Resource, error) { return s.LookupTable(ctx, LookupKeys{TableID: -1}) },
		"blank name":         func() (*Resource, error) { return s.LookupTable(ctx, LookupKeys{TableName: "  "}) },
		"NUL in a name":      func() (*Resource, error) { return s.LookupTable(ctx, LookupKeys{TableName: "a\x00b"}) },
		"nil ctx":            func() (*Resource, error) { return s.LookupTable(nil, LookupKeys{TableID: 1}) }, //nolint:staticcheck // the nil ctx is the point
		"bad TableName":      func() (*Resource, error) { return s.ResolveTable(ctx, TableName{Table: "t"}) },
		"TableName no table": func() (*Resource, error) { return s.ResolveTable(ctx, TableName{Schema: "s"}) },
	} {
		_, err := call()
		assert.ErrorIs(t, err, ErrInvalidArgument, name)
	}
	assert.Zero(t, mt.GetTotalCallCount())
}

// A lookup is a read with a body: after a 503 it is sent again, with the
// same body.
func TestLookupRetriedWithTheSameBody(t *testing.T) {
	t.Parallel()
	s, mt := mockTenant(t)
	lr := &lookupRecorder{}
	mt.RegisterResponder(http.MethodGet, testBase+"/api/database/resource/lookup/table/", lr.responder(t,
		httpmock.NewStringResponder(503, `{"detail": "busy"}`),
		httpmock.NewStringResponder(200, `{"table_id": 9, "table_name": "deals", "schema_name": "s"}`)))
	res, err := s.ResolveTable(context.Background(), TableName{Schema: "s", Table: "deals"})
	require.NoError(t, err)
	assert.Equal(t, ID(9), res.TableID)
	bodies := lr.seen()
	require.Len(t, bodies, 2)
	assert.Equal(t, bodies[0], bodies[1], "the retry sends the same body")
	assert.JSONEq(t, withKeys(t, map[string]any{"schema_name": "s", "table_name": "deals"}), bodies[1])
}

func TestResolveTableNotFound(t *testing.T) {
	t.Parallel()
	s, mt := mockTenant(t)
	var n atomic.Int32
	mt.RegisterResponder(http.MethodGet, testBase+"/api/database/resource/lookup/table/", sequence(&n,
		httpmock.NewStringResponder(404, `{"detail": "Not found."}`),
		httpmock.NewStringResponder(200, `{"table_id": null, "table_name": null}`)))
	_, err := s.ResolveTable(context.Background(), TableName{Database: "dw", Schema: "s", Table: "nope"})
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	assert.ErrorIs(t, err, ErrNotFound)
	assert.Equal(t, int32(1), n.Load(), "a 404 is an answer, not retried")
	_, err = s.ResolveTable(context.Background(), TableName{Schema: "s", Table: "nope"})
	assert.ErrorIs(t, err, ErrNotFound, "a 200 without a table id finds nothing")
	assert.Contains(t, err.Error(), `"s"."nope"`)
}

func TestTableNameQuotesEveryPart(t *testing.T) {
	t.Parallel()
	assert.Equal(t, `"dw_1"."pipedrive_c7"."deals"`, TableName{Database: "dw_1", Schema: "pipedrive_c7", Table: "deals"}.String())
	assert.Equal(t, `"s"."a""; DROP"`, TableName{Schema: "s", Table: `a"; DROP`}.String())
	assert.Equal(t, `"two words.dot"`, QuoteIdentifier("two words.dot"))
	assert.Equal(t, `""""`, QuoteIdentifier(`"`))
	assert.Equal(t, `"select"`, QuoteIdentifier("select"))
}

func TestRowsByNameRefusesBeforeAnyRequest(t *testing.T) {
	t.Parallel()
	s, mt := mockTenant(t)
	ctx := context.Background()
	for name, seq := range map[string]func(func(Row, error) bool){
		"no schema":  s.RowsByName(ctx, TableName{Table: "t"}, nil),
		"bad size":   s.RowsByName(ctx, TableName{Schema: "s", Table: "t"}, &RowsOptions{Size: MaxRowsPageSize + 1}),
		"nil ctx":    s.RowsByName(nil, TableName{Schema: "s", Table: "t"}, nil), //nolint:staticcheck // the nil ctx is the point
		"nil client": (*SubAccountClient)(nil).RowsByName(ctx, TableName{Schema: "s", Table: "t"}, nil),
		"as, no name": func(yield func(Row, error) bool) {
			for _, err := range RowsAsByName[map[string]any](ctx, s, TableName{}, nil) {
				yield(nil, err)
				return
			}
		},
	} {
		var errs []error
		for _, err := range seq {
			errs = append(errs, err)
		}
		require.Len(t, errs, 1, name)
		assert.ErrorIs(t, errs[0], ErrInvalidArgument, name)
	}
	assert.Zero(t, mt.GetTotalCallCount())
}

func TestRowsByNameResolvesThenStreams(t *testing.T) {
	t.Parallel()
	s, mt := mockTenant(t)
	lr := &lookupRecorder{}
	mt.RegisterResponder(http.MethodGet, testBase+"/api/database/resource/lookup/table/", lr.responder(t,
		httpmock.NewStringResponder(200, `{"table_id": "42", "table_name": "deals"}`)))
	var pages atomic.Int32
	mt.RegisterResponder(http.MethodGet, testBase+"/api/database/rows/table/42/", func(r *http.Request) (*http.Response, error) {
		pages.Add(1)
		assert.Equal(t, "2", r.URL.Query().Get("size"))
		if r.URL.Query().Get("page") == "2" {
			return httpmock.NewStringResponse(200, `{"count": 3, "next": null, "results": [{"id": 3, "amount": 30}]}`), nil
		}
		return httpmock.NewStringResponse(200, `{"count": 3, "next": "x?page=2", "results": [{"id": 1, "amount": 10}, {"id": 2, "amount": 20}]}`), nil
	})
	type deal struct {
		ID     int `json:"id"`
		Amount int `json:"amount"`
	}
	var got []deal
	for d, err := range RowsAsByName[deal](context.Background(), s, TableName{Database: "dw_1", Schema: "s", Table: "deals"}, &RowsOptions{Size: 2}) {
		require.NoError(t, err)
		got = append(got, d)
	}
	assert.Equal(t, []deal{{1, 10}, {2, 20}, {3, 30}}, got)
	assert.Equal(t, int32(2), pages.Load())
	require.Len(t, lr.seen(), 1)
	assert.JSONEq(t, withKeys(t, map[string]any{"database_name": "dw_1", "schema_name": "s", "table_name": "deals"}), lr.seen()[0])

	// A missing table ends the loop with the not-found, before any rows request.
	mt.RegisterResponder(http.MethodGet, testBase+"/api/database/resource/lookup/table/", httpmock.NewStringResponder(404, `{"detail": "Not found."}`))
	var errs []error
	for _, err := range s.RowsByName(context.Background(), TableName{Schema: "s", Table: "gone"}, nil) {
		errs = append(errs, err)
	}
	require.Len(t, errs, 1)
	assert.True(t, errors.Is(errs[0], ErrNotFound))
	assert.Equal(t, int32(2), pages.Load())
}

func TestServerDecodesTargetAndTargetSchema(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]struct {
		target ID
		schema *TargetSchema
	}{
		`{"id": 1, "target": 5, "target_schema": {"schema_name": "hubspot_c1"}}`:      {5, &TargetSchema{SchemaName: "hubspot_c1"}},
		`{"id": 1, "target": "5", "target_schema": {"schema_name": "x", "id": "12"}}`: {5, &TargetSchema{SchemaName: "x", ID: 12}},
		`{"id": 1, "target": {"id": 6, "name": "dw"}, "target_schema": "crm"}`:        {6, &TargetSchema{SchemaName: "crm"}},
		`{"id": 1}`: {0, nil},
		`{"id": 1, "target": null, "target_schema": null}`:                           {0, nil},
		`{"id": 1, "target": "dw", "target_schema": {}}`:                             {0, nil},
		`{"id": 1, "target": [1], "target_schema": [1]}`:                             {0, nil},
		`{"id": 1, "target": -3, "target_schema": {"schema_name": null, "id": -2}}`:  {0, nil},
		`{"id": 1, "target_schema": {"name": "legacy"}}`:                             {0, &TargetSchema{SchemaName: "legacy"}},
		`{"id": 1, "target_schema": 12}`:                                             {0, nil},
		`{"id": 1, "target_schema": {"schema_name": {"odd": true}}, "target": true}`: {0, &TargetSchema{SchemaName: `{"odd":true}`}},
	} {
		var s Server
		require.NoError(t, json.Unmarshal([]byte(raw), &s), raw)
		assert.Equal(t, want.target, s.Target, raw)
		assert.Equal(t, want.schema, s.TargetSchema, raw)
		assert.Equal(t, ID(1), s.ID, raw)
	}
}
