package peliqantest

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/peliqan-community/peliqan-go/internal/routes"
)

func TestScriptLifecycle(t *testing.T) {
	t.Parallel()
	clk := NewManualClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	srv := NewFake(t, WithClock(clk.Now), WithScriptRunDuration(time.Minute))
	sa := seedOne(t, srv, 1)
	c := newTC(t, srv)
	tok := c.tenantToken("acme")

	groups := c.ok(routes.ListGroups, tok, nil, nil).list(t)
	require.Len(t, groups, 1)
	assert.Equal(t, "Default", groups[0]["name"])
	gid := id(groups[0]["id"])

	code := "import pq\nif a < b and c > d: print('<ok>')"
	created := c.ok(routes.CreateScript, tok, nil, map[string]any{
		"name": "sync-report", "type": "streamlit", "run_mode": "SHELL", "raw_script": code,
	}, gid)
	assert.NotContains(t, string(created.body), `\u003c`, "code is sent without HTML escaping")
	s := created.json(t)
	sid := id(s["id"])
	assert.Equal(t, code, s["raw_script"])
	assert.Equal(t, gid, id(s["group"]))

	list := c.ok(routes.ListScripts, tok, nil, nil).list(t)
	require.Len(t, list, 2) // the seeded "hello" and this one
	assert.NotContains(t, list[1], "raw_script", "the list leaves the code out")
	assert.Equal(t, code, c.ok(routes.GetScript, tok, nil, nil, sid).json(t)["raw_script"])

	settings := map[string]any{"schedule": true, "run_interval": 86400.0, "weekdays": []any{0.0, 1.0}, "start_time": "06:00:00"}
	upd := c.ok(routes.UpdateScript, tok, nil, map[string]any{"name": "renamed", "settings": settings}, sid).json(t)
	assert.Equal(t, "renamed", upd["name"])
	assert.Equal(t, settings, upd["settings"])
	assert.Equal(t, http.StatusBadRequest, c.call(routes.UpdateScript, tok, nil, map[string]any{"run_mode": "NOPE"}, sid).status)
	assert.Equal(t, "renamed", c.ok(routes.GetScript, tok, nil, nil, sid).json(t)["name"], "a refused update changes nothing")
	assert.Equal(t, http.StatusBadRequest, c.call(routes.CreateScript, tok, nil, map[string]any{"raw_script": "x"}, gid).status)
	assert.Equal(t, http.StatusNotFound, c.call(routes.CreateScript, tok, nil, map[string]any{"name": "x"}, "999999").status)

	// RunScript as Peliqan's client does it: trigger (200), then create (201).
	c.ok(routes.TriggerScriptRun, tok, url.Values{"shell": {"1"}}, nil, sid)
	run := c.ok(routes.CreateScriptRun, tok, nil, map[string]any{"interface_id": sid, "run_mode": "SHELL", "source": "SCRIPT"}).json(t)
	assert.Equal(t, 201, routes.MustLookup(routes.CreateScriptRun).Success)
	rid := id(run["id"])
	assert.Equal(t, true, run["running"])
	assert.Equal(t, true, c.ok(routes.GetScriptRun, tok, nil, nil, rid).json(t)["running"])
	clk.Advance(time.Minute)
	done := c.ok(routes.GetScriptRun, tok, nil, nil, rid).json(t)
	assert.Equal(t, false, done["running"])
	assert.Equal(t, "COMPLETED", done["status"])
	logs := c.ok(routes.ScriptRunLogs, tok, nil, nil, rid).json(t)["logs"].([]any)
	assert.Len(t, logs, 2)

	// A script that raises ends in ERROR.
	c.ok(routes.UpdateScript, tok, nil, map[string]any{"raw_script": "raise ValueError('boom')"}, sid)
	bad := c.ok(routes.CreateScriptRun, tok, nil, map[string]any{"interface_id": sid}).json(t)
	clk.Advance(time.Minute)
	failed := c.ok(routes.GetScriptRun, tok, nil, nil, id(bad["id"])).json(t)
	assert.Equal(t, "ERROR", failed["status"])
	assert.NotNil(t, failed["error"])

	runs := c.ok(routes.ListScriptRuns, tok, url.Values{"interface_id": {sid}, "per_page": {"1"}}, nil).json(t)
	assert.Len(t, runs["data"], 1)
	assert.Equal(t, 2.0, runs["next"])
	all := c.ok(routes.ListScriptRuns, tok, url.Values{"interface_id": {sa.Scripts[0].String()}}, nil).json(t)
	assert.Empty(t, all["data"])
}
