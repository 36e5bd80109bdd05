package peliqan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

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
	// ScanQuery reads the records from here.
	Rows [][]any
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
	cl := &call{route: route, body: body, resp: resp, decode: func(b []byte) error {
		// One decoder for the whole answer: numbers stay exact (UseNumber)
		// without a decoder per cell.
		var w struct {
			Records [][]any         `json:"records"`
			Columns []Column        `json:"columns"`
			Error   json.RawMessage `json:"error"`
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&w); err != nil {
			return err
		}
		if _, err := dec.Token(); err != io.EOF { // as json.Unmarshal: nothing may follow
			return errors.New("invalid data after the answer")
		}
		if msg := queryErrorMessage(w.Error); msg != "" {
			errMsg = msg
			return nil
		}
		res = &QueryResult{Columns: w.Columns, Rows: w.Records}
		if res.Columns == nil {
			res.Columns = []Column{}
		}
		if res.Rows == nil {
			res.Rows = [][]any{}
		}
		for i, row := range res.Rows {
			if row == nil {
				res.Rows[i] = []any{} // a null record: a record with no values
			}
		}
		return nil
	}}
	if err := s.c.do(ctx, cl, opts); err != nil {
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
// string, or an object with a message. The values Python reads as false
// (null, "", false, 0, {} and []) mean no error, as in Peliqan's own client.
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
	case '0', '-':
		var f float64
		if json.Unmarshal(raw, &f) == nil && f == 0 {
			return ""
		}
	case 'n', 'f', '[':
		var list []json.RawMessage
		if raw[0] != '[' || (json.Unmarshal(raw, &list) == nil && len(list) == 0) {
			return ""
		}
	}
	return string(raw)
}

// ScanQuery decodes each record of res.Rows into a T, matching columns to
// T's fields by name as encoding/json does (json tags, case-insensitive). A
// T of map[string]any gets every column. Each value is decoded from its
// JSON form (numbers exactly as the server sent them), so a field of type
// json.RawMessage gets that value re-encoded, not the server's bytes.
func ScanQuery[T any](res *QueryResult) ([]T, error) {
	if res == nil {
		return nil, invalidArg("res", "nil *QueryResult")
	}
	out := make([]T, len(res.Rows))
	names := make([][]byte, len(res.Columns))
	for i, c := range res.Columns {
		names[i], _ = json.Marshal(c.Name)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i, rec := range res.Rows {
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
			if err := appendJSONValue(&buf, enc, v); err != nil {
				return nil, fmt.Errorf("peliqan: query record %d, column %q: %w", i, res.Columns[j].Name, err)
			}
		}
		buf.WriteByte('}')
		if err := json.Unmarshal(buf.Bytes(), &out[i]); err != nil {
			return nil, fmt.Errorf("peliqan: query record %d: %w", i, err)
		}
	}
	return out, nil
}

// appendJSONValue writes v as JSON: the cell types the decoder produces
// directly, anything else through enc (which ends it with a newline: JSON
// whitespace).
func appendJSONValue(buf *bytes.Buffer, enc *json.Encoder, v any) error {
	switch v := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		if v {
			buf.WriteString("true")
		} else {
			buf.WriteString("false")
		}
	case json.Number:
		if !isJSONNumber(string(v)) {
			return enc.Encode(v) // encoding/json's error for it
		}
		buf.WriteString(string(v))
	case string:
		for i := 0; i < len(v); i++ {
			if c := v[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
				return enc.Encode(v) // escapes and UTF-8 handled by encoding/json
			}
		}
		buf.WriteByte('"')
		buf.WriteString(v)
		buf.WriteByte('"')
	default:
		return enc.Encode(v)
	}
	return nil
}

// isJSONNumber reports whether s is a JSON number literal
// (-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?).
func isJSONNumber(s string) bool {
	digits := func(i int) int { // index after the digits from i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i
	}
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		i = digits(i)
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return false
		}
		i = j
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return false
		}
		i = j
	}
	return i == len(s)
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
