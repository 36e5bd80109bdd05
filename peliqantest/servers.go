package peliqantest

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/internal/routes"
)

// Health statuses the fake moves connections through.
const (
	healthOK            = "OK"
	healthError         = "ERROR"
	healthChecking      = "CHECKING"
	healthAuthorizing   = "AUTHORIZING"
	healthReauthorising = "RE_AUTHORISING"
	healthReauthorised  = "RE_AUTHORISED"
	healthDisabled      = "DISABLED"
	healthWithErrors    = "COMPLETED_WITH_ERRORS"
)

// server is a connection.
type server struct {
	ID               int64      `json:"id"`
	Name             string     `json:"name"`
	ServerType       string     `json:"server_type"`
	ServerTypeID     int64      `json:"servertype_id"`
	HealthStatus     string     `json:"health_status"`
	RunInterval      int        `json:"run_interval"`
	DisableScheduler bool       `json:"disable_scheduler"`
	IsDatawarehouse  bool       `json:"is_datawarehouse"`
	IsTarget         bool       `json:"is_target"`
	TargetSchema     *schemaRef `json:"target_schema,omitempty"`
	CreatedAt        string     `json:"created_at"`
	LastSyncAt       *string    `json:"last_sync_at"`

	account  int64
	database *database // where the connection's data lands: the tenant's warehouse
	schema   *schema   // ... in this schema, whether or not target_schema shows it
	kind     *ServerType
	tables   []int64
	outcome  RunOutcome // "" means the server-wide default
	config   map[string]any
	current  *pipelineRun
	logs     []logLine
	authSeq  int
	authWhat string    // "oauth" or "reauth" while a flow is pending
	authDue  time.Time // when that flow finishes by itself (WithOAuthCompletion); zero: never
}

// schemaRef is a connection's target_schema as vendor tooling reads it:
// {"schema_name": ...}, nothing more is evidenced.
type schemaRef struct {
	SchemaName string `json:"schema_name"`
}

func serverHandlers() map[string]handlerFunc {
	h := map[string]handlerFunc{
		routes.ListServers:            listServers,
		routes.GetServer:              withServer(func(c *call, s *server) reply { return c.ok(s) }),
		routes.CreateServer:           createServer,
		routes.ServerLogs:             withServer(func(c *call, s *server) reply { return c.ok(map[string]any{"logs": s.logs}) }),
		routes.SyncServer:             withServer(func(c *call, s *server) reply { return c.startRunAndTell(s, runSync) }),
		routes.FullResync:             withServer(func(c *call, s *server) reply { return c.startRunAndTell(s, runResync) }),
		routes.GetServerSyncRunStatus: withServer(func(c *call, s *server) reply { return c.runStatus(s, runSync) }),
		routes.FullResyncStatus:       withServer(func(c *call, s *server) reply { return c.runStatus(s, runResync) }),
		routes.ReAuthoriseServer:      withServer(reauthorise),
		routes.ManualRefreshSaltEdge:  withServer(refreshSaltEdge),
		routes.ListServerRuns:         withServer(listServerRuns),
		routes.GetPipelineRuns:        getPipelineRuns,
		routes.PipelineRunLogs:        pipelineRunLogs,
	}
	maps.Copy(h, lifecycleHandlers())
	return h
}

// startRunAndTell is startRun, and pipeline_run_started when a run began.
func (c *call) startRunAndTell(s *server, kind string) reply {
	before := s.current
	rep := c.startRun(s, kind)
	if r := s.current; r != nil && r != before {
		c.s.cfg.lifecycle.hub.runStarted(c.s.st, r)
	}
	return rep
}

// withServer resolves the {id} parameter to one of the caller's
// connections; anything else is 404.
func withServer(h func(*call, *server) reply) handlerFunc {
	return func(c *call) reply {
		id, ok := c.idParam(0)
		if !ok {
			return notFound()
		}
		s := c.s.st.server(c.acct, id)
		if s == nil {
			return notFound()
		}
		return h(c, s)
	}
}

func listServers(c *call) reply {
	out := make([]*server, 0, len(c.acct.servers))
	for _, id := range c.acct.servers {
		out = append(out, c.s.st.servers[id])
	}
	return c.ok(out)
}

// newServer adds a connection of type t to a, with a schema of its own in
// the tenant's warehouse holding the type's tables.
func (st *state) newServer(a *account, t *ServerType, name string, now time.Time) *server {
	s := &server{ID: st.id(), Name: name, ServerType: t.Name, ServerTypeID: t.ID, HealthStatus: healthOK,
		RunInterval: 86400, CreatedAt: ts(now), account: a.ID, kind: t, config: map[string]any{}, database: a.dw}
	s.schema = st.newSchema(a.dw, uniqueSchemaName(a.dw, generatedSchemaName(t.Name, s.ID)))
	s.TargetSchema = &schemaRef{SchemaName: s.schema.Name}
	for _, tf := range t.Tables {
		tb := st.newTable(a.dw, s.schema, tf.Name, tf.Fields, tableSeed(s.ID, tf.Name), now)
		s.tables = append(s.tables, tb.ID)
	}
	if t.AuthType == AuthOAuth {
		s.HealthStatus = healthAuthorizing
		s.authWhat = "oauth"
	}
	st.servers[s.ID] = s
	a.servers = append(a.servers, s.ID)
	s.logs = append(s.logs, logAt(now, "INFO", "Connection %q created (%s)", name, t.Name))
	return s
}

func createServer(c *call) reply {
	var body map[string]any
	if rep, ok := c.decodeBody(&body); !ok {
		return rep
	}
	raw, ok := body["servertype_id"]
	if !ok || raw == nil {
		return required("servertype_id")
	}
	tid, err := strconv.ParseInt(strings.TrimSpace(fmt.Sprint(raw)), 10, 64)
	if err != nil {
		return fieldErrors("servertype_id", "Incorrect type. Expected pk value.")
	}
	t := c.s.st.serverTypeByID(tid)
	if t == nil {
		return fieldErrors("servertype_id", fmt.Sprintf("Invalid pk \"%d\" - object does not exist.", tid))
	}
	var missing []string
	for _, f := range t.FormFields {
		if v, ok := body[f.Name]; f.Required && (!ok || v == nil || fmt.Sprint(v) == "") {
			missing = append(missing, f.Name, "This field is required.")
		}
	}
	if len(missing) > 0 {
		return fieldErrors(missing...)
	}
	name, _ := body["name"].(string)
	if strings.TrimSpace(name) == "" {
		name = t.DisplayName
	}
	s := c.s.st.newServer(c.acct, t, name, c.now)
	for k, v := range body {
		s.config[k] = v
	}
	out := struct {
		*server
		OAuthURL string `json:"oauth_url,omitempty"`
	}{server: s}
	hub := c.s.cfg.lifecycle.hub
	if t.AuthType == AuthOAuth {
		out.OAuthURL = authURL(s, "authorize")
		hub.startAuth(s, c.now)
	} else {
		hub.emitConnection(c.s.st, peliqan.WebhookConnectionAdded, s, c.now)
	}
	return c.ok(out)
}

// authURL is where a user would go to authorise the connection. It points
// at a reserved example domain: the fake has no consent page; tests finish
// the flow with CompleteOAuth.
func authURL(s *server, what string) string {
	s.authSeq++
	q := url.Values{"server_id": {strconv.FormatInt(s.ID, 10)}, "state": {fmt.Sprintf("%d-%d", s.ID, s.authSeq)}}
	return "https://oauth.example.com/" + s.ServerType + "/" + what + "?" + q.Encode()
}

func reauthorise(c *call, s *server) reply {
	if s.kind.AuthType != AuthOAuth {
		return c.peliqanError(http.StatusBadRequest, "ERROR_REAUTHORISATION_NOT_SUPPORTED",
			"This connection is not authorised with OAuth")
	}
	s.HealthStatus = healthReauthorising
	s.authWhat = "reauth"
	s.logs = append(s.logs, logAt(c.now, "INFO", "Re-authorisation started"))
	c.s.cfg.lifecycle.hub.startAuth(s, c.now)
	return c.ok(map[string]string{"auth_uri": authURL(s, "reauthorize")})
}

func refreshSaltEdge(c *call, s *server) reply {
	if !s.kind.SaltEdge {
		return c.peliqanError(http.StatusBadRequest, "ERROR_NOT_A_SALTEDGE_CONNECTION",
			"Manual refresh is only available for SaltEdge connections")
	}
	s.authSeq++
	q := url.Values{"server_id": {strconv.FormatInt(s.ID, 10)}, "token": {fmt.Sprintf("rf-%d-%d", s.ID, s.authSeq)}}
	s.logs = append(s.logs, logAt(c.now, "INFO", "SaltEdge refresh requested"))
	return c.ok(map[string]string{"refresh_url": "https://saltedge.example.com/connect/refresh?" + q.Encode()})
}

// CompleteOAuth finishes the pending OAuth flow of a connection (the one
// started by creating an OAuth connection or by re-authorising it): a new
// connection becomes OK (and connection_added is sent to the registered
// webhooks), a re-authorised one RE_AUTHORISED. WithOAuthCompletion does
// the same by itself after a delay.
func (s *Fake) CompleteOAuth(id peliqan.ID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	srv := s.st.servers[int64(id)]
	if srv == nil {
		return fmt.Errorf("peliqantest: no connection %d", id)
	}
	if srv.authWhat != "oauth" && srv.authWhat != "reauth" {
		return fmt.Errorf("peliqantest: connection %d has no authorisation in progress (health %s)", id, srv.HealthStatus)
	}
	s.cfg.lifecycle.hub.completeAuth(s.st, srv, s.now())
	return nil
}

// MarkNeedsReauth makes a connection's credentials stale: its health
// becomes RE_AUTHORISING and syncs are refused until it is re-authorised
// (the ReAuthoriseServer route, then CompleteOAuth).
func (s *Fake) MarkNeedsReauth(id peliqan.ID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	srv := s.st.servers[int64(id)]
	if srv == nil {
		return fmt.Errorf("peliqantest: no connection %d", id)
	}
	srv.HealthStatus = healthReauthorising
	srv.authWhat, srv.authDue = "reauth", time.Time{}
	srv.logs = append(srv.logs, logAt(s.now(), "ERROR", "Credentials expired: re-authorisation needed"))
	return nil
}

// SetHealthStatus sets a connection's health_status to any value (for
// example DISABLED, which refuses syncs, or ERROR).
func (s *Fake) SetHealthStatus(id peliqan.ID, status string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	srv := s.st.servers[int64(id)]
	if srv == nil {
		return fmt.Errorf("peliqantest: no connection %d", id)
	}
	srv.HealthStatus = status
	return nil
}

// SetSyncOutcome sets how the connection's next runs end (until changed);
// "" goes back to the server-wide default (WithSyncOutcome).
func (s *Fake) SetSyncOutcome(id peliqan.ID, o RunOutcome) error {
	if o != "" && !o.valid() {
		return fmt.Errorf("peliqantest: unknown outcome %q", string(o))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	srv := s.st.servers[int64(id)]
	if srv == nil {
		return fmt.Errorf("peliqantest: no connection %d", id)
	}
	srv.outcome = o
	return nil
}

func listServerRuns(c *call, s *server) reply {
	page, per, bad, ok := c.pageParams()
	if !ok {
		return bad
	}
	var runs []*pipelineRun
	for i := len(c.acct.runs) - 1; i >= 0; i-- {
		if r := c.s.st.runs[c.acct.runs[i]]; r != nil && r.ServerID == s.ID {
			runs = append(runs, r)
		}
	}
	return c.ok(pageOf(runs, page, per))
}

// getPipelineRuns lists the tenant's runs, newest first, or the ones named
// in run_id (a comma list); unknown ids are left out, so an empty data
// means not found.
func getPipelineRuns(c *call) reply {
	page, per, bad, ok := c.pageParams()
	if !ok {
		return bad
	}
	var runs []*pipelineRun
	if ids := c.query.Get("run_id"); ids != "" {
		for _, p := range strings.Split(ids, ",") {
			id, err := strconv.ParseInt(strings.TrimSpace(p), 10, 64)
			if err != nil {
				return fieldErrors("run_id", "A comma-separated list of integers is required.")
			}
			if r := c.s.st.run(c.acct, id); r != nil {
				runs = append(runs, r)
			}
		}
	} else {
		for i := len(c.acct.runs) - 1; i >= 0; i-- {
			if r := c.s.st.runs[c.acct.runs[i]]; r != nil {
				runs = append(runs, r)
			}
		}
	}
	return c.ok(pageOf(runs, page, per))
}

func pipelineRunLogs(c *call) reply {
	id, ok := c.idParam(0)
	if !ok {
		return notFound()
	}
	r := c.s.st.run(c.acct, id)
	if r == nil {
		return notFound()
	}
	return c.ok(map[string]any{"run_id": r.ID, "logs": r.logs})
}

// generatedSchemaName names a connection's schema. Peliqan does not
// document how it names them; the fake deliberately uses neither the
// connection's name nor a slug of it (the connector type and the
// connection's id, e.g. "pipedrive_c14"), so a client that derives schema
// names instead of asking (the lookup routes, target_schema) fails here.
func generatedSchemaName(serverType string, id int64) string {
	return slug(serverType) + "_c" + strconv.FormatInt(id, 10)
}

// slug lower-cases a name to letters, digits and single underscores.
func slug(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "_"):
			b.WriteByte('_')
		}
	}
	s := strings.TrimSuffix(b.String(), "_")
	if s == "" {
		return "connection"
	}
	return s
}

func uniqueSchemaName(d *database, base string) string {
	name := base
	for i := 2; d.schemaByName(name) != nil; i++ {
		name = base + "_" + strconv.Itoa(i)
	}
	return name
}
