package peliqanriver

import (
	"context"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/peliqan-community/peliqan-go"
)

// verdictFor is peliqan's reading of a connection (ConnectionHealth's
// verdicts), from its health status and latest run. The SDK does not
// export it; TestVerdictMatchesConnectionHealth keeps the two the same.
func verdictFor(h peliqan.HealthStatus, last *peliqan.PipelineRun) peliqan.Verdict {
	switch {
	case h.IsHealthy():
		if last != nil && last.Status.HasErrors() {
			return peliqan.VerdictRunErrors
		}
		return peliqan.VerdictHealthy
	case h.NeedsReauthorisation():
		return peliqan.VerdictNeedsReauthorisation
	case h.InProgress():
		return peliqan.VerdictInProgress
	case h.IsFailed():
		return peliqan.VerdictFailed
	case h.IsDisabled():
		return peliqan.VerdictDisabled
	}
	return peliqan.VerdictUnknownStatus
}

// healthScanWorker runs HealthScanArgs: one CustomerHealthArgs per customer.
type healthScanWorker struct {
	river.WorkerDefaults[HealthScanArgs]
	j   *Jobs
	ins func(context.Context) (inserter, error)
}

func (w *healthScanWorker) Timeout(*river.Job[HealthScanArgs]) time.Duration {
	return w.j.AttemptTimeout()
}
func (w *healthScanWorker) NextRetry(job *river.Job[HealthScanArgs]) time.Time {
	return w.j.nextRetry(job.Attempt)
}

func (w *healthScanWorker) Work(ctx context.Context, job *river.Job[HealthScanArgs]) error {
	period := job.Args.Period
	return w.j.fanOut(ctx, w.ins, func(sa *peliqan.SubAccount) river.JobArgs {
		return CustomerHealthArgs{SubAccountID: sa.ID, ExternalID: sa.ExternalID, Period: period}
	})
}

// customerHealthWorker runs CustomerHealthArgs.
type customerHealthWorker struct {
	river.WorkerDefaults[CustomerHealthArgs]
	j *Jobs
}

func (w *customerHealthWorker) Timeout(*river.Job[CustomerHealthArgs]) time.Duration {
	return w.j.AttemptTimeout()
}
func (w *customerHealthWorker) NextRetry(job *river.Job[CustomerHealthArgs]) time.Time {
	return w.j.nextRetry(job.Attempt)
}

// Work lists the customer's connections, reads each one's latest run, and
// replaces the customer's rows in peliqan_connection_health. A customer
// whose connections cannot be read gets one row with server_id 0 and
// verdict scan_failed (and the job is retried).
func (w *customerHealthWorker) Work(ctx context.Context, job *river.Job[CustomerHealthArgs]) error {
	a := job.Args
	t, err := w.j.partner.SubAccount(peliqan.ByAccountID(a.SubAccountID))
	if err != nil {
		return river.JobCancel(err)
	}
	servers, err := t.ListServers(ctx)
	if err != nil {
		if snooze, ok := snoozeUnsent(err); ok {
			return snooze
		}
		if ctx.Err() == nil {
			row := HealthRow{SubAccountID: a.SubAccountID, ExternalID: a.ExternalID,
				Verdict: peliqan.VerdictScanFailed, Error: err.Error()}
			if serr := w.j.st.putHealth(ctx, a.SubAccountID, []HealthRow{row}); serr != nil {
				return serr
			}
		}
		return err
	}
	rows := make([]HealthRow, 0, len(servers))
	for i := range servers {
		s := &servers[i]
		r := HealthRow{SubAccountID: a.SubAccountID, ExternalID: a.ExternalID, ServerID: s.ID,
			ServerName: s.Name, ServerType: s.ServerType, HealthStatus: s.HealthStatus}
		last, err := latestRun(ctx, t, int64(s.ID))
		if err != nil {
			if snooze, ok := snoozeUnsent(err); ok {
				return snooze
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.Error = err.Error()
		}
		if last != nil {
			r.LastRunID, r.LastRunStatus, r.LastRunEnded = last.ID, last.Status, last.EndedAt
		}
		r.Verdict = verdictFor(s.HealthStatus, last)
		rows = append(rows, r)
	}
	return w.j.st.putHealth(ctx, a.SubAccountID, rows)
}

// HealthRow is one connection's verdict as the health scan stored it (one
// row of peliqan_connection_health). A customer whose connections could
// not be read has one row with ServerID 0 and VerdictScanFailed.
type HealthRow struct {
	SubAccountID  peliqan.ID
	ExternalID    string
	ServerID      peliqan.ID
	ServerName    string
	ServerType    string
	HealthStatus  peliqan.HealthStatus
	Verdict       peliqan.Verdict
	LastRunID     peliqan.ID
	LastRunStatus peliqan.RunStatus
	// LastRunEnded is zero when the run has not ended or said no time.
	LastRunEnded time.Time
	// Error is why the customer (ServerID 0) or the last run could not be
	// read.
	Error string
	// Checked is when the scan stored the row, by the database's clock.
	Checked time.Time
}

// HealthQuery selects rows for Jobs.Health. nil selects every row.
type HealthQuery struct {
	// NeedsAttention keeps the verdicts peliqan.Verdict.NeedsAttention
	// reports.
	NeedsAttention bool
	// SubAccountID, when set, keeps one customer's rows.
	SubAccountID peliqan.ID
}

// Health reads the stored verdicts, ordered by customer and connection,
// without calling Peliqan: what a dashboard shows. The table is plain SQL
// (peliqan_connection_health) for dashboards that read it themselves.
func (j *Jobs) Health(ctx context.Context, q *HealthQuery) ([]HealthRow, error) {
	if ctx == nil {
		return nil, invalidArg("ctx", "nil context")
	}
	var opt HealthQuery
	if q != nil {
		opt = *q
	}
	return j.st.health(ctx, opt)
}

// putHealth replaces one customer's rows.
func (s *store) putHealth(ctx context.Context, sub peliqan.ID, rows []HealthRow) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	keep := make([]any, 0, len(rows)+1)
	keep = append(keep, int64(sub))
	marks := make([]string, 0, len(rows))
	for _, r := range rows {
		var ended int64
		if !r.LastRunEnded.IsZero() {
			ended = r.LastRunEnded.UnixMicro()
		}
		if _, err := tx.ExecContext(ctx, s.d.q(`INSERT INTO peliqan_connection_health (sub_account_id, server_id, external_id,
			server_name, server_type, health_status, verdict, last_run_id, last_run_status, last_run_end_us, error, checked_us)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {now})
			ON CONFLICT (sub_account_id, server_id) DO UPDATE SET external_id = excluded.external_id,
			server_name = excluded.server_name, server_type = excluded.server_type, health_status = excluded.health_status,
			verdict = excluded.verdict, last_run_id = excluded.last_run_id, last_run_status = excluded.last_run_status,
			last_run_end_us = excluded.last_run_end_us, error = excluded.error, checked_us = excluded.checked_us`),
			int64(sub), int64(r.ServerID), r.ExternalID, r.ServerName, r.ServerType, string(r.HealthStatus),
			string(r.Verdict), int64(r.LastRunID), string(r.LastRunStatus), ended, r.Error); err != nil {
			return err
		}
		keep = append(keep, int64(r.ServerID))
		marks = append(marks, "?")
	}
	// Connections gone since the last scan (and a scan_failed row, once the
	// customer could be read) are removed.
	del := `DELETE FROM peliqan_connection_health WHERE sub_account_id = ?`
	if len(marks) > 0 {
		del += ` AND server_id NOT IN (` + strings.Join(marks, ", ") + `)`
	}
	if _, err := tx.ExecContext(ctx, s.d.q(del), keep...); err != nil {
		return err
	}
	return tx.Commit()
}

func (s *store) health(ctx context.Context, q HealthQuery) ([]HealthRow, error) {
	query := `SELECT sub_account_id, server_id, external_id, server_name, server_type, health_status, verdict,
		last_run_id, last_run_status, last_run_end_us, error, checked_us FROM peliqan_connection_health`
	var args []any
	if q.SubAccountID > 0 {
		query += ` WHERE sub_account_id = ?`
		args = append(args, int64(q.SubAccountID))
	}
	query += ` ORDER BY sub_account_id, server_id`
	rows, err := s.db.QueryContext(ctx, s.d.q(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []HealthRow
	for rows.Next() {
		var r HealthRow
		var sub, srv, run, ended, checked int64
		var health, verdict, status string
		if err := rows.Scan(&sub, &srv, &r.ExternalID, &r.ServerName, &r.ServerType, &health, &verdict,
			&run, &status, &ended, &r.Error, &checked); err != nil {
			return nil, err
		}
		r.SubAccountID, r.ServerID, r.LastRunID = peliqan.ID(sub), peliqan.ID(srv), peliqan.ID(run)
		r.HealthStatus, r.Verdict, r.LastRunStatus = peliqan.HealthStatus(health), peliqan.Verdict(verdict), peliqan.RunStatus(status)
		if ended > 0 {
			r.LastRunEnded = time.UnixMicro(ended).UTC()
		}
		r.Checked = time.UnixMicro(checked).UTC()
		if q.NeedsAttention && !r.Verdict.NeedsAttention() {
			continue
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
