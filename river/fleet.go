package peliqanriver

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/peliqan-community/peliqan-go"
)

// fanOut pages through every customer and inserts one job per customer,
// a page at a time. A retried or duplicated fan-out inserts nothing twice:
// the jobs are unique by arguments.
func (j *Jobs) fanOut(ctx context.Context, ins func(context.Context) (inserter, error), job func(sa *peliqan.SubAccount) river.JobArgs) error {
	c, err := ins(ctx)
	if err != nil {
		return river.JobCancel(fmt.Errorf("peliqanriver: no River client in the job's context (Register with the driver's transaction type): %w", err))
	}
	batch := make([]river.InsertManyParams, 0, j.o.PageSize)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := c.InsertMany(ctx, batch)
		batch = batch[:0]
		return err
	}
	for sa, err := range j.partner.SubAccounts(ctx, &peliqan.ListOptions{PerPage: j.o.PageSize}) {
		if err != nil {
			if ferr := flush(); ferr != nil {
				return ferr
			}
			if snooze, ok := snoozeUnsent(err); ok {
				return snooze
			}
			return err
		}
		batch = append(batch, river.InsertManyParams{Args: job(sa)})
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// fleetWorker runs FleetSyncArgs: one CustomerSyncArgs per customer.
type fleetWorker struct {
	river.WorkerDefaults[FleetSyncArgs]
	j   *Jobs
	ins func(context.Context) (inserter, error)
}

func (w *fleetWorker) Timeout(*river.Job[FleetSyncArgs]) time.Duration { return w.j.AttemptTimeout() }
func (w *fleetWorker) NextRetry(job *river.Job[FleetSyncArgs]) time.Time {
	return w.j.nextRetry(job.Attempt)
}

func (w *fleetWorker) Work(ctx context.Context, job *river.Job[FleetSyncArgs]) error {
	period := job.Args.Period
	return w.j.fanOut(ctx, w.ins, func(sa *peliqan.SubAccount) river.JobArgs {
		return CustomerSyncArgs{SubAccountID: sa.ID, Period: period}
	})
}

// customerSyncWorker runs CustomerSyncArgs: one SyncConnectionArgs per
// connection that is not skipped, and a skipped row for the others.
type customerSyncWorker struct {
	river.WorkerDefaults[CustomerSyncArgs]
	j   *Jobs
	ins func(context.Context) (inserter, error)
}

func (w *customerSyncWorker) Timeout(*river.Job[CustomerSyncArgs]) time.Duration {
	return w.j.AttemptTimeout()
}
func (w *customerSyncWorker) NextRetry(job *river.Job[CustomerSyncArgs]) time.Time {
	return w.j.nextRetry(job.Attempt)
}

func (w *customerSyncWorker) Work(ctx context.Context, job *river.Job[CustomerSyncArgs]) error {
	a := job.Args
	c, err := w.ins(ctx)
	if err != nil {
		return river.JobCancel(err)
	}
	t, err := w.j.partner.SubAccount(peliqan.ByAccountID(a.SubAccountID))
	if err != nil {
		return river.JobCancel(err)
	}
	servers, err := t.ListServers(ctx)
	if err != nil {
		if snooze, ok := snoozeUnsent(err); ok {
			return snooze
		}
		return err
	}
	params := make([]river.InsertManyParams, 0, len(servers))
	for i := range servers {
		s := &servers[i]
		args := SyncConnectionArgs{SubAccountID: a.SubAccountID, ServerID: s.ID, Period: a.Period}
		if skip, why := w.j.o.SkipConnection(s); skip {
			if err := w.j.st.skip(ctx, args, OutcomeSkipped, why); err != nil {
				return err
			}
			continue
		}
		params = append(params, river.InsertManyParams{Args: args})
	}
	if len(params) == 0 {
		return nil
	}
	_, err = c.InsertMany(ctx, params)
	return err
}
