package peliqan

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/peliqan-community/peliqan-go/internal/routes"
)

// Server is one of a customer's connections (Peliqan calls them
// "servers"): a source such as a CRM or a bank, or a target warehouse.
type Server struct {
	ID   ID
	Name string
	// ServerType names the connector (the server_type member; a number or an
	// object is kept in its text form).
	ServerType   string
	HealthStatus HealthStatus
	// RunInterval is the scheduled sync interval; 0 when the server sent
	// none.
	RunInterval       time.Duration
	SchedulerDisabled bool
	IsDataWarehouse   bool
	IsTarget          bool
	// Target is the connection that holds this connection's synced data
	// (typically the customer's data warehouse): the "target" member, 0
	// when the server sent none. No source promises it on every connection.
	Target ID
	// TargetSchema is where this connection's data lands in its target
	// (the "target_schema" member); nil when the server sent none, which
	// happens. SubAccountClient.ConnectionTables uses it when the lookup
	// routes do not answer.
	TargetSchema *TargetSchema
	// Raw is the connection object as sent, for members the SDK does not
	// model.
	Raw json.RawMessage
}

// UnmarshalJSON decodes a connection tolerantly: the id may be "id" or
// "connection_id", numbers may come as strings, and unknown members are
// kept in Raw.
func (s *Server) UnmarshalJSON(b []byte) error {
	// Every member type decodes its own tolerant forms as it is read, so no
	// member is copied to be decoded again; the wire struct is reused, as a
	// list decodes one per connection.
	w := serverWirePool.Get().(*serverWire)
	defer func() {
		*w = serverWire{}
		serverWirePool.Put(w)
	}()
	if err := json.Unmarshal(b, w); err != nil {
		return err
	}
	*s = Server{ID: w.ID, Name: string(w.Name), ServerType: string(w.ServerType),
		HealthStatus: HealthStatus(w.HealthStatus), SchedulerDisabled: bool(w.DisableScheduler),
		IsDataWarehouse: bool(w.IsDataWarehouse), IsTarget: bool(w.IsTarget),
		Target: ID(w.Target), TargetSchema: w.TargetSchema.ts, Raw: append(json.RawMessage(nil), b...)}
	if s.ID == 0 {
		s.ID = w.ConnectionID
	}
	if w.RunInterval > 0 && float64(w.RunInterval) < math.MaxInt64/float64(time.Second) {
		s.RunInterval = time.Duration(float64(w.RunInterval) * float64(time.Second))
	}
	return nil
}

// serverWire is a connection as sent, each member in its tolerant type.
type serverWire struct {
	ID               ID                `json:"id"`
	ConnectionID     ID                `json:"connection_id"`
	Name             svString          `json:"name"`
	ServerType       svString          `json:"server_type"`
	HealthStatus     svString          `json:"health_status"`
	RunInterval      svFloat           `json:"run_interval"`
	DisableScheduler svBool            `json:"disable_scheduler"`
	IsDataWarehouse  svBool            `json:"is_datawarehouse"`
	IsTarget         svBool            `json:"is_target"`
	Target           targetID          `json:"target"`
	TargetSchema     targetSchemaField `json:"target_schema"`
}

var serverWirePool = sync.Pool{New: func() any { return new(serverWire) }}

// ListServers returns all of the customer's connections (every page, if the
// server ever pages them).
func (s *SubAccountClient) ListServers(ctx context.Context, opts ...RequestOption) ([]Server, error) {
	return listAll[Server](ctx, s.c, routes.MustLookup(routes.ListServers), nil, nil, opts)
}

// GetServer returns one connection.
//
// The path is inferred: the docs show /api/server/<id>, and the SDK uses the
// plural prefix of Peliqan's own client (GET /api/servers/{id}/). If your
// instance disagrees, call Do with the path that works.
func (s *SubAccountClient) GetServer(ctx context.Context, id ID, opts ...RequestOption) (*Server, error) {
	p, err := id.param("server id")
	if err != nil {
		return nil, err
	}
	var out Server
	if err := s.c.do(ctx, &call{route: routes.MustLookup(routes.GetServer), params: []string{p}, out: &out}, opts); err != nil {
		return nil, err
	}
	return &out, nil
}

// ServerHealth is the answer of GetServerHealthStatus.
type ServerHealth struct {
	ID           ID
	Name         string
	HealthStatus HealthStatus
}

// GetServerHealthStatus is the server-side counterpart of the embed
// widget's getServerHealthStatus({identityToken, serverId}): the
// connection's id, name and health status. It reads the connection (the
// same inferred route as GetServer).
func (s *SubAccountClient) GetServerHealthStatus(ctx context.Context, id ID, opts ...RequestOption) (*ServerHealth, error) {
	srv, err := s.GetServer(ctx, id, opts...)
	if err != nil {
		return nil, err
	}
	if srv.ID == 0 {
		srv.ID = id
	}
	return &ServerHealth{ID: srv.ID, Name: srv.Name, HealthStatus: srv.HealthStatus}, nil
}

// ServerCreate is a new connection: the connector's type id and the values
// of its connect form (credentials, account names, options), sent as they
// are next to "servertype_id".
type ServerCreate struct {
	ServerTypeID ID
	Fields       map[string]any
	// Type, when set (a connector definition from PartnerClient.ServerTypes),
	// makes CreateServer check Fields against its connect form first: a
	// missing required field is refused with ErrInvalidArgument before any
	// request. ServerTypeID may then be left 0 (Type.ID is used); if both
	// are set they must agree.
	Type *ServerType
}

// ServerCreated is the answer to CreateServer.
type ServerCreated struct {
	ID ID
	// OAuthURL is set for OAuth connectors: the connection exists but has no
	// credentials until the customer opens this URL in a browser and grants
	// access. Redirect the customer to it (or open it from your front end);
	// then watch GetServerHealthStatus, or the widget's onConnected
	// callback. Empty for API-key connectors, which are ready at once, and
	// when the server's URL was not safe to hand on (CreateServer then
	// returns a *DecodeError beside the result). It is always an absolute
	// http(s) URL; a relative one in the answer is resolved against the
	// request's URL.
	OAuthURL string
	// Server is the answer decoded as a connection (fully populated for
	// API-key connectors; mostly empty for OAuth ones).
	Server *Server
}

// CreateServer adds a connection to the customer's account
// (POST /api/servers/, sent once: a POST is never retried).
//
// An API-key connector answers with the connection; an OAuth connector
// answers with an OAuthURL the customer must open to finish (see
// ServerCreated).
//
// A connection the server created is never lost: when the answer cannot be
// used in full (its oauth_url cannot be made a safe absolute http(s) URL,
// such as "javascript:" or "data:"; a member of an unexpected type; a body
// cut short), CreateServer returns the *ServerCreated as far as it could be
// read (its ID when the answer had one; OAuthURL only if a safe URL could be
// read, so empty when the URL was refused) together with a *DecodeError
// matching ErrMalformedResponse. The connection then exists: do not create it again.
// Keep its ID, and get a fresh authorisation URL with ReAuthoriseServer, or
// remove it in Peliqan.
func (s *SubAccountClient) CreateServer(ctx context.Context, in ServerCreate, opts ...RequestOption) (*ServerCreated, error) {
	if in.Type != nil {
		switch {
		case in.ServerTypeID == 0:
			in.ServerTypeID = in.Type.ID
		case in.Type.ID != 0 && in.Type.ID != in.ServerTypeID:
			return nil, invalidArg("ServerTypeID", "is %d but Type is server type %d", int64(in.ServerTypeID), int64(in.Type.ID))
		}
	}
	if in.ServerTypeID <= 0 {
		return nil, invalidArg("ServerTypeID", "must be a positive id (got %d)", int64(in.ServerTypeID))
	}
	body := make(map[string]any, len(in.Fields)+1)
	for k, v := range in.Fields {
		switch {
		case strings.TrimSpace(k) == "":
			return nil, invalidArg("Fields", "has an empty key")
		case k == "servertype_id":
			return nil, invalidArg("Fields", "must not set servertype_id; use ServerTypeID")
		}
		body[k] = v
	}
	if in.Type != nil {
		if err := in.Type.Validate(in.Fields); err != nil {
			return nil, err
		}
	}
	body["servertype_id"] = in.ServerTypeID
	route := routes.MustLookup(routes.CreateServer)
	var out ServerCreated
	decode := func(b []byte) error {
		srv := new(Server)
		derr := decodeAccepted(b, srv)
		out = ServerCreated{ID: srv.ID, Server: srv}
		var w struct {
			OAuthURL svString `json:"oauth_url"`
			AuthURI  svString `json:"auth_uri"`
			AuthURL  svString `json:"auth_url"`
		}
		// Raw is what could be read of the answer: the URL may be there
		// even when another member spoiled the whole.
		_ = json.Unmarshal(srv.Raw, &w)
		made := "the connection was created"
		if srv.ID != 0 {
			made = "connection " + srv.ID.String() + " was created"
		}
		if u := svFirst(string(w.OAuthURL), string(w.AuthURI), string(w.AuthURL)); u != "" {
			abs, err := resolveBrowserURL(s.c.base+route.Path, u)
			if err != nil {
				return fmt.Errorf("%s, but its oauth_url %w", made, err)
			}
			out.OAuthURL = abs
		}
		switch {
		case derr != nil:
			return fmt.Errorf("%s, but the answer: %w", made, derr)
		case len(bytes.TrimSpace(b)) == 0:
			return fmt.Errorf("%s, but the answer is empty", made)
		}
		return nil
	}
	if err := s.c.do(ctx, &call{route: route, body: body, decode: decode}, opts); err != nil {
		if writeAccepted(err) {
			return &out, err
		}
		return nil, err
	}
	return &out, nil
}

// ServerLogs returns a connection's logs: the raw body as the server sent
// it (its shape is not documented). Per-run logs are PipelineRunLogs.
//
// The docs show /api/server/<id>/logs; the SDK uses the plural prefix of
// every other connection route (GET /api/servers/{id}/logs/), which no
// vendor code confirms. If your instance disagrees, call Do with the path
// that works.
func (s *SubAccountClient) ServerLogs(ctx context.Context, id ID, opts ...RequestOption) (json.RawMessage, error) {
	p, err := id.param("server id")
	if err != nil {
		return nil, err
	}
	var out json.RawMessage
	if err := s.c.do(ctx, &call{route: routes.MustLookup(routes.ServerLogs), params: []string{p}, out: &out}, opts); err != nil {
		return nil, err
	}
	return out, nil
}

// ReAuthoriseServer is the server-side counterpart of the embed widget's
// reAuthoriseServer({identityToken, serverId}): it asks Peliqan to start a
// new authorisation of the connection and returns the URL the customer must
// open to grant access again (the "auth_uri" member).
//
// The SDK cannot open a browser. Send the URL to the customer: redirect
// their browser to it, or open it from your front end (window.open). Until
// they finish, the connection's health is typically RE_AUTHORISING; watch it
// with GetServerHealthStatus. A relative URL is resolved against the
// request's URL, and anything that is then not an absolute http(s) URL
// ("javascript:", "data:") is refused with a *DecodeError.
//
// The route (GET /api/servers/{id}/reauthorise/) is inferred. The request
// may start a new authorisation, so it is sent once and never retried; the
// one exception is the replay after a 401 with a refreshed token (a request
// answered 401 was not acted on).
func (s *SubAccountClient) ReAuthoriseServer(ctx context.Context, id ID, opts ...RequestOption) (string, error) {
	return s.browserURL(ctx, routes.ReAuthoriseServer, id, opts, "auth_uri", "auth_url", "oauth_url", "url")
}

// ManualRefreshSaltEdge is the server-side counterpart of the embed
// widget's manualRefreshSaltEdge({identityToken, serverId}), for bank
// connections made through SaltEdge: it asks for a refresh and returns the
// SaltEdge URL the customer must open to renew the bank consent (the
// "refresh_url" member). Like ReAuthoriseServer, the SDK cannot open it:
// send it to the customer's browser.
//
// The route (GET /api/servers/{id}/saltedge/refresh/) is inferred. It
// triggers work, so it is sent once and never retried; the one exception is
// the replay after a 401 with a refreshed token.
func (s *SubAccountClient) ManualRefreshSaltEdge(ctx context.Context, id ID, opts ...RequestOption) (string, error) {
	return s.browserURL(ctx, routes.ManualRefreshSaltEdge, id, opts, "refresh_url", "redirect_url", "connect_url", "url")
}

func (s *SubAccountClient) browserURL(ctx context.Context, route string, id ID, opts []RequestOption, keys ...string) (string, error) {
	p, err := id.param("server id")
	if err != nil {
		return "", err
	}
	rt := routes.MustLookup(route)
	path, err := rt.Expand(p)
	if err != nil {
		return "", invalidArg("server id", "%v", err)
	}
	var u string
	decode := func(b []byte) error {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		for _, k := range keys {
			var v svString
			if raw, ok := m[k]; ok && json.Unmarshal(raw, &v) == nil && v != "" {
				abs, rerr := resolveBrowserURL(s.c.base+path, string(v))
				u = abs
				return rerr
			}
		}
		return fmt.Errorf("no %s in the answer", keys[0])
	}
	if err := s.c.do(ctx, &call{route: rt, params: []string{p}, decode: decode}, opts); err != nil {
		return "", err
	}
	return u, nil
}

// resolveBrowserURL makes raw, a URL from an answer that a browser is to be
// sent to, an absolute http(s) URL: a relative reference is resolved
// against requestURL, the URL of the request it answers (RFC 3986 5.1.3),
// and anything else (a "javascript:" or "data:" URL, no host, text that does
// not parse) is refused, so it never reaches a front end.
func resolveBrowserURL(requestURL, raw string) (string, error) {
	t := strings.TrimSpace(raw)
	ref, err := url.Parse(t)
	if t == "" || err != nil {
		return "", fmt.Errorf("%.200q is not a URL", raw)
	}
	abs := t
	if ref.Scheme == "" {
		base, err := url.Parse(requestURL)
		if err != nil {
			return "", fmt.Errorf("%.200q cannot be resolved: %v", raw, err)
		}
		ref = base.ResolveReference(ref)
		abs = ref.String()
	}
	if (ref.Scheme != "https" && ref.Scheme != "http") || ref.Host == "" {
		return "", fmt.Errorf("%.200q is not an absolute http(s) URL", raw)
	}
	return abs, nil
}

// SyncOptions selects what SyncServer syncs and how it waits.
type SyncOptions struct {
	// Tables and Categories limit the sync to these tables or categories of
	// the connector; empty means everything. Names must not contain commas.
	Tables     []string
	Categories []string
	// Blocking asks the server to answer only when the sync is done
	// (is_async=false). The default is asynchronous: the answer comes at
	// once with the run's ids, and WaitForSync follows it. A blocking call
	// is still sent only once.
	Blocking bool
	// BlockingTimeout is the per-attempt timeout of a blocking sync, which
	// replaces the client's (WithTimeout) for this call so a long sync is not
	// cut off. 0 means DefaultBlockingSyncTimeout; the context still bounds
	// the call. Ignored unless Blocking.
	BlockingTimeout time.Duration
}

// DefaultBlockingSyncTimeout is the per-attempt timeout of a blocking
// SyncServer call when SyncOptions.BlockingTimeout is 0.
const DefaultBlockingSyncTimeout = time.Hour

// RunRef identifies one pipeline run a sync started.
type RunRef struct {
	PipelineRunID ID
	TaskID        string
}

// SyncResult is the answer to SyncServer and FullResync. Pass it to
// WaitForSync to follow the run.
type SyncResult struct {
	ServerID     ID
	HealthStatus HealthStatus
	RunData      []RunRef
	TaskID       string
	// Detail is the server's message (an object is kept as JSON text).
	Detail  string
	Syncing bool

	resync bool // from FullResync: its status has its own route
}

// SyncServer is the server-side counterpart of the embed widget's
// syncServer({identityToken, serverId}): it starts a sync of the connection
// (GET /api/servers/{id}/syncdb/?pipeline=true&is_async=true).
//
// It is asynchronous by default: the answer carries the task and pipeline
// run ids, and WaitForSync follows the run to its end. With
// SyncOptions.Blocking the server answers when the sync is done, and the
// call's per-attempt timeout is raised to SyncOptions.BlockingTimeout (a
// WithAttemptTimeout you pass wins).
//
// The request starts a sync, so it is sent once and never retried, even on
// a 503: a retry could start a second sync. The one exception is the replay
// after a 401 with a refreshed token (a request answered 401 was not acted
// on). An accepted request whose answer cannot be decoded in full has still
// started the sync: SyncServer returns the SyncResult as far as it could be
// read (ServerID set) together with a *DecodeError; do not start it again.
func (s *SubAccountClient) SyncServer(ctx context.Context, id ID, o *SyncOptions, opts ...RequestOption) (*SyncResult, error) {
	opt := optionsOr(o)
	p, err := id.param("server id")
	if err != nil {
		return nil, err
	}
	q := url.Values{"pipeline": {"true"}, "is_async": {strconv.FormatBool(!opt.Blocking)}}
	if err := addCommaList(q, "tables", "Tables", opt.Tables); err != nil {
		return nil, err
	}
	if err := addCommaList(q, "categories", "Categories", opt.Categories); err != nil {
		return nil, err
	}
	if opt.BlockingTimeout < 0 {
		return nil, invalidArg("BlockingTimeout", "negative duration %s", opt.BlockingTimeout)
	}
	if opt.Blocking {
		d := opt.BlockingTimeout
		if d == 0 {
			d = DefaultBlockingSyncTimeout
		}
		opts = append([]RequestOption{WithAttemptTimeout(d)}, opts...)
	}
	return s.startSync(ctx, routes.SyncServer, id, p, q, opts)
}

// FullResync drops and reloads all of the connection's data
// (GET /api/servers/{id}/resync/). Follow it with WaitForSync, which polls
// the resync's own status route. Like SyncServer it is sent once and never
// retried (the 401 token-refresh replay aside), and an answer that cannot be
// decoded in full returns the SyncResult as far as it could be read beside
// a *DecodeError.
func (s *SubAccountClient) FullResync(ctx context.Context, id ID, opts ...RequestOption) (*SyncResult, error) {
	p, err := id.param("server id")
	if err != nil {
		return nil, err
	}
	res, err := s.startSync(ctx, routes.FullResync, id, p, nil, opts)
	if res != nil {
		res.resync = true
	}
	return res, err
}

// startSync sends a sync or resync request. The sync has started once the
// server accepted it: an answer that cannot be decoded in full still returns
// the SyncResult as far as it could be read (the server id at least) beside
// the *DecodeError, so WaitForSync can follow it and nobody starts another.
func (s *SubAccountClient) startSync(ctx context.Context, route string, id ID, p string, q url.Values, opts []RequestOption) (*SyncResult, error) {
	var out SyncResult
	cl := &call{route: routes.MustLookup(route), params: []string{p}, query: q, decode: func(b []byte) error {
		return decodeSalvaging(b, &out, decodeSyncResult)
	}}
	err := s.c.do(ctx, cl, opts)
	if err != nil && !writeAccepted(err) {
		return nil, err
	}
	if out.ServerID == 0 {
		out.ServerID = id
	}
	return &out, err
}

// decodeSyncResult reads {server_id, health_status, run_data, task_id,
// detail, syncing}, where run_data is a list, one object, or absent.
func decodeSyncResult(b []byte, out *SyncResult) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil // an old-style empty answer: the sync started, no ids
	}
	var w struct {
		ServerID     ID              `json:"server_id"`
		HealthStatus svString        `json:"health_status"`
		RunData      json.RawMessage `json:"run_data"`
		TaskID       json.RawMessage `json:"task_id"`
		Detail       json.RawMessage `json:"detail"`
		Syncing      svBool          `json:"syncing"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	refs, err := decodeRunRefs(w.RunData)
	if err != nil {
		return fmt.Errorf("run_data: %w", err)
	}
	*out = SyncResult{ServerID: w.ServerID, HealthStatus: HealthStatus(w.HealthStatus), RunData: refs,
		TaskID: svText(w.TaskID), Detail: svText(w.Detail), Syncing: bool(w.Syncing)}
	return nil
}

func decodeRunRefs(raw json.RawMessage) ([]RunRef, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	type ref struct {
		PipelineRunID ID              `json:"pipeline_run_id"`
		TaskID        json.RawMessage `json:"task_id"`
	}
	var list []ref
	switch raw[0] {
	case '[':
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, err
		}
	case '{':
		var one ref
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, err
		}
		list = []ref{one}
	default:
		return nil, fmt.Errorf("want a list or an object, got %.20s", raw)
	}
	out := make([]RunRef, 0, len(list))
	for _, r := range list {
		out = append(out, RunRef{PipelineRunID: r.PipelineRunID, TaskID: svText(r.TaskID)})
	}
	return out, nil
}

func addCommaList(q url.Values, key, name string, vals []string) error {
	if len(vals) == 0 {
		return nil
	}
	for i, v := range vals {
		if strings.TrimSpace(v) == "" {
			return invalidArg(name, "entry %d is empty", i)
		}
		if strings.Contains(v, ",") {
			return invalidArg(name, "entry %q contains a comma", v)
		}
	}
	q.Set(key, strings.Join(vals, ","))
	return nil
}

// SyncStatusOptions selects the run GetServerSyncRunStatus reports on.
type SyncStatusOptions struct {
	TaskID        string
	PipelineRunID ID
	// Timeout asks the server to wait up to this long for the run to end
	// before answering (sent in whole seconds, rounded up). The call's
	// per-attempt timeout is raised by as much. 0 answers at once.
	Timeout time.Duration
}

// SyncRunStatus is the answer of GetServerSyncRunStatus.
type SyncRunStatus struct {
	// Running is true while the run goes on. An answer without "running"
	// counts as running, and "running": null as not running, as in
	// Peliqan's own client.
	Running bool
	// RunID is the pipeline run; RunIDs lists them all when the server sent
	// a list (a resync does), RunID being the first.
	RunID  ID
	RunIDs []ID
	TaskID string
}

// GetServerSyncRunStatus is the server-side counterpart of the embed
// widget's getServerSyncRunStatus({identityToken, serverId}): whether a sync
// started by SyncServer is still running
// (GET /api/servers/{id}/syncdb/status/). WaitForSync polls it for you.
func (s *SubAccountClient) GetServerSyncRunStatus(ctx context.Context, id ID, o *SyncStatusOptions, opts ...RequestOption) (*SyncRunStatus, error) {
	opt := optionsOr(o)
	return s.runStatus(ctx, routes.GetServerSyncRunStatus, id, opt, opts)
}

// GetFullResyncStatus is GetServerSyncRunStatus for a run started by
// FullResync (GET /api/servers/{id}/resync/status/; PipelineRunID is not
// sent).
func (s *SubAccountClient) GetFullResyncStatus(ctx context.Context, id ID, o *SyncStatusOptions, opts ...RequestOption) (*SyncRunStatus, error) {
	opt := optionsOr(o)
	opt.PipelineRunID = 0
	return s.runStatus(ctx, routes.FullResyncStatus, id, opt, opts)
}

func (s *SubAccountClient) runStatus(ctx context.Context, route string, id ID, o SyncStatusOptions, opts []RequestOption) (*SyncRunStatus, error) {
	p, err := id.param("server id")
	if err != nil {
		return nil, err
	}
	if o.PipelineRunID < 0 {
		return nil, invalidArg("PipelineRunID", "must not be negative (got %d)", int64(o.PipelineRunID))
	}
	if o.Timeout < 0 {
		return nil, invalidArg("Timeout", "negative duration %s", o.Timeout)
	}
	q := url.Values{}
	if t := strings.TrimSpace(o.TaskID); t != "" {
		q.Set("task_id", t)
	}
	if o.PipelineRunID > 0 {
		q.Set("pipeline_run_id", o.PipelineRunID.String())
	}
	if o.Timeout > 0 {
		secs := int64((o.Timeout + time.Second - 1) / time.Second)
		q.Set("timeout", strconv.FormatInt(secs, 10))
		if s.c.timeout > 0 {
			opts = append([]RequestOption{WithAttemptTimeout(s.c.timeout + time.Duration(secs)*time.Second)}, opts...)
		}
	}
	var out SyncRunStatus
	cl := &call{route: routes.MustLookup(route), params: []string{p}, query: q, decode: func(b []byte) error {
		return decodeRunStatus(b, &out)
	}}
	if err := s.c.do(ctx, cl, opts); err != nil {
		return nil, err
	}
	return &out, nil
}

func decodeRunStatus(b []byte, out *SyncRunStatus) error {
	var w struct {
		Running json.RawMessage `json:"running"`
		RunID   json.RawMessage `json:"run_id"`
		TaskID  json.RawMessage `json:"task_id"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	// As in Peliqan's client (status.get("running", True)): absent is
	// running, null is not.
	running := svBool(true)
	if w.Running != nil {
		if err := json.Unmarshal(w.Running, &running); err != nil {
			return fmt.Errorf("running: %w", err)
		}
	}
	*out = SyncRunStatus{Running: bool(running), TaskID: svText(w.TaskID)}
	raw := bytes.TrimSpace(w.RunID)
	switch {
	case len(raw) == 0 || string(raw) == "null":
	case raw[0] == '[':
		if err := json.Unmarshal(raw, &out.RunIDs); err != nil {
			return fmt.Errorf("run_id: %w", err)
		}
	default:
		var one ID
		if err := json.Unmarshal(raw, &one); err != nil {
			return fmt.Errorf("run_id: %w", err)
		}
		if one != 0 {
			out.RunIDs = []ID{one}
		}
	}
	if len(out.RunIDs) > 0 {
		out.RunID = out.RunIDs[0]
	}
	return nil
}

// svString decodes a JSON string, number or bool as text; null is "".
type svString string

func (s *svString) UnmarshalJSON(b []byte) error {
	*s = svString(svText(b))
	return nil
}

// svBool decodes true/false, "true"/"false"/"1"/"0", numbers (non-zero is
// true) and null (false).
type svBool bool

func (v *svBool) UnmarshalJSON(b []byte) error {
	switch string(bytes.TrimSpace(b)) { // the usual literals, without a copy
	case "true":
		*v = true
		return nil
	case "false", "null":
		*v = false
		return nil
	}
	t := strings.ToLower(strings.TrimSpace(svText(b)))
	switch t {
	case "", "false", "0", "no", "none":
		*v = false
	case "true", "1", "yes":
		*v = true
	default:
		f, err := strconv.ParseFloat(t, 64)
		if err != nil {
			return fmt.Errorf("%q is not a boolean", t)
		}
		*v = f != 0
	}
	return nil
}

// svFloat decodes a number or a numeric string; null and "" are 0.
type svFloat float64

func (v *svFloat) UnmarshalJSON(b []byte) error {
	if b = bytes.TrimSpace(b); isJSONNumberStart(b) {
		// A number literal is its own text: parse it without a copy.
		if f, err := strconv.ParseFloat(string(b), 64); err == nil {
			*v = svFloat(f)
			return nil
		}
	}
	t := strings.TrimSpace(svText(b))
	if t == "" {
		*v = 0
		return nil
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil {
		return fmt.Errorf("%q is not a number", t)
	}
	*v = svFloat(f)
	return nil
}

// svText renders a JSON value as text: a string's contents, null as "",
// anything else (number, bool, object, list) as its compact JSON.
func svText(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	switch c := raw[0]; {
	case c == '"':
		if s, ok := plainJSONString(raw); ok {
			return s
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	case isJSONNumberStart(raw), c == 't', c == 'f':
		// A number or bool literal, trimmed, is already compact (and
		// json.Compact would give back an invalid one as it is).
		return string(raw)
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) == nil {
		return buf.String()
	}
	return string(raw)
}

// plainJSONString returns the contents of a quoted JSON string that has no
// escapes, no control characters and only valid UTF-8: the common case,
// whose contents are its bytes. ok is false for anything else, which
// encoding/json then decodes.
func plainJSONString(raw []byte) (s string, ok bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	in := raw[1 : len(raw)-1]
	for _, c := range in {
		if c < 0x20 || c == '"' || c == '\\' {
			return "", false
		}
	}
	if !utf8.Valid(in) {
		return "", false
	}
	return string(in), true
}

func isJSONNumberStart(b []byte) bool {
	return len(b) > 0 && (b[0] == '-' || (b[0] >= '0' && b[0] <= '9'))
}

func svFirst(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
