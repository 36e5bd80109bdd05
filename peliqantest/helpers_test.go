package peliqantest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/internal/routes"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// tc is a plain net/http client for one test, with no redirects followed
// and no connection reuse across tests.
type tc struct {
	t   *testing.T
	srv *Fake
	hc  *http.Client
}

func newTC(t *testing.T, srv *Fake) *tc {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &tc{t: t, srv: srv, hc: &http.Client{
		Transport:     tr,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// path expands a route of the table.
func path(t *testing.T, name string, params ...string) string {
	t.Helper()
	p, err := routes.MustLookup(name).Expand(params...)
	require.NoError(t, err)
	return p
}

type resp struct {
	status int
	header http.Header
	body   []byte
	err    error // transport or body-read error
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body: %s", r.body)
	return m
}

func (r resp) list(t *testing.T) []map[string]any {
	t.Helper()
	var m []map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body: %s", r.body)
	return m
}

// raw sends one request; body is nil, a string, or a value sent as JSON.
func (c *tc) raw(method, p string, q url.Values, token string, body any) resp {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		raw, err := json.Marshal(b)
		require.NoError(c.t, err)
		rd = bytes.NewReader(raw)
	}
	u := c.srv.URL() + p
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequest(method, u, rd)
	require.NoError(c.t, err)
	if token != "" {
		req.Header.Set("Authorization", "JWT "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return resp{err: err}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b, err: err}
}

// call sends a request for a route and requires a transport success.
func (c *tc) call(route, token string, q url.Values, body any, params ...string) resp {
	c.t.Helper()
	rt := routes.MustLookup(route)
	r := c.raw(rt.Method, path(c.t, route, params...), q, token, body)
	require.NoError(c.t, r.err)
	return r
}

// ok calls a route and requires its exact success code.
func (c *tc) ok(route, token string, q url.Values, body any, params ...string) resp {
	c.t.Helper()
	r := c.call(route, token, q, body, params...)
	require.Equal(c.t, routes.MustLookup(route).Success, r.status, "%s: %s", route, r.body)
	return r
}

// tenantToken fetches a non-expiring identity token through the API.
func (c *tc) tenantToken(externalID string) string {
	c.t.Helper()
	r := c.ok(routes.SubAccountToken, c.srv.PartnerToken(), url.Values{"external_id": {externalID}, "expire": {"false"}}, nil)
	tok, _ := r.json(c.t)["token"].(string)
	require.NotEmpty(c.t, tok)
	return tok
}

// schemaOf is the schema a connection's data lands in, as its
// target_schema names it.
func (c *tc) schemaOf(token, serverID string) string {
	c.t.Helper()
	ts, _ := c.ok(routes.GetServer, token, nil, nil, serverID).json(c.t)["target_schema"].(map[string]any)
	name, _ := ts["schema_name"].(string)
	require.NotEmpty(c.t, name, "connection %s has no target_schema", serverID)
	return name
}

func id(v any) string {
	switch x := v.(type) {
	case float64:
		return jsonNum(x)
	case string:
		return x
	}
	return ""
}

func jsonNum(f float64) string {
	b, _ := json.Marshal(f)
	return string(b)
}

var traceRe = regexp.MustCompile(`^\(\{'error': '([A-Z_]+)', 'message': '.*'\}, 'TraceId: [0-9a-f]+'\)$`)

// requireTupleError checks Peliqan's tuple-string error shape and code.
func requireTupleError(t *testing.T, r resp, status int, code string) {
	t.Helper()
	require.Equal(t, status, r.status, "%s", r.body)
	m := r.json(t)
	require.Equal(t, code, m["error"])
	d, _ := m["detail"].(string)
	sub := traceRe.FindStringSubmatch(d)
	require.NotNil(t, sub, "detail %q is not the tuple form", d)
	require.Equal(t, code, sub[1])
}

// seedOne loads one sub-account "acme" with one Pipedrive connection whose
// tables hold rows generated rows.
func seedOne(t *testing.T, srv *Fake, rows int) SeededSubAccount {
	t.Helper()
	tables := defaultTables("pipedrive")
	for i := range tables {
		tables[i].GeneratedRows = rows
	}
	sd, err := srv.Seed(Fixture{SubAccounts: []SubAccountFixture{{
		ExternalID: "acme", CompanyName: "Acme",
		Connections: []ConnectionFixture{{Name: "CRM", Type: "pipedrive", Tables: tables}},
		Scripts:     []ScriptFixture{{Name: "hello", Code: "print('hi')"}},
	}}})
	require.NoError(t, err)
	return sd.SubAccounts[0]
}

func peliqanIDOf(t *testing.T, s string) peliqan.ID {
	t.Helper()
	v, err := peliqan.ParseID(s)
	require.NoError(t, err)
	return v
}
