package peliqan

import (
	"context"
	"fmt"
	"iter"
	"strings"
)

// TableName names a table by where it lives in the customer's warehouse:
// its database, schema and table names, as they appear in SQL
// (db.schema.table). It is the by-name counterpart of a table id (TableRef
// is a table as a database lists it, with its id).
//
// Get one from ConnectionData.TableName rather than building the schema
// name yourself: Peliqan generates schema names, and a connection's name
// is not its schema's.
type TableName struct {
	// Database is the database ("dw_123"); optional: without it the name is
	// looked up in any of the customer's databases.
	Database string
	// Schema is the schema the table is in; required.
	Schema string
	// Table is the table's name; required.
	Table string
}

// validate refuses a name that cannot be looked up or quoted.
func (n TableName) validate() error {
	for _, p := range []struct{ field, v string }{{"Database", n.Database}, {"Schema", n.Schema}, {"Table", n.Table}} {
		if strings.ContainsRune(p.v, 0) {
			return invalidArg("TableName."+p.field, "contains a NUL byte")
		}
		if p.v != "" && strings.TrimSpace(p.v) == "" {
			return invalidArg("TableName."+p.field, "is blank")
		}
	}
	switch {
	case n.Table == "":
		return invalidArg("TableName.Table", "is empty")
	case n.Schema == "":
		return invalidArg("TableName.Schema", "is empty")
	}
	return nil
}

// String renders the name as SQL: each part quoted with QuoteIdentifier,
// joined by dots, the database left out when empty. Every character of a
// name stays part of the name, so the result is safe to put in a query:
//
//	t.Query(ctx, "SELECT count(*) FROM "+name.String(), nil)
func (n TableName) String() string {
	parts := make([]string, 0, 3)
	for _, p := range []string{n.Database, n.Schema, n.Table} {
		if p != "" {
			parts = append(parts, QuoteIdentifier(p))
		}
	}
	return strings.Join(parts, ".")
}

// QuoteIdentifier quotes one SQL identifier (a database, schema, table or
// column name) for Peliqan's warehouse engine (Trino): it is wrapped in
// double quotes and each double quote inside is doubled, so a table named
// `a"; DROP` stays one name: "a""; DROP". Quoted identifiers keep spaces,
// dots and keywords as part of the name. A NUL byte cannot be part of an
// identifier; the engine refuses it.
func QuoteIdentifier(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// ResolveTable finds the table a TableName names with the lookup route
// (LookupTable, as Peliqan's own client's find_table_or_field does) and
// returns the match: its TableID, and the ids and names of its schema and
// database (and connection, when it holds a connection's data). No match
// matches ErrNotFound: an *APIError when the service answers 404, a
// *LookupMissError when it answers 200 without a table id.
func (s *SubAccountClient) ResolveTable(ctx context.Context, n TableName, opts ...RequestOption) (*Resource, error) {
	if err := n.validate(); err != nil {
		return nil, err
	}
	res, err := s.LookupTable(ctx, LookupKeys{DatabaseName: n.Database, SchemaName: n.Schema, TableName: n.Table}, opts...)
	if err != nil {
		return nil, err
	}
	if res.TableID <= 0 {
		return nil, &LookupMissError{What: "table " + n.String(), Missing: "table_id"}
	}
	return res, nil
}

// LookupMissError is a lookup answered 200 without the id it was asked
// for: nothing usable was found. It matches ErrNotFound.
type LookupMissError struct {
	What    string // what was looked up, e.g. `table "db"."schema"."t"`
	Missing string // the member the answer lacked, e.g. "table_id"
}

// Error names what was looked up and what the answer lacked.
func (e *LookupMissError) Error() string {
	return fmt.Sprintf("peliqan: lookup of %s answered without a %s", e.What, e.Missing)
}

// Is reports whether target is ErrNotFound.
func (e *LookupMissError) Is(target error) bool { return target == ErrNotFound }

// RowsByName streams the rows of the table a TableName names: it resolves
// the table's id with the lookup route (ResolveTable), then streams its
// rows exactly as Rows does, page after page through the rows route, in
// constant memory (never through a SQL query that answers one unpaged
// body). o may be nil for the defaults; opts apply to every request.
//
// Nothing is sent until the loop starts. An invalid name or option is
// yielded as ErrInvalidArgument before any request; a table that does not
// exist as an error matching ErrNotFound; then Rows' own errors.
func (s *SubAccountClient) RowsByName(ctx context.Context, n TableName, o *RowsOptions, opts ...RequestOption) iter.Seq2[Row, error] {
	return rowsByName(ctx, s, n, o, opts, func(id ID, ro RowsOptions) iter.Seq2[Row, error] {
		return s.Rows(ctx, id, &ro, opts...)
	})
}

// RowsAsByName is RowsByName decoding each row into a T, as RowsAs does.
func RowsAsByName[T any](ctx context.Context, s *SubAccountClient, n TableName, o *RowsOptions, opts ...RequestOption) iter.Seq2[T, error] {
	return rowsByName(ctx, s, n, o, opts, func(id ID, ro RowsOptions) iter.Seq2[T, error] {
		return RowsAs[T](ctx, s, id, &ro, opts...)
	})
}

func rowsByName[T any](ctx context.Context, s *SubAccountClient, n TableName, o *RowsOptions, opts []RequestOption,
	stream func(ID, RowsOptions) iter.Seq2[T, error]) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		if s == nil {
			yield(zero, invalidArg("client", "nil *SubAccountClient"))
			return
		}
		var ro RowsOptions
		if o != nil {
			ro = *o
		}
		if _, err := ro.query(); err != nil {
			yield(zero, err) // before the lookup: no request for a bad option
			return
		}
		res, err := s.ResolveTable(ctx, n, opts...)
		if err != nil {
			yield(zero, err)
			return
		}
		for v, err := range stream(res.TableID, ro) {
			if !yield(v, err) {
				return
			}
		}
	}
}
