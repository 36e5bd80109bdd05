package peliqan

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/peliqan-community/peliqan-go/internal/routes"
)

const srvBase = "https://api.test/base"

// srvReq is one request the mock saw.
type srvReq struct {
	Method, Path string
	Query        url.Values
	Body         string
	Auth         string
}

// srvMock is an httpmock transport bound to one client, recording every
// request. Unregistered requests fail the test.
type srvMock struct {
	t  *testing.T
	mt *httpmock.MockTransport
	mu sync.Mutex
	rs []srvReq
	// entered lists request paths as the client sent them (health tests).
	entered []string
}

func srvClient(t *testing.T, opts ...Option) (*SubAccountClient, *srvMock) {
	t.Helper()
	m := &srvMock{t: t, mt: httpmock.NewMockTransport()}
	m.mt.RegisterNoResponder(func(r *http.Request) (*http.Response, error) {
		t.Errorf("unexpected request %s %s", r.Method, r.URL)
		return httpmock.NewStringResponse(599, "unexpected"), nil
	})
	base := []Option{WithBaseURL(srvBase), WithHTTPClient(&http.Client{Transport: m.mt}),
		WithRetryPolicy(RetryPolicy{MaxAttempts: 3, Backoff: BackoffConstant})}
	c, err := NewSubAccountClient("tenant-tok", append(base, opts...)...)
	require.NoError(t, err)
	return c, m
}

// on answers method+path (relative to the base, no query) with the
// responses in turn; the last one repeats.
func (m *srvMock) on(method, path string, answers ...httpmock.Responder) {
	var mu sync.Mutex
	n := 0
	m.mt.RegisterResponder(method, srvBase+path, func(r *http.Request) (*http.Response, error) {
		m.record(r)
		mu.Lock()
		a := answers[min(n, len(answers)-1)]
		n++
		mu.Unlock()
		return a(r)
	})
}

func (m *srvMock) record(r *http.Request) {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rs = append(m.rs, srvReq{Method: r.Method, Path: strings.TrimPrefix(r.URL.EscapedPath(), "/base"),
		Query: r.URL.Query(), Body: string(body), Auth: r.Header.Get("Authorization")})
}

func (m *srvMock) reqs() []srvReq {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]srvReq(nil), m.rs...)
}

func (m *srvMock) count() int { return len(m.reqs()) }

func srvJSON(status int, body string) httpmock.Responder {
	return func(*http.Request) (*http.Response, error) {
		r := httpmock.NewStringResponse(status, body)
		r.Header.Set("Content-Type", "application/json")
		return r, nil
	}
}

func srvQ(kv ...string) url.Values {
	q := url.Values{}
	for i := 0; i < len(kv); i += 2 {
		q.Add(kv[i], kv[i+1])
	}
	return q
}

func TestListServersShapes(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"array":   `[{"id": 1, "name": "CRM", "server_type": "hubspot", "health_status": "OK"}, {"id": "2", "name": "Bank"}]`,
		"data":    `{"data": [{"id": 1, "name": "CRM", "server_type": "hubspot", "health_status": "OK"}, {"id": 2, "name": "Bank"}], "next": null}`,
		"results": `{"count": 2, "next": null, "previous": null, "results": [{"id": 1, "name": "CRM", "server_type": "hubspot", "health_status": "OK"}, {"connection_id": 2, "name": "Bank"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, m := srvClient(t)
			m.on("GET", "/api/servers/", srvJSON(200, body))
			got, err := c.ListServers(context.Background())
			require.NoError(t, err)
			require.Len(t, got, 2)
			assert.Equal(t, ID(1), got[0].ID)
			assert.Equal(t, "CRM", got[0].Name)
			assert.Equal(t, "hubspot", got[0].ServerType)
			assert.Equal(t, HealthOK, got[0].HealthStatus)
			assert.Equal(t, ID(2), got[1].ID)
			assert.Equal(t, []srvReq{{Method: "GET", Path: "/api/servers/", Query: url.Values{}, Auth: "JWT tenant-tok"}}, m.reqs())
		})
	}
}

func TestListServersFollowsPages(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	m.on("GET", "/api/servers/",
		srvJSON(200, `{"data": [{"id": 1}], "next": "https://elsewhere.test/api/servers/?page=2"}`),
		srvJSON(200, `{"data": [{"id": 2}], "next": null}`))
	got, err := c.ListServers(context.Background())
	require.NoError(t, err)
	require.Len(t, got, 2)
	rs := m.reqs()
	require.Len(t, rs, 2)
	assert.Equal(t, srvQ("page", "2"), rs[1].Query)
	assert.Equal(t, "/api/servers/", rs[1].Path, "the next link's host and path are not followed")
}

func TestServerDecodesTolerantly(t *testing.T) {
	t.Parallel()
	var s Server
	require.NoError(t, json.Unmarshal([]byte(`{"connection_id": "7", "name": null, "server_type": 12,
		"health_status": "SOMETHING_NEW", "run_interval": "86400", "disable_scheduler": "true",
		"is_datawarehouse": 1, "is_target": false, "extra": {"a": 1}}`), &s))
	assert.Equal(t, ID(7), s.ID)
	assert.Equal(t, "", s.Name)
	assert.Equal(t, "12", s.ServerType)
	assert.Equal(t, HealthStatus("SOMETHING_NEW"), s.HealthStatus)
	assert.Equal(t, 24*time.Hour, s.RunInterval)
	assert.True(t, s.SchedulerDisabled)
	assert.True(t, s.IsDataWarehouse)
	assert.False(t, s.IsTarget)
	assert.Contains(t, string(s.Raw), `"extra"`)

	require.NoError(t, json.Unmarshal([]byte(`{"id": 3, "server_type": {"name": "xero"}}`), &s))
	assert.Equal(t, `{"name":"xero"}`, s.ServerType)
	assert.Error(t, json.Unmarshal([]byte(`{"id": "x"}`), &s))
}

func TestGetServer(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	m.on("GET", "/api/servers/12/", srvJSON(200, `{"id": 12, "name": "CRM", "health_status": "ERROR"}`))
	got, err := c.GetServer(context.Background(), 12)
	require.NoError(t, err)
	assert.Equal(t, ID(12), got.ID)
	assert.Equal(t, HealthError, got.HealthStatus)
	assert.Equal(t, []srvReq{{Method: "GET", Path: "/api/servers/12/", Query: url.Values{}, Auth: "JWT tenant-tok"}}, m.reqs())
}

func TestServerMethodsRefuseBadIDs(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	ctx := context.Background()
	calls := map[string]func(ID) error{
		"GetServer":             func(id ID) error { _, err := c.GetServer(ctx, id); return err },
		"GetServerHealthStatus": func(id ID) error { _, err := c.GetServerHealthStatus(ctx, id); return err },
		"ServerLogs":            func(id ID) error { _, err := c.ServerLogs(ctx, id); return err },
		"SyncServer":            func(id ID) error { _, err := c.SyncServer(ctx, id, nil); return err },
		"FullResync":            func(id ID) error { _, err := c.FullResync(ctx, id); return err },
		"GetServerSyncRunStatus": func(id ID) error {
			_, err := c.GetServerSyncRunStatus(ctx, id, &SyncStatusOptions{TaskID: "t"})
			return err
		},
		"ReAuthoriseServer":     func(id ID) error { _, err := c.ReAuthoriseServer(ctx, id); return err },
		"ManualRefreshSaltEdge": func(id ID) error { _, err := c.ManualRefreshSaltEdge(ctx, id); return err },
		"ListServerRuns":        func(id ID) error { _, err := c.ListServerRuns(ctx, id, nil); return err },
		"PipelineRunLogs":       func(id ID) error { _, err := c.PipelineRunLogs(ctx, id); return err },
	}
	for name, f := range calls {
		for _, id := range []ID{0, -3} {
			err := f(id)
			assert.ErrorIs(t, err, ErrInvalidArgument, "%s(%d)", name, id)
		}
	}
	assert.Zero(t, m.count(), "bad input is refused before any request")
}

// healthTable is the documented mapping, one helper per value.
var healthTable = []struct {
	status HealthStatus
	helper string
}{
	{HealthOK, "healthy"}, {HealthHealthy, "healthy"}, {HealthReEnabled, "healthy"}, {HealthReAuthorised, "healthy"},
	{HealthAuthorizing, "reauth"}, {HealthReAuthorising, "reauth"}, {HealthConfigSelect, "reauth"},
	{HealthChecking, "progress"},
	{HealthError, "failed"}, {HealthCompletedWithErrors, "failed"},
	{HealthDisabled, "disabled"},
}

func healthHelpers(h HealthStatus) map[string]bool {
	return map[string]bool{"healthy": h.IsHealthy(), "reauth": h.NeedsReauthorisation(),
		"progress": h.InProgress(), "failed": h.IsFailed(), "disabled": h.IsDisabled()}
}

func TestGetServerHealthStatusEveryValue(t *testing.T) {
	t.Parallel()
	require.Len(t, healthTable, 11, "all 11 documented values")
	cases := append([]struct {
		status HealthStatus
		helper string
	}{{"BRAND_NEW_STATE", ""}, {"", ""}}, healthTable...)
	for _, tc := range cases {
		t.Run(string(tc.status), func(t *testing.T) {
			t.Parallel()
			c, m := srvClient(t)
			raw, err := json.Marshal(string(tc.status))
			require.NoError(t, err)
			m.on("GET", "/api/servers/5/", srvJSON(200, `{"id": 5, "name": "CRM", "health_status": `+string(raw)+`, "x": 1}`))
			h, err := c.GetServerHealthStatus(context.Background(), 5)
			require.NoError(t, err)
			assert.Equal(t, &ServerHealth{ID: 5, Name: "CRM", HealthStatus: tc.status}, h)
			assert.Equal(t, tc.helper != "", h.HealthStatus.IsKnown())
			for name, v := range healthHelpers(h.HealthStatus) {
				assert.Equal(t, name == tc.helper, v, "%s of %q", name, tc.status)
			}
			// Round trip: the value goes back out exactly as it came in.
			out, err := json.Marshal(h.HealthStatus)
			require.NoError(t, err)
			assert.Equal(t, string(raw), string(out))
			assert.Equal(t, "/api/servers/5/", m.reqs()[0].Path)
		})
	}
}

func TestHealthStatusHelpersIgnoreCase(t *testing.T) {
	t.Parallel()
	h := HealthStatus(" ok ")
	assert.True(t, h.IsKnown())
	assert.True(t, h.IsHealthy())
	assert.Equal(t, " ok ", string(h), "the value is kept as sent")
	assert.True(t, HealthStatus("re_authorising").NeedsReauthorisation())
}

func TestCreateServerAPIKey(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	m.on("POST", "/api/servers/", srvJSON(200, `{"id": 41, "name": "Stripe", "health_status": "OK"}`))
	got, err := c.CreateServer(context.Background(), ServerCreate{ServerTypeID: 7,
		Fields: map[string]any{"name": "Stripe", "api_key": "sk_<live>&x"}})
	require.NoError(t, err)
	assert.Equal(t, ID(41), got.ID)
	assert.Empty(t, got.OAuthURL)
	require.NotNil(t, got.Server)
	assert.Equal(t, HealthOK, got.Server.HealthStatus)
	rs := m.reqs()
	require.Len(t, rs, 1)
	assert.Equal(t, "POST", rs[0].Method)
	assert.Equal(t, "/api/servers/", rs[0].Path)
	assert.JSONEq(t, `{"servertype_id": 7, "name": "Stripe", "api_key": "sk_<live>&x"}`, rs[0].Body)
	assert.Contains(t, rs[0].Body, `sk_<live>&x`, "no HTML escaping")
}

func TestCreateServerOAuth(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	m.on("POST", "/api/servers/", srvJSON(200, `{"id": "42", "oauth_url": "https://login.example.test/authorize?state=abc"}`))
	got, err := c.CreateServer(context.Background(), ServerCreate{ServerTypeID: 3})
	require.NoError(t, err)
	assert.Equal(t, ID(42), got.ID)
	assert.Equal(t, "https://login.example.test/authorize?state=abc", got.OAuthURL)
	assert.JSONEq(t, `{"servertype_id": 3}`, m.reqs()[0].Body)
}

// TestCreateServerResolvesRelativeOAuthURL: a relative oauth_url is
// resolved against the URL of the request it answers (RFC 3986 5.1.3), so
// the customer can still be sent to it.
func TestCreateServerResolvesRelativeOAuthURL(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"/oauth/hubspot/authorize?state=a%20b": "https://api.test/oauth/hubspot/authorize?state=a%20b",
		"authorize?state=1":                    "https://api.test/base/api/servers/authorize?state=1",
		"//login.example.test/authorize":       "https://login.example.test/authorize",
		" https://login.example.test/x?y=1 ":   "https://login.example.test/x?y=1",
	} {
		c, m := srvClient(t)
		body, _ := json.Marshal(map[string]any{"id": 42, "oauth_url": raw})
		m.on("POST", "/api/servers/", srvJSON(201, string(body)))
		got, err := c.CreateServer(context.Background(), ServerCreate{ServerTypeID: 3})
		require.NoError(t, err, raw)
		assert.Equal(t, ID(42), got.ID, raw)
		assert.Equal(t, want, got.OAuthURL, raw)
		assert.Equal(t, 1, m.count())
	}
}

// TestCreateServerUnsafeOAuthURLKeepsTheConnection: an oauth_url that cannot
// be made an absolute http(s) URL is never handed on, but the connection
// exists: its ID comes back beside a *DecodeError, so the caller does not
// create a second one by retrying.
func TestCreateServerUnsafeOAuthURLKeepsTheConnection(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{"javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,<script>x</script>",
		"ftp://files.example.test/x", "https://", "http:///path", "http://[::1", "%zz", "java\tscript:alert(1)", " ", "\u0000"} {
		c, m := srvClient(t)
		m.on("POST", "/api/servers/", srvJSON(200, `{"id": 42, "name": "HubSpot", "oauth_url": "`+raw+`"}`))
		got, err := c.CreateServer(context.Background(), ServerCreate{ServerTypeID: 3})
		var de *DecodeError
		require.ErrorAs(t, err, &de, raw)
		assert.ErrorIs(t, err, ErrMalformedResponse, raw)
		require.NotNil(t, got, "%s: the connection was created; its result is returned", raw)
		assert.Equal(t, ID(42), got.ID, raw)
		assert.Empty(t, got.OAuthURL, raw)
		require.NotNil(t, got.Server, raw)
		assert.Equal(t, "HubSpot", got.Server.Name, raw)
		assert.Contains(t, err.Error(), "42", "the error names the connection that exists")
		assert.Equal(t, 1, m.count())
	}
}

// TestCreateServerUndecodableAnswerKeepsTheID: the connection is created
// whatever the rest of the answer looks like; what could be read (its ID
// first) comes back beside the *DecodeError.
func TestCreateServerUndecodableAnswerKeepsTheID(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{"name": "CRM", "run_interval": "every day", "id": 42}`,
		`{"id": 42, "name": "CRM", "health_status": "OK", "is_target": "maybe"}`,
		`{"id": 42, "name": "CR`,
		`{"id": "42", "name": "CRM", "server_type": {"a": [1, 2`,
	} {
		c, m := srvClient(t)
		m.on("POST", "/api/servers/", srvJSON(201, body))
		got, err := c.CreateServer(context.Background(), ServerCreate{ServerTypeID: 3})
		require.ErrorIs(t, err, ErrMalformedResponse, body)
		require.NotNil(t, got, body)
		assert.Equal(t, ID(42), got.ID, body)
		require.NotNil(t, got.Server, body)
		assert.Equal(t, ID(42), got.Server.ID, body)
	}
	// Nothing to read at all: the result is still there (the write was
	// accepted), with no ID.
	for _, body := range []string{`<html>ok</html>`, ``, ` `} {
		c, m := srvClient(t)
		m.on("POST", "/api/servers/", srvJSON(200, body))
		got, err := c.CreateServer(context.Background(), ServerCreate{ServerTypeID: 3})
		require.ErrorIs(t, err, ErrMalformedResponse, "%q", body)
		assert.Contains(t, err.Error(), "the connection was created")
		require.NotNil(t, got)
		assert.Zero(t, got.ID)
	}
	c, m := srvClient(t)
	// An answer that is an error is not a write: no result.
	m.on("POST", "/api/servers/", srvJSON(400, `{"name": ["This field is required."]}`))
	got, err := c.CreateServer(context.Background(), ServerCreate{ServerTypeID: 3})
	require.ErrorIs(t, err, ErrValidation)
	assert.Nil(t, got)
}

func TestCreateServerInvalidInput(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	for _, in := range []ServerCreate{
		{},
		{ServerTypeID: -1},
		{ServerTypeID: 1, Fields: map[string]any{"servertype_id": 2}},
		{ServerTypeID: 1, Fields: map[string]any{" ": 2}},
	} {
		_, err := c.CreateServer(context.Background(), in)
		assert.ErrorIs(t, err, ErrInvalidArgument, "%+v", in)
	}
	assert.Zero(t, m.count())
}

func TestCreateServerNotRetried(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	m.on("POST", "/api/servers/", srvJSON(503, `{"error": "UNAVAILABLE"}`))
	_, err := c.CreateServer(context.Background(), ServerCreate{ServerTypeID: 3})
	assert.ErrorIs(t, err, ErrServer)
	assert.Equal(t, 1, m.count())
}

func TestServerLogs(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	m.on("GET", "/api/servers/9/logs/", srvJSON(200, `{"logs": ["a", "b"]}`))
	got, err := c.ServerLogs(context.Background(), 9)
	require.NoError(t, err)
	assert.JSONEq(t, `{"logs": ["a", "b"]}`, string(got))
	assert.Equal(t, "/api/servers/9/logs/", m.reqs()[0].Path)
}

func TestSyncServerDefaultIsAsync(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	m.on("GET", "/api/servers/12/syncdb/", srvJSON(200, `{"server_id": 12, "health_status": "CHECKING",
		"run_data": [{"pipeline_run_id": 900, "task_id": "t-1"}], "task_id": "t-1", "detail": "Sync started", "syncing": true}`))
	got, err := c.SyncServer(context.Background(), 12, nil)
	require.NoError(t, err)
	assert.Equal(t, ID(12), got.ServerID)
	assert.Equal(t, HealthChecking, got.HealthStatus)
	assert.Equal(t, []RunRef{{PipelineRunID: 900, TaskID: "t-1"}}, got.RunData)
	assert.Equal(t, "t-1", got.TaskID)
	assert.Equal(t, "Sync started", got.Detail)
	assert.True(t, got.Syncing)
	assert.Equal(t, []srvReq{{Method: "GET", Path: "/api/servers/12/syncdb/",
		Query: srvQ("pipeline", "true", "is_async", "true"), Auth: "JWT tenant-tok"}}, m.reqs())
}

func TestSyncServerTablesCategoriesBlocking(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	m.on("GET", "/api/servers/12/syncdb/", srvJSON(200, `{"task_id": "t"}`))
	_, err := c.SyncServer(context.Background(), 12, &SyncOptions{Tables: []string{"deals", "contacts"},
		Categories: []string{"crm"}, Blocking: true})
	require.NoError(t, err)
	assert.Equal(t, srvQ("pipeline", "true", "is_async", "false", "tables", "deals,contacts", "categories", "crm"), m.reqs()[0].Query)
}

func TestSyncServerInvalidOptions(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	for _, o := range []*SyncOptions{
		{Tables: []string{"a,b"}},
		{Tables: []string{""}},
		{Categories: []string{" "}},
		{Blocking: true, BlockingTimeout: -time.Second},
	} {
		_, err := c.SyncServer(context.Background(), 1, o)
		assert.ErrorIs(t, err, ErrInvalidArgument, "%+v", o)
	}
	assert.Zero(t, m.count())
}

// srvSlow answers after d, or fails when the attempt's context ends first.
func srvSlow(d time.Duration, body string) httpmock.Responder {
	return func(r *http.Request) (*http.Response, error) {
		select {
		case <-time.After(d):
			return srvJSON(200, body)(r)
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
}

func TestSyncServerBlockingRaisesAttemptTimeout(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t, WithTimeout(30*time.Millisecond))
	m.on("GET", "/api/servers/12/syncdb/", srvSlow(120*time.Millisecond, `{"task_id": "t", "syncing": false}`))

	// Asynchronous: the client's 30 ms per-attempt timeout applies, and the
	// timed-out sync is not sent again.
	_, err := c.SyncServer(context.Background(), 12, nil)
	require.ErrorIs(t, err, ErrTimeout)
	assert.Equal(t, 1, m.count())

	// Blocking: the per-attempt timeout is raised for this call.
	got, err := c.SyncServer(context.Background(), 12, &SyncOptions{Blocking: true, BlockingTimeout: 5 * time.Second})
	require.NoError(t, err)
	assert.Equal(t, "t", got.TaskID)
	assert.Equal(t, 2, m.count())
	assert.Equal(t, "false", m.reqs()[1].Query.Get("is_async"))

	// A WithAttemptTimeout passed by the caller wins.
	_, err = c.SyncServer(context.Background(), 12, &SyncOptions{Blocking: true}, WithAttemptTimeout(10*time.Millisecond))
	assert.ErrorIs(t, err, ErrTimeout)
}

func TestSideEffectGETsSentOnceOn503(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		route, path string
		call        func(*SubAccountClient) error
	}{
		{routes.SyncServer, "/api/servers/12/syncdb/", func(c *SubAccountClient) error {
			_, err := c.SyncServer(ctx, 12, nil)
			return err
		}},
		{routes.FullResync, "/api/servers/12/resync/", func(c *SubAccountClient) error {
			_, err := c.FullResync(ctx, 12)
			return err
		}},
		{routes.ReAuthoriseServer, "/api/servers/12/reauthorise/", func(c *SubAccountClient) error {
			_, err := c.ReAuthoriseServer(ctx, 12)
			return err
		}},
		{routes.ManualRefreshSaltEdge, "/api/servers/12/saltedge/refresh/", func(c *SubAccountClient) error {
			_, err := c.ManualRefreshSaltEdge(ctx, 12)
			return err
		}},
	} {
		t.Run(tc.route, func(t *testing.T) {
			t.Parallel()
			r := routes.MustLookup(tc.route)
			assert.True(t, r.SideEffect)
			assert.False(t, r.Retry, "the routes table flags it")
			c, m := srvClient(t)
			m.on("GET", tc.path, srvJSON(503, `{"error": "UNAVAILABLE", "detail": "try later"}`))
			err := tc.call(c)
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, 503, ae.StatusCode)
			assert.Equal(t, 1, ae.Attempts)
			assert.ErrorIs(t, err, ErrServer)
			assert.Equal(t, 1, m.count(), "exactly one request reached the server")
		})
	}
}

func TestStatusGETIsRetried(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	m.on("GET", "/api/servers/12/syncdb/status/", srvJSON(503, `{}`), srvJSON(200, `{"running": false}`))
	st, err := c.GetServerSyncRunStatus(context.Background(), 12, &SyncStatusOptions{TaskID: "t"})
	require.NoError(t, err)
	assert.False(t, st.Running)
	assert.Equal(t, 2, m.count(), "a status read has no side effect")
}

// srvRefreshingTokens hands out "old", then "new" after a refresh.
type srvRefreshingTokens struct {
	mu        sync.Mutex
	cur       string
	refreshes int
}

func (s *srvRefreshingTokens) token(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur, nil
}

func (s *srvRefreshingTokens) refresh(_ context.Context, stale string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshes++
	s.cur = "new"
	return s.cur, nil
}

func TestSyncServerReplayedOnceAfter401(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	ts := &srvRefreshingTokens{cur: "old"}
	tc := &SubAccountClient{c: c.c.withTokens(ts)}
	m.on("GET", "/api/servers/12/syncdb/", srvJSON(401, `{"detail": "expired"}`), srvJSON(200, `{"task_id": "t"}`))
	got, err := tc.SyncServer(context.Background(), 12, nil)
	require.NoError(t, err)
	assert.Equal(t, "t", got.TaskID)
	rs := m.reqs()
	require.Len(t, rs, 2, "the 401 (not acted on) is replayed once with the fresh token")
	assert.Equal(t, "JWT old", rs[0].Auth)
	assert.Equal(t, "JWT new", rs[1].Auth)
	assert.Equal(t, 1, ts.refreshes)
}

func TestSyncResultDecoderShapes(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		body string
		want SyncResult
	}{
		"run_data list": {`{"server_id": 3, "run_data": [{"pipeline_run_id": 1, "task_id": "a"}, {"pipeline_run_id": "2", "task_id": "b"}]}`,
			SyncResult{ServerID: 3, RunData: []RunRef{{1, "a"}, {2, "b"}}}},
		"run_data object": {`{"run_data": {"pipeline_run_id": 5, "task_id": "c"}, "task_id": "c"}`,
			SyncResult{RunData: []RunRef{{5, "c"}}, TaskID: "c"}},
		"run_data null": {`{"run_data": null, "task_id": 77, "syncing": "true"}`,
			SyncResult{TaskID: "77", Syncing: true}},
		"no run_data, detail object": {`{"detail": {"message": "queued"}, "syncing": 0}`,
			SyncResult{Detail: `{"message":"queued"}`}},
		"empty body":     {``, SyncResult{}},
		"unknown health": {`{"health_status": "NEW_ONE"}`, SyncResult{HealthStatus: "NEW_ONE"}},
	} {
		var got SyncResult
		require.NoError(t, decodeSyncResult([]byte(tc.body), &got), name)
		assert.Equal(t, tc.want, got, name)
	}
	var got SyncResult
	assert.Error(t, decodeSyncResult([]byte(`{"run_data": "x"}`), &got))
	assert.Error(t, decodeSyncResult([]byte(`<html>`), &got))
}

func TestSyncServerMalformedAnswer(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	m.on("GET", "/api/servers/12/syncdb/", srvJSON(200, `<html>busy</html>`))
	_, err := c.SyncServer(context.Background(), 12, nil)
	assert.ErrorIs(t, err, ErrMalformedResponse)
	assert.Equal(t, 1, m.count())
}

func TestFullResync(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	m.on("GET", "/api/servers/8/resync/", srvJSON(200, `{"run_data": {"pipeline_run_id": 70, "task_id": "r-1"}}`))
	got, err := c.FullResync(context.Background(), 8)
	require.NoError(t, err)
	assert.Equal(t, ID(8), got.ServerID, "filled from the request when the server omits it")
	assert.Equal(t, []RunRef{{PipelineRunID: 70, TaskID: "r-1"}}, got.RunData)
	assert.True(t, got.resync)
	assert.Equal(t, []srvReq{{Method: "GET", Path: "/api/servers/8/resync/", Query: url.Values{}, Auth: "JWT tenant-tok"}}, m.reqs())
}

func TestGetServerSyncRunStatus(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t, WithTimeout(40*time.Millisecond))
	m.on("GET", "/api/servers/12/syncdb/status/", srvSlow(80*time.Millisecond, `{"running": false, "run_id": 900, "task_id": "t-1"}`))
	got, err := c.GetServerSyncRunStatus(context.Background(), 12,
		&SyncStatusOptions{TaskID: "t-1", PipelineRunID: 900, Timeout: 1500 * time.Millisecond})
	require.NoError(t, err, "the server-side timeout raises the attempt timeout")
	assert.Equal(t, &SyncRunStatus{Running: false, RunID: 900, RunIDs: []ID{900}, TaskID: "t-1"}, got)
	assert.Equal(t, srvQ("task_id", "t-1", "pipeline_run_id", "900", "timeout", "2"), m.reqs()[0].Query)

	_, err = c.GetServerSyncRunStatus(context.Background(), 12, &SyncStatusOptions{Timeout: -1})
	assert.ErrorIs(t, err, ErrInvalidArgument)
	_, err = c.GetServerSyncRunStatus(context.Background(), 12, &SyncStatusOptions{PipelineRunID: -1})
	assert.ErrorIs(t, err, ErrInvalidArgument)
	assert.Equal(t, 1, m.count())
}

func TestRunStatusDecoderShapes(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]SyncRunStatus{
		`{}`:                                     {Running: true},
		`{"running": null}`:                      {Running: false},
		`{"running": true, "run_id": "5"}`:       {Running: true, RunID: 5, RunIDs: []ID{5}},
		`{"running": "false", "run_id": [3, 4]}`: {Running: false, RunID: 3, RunIDs: []ID{3, 4}},
		`{"running": 0, "run_id": null}`:         {Running: false},
		`{"running": false, "task_id": 12}`:      {Running: false, TaskID: "12"},
	} {
		var got SyncRunStatus
		require.NoError(t, decodeRunStatus([]byte(body), &got), body)
		assert.Equal(t, want, got, body)
	}
	var got SyncRunStatus
	assert.Error(t, decodeRunStatus([]byte(`{"run_id": {"a": 1}}`), &got))
	assert.Error(t, decodeRunStatus([]byte(`{"running": "maybe"}`), &got))
}

func TestGetFullResyncStatus(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	m.on("GET", "/api/servers/8/resync/status/", srvJSON(200, `{"running": false, "run_id": [70, 71]}`))
	got, err := c.GetFullResyncStatus(context.Background(), 8, &SyncStatusOptions{TaskID: "r-1", PipelineRunID: 70})
	require.NoError(t, err)
	assert.Equal(t, []ID{70, 71}, got.RunIDs)
	assert.Equal(t, srvQ("task_id", "r-1"), m.reqs()[0].Query, "the resync status takes only task_id")
}

func TestReAuthoriseServer(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	m.on("GET", "/api/servers/4/reauthorise/", srvJSON(200, `{"auth_uri": "https://accounts.example.test/o/oauth2/auth?x=1"}`))
	u, err := c.ReAuthoriseServer(context.Background(), 4)
	require.NoError(t, err)
	assert.Equal(t, "https://accounts.example.test/o/oauth2/auth?x=1", u)
	assert.Equal(t, []srvReq{{Method: "GET", Path: "/api/servers/4/reauthorise/", Query: url.Values{}, Auth: "JWT tenant-tok"}}, m.reqs())
	r := routes.MustLookup(routes.ReAuthoriseServer)
	assert.Equal(t, routes.Inferred, r.Evidence)
}

func TestManualRefreshSaltEdge(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	m.on("GET", "/api/servers/4/saltedge/refresh/", srvJSON(200, `{"refresh_url": "https://www.saltedge.com/connect?token=abc"}`))
	u, err := c.ManualRefreshSaltEdge(context.Background(), 4)
	require.NoError(t, err)
	assert.Equal(t, "https://www.saltedge.com/connect?token=abc", u)
	assert.Equal(t, []srvReq{{Method: "GET", Path: "/api/servers/4/saltedge/refresh/", Query: url.Values{}, Auth: "JWT tenant-tok"}}, m.reqs())
	assert.Equal(t, routes.Inferred, routes.MustLookup(routes.ManualRefreshSaltEdge).Evidence)
	assert.Equal(t, routes.Inferred, routes.MustLookup(routes.GetServer).Evidence)
}

func TestBrowserURLAnswersChecked(t *testing.T) {
	t.Parallel()
	for _, body := range []string{`{}`, `{"auth_uri": ""}`, `{"auth_uri": "javascript:alert(1)"}`, `{"auth_uri": "https://"}`, `[]`} {
		c, m := srvClient(t)
		m.on("GET", "/api/servers/4/reauthorise/", srvJSON(200, body))
		_, err := c.ReAuthoriseServer(context.Background(), 4)
		var de *DecodeError
		assert.True(t, errors.As(err, &de), "%s: %v", body, err)
		assert.Equal(t, 1, m.count())
	}
}

// TestBrowserURLRelativeResolved: ReAuthoriseServer and ManualRefreshSaltEdge
// resolve a relative URL as CreateServer does.
func TestBrowserURLRelativeResolved(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	m.on("GET", "/api/servers/4/reauthorise/", srvJSON(200, `{"auth_uri": "/oauth/reauthorize?s=1"}`))
	m.on("GET", "/api/servers/4/saltedge/refresh/", srvJSON(200, `{"refresh_url": "connect?t=2"}`))
	u, err := c.ReAuthoriseServer(context.Background(), 4)
	require.NoError(t, err)
	assert.Equal(t, "https://api.test/oauth/reauthorize?s=1", u)
	u, err = c.ManualRefreshSaltEdge(context.Background(), 4)
	require.NoError(t, err)
	assert.Equal(t, "https://api.test/base/api/servers/4/saltedge/refresh/connect?t=2", u)
}

func TestSvDecoders(t *testing.T) {
	t.Parallel()
	var b svBool
	for in, want := range map[string]bool{`true`: true, `"1"`: true, `2`: true, `"no"`: false, `null`: false, `0.0`: false} {
		require.NoError(t, json.Unmarshal([]byte(in), &b), in)
		assert.Equal(t, want, bool(b), in)
	}
	var f svFloat
	require.NoError(t, json.Unmarshal([]byte(`"2.5"`), &f))
	assert.Equal(t, svFloat(2.5), f)
	assert.Error(t, json.Unmarshal([]byte(`"abc"`), &f))
	assert.Equal(t, "", svText(nil))
	assert.Equal(t, "[1,2]", svText([]byte(` [1, 2] `)))
}

func TestCreateServerValidatesAgainstConnectForm(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	m.on("POST", "/api/servers/", srvJSON(200, `{"id": 50}`))
	st := &ServerType{ID: 7, Name: "stripe", ConnectForm: []ConnectField{
		{Name: "api_key", Required: true}, {Name: "account", Required: true}, {Name: "note"},
	}}
	_, err := c.CreateServer(context.Background(), ServerCreate{Type: st, Fields: map[string]any{"api_key": "k", "account": " "}})
	require.ErrorIs(t, err, ErrInvalidArgument)
	assert.Contains(t, err.Error(), "account")
	_, err = c.CreateServer(context.Background(), ServerCreate{ServerTypeID: 8, Type: st, Fields: map[string]any{"api_key": "k", "account": "a"}})
	assert.ErrorIs(t, err, ErrInvalidArgument, "ServerTypeID and Type disagree")
	assert.Zero(t, m.count(), "refused before any request")

	got, err := c.CreateServer(context.Background(), ServerCreate{Type: st, Fields: map[string]any{"api_key": "k", "account": "a"}})
	require.NoError(t, err)
	assert.Equal(t, ID(50), got.ID)
	assert.JSONEq(t, `{"servertype_id": 7, "api_key": "k", "account": "a"}`, m.reqs()[0].Body, "ServerTypeID taken from Type")
}

func FuzzServerDecoders(f *testing.F) {
	for _, seed := range []string{
		`{"server_id": 3, "run_data": [{"pipeline_run_id": 1, "task_id": "a"}], "task_id": "a", "detail": "x", "syncing": true}`,
		`{"run_data": {"pipeline_run_id": "5"}, "health_status": "OK"}`,
		`{"running": false, "run_id": [1, 2]}`,
		`{"id": "7", "connection_id": 8, "server_type": {"a": 1}, "run_interval": "86400", "is_target": "yes"}`,
		``, `null`, `[]`, `{"run_data": 1}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var sr SyncResult
		_ = decodeSyncResult(b, &sr)
		var st SyncRunStatus
		if decodeRunStatus(b, &st) == nil && len(st.RunIDs) > 0 && st.RunID != st.RunIDs[0] {
			t.Fatalf("RunID %d is not the first of %v", st.RunID, st.RunIDs)
		}
		var s Server
		_ = json.Unmarshal(b, &s)
		// HealthStatus helpers never panic and at most one is true.
		h := HealthStatus(b)
		n := 0
		for _, v := range healthHelpers(h) {
			if v {
				n++
			}
		}
		if n > 1 || (n == 1) != h.IsKnown() {
			t.Fatalf("%q: %d helpers true, known=%t", h, n, h.IsKnown())
		}
	})
}
