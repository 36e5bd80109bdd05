package peliqan

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/peliqan-community/peliqan-go/internal/routes"
)

// QueryOptions tunes Query.
type QueryOptions struct {
	// Database and Schema, when set, are sent as db_name and schema_name
	// beside the query, as Peliqan's own client does; the service uses them
	// to resolve unqualified table names (inferred). Leave them empty and
	// qualify names in the SQL ("db"."schema"."table") to be sure.
	Database string
	Schema   string
}

// Column is one column of a query result.
type Column struct {
	Name string
	// Type is the warehouse's type name (e.g. "varchar", "bigint").
	Type string
}

// UnmarshalJSON reads a column sent as [name, type] (the service's form) or
// as {"name", "type"}.
func (c *Column) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		var o struct {
			Name string `json:"name"`
			Type string `json:"type"`
		}
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		c.Name, c.Type = o.Name, o.Type
		return nil
	}
	var pair []json.RawMessage
	if err := json.Unmarshal(b, &pair); err != nil {
		return err
	}
	if len(pair) == 0 {
		return fmt.Errorf("peliqan: empty column")
	}
	if err := json.Unmarshal(pair[0], &c.Name); err != nil {
		return fmt.Errorf("peliqan: column name: %w", err)
	}
	if len(pair) > 1 {
		var t any
		if err := json.Unmarshal(pair[1], &t); err != nil {
			return err
		}
		if t != nil {
			c.Type = fmt.Sprint(t)
		}
	}
	return nil
}

// QueryResult is the answer to a SQL query.
type QueryResult struct {
	Columns []Column
	// Rows holds one []any per record, in column order; numbers are
	// json.Number (exact), the rest as encoding/json decodes them.
	Rows [][]any

	raw [][]json.RawMessage
}

// Query runs a SQL query on the customer's warehouse (Peliqan's Trino
// records endpoint) and returns the columns and every record. The service
// answers a failing query (a syntax error, an unknown table) with 200 and an
// "error" member: that comes back as a *QueryError with the service's
// message, matching ErrValidation. HTTP failures are *APIError as
// everywhere else.
//
// The whole result is read into memory (capped by WithMaxResponseBytes):
// use Rows to stream a large table.
func (s *SubAccountClient) Query(ctx context.Context, sql string, o *QueryOptions, opts ...RequestOption) (*QueryResult, error) {
	opt := optionsOr(o)
	if strings.TrimSpace(sql) == "" {
		return nil, invalidArg("sql", "is empty")
	}
	body := struct {
		Query    string `json:"query"`
		Database string `json:"db_name,omitempty"`
		Schema   string `json:"schema_name,omitempty"`
	}{sql, opt.Database, opt.Schema}
	route := routes.MustLookup(routes.Query)
	var (
		res    *QueryResult
		errMsg string
	)
	resp := new(Response)
	cl := &call{route: route, body: body, decode: func(b []byte) error {
		var w struct {
			Records [][]json.RawMessage `json:"records"`
			Columns []Column            `json:"columns"`
			Error   json.RawMessage     `json:"error"`
		}
		if err := json.Unmarshal(b, &w); err != nil {
			return err
		}
		if msg := queryErrorMessage(w.Error); msg != "" {
			errMsg = msg
			return nil
		}
		res = &QueryResult{Columns: w.Columns, raw: w.Records, Rows: make([][]any, len(w.Records))}
		if res.Columns == nil {
			res.Columns = []Column{}
		}
		for i, rec := range w.Records {
			row := make([]any, len(rec))
			for j, v := range rec {
				dec := json.NewDecoder(bytes.NewReader(v))
				dec.UseNumber()
				if err := dec.Decode(&row[j]); err != nil {
					return fmt.Errorf("record %d, column %d: %w", i, j, err)
				}
			}
			res.Rows[i] = row
		}
		return nil
	}}
	if err := s.c.do(ctx, cl, append(opts[:len(opts):len(opts)], WithResponse(resp))); err != nil {
		return nil, err
	}
	if errMsg != "" {
		return nil, &QueryError{Message: errMsg, Attempts: resp.Attempts}
	}
	return res, nil
}

// QueryError is a query the service ran and refused: it answered 200 with
// an error message (SQL syntax, an unknown table or column). It matches
// ErrValidation: the request was not accepted, and sending it again will
// not help. The SQL itself is not kept, since it may carry values.
type QueryError struct {
	Message  string // the service's message
	Attempts int
}

// Error gives the service's message.
func (e *QueryError) Error() string { return "peliqan: query failed: " + e.Message }

// Is reports whether target is ErrValidation.
func (e *QueryError) Is(target error) bool { return target == ErrValidation }

// queryErrorMessage reads the "error" member of a records answer: a
// string, or an object with a message; null, "", false, {} and [] mean no
// error.
func queryErrorMessage(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		return strings.TrimSpace(jsonString(raw))
	case '{':
		var all map[string]json.RawMessage
		if json.Unmarshal(raw, &all) == nil && len(all) == 0 {
			return ""
		}
		var o struct {
			Message string `json:"message"`
			Detail  string `json:"detail"`
			Error   string `json:"error"`
		}
		_ = json.Unmarshal(raw, &o)
		for _, s := range []string{o.Message, o.Detail, o.Error} {
			if s != "" {
				return s
			}
		}
		return string(raw)
	case 'n', 'f', '[':
		var list []json.RawMessage
		if raw[0] != '[' || (json.Unmarshal(raw, &list) == nil && len(list) == 0) {
			return ""
		}
	}
	return string(raw)
}

// ScanQuery decodes each record of res into a T, matching columns to T's
// fields by name as encoding/json does (json tags, case-insensitive). A T
// of map[string]any gets every column.
func ScanQuery[T any](res *QueryResult) ([]T, error) {
	if res == nil {
		return nil, invalidArg("res", "nil *QueryResult")
	}
	out := make([]T, len(res.raw))
	names := make([][]byte, len(res.Columns))
	for i, c := range res.Columns {
		names[i], _ = json.Marshal(c.Name)
	}
	var buf bytes.Buffer
	for i, rec := range res.raw {
		buf.Reset()
		buf.WriteByte('{')
		for j, v := range rec {
			if j >= len(names) {
				break
			}
			if j > 0 {
				buf.WriteByte(',')
			}
			buf.Write(names[j])
			buf.WriteByte(':')
			buf.Write(v)
		}
		buf.WriteByte('}')
		if err := json.Unmarshal(buf.Bytes(), &out[i]); err != nil {
			return nil, fmt.Errorf("peliqan: query record %d: %w", i, err)
		}
	}
	return out, nil
}

// QueryAs runs Query and decodes every record into a T with ScanQuery.
func QueryAs[T any](ctx context.Context, s *SubAccountClient, sql string, o *QueryOptions, opts ...RequestOption) ([]T, error) {
	opt := optionsOr(o)
	if s == nil {
		return nil, invalidArg("client", "nil *SubAccountClient")
	}
	res, err := s.Query(ctx, sql, &opt, opts...)
	if err != nil {
		return nil, err
	}
	return ScanQuery[T](res)
}
