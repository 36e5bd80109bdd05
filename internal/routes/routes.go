// Package routes is the single table of every Peliqan API route the SDK knows.
//
// Nothing else in the module builds a request path: the SDK core expands a
// Route's template with escaped parameters, and the fake server in
// peliqantest matches incoming requests against the same table. Each row
// records where its path comes from (Evidence; docs/routes.md is generated
// from this table); rows marked Inferred are our best guess and must say so
// in their method's godoc.
package routes

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Auth says which token a route needs.
type Auth int

const (
	// Partner routes take the partner token.
	Partner Auth = iota + 1
	// Tenant routes take a sub-account (tenant) identity token.
	Tenant
)

// String names the token kind.
func (a Auth) String() string {
	switch a {
	case Partner:
		return "partner"
	case Tenant:
		return "tenant"
	}
	return fmt.Sprintf("Auth(%d)", int(a))
}

// Evidence says where a route's method and path come from.
type Evidence string

const (
	// Doc: Peliqan's public help pages.
	Doc Evidence = "doc"
	// Client: Peliqan's own published Python client, which runs against the service.
	Client Evidence = "client"
	// DocAndClient: both of the above agree.
	DocAndClient Evidence = "doc+client"
	// Inferred: no source shows the exact path; our decision, to be confirmed.
	Inferred Evidence = "inferred"
)

// Route is one row of the table.
type Route struct {
	Name   string // stable name, exported as peliqan.Route<Name>
	Method string
	Path   string // template, "{name}" segments are parameters; always ends in "/"
	Auth   Auth
	// SideEffect marks a GET that triggers work on the server (a sync, a
	// resync, a refresh, a script trigger). Such requests are sent once.
	SideEffect bool
	// Retry says the SDK may send the request again after a transient
	// failure: GET/HEAD/PUT/DELETE that are not side-effect GETs.
	Retry bool
	// Success is the exact status the real service answers on success.
	// The SDK accepts any 2xx; the fake answers with this code because
	// clients written for Peliqan check it.
	Success  int
	Evidence Evidence
	Note     string
}

// Route names. The public package re-exports each as peliqan.Route<Name>.
const (
	ListSubAccounts  = "ListSubAccounts"
	CreateSubAccount = "CreateSubAccount"
	GetSubAccount    = "GetSubAccount"
	SubAccountInfo   = "SubAccountInfo"
	UpdateSubAccount = "UpdateSubAccount"
	DeleteSubAccount = "DeleteSubAccount"
	SubAccountToken  = "SubAccountToken"
	IntegrationToken = "IntegrationToken"
	ServerTypes      = "ServerTypes"

	ListServers            = "ListServers"
	GetServer              = "GetServer"
	CreateServer           = "CreateServer"
	DeleteServer           = "DeleteServer"
	SendConnectionInvite   = "SendConnectionInvite"
	ServerLogs             = "ServerLogs"
	SyncServer             = "SyncServer"
	GetServerSyncRunStatus = "GetServerSyncRunStatus"
	FullResync             = "FullResync"
	FullResyncStatus       = "FullResyncStatus"
	ReAuthoriseServer      = "ReAuthoriseServer"
	ManualRefreshSaltEdge  = "ManualRefreshSaltEdge"
	ListServerRuns         = "ListServerRuns"
	GetPipelineRuns        = "GetPipelineRuns"
	PipelineRunLogs        = "PipelineRunLogs"

	ListDatabases    = "ListDatabases"
	ListTables       = "ListTables"
	GetTable         = "GetTable"
	CreateQueryTable = "CreateQueryTable"
	UpdateTable      = "UpdateTable"
	ListRows         = "ListRows"
	UpdateCell       = "UpdateCell"
	Query            = "Query"

	LookupConnection = "LookupConnection"
	LookupDatabase   = "LookupDatabase"
	LookupSchema     = "LookupSchema"
	LookupTable      = "LookupTable"

	ListScripts      = "ListScripts"
	GetScript        = "GetScript"
	CreateScript     = "CreateScript"
	UpdateScript     = "UpdateScript"
	TriggerScriptRun = "TriggerScriptRun"
	CreateScriptRun  = "CreateScriptRun"
	ListScriptRuns   = "ListScriptRuns"
	GetScriptRun     = "GetScriptRun"
	ScriptRunLogs    = "ScriptRunLogs"
	ListGroups       = "ListGroups"
)

// row builds a Route and derives Retry from the method and side-effect flag,
// so the rule lives in one place.
func row(name, method, path string, auth Auth, ev Evidence, opts ...func(*Route)) Route {
	r := Route{Name: name, Method: method, Path: path, Auth: auth, Evidence: ev, Success: 200}
	for _, o := range opts {
		o(&r)
	}
	r.Retry = Retryable(r.Method, r.SideEffect)
	return r
}

func sideEffect(r *Route)          { r.SideEffect = true }
func status(code int) func(*Route) { return func(r *Route) { r.Success = code } }
func note(s string) func(*Route)   { return func(r *Route) { r.Note = s } }

// Retryable is the one retry rule: GET and HEAD unless they have side
// effects, PUT and DELETE. POST and PATCH never: the API has no
// idempotency key.
func Retryable(method string, sideEffect bool) bool {
	switch method {
	case "GET", "HEAD":
		return !sideEffect
	case "PUT", "DELETE":
		return true
	}
	return false
}

var table = []Route{
	// Partner token.
	row(ListSubAccounts, "GET", "/api/partner/sub-accounts/", Partner, DocAndClient),
	row(CreateSubAccount, "POST", "/api/partner/sub-accounts/", Partner, Client,
		note("doc shows singular sub-account/; the vendor client wins")),
	row(GetSubAccount, "GET", "/api/partner/sub-account/", Partner, Client,
		note("query external_id or account_id")),
	row(SubAccountInfo, "GET", "/api/partner/sub-accounts/{id}/info/", Partner, Client),
	row(UpdateSubAccount, "PUT", "/api/partner/sub-accounts/{id}/", Partner, Inferred,
		note("oldest doc: PUT on the sub-account resource")),
	row(DeleteSubAccount, "DELETE", "/api/partner/sub-accounts/{id}/", Partner, Inferred,
		status(204), note("oldest doc: DELETE on the sub-account resource")),
	row(SubAccountToken, "GET", "/api/partner/sub-account/identity/", Partner, DocAndClient,
		note("expire=false for the non-expiring server-side token")),
	row(IntegrationToken, "POST", "/api/partner/sub-account/integrate/", Partner, Doc,
		note("auto-provisions the sub-account on first use")),
	row(ServerTypes, "GET", "/api/servertypes/", Partner, Doc),

	// Tenant token: connections ("servers").
	row(ListServers, "GET", "/api/servers/", Tenant, DocAndClient),
	row(GetServer, "GET", "/api/servers/{id}/", Tenant, Inferred,
		note("doc shows /api/server/<id>; plural prefix from the vendor client")),
	row(CreateServer, "POST", "/api/servers/", Tenant, Doc),
	row(DeleteServer, "DELETE", "/api/servers/{id}/", Tenant, Inferred, status(204),
		note("no source shows it: DELETE on the connection resource, as for sub-accounts")),
	row(SendConnectionInvite, "POST", "/api/servers/invite/", Tenant, Client, status(204),
		note("vendor client send_connection_invite; camelCase body {recipient, subject, message, confirmationRecipient, serverType}")),
	row(ServerLogs, "GET", "/api/servers/{id}/logs/", Tenant, Doc),
	row(SyncServer, "GET", "/api/servers/{id}/syncdb/", Tenant, Client, sideEffect),
	row(GetServerSyncRunStatus, "GET", "/api/servers/{id}/syncdb/status/", Tenant, Client),
	row(FullResync, "GET", "/api/servers/{id}/resync/", Tenant, Client, sideEffect),
	row(FullResyncStatus, "GET", "/api/servers/{id}/resync/status/", Tenant, Client),
	row(ReAuthoriseServer, "GET", "/api/servers/{id}/reauthorise/", Tenant, Inferred, sideEffect,
		note("JS reAuthoriseServer opens auth_uri; may start a new authorisation")),
	row(ManualRefreshSaltEdge, "GET", "/api/servers/{id}/saltedge/refresh/", Tenant, Inferred, sideEffect,
		note("JS manualRefreshSaltEdge opens a SaltEdge refresh URL")),
	row(ListServerRuns, "GET", "/api/servers/{id}/runs/", Tenant, Client),
	row(GetPipelineRuns, "GET", "/api/pipeline_runs/", Tenant, Client, note("run_id is a comma list")),
	row(PipelineRunLogs, "GET", "/api/pipeline_runs/{id}/logs/", Tenant, Client),

	// Tenant token: data.
	row(ListDatabases, "GET", "/api/applications/", Tenant, DocAndClient),
	row(ListTables, "GET", "/api/database/tables/database/{db}/", Tenant, Doc),
	row(GetTable, "GET", "/api/database/tables/{id}/", Tenant, Client),
	row(CreateQueryTable, "POST", "/api/database/tables/database/{db}/", Tenant, Client),
	row(UpdateTable, "PATCH", "/api/database/tables/{id}/", Tenant, Client,
		note("vendor client update_table: name, query, ...")),
	row(ListRows, "GET", "/api/database/rows/table/{id}/", Tenant, Doc,
		note("paging shape (count/next/previous/results, page, size) inferred")),
	row(UpdateCell, "PATCH", "/api/database/rows/table/{id}/", Tenant, Client, status(204)),
	row(Query, "POST", "/api/database/resource/trino/records/", Tenant, Client),

	// Tenant token: lookups. GETs that carry a JSON body (the only ones), as
	// Peliqan's own client sends them; reads, so retried like other GETs.
	row(LookupConnection, "GET", "/api/database/resource/lookup/connection/", Tenant, Client,
		note("GET with a JSON body {connection_id, connection_name, ...}; vendor client find_connection")),
	row(LookupDatabase, "GET", "/api/database/resource/lookup/database/", Tenant, Client,
		note("GET with a JSON body; vendor client find_database(connection_id=...); 404 when none matches")),
	row(LookupSchema, "GET", "/api/database/resource/lookup/schema/", Tenant, Client,
		note("GET with a JSON body; vendor client find_schema; 404 when none matches")),
	row(LookupTable, "GET", "/api/database/resource/lookup/table/", Tenant, Client,
		note("GET with a JSON body; vendor client find_table_or_field; also answers a field")),

	// Tenant token: scripts ("interfaces").
	row(ListScripts, "GET", "/api/interfaces/", Tenant, Client),
	row(GetScript, "GET", "/api/interfaces/{id}/", Tenant, Client),
	row(CreateScript, "POST", "/api/interfaces/group/{group}/", Tenant, Client),
	row(UpdateScript, "PATCH", "/api/interfaces/{id}/", Tenant, Client),
	row(TriggerScriptRun, "GET", "/api/interfaces/trigger_run/{id}/", Tenant, Client, sideEffect,
		note("first of the two RunScript calls; query shell=1")),
	row(CreateScriptRun, "POST", "/api/interface_runs/", Tenant, Client, status(201)),
	row(ListScriptRuns, "GET", "/api/interface_runs/", Tenant, Client),
	row(GetScriptRun, "GET", "/api/interface_runs/{id}/", Tenant, Client),
	row(ScriptRunLogs, "GET", "/api/interface_runs/{id}/logs/", Tenant, Client),
	row(ListGroups, "GET", "/api/groups/", Tenant, Client),
}

var byName = func() map[string]*Route {
	m := make(map[string]*Route, len(table))
	for i := range table {
		m[table[i].Name] = &table[i]
	}
	return m
}()

// All returns a copy of the table, in declaration order.
func All() []Route { return append([]Route(nil), table...) }

// Lookup returns the route with the given name.
func Lookup(name string) (Route, bool) {
	r, ok := byName[name]
	if !ok {
		return Route{}, false
	}
	return *r, true
}

// MustLookup is Lookup for names the SDK itself declares; an unknown name is
// a programming error in this module, caught by its tests.
func MustLookup(name string) *Route {
	r, ok := byName[name]
	if !ok {
		panic("routes: unknown route " + name)
	}
	return r
}

// ErrBadParam reports a path parameter that cannot be sent.
var ErrBadParam = errors.New("bad path parameter")

// Expand fills the template's parameters in order, escaping each one. Empty
// values and "." / ".." are refused so an id can never walk the path.
func (r *Route) Expand(params ...string) (string, error) {
	var b strings.Builder
	b.Grow(len(r.Path) + 16)
	rest := r.Path
	i := 0
	for {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			b.WriteString(rest)
			break
		}
		end := strings.IndexByte(rest[open:], '}')
		name := rest[open+1 : open+end]
		b.WriteString(rest[:open])
		if i >= len(params) {
			return "", fmt.Errorf("%w: %s needs {%s}", ErrBadParam, r.Name, name)
		}
		p := params[i]
		if err := CheckParam(name, p); err != nil {
			return "", err
		}
		b.WriteString(url.PathEscape(p))
		i++
		rest = rest[open+end+1:]
	}
	if i != len(params) {
		return "", fmt.Errorf("%w: %s takes %d parameters, got %d", ErrBadParam, r.Name, i, len(params))
	}
	return b.String(), nil
}

// CheckParam refuses a path parameter that is empty, blank or a dot segment.
func CheckParam(name, v string) error {
	switch strings.TrimSpace(v) {
	case "":
		return fmt.Errorf("%w: %s is empty", ErrBadParam, name)
	case ".", "..":
		return fmt.Errorf("%w: %s is %q", ErrBadParam, name, v)
	}
	return nil
}

// Match finds the route for a method and an unescaped request path, preferring
// the template with the most literal segments. The fake server uses it to
// dispatch, and the SDK's Do escape hatch uses it to apply a known route's
// retry flag to a hand-built path.
func Match(method, path string) (Route, []string, bool) {
	segs := splitPath(path)
	best, bestLit := -1, -1
	var bestParams []string
	for i := range table {
		r := &table[i]
		if r.Method != method {
			continue
		}
		params, lit, ok := matchSegs(splitPath(r.Path), segs)
		if ok && lit > bestLit {
			best, bestLit, bestParams = i, lit, params
		}
	}
	if best < 0 {
		return Route{}, nil, false
	}
	return table[best], bestParams, true
}

// MatchPath is Match without the method: whether any route has this path.
func MatchPath(path string) bool {
	segs := splitPath(path)
	for i := range table {
		if _, _, ok := matchSegs(splitPath(table[i].Path), segs); ok {
			return true
		}
	}
	return false
}

func matchSegs(tmpl, segs []string) (params []string, literals int, ok bool) {
	if len(tmpl) != len(segs) {
		return nil, 0, false
	}
	for i, t := range tmpl {
		if strings.HasPrefix(t, "{") {
			if segs[i] == "" {
				return nil, 0, false
			}
			params = append(params, segs[i])
			continue
		}
		if t != segs[i] {
			return nil, 0, false
		}
		literals++
	}
	return params, literals, true
}

func splitPath(p string) []string {
	return strings.Split(strings.Trim(p, "/"), "/")
}
