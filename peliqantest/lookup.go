package peliqantest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/peliqan-community/peliqan-go/internal/routes"
)

// The lookup routes answer "which connection, database, schema, table or
// field is this?" the way Peliqan's own client asks it (find_connection,
// find_database, find_schema, find_table_or_field): a GET whose JSON body
// holds any of the ten keys below (null for the ones not asked about), and
// one flat object with the same keys filled in for the first match (lowest
// id), plus field_physical_name. A connection's database and schema are
// where its data lands. No match is DRF's 404 {"detail": "Not found."}; a
// body naming nothing to look up is a 400.
func lookupHandlers() map[string]handlerFunc {
	return map[string]handlerFunc{
		routes.LookupConnection: lookupConnection,
		routes.LookupDatabase:   lookupDatabase,
		routes.LookupSchema:     lookupSchema,
		routes.LookupTable:      lookupTable,
	}
}

// lookupKey is one key of a lookup body: an id or a name, or nothing
// (absent or null).
type lookupKey struct {
	set  bool
	id   int64
	name string
}

func (k lookupKey) matchID(id int64) bool      { return !k.set || k.id == id }
func (k lookupKey) matchName(name string) bool { return !k.set || k.name == name }

// lookupQuery is a decoded lookup body.
type lookupQuery struct {
	connID, connName, dbID, dbName, schemaID, schemaName, tableID, tableName, fieldID, fieldName lookupKey
}

// decodeLookup reads the body: ids as numbers or numeric strings, names as
// strings, null or absent for "not asked".
func (c *call) decodeLookup() (lookupQuery, reply, bool) {
	var raw map[string]json.RawMessage
	if rep, ok := c.decodeBody(&raw); !ok {
		return lookupQuery{}, rep, false
	}
	var q lookupQuery
	var bad []string
	id := func(key string, k *lookupKey) {
		v := bytes.TrimSpace(raw[key])
		if len(v) == 0 || string(v) == "null" {
			return
		}
		n, err := strconv.ParseInt(strings.Trim(string(v), `"`), 10, 64)
		if err != nil || n <= 0 {
			bad = append(bad, key, "A valid integer is required.")
			return
		}
		*k = lookupKey{set: true, id: n}
	}
	name := func(key string, k *lookupKey) {
		v := bytes.TrimSpace(raw[key])
		if len(v) == 0 || string(v) == "null" {
			return
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			bad = append(bad, key, "Not a valid string.")
			return
		}
		*k = lookupKey{set: true, name: s}
	}
	id("connection_id", &q.connID)
	name("connection_name", &q.connName)
	id("database_id", &q.dbID)
	name("database_name", &q.dbName)
	id("schema_id", &q.schemaID)
	name("schema_name", &q.schemaName)
	id("table_id", &q.tableID)
	name("table_name", &q.tableName)
	id("field_id", &q.fieldID)
	name("field_name", &q.fieldName)
	if len(bad) > 0 {
		return q, fieldErrors(bad...), false
	}
	return q, reply{}, true
}

// resource is a lookup's answer.
type resource struct {
	ConnectionID      *int64  `json:"connection_id"`
	ConnectionName    *string `json:"connection_name"`
	DatabaseID        *int64  `json:"database_id"`
	DatabaseName      *string `json:"database_name"`
	SchemaID          *int64  `json:"schema_id"`
	SchemaName        *string `json:"schema_name"`
	TableID           *int64  `json:"table_id"`
	TableName         *string `json:"table_name"`
	FieldID           *int64  `json:"field_id"`
	FieldName         *string `json:"field_name"`
	FieldPhysicalName *string `json:"field_physical_name"`
}

func (r *resource) setConnection(s *server) {
	if s != nil {
		r.ConnectionID, r.ConnectionName = &s.ID, &s.Name
	}
}

func (r *resource) setDatabase(d *database) { r.DatabaseID, r.DatabaseName = &d.ID, &d.Name }
func (r *resource) setSchema(s *schema)     { r.SchemaID, r.SchemaName = &s.ID, &s.Name }

func nothingToLookUp(what string) reply {
	return detail(http.StatusBadRequest, "Give the id or the name of the "+what+" to look up.")
}

// connectionsMatching lists the caller's connections that q's connection
// keys name, in id order.
func (c *call) connectionsMatching(q lookupQuery) []*server {
	var out []*server
	for _, id := range c.acct.servers {
		if s := c.s.st.servers[id]; s != nil && q.connID.matchID(s.ID) && q.connName.matchName(s.Name) {
			out = append(out, s)
		}
	}
	return out
}

// ownerOf is the connection whose data lives in schema sc, if any.
func (c *call) ownerOf(sc *schema) *server {
	for _, id := range c.acct.servers {
		if s := c.s.st.servers[id]; s != nil && s.schema == sc {
			return s
		}
	}
	return nil
}

func lookupConnection(c *call) reply {
	q, rep, ok := c.decodeLookup()
	if !ok {
		return rep
	}
	if !q.connID.set && !q.connName.set {
		return nothingToLookUp("connection")
	}
	for _, s := range c.connectionsMatching(q) {
		var r resource
		r.setConnection(s)
		return c.ok(r)
	}
	return notFound()
}

func lookupDatabase(c *call) reply {
	q, rep, ok := c.decodeLookup()
	if !ok {
		return rep
	}
	if !q.dbID.set && !q.dbName.set && !q.connID.set && !q.connName.set {
		return nothingToLookUp("database")
	}
	d := c.acct.dw // the fake's tenants have one database
	if !q.dbID.matchID(d.ID) || !q.dbName.matchName(d.Name) {
		return notFound()
	}
	var r resource
	if q.connID.set || q.connName.set {
		for _, s := range c.connectionsMatching(q) {
			if s.database == d {
				r.setConnection(s)
				break
			}
		}
		if r.ConnectionID == nil {
			return notFound()
		}
	}
	r.setDatabase(d)
	return c.ok(r)
}

func lookupSchema(c *call) reply {
	q, rep, ok := c.decodeLookup()
	if !ok {
		return rep
	}
	if !q.schemaID.set && !q.schemaName.set && !q.connID.set && !q.connName.set {
		return nothingToLookUp("schema")
	}
	d := c.acct.dw
	if !q.dbID.matchID(d.ID) || !q.dbName.matchName(d.Name) {
		return notFound()
	}
	for _, sc := range d.schemas {
		if !q.schemaID.matchID(sc.ID) || !q.schemaName.matchName(sc.Name) {
			continue
		}
		owner := c.ownerOf(sc)
		if (q.connID.set || q.connName.set) && (owner == nil || !q.connID.matchID(owner.ID) || !q.connName.matchName(owner.Name)) {
			continue
		}
		var r resource
		r.setConnection(owner)
		r.setDatabase(d)
		r.setSchema(sc)
		return c.ok(r)
	}
	return notFound()
}

func lookupTable(c *call) reply {
	q, rep, ok := c.decodeLookup()
	if !ok {
		return rep
	}
	if !q.tableID.set && !q.tableName.set {
		return nothingToLookUp("table")
	}
	d := c.acct.dw
	if !q.dbID.matchID(d.ID) || !q.dbName.matchName(d.Name) {
		return notFound()
	}
	for _, id := range d.tables {
		t := c.s.st.tables[id]
		if t == nil || !q.tableID.matchID(t.ID) || !q.tableName.matchName(t.Name) ||
			!q.schemaID.matchID(t.schema.ID) || !q.schemaName.matchName(t.schema.Name) {
			continue
		}
		owner := c.ownerOf(t.schema)
		if (q.connID.set || q.connName.set) && (owner == nil || !q.connID.matchID(owner.ID) || !q.connName.matchName(owner.Name)) {
			continue
		}
		var f *field
		if q.fieldID.set || q.fieldName.set {
			for _, tf := range t.fields {
				if q.fieldID.matchID(tf.ID) && q.fieldName.matchName(tf.Name) {
					f = tf
					break
				}
			}
			if f == nil {
				continue
			}
		}
		var r resource
		r.setConnection(owner)
		r.setDatabase(d)
		r.setSchema(t.schema)
		r.TableID, r.TableName = &t.ID, &t.Name
		if f != nil {
			r.FieldID, r.FieldName, r.FieldPhysicalName = &f.ID, &f.Name, &f.Name
		}
		return c.ok(r)
	}
	return notFound()
}
