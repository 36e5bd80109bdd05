package peliqan

import (
	"context"
	"sync"
)

// Confirmation is the explicit go-ahead a partner operation that writes to
// many customers needs (ChangeLicenses, CloseInactiveCustomers). The zero
// value means a dry run: everything is read and the report says what would
// be done, but nothing is written. Only Confirmed applies the changes; any
// other value is refused with ErrInvalidArgument before any request, so a
// typo never turns into a write.
type Confirmation string

// Confirmed is the only Confirmation that lets an operation write.
const Confirmed Confirmation = "confirmed"

// apply reports whether c asks for the changes to be made.
func (c Confirmation) apply() (bool, error) {
	switch c {
	case "":
		return false, nil
	case Confirmed:
		return true, nil
	}
	return false, invalidArg("Confirm", "must be empty (a dry run) or peliqan.Confirmed (got %q)", string(c))
}

// Defaults of the partner reports.
const (
	// DefaultReportConcurrency is how many customers a report reads at once
	// when its options leave Concurrency at 0.
	DefaultReportConcurrency = 8
	// DefaultReportPageSize is how many customers each sub-account list
	// request of a report asks for when its options leave PageSize at 0.
	DefaultReportPageSize = 100
)

// reportLimits checks and defaults a report's Concurrency and PageSize.
func reportLimits(concurrency, pageSize int) (int, int, error) {
	switch {
	case concurrency < 0:
		return 0, 0, invalidArg("Concurrency", "must not be negative (got %d)", concurrency)
	case pageSize < 0 || pageSize > 1000:
		return 0, 0, invalidArg("PageSize", "must be 0..1000 (got %d)", pageSize)
	}
	if concurrency == 0 {
		concurrency = DefaultReportConcurrency
	}
	if pageSize == 0 {
		pageSize = DefaultReportPageSize
	}
	return concurrency, pageSize, nil
}

// allSubAccounts lists every customer, each once (pages shifting while
// accounts are added can repeat one), in the API's order. A listing that
// fails part way returns the error and nothing else: a report or a change
// never works from half a list.
func (p *PartnerClient) allSubAccounts(ctx context.Context, pageSize int, keep func(*SubAccount) bool, opts []RequestOption) ([]SubAccount, error) {
	var out []SubAccount
	seen := make(map[ID]bool)
	for sa, err := range p.SubAccounts(ctx, &ListOptions{PerPage: pageSize}, opts...) {
		if err != nil {
			return nil, err
		}
		if seen[sa.ID] && sa.ID != 0 {
			continue
		}
		seen[sa.ID] = true
		if keep == nil || keep(sa) {
			out = append(out, *sa)
		}
	}
	return out, nil
}

// forEachIndex calls fn(ctx, i) for i in [0, n), at most concurrency at a
// time, and returns when every call it started has returned. Once ctx ends
// no further call starts; fn sees ctx and reports its own failures.
func forEachIndex(ctx context.Context, n, concurrency int, fn func(ctx context.Context, i int)) {
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(ctx, i)
		}()
	}
	wg.Wait()
}

// countWhere counts the items that match: every report's Count.
func countWhere[T any](items []T, match func(*T) bool) int {
	n := 0
	for i := range items {
		if match(&items[i]) {
			n++
		}
	}
	return n
}
