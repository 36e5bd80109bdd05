package peliqan

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/peliqan-community/peliqan-go/internal/routes"
)

// FleetSyncOptions selects what SyncFleet syncs and paces it. nil means every
// connection of every customer, 8 requests at a time, on PeliqanSchedule,
// paced by the client's own Limiter (if any).
type FleetSyncOptions struct {
	// Concurrency caps the requests SyncFleet has in flight (and its
	// goroutines); 0 means 8. The cap halves on a 429 and grows back as
	// requests succeed.
	Concurrency int
	// Limiter, when set, paces every request SyncFleet sends (the tenant
	// clients' included) instead of the client's own (WithLimiter). nil
	// keeps the client's, which is none unless WithLimiter was given.
	Limiter Limiter
	// Schedule is the wait between two polls of one customer's runs; nil
	// means PeliqanSchedule. The first poll comes one wait after the
	// customer's last trigger.
	Schedule PollSchedule
	// PageSize is how many customers each sub-account list request asks
	// for; 0 means 100. Ignored with SubAccounts.
	PageSize int

	// SubAccounts, when set, are the customers to sync; no sub-account list
	// is read, and each result's SubAccount carries only the ref's id or
	// external id. Empty means every sub-account, paged.
	SubAccounts []SubAccountRef
	// SubAccountFilter, when set, skips the customers it returns false for.
	SubAccountFilter func(*SubAccount) bool
	// ConnectionTypes, when set, selects the connections whose ServerType is
	// one of these (case-insensitive).
	ConnectionTypes []string
	// Health, when set, selects the connections whose health verdict (from
	// their HealthStatus alone: VerdictHealthy, VerdictFailed,
	// VerdictInProgress, VerdictNeedsReauthorisation, VerdictDisabled or
	// VerdictUnknownStatus) is one of these.
	Health []Verdict
	// ConnectionFilter, when set, skips the connections it returns false
	// for. It is called from SyncFleet's goroutines, one customer at a time
	// per goroutine.
	ConnectionFilter func(*SubAccount, *Server) bool

	// Progress, when set, is called with the running counts after every
	// piece of work, from SyncFleet's goroutines but one call at a time and
	// in order. Keep it fast: the fleet waits for it.
	Progress func(FleetProgress)
}

// FleetOutcome is what became of one connection in SyncFleet.
type FleetOutcome string

// The outcomes. A selected connection gets exactly one; a customer whose
// connections could not be listed gets one FleetNotListed line.
const (
	// FleetCompleted: the run ended COMPLETED.
	FleetCompleted FleetOutcome = "completed"
	// FleetCompletedWithErrors: the run ended COMPLETED_WITH_ERRORS.
	FleetCompletedWithErrors FleetOutcome = "completed_with_errors"
	// FleetFailed: the run ended ERROR or INTERNAL_ERROR.
	FleetFailed FleetOutcome = "failed"
	// FleetFailedToStart: no run was started: the trigger was refused (Err
	// says why), or it failed ambiguously and the status check showed that
	// nothing started, as many times as SyncFleet sends a trigger.
	FleetFailedToStart FleetOutcome = "failed_to_start"
	// FleetUnknown: a run may exist but its end is not known: a trigger
	// that failed ambiguously after which a run did start (or the check
	// failed), a wait that could not be completed, a run whose final status
	// the SDK does not know, or ctx ending while the run was followed.
	FleetUnknown FleetOutcome = "unknown"
	// FleetSkippedNeedsReauthorisation: not triggered; the customer must
	// (re)authorise the connection first (ReAuthoriseServer).
	FleetSkippedNeedsReauthorisation FleetOutcome = "skipped_needs_reauthorisation"
	// FleetSkippedDisabled: not triggered; the connection is disabled.
	FleetSkippedDisabled FleetOutcome = "skipped_disabled"
	// FleetNotListed: the customer's connections could not be listed (Err
	// says why; Server is nil). Nothing of theirs was triggered.
	FleetNotListed FleetOutcome = "not_listed"
)

// FleetResult is one line of SyncFleet: a connection and what became of it.
type FleetResult struct {
	SubAccount SubAccount
	// Server is the connection as listed (its Raw is not kept); nil for
	// FleetNotListed.
	Server  *Server
	Outcome FleetOutcome
	// Run is the run(s) followed, as WaitForSync returns them; nil when no
	// run was followed. After an ambiguous trigger (FleetUnknown), it holds
	// the connection's latest run as the status check read it, if any.
	Run *SyncRun
	// AlreadySyncing: the connection was syncing when listed, so its run
	// was followed and no trigger sent.
	AlreadySyncing bool
	// Triggers counts the trigger requests sent (429s included).
	Triggers int
	// Err says why, for every outcome but the completed ones and the skips.
	Err error
}

// FleetProgress is SyncFleet's running count.
type FleetProgress struct {
	// Customers is the number of customers whose connections were listed;
	// Connections the number of connections selected.
	Customers   int
	Connections int
	// Started counts the runs started (or, for a connection already
	// syncing, found) and now followed; Done the results handed out.
	Started int
	Done    int
	// RateLimited counts the 429 answers.
	RateLimited int
	// Concurrency is the current cap on requests in flight.
	Concurrency int
	// PausedUntil is the end of the fleet's pause after a 429; zero when
	// not paused.
	PausedUntil time.Time
	Elapsed     time.Duration
}

// maxTriggerSends bounds how often one connection's trigger is sent after
// ambiguous failures that were shown to have started nothing (429s, which
// were not acted on, do not count).
const maxTriggerSends = 3

// maxFailedTicks: a customer whose status reads fail this many ticks in a
// row (after the client's retries) has its runs reported FleetUnknown.
const maxFailedTicks = 3

// pollDeferral: while new customers wait to be started, a due poll waits
// behind them for up to this many more of its intervals. Polls found the
// runs still going anyway while the fleet is busy starting them, so
// starting work goes first; the bound keeps ends reported as they come.
const pollDeferral = 3

// ambiguousStartWindow: after an ambiguous trigger failure, a latest run
// that started less than this long before the trigger was sent may be the
// trigger's own (clocks differ), so nothing is sent again.
const ambiguousStartWindow = time.Minute

// SyncFleet syncs every selected connection of every selected customer and
// yields one result per connection as each is known:
//
//	l, _ := peliqan.NewRateLimiter(10, 10)
//	for r, err := range p.SyncFleet(ctx, &peliqan.FleetSyncOptions{Concurrency: 16, Limiter: l}) {
//		if err != nil { ... }                   // the fleet as a whole stopped
//		log.Println(r.SubAccount.ExternalID, r.Server.Name, r.Outcome, r.Err)
//	}
//
// It pages through the customers (or takes o.SubAccounts), lists each one's
// connections with its tenant client, triggers a sync of each selected
// connection (SyncServer), and follows every customer's runs with the
// batched waits of WaitForSyncs: one GetPipelineRuns per customer per poll,
// polls spaced by o.Schedule. Nothing waits in a goroutine of its own: the
// goroutines are a pool of o.Concurrency workers, whatever the fleet's size.
// A customer's data warehouse (IsDataWarehouse) is never synced, and not
// reported.
//
// One run per connection:
//   - a connection that needs (re)authorisation or is disabled is not
//     triggered (FleetSkipped...);
//   - a connection whose health says CHECKING is looked at first: when its
//     latest run is in progress, that run is followed (AlreadySyncing), not
//     triggered again;
//   - a trigger answered 429 was not acted on: it goes back in the queue
//     and is sent again after the fleet's pause;
//   - a trigger that failed ambiguously (a 5xx, a reset connection, a
//     timeout: the server may have acted) is sent again only when a status
//     check shows that nothing started: the connection's latest run
//     (ListServerRuns, one item) is absent, or ended and started more than
//     a minute before the trigger was sent. This check is inferred, not
//     documented: it takes the first item of the runs route (a route of
//     Peliqan's own client) to be the newest run, and a run the trigger
//     started to be visible there at once. Otherwise the outcome is
//     FleetUnknown, with the run the check saw. A trigger is sent at most
//     three times this way;
//   - any other refusal (4xx) is FleetFailedToStart.
//
// Pacing: every request waits for o.Limiter (or the client's), and at most
// o.Concurrency are in flight. A 429 on any request pauses the whole fleet
// for its Retry-After (1 s without one) and halves the concurrency, which
// then grows back by one per round of successes; SyncFleet's own requests
// do not sleep-and-retry a 429 one by one as other calls do (other
// failures are retried by the client's RetryPolicy as usual, except the
// triggers, which never are).
//
// Results come as they are known, so their order is not stable. The
// iterator's error is for the fleet as a whole, yielded once at the end: the
// sub-account list failed (customers already listed are still synced), or
// ctx ended. When ctx ends, every connection whose trigger was sent and
// whose end is not known is first reported FleetUnknown with ctx's error;
// connections not triggered yet are not reported. Breaking out of the loop
// stops the fleet (runs already started go on at Peliqan); when the loop
// ends, every goroutine SyncFleet started has returned.
//
// A nil ctx or a bad option (negative Concurrency, PageSize past 1000, an
// invalid ref, an unknown Verdict, an empty connection type) is yielded as
// ErrInvalidArgument before any request. opts apply to every request.
func (p *PartnerClient) SyncFleet(ctx context.Context, o *FleetSyncOptions, opts ...RequestOption) iter.Seq2[*FleetResult, error] {
	return func(yield func(*FleetResult, error) bool) {
		if ctx == nil {
			yield(nil, invalidArg("ctx", "nil context"))
			return
		}
		f, err := newFleet(p, optionsOr(o), opts)
		if err != nil {
			yield(nil, err)
			return
		}
		runCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		f.ctx = runCtx
		f.seed()

		var wg sync.WaitGroup
		for range f.maxConc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f.worker()
			}()
		}
		go func() {
			wg.Wait()
			f.reportUnfinished()
			close(f.out)
		}()
		for r := range f.out {
			if !yield(r, nil) {
				cancel()
				for range f.out {
				}
				return
			}
		}
		if err := ctx.Err(); err != nil {
			yield(nil, err)
			return
		}
		if f.listErr != nil {
			yield(nil, fmt.Errorf("peliqan: listing sub-accounts stopped: %w", f.listErr))
		}
	}
}

// fleet is one SyncFleet run.
type fleet struct {
	p        *PartnerClient // with the fleet's limiter
	base     *PartnerClient // the caller's, whose cached tenant clients may be reused
	limiter  Limiter        // o.Limiter; nil keeps each client's own
	ropts    []RequestOption
	sched    PollSchedule
	pageSize int
	refs     []SubAccountRef
	saFilter func(*SubAccount) bool
	types    map[string]bool
	health   map[Verdict]bool
	connFilt func(*SubAccount, *Server) bool
	progress func(FleetProgress)
	maxConc  int
	ctx      context.Context
	start    time.Time
	out      chan *FleetResult

	mu         sync.Mutex
	hi, lo     taskQueue
	timed      taskHeap // ticks not yet due, by due
	dueTicks   taskHeap // ticks due, by late
	pending    int      // tasks queued, timed or running
	inflight   int
	limit      float64
	pauseUntil time.Time
	lastCut    time.Time
	changed    chan struct{}
	prog       FleetProgress
	seen       map[ID]struct{}
	active     map[*fleetCustomer]struct{}
	listErr    error

	progMu sync.Mutex
}

// fleetCustomer is one customer being synced. Its fields are guarded by
// fleet.mu, but for waits, which only its one tick at a time touches.
type fleetCustomer struct {
	sa      SubAccount
	ref     SubAccountRef
	t       *SubAccountClient
	conns   []*fleetConn
	open    int // connections not yet reported
	settled int // connections whose trigger (or check) is settled

	fresh       []*fleetConn // started, not yet in waits
	waits       waitSet
	ticking     bool
	ticks       int
	failedTicks int
}

// fleetConn is one selected connection.
type fleetConn struct {
	srv      Server
	idx      int
	res      *SyncResult
	already  bool
	triggers int
	sentAt   time.Time
	trigErr  error // the ambiguous failure being checked
	// mayRun: a trigger went out that was not refused outright, so a run
	// may exist (reportUnfinished reports it).
	mayRun   bool
	reported bool
}

func newFleet(p *PartnerClient, o FleetSyncOptions, opts []RequestOption) (*fleet, error) {
	switch {
	case o.Concurrency < 0:
		return nil, invalidArg("Concurrency", "must not be negative (got %d)", o.Concurrency)
	case o.PageSize < 0 || o.PageSize > 1000:
		return nil, invalidArg("PageSize", "must be 0..1000 (got %d)", o.PageSize)
	}
	if _, err := applyCallOptions(opts); err != nil {
		return nil, err
	}
	f := &fleet{p: p, base: p, limiter: o.Limiter, sched: o.Schedule, pageSize: o.PageSize,
		saFilter: o.SubAccountFilter, connFilt: o.ConnectionFilter, progress: o.Progress,
		maxConc: o.Concurrency, start: time.Now(), changed: make(chan struct{}),
		seen: map[ID]struct{}{}, active: map[*fleetCustomer]struct{}{}}
	if f.maxConc == 0 {
		f.maxConc = 8
	}
	if f.pageSize == 0 {
		f.pageSize = 100
	}
	if f.sched == nil {
		f.sched = PeliqanSchedule()
	}
	f.limit = float64(f.maxConc)
	f.timed.less = func(a, b *fleetTask) bool { return a.due.Before(b.due) }
	f.dueTicks.less = func(a, b *fleetTask) bool { return a.late.Before(b.late) }
	f.out = make(chan *FleetResult, f.maxConc)
	for i, ref := range o.SubAccounts {
		if err := ref.validate(); err != nil {
			return nil, invalidArg("SubAccounts", "entry %d: %v", i, err)
		}
	}
	f.refs = o.SubAccounts
	for _, t := range o.ConnectionTypes {
		if strings.TrimSpace(t) == "" {
			return nil, invalidArg("ConnectionTypes", "has an empty type")
		}
		if f.types == nil {
			f.types = map[string]bool{}
		}
		f.types[strings.ToLower(strings.TrimSpace(t))] = true
	}
	for _, v := range o.Health {
		switch v {
		case VerdictHealthy, VerdictFailed, VerdictInProgress, VerdictNeedsReauthorisation, VerdictDisabled, VerdictUnknownStatus:
		default:
			return nil, invalidArg("Health", "%q is not a verdict a health status alone gives", string(v))
		}
		if f.health == nil {
			f.health = map[Verdict]bool{}
		}
		f.health[v] = true
	}
	if o.Limiter != nil {
		c := *p.c
		c.limiter = o.Limiter
		f.p = &PartnerClient{c: &c, st: p.st}
	}
	// Every request of the fleet brings a 429 back at once, for the fleet's
	// pause (appended last, so no option of the caller's can undo it).
	f.ropts = append(append([]RequestOption(nil), opts...), withoutRateLimitRetry())
	return f, nil
}

// seed queues the first work: the first page of customers, or the
// customers named.
func (f *fleet) seed() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.refs) == 0 {
		f.enqueueLocked(&fleetTask{kind: taskListPage, page: 1})
		return
	}
	done := map[SubAccountRef]bool{}
	for _, ref := range f.refs {
		if done[ref] {
			continue
		}
		done[ref] = true
		sa := SubAccount{}
		if id, ok := ref.AccountID(); ok {
			sa.ID = id
		} else if ext, ok := ref.ExternalID(); ok {
			sa.ExternalID = ext
		}
		if f.saFilter != nil && !f.saFilter(&sa) {
			continue
		}
		f.addCustomerLocked(sa, ref)
	}
}

func (f *fleet) addCustomerLocked(sa SubAccount, ref SubAccountRef) {
	c := &fleetCustomer{sa: sa, ref: ref}
	c.waits.opts = f.ropts
	f.active[c] = struct{}{}
	f.enqueueLocked(&fleetTask{kind: taskCustomer, cust: c})
}

// tenant is the customer's client for the fleet: the caller's cached one
// when it already holds a token (and the fleet keeps the client's limiter),
// else one of the fleet's own whose token fetch also hands a 429 back to the
// fleet. The fleet's own clients are not cached: they go with the customer.
func (f *fleet) tenant(ref SubAccountRef) *SubAccountClient {
	if t := f.base.st.tenants.get(ref); t != nil {
		if tt, ok := t.c.tokens.(*tenantTokens); ok && tt.cur.Load() != nil {
			if f.limiter == nil {
				return t
			}
			c := *t.c
			c.limiter = f.limiter
			return &SubAccountClient{c: &c}
		}
	}
	ts := newTenantTokens(ref, func(ctx context.Context) (*IdentityToken, error) {
		return f.p.SubAccountToken(ctx, ref, nil, f.ropts...)
	})
	return &SubAccountClient{c: f.p.c.withTokens(ts)}
}

func isTooManyRequests(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.StatusCode == http.StatusTooManyRequests
}

// listPage reads one page of customers and queues them, then the next page
// (after them, so pages are read as the fleet gets to them).
func (f *fleet) listPage(page int) error {
	pg, err := f.p.ListSubAccounts(f.ctx, &ListOptions{Page: page, PerPage: f.pageSize}, f.ropts...)
	if err != nil {
		if isTooManyRequests(err) {
			return err
		}
		if !contextDone(f.ctx) {
			f.mu.Lock()
			f.listErr = err
			f.mu.Unlock()
		}
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range pg.Items {
		sa := &pg.Items[i]
		if _, dup := f.seen[sa.ID]; dup && sa.ID != 0 {
			continue
		}
		f.seen[sa.ID] = struct{}{}
		if f.saFilter != nil && !f.saFilter(sa) {
			continue
		}
		ref := ByAccountID(sa.ID)
		if sa.ID <= 0 {
			if sa.ExternalID == "" {
				continue // nothing to reach it by
			}
			ref = ByExternalID(sa.ExternalID)
		}
		f.addCustomerLocked(*sa, ref)
	}
	if pg.HasNext && len(pg.Items) > 0 {
		next := pg.NextPage
		if next == 0 {
			next = page + 1
		}
		if next > page { // a server that loops back is not followed
			f.enqueueLocked(&fleetTask{kind: taskListPage, page: next})
		}
	}
	return nil
}

// selected reports whether the filters keep srv.
func (f *fleet) selected(c *fleetCustomer, srv *Server) bool {
	if srv.IsDataWarehouse || srv.ID <= 0 {
		return false
	}
	if f.types != nil && !f.types[strings.ToLower(srv.ServerType)] {
		return false
	}
	if f.health != nil && !f.health[verdictFor(srv.HealthStatus, nil)] {
		return false
	}
	return f.connFilt == nil || f.connFilt(&c.sa, srv)
}

// listConnections reads the customer's connections and queues a trigger
// (or a look at a connection already checking) for each selected one.
func (f *fleet) listConnections(c *fleetCustomer) error {
	if c.t == nil {
		c.t = f.tenant(c.ref)
		c.waits.s = c.t
	}
	servers, err := c.t.ListServers(f.ctx, f.ropts...)
	if err != nil {
		if isTooManyRequests(err) {
			return err
		}
		if !contextDone(f.ctx) {
			f.emit(&FleetResult{SubAccount: c.sa, Outcome: FleetNotListed, Err: err})
		}
		f.customerDone(c)
		return nil
	}
	var skipped []*FleetResult
	f.mu.Lock()
	for i := range servers {
		srv := servers[i]
		if !f.selected(c, &srv) {
			continue
		}
		srv.Raw = nil
		conn := &fleetConn{srv: srv, idx: len(c.conns)}
		c.conns = append(c.conns, conn)
		f.prog.Connections++
		switch h := srv.HealthStatus; {
		case h.NeedsReauthorisation():
			skipped = append(skipped, f.resultLocked(c, conn, FleetSkippedNeedsReauthorisation, nil, nil))
			c.settled++
		case h.IsDisabled():
			skipped = append(skipped, f.resultLocked(c, conn, FleetSkippedDisabled, nil, nil))
			c.settled++
		case h.InProgress():
			f.enqueueLocked(&fleetTask{kind: taskCheck, cust: c, conn: conn})
		default:
			f.enqueueLocked(&fleetTask{kind: taskTrigger, cust: c, conn: conn})
		}
	}
	c.open = len(c.conns) - len(skipped)
	f.prog.Customers++
	f.prog.Done += len(skipped)
	f.mu.Unlock()
	for _, r := range skipped {
		f.emit(r)
	}
	f.mu.Lock()
	done := c.open == 0
	f.mu.Unlock()
	if done {
		f.customerDone(c)
	}
	return nil
}

// trigger sends the connection's sync request once.
func (f *fleet) trigger(c *fleetCustomer, conn *fleetConn) error {
	f.mu.Lock()
	conn.triggers++
	conn.sentAt = time.Now()
	conn.mayRun = true
	f.mu.Unlock()
	res, err := c.t.SyncServer(f.ctx, conn.srv.ID, nil, f.ropts...)
	if isTooManyRequests(err) {
		f.mu.Lock()
		conn.mayRun = false
		f.mu.Unlock()
	}
	switch {
	case err == nil || (res != nil && writeAccepted(err)):
		// Started; an answer read in part still named what it could.
		if len(res.RunData) == 0 && res.TaskID == "" {
			if err == nil {
				err = errors.New("peliqan: the sync started but its answer named no run to follow")
			}
			f.settle(c, conn, FleetUnknown, nil, err)
			return nil
		}
		f.started(c, conn, res)
	case isTooManyRequests(err):
		return err // not acted on: sent again after the pause
	case contextDone(f.ctx):
		// It may have started; reportUnfinished says so.
	case triggerMaybeApplied(err, conn.srv.ID):
		f.mu.Lock()
		conn.trigErr = err
		f.enqueueLocked(&fleetTask{kind: taskCheck, cust: c, conn: conn})
		f.mu.Unlock()
	default:
		f.settle(c, conn, FleetFailedToStart, nil, err)
	}
	return nil
}

// triggerMaybeApplied reports whether err is a failure of the sync request
// itself (not of a token fetch before it) after which the server may have
// acted: a 5xx, or no usable answer at all.
func triggerMaybeApplied(err error, id ID) bool {
	path, perr := routes.MustLookup(routes.SyncServer).Expand(id.String())
	if perr != nil {
		return false
	}
	var ae *APIError
	var te *TransportError
	switch {
	case errors.As(err, &ae):
		return ae.StatusCode >= 500 && ae.Path == path
	case errors.As(err, &te):
		return te.Path == path
	}
	return false
}

// check reads the connection's latest run (ListServerRuns, one item): for a
// connection listed as CHECKING, to follow a run already going; after an
// ambiguous trigger, to learn whether anything started.
func (f *fleet) check(c *fleetCustomer, conn *fleetConn) error {
	page, err := c.t.ListServerRuns(f.ctx, conn.srv.ID, &ListOptions{Page: 1, PerPage: 1}, f.ropts...)
	if isTooManyRequests(err) {
		return err
	}
	if contextDone(f.ctx) {
		return nil
	}
	f.mu.Lock()
	trigErr := conn.trigErr
	f.mu.Unlock()
	if err != nil {
		if trigErr != nil {
			err = fmt.Errorf("%w (and the status check failed: %w)", trigErr, err)
		} else {
			err = fmt.Errorf("peliqan: the connection is CHECKING and its latest run could not be read: %w", err)
		}
		f.settle(c, conn, FleetUnknown, nil, err)
		return nil
	}
	var latest *PipelineRun
	if len(page.Items) > 0 {
		latest = &page.Items[0]
	}
	if trigErr == nil { // listed as CHECKING
		if latest != nil && latest.Status.InProgress() && latest.ID > 0 {
			f.mu.Lock()
			conn.already = true
			f.mu.Unlock()
			f.started(c, conn, &SyncResult{ServerID: conn.srv.ID, RunData: []RunRef{{PipelineRunID: latest.ID}}})
			return nil
		}
		f.mu.Lock()
		f.enqueueLocked(&fleetTask{kind: taskTrigger, cust: c, conn: conn})
		f.mu.Unlock()
		return nil
	}
	nothingStarted := latest == nil || (!latest.Status.InProgress() && !latest.StartedAt.IsZero() &&
		latest.StartedAt.Before(conn.sentAt.Add(-ambiguousStartWindow)))
	switch {
	case nothingStarted && conn.triggers < maxTriggerSends:
		f.mu.Lock()
		conn.trigErr = nil
		f.enqueueLocked(&fleetTask{kind: taskTrigger, cust: c, conn: conn})
		f.mu.Unlock()
	case nothingStarted:
		f.settle(c, conn, FleetFailedToStart, nil, trigErr)
	default:
		var run *SyncRun
		if latest != nil {
			run = &SyncRun{ServerID: conn.srv.ID, Status: latest.Status, Runs: []PipelineRun{*latest}, RunIDs: []ID{latest.ID}}
			run.Run = &run.Runs[0]
			run.Runs[0].Raw = nil
		}
		f.settle(c, conn, FleetUnknown, run, trigErr)
	}
	return nil
}

// started hands a run to the customer's waits; the customer's first poll
// is scheduled once every one of its triggers is settled.
func (f *fleet) started(c *fleetCustomer, conn *fleetConn, res *SyncResult) {
	f.mu.Lock()
	defer f.mu.Unlock()
	conn.res = res
	c.fresh = append(c.fresh, conn)
	c.settled++
	f.prog.Started++
	f.maybeTickLocked(c)
}

func (f *fleet) maybeTickLocked(c *fleetCustomer) {
	if c.ticking || c.settled < len(c.conns) || len(c.fresh)+len(c.waits.items) == 0 {
		return
	}
	c.ticking = true
	due := time.Now().Add(f.sched(c.ticks))
	f.enqueueLocked(&fleetTask{kind: taskTick, cust: c, due: due, late: due.Add(pollDeferral * f.sched(c.ticks))})
}

// tick sends one round of the customer's batched status reads.
func (f *fleet) tick(c *fleetCustomer) error {
	f.mu.Lock()
	fresh := c.fresh
	c.fresh = nil
	f.mu.Unlock()
	now := time.Now()
	for _, conn := range fresh {
		if err := c.waits.add(conn.idx, conn.res, now); err != nil {
			f.settle(c, conn, FleetUnknown, nil, err)
		}
	}
	ends, _, err := c.waits.tick(f.ctx)
	for _, e := range ends {
		conn := c.conns[e.Index]
		switch {
		case e.Err != nil:
			f.settle(c, conn, FleetUnknown, nil, e.Err)
		default:
			f.settle(c, conn, runOutcome(e.Run.Status), e.Run, nil)
		}
	}
	if err != nil {
		if isTooManyRequests(err) {
			return err
		}
		if contextDone(f.ctx) {
			return nil
		}
		c.failedTicks++
		if c.failedTicks >= maxFailedTicks {
			for _, it := range c.waits.items {
				f.settle(c, c.conns[it.index], FleetUnknown, nil, fmt.Errorf("peliqan: following the run: %w", err))
			}
			c.waits.items = nil
		}
	} else {
		c.failedTicks = 0
	}
	f.mu.Lock()
	c.ticks++
	c.ticking = false
	f.maybeTickLocked(c)
	done := !c.ticking && c.open == 0
	f.mu.Unlock()
	if done {
		f.customerDone(c)
	}
	return nil
}

// runOutcome maps a followed run's final status to an outcome.
func runOutcome(st RunStatus) FleetOutcome {
	switch {
	case st.Succeeded():
		return FleetCompleted
	case st.IsFailed():
		return FleetFailed
	case st.HasErrors():
		return FleetCompletedWithErrors
	}
	return FleetUnknown
}

// settle reports the connection's one result.
func (f *fleet) settle(c *fleetCustomer, conn *fleetConn, outcome FleetOutcome, run *SyncRun, err error) {
	f.mu.Lock()
	if conn.reported {
		f.mu.Unlock()
		return
	}
	r := f.resultLocked(c, conn, outcome, run, err)
	c.open--
	f.prog.Done++
	if conn.res == nil {
		// Settled without a run to follow: the customer's first poll may
		// have waited for this one.
		c.settled++
		f.maybeTickLocked(c)
	}
	done := c.open == 0 && !c.ticking
	f.mu.Unlock()
	f.emit(r)
	if done {
		f.customerDone(c)
	}
}

func (f *fleet) resultLocked(c *fleetCustomer, conn *fleetConn, outcome FleetOutcome, run *SyncRun, err error) *FleetResult {
	conn.reported = true
	srv := conn.srv
	return &FleetResult{SubAccount: c.sa, Server: &srv, Outcome: outcome, Run: run,
		AlreadySyncing: conn.already, Triggers: conn.triggers, Err: err}
}

// customerDone forgets a customer once nothing of theirs is left.
func (f *fleet) customerDone(c *fleetCustomer) {
	f.mu.Lock()
	delete(f.active, c)
	c.t = nil
	f.mu.Unlock()
}

// emit hands a result to the iterator.
func (f *fleet) emit(r *FleetResult) { f.out <- r }

// reportUnfinished runs once the workers are gone: when ctx ended, every
// connection whose trigger was sent (or whose run was found) and whose end
// is not known is reported FleetUnknown, with the run ids known.
func (f *fleet) reportUnfinished() {
	err := f.ctx.Err()
	if err == nil {
		return
	}
	for c := range f.active {
		for _, conn := range c.conns {
			if conn.reported || (!conn.mayRun && conn.res == nil) {
				continue
			}
			var run *SyncRun
			if conn.res != nil {
				run = &SyncRun{ServerID: conn.srv.ID}
				for _, r := range conn.res.RunData {
					if r.PipelineRunID > 0 {
						run.RunIDs = append(run.RunIDs, r.PipelineRunID)
					}
				}
			}
			f.emit(f.resultLocked(c, conn, FleetUnknown, run, err))
		}
	}
}
