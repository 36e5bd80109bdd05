package peliqan

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// LocatedBy says which source told ConnectionTables where a connection's
// data is. It is an open set of strings.
type LocatedBy string

const (
	// LocatedByLookup: the lookup routes answered (LookupSchema, and
	// LookupDatabase when needed), as Peliqan's own client asks.
	LocatedByLookup LocatedBy = "lookup"
	// LocatedByTargetSchema: the lookup routes did not answer, and the
	// connection's target_schema named a schema found in exactly one of the
	// customer's databases.
	LocatedByTargetSchema LocatedBy = "target_schema"
)

// ConnectionData is where a connection's synced data is: the database and
// schema it lands in, and the tables there.
type ConnectionData struct {
	ServerID  ID
	LocatedBy LocatedBy
	// The database and schema holding the data. A name may be empty when
	// no source sent it; the ids are those ListDatabases shows.
	DatabaseID   ID
	DatabaseName string
	SchemaID     ID
	SchemaName   string
	// Tables are the schema's tables, sorted by name; empty until the
	// connection has synced something.
	Tables []TableRef
}

// TableName names one of the connection's tables for RowsByName or for
// SQL (TableName.String quotes it).
func (d *ConnectionData) TableName(table string) TableName {
	return TableName{Database: d.DatabaseName, Schema: d.SchemaName, Table: table}
}

// ErrConnectionDataNotFound: ConnectionTables could not tell where a
// connection's data is. It comes inside a *ConnectionDataError, which also
// matches ErrNotFound.
var ErrConnectionDataNotFound = errors.New("peliqan: connection data not found")

// ConnectionDataError is ConnectionTables' not-found: neither the lookup
// routes nor the connection's target_schema located the data, and the SDK
// does not guess a schema from the connection's name. It matches
// ErrConnectionDataNotFound and ErrNotFound.
type ConnectionDataError struct {
	ServerID ID
	// Reason says what each source said.
	Reason string
	// Lookup is the lookup routes' refusal (a 404, or a route the service
	// does not have), when they refused; nil when they answered without a
	// location or were not the last word.
	Lookup error
}

// Error names the connection and the reason.
func (e *ConnectionDataError) Error() string {
	return fmt.Sprintf("peliqan: where connection %d keeps its data is unknown: %s", int64(e.ServerID), e.Reason)
}

// Is reports whether target is ErrConnectionDataNotFound or ErrNotFound.
func (e *ConnectionDataError) Is(target error) bool {
	return target == ErrConnectionDataNotFound || target == ErrNotFound
}

// location is what a source said: ids and names, any of which may be
// missing.
type location struct {
	dbID         ID
	dbName       string
	schemaID     ID
	schemaName   string
	lookupRefuse error
	lookupNote   string
}

// ConnectionTables answers "which tables hold this connection's data?".
//
// It asks the lookup routes first, as Peliqan's own client does:
// LookupSchema with the connection's id (and LookupDatabase when that
// answer names no database). When they do not answer (a 404, a 400, 405 or
// 501 from a service without them, or an answer without a schema), it
// falls back on the connection's target_schema (from ListServers), which
// must name a schema found in exactly one of the customer's databases. It
// never guesses a schema from the connection's name. Then it lists the
// customer's databases with their tables (ListDatabases) and returns the
// schema's tables, saying which source answered (LocatedBy).
//
// When neither source locates the data the error is a *ConnectionDataError
// matching ErrConnectionDataNotFound and ErrNotFound. Other failures (a
// 5xx after retries, a transport error, a refused token) are returned as
// they are. Every request is a retried read; opts apply to each.
func (s *SubAccountClient) ConnectionTables(ctx context.Context, serverID ID, opts ...RequestOption) (*ConnectionData, error) {
	if ctx == nil {
		return nil, invalidArg("ctx", "nil context")
	}
	if _, err := serverID.param("server id"); err != nil {
		return nil, err
	}
	loc, err := s.locateByLookup(ctx, serverID, opts)
	if err != nil {
		return nil, err
	}
	by := LocatedByLookup
	var srv *Server
	if loc.schemaID == 0 && loc.schemaName == "" {
		by = LocatedByTargetSchema
		servers, err := s.ListServers(ctx, opts...)
		if err != nil {
			return nil, err
		}
		for i := range servers {
			if servers[i].ID == serverID {
				srv = &servers[i]
				break
			}
		}
		miss := &ConnectionDataError{ServerID: serverID, Lookup: loc.lookupRefuse}
		switch {
		case srv == nil:
			miss.Reason = loc.lookupNote + "; and no connection has this id"
			return nil, miss
		case srv.TargetSchema == nil:
			miss.Reason = loc.lookupNote + "; and the connection sends no target_schema"
			return nil, miss
		}
	}
	dbs, err := s.ListDatabases(ctx, &DatabaseListOptions{IncludeTables: true}, opts...)
	if err != nil {
		return nil, err
	}
	var out *ConnectionData
	if by == LocatedByLookup {
		out, err = locateInDatabases(serverID, loc, dbs)
	} else {
		out, err = locateTargetSchema(serverID, srv.TargetSchema, loc, dbs)
	}
	if err != nil {
		return nil, err
	}
	out.LocatedBy = by
	slices.SortStableFunc(out.Tables, func(a, b TableRef) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// locateByLookup asks the lookup routes where the connection's data is. A
// refusal that means "no answer here" is kept in the location for the
// fallback; any other failure is returned.
func (s *SubAccountClient) locateByLookup(ctx context.Context, serverID ID, opts []RequestOption) (location, error) {
	var loc location
	sc, err := s.LookupSchema(ctx, LookupKeys{ConnectionID: serverID}, opts...)
	if err != nil {
		if !lookupUnanswered(err) {
			return loc, err
		}
		loc.lookupRefuse, loc.lookupNote = err, "the schema lookup refused ("+statusText(err)+")"
		return loc, nil
	}
	if sc.SchemaID <= 0 && sc.SchemaName == "" {
		loc.lookupNote = "the schema lookup answered without a schema"
		return loc, nil
	}
	loc.schemaID, loc.schemaName, loc.dbID, loc.dbName = sc.SchemaID, sc.SchemaName, sc.DatabaseID, sc.DatabaseName
	if loc.dbID > 0 || loc.dbName != "" {
		return loc, nil
	}
	db, err := s.LookupDatabase(ctx, LookupKeys{ConnectionID: serverID}, opts...)
	switch {
	case err == nil:
		loc.dbID, loc.dbName = db.DatabaseID, db.DatabaseName
	case !lookupUnanswered(err):
		return loc, err
	}
	return loc, nil // without a database, the schema is searched in every one
}

// lookupUnanswered reports whether a lookup's failure means the service
// has no answer there (no match, a body it does not take, no such route),
// as opposed to a failure worth returning.
func lookupUnanswered(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.StatusCode {
	case http.StatusBadRequest, http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented:
		return true
	}
	return false
}

func statusText(err error) string {
	var ae *APIError
	if errors.As(err, &ae) {
		return fmt.Sprintf("%d", ae.StatusCode)
	}
	return err.Error()
}

// locateInDatabases finds the schema the lookup named among the listed
// databases and collects its tables.
func locateInDatabases(serverID ID, loc location, dbs []Database) (*ConnectionData, error) {
	for i := range dbs {
		db := &dbs[i]
		switch {
		case loc.dbID > 0 && db.ID != loc.dbID:
			continue
		case loc.dbID == 0 && loc.dbName != "" && db.Name != loc.dbName:
			continue
		}
		for _, sc := range db.Schemas {
			if (loc.schemaID > 0 && sc.ID == loc.schemaID) || (loc.schemaID == 0 && sc.Name == loc.schemaName) {
				return collectTables(serverID, db, sc.ID, sc.Name), nil
			}
		}
	}
	return nil, &ConnectionDataError{ServerID: serverID, Reason: fmt.Sprintf(
		"the lookup named schema %q (id %d) in database %q (id %d), which the databases listing does not show",
		loc.schemaName, int64(loc.schemaID), loc.dbName, int64(loc.dbID))}
}

// locateTargetSchema finds the one database holding the schema the
// connection's target_schema names.
func locateTargetSchema(serverID ID, ts *TargetSchema, loc location, dbs []Database) (*ConnectionData, error) {
	type hit struct {
		db *Database
		sc Schema
	}
	var hits []hit
	for i := range dbs {
		for _, sc := range dbs[i].Schemas {
			if (ts.ID > 0 && sc.ID == ts.ID) || (ts.ID == 0 && sc.Name == ts.SchemaName) {
				hits = append(hits, hit{&dbs[i], sc})
			}
		}
	}
	switch len(hits) {
	case 1:
		return collectTables(serverID, hits[0].db, hits[0].sc.ID, hits[0].sc.Name), nil
	case 0:
		return nil, &ConnectionDataError{ServerID: serverID, Lookup: loc.lookupRefuse,
			Reason: fmt.Sprintf("%s; and no database has its target_schema %q", loc.lookupNote, ts.SchemaName)}
	}
	names := make([]string, len(hits))
	for i, h := range hits {
		names[i] = fmt.Sprintf("%q", h.db.Name)
	}
	return nil, &ConnectionDataError{ServerID: serverID, Lookup: loc.lookupRefuse,
		Reason: fmt.Sprintf("%s; and its target_schema %q is in several databases (%s)",
			loc.lookupNote, ts.SchemaName, strings.Join(names, ", "))}
}

func collectTables(serverID ID, db *Database, schemaID ID, schemaName string) *ConnectionData {
	out := &ConnectionData{ServerID: serverID, DatabaseID: db.ID, DatabaseName: db.Name,
		SchemaID: schemaID, SchemaName: schemaName, Tables: []TableRef{}}
	for _, t := range db.Tables {
		if t.SchemaID == schemaID {
			out.Tables = append(out.Tables, t)
		}
	}
	return out
}
