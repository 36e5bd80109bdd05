package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/peliqan-community/peliqan-go"
	"github.com/spf13/cobra"
)

// Data formats of "rows export".
const (
	dataCSV   = "csv"
	dataJSONL = "jsonl"
)

func (a *app) rowsCommand() *cobra.Command {
	var (
		customer, table, file, format string
		tableID, connection           string
		pageSize, limit               int
	)
	export := a.leaf(&cobra.Command{
		Use:   "export --customer CUSTOMER (--table-id ID | --connection ID --table NAME | --table SCHEMA.TABLE)",
		Short: "Stream a table's rows as CSV or JSON Lines, to stdout or a file",
		Long: `Stream every row of a table, page after page, as JSON Lines (one object a
line, the API's field names as keys; the default) or CSV (a header row of
the table's fields). Memory stays flat whatever the table's size. A row
counter is shown on a terminal; a summary goes to stderr.

Name the table by its id (--table-id), by a connection and the table's
name there (--connection ID --table NAME: where the connection's data is
is asked of Peliqan, see "connections tables"), or by its name in the
warehouse (--table schema.table or database.schema.table).

With --file, rows go to a temporary file renamed to FILE only when the
export is complete: an interrupted or failed export leaves no FILE behind
(an existing FILE is left as it was).`,
		Annotations: map[string]string{annotFormats: formatTable},
	}, func(ctx context.Context, cmd *cobra.Command, args []string) error {
		if cmd.Flags().Changed("output") {
			return usageErrorf("rows export writes data, not a report: choose it with --format csv or jsonl")
		}
		if format != dataCSV && format != dataJSONL {
			return usageErrorf("--format %q: want csv or jsonl", format)
		}
		if limit < 0 {
			return usageErrorf("--limit must not be negative")
		}
		if pageSize < 0 || pageSize > 1000 {
			return usageErrorf("--page-size must be 1..1000")
		}
		sel, err := tableSelection(tableID, connection, table)
		if err != nil {
			return err
		}
		t, err := a.tenant(customer)
		if err != nil {
			return err
		}
		id, err := sel.resolve(ctx, t)
		if err != nil {
			return err
		}
		var fields []string
		if format == dataCSV {
			tb, err := t.GetTable(ctx, id)
			if err != nil {
				return err
			}
			for _, f := range tb.Fields {
				fields = append(fields, f.Name)
			}
		}
		return a.exportRows(ctx, t, id, fields, format, file, pageSize, limit)
	}, peliqan.RouteSubAccountToken, peliqan.RouteLookupSchema, peliqan.RouteLookupDatabase, peliqan.RouteListDatabases,
		peliqan.RouteLookupTable, peliqan.RouteGetTable, peliqan.RouteListRows)
	fl := export.Flags()
	fl.StringVarP(&customer, "customer", "c", "", "the customer: external id, or id:N (required)")
	fl.StringVar(&tableID, "table-id", "", "the table's id")
	fl.StringVar(&connection, "connection", "", "a connection's id; --table then names one of its tables")
	fl.StringVar(&table, "table", "", "the table's name: with --connection its name there, else schema.table or database.schema.table")
	fl.StringVar(&format, "format", dataJSONL, "data format: jsonl or csv")
	fl.StringVarP(&file, "file", "f", "", "write to this file instead of stdout (complete or not at all)")
	fl.IntVar(&pageSize, "page-size", 0, "rows per request, 1..1000 (default the SDK's, 100)")
	fl.IntVar(&limit, "limit", 0, "stop after this many rows (0: all)")

	return group("rows", "A customer's table data", export)
}

// tableSel is how the user named a table.
type tableSel struct {
	id         peliqan.ID
	connection peliqan.ID
	name       string            // a table of connection
	qualified  peliqan.TableName // by warehouse name
}

func tableSelection(tableID, connection, table string) (*tableSel, error) {
	switch {
	case tableID != "":
		if connection != "" || table != "" {
			return nil, usageErrorf("--table-id excludes --connection and --table")
		}
		id, err := parseID("--table-id", tableID)
		if err != nil {
			return nil, err
		}
		return &tableSel{id: id}, nil
	case connection != "":
		if table == "" {
			return nil, usageErrorf("--connection needs --table NAME (see \"peliqan connections tables\")")
		}
		id, err := parseID("--connection", connection)
		if err != nil {
			return nil, err
		}
		return &tableSel{connection: id, name: table}, nil
	case table != "":
		parts := strings.Split(table, ".")
		var n peliqan.TableName
		switch len(parts) {
		case 2:
			n = peliqan.TableName{Schema: parts[0], Table: parts[1]}
		case 3:
			n = peliqan.TableName{Database: parts[0], Schema: parts[1], Table: parts[2]}
		default:
			return nil, usageErrorf("--table %q: want schema.table or database.schema.table (a name with dots: use --connection or --table-id)", table)
		}
		if slices.Contains(parts, "") {
			return nil, usageErrorf("--table %q has an empty part", table)
		}
		return &tableSel{qualified: n}, nil
	}
	return nil, usageErrorf("name the table: --table-id ID, --connection ID --table NAME, or --table schema.table")
}

// resolve returns the table's id, asking Peliqan where a name points.
func (s *tableSel) resolve(ctx context.Context, t *peliqan.SubAccountClient) (peliqan.ID, error) {
	switch {
	case s.id != 0:
		return s.id, nil
	case s.connection != 0:
		data, err := t.ConnectionTables(ctx, s.connection)
		if err != nil {
			return 0, err
		}
		var names []string
		for _, tr := range data.Tables {
			if tr.Name == s.name {
				return tr.ID, nil
			}
			names = append(names, tr.Name)
		}
		return 0, fmt.Errorf("connection %d has no table %q (its tables: %s)", s.connection, s.name, listOrNone(names))
	default:
		res, err := t.ResolveTable(ctx, s.qualified)
		if err != nil {
			return 0, err
		}
		return res.TableID, nil
	}
}

// exportRows streams the table's rows to file (or stdout) in format.
func (a *app) exportRows(ctx context.Context, t *peliqan.SubAccountClient, id peliqan.ID, fields []string, format, file string, pageSize, limit int) error {
	var sink io.Writer = a.stdout
	var out *outputFile
	if file != "" && file != "-" {
		var err error
		if out, err = createOutput(file); err != nil {
			return err
		}
		defer out.Abort() // a no-op after Commit
		sink = out
	}
	bw := bufio.NewWriterSize(sink, 64<<10)
	w, err := newRowWriter(bw, format, fields)
	if err != nil {
		return err
	}
	bar := a.newProgress(-1, "exporting", "rows")
	n := 0
	var iterErr error
	for row, err := range t.Rows(ctx, id, &peliqan.RowsOptions{Size: pageSize}) {
		if err != nil {
			iterErr = err
			break
		}
		if err := w.write(row); err != nil {
			iterErr = fmt.Errorf("row %d: %w", n+1, err)
			break
		}
		n++
		bar.Add(1)
		if limit > 0 && n == limit {
			break
		}
	}
	bar.Done()
	if iterErr == nil {
		iterErr = w.flush()
	}
	if iterErr == nil {
		iterErr = bw.Flush()
	}
	where := "stdout"
	if out != nil {
		where = file
	}
	if iterErr != nil {
		if out != nil {
			a.note("Stopped after %s: %s was not written.", plural(n, "row"), file)
		} else {
			a.note("Stopped after %s: the output on stdout is incomplete.", plural(n, "row"))
		}
		return iterErr
	}
	if out != nil {
		if err := out.Commit(); err != nil {
			return err
		}
	}
	a.note("Exported %s of table %d to %s.", plural(n, "row"), id, where)
	return nil
}

// rowWriter writes rows in one data format.
type rowWriter struct {
	format string
	enc    *json.Encoder
	cw     *csv.Writer
	header []string
	known  map[string]bool
	rec    []string
}

func newRowWriter(w io.Writer, format string, fields []string) (*rowWriter, error) {
	rw := &rowWriter{format: format}
	if format == dataJSONL {
		rw.enc = json.NewEncoder(w)
		rw.enc.SetEscapeHTML(false)
		return rw, nil
	}
	rw.cw = csv.NewWriter(w)
	rw.header = fields
	return rw, nil
}

// write writes one row. In CSV the header is the table's fields, led by
// the row keys the fields do not list ("id") as the first row has them;
// a later row with another unknown key is an error rather than a column
// silently dropped.
func (w *rowWriter) write(row peliqan.Row) error {
	if w.enc != nil {
		return w.enc.Encode(row)
	}
	if w.known == nil {
		w.known = map[string]bool{}
		for _, f := range w.header {
			w.known[f] = true
		}
		var extra []string
		for k := range row {
			if !w.known[k] {
				extra = append(extra, k)
			}
		}
		slices.Sort(extra)
		for _, k := range extra {
			w.known[k] = true
		}
		w.header = append(extra, w.header...)
		if err := w.cw.Write(w.header); err != nil {
			return err
		}
		w.rec = make([]string, len(w.header))
	}
	for k := range row {
		if !w.known[k] {
			return fmt.Errorf("field %q is not in the CSV header (%s); export with --format jsonl", k, strings.Join(w.header, ","))
		}
	}
	for i, k := range w.header {
		w.rec[i] = cellText(row[k])
	}
	return w.cw.Write(w.rec)
}

// flush ends the output; a CSV export of an empty table still gets its
// header.
func (w *rowWriter) flush() error {
	if w.cw == nil {
		return nil
	}
	if w.known == nil {
		if err := w.cw.Write(w.header); err != nil {
			return err
		}
	}
	w.cw.Flush()
	return w.cw.Error()
}
