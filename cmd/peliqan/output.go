package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/peliqan-community/peliqan-go"
)

// Output formats of --output. Every command that prints records accepts
// table, json and csv; fleet health also html.
const (
	formatTable = "table"
	formatJSON  = "json"
	formatCSV   = "csv"
	formatHTML  = "html"
)

// column is one field of a command's records: Name is its stable name in
// JSON and CSV (the table shows it upper-cased), Value its typed value.
type column[T any] struct {
	Name  string
	Value func(T) any
}

// fieldNames lists cols' names for a command's help text.
func fieldNames[T any](cols []column[T]) string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	return strings.Join(names, ", ")
}

// writeList prints items in format f: an aligned table with a header, a
// JSON array of objects (keys in column order), or CSV with a header row.
func writeList[T any](w io.Writer, f string, cols []column[T], items []T) error {
	return writeRecords(w, f, cols, items, false)
}

// writeRecords is writeList; keepNames keeps the columns' names as the
// table's header instead of upper-casing them (query results).
func writeRecords[T any](w io.Writer, f string, cols []column[T], items []T, keepNames bool) error {
	switch f {
	case formatJSON:
		var b bytes.Buffer
		if len(items) == 0 {
			b.WriteString("[]\n")
			_, err := w.Write(b.Bytes())
			return err
		}
		b.WriteString("[\n")
		for i, it := range items {
			b.WriteString("  ")
			if err := writeObject(&b, cols, it); err != nil {
				return err
			}
			if i < len(items)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString("]\n")
		_, err := w.Write(b.Bytes())
		return err
	case formatCSV:
		cw := csv.NewWriter(w)
		header := make([]string, len(cols))
		for i, c := range cols {
			header[i] = c.Name
		}
		if err := cw.Write(header); err != nil {
			return err
		}
		for _, it := range items {
			rec := make([]string, len(cols))
			for i, c := range cols {
				rec[i] = cellText(c.Value(it))
			}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	default:
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		header := make([]string, len(cols))
		for i, c := range cols {
			header[i] = c.Name
			if !keepNames {
				header[i] = strings.ToUpper(c.Name)
			}
		}
		fmt.Fprintln(tw, strings.Join(header, "\t"))
		for _, it := range items {
			cells := make([]string, len(cols))
			for i, c := range cols {
				cells[i] = tableCell(c.Value(it))
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
		}
		return tw.Flush()
	}
}

// writeOne prints one record: "name: value" lines for a table, a JSON
// object, or CSV with a header row.
func writeOne[T any](w io.Writer, f string, cols []column[T], item T) error {
	switch f {
	case formatJSON:
		var b bytes.Buffer
		if err := writeObject(&b, cols, item); err != nil {
			return err
		}
		b.WriteByte('\n')
		_, err := w.Write(b.Bytes())
		return err
	case formatCSV:
		return writeList(w, f, cols, []T{item})
	default:
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, c := range cols {
			fmt.Fprintf(tw, "%s:\t%s\n", c.Name, tableCell(c.Value(item)))
		}
		return tw.Flush()
	}
}

// writeObject writes one JSON object with cols' names as keys, in order.
func writeObject[T any](b *bytes.Buffer, cols []column[T], it T) error {
	b.WriteByte('{')
	for i, c := range cols {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(c.Name)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(jsonValue(c.Value(it)))
		if err != nil {
			return fmt.Errorf("field %s: %w", c.Name, err)
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return nil
}

// jsonValue maps the values records carry to their JSON form: zero times
// and nil dates become null, times are RFC 3339 in UTC.
func jsonValue(v any) any {
	switch x := v.(type) {
	case time.Time:
		if x.IsZero() {
			return nil
		}
		return x.UTC().Format(time.RFC3339)
	case *peliqan.Date:
		if x == nil || x.IsZero() {
			return nil
		}
		return x.String()
	case peliqan.ID:
		return int64(x)
	case error:
		if x == nil {
			return nil
		}
		return x.Error()
	}
	return v
}

// cellText is a value's text in CSV: "" for null.
func cellText(v any) string {
	switch x := jsonValue(v).(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case json.Number:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		switch rv := reflect.ValueOf(x); rv.Kind() {
		case reflect.String: // HealthStatus, Verdict, RunStatus, ...
			return rv.String()
		case reflect.Int, reflect.Int32, reflect.Int64:
			return strconv.FormatInt(rv.Int(), 10)
		}
		b, err := json.Marshal(x)
		if err != nil {
			return fmt.Sprint(x)
		}
		return string(b)
	}
}

// tableCell is a value's text in a table: "-" for null or empty, on one
// line, with control characters (a customer name carrying a terminal
// escape sequence, say) made visible instead of sent to the terminal.
func tableCell(v any) string {
	s := cellText(v)
	if s == "" {
		return "-"
	}
	return sanitize(s)
}

// sanitize replaces tabs and newlines with spaces and every other control
// character with its \x escape.
func sanitize(s string) string {
	clean := true
	for _, r := range s {
		if unicode.IsControl(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			b.WriteByte(' ')
		case unicode.IsControl(r):
			fmt.Fprintf(&b, "\\x%02x", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// masked is what a token looks like without --reveal.
const masked = "[masked: --reveal to show]"

// tokenText returns tok, or the masked placeholder unless reveal.
func tokenText(tok string, reveal bool) string {
	if reveal {
		return tok
	}
	if tok == "" {
		return ""
	}
	return masked
}
