package peliqan

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/peliqan-community/peliqan-go/internal/routes"
)

// LookupKeys say what a lookup asks about: any mix of the ids and names of
// a connection, database, schema, table and field. The zero value of a key
// means "not asked"; it is sent as null, as Peliqan's own client sends it
// (its find_connection, find_database, find_schema and find_table_or_field
// send every key). Names are matched exactly.
type LookupKeys struct {
	ConnectionID   ID
	ConnectionName string
	DatabaseID     ID
	DatabaseName   string
	SchemaID       ID
	SchemaName     string
	TableID        ID
	TableName      string
	FieldID        ID
	FieldName      string
}

// Resource is what a lookup answers: one flat record with the keys of the
// match filled in (those that do not apply are zero), plus the field's
// physical (warehouse column) name when a field was asked about.
type Resource struct {
	LookupKeys
	FieldPhysicalName string
}

// UnmarshalJSON reads a lookup answer tolerantly: ids as numbers or
// numeric strings, null for any key.
func (r *Resource) UnmarshalJSON(b []byte) error {
	var w struct {
		ConnectionID      ID       `json:"connection_id"`
		ConnectionName    svString `json:"connection_name"`
		DatabaseID        ID       `json:"database_id"`
		DatabaseName      svString `json:"database_name"`
		SchemaID          ID       `json:"schema_id"`
		SchemaName        svString `json:"schema_name"`
		TableID           ID       `json:"table_id"`
		TableName         svString `json:"table_name"`
		FieldID           ID       `json:"field_id"`
		FieldName         svString `json:"field_name"`
		FieldPhysicalName svString `json:"field_physical_name"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*r = Resource{LookupKeys: LookupKeys{
		ConnectionID: w.ConnectionID, ConnectionName: string(w.ConnectionName),
		DatabaseID: w.DatabaseID, DatabaseName: string(w.DatabaseName),
		SchemaID: w.SchemaID, SchemaName: string(w.SchemaName),
		TableID: w.TableID, TableName: string(w.TableName),
		FieldID: w.FieldID, FieldName: string(w.FieldName),
	}, FieldPhysicalName: string(w.FieldPhysicalName)}
	return nil
}

// lookupBody is the wire form of LookupKeys: every key, null when unset.
type lookupBody struct {
	ConnectionID   *ID     `json:"connection_id"`
	ConnectionName *string `json:"connection_name"`
	DatabaseID     *ID     `json:"database_id"`
	DatabaseName   *string `json:"database_name"`
	SchemaID       *ID     `json:"schema_id"`
	SchemaName     *string `json:"schema_name"`
	TableID        *ID     `json:"table_id"`
	TableName      *string `json:"table_name"`
	FieldID        *ID     `json:"field_id"`
	FieldName      *string `json:"field_name"`
}

func (k LookupKeys) body() (*lookupBody, error) {
	var b lookupBody
	id := func(name string, v ID, dst **ID) error {
		switch {
		case v < 0:
			return invalidArg(name, "must be a positive id (got %d)", int64(v))
		case v > 0:
			*dst = &v
		}
		return nil
	}
	str := func(name, v string, dst **string) error {
		switch {
		case v == "":
		case strings.TrimSpace(v) == "":
			return invalidArg(name, "is blank")
		case strings.ContainsRune(v, 0):
			return invalidArg(name, "contains a NUL byte")
		default:
			*dst = &v
		}
		return nil
	}
	for _, err := range []error{
		id("ConnectionID", k.ConnectionID, &b.ConnectionID), str("ConnectionName", k.ConnectionName, &b.ConnectionName),
		id("DatabaseID", k.DatabaseID, &b.DatabaseID), str("DatabaseName", k.DatabaseName, &b.DatabaseName),
		id("SchemaID", k.SchemaID, &b.SchemaID), str("SchemaName", k.SchemaName, &b.SchemaName),
		id("TableID", k.TableID, &b.TableID), str("TableName", k.TableName, &b.TableName),
		id("FieldID", k.FieldID, &b.FieldID), str("FieldName", k.FieldName, &b.FieldName),
	} {
		if err != nil {
			return nil, err
		}
	}
	return &b, nil
}

// lookup sends one lookup route. asked says whether k names what the route
// looks up (or what narrows it); need lists those keys for the error.
func (s *SubAccountClient) lookup(ctx context.Context, route string, k LookupKeys, asked bool, need string, opts []RequestOption) (*Resource, error) {
	b, err := k.body()
	if err != nil {
		return nil, err
	}
	if !asked {
		return nil, invalidArg("LookupKeys", "set at least one of %s", need)
	}
	return doInto[Resource](ctx, s.c, &call{route: routes.MustLookup(route), body: b}, opts)
}

func (k LookupKeys) connection() bool { return k.ConnectionID != 0 || k.ConnectionName != "" }
func (k LookupKeys) database() bool   { return k.DatabaseID != 0 || k.DatabaseName != "" }
func (k LookupKeys) schema() bool     { return k.SchemaID != 0 || k.SchemaName != "" }
func (k LookupKeys) table() bool      { return k.TableID != 0 || k.TableName != "" }

// LookupConnection finds a connection by id or name (Peliqan's
// find_connection): GET /api/database/resource/lookup/connection/ with
// the keys as a JSON body. Set ConnectionID or ConnectionName.
//
// Like every lookup, it is a read: retried on transient failures, its body
// sent again identically. No match is an *APIError matching ErrNotFound.
func (s *SubAccountClient) LookupConnection(ctx context.Context, k LookupKeys, opts ...RequestOption) (*Resource, error) {
	return s.lookup(ctx, routes.LookupConnection, k, k.connection(), "ConnectionID, ConnectionName", opts)
}

// LookupDatabase finds a database (Peliqan's find_database): by its id or
// name, or, given ConnectionID or ConnectionName, the database that
// connection's data lands in (the answer then names the connection too).
// GET /api/database/resource/lookup/database/ with a JSON body; no match is
// an *APIError matching ErrNotFound.
func (s *SubAccountClient) LookupDatabase(ctx context.Context, k LookupKeys, opts ...RequestOption) (*Resource, error) {
	return s.lookup(ctx, routes.LookupDatabase, k, k.database() || k.connection(),
		"DatabaseID, DatabaseName, ConnectionID, ConnectionName", opts)
}

// LookupSchema finds a schema (Peliqan's find_schema): by its id or name
// (narrowed by the database keys), or, given ConnectionID or
// ConnectionName, the schema that connection's data lands in, with its
// database. GET /api/database/resource/lookup/schema/ with a JSON body; no
// match is an *APIError matching ErrNotFound. ConnectionTables builds on
// it.
func (s *SubAccountClient) LookupSchema(ctx context.Context, k LookupKeys, opts ...RequestOption) (*Resource, error) {
	return s.lookup(ctx, routes.LookupSchema, k, k.schema() || k.connection(),
		"SchemaID, SchemaName, ConnectionID, ConnectionName", opts)
}

// LookupTable finds a table, and one of its fields when FieldID or
// FieldName is set (Peliqan's find_table_or_field): by TableID, or by
// TableName narrowed by the schema and database keys. The answer names the
// table's schema and database (and connection, when it holds a
// connection's data). GET /api/database/resource/lookup/table/ with a JSON
// body; no match is an *APIError matching ErrNotFound. RowsByName and
// ResolveTable build on it.
func (s *SubAccountClient) LookupTable(ctx context.Context, k LookupKeys, opts ...RequestOption) (*Resource, error) {
	return s.lookup(ctx, routes.LookupTable, k, k.table(), "TableID, TableName", opts)
}
