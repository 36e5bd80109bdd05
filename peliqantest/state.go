package peliqantest

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// partnerAccountID is the partner's own account: the first id handed out.
const partnerAccountID = 1

// state is everything the fake knows. All of it is guarded by Fake.mu.
// Ids come from one counter shared by every kind of object, so an id of
// the wrong kind never finds anything by accident.
type state struct {
	lastID  int64
	taskSeq int64
	trace   int64

	partner  *account
	accounts map[int64]*account // sub-accounts only
	order    []int64            // sub-account ids, creation order
	external map[string]int64   // external_id -> sub-account id

	serverTypes []*ServerType

	// Objects by id across tenants; each carries its account id so a
	// lookup can refuse another tenant's object.
	servers    map[int64]*server
	databases  map[int64]*database
	tables     map[int64]*table
	scripts    map[int64]*script
	groups     map[int64]*group
	runs       map[int64]*pipelineRun
	scriptRuns map[int64]*scriptRun

	pendingRuns   []*pipelineRun
	pendingScript []*scriptRun
}

func newState(cfg config) *state {
	st := &state{
		accounts:   map[int64]*account{},
		external:   map[string]int64{},
		servers:    map[int64]*server{},
		databases:  map[int64]*database{},
		tables:     map[int64]*table{},
		scripts:    map[int64]*script{},
		groups:     map[int64]*group{},
		runs:       map[int64]*pipelineRun{},
		scriptRuns: map[int64]*scriptRun{},
	}
	now := cfg.now().UTC()
	st.partner = st.newAccount(profile{Name: "Partner", CompanyName: "Partner", Email: "partner@example.com"}, now)
	for _, t := range DefaultServerTypes() {
		st.addServerType(t)
	}
	return st
}

func (st *state) id() int64 { st.lastID++; return st.lastID }

// taskID renders a Celery-style task id, deterministic from a counter.
func (st *state) taskID() string {
	st.taskSeq++
	return fmt.Sprintf("00000000-0000-4000-8000-%012x", st.taskSeq)
}

func (st *state) traceID() string {
	st.trace++
	return fmt.Sprintf("%032x", st.trace)
}

// profile is a sub-account (tenant) as the partner routes show it.
type profile struct {
	ID          int64   `json:"id"`
	Name        string  `json:"name"`
	ExternalID  string  `json:"external_id"`
	FirstName   string  `json:"first_name"`
	LastName    string  `json:"last_name"`
	Email       string  `json:"email"`
	CompanyName string  `json:"company_name"`
	Country     string  `json:"country"`
	CompanySize any     `json:"company_size"`
	Language    string  `json:"language"`
	Timezone    string  `json:"timezone"`
	Verified    bool    `json:"verified"`
	License     string  `json:"license"`
	ExpiresOn   *string `json:"expires_on"`
	CreatedAt   string  `json:"created_at"`
}

// account is a tenant: the partner's own account or a sub-account.
type account struct {
	profile
	dw           *database // the built-in warehouse ("dw_<id>")
	defaultGroup int64
	servers      []int64
	scripts      []int64
	groups       []int64
	runs         []int64 // pipeline runs, creation order
	scriptRuns   []int64
}

func (st *state) newAccount(info profile, now time.Time) *account {
	info.ID = st.id()
	if info.Name == "" {
		info.Name = info.CompanyName
	}
	if info.Language == "" {
		info.Language = "en"
	}
	if info.Timezone == "" {
		info.Timezone = "UTC"
	}
	if info.License == "" {
		info.License = "free_trial"
	}
	info.CreatedAt = ts(now)
	a := &account{profile: info}
	a.dw = st.newDatabase(a, fmt.Sprintf("dw_%d", info.ID))
	g := &group{ID: st.id(), Name: "Default", account: a.ID}
	st.groups[g.ID] = g
	a.groups = append(a.groups, g.ID)
	a.defaultGroup = g.ID
	return a
}

// addSubAccount registers a new sub-account; external ids are unique.
func (st *state) addSubAccount(info profile, now time.Time) *account {
	a := st.newAccount(info, now)
	st.accounts[a.ID] = a
	st.order = append(st.order, a.ID)
	if a.ExternalID != "" {
		st.external[a.ExternalID] = a.ID
	}
	return a
}

func (st *state) subAccount(id int64) *account { return st.accounts[id] }

func (st *state) byExternalID(ext string) *account {
	if id, ok := st.external[ext]; ok {
		return st.accounts[id]
	}
	return nil
}

// deleteSubAccount removes a tenant and everything in it; its tokens stop
// working.
func (st *state) deleteSubAccount(a *account) {
	delete(st.accounts, a.ID)
	delete(st.external, a.ExternalID)
	st.order = slices.DeleteFunc(st.order, func(id int64) bool { return id == a.ID })
	for _, id := range a.servers {
		delete(st.servers, id)
	}
	for _, t := range a.dw.tables {
		delete(st.tables, t)
	}
	delete(st.databases, a.dw.ID)
	for _, id := range a.scripts {
		delete(st.scripts, id)
	}
	for _, id := range a.groups {
		delete(st.groups, id)
	}
	for _, id := range a.runs {
		delete(st.runs, id)
	}
	for _, id := range a.scriptRuns {
		delete(st.scriptRuns, id)
	}
	st.pendingRuns = slices.DeleteFunc(st.pendingRuns, func(r *pipelineRun) bool { return r.account == a.ID })
	st.pendingScript = slices.DeleteFunc(st.pendingScript, func(r *scriptRun) bool { return r.account == a.ID })
}

// Scoped lookups: nil unless the object exists and belongs to a.

func (st *state) server(a *account, id int64) *server {
	if s := st.servers[id]; s != nil && s.account == a.ID {
		return s
	}
	return nil
}

func (st *state) database(a *account, id int64) *database {
	if d := st.databases[id]; d != nil && d.account == a.ID {
		return d
	}
	return nil
}

func (st *state) table(a *account, id int64) *table {
	if t := st.tables[id]; t != nil && t.account == a.ID {
		return t
	}
	return nil
}

func (st *state) script(a *account, id int64) *script {
	if s := st.scripts[id]; s != nil && s.account == a.ID {
		return s
	}
	return nil
}

func (st *state) group(a *account, id int64) *group {
	if g := st.groups[id]; g != nil && g.account == a.ID {
		return g
	}
	return nil
}

func (st *state) run(a *account, id int64) *pipelineRun {
	if r := st.runs[id]; r != nil && r.account == a.ID {
		return r
	}
	return nil
}

func (st *state) scriptRun(a *account, id int64) *scriptRun {
	if r := st.scriptRuns[id]; r != nil && r.account == a.ID {
		return r
	}
	return nil
}

// group is a script folder.
type group struct {
	ID      int64  `json:"id"`
	Name    string `json:"name"`
	account int64
}

// logLine is one entry of the logs routes.
type logLine struct {
	Timestamp string `json:"timestamp"`
	Level     string `json:"level"`
	Message   string `json:"message"`
}

func logAt(t time.Time, level, format string, args ...any) logLine {
	return logLine{Timestamp: ts(t), Level: level, Message: fmt.Sprintf(format, args...)}
}

// settle finishes every run whose time has come. Runs are completed lazily,
// on the next request, so the fake needs no goroutines and follows an
// injected clock exactly.
func (st *state) settle(now time.Time, cfg config) {
	cfg.lifecycle.hub.settle(st, now) // OAuth completions, run webhooks (lifecycle.go)
	if len(st.pendingRuns) > 0 {
		st.pendingRuns = slices.DeleteFunc(st.pendingRuns, func(r *pipelineRun) bool {
			if now.Before(r.finishAt) {
				return false
			}
			st.finishRun(r, cfg)
			return true
		})
	}
	if len(st.pendingScript) > 0 {
		st.pendingScript = slices.DeleteFunc(st.pendingScript, func(r *scriptRun) bool {
			if now.Before(r.finishAt) {
				return false
			}
			r.finish()
			return true
		})
	}
}

// rawJSON returns v as json.RawMessage, or null.
func rawJSON(v any) json.RawMessage {
	if v == nil {
		return json.RawMessage("null")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage("null")
	}
	return b
}
