package peliqan

import (
	"context"
	"errors"
	"iter"
	"time"
)

// WaitManyOptions tunes WaitForSyncs. nil polls on PeliqanSchedule without
// progress reports.
type WaitManyOptions struct {
	// Schedule is the wait between two ticks; nil means PeliqanSchedule.
	// Its argument counts the ticks made so far.
	Schedule PollSchedule
	// Progress, when set, is called after every tick (once the ends it
	// found were yielded), on the caller's goroutine.
	Progress func(WaitManyProgress)
}

// WaitManyProgress reports one tick of WaitForSyncs.
type WaitManyProgress struct {
	// Tick counts the ticks so far, from 1.
	Tick int
	// Requests is the number of status requests this tick sent: one
	// GetPipelineRuns per 50 run ids, plus one status-route request per run
	// followed by its task id.
	Requests int
	// Pending is the number of syncs still followed; Ended the number whose
	// end was reported so far.
	Pending int
	Ended   int
	Elapsed time.Duration
}

// SyncEnd is the end of one of the syncs WaitForSyncs follows.
type SyncEnd struct {
	// Index is the sync's position in the results given to WaitForSyncs.
	Index  int
	Result *SyncResult
	// Run is the sync's final state, as WaitForSync would return it (Polls
	// counts the status requests that concerned this sync); nil when Err
	// is set.
	Run *SyncRun
	// Err says why this sync could not be followed to its end: its status
	// route failed (a run the server does not know is ErrNotFound). The
	// other syncs go on.
	Err error
}

// WaitForSyncs follows many syncs of one customer (the results of SyncServer
// or FullResync) to their ends, and yields each end as it happens:
//
//	for end, err := range t.WaitForSyncs(ctx, results, nil) {
//		if err != nil { ... }        // the wait as a whole failed, or ctx ended
//		if end.Err != nil { ... }    // this one sync could not be followed
//		fmt.Println(end.Result.ServerID, end.Run.Status)
//	}
//
// Each tick sends ONE GetPipelineRuns request for the run ids of every sync
// still going (GetPipelineRuns splits a long list into requests of 50 ids),
// instead of one status request per sync: five connections synced together
// cost one request per tick, not five. The first tick is at once, then the
// ticks follow o.Schedule (Peliqan's own schedule by default).
//
// A run's record decides: a run whose status is in progress is read again
// next tick, and a sync ends once every one of its runs has a final status.
// The status route (GetServerSyncRunStatus, or GetFullResyncStatus for a
// resync) is used where the record cannot decide: for a result that carries
// no pipeline run id (it is followed by its task id), and for a run the
// server does not return or whose status the SDK does not know. Once the
// status route says a run is not running, its record is read again while it
// still shows an in-progress status (the sync's worker may not have written
// it yet), at most three reads in all, as WaitForSync does; the sync then
// ends with the status read.
//
// It only reads: nothing is ever started again, whatever happens. A run
// that ended in error is a successful end: check SyncEnd.Run.Status. A
// status-route failure ends that sync alone (SyncEnd.Err), but for a 429;
// a 429 there or a failed GetPipelineRuns (after the client's retries)
// ends the wait, yielded once as the error, after the ends the tick found. When ctx ends, its error is
// yielded as it is. Bound the wait with a context deadline; there is no
// other limit. Breaking out of the loop stops the wait.
//
// Every result must name its connection and carry a task id or a pipeline
// run id; anything else (and a nil ctx) is yielded as ErrInvalidArgument
// before any request. No result at all yields nothing.
func (s *SubAccountClient) WaitForSyncs(ctx context.Context, results []*SyncResult, o *WaitManyOptions, opts ...RequestOption) iter.Seq2[*SyncEnd, error] {
	opt := optionsOr(o)
	return func(yield func(*SyncEnd, error) bool) {
		if ctx == nil {
			yield(nil, invalidArg("ctx", "nil context"))
			return
		}
		if _, err := applyCallOptions(opts); err != nil {
			yield(nil, err)
			return
		}
		start := time.Now()
		w := &waitSet{s: s, opts: opts}
		for i, res := range results {
			if err := w.add(i, res, start); err != nil {
				yield(nil, err)
				return
			}
		}
		sched := opt.Schedule
		if sched == nil {
			sched = PeliqanSchedule()
		}
		ended := 0
		for tick := 1; len(w.items) > 0; tick++ {
			if err := ctx.Err(); err != nil {
				yield(nil, err)
				return
			}
			ends, n, err := w.tick(ctx)
			for _, e := range ends {
				ended++
				if !yield(e, nil) {
					return
				}
			}
			if err != nil {
				if cerr := ctx.Err(); cerr != nil {
					err = cerr
				}
				yield(nil, err)
				return
			}
			if opt.Progress != nil {
				opt.Progress(WaitManyProgress{Tick: tick, Requests: n, Pending: len(w.items), Ended: ended,
					Elapsed: time.Since(start)})
			}
			if len(w.items) == 0 {
				return
			}
			if err := sleepCtx(ctx, sched(tick)); err != nil {
				yield(nil, err)
				return
			}
		}
	}
}

// waitSet is the state behind WaitForSyncs and SyncFleet's waits: the syncs
// of one customer still followed. It is not safe for concurrent use; each
// tick is one pass of status requests.
type waitSet struct {
	s     *SubAccountClient
	opts  []RequestOption
	items []*waitItem
}

// waitItem is one sync being followed.
type waitItem struct {
	index int
	res   *SyncResult
	// refs are the runs the sync started; ids the run ids to read, in the
	// order learned (from the trigger's answer, then the status route).
	refs []RunRef
	ids  []ID
	// asking holds the runs to follow through the status route: known only
	// by task id, or not settled by their record.
	asking []RunRef
	// statusDone: the status route said "not running"; from then on the
	// records are read at most finalRunReads times.
	statusDone bool
	reads      int
	polls      int
	start      time.Time
	done       bool // ended: tick drops it
}

// add validates res and follows it from the next tick.
func (w *waitSet) add(index int, res *SyncResult, now time.Time) error {
	if res == nil {
		return invalidArg("results", "entry %d is nil", index)
	}
	if res.ServerID <= 0 {
		return invalidArg("results", "entry %d: ServerID must be a positive id (got %d)", index, int64(res.ServerID))
	}
	it := &waitItem{index: index, res: res, start: now}
	refs := res.RunData
	if len(refs) == 0 {
		refs = []RunRef{{TaskID: res.TaskID}}
	}
	it.refs = make([]RunRef, 0, len(refs))
	for _, r := range refs {
		if r.TaskID == "" {
			r.TaskID = res.TaskID
		}
		switch {
		case r.PipelineRunID > 0:
			it.addID(r.PipelineRunID)
		case r.TaskID != "":
			it.asking = append(it.asking, r)
		default:
			return invalidArg("results", "entry %d has no task id or pipeline run id to follow", index)
		}
		it.refs = append(it.refs, r)
	}
	w.items = append(w.items, it)
	return nil
}

func (it *waitItem) addID(id ID) {
	if id <= 0 {
		return
	}
	for _, have := range it.ids {
		if have == id {
			return
		}
	}
	it.ids = append(it.ids, id)
}

// refFor is the run ref to ask the status route about for run id.
func (it *waitItem) refFor(id ID) RunRef {
	for _, r := range it.refs {
		if r.PipelineRunID == id {
			return r
		}
	}
	return RunRef{PipelineRunID: id, TaskID: it.res.TaskID}
}

// tick sends one round of status requests: the status route for the runs
// in asking, then one GetPipelineRuns (chunked) for the run ids of every
// other sync. It returns the syncs that ended (and drops them from the
// set), the number of requests sent, and the error that stopped the round:
// a 429 from the status route or any failure of GetPipelineRuns (the set
// is left as it was, so the round can be sent again).
func (w *waitSet) tick(ctx context.Context) ([]*SyncEnd, int, error) {
	var ends []*SyncEnd
	requests := 0
	finish := func(it *waitItem, e *SyncEnd) {
		ends = append(ends, e)
		it.done = true
	}
	defer w.dropEnded()

	for _, it := range w.items {
		if len(it.asking) == 0 {
			continue
		}
		status := w.s.GetServerSyncRunStatus
		if it.res.resync {
			status = w.s.GetFullResyncStatus
		}
		var still []RunRef
		var failed error
		for i, ref := range it.asking {
			it.polls++
			requests++
			st, err := status(ctx, it.res.ServerID, &SyncStatusOptions{TaskID: ref.TaskID, PipelineRunID: ref.PipelineRunID}, w.opts...)
			var ae *APIError
			switch {
			case errors.As(err, &ae) && ae.Code == CodePipelineRunTimeout:
				still = append(still, ref) // the server-side wait ran out: still going
			case err != nil:
				if ctx.Err() != nil || errors.Is(err, ErrRateLimited) {
					it.asking = append(still, it.asking[i:]...)
					return ends, requests, err
				}
				failed = err
			case st.Running:
				still = append(still, ref)
			default:
				it.addID(ref.PipelineRunID)
				for _, id := range st.RunIDs {
					it.addID(id)
				}
			}
			if failed != nil {
				break
			}
		}
		if failed != nil {
			finish(it, &SyncEnd{Index: it.index, Result: it.res, Err: failed})
			continue
		}
		it.asking = still
		if len(still) == 0 {
			it.statusDone = true
			if len(it.ids) == 0 {
				// Not running, and no run was ever named: nothing to read.
				finish(it, &SyncEnd{Index: it.index, Result: it.res, Run: it.run(nil, time.Now())})
			}
		}
	}

	var ids []ID
	for _, it := range w.items {
		if !it.done && len(it.asking) == 0 {
			ids = append(ids, it.ids...)
		}
	}
	if len(ids) == 0 {
		return ends, requests, nil
	}
	requests += (len(uniqueIDs(ids)) + pipelineRunsChunk - 1) / pipelineRunsChunk
	runs, err := w.s.GetPipelineRuns(ctx, ids, w.opts...)
	if err != nil {
		return ends, requests, err
	}
	byID := make(map[ID]*PipelineRun, len(runs))
	for i := range runs {
		byID[runs[i].ID] = &runs[i]
	}
	now := time.Now()
	for _, it := range w.items {
		if it.done || len(it.asking) > 0 || len(it.ids) == 0 {
			continue
		}
		it.polls++
		got := make([]PipelineRun, 0, len(it.ids))
		var going bool
		var unsettled []ID // missing, or a status the SDK does not know
		for _, id := range it.ids {
			r := byID[id]
			switch {
			case r == nil:
				unsettled = append(unsettled, id)
				continue
			case r.Status.InProgress():
				going = true
			case !r.Status.IsTerminal():
				unsettled = append(unsettled, id)
			}
			got = append(got, *r)
		}
		switch {
		case !going && len(unsettled) == 0:
			finish(it, &SyncEnd{Index: it.index, Result: it.res, Run: it.run(got, now)})
		case it.statusDone:
			it.reads++
			if it.reads >= finalRunReads {
				finish(it, &SyncEnd{Index: it.index, Result: it.res, Run: it.run(got, now)})
			}
		case len(unsettled) > 0:
			// The record cannot say whether the run goes on: the status
			// route can.
			for _, id := range unsettled {
				it.asking = append(it.asking, it.refFor(id))
			}
		}
	}
	return ends, requests, nil
}

// dropEnded removes the items tick finished.
func (w *waitSet) dropEnded() {
	kept := w.items[:0]
	for _, it := range w.items {
		if !it.done {
			kept = append(kept, it)
		}
	}
	clear(w.items[len(kept):])
	w.items = kept
}

// run is the sync's final state from the runs read (in it.ids order).
func (it *waitItem) run(runs []PipelineRun, now time.Time) *SyncRun {
	out := &SyncRun{ServerID: it.res.ServerID, Runs: runs, RunIDs: append([]ID(nil), it.ids...),
		Polls: it.polls, Elapsed: now.Sub(it.start)}
	if len(runs) > 0 {
		out.Run = &out.Runs[0]
		out.Status = worstRunStatus(runs)
	}
	return out
}

func uniqueIDs(ids []ID) map[ID]struct{} {
	m := make(map[ID]struct{}, len(ids))
	for _, id := range ids {
		m[id] = struct{}{}
	}
	return m
}
