package peliqantest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/peliqan-community/peliqan-go/internal/routes"
)

const (
	defaultRowPageSize = 100
	maxRowPageSize     = 1000
)

func dataHandlers() map[string]handlerFunc {
	return map[string]handlerFunc{
		routes.ListDatabases:    listDatabases,
		routes.ListTables:       withDatabase(listTables),
		routes.GetTable:         withTable(func(c *call, t *table) reply { return c.ok(t.view()) }),
		routes.CreateQueryTable: withDatabase(createQueryTable),
		routes.ListRows:         withTable(listRows),
		routes.UpdateCell:       withTable(updateCell),
		routes.Query:            query,
	}
}

func withDatabase(h func(*call, *database) reply) handlerFunc {
	return func(c *call) reply {
		id, ok := c.idParam(0)
		if !ok {
			return notFound()
		}
		d := c.s.st.database(c.acct, id)
		if d == nil {
			return notFound()
		}
		return h(c, d)
	}
}

func withTable(h func(*call, *table) reply) handlerFunc {
	return func(c *call) reply {
		id, ok := c.idParam(0)
		if !ok {
			return notFound()
		}
		t := c.s.st.table(c.acct, id)
		if t == nil {
			return notFound()
		}
		return h(c, t)
	}
}

// listDatabases answers a bare array; exclude_tables=1 leaves the tables
// out.
func listDatabases(c *call) reply {
	withTables := !boolQuery(c.query.Get("exclude_tables"))
	d := c.acct.dw
	m := map[string]any{"id": d.ID, "name": d.Name, "schemas": d.schemas}
	if withTables {
		ts := make([]map[string]any, 0, len(d.tables))
		for _, id := range d.tables {
			if t := c.s.st.tables[id]; t != nil {
				ts = append(ts, map[string]any{"id": t.ID, "name": t.Name, "schema_id": t.schema.ID})
			}
		}
		m["tables"] = ts
	}
	return c.ok([]map[string]any{m})
}

func listTables(c *call, d *database) reply {
	out := make([]map[string]any, 0, len(d.tables))
	for _, id := range d.tables {
		if t := c.s.st.tables[id]; t != nil {
			out = append(out, t.view())
		}
	}
	return c.ok(out)
}

type queryTableBody struct {
	TableType string          `json:"table_type"`
	SchemaID  json.RawMessage `json:"schema_id"`
	Name      string          `json:"name"`
	Query     string          `json:"query"`
}

// createQueryTable adds a query table. A query the fake can evaluate
// (SELECT * FROM <table> [LIMIT n]) gives a live view of that table; any
// other SQL is stored and reads as an empty table.
func createQueryTable(c *call, d *database) reply {
	var b queryTableBody
	if rep, ok := c.decodeBody(&b); !ok {
		return rep
	}
	switch {
	case strings.TrimSpace(b.Name) == "":
		return required("name")
	case strings.TrimSpace(b.Query) == "":
		return required("query")
	case b.TableType != "" && b.TableType != "query":
		return fieldErrors("table_type", fmt.Sprintf("%q is not a valid choice.", b.TableType))
	}
	sc := d.schemaByName("public")
	if len(b.SchemaID) > 0 && string(b.SchemaID) != "null" {
		id, err := strconv.ParseInt(strings.Trim(string(b.SchemaID), `"`), 10, 64)
		if err != nil {
			return fieldErrors("schema_id", "A valid integer is required.")
		}
		if sc = d.schemaByID(id); sc == nil {
			return c.peliqanError(http.StatusBadRequest, "ERROR_SCHEMA_DOES_NOT_EXIST", "The schema does not exist")
		}
	}
	for _, id := range d.tables {
		if t := c.s.st.tables[id]; t != nil && t.schema == sc && t.Name == b.Name {
			return c.peliqanError(http.StatusBadRequest, "ERROR_TABLE_ALREADY_EXISTS",
				fmt.Sprintf("A table named %q already exists in schema %q", b.Name, sc.Name))
		}
	}
	t := c.s.st.newTable(d, sc, b.Name, nil, 0, c.now)
	t.tableType, t.query = "query", b.Query
	if q, err := parseSelect(b.Query); err == nil {
		if src := c.s.st.resolveTable(c.acct, q.parts); src != nil {
			t.source, t.limit = src, q.limit
			for _, f := range src.fields {
				t.addField(c.s.st, f.Name, f.Type)
			}
		}
	}
	return c.ok(t.view())
}

// listRows pages a table as {count, next, previous, results} with page and
// size (1..1000, default 100). Keys are field names with
// user_field_names=true, "field_<id>" otherwise; include (a comma list of
// either) keeps only those fields, as Baserow does. A page past the end is
// DRF's 404 "Invalid page.".
func listRows(c *call, t *table) reply {
	page, ok := c.intQuery("page", 1)
	if !ok || page < 1 {
		return detail(http.StatusNotFound, "Invalid page.")
	}
	size, ok := c.intQuery("size", defaultRowPageSize)
	if !ok || size < 1 || size > maxRowPageSize {
		return c.peliqanError(http.StatusBadRequest, "ERROR_PAGE_SIZE_LIMIT",
			fmt.Sprintf("The page size is limited to %d.", maxRowPageSize))
	}
	count := t.count()
	start := int64(page-1) * int64(size)
	if page > 1 && start >= int64(count) {
		return detail(http.StatusNotFound, "Invalid page.")
	}
	end := min(start+int64(size), int64(count))
	userNames := boolQuery(c.query.Get("user_field_names"))
	var cols []bool
	if inc := c.query.Get("include"); inc != "" {
		cols = make([]bool, len(t.fields))
		for _, name := range strings.Split(inc, ",") {
			i, ok := t.fieldIndex[strings.TrimSpace(name)]
			if !ok {
				return c.peliqanError(http.StatusBadRequest, "ERROR_FIELD_DOES_NOT_EXIST",
					fmt.Sprintf("The field %q does not exist.", name))
			}
			cols[i] = true
		}
	}

	b := make([]byte, 0, 256+int(end-start)*128)
	b = append(b, `{"count":`...)
	b = strconv.AppendInt(b, int64(count), 10)
	b = append(b, `,"next":`...)
	b = appendLink(b, c, end < int64(count), page+1)
	b = append(b, `,"previous":`...)
	b = appendLink(b, c, page > 1, page-1)
	b = append(b, `,"results":[`...)
	for pk := start + 1; pk <= end; pk++ {
		if pk > start+1 {
			b = append(b, ',')
		}
		b = t.appendRow(b, pk, userNames, cols)
	}
	b = append(b, "]}"...)
	return reply{status: c.route.Success, body: b}
}

// appendLink writes DRF's absolute next/previous link, or null.
func appendLink(b []byte, c *call, ok bool, page int) []byte {
	if !ok {
		return append(b, "null"...)
	}
	q := url.Values{}
	for k, v := range c.query {
		q[k] = v
	}
	q.Set("page", strconv.Itoa(page))
	return appendJSONString(b, c.base+c.r.URL.Path+"?"+q.Encode())
}

type cellBody struct {
	PK   json.RawMessage `json:"pk"`
	Data map[string]any  `json:"data"`
}

// updateCell sets cells of one row: {pk, data: {field: value}}, 204.
func updateCell(c *call, t *table) reply {
	var b cellBody
	if rep, ok := c.decodeBody(&b); !ok {
		return rep
	}
	if len(b.PK) == 0 || string(b.PK) == "null" {
		return required("pk")
	}
	if len(b.Data) == 0 {
		return required("data")
	}
	pk, err := strconv.ParseInt(strings.Trim(string(b.PK), `"`), 10, 64)
	if err != nil || pk < 1 || pk > int64(t.count()) {
		return c.peliqanError(http.StatusNotFound, "ERROR_ROW_DOES_NOT_EXIST",
			fmt.Sprintf("The row with id %s does not exist.", strings.Trim(string(b.PK), `"`)))
	}
	if t.source != nil {
		return c.peliqanError(http.StatusBadRequest, "ERROR_TABLE_NOT_WRITABLE", "A query table cannot be updated")
	}
	set := map[int]any{}
	for k, v := range b.Data {
		i, ok := t.fieldIndex[k]
		if !ok {
			return c.peliqanError(http.StatusBadRequest, "ERROR_FIELD_DOES_NOT_EXIST",
				fmt.Sprintf("The field %q does not exist.", k))
		}
		if n, ok := v.(json.Number); ok {
			if iv, err := n.Int64(); err == nil {
				v = iv
			} else if fv, err := n.Float64(); err == nil {
				v = fv
			}
		}
		set[i] = v
	}
	if t.overrides == nil {
		t.overrides = map[int64]map[int]any{}
	}
	if t.overrides[pk] == nil {
		t.overrides[pk] = map[int]any{}
	}
	for i, v := range set {
		t.overrides[pk][i] = v
	}
	return c.ok(nil)
}

type queryBody struct {
	Query      string          `json:"query"`
	DBName     string          `json:"db_name"`
	SchemaName string          `json:"schema_name"`
	TableName  string          `json:"table_name"`
	TableID    json.RawMessage `json:"table_id"`
}

// maxQueryRecords bounds an unlimited SELECT.
const maxQueryRecords = 100000

// query runs SQL on the tenant's warehouse, like Peliqan's Trino records
// route: {records, columns, error}. Failures are a 200 with error set.
func query(c *call) reply {
	var b queryBody
	if rep, ok := c.decodeBody(&b); !ok {
		return rep
	}
	var t *table
	limit := -1
	switch {
	case strings.TrimSpace(b.Query) != "":
		q, err := parseSelect(b.Query)
		if err != nil {
			return c.queryError(err.Error())
		}
		if t = c.s.st.resolveTable(c.acct, q.parts); t == nil {
			return c.queryError(fmt.Sprintf("line 1:15: Table '%s' does not exist", strings.Join(q.parts, ".")))
		}
		limit = q.limit
	case len(b.TableID) > 0 && string(b.TableID) != "null":
		id, err := strconv.ParseInt(strings.Trim(string(b.TableID), `"`), 10, 64)
		if err == nil {
			t = c.s.st.table(c.acct, id)
		}
		if t == nil {
			return c.queryError(fmt.Sprintf("Table with id %s does not exist", string(b.TableID)))
		}
	case b.TableName != "":
		parts := []string{b.TableName}
		if b.SchemaName != "" {
			parts = []string{b.SchemaName, b.TableName}
			if b.DBName != "" {
				parts = []string{b.DBName, b.SchemaName, b.TableName}
			}
		}
		if t = c.s.st.resolveTable(c.acct, parts); t == nil {
			return c.queryError(fmt.Sprintf("Table '%s' does not exist", strings.Join(parts, ".")))
		}
	default:
		return c.queryError("One of query, table_id or table_name is required")
	}
	n := t.count()
	if limit >= 0 {
		n = min(n, limit)
	} else if n > maxQueryRecords {
		return c.queryError(fmt.Sprintf("Query exceeded the fake's limit of %d records; add a LIMIT", maxQueryRecords))
	}
	cols := [][2]string{{"id", "bigint"}}
	for _, f := range t.fields {
		cols = append(cols, [2]string{f.Name, fieldTypes[f.Type][1]})
	}
	records := make([][]any, 0, n)
	for pk := int64(1); pk <= int64(n); pk++ {
		records = append(records, append([]any{pk}, t.values(pk)...))
	}
	return c.ok(map[string]any{"records": records, "columns": cols, "error": nil})
}

func (c *call) queryError(msg string) reply {
	return c.ok(map[string]any{"records": [][]any{}, "columns": [][2]string{}, "error": msg})
}

// resolveTable finds a table of a's warehouse by "table", "schema.table" or
// "db.schema.table" (the first match when only a table name is given).
func (st *state) resolveTable(a *account, parts []string) *table {
	d := a.dw
	var schemaName string
	switch len(parts) {
	case 3:
		if parts[0] != d.Name {
			return nil
		}
		schemaName = parts[1]
	case 2:
		schemaName = parts[0]
	case 1:
	default:
		return nil
	}
	name := parts[len(parts)-1]
	for _, id := range d.tables {
		t := st.tables[id]
		if t != nil && t.Name == name && (schemaName == "" || t.schema.Name == schemaName) {
			return t
		}
	}
	return nil
}
