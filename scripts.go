package peliqan

import (
	"bytes"
	"context"
	"encoding/json"
	"iter"
	"net/url"
	"strings"

	"github.com/peliqan-community/peliqan-go/internal/routes"
)

// RunMode is how Peliqan runs a script. It is an open set: unknown values
// decode and round-trip.
type RunMode string

// Run modes seen in Peliqan's own client.
const (
	// RunModeShell: a background script, run on demand or on a schedule.
	RunModeShell RunMode = "SHELL"
	// RunModeStreamlit: an interactive data app.
	RunModeStreamlit RunMode = "STREAMLIT"
	// RunModeAPI: an API handler.
	RunModeAPI RunMode = "API"
)

// IsKnown reports whether m is one of the declared modes.
func (m RunMode) IsKnown() bool {
	switch m {
	case RunModeShell, RunModeStreamlit, RunModeAPI:
		return true
	}
	return false
}

// Script is a customer's script (an "interface" in Peliqan's API: a data
// app, an API handler or a background script).
type Script struct {
	ID      ID      `json:"id"`
	Name    string  `json:"name"`
	Type    string  `json:"type,omitempty"`
	RunMode RunMode `json:"run_mode,omitempty"`
	// GroupID is the group (folder) the script is in.
	GroupID ID `json:"group,omitempty"`
	// Code is the script's source. GetScript fills it; ListScripts does not
	// (the list omits it).
	Code string `json:"raw_script,omitempty"`
	// Schedule is read from Settings: nil when the script has none.
	Schedule *Schedule `json:"-"`
	// Settings is the script's settings object as the service sent it.
	Settings  json.RawMessage `json:"settings,omitempty"`
	CreatedOn string          `json:"created_on,omitempty"`
	UpdatedOn string          `json:"updated_on,omitempty"`
}

// UnmarshalJSON reads a script, taking "group" as an id or as an object
// with an id.
func (s *Script) UnmarshalJSON(b []byte) error {
	var w struct {
		ID        ID              `json:"id"`
		Name      string          `json:"name"`
		Type      string          `json:"type"`
		RunMode   RunMode         `json:"run_mode"`
		Group     json.RawMessage `json:"group"`
		RawScript string          `json:"raw_script"`
		Settings  json.RawMessage `json:"settings"`
		CreatedOn string          `json:"created_on"`
		UpdatedOn string          `json:"updated_on"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*s = Script{ID: w.ID, Name: w.Name, Type: w.Type, RunMode: w.RunMode, Code: w.RawScript,
		Settings: w.Settings, CreatedOn: w.CreatedOn, UpdatedOn: w.UpdatedOn,
		GroupID: groupRef(w.Group), Schedule: scheduleFromSettings(w.Settings)}
	return nil
}

func groupRef(raw json.RawMessage) ID {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0
	}
	if raw[0] == '{' {
		var g struct {
			ID ID `json:"id"`
		}
		_ = json.Unmarshal(raw, &g)
		return g.ID
	}
	var id ID
	_ = json.Unmarshal(raw, &id)
	return id
}

// Group is a group (folder) of scripts.
type Group struct {
	ID   ID     `json:"id"`
	Name string `json:"name"`
}

// ListScripts lists the customer's scripts, without their code.
func (s *SubAccountClient) ListScripts(ctx context.Context, opts ...RequestOption) ([]Script, error) {
	return listAll[Script](ctx, s.c, routes.MustLookup(routes.ListScripts), nil, nil, opts)
}

// GetScript returns one script with its code.
func (s *SubAccountClient) GetScript(ctx context.Context, scriptID ID, opts ...RequestOption) (*Script, error) {
	id, err := scriptID.param("script id")
	if err != nil {
		return nil, err
	}
	return doInto[Script](ctx, s.c, &call{route: routes.MustLookup(routes.GetScript), params: []string{id}}, opts)
}

// ListGroups lists the customer's script groups, in the service's order.
func (s *SubAccountClient) ListGroups(ctx context.Context, opts ...RequestOption) ([]Group, error) {
	return listAll[Group](ctx, s.c, routes.MustLookup(routes.ListGroups), nil, nil, opts)
}

// ScriptCreate describes a new script.
type ScriptCreate struct {
	Name string // required
	Code string // the Python source
	// GroupID is the group to create it in; required (ListGroups).
	GroupID ID
	// RunMode defaults to RunModeShell, a background script that RunScript
	// and schedules run.
	RunMode RunMode
	// Schedule, when set, is saved in the script's settings.
	Schedule *Schedule
}

type scriptBody struct {
	Name      *string `json:"name,omitempty"`
	Type      string  `json:"type,omitempty"`
	RunMode   RunMode `json:"run_mode,omitempty"`
	RawScript *string `json:"raw_script,omitempty"`
	Settings  any     `json:"settings,omitempty"`
}

// CreateScript creates a script in a group, as Peliqan's own client does
// (type "streamlit", the run mode, the code as raw_script, and the schedule
// as settings). When the server accepted the create but its answer cannot
// be decoded in full, the script exists: it comes back as far as it could be
// read (its ID first) together with a *DecodeError.
func (s *SubAccountClient) CreateScript(ctx context.Context, sc ScriptCreate, opts ...RequestOption) (*Script, error) {
	group, err := sc.GroupID.param("GroupID")
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(sc.Name) == "" {
		return nil, invalidArg("Name", "is empty")
	}
	if err := sc.Schedule.validate(); err != nil {
		return nil, err
	}
	mode := sc.RunMode
	if mode == "" {
		mode = RunModeShell
	}
	body := scriptBody{Name: &sc.Name, Type: "streamlit", RunMode: mode, RawScript: &sc.Code}
	if sc.Schedule != nil {
		set := sc.Schedule.settings()
		body.Settings = &set
	}
	return doWrite[Script](ctx, s.c, &call{route: routes.MustLookup(routes.CreateScript), params: []string{group}, body: body}, opts)
}

// ScriptUpdate changes a script; nil fields are left as they are.
type ScriptUpdate struct {
	Name *string
	Code *string
	// Schedule replaces the scheduling settings (schedule, run_interval,
	// weekdays, start_time); Schedule{Disabled: true} turns them off. The
	// script's other settings are kept.
	Schedule *Schedule
}

// UpdateScript changes a script's name, code or schedule (PATCH: only the
// fields set are sent). To change the schedule it first reads the script
// (GetScript), because settings is sent whole: the script's other settings
// are sent back unchanged beside the new schedule. An answer to the PATCH
// that cannot be decoded in full returns what could be read beside a
// *DecodeError: the change was applied.
func (s *SubAccountClient) UpdateScript(ctx context.Context, scriptID ID, u ScriptUpdate, opts ...RequestOption) (*Script, error) {
	if _, err := scriptID.param("script id"); err != nil {
		return nil, err
	}
	if u.Name == nil && u.Code == nil && u.Schedule == nil {
		return nil, invalidArg("ScriptUpdate", "changes nothing")
	}
	if u.Name != nil && strings.TrimSpace(*u.Name) == "" {
		return nil, invalidArg("Name", "is empty")
	}
	if err := u.Schedule.validate(); err != nil {
		return nil, err
	}
	var settings json.RawMessage
	if u.Schedule != nil {
		cur, err := s.GetScript(ctx, scriptID, opts...)
		if err != nil {
			return nil, err
		}
		if settings, err = mergeSchedule(cur.Settings, u.Schedule); err != nil {
			return nil, err
		}
	}
	return s.patchScript(ctx, scriptID, u.Name, u.Code, settings, opts)
}

// patchScript sends the PATCH; settings, when set, is the whole settings
// object.
func (s *SubAccountClient) patchScript(ctx context.Context, scriptID ID, name, code *string, settings json.RawMessage, opts []RequestOption) (*Script, error) {
	body := scriptBody{Name: name, RawScript: code}
	if settings != nil {
		body.Settings = settings
	}
	return doWrite[Script](ctx, s.c, &call{route: routes.MustLookup(routes.UpdateScript), params: []string{scriptID.String()}, body: body}, opts)
}

// ScriptRun is one run of a script.
type ScriptRun struct {
	ID ID `json:"id"`
	// ScriptID is the script that ran (the API's "interface").
	ScriptID ID `json:"-"`
	// Running is the service's flag; nil when it sent none (Peliqan's own
	// client then counts the run as still running).
	Running *bool `json:"running"`
	// Status is the run's status when the service sends one (the same
	// open set as pipeline runs: COMPLETED, ERROR, ...).
	Status  RunStatus `json:"status,omitempty"`
	RunMode RunMode   `json:"run_mode,omitempty"`
	Source  string    `json:"source,omitempty"`
	// Raw is the whole run object as sent, for fields not modelled here.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON reads a run, taking "interface" (or "interface_id") as an
// id or an object.
func (r *ScriptRun) UnmarshalJSON(b []byte) error {
	type plain ScriptRun
	var w struct {
		plain
		Interface   json.RawMessage `json:"interface"`
		InterfaceID json.RawMessage `json:"interface_id"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*r = ScriptRun(w.plain)
	r.ScriptID = groupRef(w.Interface)
	if r.ScriptID == 0 {
		r.ScriptID = groupRef(w.InterfaceID)
	}
	r.Raw = append(json.RawMessage(nil), b...)
	return nil
}

// IsRunning reports whether the run is still going: Running when sent;
// without it, true unless Status is a final one (Peliqan's own client
// counts a run without "running" as running).
func (r *ScriptRun) IsRunning() bool {
	if r.Running != nil {
		return *r.Running
	}
	return !r.Status.IsTerminal()
}

// RunScript starts a script now, in two calls as Peliqan's own client does:
// a GET that prepares the run (it triggers work, so it is never retried),
// then a POST creating the run, answered 201 with the run. When the POST was
// accepted but its answer cannot be decoded in full, the run exists: it
// comes back as far as it could be read (its ID first) together with a
// *DecodeError; do not run the script again.
func (s *SubAccountClient) RunScript(ctx context.Context, scriptID ID, opts ...RequestOption) (*ScriptRun, error) {
	id, err := scriptID.param("script id")
	if err != nil {
		return nil, err
	}
	trigger := &call{route: routes.MustLookup(routes.TriggerScriptRun), params: []string{id},
		query: url.Values{"shell": {"1"}}}
	if err := s.c.do(ctx, trigger, opts); err != nil {
		return nil, err
	}
	body := struct {
		InterfaceID ID     `json:"interface_id"`
		RunMode     string `json:"run_mode"`
		Source      string `json:"source"`
	}{scriptID, "SHELL", "SCRIPT"}
	run, err := doWrite[ScriptRun](ctx, s.c, &call{route: routes.MustLookup(routes.CreateScriptRun), body: body}, opts)
	if run != nil && run.ScriptID == 0 {
		run.ScriptID = scriptID
	}
	return run, err
}

// GetScriptRun returns one run of a script.
func (s *SubAccountClient) GetScriptRun(ctx context.Context, runID ID, opts ...RequestOption) (*ScriptRun, error) {
	id, err := runID.param("run id")
	if err != nil {
		return nil, err
	}
	return doInto[ScriptRun](ctx, s.c, &call{route: routes.MustLookup(routes.GetScriptRun), params: []string{id}}, opts)
}

// ScriptRunLogs returns a run's logs as the service sends them (a JSON
// object whose shape Peliqan does not document).
func (s *SubAccountClient) ScriptRunLogs(ctx context.Context, runID ID, opts ...RequestOption) (json.RawMessage, error) {
	id, err := runID.param("run id")
	if err != nil {
		return nil, err
	}
	var out json.RawMessage
	if err := s.c.do(ctx, &call{route: routes.MustLookup(routes.ScriptRunLogs), params: []string{id}, out: &out}, opts); err != nil {
		return nil, err
	}
	return out, nil
}

// ListScriptRuns reads one page of a script's runs.
func (s *SubAccountClient) ListScriptRuns(ctx context.Context, scriptID ID, lo *ListOptions, opts ...RequestOption) (*Page[ScriptRun], error) {
	q, err := scriptRunsQuery(scriptID, lo)
	if err != nil {
		return nil, err
	}
	return listPage[ScriptRun](ctx, s.c, routes.MustLookup(routes.ListScriptRuns), nil, q, opts)
}

// ScriptRuns iterates over all of a script's runs from lo's page on,
// fetching pages as the loop asks for them.
func (s *SubAccountClient) ScriptRuns(ctx context.Context, scriptID ID, lo *ListOptions, opts ...RequestOption) iter.Seq2[*ScriptRun, error] {
	q, err := scriptRunsQuery(scriptID, lo)
	if err != nil {
		return func(yield func(*ScriptRun, error) bool) { yield(nil, err) }
	}
	route := routes.MustLookup(routes.ListScriptRuns)
	return paginate(ctx, q, func(ctx context.Context, q url.Values) (*Page[ScriptRun], error) {
		return listPage[ScriptRun](ctx, s.c, route, nil, q, opts)
	})
}

func scriptRunsQuery(scriptID ID, lo *ListOptions) (url.Values, error) {
	id, err := scriptID.param("script id")
	if err != nil {
		return nil, err
	}
	q, err := listQuery(lo)
	if err != nil {
		return nil, err
	}
	q.Set("interface_id", id)
	return q, nil
}

// ScriptWaitOptions tunes WaitForScriptRun.
type ScriptWaitOptions struct {
	// Schedule spaces the status polls; nil means PeliqanSchedule (5 s,
	// then 10 s after the 5th poll, 20 s after the 10th).
	Schedule PollSchedule
	// Progress, when set, sees every status read, the last one included.
	Progress func(*ScriptRun)
}

// WaitForScriptRun polls a run until it is no longer running (see
// IsRunning) and returns its final state. A run that ended in error is not
// an error here: look at the run's Status. Polls follow o.Schedule, by
// default Peliqan's own (PeliqanSchedule), as WaitForSync does. Bound the
// wait with ctx; when ctx ends first its error comes back alone (nil run):
// the last state read reached o.Progress.
func (s *SubAccountClient) WaitForScriptRun(ctx context.Context, runID ID, o *ScriptWaitOptions, opts ...RequestOption) (*ScriptRun, error) {
	opt := optionsOr(o)
	if _, err := runID.param("run id"); err != nil {
		return nil, err
	}
	return pollUntil(ctx, opt.Schedule, func(ctx context.Context) (*ScriptRun, bool, error) {
		run, err := s.GetScriptRun(ctx, runID, opts...)
		if err != nil {
			return nil, false, err
		}
		return run, !run.IsRunning(), nil
	}, opt.Progress)
}
