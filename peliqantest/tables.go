package peliqantest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// database is an "application": each tenant has its built-in warehouse,
// where every connection's tables land in a schema of their own.
type database struct {
	ID      int64
	Name    string
	account int64
	schemas []*schema
	tables  []int64
}

type schema struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

func (st *state) newDatabase(a *account, name string) *database {
	d := &database{ID: st.id(), Name: name, account: a.ID}
	st.databases[d.ID] = d
	st.newSchema(d, "public")
	return d
}

func (st *state) newSchema(d *database, name string) *schema {
	sc := &schema{ID: st.id(), Name: name}
	d.schemas = append(d.schemas, sc)
	return sc
}

func (d *database) schemaByName(name string) *schema {
	for _, s := range d.schemas {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func (d *database) schemaByID(id int64) *schema {
	for _, s := range d.schemas {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// field is a column of a table.
type field struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Type        string `json:"type"`
	SQLDataType string `json:"sql_data_type"`
	Primary     bool   `json:"primary"`
}

// Field types the fake knows, with their warehouse and Trino types.
var fieldTypes = map[string][2]string{
	"text":    {"varchar", "varchar"},
	"email":   {"varchar", "varchar"},
	"number":  {"bigint", "bigint"},
	"decimal": {"double precision", "double"},
	"boolean": {"boolean", "boolean"},
	"date":    {"timestamp", "timestamp(3)"},
}

// table holds its rows compactly: explicit rows from fixtures, then gen
// rows computed from (seed, pk, field) on demand, so a table of a million
// rows costs nothing until it is read. Row pks are 1..count. Cell updates
// are kept as overrides.
type table struct {
	ID         int64
	Name       string
	account    int64
	database   *database
	schema     *schema
	tableType  string // "table" or "query"
	query      string
	fields     []*field
	fixed      [][]any
	gen        int
	seed       uint64
	overrides  map[int64]map[int]any
	source     *table // query tables: the table the query reads
	limit      int    // query tables: LIMIT, or -1
	createdAt  time.Time
	fieldIndex map[string]int // by name and by "field_<id>"
}

func (st *state) newTable(d *database, sc *schema, name string, fields []FieldFixture, seed uint64, now time.Time) *table {
	t := &table{ID: st.id(), Name: name, account: d.account, database: d, schema: sc, tableType: "table",
		seed: seed, limit: -1, fieldIndex: map[string]int{}, createdAt: now}
	for _, f := range fields {
		t.addField(st, f.Name, f.Type)
	}
	st.tables[t.ID] = t
	d.tables = append(d.tables, t.ID)
	return t
}

func (t *table) addField(st *state, name, typ string) {
	if _, ok := fieldTypes[typ]; !ok {
		typ = "text"
	}
	f := &field{ID: st.id(), Name: name, Type: typ, SQLDataType: fieldTypes[typ][0], Primary: len(t.fields) == 0}
	t.fieldIndex[name] = len(t.fields)
	t.fieldIndex["field_"+strconv.FormatInt(f.ID, 10)] = len(t.fields)
	t.fields = append(t.fields, f)
}

func (t *table) count() int {
	if t.source != nil {
		n := t.source.count()
		if t.limit >= 0 {
			n = min(n, t.limit)
		}
		return n
	}
	return len(t.fixed) + t.gen
}

// values returns the cells of row pk (1-based), in field order.
func (t *table) values(pk int64) []any {
	if t.source != nil {
		return t.source.values(pk)
	}
	out := make([]any, len(t.fields))
	if pk <= int64(len(t.fixed)) {
		copy(out, t.fixed[pk-1])
	} else {
		for i, f := range t.fields {
			out[i] = genValue(t.seed, f, i, pk)
		}
	}
	for i, v := range t.overrides[pk] {
		if i < len(out) {
			out[i] = v
		}
	}
	return out
}

// view is a table as GetTable and ListTables show it.
func (t *table) view() map[string]any {
	m := map[string]any{
		"id":          t.ID,
		"name":        t.Name,
		"database_id": t.database.ID,
		"schema_id":   t.schema.ID,
		"schema_name": t.schema.Name,
		"table_type":  t.tableType,
		"row_count":   t.count(),
		"all_fields":  t.fields,
		"created_at":  ts(t.createdAt),
	}
	if t.tableType == "query" {
		m["query"] = t.query
	}
	return m
}

// appendRow writes one row object: "id" first, then the fields in order
// (only those in cols, when cols is not nil).
func (t *table) appendRow(b []byte, pk int64, userNames bool, cols []bool) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, pk, 10)
	for i, v := range t.values(pk) {
		if cols != nil && !cols[i] {
			continue
		}
		b = append(b, ',')
		if userNames {
			b = appendJSONString(b, t.fields[i].Name)
		} else {
			b = append(b, `"field_`...)
			b = strconv.AppendInt(b, t.fields[i].ID, 10)
			b = append(b, '"')
		}
		b = append(b, ':')
		b = appendJSONValue(b, v)
	}
	return append(b, '}')
}

func appendJSONValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return appendJSONString(b, x)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return append(b, "null"...)
		}
		return strconv.AppendFloat(b, x, 'f', -1, 64)
	case bool:
		return strconv.AppendBool(b, x)
	}
	return append(b, marshalNoEscape(v)...)
}

func appendJSONString(b []byte, s string) []byte {
	if isPlainASCII(s) {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	return append(b, marshalNoEscape(s)...)
}

// marshalNoEscape encodes v as JSON without HTML escaping (links keep their
// "&"), or null.
func marshalNoEscape(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return []byte("null")
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

var words = []string{"alpha", "bravo", "cedar", "delta", "ember", "fjord", "gamma", "harbor", "indigo", "juniper",
	"kestrel", "lumen", "maple", "nova", "orbit", "pine", "quartz", "river", "sierra", "tundra", "umber", "vale",
	"willow", "xenon", "yarrow", "zephyr"}

var stages = []string{"lead", "qualified", "proposal", "negotiation", "won", "lost"}

// genBase is the first generated timestamp.
var genBase = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func mix(x uint64) uint64 { // splitmix64 finaliser
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// genValue is the deterministic value of a generated cell.
func genValue(seed uint64, f *field, i int, pk int64) any {
	h := mix(seed ^ mix(uint64(pk)*0x9e3779b97f4a7c15+uint64(i+1)))
	w := words[h%uint64(len(words))]
	switch f.Type {
	case "email":
		return fmt.Sprintf("%s.%d@example.com", w, pk)
	case "number":
		return int64(h % 1000)
	case "decimal":
		return float64(h%1000000) / 100
	case "boolean":
		return h&1 == 1
	case "date":
		return genBase.Add(time.Duration(pk)*time.Hour + time.Duration(h%3600)*time.Second).Format(time.RFC3339)
	}
	if f.Name == "stage" {
		return stages[h%uint64(len(stages))]
	}
	w2 := words[(h>>20)%uint64(len(words))]
	return strings.ToUpper(w[:1]) + w[1:] + " " + strings.ToUpper(w2[:1]) + w2[1:]
}

// tableSeed derives a table's generator seed from its connection and name.
func tableSeed(serverID int64, name string) uint64 {
	h := uint64(serverID) * 0x9e3779b97f4a7c15
	for i := 0; i < len(name); i++ {
		h = mix(h ^ uint64(name[i]))
	}
	return h
}
