package peliqan

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
)

// ForEachOption changes how ForEachSubAccount runs. A bad value is
// returned by ForEachSubAccount as ErrInvalidArgument before any request.
type ForEachOption func(*forEachConfig) error

type forEachConfig struct {
	failFast bool
	perPage  int
	reqOpts  []RequestOption
}

// FailFast makes ForEachSubAccount stop at the first failure: the context
// given to running calls is cancelled, no further customer is started, and
// that first failure is returned.
func FailFast() ForEachOption {
	return func(c *forEachConfig) error { c.failFast = true; return nil }
}

// ForEachPageSize sets how many sub-accounts each list request asks for
// (per_page); the default is the server's (10). It must be 1..1000.
func ForEachPageSize(n int) ForEachOption {
	return func(c *forEachConfig) error {
		if n < 1 || n > 1000 {
			return invalidArg("ForEachPageSize", "must be 1..1000 (got %d)", n)
		}
		c.perPage = n
		return nil
	}
}

// ForEachRequestOptions applies opts to the list requests ForEachSubAccount
// sends (not to the calls fn makes).
func ForEachRequestOptions(opts ...RequestOption) ForEachOption {
	return func(c *forEachConfig) error {
		if _, err := applyCallOptions(opts); err != nil {
			return err
		}
		c.reqOpts = append(c.reqOpts, opts...)
		return nil
	}
}

// SubAccountError is the failure of fn for one customer in
// ForEachSubAccount. It unwraps to fn's error, so errors.Is and errors.As
// see through it.
type SubAccountError struct {
	ID         ID
	ExternalID string
	Err        error
}

// Error names the customer by id and external_id, then gives fn's error.
func (e *SubAccountError) Error() string {
	return "peliqan: sub-account " + e.ID.String() + " (external_id " + strconv.Quote(e.ExternalID) + "): " + errString(e.Err)
}

// Unwrap returns fn's error.
func (e *SubAccountError) Unwrap() error { return e.Err }

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// ForEachSubAccount pages through all your sub-accounts and calls fn for
// each, at most concurrency at a time, with the customer and its tenant
// client (from SubAccount: the identity token is fetched on first use and
// cached). Pages are fetched lazily, as workers free up, so besides a set of
// the ids seen, memory stays at about one page however many customers you
// have. A customer listed twice (pages shifting while accounts are added) is
// processed once.
//
// By default every customer is processed and the result is errors.Join of
// one *SubAccountError per failed customer, sorted by id, plus the list
// error if listing stopped early; nil when all succeeded. With FailFast the
// first failure cancels the rest and is returned alone.
//
// When ctx ends, no new customer is started, running calls see their
// context cancelled, and once every goroutine it started has returned
// ForEachSubAccount returns ctx.Err() itself (err == context.Canceled holds),
// or, when customers also failed for other reasons, ctx.Err() joined with
// those failures. concurrency < 1 is refused with ErrInvalidArgument.
func (p *PartnerClient) ForEachSubAccount(ctx context.Context, concurrency int,
	fn func(ctx context.Context, sa *SubAccount, t *SubAccountClient) error, opts ...ForEachOption) error {
	switch {
	case ctx == nil:
		return invalidArg("ctx", "nil context")
	case concurrency < 1:
		return invalidArg("concurrency", "must be at least 1 (got %d)", concurrency)
	case fn == nil:
		return invalidArg("fn", "is nil")
	}
	var cfg forEachConfig
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return err
		}
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	// A semaphore: a channel of empty structs allocates no buffer, whatever
	// its capacity.
	sem := make(chan struct{}, concurrency)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		fails []*SubAccountError
		first error
	)
	fail := func(e *SubAccountError) {
		mu.Lock()
		defer mu.Unlock()
		fails = append(fails, e)
		if cfg.failFast && first == nil {
			first = e
			cancel()
		}
	}
	seen := make(map[ID]struct{})
	var listErr error
	for sa, err := range p.SubAccounts(runCtx, &ListOptions{PerPage: cfg.perPage}, cfg.reqOpts...) {
		if err != nil {
			listErr = err
			break
		}
		if _, dup := seen[sa.ID]; dup && sa.ID != 0 {
			continue
		}
		seen[sa.ID] = struct{}{}
		select {
		case sem <- struct{}{}:
		case <-runCtx.Done():
		}
		if runCtx.Err() != nil {
			break // ended or failed fast: start nothing more
		}
		s := sa
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if runCtx.Err() != nil {
				return
			}
			t, err := p.SubAccount(ByAccountID(s.ID))
			if err == nil {
				err = fn(runCtx, s, t)
			}
			if err != nil {
				fail(&SubAccountError{ID: s.ID, ExternalID: s.ExternalID, Err: err})
			}
		}()
	}
	wg.Wait()

	if first != nil {
		return first
	}
	slices.SortStableFunc(fails, func(a, b *SubAccountError) int { return cmp.Compare(a.ID, b.ID) })
	if cerr := ctx.Err(); cerr != nil {
		errs := []error{cerr}
		for _, f := range fails {
			if !isContextErr(f.Err) {
				errs = append(errs, f)
			}
		}
		if len(errs) == 1 {
			return cerr // bare, so err == context.Canceled holds
		}
		return errors.Join(errs...)
	}
	errs := make([]error, 0, len(fails)+1)
	for _, f := range fails {
		errs = append(errs, f)
	}
	if listErr != nil {
		errs = append(errs, fmt.Errorf("peliqan: listing sub-accounts stopped: %w", listErr))
	}
	return errors.Join(errs...)
}
