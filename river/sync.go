package peliqanriver

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/riverqueue/river"

	"github.com/peliqan-community/peliqan-go"
)

// Outcome is how a connection's sync for one period ended, as
// peliqan_syncs records it.
type Outcome string

// The outcomes.
const (
	OutcomeCompleted           Outcome = "completed"
	OutcomeCompletedWithErrors Outcome = "completed_with_errors"
	// OutcomeFailed: the run ended in ERROR or INTERNAL_ERROR.
	OutcomeFailed Outcome = "failed"
	// OutcomeFailedToStart: Peliqan refused the trigger (400, 404, 422:
	// not authorised, disabled, gone). Nothing was started.
	OutcomeFailedToStart Outcome = "failed_to_start"
	// OutcomeUnknown: the run's end could not be read (no run id came
	// back, its status is not one the SDK knows, or it was still going
	// after Options.MaxWait).
	OutcomeUnknown Outcome = "unknown"
	// OutcomeSkipped: the fleet sync left the connection out
	// (Options.SkipConnection).
	OutcomeSkipped Outcome = "skipped"
)

func outcomeOf(s peliqan.RunStatus) Outcome {
	switch {
	case s.Succeeded():
		return OutcomeCompleted
	case s.IsFailed():
		return OutcomeFailed
	case s.HasErrors():
		return OutcomeCompletedWithErrors
	}
	return OutcomeUnknown
}

// syncWorker runs SyncConnectionArgs. The steps, each recorded in the
// sync's row before the next request goes out:
//
//  1. Take the trigger lease (one attempt at a time may trigger; a lease
//     left by a crashed attempt expires after Options.TriggerLease).
//  2. First time: read the connection's latest run. If it is running,
//     follow it (no trigger). Otherwise record it as the baseline, mark a
//     trigger as possibly sent, and send the trigger.
//     After a trigger whose answer was not recorded (a crash, a reset, a
//     5xx, a timeout): read the latest run again. If it is not the
//     baseline, that run started since: follow it. Only if it is the
//     baseline is the trigger sent again.
//  3. Record the answer's task and run ids, give the lease back.
//  4. Wait for the run (WaitForSync), at most Options.WaitPerAttempt per
//     attempt (then snooze and go on), and record the outcome.
type syncWorker struct {
	river.WorkerDefaults[SyncConnectionArgs]
	j *Jobs
}

func (w *syncWorker) Timeout(*river.Job[SyncConnectionArgs]) time.Duration {
	return w.j.AttemptTimeout()
}

func (w *syncWorker) NextRetry(job *river.Job[SyncConnectionArgs]) time.Time {
	return w.j.nextRetry(job.Attempt)
}

// Work runs one attempt.
func (w *syncWorker) Work(ctx context.Context, job *river.Job[SyncConnectionArgs]) error {
	a := job.Args
	if a.SubAccountID <= 0 || a.ServerID <= 0 || a.Period == "" {
		return river.JobCancel(invalidArg("SyncConnectionArgs", "needs positive sub-account and server ids and a period (got %d, %d, %q)",
			a.SubAccountID, a.ServerID, a.Period))
	}
	st := w.j.st
	row, err := st.ensureSync(ctx, a)
	if err != nil {
		return err
	}
	t, err := w.j.partner.SubAccount(peliqan.ByAccountID(a.SubAccountID))
	if err != nil {
		return river.JobCancel(err)
	}
	switch row.State {
	case stateDone:
		return nil
	case stateStarted:
		return w.wait(ctx, t, row)
	}
	row, err = w.trigger(ctx, t, job, row)
	if err != nil || row == nil {
		return err
	}
	return w.wait(ctx, t, row)
}

// trigger runs steps 1-3. It returns the row to wait on, or nil when there
// is nothing to wait for (the job is done or snoozed: see the error).
func (w *syncWorker) trigger(ctx context.Context, t *peliqan.SubAccountClient, job *river.Job[SyncConnectionArgs], row *syncRow) (_ *syncRow, err error) {
	st, key, lease := w.j.st, row.Key, w.j.o.TriggerLease
	owner := fmt.Sprintf("job %d attempt %d %08x", job.ID, job.Attempt, rand.Uint32())
	leaseStart := time.Now()
	ok, err := st.claim(ctx, key, owner, lease)
	if err != nil {
		return nil, err
	}
	if !ok {
		// Another attempt is triggering (or has just finished doing so).
		row, err := st.getSync(ctx, key)
		switch {
		case err != nil:
			return nil, err
		case row.State == stateDone:
			return nil, nil
		case row.State == stateStarted:
			return row, nil
		}
		return nil, river.JobSnooze(min(lease, 2*time.Second))
	}
	defer func() { _ = st.release(context.WithoutCancel(ctx), key, owner) }()
	// Nothing is sent once the lease may have run out: a request held up
	// by the limiter past this point is not sent at all.
	tctx, cancel := context.WithDeadline(ctx, leaseStart.Add(lease-min(lease/10, 5*time.Second)))
	defer cancel()
	defer func() {
		var snoozed *river.JobSnoozeError
		if err != nil && ctx.Err() == nil && (tctx.Err() != nil || errors.Is(err, context.DeadlineExceeded)) && !errors.As(err, &snoozed) {
			// The lease ran out first, or a limiter had no turn before it
			// would: not a failure of the job, which must not use up its
			// attempts on it. A trigger that may have gone out is still
			// marked pending.
			err = river.JobSnooze(time.Second + time.Duration(rand.Int64N(int64(time.Second))))
		}
	}()

	latest, err := latestRun(tctx, t, row.ServerID)
	if err != nil {
		if snooze, ok := snoozeUnsent(err); ok {
			return nil, snooze
		}
		return nil, err
	}
	if row.Pending {
		// A trigger went out and its answer was not recorded.
		if err := st.checked(tctx, key, owner); err != nil {
			return nil, err
		}
		if latest != nil && int64(latest.ID) != row.BaselineRunID {
			return w.follow(tctx, key, owner, howAdopted, latest)
		}
	}
	if latest != nil && latest.Status.InProgress() && int64(latest.ID) != row.BaselineRunID {
		return w.follow(tctx, key, owner, howFollowed, latest)
	}
	baseline := int64(0)
	if latest != nil {
		baseline = int64(latest.ID)
	}
	if err := st.aboutToTrigger(tctx, key, owner, baseline); err != nil {
		return nil, err
	}
	res, err := t.SyncServer(tctx, peliqan.ID(row.ServerID), nil)
	if res == nil {
		return nil, w.refused(ctx, key, owner, err)
	}
	// Accepted (err may be a *DecodeError for an answer read in part: the
	// sync started all the same).
	taskID, runIDs := res.TaskID, []int64(nil)
	for _, r := range res.RunData {
		if r.PipelineRunID > 0 {
			runIDs = append(runIDs, int64(r.PipelineRunID))
		}
		if taskID == "" {
			taskID = r.TaskID
		}
	}
	if taskID == "" && len(runIDs) == 0 {
		// Nothing to follow in the answer: find the run it started.
		if latest, lerr := latestRun(tctx, t, row.ServerID); lerr == nil && latest != nil && int64(latest.ID) != baseline {
			return w.follow(tctx, key, owner, howTriggered, latest)
		}
		if err := st.finishUnstarted(ctx, key, owner, OutcomeUnknown, "the trigger was accepted without a task or run id to follow"); err != nil {
			return nil, err
		}
		return nil, nil
	}
	if err := st.started(ctx, key, owner, howTriggered, taskID, runIDs); err != nil {
		return nil, err
	}
	return st.getSync(ctx, key)
}

// refused handles a trigger that came back without an answer.
func (w *syncWorker) refused(ctx context.Context, key, owner string, err error) error {
	st := w.j.st
	if snooze, ok := snoozeUnsent(err); ok {
		// A 429 was not acted on, and a request the limiter held back was
		// not sent: the next attempt needs no check.
		var late *SlotTooLateError
		if err := st.notTriggered(ctx, key, owner, !errors.As(err, &late)); err != nil {
			return err
		}
		return snooze
	}
	var ae *peliqan.APIError
	if errors.As(err, &ae) && (ae.StatusCode == 400 || ae.StatusCode == 404 || ae.StatusCode == 422) {
		if err := st.finishUnstarted(ctx, key, owner, OutcomeFailedToStart, ae.Error()); err != nil {
			return err
		}
		w.j.log.WarnContext(ctx, "peliqanriver: sync refused", "sync", key, "error", ae)
		return nil
	}
	if errors.Is(err, peliqan.ErrInvalidArgument) {
		return river.JobCancel(err)
	}
	// Ambiguous (5xx, reset, timeout, ctx): the trigger may have started a
	// run. The row keeps pending set; the next attempt checks the runs.
	return err
}

// follow records run as the one to wait for.
func (w *syncWorker) follow(ctx context.Context, key, owner, how string, run *peliqan.PipelineRun) (*syncRow, error) {
	if err := w.j.st.started(ctx, key, owner, how, "", []int64{int64(run.ID)}); err != nil {
		return nil, err
	}
	return w.j.st.getSync(ctx, key)
}

// wait runs step 4.
func (w *syncWorker) wait(ctx context.Context, t *peliqan.SubAccountClient, row *syncRow) error {
	res := &peliqan.SyncResult{ServerID: peliqan.ID(row.ServerID), TaskID: row.TaskID}
	for _, id := range row.RunIDs {
		res.RunData = append(res.RunData, peliqan.RunRef{PipelineRunID: peliqan.ID(id), TaskID: row.TaskID})
	}
	left := w.j.o.MaxWait - row.Waited
	if left <= 0 {
		msg := fmt.Sprintf("the run was still going after %s (MaxWait): not waited for any longer", w.j.o.MaxWait)
		w.j.log.WarnContext(ctx, "peliqanriver: "+msg, "sync", row.Key)
		return w.j.st.finish(ctx, row.Key, OutcomeUnknown, "", 0, msg)
	}
	wctx, cancel := context.WithTimeout(ctx, min(w.j.o.WaitPerAttempt, left))
	defer cancel()
	run, err := t.WaitForSync(wctx, res, &peliqan.WaitOptions{Schedule: w.j.o.PollSchedule})
	if err != nil {
		if snooze, ok := snoozeUnsent(err); ok {
			return snooze
		}
		if ctx.Err() == nil && wctx.Err() != nil {
			// This attempt's share of the wait is over; the run is recorded,
			// so the next attempt only waits.
			return river.JobSnooze(w.j.o.PollSchedule(0))
		}
		return err
	}
	var records int64
	var msg string
	if run.Run != nil {
		records, msg = run.Run.Records, run.Run.Message
	}
	outcome := outcomeOf(run.Status)
	if err := w.j.st.finish(ctx, row.Key, outcome, string(run.Status), records, msg); err != nil {
		return err
	}
	if outcome != OutcomeCompleted {
		w.j.log.InfoContext(ctx, "peliqanriver: sync ended", "sync", row.Key, "outcome", outcome, "message", msg)
	}
	return nil
}

// latestRun reads a connection's newest run (nil when it has none).
func latestRun(ctx context.Context, t *peliqan.SubAccountClient, serverID int64) (*peliqan.PipelineRun, error) {
	page, err := t.ListServerRuns(ctx, peliqan.ID(serverID), &peliqan.ListOptions{Page: 1, PerPage: 1})
	if err != nil {
		return nil, err
	}
	if len(page.Items) == 0 {
		return nil, nil
	}
	return &page.Items[0], nil
}

// SyncRecord is one connection's sync for one period, as peliqan_syncs
// holds it.
type SyncRecord struct {
	SubAccountID peliqan.ID
	ServerID     peliqan.ID
	Period       string
	// State is "new", "triggering", "started" or "done".
	State string
	// Outcome is set once State is "done".
	Outcome   Outcome
	RunStatus peliqan.RunStatus
	RunIDs    []peliqan.ID
	// How says how the run became known: "triggered" (the trigger's
	// answer), "adopted" (the answer was lost and the runs check found
	// the run) or "followed" (the connection was already syncing).
	How string
	// Triggers counts the trigger requests that went out (or may have: one
	// that failed without an answer counts); Checks the runs checks made
	// because a trigger's answer was not recorded. Triggers above 1 means
	// a trigger was sent again: after a 429, or after a check found no new
	// run.
	Triggers int
	Checks   int
	Records  int64
	Message  string
}

// Syncs reads the recorded syncs of a period ("" for every period),
// ordered by customer and connection.
func (j *Jobs) Syncs(ctx context.Context, period string) ([]SyncRecord, error) {
	if ctx == nil {
		return nil, invalidArg("ctx", "nil context")
	}
	query := `SELECT ` + syncColumns + ` FROM peliqan_syncs`
	var args []any
	if period != "" {
		query += ` WHERE period = ?`
		args = append(args, period)
	}
	rows, err := j.st.db.QueryContext(ctx, j.st.d.q(query+` ORDER BY sub_account_id, server_id, period`), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []SyncRecord
	for rows.Next() {
		r, err := scanSync(rows)
		if err != nil {
			return nil, err
		}
		rec := SyncRecord{SubAccountID: peliqan.ID(r.SubAccountID), ServerID: peliqan.ID(r.ServerID), Period: r.Period,
			State: r.State, Outcome: Outcome(r.Outcome), RunStatus: peliqan.RunStatus(r.RunStatus), How: r.How,
			Triggers: r.Triggers, Checks: r.Checks, Records: r.Records, Message: r.Message}
		for _, id := range r.RunIDs {
			rec.RunIDs = append(rec.RunIDs, peliqan.ID(id))
		}
		out = append(out, rec)
	}
	return out, rows.Err()
}
