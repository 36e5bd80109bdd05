package peliqan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/peliqan-community/peliqan-go/internal/routes"
)

// pubTenant is one customer of pubFake.
type pubTenant struct {
	id      int
	groups  []Group
	scripts map[ID]map[string]any
	dbs     []map[string]any
	tables  map[ID]map[string]any
	writes  []string // "POST /path", "PATCH /path"
	failOn  string   // a route name answered 500
	// cutShort is a route name whose success answer stops after the id
	// (the write is made).
	cutShort string
	nextID   ID
}

// pubFake is a small stateful partner + tenants server for publishing
// tests: it dispatches with the SDK's own routes table.
type pubFake struct {
	mu      sync.Mutex
	tenants map[string]*pubTenant // by token
	srv     *httptest.Server
	tagged  int // requests carrying X-Req
}

func newPubFake(t *testing.T, n int) (*PartnerClient, *pubFake) {
	t.Helper()
	f := &pubFake{tenants: map[string]*pubTenant{}}
	for i := 1; i <= n; i++ {
		f.tenants["tok-"+strconv.Itoa(i)] = &pubTenant{
			id:      i,
			groups:  []Group{{ID: ID(i*100 + 1), Name: "Default"}, {ID: ID(i*100 + 2), Name: "Templates"}},
			scripts: map[ID]map[string]any{},
			tables:  map[ID]map[string]any{},
			dbs: []map[string]any{
				{"id": i*10 + 1, "name": fmt.Sprintf("conn_%d", i), "schemas": []any{map[string]any{"id": 1, "name": "raw"}}, "tables": []any{}},
				{"id": i*10 + 2, "name": fmt.Sprintf("dw_%d", i), "schemas": []any{
					map[string]any{"id": i*1000 + 1, "name": "public"}, map[string]any{"id": i*1000 + 2, "name": "reports"}}, "tables": []any{}},
			},
			nextID: ID(i * 10000),
		}
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	p, err := NewPartnerClient("partner-tok", WithBaseURL(f.srv.URL), WithRetryPolicy(NoRetry()))
	require.NoError(t, err)
	return p, f
}

func (f *pubFake) tenant(i int) *pubTenant {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tenants["tok-"+strconv.Itoa(i)]
}

func (f *pubFake) writes(i int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.tenants["tok-"+strconv.Itoa(i)].writes...)
}

func pubJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *pubFake) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Header.Get("X-Req") != "" {
		f.tagged++
	}
	route, params, ok := routes.Match(r.Method, r.URL.Path)
	if !ok {
		pubJSON(w, 404, map[string]any{"error": "NO_ROUTE"})
		return
	}
	auth := strings.TrimPrefix(r.Header.Get("Authorization"), "JWT ")
	var body map[string]any
	if b, _ := io.ReadAll(r.Body); len(b) > 0 {
		_ = json.Unmarshal(b, &body)
	}
	if route.Auth == routes.Partner {
		if auth != "partner-tok" {
			pubJSON(w, 401, map[string]any{"error": "BAD_TOKEN"})
			return
		}
		f.servePartner(w, r, route.Name, params)
		return
	}
	tn := f.tenants[auth]
	if tn == nil {
		pubJSON(w, 401, map[string]any{"error": "BAD_TOKEN"})
		return
	}
	if tn.failOn == route.Name {
		pubJSON(w, 500, map[string]any{"error": "ERROR_INTERNAL", "detail": "tenant is broken"})
		return
	}
	if r.Method != http.MethodGet {
		tn.writes = append(tn.writes, r.Method+" "+r.URL.Path)
	}
	id := func() ID { n, _ := strconv.Atoi(params[0]); return ID(n) }
	switch route.Name {
	case routes.ListGroups:
		pubJSON(w, 200, tn.groups)
	case routes.ListScripts:
		list := []map[string]any{}
		for _, s := range tn.scripts {
			list = append(list, map[string]any{"id": s["id"], "name": s["name"], "group": s["group"]})
		}
		pubJSON(w, 200, list)
	case routes.GetScript:
		pubJSON(w, 200, tn.scripts[id()])
	case routes.CreateScript:
		tn.nextID++
		s := map[string]any{"id": tn.nextID, "group": id(), "name": body["name"], "raw_script": body["raw_script"],
			"run_mode": body["run_mode"], "type": body["type"]}
		if body["settings"] != nil {
			s["settings"] = body["settings"]
		}
		tn.scripts[tn.nextID] = s
		tn.answer(w, route.Name, s)
	case routes.UpdateScript:
		s := tn.scripts[id()]
		for k, v := range body {
			s[k] = v
		}
		pubJSON(w, 200, s)
	case routes.ListDatabases:
		pubJSON(w, 200, tn.dbs)
	case routes.GetTable:
		pubJSON(w, 200, tn.tables[id()])
	case routes.CreateQueryTable:
		tn.nextID++
		tb := map[string]any{"id": tn.nextID, "name": body["name"], "schema_id": body["schema_id"], "query": body["query"], "table_type": "query"}
		tn.tables[tn.nextID] = tb
		for _, db := range tn.dbs {
			if strconv.Itoa(int(db["id"].(int))) == params[0] {
				db["tables"] = append(db["tables"].([]any), map[string]any{"id": tn.nextID, "name": body["name"], "schema_id": body["schema_id"]})
			}
		}
		tn.answer(w, route.Name, tb)
	case routes.UpdateTable:
		tb := tn.tables[id()]
		for k, v := range body {
			tb[k] = v
		}
		pubJSON(w, 200, tb)
	default:
		pubJSON(w, 404, map[string]any{"error": "NOT_IN_FAKE"})
	}
}

// answer sends v, or only its id and the start of its name when route is
// the tenant's cutShort.
func (tn *pubTenant) answer(w http.ResponseWriter, route string, v map[string]any) {
	if route != tn.cutShort {
		pubJSON(w, 200, v)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = fmt.Fprintf(w, `{"id": %v, "name": "%.1s`, v["id"], v["name"])
}

func (f *pubFake) servePartner(w http.ResponseWriter, r *http.Request, name string, params []string) {
	q := r.URL.Query()
	find := func() *pubTenant {
		if ext := q.Get("external_id"); ext != "" {
			n, _ := strconv.Atoi(strings.TrimPrefix(ext, "cust-"))
			return f.tenants["tok-"+strconv.Itoa(n)]
		}
		return f.tenants["tok-"+q.Get("account_id")]
	}
	switch name {
	case routes.SubAccountToken:
		tn := find()
		if tn == nil {
			pubJSON(w, 404, map[string]any{"error": "ERROR_SUBACCOUNT_DOES_NOT_EXIST"})
			return
		}
		pubJSON(w, 200, map[string]any{"token": "tok-" + strconv.Itoa(tn.id)})
	case routes.GetSubAccount:
		tn := find()
		if tn == nil {
			pubJSON(w, 404, map[string]any{"error": "ERROR_SUBACCOUNT_DOES_NOT_EXIST"})
			return
		}
		pubJSON(w, 200, map[string]any{"id": tn.id, "external_id": "cust-" + strconv.Itoa(tn.id)})
	case routes.SubAccountInfo:
		n, _ := strconv.Atoi(params[0])
		pubJSON(w, 200, map[string]any{"default_dw_id": n*10 + 2, "default_dw_name": fmt.Sprintf("dw_%d", n)})
	default:
		pubJSON(w, 404, map[string]any{"error": "NOT_IN_FAKE"})
	}
}

func refs(ids ...int) []SubAccountRef {
	out := make([]SubAccountRef, len(ids))
	for i, id := range ids {
		if id%2 == 0 {
			out[i] = ByExternalID("cust-" + strconv.Itoa(id))
		} else {
			out[i] = ByAccountID(ID(id))
		}
	}
	return out
}

func outcomes(rep *PublishReport) []PublishOutcome {
	out := make([]PublishOutcome, len(rep.Results))
	for i, r := range rep.Results {
		out[i] = r.Outcome
	}
	return out
}

func TestPublishScriptCreateThenNoWritesThenUpdate(t *testing.T) {
	t.Parallel()
	p, f := newPubFake(t, 3)
	ctx := context.Background()
	tmpl := ScriptTemplate{Name: "nightly_export", Code: "print('v1')", Group: "Templates",
		Schedule: &Schedule{Interval: 24 * time.Hour, StartTime: At(2, 0), Weekdays: []time.Weekday{time.Monday}}}
	opts := &PublishOptions{SubAccounts: refs(1, 2, 3), Concurrency: 2}

	rep, err := p.PublishScript(ctx, tmpl, opts)
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	assert.Equal(t, []PublishOutcome{PublishCreated, PublishCreated, PublishCreated}, outcomes(rep))
	for i := 1; i <= 3; i++ {
		assert.Equal(t, []string{fmt.Sprintf("POST /api/interfaces/group/%d/", i*100+2)}, f.writes(i), "created in the named group")
		s := f.tenant(i).scripts[rep.Results[i-1].ID]
		assert.Equal(t, "print('v1')", s["raw_script"])
		assert.Equal(t, map[string]any{"schedule": true, "run_interval": float64(86400), "weekdays": []any{float64(0)}, "start_time": "02:00:00"}, s["settings"])
	}

	// The second run writes nothing. Request options reach every request.
	rep2, err := p.PublishScript(ctx, tmpl, opts, WithHeader("X-Req", "publish-2"))
	require.NoError(t, err)
	assert.Equal(t, []PublishOutcome{PublishUnchanged, PublishUnchanged, PublishUnchanged}, outcomes(rep2))
	assert.Equal(t, 3, rep2.Count(PublishUnchanged))
	f.mu.Lock()
	assert.Equal(t, 9, f.tagged, "groups, scripts and the script, per customer")
	f.mu.Unlock()
	for i := 1; i <= 3; i++ {
		assert.Len(t, f.writes(i), 1, "no write on the second publish")
		assert.Equal(t, rep.Results[i-1].ID, rep2.Results[i-1].ID)
	}

	// A new version updates in place; the schedule, unchanged, is not sent.
	tmpl.Code = "print('v2')"
	rep3, err := p.PublishScript(ctx, tmpl, &PublishOptions{SubAccounts: refs(2)})
	require.NoError(t, err)
	assert.Equal(t, []PublishOutcome{PublishUpdated}, outcomes(rep3))
	assert.Equal(t, fmt.Sprintf("PATCH /api/interfaces/%d/", rep.Results[1].ID), f.writes(2)[1])
	assert.Equal(t, "print('v2')", f.tenant(2).scripts[rep.Results[1].ID]["raw_script"])
	assert.Len(t, f.writes(1), 1, "customers not chosen are untouched")
}

func TestPublishScriptOneCustomerFails(t *testing.T) {
	t.Parallel()
	p, f := newPubFake(t, 4)
	f.tenant(2).failOn = routes.ListScripts
	f.tenant(3).groups = []Group{{ID: 301, Name: "Default"}} // no "Templates"
	rep, err := p.PublishScript(context.Background(), ScriptTemplate{Name: "s", Code: "x", Group: "Templates"},
		&PublishOptions{SubAccounts: refs(1, 2, 3, 4)})
	require.NoError(t, err, "per-customer failures are in the report")
	assert.Equal(t, []PublishOutcome{PublishCreated, PublishFailed, PublishFailed, PublishCreated}, outcomes(rep))
	assert.ErrorIs(t, rep.Results[1].Err, ErrServer)
	assert.ErrorIs(t, rep.Results[2].Err, ErrGroupNotFound)
	assert.Contains(t, rep.Results[2].Err.Error(), `"Templates"`)
	assert.Len(t, f.writes(1), 1)
	assert.Empty(t, f.writes(2))
	assert.Empty(t, f.writes(3))
	assert.Len(t, f.writes(4), 1)

	joined := rep.Err()
	assert.ErrorIs(t, joined, ErrGroupNotFound)
	assert.ErrorIs(t, joined, ErrServer)
	assert.Contains(t, joined.Error(), `external_id="cust-2"`)
	assert.Contains(t, joined.Error(), "account_id=3")
}

// TestPublishCreatedButAnswerCutShort: a script or table that was made but
// whose answer could not be read is reported with its id (failed, with the
// *DecodeError), and publishing again finds it instead of making another.
func TestPublishCreatedButAnswerCutShort(t *testing.T) {
	t.Parallel()
	p, f := newPubFake(t, 1)
	ctx := context.Background()
	f.tenant(1).cutShort = routes.CreateScript
	rep, err := p.PublishScript(ctx, ScriptTemplate{Name: "s", Code: "x"}, &PublishOptions{SubAccounts: refs(1)})
	require.NoError(t, err)
	res := rep.Results[0]
	assert.Equal(t, PublishFailed, res.Outcome)
	assert.ErrorIs(t, res.Err, ErrMalformedResponse)
	assert.Equal(t, ID(10001), res.ID, "the script that was made")
	rep, err = p.PublishScript(ctx, ScriptTemplate{Name: "s", Code: "x"}, &PublishOptions{SubAccounts: refs(1)})
	require.NoError(t, err)
	assert.Equal(t, []PublishOutcome{PublishUnchanged}, outcomes(rep))
	assert.Equal(t, ID(10001), rep.Results[0].ID)

	f.tenant(1).cutShort = routes.CreateQueryTable
	tmpl := QueryTableTemplate{Name: "q", Query: "select 1"}
	rep, err = p.PublishQueryTable(ctx, tmpl, &PublishOptions{SubAccounts: refs(1)})
	require.NoError(t, err)
	res = rep.Results[0]
	assert.Equal(t, PublishFailed, res.Outcome)
	assert.ErrorIs(t, res.Err, ErrMalformedResponse)
	assert.Equal(t, ID(10002), res.ID, "the table that was made")
	rep, err = p.PublishQueryTable(ctx, tmpl, &PublishOptions{SubAccounts: refs(1)})
	require.NoError(t, err)
	assert.Equal(t, []PublishOutcome{PublishUnchanged}, outcomes(rep))
	assert.Len(t, f.writes(1), 2, "one create each, never a second")
}

func TestPublishScriptFirstGroupAndExistingScript(t *testing.T) {
	t.Parallel()
	p, f := newPubFake(t, 1)
	tn := f.tenant(1)
	// An existing script of that name in another group, unscheduled, old code.
	tn.scripts[55] = map[string]any{"id": 55, "name": "s", "group": 102, "raw_script": "old", "settings": map[string]any{"notify": true}}
	rep, err := p.PublishScript(context.Background(), ScriptTemplate{Name: "s", Code: "new",
		Schedule: &Schedule{Interval: time.Hour}}, &PublishOptions{SubAccounts: refs(1)})
	require.NoError(t, err)
	assert.Equal(t, []PublishOutcome{PublishUpdated}, outcomes(rep))
	assert.Equal(t, ID(55), rep.Results[0].ID)
	assert.Equal(t, []string{"PATCH /api/interfaces/55/"}, f.writes(1), "updated in place, not re-created in the first group")
	assert.Equal(t, map[string]any{"schedule": true, "run_interval": float64(3600), "notify": true}, tn.scripts[55]["settings"],
		"the script's other settings are kept")

	// No groups at all: that customer fails.
	tn.groups = []Group{}
	rep, err = p.PublishScript(context.Background(), ScriptTemplate{Name: "other"}, &PublishOptions{SubAccounts: refs(1)})
	require.NoError(t, err)
	assert.ErrorIs(t, rep.Results[0].Err, ErrGroupNotFound)
}

func TestPublishQueryTable(t *testing.T) {
	t.Parallel()
	p, f := newPubFake(t, 2)
	ctx := context.Background()
	tmpl := QueryTableTemplate{Name: "big_orders", Query: "select * from orders where total > 100", Schema: "reports"}
	opts := &PublishOptions{SubAccounts: refs(1, 2)}

	rep, err := p.PublishQueryTable(ctx, tmpl, opts)
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	assert.Equal(t, []PublishOutcome{PublishCreated, PublishCreated}, outcomes(rep))
	assert.Equal(t, []string{"POST /api/database/tables/database/12/"}, f.writes(1), "in the default warehouse")
	assert.Equal(t, []string{"POST /api/database/tables/database/22/"}, f.writes(2))
	assert.Equal(t, float64(2002), f.tenant(2).tables[rep.Results[1].ID]["schema_id"])

	rep, err = p.PublishQueryTable(ctx, tmpl, opts)
	require.NoError(t, err)
	assert.Equal(t, []PublishOutcome{PublishUnchanged, PublishUnchanged}, outcomes(rep))
	assert.Len(t, f.writes(1), 1)

	tmpl.Query = "select * from orders where total > 200"
	rep, err = p.PublishQueryTable(ctx, tmpl, opts)
	require.NoError(t, err)
	assert.Equal(t, []PublishOutcome{PublishUpdated, PublishUpdated}, outcomes(rep))
	assert.Equal(t, fmt.Sprintf("PATCH /api/database/tables/%d/", rep.Results[0].ID), f.writes(1)[1])

	rep, err = p.PublishQueryTable(ctx, QueryTableTemplate{Name: "x", Query: "select 1", Database: "conn_1", Schema: "nope"},
		&PublishOptions{SubAccounts: refs(1)})
	require.NoError(t, err)
	assert.ErrorIs(t, rep.Results[0].Err, ErrSchemaNotFound)
}

func TestPublishInvalidInput(t *testing.T) {
	t.Parallel()
	p, f := newPubFake(t, 1)
	ctx := context.Background()
	ok := &PublishOptions{SubAccounts: refs(1)}
	cases := map[string]error{}
	_, cases["no name"] = p.PublishScript(ctx, ScriptTemplate{}, ok)
	_, cases["bad schedule"] = p.PublishScript(ctx, ScriptTemplate{Name: "a", Schedule: &Schedule{Interval: time.Second}}, ok)
	_, cases["no customers"] = p.PublishScript(ctx, ScriptTemplate{Name: "a"}, nil)
	_, cases["zero ref"] = p.PublishScript(ctx, ScriptTemplate{Name: "a"}, &PublishOptions{SubAccounts: []SubAccountRef{{}}})
	_, cases["twice"] = p.PublishScript(ctx, ScriptTemplate{Name: "a"}, &PublishOptions{SubAccounts: refs(1, 1)})
	_, cases["concurrency"] = p.PublishScript(ctx, ScriptTemplate{Name: "a"}, &PublishOptions{SubAccounts: refs(1), Concurrency: -1})
	_, cases["table no query"] = p.PublishQueryTable(ctx, QueryTableTemplate{Name: "a"}, ok)
	_, cases["bad option"] = p.PublishScript(ctx, ScriptTemplate{Name: "a"}, ok, WithHeader("Authorization", "x"))
	//nolint:staticcheck // a nil context is the point
	_, cases["nil ctx"] = p.PublishScript(nil, ScriptTemplate{Name: "a"}, ok)
	for name, err := range cases {
		assert.ErrorIs(t, err, ErrInvalidArgument, name)
	}
	assert.Empty(t, f.writes(1))
}

func TestPublishCancelledContext(t *testing.T) {
	t.Parallel()
	p, f := newPubFake(t, 2)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep, err := p.PublishScript(ctx, ScriptTemplate{Name: "a"}, &PublishOptions{SubAccounts: refs(1, 2)})
	assert.Equal(t, context.Canceled, err)
	require.NotNil(t, rep)
	for _, r := range rep.Results {
		assert.Equal(t, PublishFailed, r.Outcome)
		assert.True(t, errors.Is(r.Err, context.Canceled))
	}
	assert.Empty(t, f.writes(1))
}

func TestPublishEngineBoundsConcurrency(t *testing.T) {
	t.Parallel()
	p, _ := newPubFake(t, 1)
	var mu sync.Mutex
	cur, peak, calls := 0, 0, 0
	ids := make([]int, 20)
	for i := range ids {
		ids[i] = i + 1
	}
	rep, err := p.publish(context.Background(), PublishOptions{SubAccounts: refs(ids...), Concurrency: 3},
		func(ctx context.Context, ref SubAccountRef, t *SubAccountClient) (PublishOutcome, ID, error) {
			mu.Lock()
			cur++
			calls++
			peak = max(peak, cur)
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
			mu.Lock()
			cur--
			mu.Unlock()
			if id, ok := ref.AccountID(); ok && id == 5 {
				return PublishFailed, 0, errors.New("boom")
			}
			return PublishUnchanged, 1, nil
		})
	require.NoError(t, err)
	assert.Equal(t, 20, calls)
	assert.LessOrEqual(t, peak, 3)
	assert.Equal(t, 19, rep.Count(PublishUnchanged))
	assert.Equal(t, 1, rep.Count(PublishFailed))
	assert.Equal(t, refs(ids...)[4], rep.Results[4].SubAccount, "results keep the order of SubAccounts")
	assert.EqualError(t, rep.Results[4].Err, "boom")
}
