package peliqantest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/peliqan-community/peliqan-go/internal/routes"
)

// script is an "interface": a Python script or data app.
type script struct {
	ID        int64
	Name      string
	Type      string
	RunMode   string
	Code      string
	Group     int64
	Settings  json.RawMessage
	Editor    string
	CreatedOn time.Time
	UpdatedOn time.Time
	account   int64
}

func (s *script) view(withCode bool) map[string]any {
	m := map[string]any{
		"id": s.ID, "name": s.Name, "type": s.Type, "run_mode": s.RunMode, "group": s.Group,
		"settings": s.Settings, "editor": s.Editor, "created_on": ts(s.CreatedOn), "updated_on": ts(s.UpdatedOn),
	}
	if withCode {
		m["raw_script"] = s.Code
	}
	return m
}

// scriptRun is one run of a script. It fails when the script's code
// contains "raise " (a deterministic way to make a failing run).
type scriptRun struct {
	ID          int64   `json:"id"`
	Interface   int64   `json:"interface"`
	InterfaceID int64   `json:"interface_id"`
	Status      string  `json:"status"`
	Running     bool    `json:"running"`
	RunMode     string  `json:"run_mode"`
	Source      string  `json:"source"`
	CreatedAt   string  `json:"created_at"`
	FinishedAt  *string `json:"finished_at"`
	Error       *string `json:"error"`

	account  int64
	finishAt time.Time
	fail     bool
	logs     []logLine
}

func (r *scriptRun) finish() {
	r.Running = false
	r.FinishedAt = tsPtr(r.finishAt)
	if r.fail {
		r.Status = "ERROR"
		msg := "Exception raised by the script"
		r.Error = &msg
		r.logs = append(r.logs, logAt(r.finishAt, "ERROR", "Traceback (most recent call last): %s", msg))
		return
	}
	r.Status = "COMPLETED"
	r.logs = append(r.logs, logAt(r.finishAt, "INFO", "Script finished"))
}

var runModes = []string{"STREAMLIT", "API", "SHELL"}

func scriptHandlers() map[string]handlerFunc {
	return map[string]handlerFunc{
		routes.ListScripts:      listScripts,
		routes.GetScript:        withScript(func(c *call, s *script) reply { return c.ok(s.view(true)) }),
		routes.CreateScript:     createScript,
		routes.UpdateScript:     withScript(updateScript),
		routes.TriggerScriptRun: withScript(triggerScriptRun),
		routes.CreateScriptRun:  createScriptRun,
		routes.ListScriptRuns:   listScriptRuns,
		routes.GetScriptRun:     withScriptRun(func(c *call, r *scriptRun) reply { return c.ok(r) }),
		routes.ScriptRunLogs: withScriptRun(func(c *call, r *scriptRun) reply {
			return c.ok(map[string]any{"run_id": r.ID, "logs": r.logs})
		}),
		routes.ListGroups: listGroups,
	}
}

func withScript(h func(*call, *script) reply) handlerFunc {
	return func(c *call) reply {
		id, ok := c.idParam(0)
		if !ok {
			return notFound()
		}
		s := c.s.st.script(c.acct, id)
		if s == nil {
			return notFound()
		}
		return h(c, s)
	}
}

func withScriptRun(h func(*call, *scriptRun) reply) handlerFunc {
	return func(c *call) reply {
		id, ok := c.idParam(0)
		if !ok {
			return notFound()
		}
		r := c.s.st.scriptRun(c.acct, id)
		if r == nil {
			return notFound()
		}
		return h(c, r)
	}
}

func listScripts(c *call) reply {
	out := make([]map[string]any, 0, len(c.acct.scripts))
	for _, id := range c.acct.scripts {
		if s := c.s.st.scripts[id]; s != nil {
			out = append(out, s.view(false))
		}
	}
	return c.ok(out)
}

type scriptBody struct {
	Name      *string         `json:"name"`
	Type      *string         `json:"type"`
	RunMode   *string         `json:"run_mode"`
	RawScript *string         `json:"raw_script"`
	Settings  json.RawMessage `json:"settings"`
	Group     json.RawMessage `json:"group"`
	Editor    *string         `json:"editor"`
}

// apply validates and copies the fields that were sent.
func (b *scriptBody) apply(c *call, s *script) (reply, bool) {
	if b.Name != nil {
		if strings.TrimSpace(*b.Name) == "" {
			return fieldErrors("name", "This field may not be blank."), false
		}
		s.Name = *b.Name
	}
	if b.RunMode != nil {
		ok := false
		for _, m := range runModes {
			ok = ok || m == *b.RunMode
		}
		if !ok {
			return fieldErrors("run_mode", fmt.Sprintf("%q is not a valid choice.", *b.RunMode)), false
		}
		s.RunMode = *b.RunMode
	}
	if b.Type != nil {
		s.Type = *b.Type
	}
	if b.RawScript != nil {
		s.Code = *b.RawScript
	}
	if b.Editor != nil {
		s.Editor = *b.Editor
	}
	if len(b.Settings) > 0 && string(b.Settings) != "null" {
		if bytes.TrimSpace(b.Settings)[0] != '{' {
			return fieldErrors("settings", "Expected a dictionary of items."), false
		}
		s.Settings = append(json.RawMessage(nil), b.Settings...)
	}
	if len(b.Group) > 0 && string(b.Group) != "null" {
		id, err := strconv.ParseInt(strings.Trim(string(b.Group), `"`), 10, 64)
		if err != nil || c.s.st.group(c.acct, id) == nil {
			return fieldErrors("group", "Invalid pk - object does not exist."), false
		}
		s.Group = id
	}
	return reply{}, true
}

func createScript(c *call) reply {
	gid, ok := c.idParam(0)
	if !ok || c.s.st.group(c.acct, gid) == nil {
		return notFound()
	}
	var b scriptBody
	if rep, ok := c.decodeBody(&b); !ok {
		return rep
	}
	if b.Name == nil {
		return required("name")
	}
	s := &script{ID: c.s.st.id(), Type: "streamlit", RunMode: "STREAMLIT", Group: gid, Editor: "RAW_SCRIPT_EDITOR",
		Settings: json.RawMessage("{}"), CreatedOn: c.now, UpdatedOn: c.now, account: c.acct.ID}
	b.Group = nil
	if rep, ok := b.apply(c, s); !ok {
		return rep
	}
	c.s.st.scripts[s.ID] = s
	c.acct.scripts = append(c.acct.scripts, s.ID)
	return c.ok(s.view(true))
}

func updateScript(c *call, s *script) reply {
	var b scriptBody
	if rep, ok := c.decodeBody(&b); !ok {
		return rep
	}
	cp := *s
	if rep, ok := b.apply(c, &cp); !ok {
		return rep
	}
	cp.UpdatedOn = c.now
	*s = cp
	return c.ok(s.view(true))
}

// triggerScriptRun is the first of the two RunScript calls: it prepares a
// run and starts nothing by itself.
func triggerScriptRun(c *call, s *script) reply {
	return c.ok(map[string]any{"detail": "Run prepared", "interface_id": s.ID, "shell": boolQuery(c.query.Get("shell"))})
}

type scriptRunBody struct {
	InterfaceID json.RawMessage `json:"interface_id"`
	RunMode     string          `json:"run_mode"`
	Source      string          `json:"source"`
}

func createScriptRun(c *call) reply {
	var b scriptRunBody
	if rep, ok := c.decodeBody(&b); !ok {
		return rep
	}
	if len(b.InterfaceID) == 0 || string(b.InterfaceID) == "null" {
		return required("interface_id")
	}
	id, err := strconv.ParseInt(strings.Trim(string(b.InterfaceID), `"`), 10, 64)
	if err != nil {
		return fieldErrors("interface_id", "A valid integer is required.")
	}
	s := c.s.st.script(c.acct, id)
	if s == nil {
		return notFound()
	}
	if b.RunMode == "" {
		b.RunMode = "SHELL"
	}
	if b.Source == "" {
		b.Source = "SCRIPT"
	}
	r := &scriptRun{ID: c.s.st.id(), Interface: s.ID, InterfaceID: s.ID, Status: statusRunning, Running: true,
		RunMode: b.RunMode, Source: b.Source, CreatedAt: ts(c.now), account: c.acct.ID,
		finishAt: c.now.Add(c.s.cfg.scriptDuration), fail: strings.Contains(s.Code, "raise ")}
	r.logs = append(r.logs, logAt(c.now, "INFO", "Run %d of script %q started", r.ID, s.Name))
	c.s.st.scriptRuns[r.ID] = r
	c.acct.scriptRuns = append(c.acct.scriptRuns, r.ID)
	c.s.st.pendingScript = append(c.s.st.pendingScript, r)
	return c.ok(r)
}

func listScriptRuns(c *call) reply {
	page, per, bad, ok := c.pageParams()
	if !ok {
		return bad
	}
	var filter int64
	if v := c.query.Get("interface_id"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fieldErrors("interface_id", "A valid integer is required.")
		}
		filter = id
	}
	var runs []*scriptRun
	for i := len(c.acct.scriptRuns) - 1; i >= 0; i-- {
		r := c.s.st.scriptRuns[c.acct.scriptRuns[i]]
		if r != nil && (filter == 0 || r.Interface == filter) {
			runs = append(runs, r)
		}
	}
	return c.ok(pageOf(runs, page, per))
}

func listGroups(c *call) reply {
	out := make([]*group, 0, len(c.acct.groups))
	for _, id := range c.acct.groups {
		if g := c.s.st.groups[id]; g != nil {
			out = append(out, g)
		}
	}
	return c.ok(out)
}
