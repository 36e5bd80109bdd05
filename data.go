package peliqan

import (
	"context"
	"net/url"
	"strings"

	"github.com/peliqan-community/peliqan-go/internal/routes"
)

// Database is one of a customer's databases ("applications" in Peliqan's
// API): the data warehouse and each connection's synced database.
type Database struct {
	ID   ID     `json:"id"`
	Name string `json:"name"`
	// Tables and Schemas are filled only when asked for with
	// DatabaseListOptions.IncludeTables.
	Tables  []TableRef `json:"tables,omitempty"`
	Schemas []Schema   `json:"schemas,omitempty"`
}

// TableRef is a table as listed inside a database.
type TableRef struct {
	ID       ID     `json:"id"`
	Name     string `json:"name"`
	SchemaID ID     `json:"schema_id"`
}

// Schema is a schema of a database.
type Schema struct {
	ID   ID     `json:"id"`
	Name string `json:"name"`
}

// DatabaseListOptions tunes ListDatabases.
type DatabaseListOptions struct {
	// IncludeTables asks for each database's tables and schemas. Without it
	// the SDK sends exclude_tables=1, which keeps the answer small for
	// customers with many tables.
	IncludeTables bool
}

// ListDatabases lists the customer's databases ("applications").
func (s *SubAccountClient) ListDatabases(ctx context.Context, o *DatabaseListOptions, opts ...RequestOption) ([]Database, error) {
	opt := optionsOr(o)
	q := url.Values{}
	if !opt.IncludeTables {
		q.Set("exclude_tables", "1")
	}
	return listAll[Database](ctx, s.c, routes.MustLookup(routes.ListDatabases), nil, q, opts)
}

// Table describes a table of a customer's database: a synced table, or a
// query table defined by SQL.
type Table struct {
	ID         ID     `json:"id"`
	Name       string `json:"name"`
	SchemaID   ID     `json:"schema_id,omitempty"`
	DatabaseID ID     `json:"database_id,omitempty"`
	// TableType is "query" for a query table; other values are the
	// service's own.
	TableType string `json:"table_type,omitempty"`
	// Query is the SQL of a query table.
	Query string `json:"query,omitempty"`
	// Fields are the table's columns (the API's "all_fields"). GetTable
	// fills them; lists may not.
	Fields []Field `json:"all_fields,omitempty"`
}

// Field is one column of a table.
type Field struct {
	ID   ID     `json:"id,omitempty"`
	Name string `json:"name"`
	// Type is Peliqan's field type (e.g. "text", "number").
	Type string `json:"type"`
	// SQLType is the warehouse column type (the API's "sql_data_type").
	SQLType string `json:"sql_data_type"`
}

// ListTables lists the tables of one database.
func (s *SubAccountClient) ListTables(ctx context.Context, databaseID ID, opts ...RequestOption) ([]Table, error) {
	db, err := databaseID.param("database id")
	if err != nil {
		return nil, err
	}
	return listAll[Table](ctx, s.c, routes.MustLookup(routes.ListTables), []string{db}, nil, opts)
}

// GetTable returns one table with its fields.
func (s *SubAccountClient) GetTable(ctx context.Context, tableID ID, opts ...RequestOption) (*Table, error) {
	id, err := tableID.param("table id")
	if err != nil {
		return nil, err
	}
	return doInto[Table](ctx, s.c, &call{route: routes.MustLookup(routes.GetTable), params: []string{id}}, opts)
}

// QueryTable defines a query table: a table whose rows are the result of a
// SQL query over the customer's data.
type QueryTable struct {
	SchemaID ID     // the schema the table is created in; required
	Name     string // required
	Query    string // SQL; required
}

func (q QueryTable) validate() error {
	switch {
	case q.SchemaID <= 0:
		return invalidArg("SchemaID", "must be a positive id (got %d)", int64(q.SchemaID))
	case strings.TrimSpace(q.Name) == "":
		return invalidArg("Name", "is empty")
	case strings.TrimSpace(q.Query) == "":
		return invalidArg("Query", "is empty")
	}
	return nil
}

// CreateQueryTable creates a query table in a database, as Peliqan's own
// client does (POST with table_type "query"). When the server accepted the
// create but its answer cannot be decoded in full, the table exists: it
// comes back as far as it could be read (its ID first) together with a
// *DecodeError.
func (s *SubAccountClient) CreateQueryTable(ctx context.Context, databaseID ID, q QueryTable, opts ...RequestOption) (*Table, error) {
	db, err := databaseID.param("database id")
	if err != nil {
		return nil, err
	}
	if err := q.validate(); err != nil {
		return nil, err
	}
	body := struct {
		TableType string `json:"table_type"`
		SchemaID  ID     `json:"schema_id"`
		Name      string `json:"name"`
		Query     string `json:"query"`
	}{"query", q.SchemaID, q.Name, q.Query}
	return doWrite[Table](ctx, s.c, &call{route: routes.MustLookup(routes.CreateQueryTable), params: []string{db}, body: body}, opts)
}

// QueryTableUpdate changes a query table; nil fields are left as they are.
type QueryTableUpdate struct {
	Name  *string
	Query *string
}

// UpdateQueryTable changes a query table's name or SQL (PATCH on the table,
// as Peliqan's own client's update_table does) and returns the table. An
// answer that cannot be decoded in full returns what could be read beside a
// *DecodeError: the change was applied.
func (s *SubAccountClient) UpdateQueryTable(ctx context.Context, tableID ID, u QueryTableUpdate, opts ...RequestOption) (*Table, error) {
	id, err := tableID.param("table id")
	if err != nil {
		return nil, err
	}
	switch {
	case u.Name == nil && u.Query == nil:
		return nil, invalidArg("QueryTableUpdate", "changes nothing")
	case u.Name != nil && strings.TrimSpace(*u.Name) == "":
		return nil, invalidArg("Name", "is empty")
	case u.Query != nil && strings.TrimSpace(*u.Query) == "":
		return nil, invalidArg("Query", "is empty")
	}
	body := struct {
		Name  *string `json:"name,omitempty"`
		Query *string `json:"query,omitempty"`
	}{u.Name, u.Query}
	return doWrite[Table](ctx, s.c, &call{route: routes.MustLookup(routes.UpdateTable), params: []string{id}, body: body}, opts)
}

// UpdateCell sets one field of one row: the row whose primary key is pk
// (a number or a string), the field named field (its user-facing name), to
// value (anything encoding/json can encode; nil sets NULL). The service
// answers 204.
func (s *SubAccountClient) UpdateCell(ctx context.Context, tableID ID, pk any, field string, value any, opts ...RequestOption) error {
	id, err := tableID.param("table id")
	if err != nil {
		return err
	}
	switch v := pk.(type) {
	case nil:
		return invalidArg("pk", "is nil")
	case string:
		if strings.TrimSpace(v) == "" {
			return invalidArg("pk", "is empty")
		}
	}
	if strings.TrimSpace(field) == "" {
		return invalidArg("field", "is empty")
	}
	body := struct {
		PK   any            `json:"pk"`
		Data map[string]any `json:"data"`
	}{pk, map[string]any{field: value}}
	return s.c.do(ctx, &call{route: routes.MustLookup(routes.UpdateCell), params: []string{id}, body: body}, opts)
}
