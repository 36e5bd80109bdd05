package peliqanriver

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"

	"github.com/peliqan-community/peliqan-go"
)

// publishWorker runs PublishScriptArgs.
type publishWorker struct {
	river.WorkerDefaults[PublishScriptArgs]
	j *Jobs
}

func (w *publishWorker) Timeout(*river.Job[PublishScriptArgs]) time.Duration {
	return w.j.AttemptTimeout()
}
func (w *publishWorker) NextRetry(job *river.Job[PublishScriptArgs]) time.Time {
	return w.j.nextRetry(job.Attempt)
}

// Work publishes the template to the customer and records the outcome in
// peliqan_publishes. A failure the customer's data causes (no such group)
// is recorded and ends the job; any other failure is retried, which is
// safe: PublishScript finds the script by name and never makes a second.
func (w *publishWorker) Work(ctx context.Context, job *river.Job[PublishScriptArgs]) error {
	a := job.Args
	if a.SubAccountID <= 0 {
		return river.JobCancel(invalidArg("PublishScriptArgs.SubAccountID", "must be a positive id (got %d)", a.SubAccountID))
	}
	rep, err := w.j.partner.PublishScript(ctx, a.Template, &peliqan.PublishOptions{
		SubAccounts: []peliqan.SubAccountRef{peliqan.ByAccountID(a.SubAccountID)}, Concurrency: 1})
	if err != nil {
		// Bad input (the template itself): retrying cannot help.
		return river.JobCancel(err)
	}
	res := rep.Results[0]
	if res.Outcome == peliqan.PublishFailed {
		if snooze, ok := snoozeUnsent(res.Err); ok {
			return snooze
		}
		if !errors.Is(res.Err, peliqan.ErrGroupNotFound) {
			if serr := w.j.st.putPublish(ctx, a.SubAccountID, "script", a.Template.Name, res); serr != nil {
				return serr
			}
			return res.Err
		}
	}
	if err := w.j.st.putPublish(ctx, a.SubAccountID, "script", a.Template.Name, res); err != nil {
		return err
	}
	return river.RecordOutput(ctx, map[string]any{"outcome": res.Outcome, "id": res.ID})
}

// PublishRow is one customer's latest publish of a named script (one row
// of peliqan_publishes).
type PublishRow struct {
	SubAccountID peliqan.ID
	Name         string
	Outcome      peliqan.PublishOutcome
	// ObjectID is the script's id in the customer (0 if none).
	ObjectID peliqan.ID
	Error    string
	Updated  time.Time
}

// Publishes reads the recorded outcomes of publishing the script called
// name, ordered by customer.
func (j *Jobs) Publishes(ctx context.Context, name string) ([]PublishRow, error) {
	if ctx == nil {
		return nil, invalidArg("ctx", "nil context")
	}
	rows, err := j.st.db.QueryContext(ctx, j.st.d.q(`SELECT sub_account_id, outcome, object_id, error, updated_us
		FROM peliqan_publishes WHERE kind = 'script' AND name = ? ORDER BY sub_account_id`), name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PublishRow
	for rows.Next() {
		r := PublishRow{Name: name}
		var sub, obj, upd int64
		var outcome string
		if err := rows.Scan(&sub, &outcome, &obj, &r.Error, &upd); err != nil {
			return nil, err
		}
		r.SubAccountID, r.ObjectID, r.Outcome = peliqan.ID(sub), peliqan.ID(obj), peliqan.PublishOutcome(outcome)
		r.Updated = time.UnixMicro(upd).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *store) putPublish(ctx context.Context, sub peliqan.ID, kind, name string, res peliqan.PublishResult) error {
	msg := ""
	if res.Err != nil {
		msg = res.Err.Error()
	}
	_, err := s.exec(ctx, `INSERT INTO peliqan_publishes (sub_account_id, kind, name, outcome, object_id, error, updated_us)
		VALUES (?, ?, ?, ?, ?, ?, {now}) ON CONFLICT (sub_account_id, kind, name) DO UPDATE SET outcome = excluded.outcome,
		object_id = excluded.object_id, error = excluded.error, updated_us = excluded.updated_us`,
		int64(sub), kind, name, string(res.Outcome), int64(res.ID), msg)
	return err
}
