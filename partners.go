package peliqan

import (
	"context"
	"errors"
	"iter"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
)

// PartnerSet is several partner accounts run as one: regions (an EU and a
// US account), white-label brands, or a distributor that owns several
// partner accounts. It lists customers, scans connection health and runs
// the licence and inactivity reports across all of them, tagging every line
// with its partner's name, at most a few partners at a time, and one
// partner failing does not stop the others: its failure is reported as a
// *PartnerError naming it.
//
// Peliqan's API has one level of hierarchy, partner -> sub-account, and no
// more: there is no route to suspend or re-enable a customer, no roles or
// per-user permissions, and no distributor or reseller level above a
// partner (CloudAxis' distributor -> partner -> tenant). A PartnerSet covers
// the part that can be covered on your side: the distributor level is the
// set itself (you hold each partner account's token and give it a name),
// reports read every partner at once, and writes stay per partner account
// (call ChangeLicenses or CloseInactiveCustomers on Partner(name)), so a
// change is always aimed at one account you chose. Suspending a customer
// can be approximated with an expiry date in the past (ChangeLicenses),
// if your Peliqan instance enforces expiry; closing is
// CloseInactiveCustomers or DeleteSubAccount.
//
// A PartnerSet is immutable and safe for concurrent use.
type PartnerSet struct {
	names       []string // sorted
	clients     map[string]*PartnerClient
	concurrency int
}

// PartnerSetOption configures NewPartnerSet.
type PartnerSetOption func(*partnerSetConfig) error

type partnerSetConfig struct {
	concurrency int
}

// DefaultPartnerSetConcurrency is how many partner accounts a PartnerSet
// works on at once unless PartnerSetConcurrency says otherwise.
const DefaultPartnerSetConcurrency = 4

// PartnerSetConcurrency sets how many partner accounts are worked on at
// once (n >= 1). Each partner's own work keeps its own bound (the options'
// Concurrency), so at most n times that many requests are in flight.
func PartnerSetConcurrency(n int) PartnerSetOption {
	return func(c *partnerSetConfig) error {
		if n < 1 {
			return invalidArg("PartnerSetConcurrency", "must be at least 1 (got %d)", n)
		}
		c.concurrency = n
		return nil
	}
}

// NewPartnerSet names each partner client. Names are what reports tag
// lines with: non-empty, without surrounding spaces or control characters,
// at most 100 bytes. Each client may appear once. It does no I/O.
func NewPartnerSet(partners map[string]*PartnerClient, opts ...PartnerSetOption) (*PartnerSet, error) {
	if len(partners) == 0 {
		return nil, invalidArg("partners", "is empty")
	}
	cfg := partnerSetConfig{concurrency: DefaultPartnerSetConcurrency}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	s := &PartnerSet{names: slices.Sorted(maps.Keys(partners)), clients: make(map[string]*PartnerClient, len(partners)),
		concurrency: cfg.concurrency}
	owner := make(map[*PartnerClient]string, len(partners))
	for _, name := range s.names {
		if err := checkPartnerName(name); err != nil {
			return nil, err
		}
		p := partners[name]
		if p == nil {
			return nil, invalidArg("partners", "%q has a nil client", name)
		}
		if other, dup := owner[p]; dup {
			return nil, invalidArg("partners", "%q and %q are the same client", other, name)
		}
		owner[p] = name
		s.clients[name] = p
	}
	return s, nil
}

func checkPartnerName(name string) error {
	switch {
	case name == "":
		return invalidArg("partners", "a partner name is empty")
	case strings.TrimSpace(name) != name:
		return invalidArg("partners", "partner name %q has surrounding spaces", name)
	case len(name) > 100:
		return invalidArg("partners", "partner name %.20q... is longer than 100 bytes", name)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return invalidArg("partners", "partner name %q has a control character", name)
	}
	return nil
}

// Names returns the partner names, sorted.
func (s *PartnerSet) Names() []string { return slices.Clone(s.names) }

// Partner returns the client named name.
func (s *PartnerSet) Partner(name string) (*PartnerClient, bool) {
	p, ok := s.clients[name]
	return p, ok
}

// PartnerError is one partner account's failure in a PartnerSet operation.
// It unwraps to the partner's error, so errors.Is and errors.As see
// through it.
type PartnerError struct {
	Partner string
	Err     error
}

// Error names the partner, then gives its error.
func (e *PartnerError) Error() string {
	return "peliqan: partner " + strconv.Quote(e.Partner) + ": " + errString(e.Err)
}

// Unwrap returns the partner's error.
func (e *PartnerError) Unwrap() error { return e.Err }

func joinPartnerErrors(errs []*PartnerError) error {
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = e
	}
	return errors.Join(out...)
}

// PartnerSubAccount is a customer of one of a PartnerSet's partners.
type PartnerSubAccount struct {
	Partner    string
	SubAccount *SubAccount
}

// PartnerConnectionReport is a ConnectionHealth line of one of a
// PartnerSet's partners.
type PartnerConnectionReport struct {
	Partner string
	Report  *ConnectionReport
}

// SubAccounts lists the customers of every partner, each tagged with its
// partner's name. Partners are listed at once (up to the set's
// concurrency), so lines of different partners interleave; one partner's
// lines keep the API's order. o applies to each partner's listing.
//
// Unlike a single account's iterator, an error does not end the loop: a
// partner whose listing fails yields one *PartnerError (after any of its
// customers already listed) and the other partners go on. Only ctx ending
// stops everything: ctx's error is yielded once, last. Breaking out of the
// loop stops the listing; every goroutine it started has returned when the
// loop ends.
func (s *PartnerSet) SubAccounts(ctx context.Context, o *ListOptions, opts ...RequestOption) iter.Seq2[*PartnerSubAccount, error] {
	return partnerStream(ctx, s, func(ctx context.Context, name string, p *PartnerClient, emit func(*PartnerSubAccount) bool) error {
		for sa, err := range p.SubAccounts(ctx, o, opts...) {
			if err != nil {
				return err
			}
			if !emit(&PartnerSubAccount{Partner: name, SubAccount: sa}) {
				return nil
			}
		}
		return nil
	})
}

// ConnectionHealth runs PartnerClient.ConnectionHealth on every partner
// (o applies to each) and yields each line tagged with its partner's name,
// as the scans finish. A partner whose scan fails as a whole (its customers
// cannot be listed) yields one *PartnerError and the others go on; a
// customer that cannot be scanned is a VerdictScanFailed line, as for one
// partner. Only ctx ending stops everything (its error is yielded once,
// last); breaking out of the loop stops every scan.
func (s *PartnerSet) ConnectionHealth(ctx context.Context, o *HealthScanOptions, opts ...RequestOption) iter.Seq2[*PartnerConnectionReport, error] {
	return partnerStream(ctx, s, func(ctx context.Context, name string, p *PartnerClient, emit func(*PartnerConnectionReport) bool) error {
		for r, err := range p.ConnectionHealth(ctx, o, opts...) {
			if err != nil {
				return err
			}
			if !emit(&PartnerConnectionReport{Partner: name, Report: r}) {
				return nil
			}
		}
		return nil
	})
}

// LicenseReport runs PartnerClient.LicenseReport on every partner and
// merges the lines into one report, sorted as one (most urgent first,
// across partners), each tagged with its partner's name. Every partner
// counts from the same instant (o.Now is read once). A partner that fails
// is in Failures, not in the returned error; the error is for bad input or
// ctx ending.
func (s *PartnerSet) LicenseReport(ctx context.Context, o *LicenseReportOptions, opts ...RequestOption) (*LicenseReport, error) {
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
	each := optionsOr(o)
	each.Now = func() time.Time { return cfg.now }
	out := &LicenseReport{Today: DateOf(cfg.now), WithinDays: cfg.withinDays}
	out.Customers, out.Failures, err = mergeLines(ctx, s, func(ctx context.Context, p *PartnerClient) ([]CustomerLicense, error) {
		rep, err := p.LicenseReport(ctx, &each, opts...)
		if err != nil {
			return nil, err
		}
		return rep.Customers, nil
	}, func(l *CustomerLicense, name string) { l.Partner = name })
	if err != nil {
		return nil, err
	}
	sortLicenses(out.Customers)
	return out, nil
}

// ActivityReport runs PartnerClient.ActivityReport on every partner and
// merges the lines into one report, sorted as one, each tagged with its
// partner's name. Every partner counts from the same instant (o.Now is read
// once). A partner that fails is in Failures; the error is for bad input or
// ctx ending.
func (s *PartnerSet) ActivityReport(ctx context.Context, o *InactivityOptions, opts ...RequestOption) (*ActivityReport, error) {
	return s.activity(ctx, o, (*PartnerClient).ActivityReport, opts)
}

// InactiveCustomers runs PartnerClient.InactiveCustomers on every partner
// and merges the lines as ActivityReport does. Closing stays per partner:
// call CloseInactiveCustomers on Partner(name).
func (s *PartnerSet) InactiveCustomers(ctx context.Context, o *InactivityOptions, opts ...RequestOption) (*ActivityReport, error) {
	return s.activity(ctx, o, (*PartnerClient).InactiveCustomers, opts)
}

func (s *PartnerSet) activity(ctx context.Context, o *InactivityOptions,
	run func(*PartnerClient, context.Context, *InactivityOptions, ...RequestOption) (*ActivityReport, error), opts []RequestOption) (*ActivityReport, error) {
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
	each := optionsOr(o)
	each.Now = func() time.Time { return cfg.now }
	out := &ActivityReport{Now: cfg.now, InactiveFor: cfg.inactiveFor}
	out.Customers, out.Failures, err = mergeLines(ctx, s, func(ctx context.Context, p *PartnerClient) ([]CustomerActivity, error) {
		rep, err := run(p, ctx, &each, opts...)
		if err != nil {
			return nil, err
		}
		return rep.Customers, nil
	}, func(l *CustomerActivity, name string) { l.Partner = name })
	if err != nil {
		return nil, err
	}
	sortActivity(out.Customers)
	return out, nil
}

// mergeLines runs one partner's report on every partner of s and gathers
// the lines, each tagged with its partner's name; failing partners are
// returned apart, and err is for ctx ending.
func mergeLines[L any](ctx context.Context, s *PartnerSet, report func(context.Context, *PartnerClient) ([]L, error),
	tag func(*L, string)) (lines []L, failures []*PartnerError, err error) {
	var mu sync.Mutex
	failures, err = s.each(ctx, func(ctx context.Context, name string, p *PartnerClient) error {
		got, err := report(ctx, p)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for i := range got {
			tag(&got[i], name)
		}
		lines = append(lines, got...)
		return nil
	})
	return lines, failures, err
}

// each runs fn for every partner, at most the set's concurrency at once,
// and returns the partners that failed, by name. When ctx ends it returns
// ctx's error instead.
func (s *PartnerSet) each(ctx context.Context, fn func(ctx context.Context, name string, p *PartnerClient) error) ([]*PartnerError, error) {
	errs := make([]error, len(s.names))
	forEachIndex(ctx, len(s.names), s.concurrency, func(ctx context.Context, i int) {
		errs[i] = fn(ctx, s.names[i], s.clients[s.names[i]])
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var failures []*PartnerError
	for i, err := range errs {
		if err != nil {
			failures = append(failures, &PartnerError{Partner: s.names[i], Err: err})
		}
	}
	return failures, nil
}

type streamItem[T any] struct {
	v   T
	err error
}

// partnerStream runs fn for every partner, at most the set's concurrency at
// once, and yields what fn emits as it comes; a partner whose fn fails
// yields one *PartnerError. When the loop breaks, every partner is
// cancelled and awaited before the iterator returns.
func partnerStream[T any](ctx context.Context, s *PartnerSet,
	fn func(ctx context.Context, name string, p *PartnerClient, emit func(T) bool) error) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		if ctx == nil {
			yield(zero, invalidArg("ctx", "nil context"))
			return
		}
		runCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		items := make(chan streamItem[T], s.concurrency)
		send := func(it streamItem[T]) bool {
			select {
			case items <- it:
				return true
			case <-runCtx.Done():
				return false
			}
		}
		go func() {
			defer close(items)
			forEachIndex(runCtx, len(s.names), s.concurrency, func(ctx context.Context, i int) {
				name := s.names[i]
				err := fn(ctx, name, s.clients[name], func(v T) bool { return send(streamItem[T]{v: v}) })
				if err != nil && ctx.Err() == nil {
					send(streamItem[T]{err: &PartnerError{Partner: name, Err: err}})
				}
			})
		}()
		for it := range items {
			if !yield(it.v, it.err) {
				cancel()
				for range items {
				}
				return
			}
		}
		if err := ctx.Err(); err != nil {
			yield(zero, err)
		}
	}
}
