package peliqan

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// LicenseState is where a customer's licence stands on a report's day.
type LicenseState string

// Licence states. A licence is valid through its expiry date: it expires
// at the end of that day.
const (
	// LicenseNoExpiry: the account has no expiry date (it never expires).
	LicenseNoExpiry LicenseState = "no_expiry"
	// LicenseValid: it expires after the report's window.
	LicenseValid LicenseState = "valid"
	// LicenseExpiring: it expires within the window, today included
	// (DaysLeft 0..WithinDays).
	LicenseExpiring LicenseState = "expiring"
	// LicenseExpired: its expiry date has passed (DaysLeft < 0).
	LicenseExpired LicenseState = "expired"
)

// NeedsAttention reports the states a partner should act on: expiring and
// expired.
func (s LicenseState) NeedsAttention() bool { return s == LicenseExpiring || s == LicenseExpired }

// DefaultExpiringWithinDays is LicenseReportOptions.WithinDays's default.
const DefaultExpiringWithinDays = 30

// LicenseReportOptions tunes LicenseReport. nil means every customer, a
// 30-day window, counted from today by time.Now.
type LicenseReportOptions struct {
	// Now is the report's clock; nil means time.Now. Today is the date of
	// Now() in its own location (time.Now: the machine's local zone). Tests
	// pass the fake's clock.
	Now func() time.Time
	// WithinDays is the window, in days from today, in which an expiry
	// counts as expiring. 0 means DefaultExpiringWithinDays (30); negative
	// is refused.
	WithinDays int
	// License keeps only the customers with this licence (as the API
	// spells it, e.g. "free_trial"); empty keeps every licence.
	License string
	// ExpiringOnly keeps only the customers whose licence is expiring or
	// expired.
	ExpiringOnly bool
	// Filter, when set, keeps only the lines it returns true for (after
	// License and ExpiringOnly). It is called from one goroutine.
	Filter func(*CustomerLicense) bool
	// PageSize is how many customers each list request asks for; 0 means
	// DefaultReportPageSize (100), at most 1000.
	PageSize int
}

// CustomerLicense is one customer's line of a LicenseReport.
type CustomerLicense struct {
	// Partner is the name of the partner account the customer is in
	// (PartnerSet reports); empty in a single partner's report.
	Partner    string
	SubAccount SubAccount
	License    string
	// ExpiresOn is the expiry date; the zero Date means it never expires.
	ExpiresOn Date
	// DaysLeft counts the days from today to ExpiresOn: 0 expires today,
	// negative has expired that many days ago. 0 when there is no expiry.
	DaysLeft int
	State    LicenseState
}

// LicenseReport lists customers with their licence and expiry, the most
// urgent first: by expiry date, oldest first (so the longest expired lead),
// customers without an expiry last, ties by partner name and account id.
type LicenseReport struct {
	// Today is the day DaysLeft counts from.
	Today Date
	// WithinDays is the window the Expiring state used.
	WithinDays int
	Customers  []CustomerLicense
	// Failures are the partner accounts whose customers could not be
	// listed (PartnerSet reports only; their customers are missing).
	Failures []*PartnerError
}

// Count returns how many customers are in state s.
func (r *LicenseReport) Count(s LicenseState) int {
	return countWhere(r.Customers, func(x *CustomerLicense) bool { return x.State == s })
}

// Err joins Failures, or returns nil when every partner was read.
func (r *LicenseReport) Err() error { return joinPartnerErrors(r.Failures) }

type licenseReportConfig struct {
	now        time.Time
	withinDays int
	pageSize   int
}

func (o *LicenseReportOptions) config() (licenseReportConfig, error) {
	opt := optionsOr(o)
	if opt.WithinDays < 0 {
		return licenseReportConfig{}, invalidArg("WithinDays", "must not be negative (got %d)", opt.WithinDays)
	}
	_, pageSize, err := reportLimits(0, opt.PageSize)
	if err != nil {
		return licenseReportConfig{}, err
	}
	cfg := licenseReportConfig{withinDays: opt.WithinDays, pageSize: pageSize}
	if cfg.withinDays == 0 {
		cfg.withinDays = DefaultExpiringWithinDays
	}
	if opt.Now != nil {
		cfg.now = opt.Now()
	} else {
		cfg.now = time.Now()
	}
	return cfg, nil
}

// LicenseReport lists every customer with its licence, expiry date, the
// days left, and whether it expires within the window (see
// LicenseReportOptions), sorted most urgent first. It reads the
// sub-account list only (one request per page): the licence and expiry are
// the members "license" and "expires_on" of each sub-account, as Peliqan's
// Admin > Customers page shows and edits them.
//
// A listing that fails returns the error and no report.
func (p *PartnerClient) LicenseReport(ctx context.Context, o *LicenseReportOptions, opts ...RequestOption) (*LicenseReport, error) {
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
	opt := optionsOr(o)
	subs, err := p.allSubAccounts(ctx, cfg.pageSize, nil, opts)
	if err != nil {
		return nil, err
	}
	rep := &LicenseReport{Today: DateOf(cfg.now), WithinDays: cfg.withinDays}
	for i := range subs {
		line := licenseLine(&subs[i], rep.Today, cfg.withinDays)
		switch {
		case opt.License != "" && line.License != opt.License:
		case opt.ExpiringOnly && !line.State.NeedsAttention():
		case opt.Filter != nil && !opt.Filter(&line):
		default:
			rep.Customers = append(rep.Customers, line)
		}
	}
	sortLicenses(rep.Customers)
	return rep, nil
}

// licenseLine reads one customer's licence on day today.
func licenseLine(sa *SubAccount, today Date, withinDays int) CustomerLicense {
	line := CustomerLicense{SubAccount: *sa, License: sa.License, State: LicenseNoExpiry}
	if sa.ExpiresOn == nil || sa.ExpiresOn.IsZero() {
		return line
	}
	line.ExpiresOn = *sa.ExpiresOn
	line.DaysLeft = daysBetween(today, line.ExpiresOn)
	switch {
	case line.DaysLeft < 0:
		line.State = LicenseExpired
	case line.DaysLeft <= withinDays:
		line.State = LicenseExpiring
	default:
		line.State = LicenseValid
	}
	return line
}

// daysBetween counts the calendar days from a to b (negative when b is
// before a).
func daysBetween(a, b Date) int {
	return int(b.In(time.UTC).Sub(a.In(time.UTC)).Round(time.Hour) / (24 * time.Hour))
}

func sortLicenses(lines []CustomerLicense) {
	slices.SortStableFunc(lines, func(a, b CustomerLicense) int {
		if an, bn := a.ExpiresOn.IsZero(), b.ExpiresOn.IsZero(); an != bn {
			if an {
				return 1
			}
			return -1
		}
		if c := compareDates(a.ExpiresOn, b.ExpiresOn); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.Partner, b.Partner), cmp.Compare(a.SubAccount.ID, b.SubAccount.ID))
	})
}

func compareDates(a, b Date) int {
	return cmp.Or(cmp.Compare(a.Year, b.Year), cmp.Compare(a.Month, b.Month), cmp.Compare(a.Day, b.Day))
}

// LicenseTerms are a customer's licence and expiry (the zero Date: never
// expires).
type LicenseTerms struct {
	License   string
	ExpiresOn Date
}

// String reads "pro until 2026-06-30", or "pro, no expiry" ("(no
// licence)" stands for an empty licence).
func (t LicenseTerms) String() string {
	lic := t.License
	if isBlank(lic) {
		lic = "(no licence)"
	}
	if t.ExpiresOn.IsZero() {
		return lic + ", no expiry"
	}
	return lic + " until " + t.ExpiresOn.String()
}

func termsOf(sa *SubAccount) LicenseTerms {
	t := LicenseTerms{License: sa.License}
	if sa.ExpiresOn != nil {
		t.ExpiresOn = *sa.ExpiresOn
	}
	return t
}

// LicenseChange is a change of licence and/or expiry for a selection of
// customers, for ChangeLicenses. Choose the customers with exactly one of
// SubAccounts and Match, and set at least one of License, ExpiresOn and
// ClearExpiresOn.
type LicenseChange struct {
	// SubAccounts names the customers, each once.
	SubAccounts []SubAccountRef
	// Match selects the customers from the full list instead (every
	// sub-account is listed first). To change every customer, match all.
	// It is called from one goroutine.
	Match func(*SubAccount) bool
	// License is the new licence; empty leaves each licence as it is.
	License string
	// ExpiresOn is the new expiry date; the zero Date leaves each expiry as
	// it is.
	ExpiresOn Date
	// ClearExpiresOn removes the expiry (the accounts then never expire).
	ClearExpiresOn bool
}

func (ch *LicenseChange) validate() error {
	switch {
	case len(ch.SubAccounts) == 0 && ch.Match == nil:
		return invalidArg("SubAccounts", "choose the customers with SubAccounts or Match")
	case len(ch.SubAccounts) > 0 && ch.Match != nil:
		return invalidArg("Match", "set SubAccounts or Match, not both")
	case ch.License != "" && isBlank(ch.License):
		return invalidArg("License", "is blank")
	case !ch.ExpiresOn.IsZero() && ch.ClearExpiresOn:
		return invalidArg("ExpiresOn", "set ExpiresOn or ClearExpiresOn, not both")
	case !ch.ExpiresOn.IsZero() && !ch.ExpiresOn.valid():
		return invalidArg("ExpiresOn", "%04d-%02d-%02d is not a calendar date", ch.ExpiresOn.Year, int(ch.ExpiresOn.Month), ch.ExpiresOn.Day)
	case ch.License == "" && ch.ExpiresOn.IsZero() && !ch.ClearExpiresOn:
		return invalidArg("LicenseChange", "changes nothing: set License, ExpiresOn or ClearExpiresOn")
	}
	seen := make(map[SubAccountRef]bool, len(ch.SubAccounts))
	for i, ref := range ch.SubAccounts {
		if err := ref.validate(); err != nil {
			return invalidArg(fmt.Sprintf("SubAccounts[%d]", i), "%v", err)
		}
		if seen[ref] {
			return invalidArg(fmt.Sprintf("SubAccounts[%d]", i), "%s is listed twice", ref)
		}
		seen[ref] = true
	}
	return nil
}

// target returns the terms a customer with terms t should have.
func (ch *LicenseChange) target(t LicenseTerms) LicenseTerms {
	if ch.License != "" {
		t.License = ch.License
	}
	switch {
	case ch.ClearExpiresOn:
		t.ExpiresOn = Date{}
	case !ch.ExpiresOn.IsZero():
		t.ExpiresOn = ch.ExpiresOn
	}
	return t
}

// licenseUpdate is the smallest update taking from to to: only what differs is
// sent.
func licenseUpdate(from, to LicenseTerms) SubAccountUpdate {
	var u SubAccountUpdate
	if from.License != to.License {
		lic := to.License
		u.License = &lic
	}
	if from.ExpiresOn != to.ExpiresOn {
		if to.ExpiresOn.IsZero() {
			u.ClearExpiresOn = true
		} else {
			d := to.ExpiresOn
			u.ExpiresOn = &d
		}
	}
	return u
}

// LicenseChangeOptions tunes ChangeLicenses. nil is a dry run with the
// defaults.
type LicenseChangeOptions struct {
	// Confirm must be Confirmed for the changes to be written; the zero
	// value is a dry run.
	Confirm Confirmation
	// Concurrency is how many customers are worked on at once; 0 means 4.
	Concurrency int
	// PageSize is how many customers each list request asks for (with
	// Match); 0 means DefaultReportPageSize (100), at most 1000.
	PageSize int
}

// LicenseChangeOutcome is what ChangeLicenses did, or would do, for one
// customer.
type LicenseChangeOutcome string

// Licence change outcomes.
const (
	// LicenseChanged: the terms differed and were updated.
	LicenseChanged LicenseChangeOutcome = "changed"
	// LicenseWouldChange: a dry run found terms that differ; nothing was
	// written.
	LicenseWouldChange LicenseChangeOutcome = "would_change"
	// LicenseUnchanged: the terms already matched; nothing was written.
	LicenseUnchanged LicenseChangeOutcome = "unchanged"
	// LicenseChangeFailed: see the result's Err. Other customers are
	// unaffected.
	LicenseChangeFailed LicenseChangeOutcome = "failed"
)

// LicenseChangeResult is one customer's line of a LicenseChangeReport.
type LicenseChangeResult struct {
	// Ref names the customer: as given in SubAccounts, or ByAccountID for a
	// customer chosen by Match.
	Ref SubAccountRef
	// SubAccount is the customer as read before the change; nil when it
	// could not be read.
	SubAccount *SubAccount
	// Before and After are the terms before and after the change (After
	// equals Before when unchanged; in a dry run, After is what the change
	// would set).
	Before, After LicenseTerms
	Outcome       LicenseChangeOutcome
	// Err says why the customer failed. A changed result carries a
	// *DecodeError when the server accepted the update but its answer could
	// not be read in full: the change was applied.
	Err error
}

// LicenseChangeReport holds one result per chosen customer: in the order of
// LicenseChange.SubAccounts, or in the list's order with Match.
type LicenseChangeReport struct {
	// DryRun is true unless the change was Confirmed.
	DryRun  bool
	Results []LicenseChangeResult
}

// Count returns how many customers had outcome o.
func (r *LicenseChangeReport) Count(o LicenseChangeOutcome) int {
	return countWhere(r.Results, func(x *LicenseChangeResult) bool { return x.Outcome == o })
}

// Err joins the failures, one "<ref>: <error>" each, or returns nil when no
// customer failed. Each joined error unwraps to the customer's.
func (r *LicenseChangeReport) Err() error {
	var errs []error
	for _, res := range r.Results {
		if res.Outcome == LicenseChangeFailed {
			errs = append(errs, fmt.Errorf("%s: %w", res.Ref, res.Err))
		}
	}
	return errors.Join(errs...)
}

// DefaultLicenseChangeConcurrency is how many customers ChangeLicenses works
// on at once when LicenseChangeOptions.Concurrency is 0.
const DefaultLicenseChangeConcurrency = 4

// ChangeLicenses sets the licence and/or expiry of a selection of
// customers, as Peliqan's Admin > Customers edit does one at a time.
//
// It is a dry run unless o.Confirm is Confirmed: a dry run reads each
// customer and reports what would change (LicenseWouldChange) or that
// nothing would (LicenseUnchanged), and sends no write at all. A confirmed
// run reads each customer the same way, compares its current terms with
// the change, and updates only those that differ, sending only the fields
// that differ; the others are LicenseUnchanged and get no request. Run it
// twice and the second run changes nothing. Review a dry run's report, then
// confirm the same change: with the same data, the confirmed run writes to
// exactly the customers the dry run listed as LicenseWouldChange.
//
// Customers named in SubAccounts are each read with GetSubAccount; with
// Match every sub-account is listed first (a listing that fails returns
// the error before anything is written). One customer's failure is in its
// result and does not stop the others. The returned error is for bad input
// (refused before any request), a failed listing, or ctx ending (customers
// not reached by then fail with ctx's error, and the report comes back
// beside it).
//
// Updates use UpdateSubAccount: the route (PUT /api/partner/sub-accounts/{id}/)
// is inferred from Peliqan's oldest partner doc; no current source shows
// it.
func (p *PartnerClient) ChangeLicenses(ctx context.Context, ch LicenseChange, o *LicenseChangeOptions, opts ...RequestOption) (*LicenseChangeReport, error) {
	if ctx == nil {
		return nil, invalidArg("ctx", "nil context")
	}
	opt := optionsOr(o)
	apply, err := opt.Confirm.apply()
	if err != nil {
		return nil, err
	}
	if err := ch.validate(); err != nil {
		return nil, err
	}
	_, pageSize, err := reportLimits(0, opt.PageSize)
	if err != nil {
		return nil, err
	}
	conc := opt.Concurrency
	switch {
	case conc < 0:
		return nil, invalidArg("Concurrency", "must not be negative (got %d)", conc)
	case conc == 0:
		conc = DefaultLicenseChangeConcurrency
	}
	if _, err := applyCallOptions(opts); err != nil {
		return nil, err
	}

	rep := &LicenseChangeReport{DryRun: !apply}
	if ch.Match != nil {
		subs, err := p.allSubAccounts(ctx, pageSize, ch.Match, opts)
		if err != nil {
			return nil, err
		}
		rep.Results = make([]LicenseChangeResult, len(subs))
		for i := range subs {
			rep.Results[i] = LicenseChangeResult{Ref: ByAccountID(subs[i].ID), SubAccount: &subs[i]}
		}
	} else {
		rep.Results = make([]LicenseChangeResult, len(ch.SubAccounts))
		for i, ref := range ch.SubAccounts {
			rep.Results[i] = LicenseChangeResult{Ref: ref}
		}
	}
	reached := make([]bool, len(rep.Results))
	forEachIndex(ctx, len(rep.Results), conc, func(ctx context.Context, i int) {
		reached[i] = true
		p.changeLicense(ctx, &ch, apply, &rep.Results[i], opts)
	})
	if err := ctx.Err(); err != nil {
		for i := range rep.Results {
			if !reached[i] {
				rep.Results[i].Outcome, rep.Results[i].Err = LicenseChangeFailed, err
			}
		}
		return rep, err
	}
	return rep, nil
}

// changeLicense reads (unless listed), compares and, when apply, updates
// one customer.
func (p *PartnerClient) changeLicense(ctx context.Context, ch *LicenseChange, apply bool, r *LicenseChangeResult, opts []RequestOption) {
	r.Outcome = LicenseChangeFailed
	if r.SubAccount == nil {
		sa, err := p.GetSubAccount(ctx, r.Ref, opts...)
		if err != nil {
			r.Err = err
			return
		}
		r.SubAccount = sa
	}
	r.Before = termsOf(r.SubAccount)
	r.After = ch.target(r.Before)
	switch {
	case r.After == r.Before:
		r.Outcome = LicenseUnchanged
		return
	case !apply:
		r.Outcome = LicenseWouldChange
		return
	}
	_, err := p.UpdateSubAccount(ctx, r.SubAccount.ID, licenseUpdate(r.Before, r.After), opts...)
	var de *DecodeError
	switch {
	case err == nil:
		r.Outcome = LicenseChanged
	case errors.As(err, &de):
		r.Outcome, r.Err = LicenseChanged, err // applied; the answer was unreadable
	default:
		r.Err = err
	}
}
