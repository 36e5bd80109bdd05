package peliqan

import (
	"context"
	"errors"
	"iter"
	"sync"
)

// Verdict is ConnectionHealth's reading of one connection. Unlike the
// server's HealthStatus it is a closed set: every connection gets exactly
// one of the values below.
type Verdict string

// The verdicts, from the connection's HealthStatus (see its table) and its
// last run.
const (
	// VerdictHealthy: a healthy status, and the last run (if read) did not
	// end with errors.
	VerdictHealthy Verdict = "healthy"
	// VerdictRunErrors: a healthy status, but the last run ended with
	// errors (COMPLETED_WITH_ERRORS, ERROR or INTERNAL_ERROR).
	VerdictRunErrors Verdict = "run_errors"
	// VerdictNeedsReauthorisation: the customer must (re)authorise or
	// finish connecting; send them through ReAuthoriseServer or the widget.
	VerdictNeedsReauthorisation Verdict = "needs_reauthorisation"
	// VerdictInProgress: Peliqan is checking the connection.
	VerdictInProgress Verdict = "in_progress"
	// VerdictFailed: the connection is in error.
	VerdictFailed Verdict = "failed"
	// VerdictDisabled: the connection is turned off.
	VerdictDisabled Verdict = "disabled"
	// VerdictUnknownStatus: a health status this SDK does not know, or none.
	// It is never counted as healthy.
	VerdictUnknownStatus Verdict = "unknown_status"
	// VerdictScanFailed: the customer's connections could not be read (the
	// report's Err says why; Server is nil).
	VerdictScanFailed Verdict = "scan_failed"
)

// NeedsAttention reports the verdicts a partner should act on or look at:
// everything but healthy, in progress and disabled.
func (v Verdict) NeedsAttention() bool {
	switch v {
	case VerdictHealthy, VerdictInProgress, VerdictDisabled:
		return false
	}
	return true
}

// verdictFor reads a connection's health status and last run (nil when not
// read or none).
func verdictFor(h HealthStatus, last *PipelineRun) Verdict {
	switch {
	case h.IsHealthy():
		if last != nil && last.Status.HasErrors() {
			return VerdictRunErrors
		}
		return VerdictHealthy
	case h.NeedsReauthorisation():
		return VerdictNeedsReauthorisation
	case h.InProgress():
		return VerdictInProgress
	case h.IsFailed():
		return VerdictFailed
	case h.IsDisabled():
		return VerdictDisabled
	}
	return VerdictUnknownStatus
}

// HealthScanOptions tunes ConnectionHealth.
type HealthScanOptions struct {
	// Concurrency is how many customers are scanned at once; each scan sends
	// one request at a time, so it also bounds the requests in flight. 0
	// means 8.
	Concurrency int
	// SkipLastRun leaves LastRun nil: one request per customer (its
	// connection list) instead of one more per connection.
	SkipLastRun bool
	// PageSize is how many customers each sub-account list request asks
	// for; 0 means 100.
	PageSize int
}

// ConnectionReport is one line of ConnectionHealth: a customer's connection
// and what to make of it, or a customer whose connections could not be read.
type ConnectionReport struct {
	SubAccount SubAccount
	// Server is the connection; nil when Verdict is VerdictScanFailed.
	Server       *Server
	HealthStatus HealthStatus
	// LastRun is the connection's newest pipeline run; nil when it has
	// none, when it could not be read (then Err says why) or with
	// SkipLastRun.
	LastRun *PipelineRun
	Verdict Verdict
	// Err is why the customer could not be scanned (VerdictScanFailed), or
	// why the last run could not be read (any other verdict, taken from the
	// health status alone).
	Err error
}

// ConnectionHealth scans every connection of every customer, so dead
// credentials and failing syncs across all tenants show up in one loop:
//
//	for r, err := range p.ConnectionHealth(ctx, &peliqan.HealthScanOptions{Concurrency: 16}) {
//		if err != nil { ... }              // the scan itself stopped
//		if r.Verdict.NeedsAttention() { ... }
//	}
//
// It pages through the sub-accounts (ForEachSubAccount) with bounded
// concurrency; for each customer it uses the tenant client (one identity
// token fetch per customer), lists the connections, and reads each one's
// newest run (ListServerRuns, one item) unless SkipLastRun. Reports come as
// scans finish, so their order is not stable.
//
// A customer whose connections cannot be read is one report with
// VerdictScanFailed and the error; the scan goes on. The iterator's error is
// only for the scan as a whole (listing the sub-accounts failed, or ctx
// ended), yielded once at the end. Breaking out of the loop stops the scan:
// when the loop ends, every goroutine the scan started has returned (an
// identity-token fetch still in flight belongs to the tenant client's shared
// flight, and is cancelled as its callers leave).
func (p *PartnerClient) ConnectionHealth(ctx context.Context, o *HealthScanOptions, opts ...RequestOption) iter.Seq2[*ConnectionReport, error] {
	opt := optionsOr(o)
	return func(yield func(*ConnectionReport, error) bool) {
		switch {
		case ctx == nil:
			yield(nil, invalidArg("ctx", "nil context"))
			return
		case opt.Concurrency < 0:
			yield(nil, invalidArg("Concurrency", "must not be negative (got %d)", opt.Concurrency))
			return
		case opt.PageSize < 0 || opt.PageSize > 1000:
			yield(nil, invalidArg("PageSize", "must be 0..1000 (got %d)", opt.PageSize))
			return
		}
		if _, err := applyCallOptions(opts); err != nil {
			yield(nil, err)
			return
		}
		conc, pageSize := opt.Concurrency, opt.PageSize
		if conc == 0 {
			conc = 8
		}
		if pageSize == 0 {
			pageSize = 100
		}
		scanCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		reports := make(chan []ConnectionReport, conc)
		var scanErr error
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(reports)
			scanErr = p.ForEachSubAccount(scanCtx, conc, func(ctx context.Context, sa *SubAccount, t *SubAccountClient) error {
				batch := scanTenant(ctx, *sa, t, opt.SkipLastRun, opts)
				if ctx.Err() != nil {
					return ctx.Err() // stopped: nothing to report
				}
				select {
				case reports <- batch:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}, ForEachPageSize(pageSize), ForEachRequestOptions(opts...))
		}()
		stop := func() {
			cancel()
			for range reports {
			}
			wg.Wait()
		}
		for batch := range reports {
			for _, r := range batch {
				if !yield(&r, nil) {
					stop()
					return
				}
			}
		}
		wg.Wait()
		if err := scanFailures(scanErr, yield); err != nil {
			yield(nil, err)
		}
	}
}

// scanTenant reads one customer's connections and their last runs.
func scanTenant(ctx context.Context, sa SubAccount, t *SubAccountClient, skipLastRun bool, opts []RequestOption) []ConnectionReport {
	servers, err := t.ListServers(ctx, opts...)
	if err != nil {
		return []ConnectionReport{{SubAccount: sa, Verdict: VerdictScanFailed, Err: err}}
	}
	out := make([]ConnectionReport, 0, len(servers))
	for i := range servers {
		srv := &servers[i]
		r := ConnectionReport{SubAccount: sa, Server: srv, HealthStatus: srv.HealthStatus}
		if !skipLastRun && srv.ID > 0 {
			page, err := t.ListServerRuns(ctx, srv.ID, &ListOptions{Page: 1, PerPage: 1}, opts...)
			switch {
			case err != nil:
				r.Err = err
			case len(page.Items) > 0:
				r.LastRun = &page.Items[0]
			}
		}
		r.Verdict = verdictFor(r.HealthStatus, r.LastRun)
		out = append(out, r)
	}
	return out
}

// scanFailures yields a VerdictScanFailed report for each customer
// ForEachSubAccount itself could not start, and returns what remains of
// err: the failure of the scan as a whole, or nil.
func scanFailures(err error, yield func(*ConnectionReport, error) bool) error {
	if err == nil {
		return nil
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var rest []error
	for _, e := range errs {
		var se *SubAccountError
		if errors.As(e, &se) && !isContextErr(se.Err) {
			if !yield(&ConnectionReport{SubAccount: SubAccount{ID: se.ID, ExternalID: se.ExternalID},
				Verdict: VerdictScanFailed, Err: se.Err}, nil) {
				return nil
			}
			continue
		}
		if errors.As(e, &se) {
			continue // cancelled along with the scan; ctx's error is in rest
		}
		rest = append(rest, e)
	}
	if len(rest) == 1 {
		return rest[0] // ctx's error stays comparable with ==
	}
	return errors.Join(rest...)
}
