package peliqan

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// ActivitySource says which record gave a customer's last activity.
type ActivitySource string

// Activity sources, the only activity the API can show.
const (
	// ActivityFromPipelineRun: the newest pipeline run of a connection
	// (its start or end, whichever is later). Scheduled syncs count: the
	// API does not say who or what started a run.
	ActivityFromPipelineRun ActivitySource = "pipeline_run"
	// ActivityFromLastSync: a connection's last_sync_at, when the server
	// sends one later than its newest run.
	ActivityFromLastSync ActivitySource = "last_sync"
	// ActivityFromScriptRun: the newest run of a script (its start or
	// end).
	ActivityFromScriptRun ActivitySource = "script_run"
	// ActivityFromConnection: a connection's creation (created_at).
	ActivityFromConnection ActivitySource = "connection_created"
	// ActivityFromAccount: the account's own creation (created_at): the
	// baseline for a customer with no activity at all.
	ActivityFromAccount ActivitySource = "account_created"
)

// ActivityStatus is a customer's standing in an activity report.
type ActivityStatus string

// Activity statuses.
const (
	// ActivityActive: the last activity is within InactiveFor.
	ActivityActive ActivityStatus = "active"
	// ActivityInactive: the last activity is older than InactiveFor.
	ActivityInactive ActivityStatus = "inactive"
	// ActivityUnknown: nothing the API shows carries a time, not even the
	// account's creation. Never closed.
	ActivityUnknown ActivityStatus = "unknown"
	// ActivityUnreadable: some of the customer's activity could not be
	// read (Err says why); the times read so far are kept. Never closed.
	ActivityUnreadable ActivityStatus = "unreadable"
)

// DefaultInactiveFor is InactivityOptions.InactiveFor's default: 90 days,
// after which Cloudiway's partner portal contacts and then deletes
// accounts without activity.
const DefaultInactiveFor = 90 * 24 * time.Hour

// InactivityOptions tunes ActivityReport and InactiveCustomers. nil means
// every customer, 90 days, time.Now.
type InactivityOptions struct {
	// InactiveFor is how long without activity makes a customer inactive
	// (strictly more than this); 0 means DefaultInactiveFor, negative is
	// refused.
	InactiveFor time.Duration
	// Now is the report's clock; nil means time.Now. Tests pass the fake's
	// clock.
	Now func() time.Time
	// Filter, when set, keeps only the customers it returns true for; the
	// others are not read at all. It is called from one goroutine, before
	// any of the customer's requests.
	Filter func(*SubAccount) bool
	// Concurrency is how many customers are read at once (each one request
	// at a time); 0 means DefaultReportConcurrency (8).
	Concurrency int
	// PageSize is how many customers each list request asks for; 0 means
	// DefaultReportPageSize (100), at most 1000.
	PageSize int
}

type inactivityConfig struct {
	now         time.Time
	inactiveFor time.Duration
	concurrency int
	pageSize    int
}

func (o *InactivityOptions) config() (inactivityConfig, error) {
	opt := optionsOr(o)
	if opt.InactiveFor < 0 {
		return inactivityConfig{}, invalidArg("InactiveFor", "must not be negative (got %s)", opt.InactiveFor)
	}
	conc, pageSize, err := reportLimits(opt.Concurrency, opt.PageSize)
	if err != nil {
		return inactivityConfig{}, err
	}
	cfg := inactivityConfig{inactiveFor: opt.InactiveFor, concurrency: conc, pageSize: pageSize}
	if cfg.inactiveFor == 0 {
		cfg.inactiveFor = DefaultInactiveFor
	}
	if opt.Now != nil {
		cfg.now = opt.Now()
	} else {
		cfg.now = time.Now()
	}
	return cfg, nil
}

// CustomerActivity is one customer's line of an ActivityReport.
type CustomerActivity struct {
	// Partner is the name of the partner account the customer is in
	// (PartnerSet reports); empty in a single partner's report.
	Partner    string
	SubAccount SubAccount
	Status     ActivityStatus
	// LastActivity is the latest time found; zero when none was.
	LastActivity time.Time
	// Source says where LastActivity comes from, and SourceID names that
	// record: the pipeline run, the script run, or the connection (for
	// ActivityFromConnection and ActivityFromLastSync); 0 for the account.
	Source   ActivitySource
	SourceID ID
	// Idle is how long before the report's Now the last activity was (0
	// when LastActivity is zero or later than Now).
	Idle time.Duration
	// Err is why the activity could not be read in full
	// (ActivityUnreadable).
	Err error
}

// ActivityReport lists customers with their last activity: unreadable ones
// first, then unknown ones, then by last activity, the longest idle first;
// ties by partner name and account id.
type ActivityReport struct {
	// Now is the instant Idle is measured from.
	Now time.Time
	// InactiveFor is the threshold the statuses used.
	InactiveFor time.Duration
	Customers   []CustomerActivity
	// Failures are the partner accounts whose customers could not be
	// listed (PartnerSet reports only; their customers are missing).
	Failures []*PartnerError
}

// Count returns how many customers have status s.
func (r *ActivityReport) Count(s ActivityStatus) int {
	return countWhere(r.Customers, func(x *CustomerActivity) bool { return x.Status == s })
}

// Err joins Failures, or returns nil when every partner was read.
func (r *ActivityReport) Err() error { return joinPartnerErrors(r.Failures) }

// ActivityReport reads every customer's last activity: the latest of
//   - each connection's newest pipeline run (ListServerRuns, one item: its
//     start or end) and its last_sync_at,
//   - each script's newest run (ListScripts, then ListScriptRuns, one
//     item: its start or end),
//   - each connection's creation,
//   - and, as the baseline when there is nothing else, the account's own
//     creation (the created_at of the sub-account, when the server sends
//     one; without it such a customer is ActivityUnknown).
//
// That is all the API can show. It cannot see user logins, use of
// Peliqan's web UI (opening apps, editing or running queries there), embed
// widget views, or calls to the customer's published API endpoints; and it
// does not say who started a run, so scheduled syncs and scheduled scripts
// count as activity (a customer whose connections keep syncing is active).
// Script edits and query-table changes are not counted: publishing a
// template from the partner account would look like the customer's
// activity.
//
// The cost per customer is one request for its connections, one per
// connection, one for its scripts and one per script, sent one at a time;
// customers are read o.Concurrency at a time. A customer any of whose
// reads fails is ActivityUnreadable with the error (the report goes on).
// The returned error is for bad input, a failed listing of the customers,
// or ctx ending.
func (p *PartnerClient) ActivityReport(ctx context.Context, o *InactivityOptions, opts ...RequestOption) (*ActivityReport, error) {
	return p.activityReport(ctx, o, nil, opts)
}

// InactiveCustomers is ActivityReport without the active customers: those
// idle for more than o.InactiveFor (90 days by default), plus the
// customers whose activity is unknown or could not be read, so that none
// goes unseen. To close the inactive ones, see CloseInactiveCustomers.
func (p *PartnerClient) InactiveCustomers(ctx context.Context, o *InactivityOptions, opts ...RequestOption) (*ActivityReport, error) {
	rep, err := p.activityReport(ctx, o, nil, opts)
	if err != nil {
		return nil, err
	}
	rep.Customers = slices.DeleteFunc(rep.Customers, func(c CustomerActivity) bool { return c.Status == ActivityActive })
	return rep, nil
}

// activityReport reads every selected customer's activity and, when after
// is set, calls it for each line as soon as that customer is read (from
// the customer's own goroutine). When ctx ends it returns the lines read so
// far with ctx's error.
func (p *PartnerClient) activityReport(ctx context.Context, o *InactivityOptions, after func(ctx context.Context, a *CustomerActivity),
	opts []RequestOption) (*ActivityReport, error) {
	if ctx == nil {
		return nil, invalidArg("ctx", "nil context")
	}
	cfg, err := o.config()
	if err != nil {
		return nil, err
	}
	if _, err := applyCallOptions(opts); err != nil {
		return nil, err
	}
	subs, err := p.allSubAccounts(ctx, cfg.pageSize, optionsOr(o).Filter, opts)
	if err != nil {
		return nil, err
	}
	rep := &ActivityReport{Now: cfg.now, InactiveFor: cfg.inactiveFor}
	var mu sync.Mutex
	forEachIndex(ctx, len(subs), cfg.concurrency, func(ctx context.Context, i int) {
		a := p.customerActivity(ctx, &subs[i], cfg, opts)
		if ctx.Err() != nil {
			return // stopped part way: not a finding
		}
		if after != nil {
			after(ctx, &a)
		}
		mu.Lock()
		rep.Customers = append(rep.Customers, a)
		mu.Unlock()
	})
	sortActivity(rep.Customers)
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	return rep, nil
}

// customerActivity reads one customer's activity and classifies it.
func (p *PartnerClient) customerActivity(ctx context.Context, sa *SubAccount, cfg inactivityConfig, opts []RequestOption) CustomerActivity {
	a := CustomerActivity{SubAccount: *sa}
	a.Err = p.readActivity(ctx, sa, &a, opts)
	switch {
	case a.Err != nil:
		a.Status = ActivityUnreadable
	case a.LastActivity.IsZero():
		a.Status = ActivityUnknown
	case cfg.now.Sub(a.LastActivity) > cfg.inactiveFor:
		a.Status = ActivityInactive
	default:
		a.Status = ActivityActive
	}
	if !a.LastActivity.IsZero() && cfg.now.After(a.LastActivity) {
		a.Idle = cfg.now.Sub(a.LastActivity)
	}
	return a
}

// readActivity fills a's last activity from every source, stopping at the
// first read that fails.
func (p *PartnerClient) readActivity(ctx context.Context, sa *SubAccount, a *CustomerActivity, opts []RequestOption) error {
	seen := func(at time.Time, src ActivitySource, id ID) {
		if at.After(a.LastActivity) {
			a.LastActivity, a.Source, a.SourceID = at, src, id
		}
	}
	// The account's creation is the baseline: it is considered last, so a
	// connection made at the same instant is named as the activity.
	defer seen(sa.CreatedAt, ActivityFromAccount, 0)
	t, err := p.SubAccount(ByAccountID(sa.ID))
	if err != nil {
		return err
	}
	servers, err := t.ListServers(ctx, opts...)
	if err != nil {
		return err
	}
	newest := &ListOptions{Page: 1, PerPage: 1}
	for i := range servers {
		srv := &servers[i]
		created, lastSync := serverTimes(srv.Raw)
		seen(created, ActivityFromConnection, srv.ID)
		if srv.ID <= 0 {
			continue
		}
		page, err := t.ListServerRuns(ctx, srv.ID, newest, opts...)
		if err != nil {
			return err
		}
		if len(page.Items) > 0 {
			r := &page.Items[0]
			seen(later(r.StartedAt, r.EndedAt), ActivityFromPipelineRun, r.ID)
		}
		seen(lastSync, ActivityFromLastSync, srv.ID)
	}
	scripts, err := t.ListScripts(ctx, opts...)
	if err != nil {
		return err
	}
	for i := range scripts {
		if scripts[i].ID <= 0 {
			continue
		}
		page, err := t.ListScriptRuns(ctx, scripts[i].ID, newest, opts...)
		if err != nil {
			return err
		}
		if len(page.Items) > 0 {
			seen(scriptRunTime(page.Items[0].Raw), ActivityFromScriptRun, page.Items[0].ID)
		}
	}
	return nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// serverTimes reads a connection's creation and last sync from the object
// as sent (created_at or created_on; last_sync_at); zero when absent or
// unreadable.
func serverTimes(raw json.RawMessage) (created, lastSync time.Time) {
	var w struct {
		CreatedAt  json.RawMessage `json:"created_at"`
		CreatedOn  json.RawMessage `json:"created_on"`
		LastSyncAt json.RawMessage `json:"last_sync_at"`
	}
	if json.Unmarshal(raw, &w) != nil {
		return time.Time{}, time.Time{}
	}
	created = svTime(w.CreatedAt)
	if created.IsZero() {
		created = svTime(w.CreatedOn)
	}
	return created, svTime(w.LastSyncAt)
}

// scriptRunTime is the latest of a script run's start and end times, under
// any of the names seen (created_at, started_at, finished_at, ended_at,
// timestamp_start, timestamp_end); zero when none can be read.
func scriptRunTime(raw json.RawMessage) time.Time {
	var w struct {
		CreatedAt      json.RawMessage `json:"created_at"`
		StartedAt      json.RawMessage `json:"started_at"`
		FinishedAt     json.RawMessage `json:"finished_at"`
		EndedAt        json.RawMessage `json:"ended_at"`
		TimestampStart json.RawMessage `json:"timestamp_start"`
		TimestampEnd   json.RawMessage `json:"timestamp_end"`
	}
	if json.Unmarshal(raw, &w) != nil {
		return time.Time{}
	}
	var t time.Time
	for _, r := range []json.RawMessage{w.CreatedAt, w.StartedAt, w.FinishedAt, w.EndedAt, w.TimestampStart, w.TimestampEnd} {
		t = later(t, svTime(r))
	}
	return t
}

var activityRank = map[ActivityStatus]int{ActivityUnreadable: 0, ActivityUnknown: 1}

func sortActivity(lines []CustomerActivity) {
	rank := func(s ActivityStatus) int {
		if r, ok := activityRank[s]; ok {
			return r
		}
		return 2
	}
	slices.SortStableFunc(lines, func(a, b CustomerActivity) int {
		return cmp.Or(cmp.Compare(rank(a.Status), rank(b.Status)), a.LastActivity.Compare(b.LastActivity),
			cmp.Compare(a.Partner, b.Partner), cmp.Compare(a.SubAccount.ID, b.SubAccount.ID))
	})
}

// CloseInactiveOptions tunes CloseInactiveCustomers: which customers count
// as inactive (InactivityOptions) and whether to close them (Confirm).
type CloseInactiveOptions struct {
	InactivityOptions
	// Confirm must be Confirmed for the accounts to be closed; the zero
	// value is a dry run.
	Confirm Confirmation
}

// CloseOutcome is what CloseInactiveCustomers did, or would do, for one
// customer.
type CloseOutcome string

// Close outcomes.
const (
	// CloseClosed: the account was deleted.
	CloseClosed CloseOutcome = "closed"
	// CloseWouldClose: a dry run found the customer inactive; nothing was
	// written.
	CloseWouldClose CloseOutcome = "would_close"
	// CloseSkipped: the customer's activity is unknown or could not be
	// read; it is never closed (Err says why, when a read failed).
	CloseSkipped CloseOutcome = "skipped"
	// CloseFailed: the delete failed (Err says why); the account may still
	// exist.
	CloseFailed CloseOutcome = "failed"
)

// CloseResult is one customer's line of a CloseReport.
type CloseResult struct {
	Activity CustomerActivity
	Outcome  CloseOutcome
	Err      error
}

// CloseReport says, per customer, what CloseInactiveCustomers did or would
// do, in ActivityReport's order. Active customers are not listed.
type CloseReport struct {
	// DryRun is true unless the close was Confirmed.
	DryRun bool
	// Now is the instant idle times are measured from.
	Now         time.Time
	InactiveFor time.Duration
	Results     []CloseResult
}

// Count returns how many customers had outcome o.
func (r *CloseReport) Count(o CloseOutcome) int {
	return countWhere(r.Results, func(x *CloseResult) bool { return x.Outcome == o })
}

// Err joins the failed closes and the skipped customers whose activity
// could not be read, one "sub-account <id>: <error>" each, or returns nil.
func (r *CloseReport) Err() error {
	var errs []error
	for _, res := range r.Results {
		if res.Err != nil {
			errs = append(errs, fmt.Errorf("sub-account %s (%s): %w", res.Activity.SubAccount.ID, res.Outcome, res.Err))
		}
	}
	return errors.Join(errs...)
}

// CloseInactiveCustomers closes the customers that have been inactive for
// more than o.InactiveFor (90 days by default), as Cloudiway's partner
// portal does after 90 days without activity. It is never automatic:
// unless o.Confirm is Confirmed it is a dry run, which reads every
// customer's activity exactly as InactiveCustomers does, reports
// CloseWouldClose for each inactive one, and sends no write at all.
//
// Confirmed, it reads the activity the same way and deletes each inactive
// customer right after reading it (DeleteSubAccount), and nothing else:
// with the same data it deletes exactly the customers a dry run listed as
// CloseWouldClose. To close only the customers a person approved from a
// dry run, pass a Filter that keeps just their ids; each is still checked
// again and closed only if it is still inactive. A customer whose activity
// is unknown or could not be read is CloseSkipped and never closed. See
// ActivityReport for what counts as activity and what the API cannot see:
// a customer who only uses Peliqan's web UI looks inactive.
//
// A delete answered 404 is checked with GetSubAccount: an account that is
// gone (a retried delete whose first attempt went through, or closed by
// someone else meanwhile) is CloseClosed; one that still exists is
// CloseFailed.
//
// The returned error is for bad input (refused before any request), a
// failed listing (nothing deleted), or ctx ending: the report then comes
// back beside it and says what was done until then.
//
// Closing uses DeleteSubAccount: the route
// (DELETE /api/partner/sub-accounts/{id}/) is inferred from Peliqan's
// oldest partner doc; no current source shows it.
func (p *PartnerClient) CloseInactiveCustomers(ctx context.Context, o *CloseInactiveOptions, opts ...RequestOption) (*CloseReport, error) {
	opt := optionsOr(o)
	apply, err := opt.Confirm.apply()
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	closed := make(map[ID]CloseResult)
	act, err := p.activityReport(ctx, &opt.InactivityOptions, func(ctx context.Context, a *CustomerActivity) {
		if !apply || a.Status != ActivityInactive {
			return
		}
		res := CloseResult{Activity: *a, Outcome: CloseClosed}
		if err := p.closeAccount(ctx, a.SubAccount.ID, opts); err != nil {
			res.Outcome, res.Err = CloseFailed, err
		}
		mu.Lock()
		closed[a.SubAccount.ID] = res
		mu.Unlock()
	}, opts)
	if act == nil {
		return nil, err
	}
	rep := &CloseReport{DryRun: !apply, Now: act.Now, InactiveFor: act.InactiveFor}
	for _, a := range act.Customers {
		switch a.Status {
		case ActivityActive:
			continue
		case ActivityInactive:
			if res, ok := closed[a.SubAccount.ID]; ok {
				rep.Results = append(rep.Results, res)
			} else {
				rep.Results = append(rep.Results, CloseResult{Activity: a, Outcome: CloseWouldClose})
			}
		default:
			rep.Results = append(rep.Results, CloseResult{Activity: a, Outcome: CloseSkipped, Err: a.Err})
		}
	}
	return rep, err
}

// closeAccount deletes one account; a 404 counts as closed when the
// account is indeed gone.
func (p *PartnerClient) closeAccount(ctx context.Context, id ID, opts []RequestOption) error {
	err := p.DeleteSubAccount(ctx, id, opts...)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return err
	}
	if _, gerr := p.GetSubAccount(ctx, ByAccountID(id), opts...); errors.Is(gerr, ErrNotFound) {
		return nil
	}
	return err
}
