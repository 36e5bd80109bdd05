package peliqan

import (
	"context"
	"errors"
	"time"
)

// WaitOptions tunes WaitForSync. The zero value polls on PeliqanSchedule
// without progress reports.
type WaitOptions struct {
	// Schedule is the wait between status polls; nil means PeliqanSchedule
	// (5 s, then 10 s after the 5th poll, 20 s after the 10th). Polls are
	// counted across all the runs a sync started.
	Schedule PollSchedule
	// Progress, when set, is called after every status poll, on the
	// caller's goroutine.
	Progress func(SyncProgress)
	// ServerTimeout, when positive, is sent as the status call's "timeout":
	// the server holds each poll up to this long waiting for the run to end
	// (a long poll). 0 polls without it.
	ServerTimeout time.Duration
}

// SyncProgress reports one status poll of WaitForSync.
type SyncProgress struct {
	ServerID ID
	// TaskID and PipelineRunID name the run being followed.
	TaskID        string
	PipelineRunID ID
	// Poll counts the status polls so far, from 1.
	Poll    int
	Running bool
	// RunID is the run id the status answer named, if any.
	RunID   ID
	Elapsed time.Duration
}

// SyncRun is the outcome of a sync WaitForSync followed to its end.
type SyncRun struct {
	ServerID ID
	// Status is the final status: the run's own, or with several runs the
	// worst of them (failed, then completed with errors, then unknown or
	// still running, then completed). Empty when no run could be read (no
	// run id was known, or the server did not return the run).
	Status RunStatus
	// Run is the final state of the (first) pipeline run, with its record
	// counts when the server sent them; nil when Status is empty.
	Run *PipelineRun
	// Runs holds every run read, in the order their ids were learned.
	Runs []PipelineRun
	// RunIDs lists every pipeline run id the sync and its polls named.
	RunIDs []ID
	// Polls counts the status requests sent.
	Polls   int
	Elapsed time.Duration
}

// finalRunReads bounds how often WaitForSync reads the runs again when the
// status already said "not running" but a run still shows a running status
// (the sync's worker may not have written it yet).
const finalRunReads = 3

// WaitForSync follows a sync (or resync) started by SyncServer (or
// FullResync) to its end and returns the final run.
//
// It polls GetServerSyncRunStatus (GetFullResyncStatus for a resync) with
// the result's task id and pipeline run id, one run after the other when
// the sync started several, waiting between polls as o.Schedule says
// (Peliqan's own schedule by default). An answer without "running" counts
// as running, as in Peliqan's client, and an ERROR_PIPELINE_RUN_TIMEOUT
// answer (the server-side wait ran out) as a poll that saw the run still
// going. When every run is done it reads the runs with GetPipelineRuns, for
// their status and record counts.
//
// It only reads: a sync is never started again, whatever happens. A run that
// ended in error is a successful wait: check SyncRun.Status. Any other
// error ends the wait (status GETs are retried by the client's RetryPolicy
// first), and when ctx ends WaitForSync returns ctx's error as it is. Bound
// the wait with a context deadline; there is no other limit.
func (s *SubAccountClient) WaitForSync(ctx context.Context, res *SyncResult, o *WaitOptions, opts ...RequestOption) (*SyncRun, error) {
	opt := optionsOr(o)
	if res == nil {
		return nil, invalidArg("SyncResult", "is nil")
	}
	if res.ServerID <= 0 {
		return nil, invalidArg("SyncResult.ServerID", "must be a positive id (got %d)", int64(res.ServerID))
	}
	if opt.ServerTimeout < 0 {
		return nil, invalidArg("ServerTimeout", "negative duration %s", opt.ServerTimeout)
	}
	targets := append([]RunRef(nil), res.RunData...)
	if len(targets) == 0 {
		targets = []RunRef{{TaskID: res.TaskID}}
	}
	for i := range targets {
		if targets[i].TaskID == "" {
			targets[i].TaskID = res.TaskID
		}
		if targets[i].TaskID == "" && targets[i].PipelineRunID <= 0 {
			return nil, invalidArg("SyncResult", "has no task id or pipeline run id to follow")
		}
	}
	if _, err := applyCallOptions(opts); err != nil {
		return nil, err
	}
	sched := opt.Schedule
	if sched == nil {
		sched = PeliqanSchedule()
	}
	start := time.Now()
	out := &SyncRun{ServerID: res.ServerID}
	addID := func(id ID) {
		if id <= 0 {
			return
		}
		for _, have := range out.RunIDs {
			if have == id {
				return
			}
		}
		out.RunIDs = append(out.RunIDs, id)
	}
	status := s.GetServerSyncRunStatus
	if res.resync {
		status = s.GetFullResyncStatus
	}
	globalSchedule := func(int) time.Duration { return sched(out.Polls) }
	for _, t := range targets {
		addID(t.PipelineRunID)
		q := &SyncStatusOptions{TaskID: t.TaskID, PipelineRunID: t.PipelineRunID, Timeout: opt.ServerTimeout}
		fetch := func(ctx context.Context) (SyncProgress, bool, error) {
			out.Polls++
			p := SyncProgress{ServerID: res.ServerID, TaskID: t.TaskID, PipelineRunID: t.PipelineRunID, Poll: out.Polls, Running: true}
			st, err := status(ctx, res.ServerID, q, opts...)
			var ae *APIError
			switch {
			case errors.As(err, &ae) && ae.Code == CodePipelineRunTimeout:
				// The server-side wait ran out: the run is still going.
			case err != nil:
				return p, false, err
			default:
				p.Running, p.RunID = st.Running, st.RunID
				for _, id := range st.RunIDs {
					addID(id)
				}
			}
			p.Elapsed = time.Since(start)
			return p, !p.Running, nil
		}
		if _, err := pollUntil(ctx, globalSchedule, fetch, opt.Progress); err != nil {
			return nil, err
		}
	}
	if len(out.RunIDs) > 0 {
		if err := s.readFinalRuns(ctx, out, sched, opts); err != nil {
			return nil, err
		}
	}
	out.Elapsed = time.Since(start)
	return out, nil
}

// readFinalRuns reads the runs named in out.RunIDs, again (on the schedule,
// at most finalRunReads times in all) while one still shows a running
// status.
func (s *SubAccountClient) readFinalRuns(ctx context.Context, out *SyncRun, sched PollSchedule, ropts []RequestOption) error {
	reads := 0
	fetch := func(ctx context.Context) ([]PipelineRun, bool, error) {
		reads++
		runs, err := s.orderedRuns(ctx, out.RunIDs, ropts)
		if err != nil {
			return nil, false, err
		}
		for _, r := range runs {
			if r.Status.InProgress() && reads < finalRunReads {
				return runs, false, nil
			}
		}
		return runs, true, nil
	}
	runs, err := pollUntil(ctx, func(int) time.Duration { return sched(out.Polls) }, fetch, nil)
	if err != nil {
		return err
	}
	out.Runs = runs
	if len(runs) > 0 {
		out.Run = &out.Runs[0]
		out.Status = worstRunStatus(runs)
	}
	return nil
}

func (s *SubAccountClient) orderedRuns(ctx context.Context, ids []ID, ropts []RequestOption) ([]PipelineRun, error) {
	runs, err := s.GetPipelineRuns(ctx, ids, ropts...)
	if err != nil {
		return nil, err
	}
	byID := make(map[ID]PipelineRun, len(runs))
	for _, r := range runs {
		byID[r.ID] = r
	}
	out := make([]PipelineRun, 0, len(runs))
	for _, id := range ids {
		if r, ok := byID[id]; ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// worstRunStatus picks the status that says most about what went wrong.
func worstRunStatus(runs []PipelineRun) RunStatus {
	rank := func(st RunStatus) int {
		switch {
		case st.IsFailed():
			return 4
		case st.HasErrors():
			return 3
		case st.Succeeded():
			return 0
		case st.InProgress():
			return 1
		}
		return 2 // unknown
	}
	worst := runs[0].Status
	for _, r := range runs[1:] {
		if rank(r.Status) > rank(worst) {
			worst = r.Status
		}
	}
	return worst
}
