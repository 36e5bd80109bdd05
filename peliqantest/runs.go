package peliqantest

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// RunOutcome is how a pipeline run ends.
type RunOutcome string

// Run outcomes (the RUNNING state comes first, for the sync duration).
const (
	OutcomeCompleted           RunOutcome = "COMPLETED"
	OutcomeCompletedWithErrors RunOutcome = "COMPLETED_WITH_ERRORS"
	OutcomeError               RunOutcome = "ERROR"
)

func (o RunOutcome) valid() bool {
	switch o {
	case OutcomeCompleted, OutcomeCompletedWithErrors, OutcomeError:
		return true
	}
	return false
}

const (
	runSync   = "sync"
	runResync = "resync"

	statusRunning = "RUNNING"

	maxStatusWait   = 60 * time.Second
	maxBlockingWait = time.Hour
)

// pipelineRun is one sync or resync of a connection.
type pipelineRun struct {
	ID             int64      `json:"id"`
	ServerID       int64      `json:"server_id"`
	TaskID         string     `json:"task_id"`
	Type           string     `json:"type"`
	Status         string     `json:"status"`
	TimestampStart string     `json:"timestamp_start"`
	TimestampEnd   *string    `json:"timestamp_end"`
	Tables         []runTable `json:"tables"`
	Error          *string    `json:"error"`
	Message        string     `json:"message"`

	account  int64
	finishAt time.Time
	outcome  RunOutcome
	tableIDs []int64
	logs     []logLine
}

type runTable struct {
	Name    string `json:"name"`
	Records int    `json:"records"`
}

type runRef struct {
	PipelineRunID int64  `json:"pipeline_run_id"`
	TaskID        string `json:"task_id"`
}

type syncAnswer struct {
	ServerID     int64  `json:"server_id"`
	HealthStatus string `json:"health_status"`
	RunData      any    `json:"run_data"`
	TaskID       string `json:"task_id"`
	Detail       string `json:"detail"`
	Syncing      bool   `json:"syncing"`
}

func refData(kind string, r *pipelineRun) any {
	ref := runRef{PipelineRunID: r.ID, TaskID: r.TaskID}
	if kind == runResync {
		return ref // Peliqan's client reads the resync's run_data as one object
	}
	return []runRef{ref}
}

// startRun begins a sync or resync: the connection goes CHECKING and the run
// RUNNING until the sync duration has passed. A connection waiting for
// authorisation or disabled refuses; one already running answers with its
// current run and starts nothing.
//
// A sync with is_async=false is blocking: with the real clock the answer
// comes when the run has ended (syncing false); with an injected clock it
// comes at once, as an asynchronous one does.
func (c *call) startRun(s *server, kind string) reply {
	if r := c.started; r != nil {
		return c.ok(syncAnswer{ServerID: s.ID, HealthStatus: s.HealthStatus, RunData: refData(kind, r),
			TaskID: r.TaskID, Detail: "Sync " + strings.ToLower(strings.ReplaceAll(r.Status, "_", " ")),
			Syncing: r.Status == statusRunning})
	}
	switch s.HealthStatus {
	case healthAuthorizing, healthReauthorising:
		return c.peliqanError(http.StatusBadRequest, "ERROR_SERVER_NOT_AUTHORISED",
			"The connection must be authorised before it can sync")
	case healthDisabled:
		return c.peliqanError(http.StatusBadRequest, "ERROR_SERVER_DISABLED", "The connection is disabled")
	}
	if r := s.current; r != nil {
		return c.ok(syncAnswer{ServerID: s.ID, HealthStatus: s.HealthStatus, RunData: refData(kind, r),
			TaskID: r.TaskID, Detail: "A sync is already running for this connection", Syncing: true})
	}
	tables := s.tables
	if names := c.query.Get("tables"); names != "" && kind == runSync {
		want := strings.Split(names, ",")
		tables = nil
		for _, id := range s.tables {
			if t := c.s.st.tables[id]; t != nil && slices.Contains(want, t.Name) {
				tables = append(tables, id)
			}
		}
		if len(tables) == 0 {
			return c.peliqanError(http.StatusBadRequest, "ERROR_TABLE_DOES_NOT_EXIST",
				"None of the requested tables exist in this connection")
		}
	}
	st := c.s.st
	outcome := s.outcome
	if outcome == "" {
		outcome = c.s.cfg.outcome
	}
	r := &pipelineRun{ID: st.id(), ServerID: s.ID, TaskID: st.taskID(), Type: kind, Status: statusRunning,
		TimestampStart: ts(c.now), Tables: []runTable{}, account: s.account,
		finishAt: c.now.Add(c.s.cfg.syncDuration), outcome: outcome, tableIDs: slices.Clone(tables)}
	r.logs = append(r.logs, logAt(c.now, "INFO", "Pipeline run %d (%s) started for connection %q", r.ID, kind, s.Name))
	st.runs[r.ID] = r
	c.s.rec.runStarted(s.ID)
	c.acct.runs = append(c.acct.runs, r.ID)
	st.pendingRuns = append(st.pendingRuns, r)
	s.current = r
	s.HealthStatus = healthChecking
	s.logs = append(s.logs, logAt(c.now, "INFO", "Sync started (pipeline run %d)", r.ID))
	if q := c.query.Get("is_async"); q != "" && !boolQuery(q) && !c.s.cfg.manualClock {
		c.started = r
		return reply{wait: min(c.s.cfg.syncDuration+time.Millisecond, maxBlockingWait)}
	}
	return c.ok(syncAnswer{ServerID: s.ID, HealthStatus: s.HealthStatus, RunData: refData(kind, r),
		TaskID: r.TaskID, Detail: "Sync started", Syncing: true})
}

// finishRun ends a run with its outcome, appends rows to the tables it
// synced and moves the connection's health.
func (st *state) finishRun(r *pipelineRun, cfg config) {
	r.Status = string(r.outcome)
	r.TimestampEnd = tsPtr(r.finishAt)
	n := cfg.rowsPerSync
	switch r.outcome {
	case OutcomeCompletedWithErrors:
		n = max(1, n/2)
		msg := "Some records could not be synced"
		r.Error = &msg
	case OutcomeError:
		n = 0
		msg := "Source returned 401 Unauthorized: the credentials are no longer valid"
		r.Error = &msg
	}
	for _, id := range r.tableIDs {
		t := st.tables[id]
		if t == nil {
			continue
		}
		t.gen += n
		r.Tables = append(r.Tables, runTable{Name: t.Name, Records: n})
		r.logs = append(r.logs, logAt(r.finishAt, "INFO", "Synced %d records into %s", n, t.Name))
	}
	r.Message = "Pipeline run " + strings.ToLower(strings.ReplaceAll(r.Status, "_", " "))
	level := "INFO"
	if r.outcome != OutcomeCompleted {
		level = "ERROR"
	}
	r.logs = append(r.logs, logAt(r.finishAt, level, "Pipeline run %d finished: %s", r.ID, r.Status))
	s := st.servers[r.ServerID]
	if s == nil {
		return
	}
	if s.current == r {
		s.current = nil
	}
	s.LastSyncAt = tsPtr(r.finishAt)
	// A connection whose authorisation was pulled during the run keeps that
	// state; otherwise its health follows the run.
	if s.HealthStatus == healthChecking {
		switch r.outcome {
		case OutcomeCompleted:
			s.HealthStatus = healthOK
		case OutcomeCompletedWithErrors:
			s.HealthStatus = healthWithErrors
		case OutcomeError:
			s.HealthStatus = healthError
		}
	}
	s.logs = append(s.logs, logAt(r.finishAt, level, "Sync finished: %s", r.Status))
}

// runStatus answers {running, run_id} for the run named by task_id or
// pipeline_run_id, or the connection's latest run of this kind. With a
// timeout (seconds) and the real clock, it first waits up to that long for
// the run to end, and answers ERROR_PIPELINE_RUN_TIMEOUT if it has not.
func (c *call) runStatus(s *server, kind string) reply {
	var run *pipelineRun
	task, rid := c.query.Get("task_id"), c.query.Get("pipeline_run_id")
	for i := len(c.acct.runs) - 1; i >= 0 && run == nil; i-- {
		r := c.s.st.runs[c.acct.runs[i]]
		if r == nil || r.ServerID != s.ID {
			continue
		}
		switch {
		case task != "" && r.TaskID == task, rid != "" && strconv.FormatInt(r.ID, 10) == rid:
			run = r
		case task == "" && rid == "" && r.Type == kind:
			run = r
		}
	}
	if run == nil {
		if task != "" || rid != "" {
			return notFound()
		}
		return c.ok(map[string]any{"running": false, "run_id": nil})
	}
	running := run.Status == statusRunning
	if secs, _ := strconv.ParseFloat(c.query.Get("timeout"), 64); running && secs > 0 && !c.s.cfg.manualClock {
		if !c.waited {
			limit := min(time.Duration(secs*float64(time.Second)), maxStatusWait)
			return reply{wait: min(limit, run.finishAt.Sub(c.now)+time.Millisecond)}
		}
		return c.peliqanError(http.StatusBadRequest, "ERROR_PIPELINE_RUN_TIMEOUT",
			"The pipeline run did not finish within the timeout")
	}
	return c.ok(map[string]any{"running": running, "run_id": run.ID, "task_id": run.TaskID, "status": run.Status})
}
