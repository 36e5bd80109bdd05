package peliqan

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	lookupSchemaPath   = "/api/database/resource/lookup/schema/"
	lookupDatabasePath = "/api/database/resource/lookup/database/"
	databasesJSON      = `[
	  {"id": 3, "name": "dw_1",
	   "schemas": [{"id": 10, "name": "public"}, {"id": 11, "name": "pipedrive_c7"}, {"id": 12, "name": "crm"}],
	   "tables": [{"id": 100, "name": "deals", "schema_id": 11}, {"id": 101, "name": "contacts", "schema_id": 11},
	              {"id": 102, "name": "other", "schema_id": 12}]},
	  {"id": 4, "name": "archive", "schemas": [{"id": 20, "name": "crm"}], "tables": []}
	]`
)

// dataMock answers the routes ConnectionTables may use and counts them.
type dataMock struct {
	schema, database, servers, dbs atomic.Int32
}

func (m *dataMock) register(t *testing.T, mt *httpmock.MockTransport, schema, database httpmock.Responder, servers string) {
	t.Helper()
	mt.RegisterResponder(http.MethodGet, testBase+lookupSchemaPath, func(r *http.Request) (*http.Response, error) {
		m.schema.Add(1)
		return schema(r)
	})
	if database != nil {
		mt.RegisterResponder(http.MethodGet, testBase+lookupDatabasePath, func(r *http.Request) (*http.Response, error) {
			m.database.Add(1)
			return database(r)
		})
	}
	mt.RegisterResponder(http.MethodGet, testBase+"/api/servers/", func(*http.Request) (*http.Response, error) {
		m.servers.Add(1)
		return httpmock.NewStringResponse(200, servers), nil
	})
	mt.RegisterResponder(http.MethodGet, testBase+"/api/applications/", func(r *http.Request) (*http.Response, error) {
		m.dbs.Add(1)
		assert.Empty(t, r.URL.Query().Get("exclude_tables"), "tables are asked for")
		return httpmock.NewStringResponse(200, databasesJSON), nil
	})
}

func TestConnectionTablesAsksTheLookupFirst(t *testing.T) {
	t.Parallel()
	s, mt := mockTenant(t)
	var m dataMock
	m.register(t, mt, httpmock.NewStringResponder(200,
		`{"connection_id": 7, "connection_name": "CRM", "database_id": 3, "database_name": "dw_1", "schema_id": 11, "schema_name": "pipedrive_c7"}`),
		nil, `[]`)
	d, err := s.ConnectionTables(context.Background(), 7)
	require.NoError(t, err)
	assert.Equal(t, &ConnectionData{ServerID: 7, LocatedBy: LocatedByLookup, DatabaseID: 3, DatabaseName: "dw_1",
		SchemaID: 11, SchemaName: "pipedrive_c7",
		Tables: []TableRef{{ID: 101, Name: "contacts", SchemaID: 11}, {ID: 100, Name: "deals", SchemaID: 11}}}, d)
	assert.Equal(t, TableName{Database: "dw_1", Schema: "pipedrive_c7", Table: "deals"}, d.TableName("deals"))
	assert.Equal(t, [4]int32{1, 0, 0, 1}, [4]int32{m.schema.Load(), m.database.Load(), m.servers.Load(), m.dbs.Load()})
}

// A schema answer without its database asks the database lookup too; a
// schema named only by name is matched in that database.
func TestConnectionTablesCompletesTheSchemaAnswer(t *testing.T) {
	t.Parallel()
	s, mt := mockTenant(t)
	var m dataMock
	m.register(t, mt, httpmock.NewStringResponder(200, `{"connection_id": 7, "schema_name": "crm"}`),
		httpmock.NewStringResponder(200, `{"connection_id": 7, "database_id": "4", "database_name": "archive"}`), `[]`)
	d, err := s.ConnectionTables(context.Background(), 7)
	require.NoError(t, err)
	assert.Equal(t, LocatedByLookup, d.LocatedBy)
	assert.Equal(t, ID(4), d.DatabaseID)
	assert.Equal(t, ID(20), d.SchemaID, "crm of archive, not crm of dw_1")
	assert.Empty(t, d.Tables)
	assert.NotNil(t, d.Tables)
	assert.Equal(t, int32(1), m.database.Load())
}

func TestConnectionTablesFallsBackOnTargetSchema(t *testing.T) {
	t.Parallel()
	for name, refusal := range map[string]httpmock.Responder{
		"404 JSON":         httpmock.NewStringResponder(404, `{"detail": "Not found."}`),
		"404 HTML":         httpmock.NewStringResponder(404, `<html><title>Not Found</title></html>`),
		"405":              httpmock.NewStringResponder(405, `{"detail": "Method \"GET\" not allowed."}`),
		"400":              httpmock.NewStringResponder(400, `{"connection_id": ["unknown key"]}`),
		"200 without one":  httpmock.NewStringResponder(200, `{"connection_id": 7, "schema_id": null, "schema_name": null}`),
		"501 not a lookup": httpmock.NewStringResponder(501, `{"detail": "no"}`),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, mt := mockTenant(t)
			var m dataMock
			m.register(t, mt, refusal, nil,
				`[{"id": 5, "name": "Other"}, {"id": 7, "name": "CRM", "target": 2, "target_schema": {"schema_name": "pipedrive_c7"}}]`)
			d, err := s.ConnectionTables(context.Background(), 7)
			require.NoError(t, err)
			assert.Equal(t, LocatedByTargetSchema, d.LocatedBy)
			assert.Equal(t, ID(3), d.DatabaseID)
			assert.Equal(t, "dw_1", d.DatabaseName)
			assert.Equal(t, ID(11), d.SchemaID)
			assert.Len(t, d.Tables, 2)
			assert.Equal(t, int32(1), m.schema.Load(), "a refusal is an answer: not retried")
		})
	}
}

func TestConnectionTablesNeverGuesses(t *testing.T) {
	t.Parallel()
	notFound := httpmock.NewStringResponder(404, `{"detail": "Not found."}`)
	for name, tc := range map[string]struct {
		servers, reason string
	}{
		// The connection is named "crm" and a schema "crm" exists: still no
		// answer, because nothing says its data is there.
		"no target_schema":    {`[{"id": 7, "name": "crm"}]`, "sends no target_schema"},
		"unknown connection":  {`[{"id": 8, "name": "crm"}]`, "no connection has this id"},
		"schema nowhere":      {`[{"id": 7, "name": "crm", "target_schema": {"schema_name": "hubspot_c7"}}]`, `no database has its target_schema "hubspot_c7"`},
		"schema in two bases": {`[{"id": 7, "name": "x", "target_schema": {"schema_name": "crm"}}]`, `is in several databases ("dw_1", "archive")`},
	} {
		s, mt := mockTenant(t)
		var m dataMock
		m.register(t, mt, notFound, nil, tc.servers)
		_, err := s.ConnectionTables(context.Background(), 7)
		var cde *ConnectionDataError
		require.ErrorAs(t, err, &cde, name)
		assert.ErrorIs(t, err, ErrConnectionDataNotFound, name)
		assert.ErrorIs(t, err, ErrNotFound, name)
		assert.Equal(t, ID(7), cde.ServerID)
		assert.Contains(t, cde.Reason, tc.reason, name)
		assert.Contains(t, cde.Reason, "the schema lookup refused (404)", name)
		assert.ErrorIs(t, cde.Lookup, ErrNotFound, name)
	}
}

// Failures that are not "no answer here" are returned as they are, without
// a fallback that could hide them.
func TestConnectionTablesReturnsOtherFailures(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		r    httpmock.Responder
		want error
	}{
		"5xx after retries": {httpmock.NewStringResponder(503, `{"detail": "busy"}`), ErrServer},
		"token refused":     {httpmock.NewStringResponder(401, `{"detail": "Signature has expired."}`), ErrUnauthorized},
		"not JSON":          {httpmock.NewStringResponder(200, `<html>`), ErrMalformedResponse},
		"transport":         {httpmock.NewErrorResponder(errors.New("connection refused")), nil},
	} {
		s, mt := mockTenant(t)
		var m dataMock
		m.register(t, mt, tc.r, nil, `[{"id": 7, "target_schema": {"schema_name": "pipedrive_c7"}}]`)
		_, err := s.ConnectionTables(context.Background(), 7)
		require.Error(t, err, name)
		if tc.want != nil {
			assert.ErrorIs(t, err, tc.want, name)
		}
		assert.NotErrorIs(t, err, ErrConnectionDataNotFound, name)
		assert.Zero(t, m.servers.Load(), name)
	}
	s, mt := mockTenant(t)
	_, err := s.ConnectionTables(context.Background(), 0)
	assert.ErrorIs(t, err, ErrInvalidArgument)
	_, err = s.ConnectionTables(nil, 7) //nolint:staticcheck // the nil ctx is the point
	assert.ErrorIs(t, err, ErrInvalidArgument)
	assert.Zero(t, mt.GetTotalCallCount())
}

// A lookup that names a schema the databases listing does not show is a
// not-found, not an empty answer.
func TestConnectionTablesLookupInconsistentWithListing(t *testing.T) {
	t.Parallel()
	s, mt := mockTenant(t)
	var m dataMock
	m.register(t, mt, httpmock.NewStringResponder(200, `{"database_id": 3, "database_name": "dw_1", "schema_id": 99, "schema_name": "gone"}`), nil, `[]`)
	_, err := s.ConnectionTables(context.Background(), 7)
	var cde *ConnectionDataError
	require.ErrorAs(t, err, &cde)
	assert.Contains(t, cde.Reason, `schema "gone" (id 99) in database "dw_1" (id 3)`)
	assert.Zero(t, m.servers.Load(), "the lookup answered: no fallback")
}
