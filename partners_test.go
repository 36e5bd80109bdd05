package peliqan_test

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// regionFixture: three customers of one partner account, each with a
// connection (the third one dead) and a licence.
func regionFixture(prefix string, expiries ...peliqan.Date) peliqantest.Fixture {
	f := peliqantest.Fixture{}
	for i, name := range []string{"a", "b", "c"} {
		sa := peliqantest.SubAccountFixture{ExternalID: prefix + "-" + name, License: "pro",
			Connections: []peliqantest.ConnectionFixture{{Type: "pipedrive"}}}
		if i < len(expiries) {
			sa.ExpiresOn = expiries[i]
		}
		if i == 2 {
			sa.Connections[0].HealthStatus, sa.Connections[0].SyncOutcome = "ERROR", peliqantest.OutcomeError
		}
		f.SubAccounts = append(f.SubAccounts, sa)
	}
	return f
}

// twoRegions starts two fakes on one manual clock, "eu" and "us", and a
// set over their partner clients.
func twoRegions(t *testing.T, opts ...peliqan.PartnerSetOption) (set *peliqan.PartnerSet, eu, us *peliqantest.Fake, clk *peliqantest.ManualClock) {
	t.Helper()
	clk = peliqantest.NewManualClock(licenseT0)
	d := func(m time.Month, day int) peliqan.Date { return peliqan.NewDate(2026, m, day) }
	eu = peliqantest.NewFake(t, peliqantest.WithClock(clk.Now), peliqantest.WithFixture(regionFixture("eu", d(time.March, 20), d(time.March, 5))))
	us = peliqantest.NewFake(t, peliqantest.WithClock(clk.Now), peliqantest.WithFixture(regionFixture("us", d(time.March, 10))))
	pe, err := eu.PartnerClient()
	require.NoError(t, err)
	pu, err := us.PartnerClient()
	require.NoError(t, err)
	set, err = peliqan.NewPartnerSet(map[string]*peliqan.PartnerClient{"eu": pe, "us": pu}, opts...)
	require.NoError(t, err)
	return set, eu, us, clk
}

// failAlways makes every sub-account listing of f answer 503.
func failAlways(f *peliqantest.Fake) {
	f.FailNext(peliqan.RouteListSubAccounts, 1_000_000, peliqantest.StatusFault(503, ""))
}

func TestNewPartnerSetValidates(t *testing.T) {
	t.Parallel()
	p1, err := peliqan.NewPartnerClient("tok-1", peliqan.WithBaseURL("https://api.test"))
	require.NoError(t, err)
	p2, err := peliqan.NewPartnerClient("tok-2", peliqan.WithBaseURL("https://api.test"))
	require.NoError(t, err)

	set, err := peliqan.NewPartnerSet(map[string]*peliqan.PartnerClient{"us": p2, "eu": p1})
	require.NoError(t, err)
	assert.Equal(t, []string{"eu", "us"}, set.Names())
	got, ok := set.Partner("eu")
	assert.True(t, ok)
	assert.Same(t, p1, got)
	_, ok = set.Partner("apac")
	assert.False(t, ok)

	long := string(make([]byte, 101))
	for name, in := range map[string]map[string]*peliqan.PartnerClient{
		"empty set":     {},
		"empty name":    {"": p1},
		"spaces around": {" eu": p1},
		"control char":  {"eu\n": p1, "us": p2},
		"too long":      {long: p1},
		"nil client":    {"eu": nil},
		"same client":   {"eu": p1, "eu-copy": p1},
	} {
		_, err := peliqan.NewPartnerSet(in)
		assert.ErrorIs(t, err, peliqan.ErrInvalidArgument, name)
	}
	_, err = peliqan.NewPartnerSet(map[string]*peliqan.PartnerClient{"eu": p1}, peliqan.PartnerSetConcurrency(0))
	assert.ErrorIs(t, err, peliqan.ErrInvalidArgument)
	_, err = peliqan.NewPartnerSet(map[string]*peliqan.PartnerClient{"eu": p1}, nil, peliqan.PartnerSetConcurrency(1))
	assert.NoError(t, err)
}

// TestPartnerSetOnePartnerFailing: "us" cannot list its customers (503 on
// every attempt). Every operation still returns all of "eu", each line
// tagged "eu", and reports the failure as a *PartnerError naming "us".
func TestPartnerSetOnePartnerFailing(t *testing.T) {
	t.Parallel()
	set, eu, us, clk := twoRegions(t)
	failAlways(us)
	ctx := context.Background()
	usFailure := func(t *testing.T, err error) {
		t.Helper()
		var pe *peliqan.PartnerError
		require.True(t, errors.As(err, &pe), "%v", err)
		assert.Equal(t, "us", pe.Partner)
		assert.ErrorIs(t, err, peliqan.ErrServer)
		assert.Contains(t, err.Error(), `partner "us"`)
	}

	t.Run("SubAccounts", func(t *testing.T) {
		var exts []string
		var errs []error
		for it, err := range set.SubAccounts(ctx, nil) {
			if err != nil {
				errs = append(errs, err)
				continue
			}
			assert.Equal(t, "eu", it.Partner)
			exts = append(exts, it.SubAccount.ExternalID)
		}
		assert.Equal(t, []string{"eu-a", "eu-b", "eu-c"}, exts)
		require.Len(t, errs, 1)
		usFailure(t, errs[0])
	})

	t.Run("ConnectionHealth", func(t *testing.T) {
		verdicts := map[string]peliqan.Verdict{}
		var errs []error
		for r, err := range set.ConnectionHealth(ctx, nil) {
			if err != nil {
				errs = append(errs, err)
				continue
			}
			assert.Equal(t, "eu", r.Partner)
			verdicts[r.Report.SubAccount.ExternalID] = r.Report.Verdict
		}
		assert.Equal(t, map[string]peliqan.Verdict{"eu-a": peliqan.VerdictHealthy, "eu-b": peliqan.VerdictHealthy,
			"eu-c": peliqan.VerdictFailed}, verdicts)
		require.Len(t, errs, 1)
		usFailure(t, errs[0])
	})

	t.Run("LicenseReport", func(t *testing.T) {
		rep, err := set.LicenseReport(ctx, &peliqan.LicenseReportOptions{Now: clk.Now})
		require.NoError(t, err)
		var rows []string
		for _, c := range rep.Customers {
			rows = append(rows, c.Partner+"/"+c.SubAccount.ExternalID+"/"+string(c.State))
		}
		assert.Equal(t, []string{"eu/eu-b/expiring", "eu/eu-a/expiring", "eu/eu-c/no_expiry"}, rows)
		require.Len(t, rep.Failures, 1)
		usFailure(t, rep.Failures[0])
		usFailure(t, rep.Err())
	})

	t.Run("InactiveCustomers", func(t *testing.T) {
		rep, err := set.InactiveCustomers(ctx, &peliqan.InactivityOptions{Now: func() time.Time { return clk.Now().Add(100 * day) }})
		require.NoError(t, err)
		var rows []string
		for _, c := range rep.Customers {
			rows = append(rows, c.Partner+"/"+c.SubAccount.ExternalID+"/"+string(c.Status))
		}
		assert.Equal(t, []string{"eu/eu-a/inactive", "eu/eu-b/inactive", "eu/eu-c/inactive"}, rows)
		require.Len(t, rep.Failures, 1)
		usFailure(t, rep.Failures[0])
	})
	assert.Empty(t, writes(eu))
	assert.Empty(t, writes(us))
}

// TestPartnerSetMergesReports: with both partners up, one report sorts
// both partners' customers as one, every partner measured from the same
// instant.
func TestPartnerSetMergesReports(t *testing.T) {
	t.Parallel()
	set, _, _, clk := twoRegions(t)
	ctx := context.Background()
	var calls int
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); calls++; return clk.Now() }

	rep, err := set.LicenseReport(ctx, &peliqan.LicenseReportOptions{Now: now})
	require.NoError(t, err)
	assert.Equal(t, 1, calls, "Now is read once for every partner")
	var rows []string
	for _, c := range rep.Customers {
		rows = append(rows, c.Partner+"/"+c.SubAccount.ExternalID)
	}
	assert.Equal(t, []string{"eu/eu-b", "us/us-a", "eu/eu-a", "eu/eu-c", "us/us-b", "us/us-c"}, rows,
		"by expiry across partners; no expiry last, by partner then id")
	assert.Empty(t, rep.Failures)
	assert.NoError(t, rep.Err())

	act, err := set.ActivityReport(ctx, &peliqan.InactivityOptions{Now: now})
	require.NoError(t, err)
	assert.Len(t, act.Customers, 6)
	assert.Equal(t, 6, act.Count(peliqan.ActivityActive))
	assert.Equal(t, 2, calls)

	var got []string
	for it, err := range set.SubAccounts(ctx, &peliqan.ListOptions{PerPage: 2}) {
		require.NoError(t, err)
		got = append(got, it.Partner+"/"+it.SubAccount.ExternalID)
	}
	sort.Strings(got)
	assert.Equal(t, []string{"eu/eu-a", "eu/eu-b", "eu/eu-c", "us/us-a", "us/us-b", "us/us-c"}, got)
}

// TestPartnerSetBoundsConcurrency: at most PartnerSetConcurrency partners
// are worked on at once (each lists one page at a time here, slowed down
// so that they overlap when allowed to).
func TestPartnerSetBoundsConcurrency(t *testing.T) {
	t.Parallel()
	for _, limit := range []int{1, 2} {
		var mu sync.Mutex
		inFlight, peak := 0, 0
		hook := peliqan.CallHook{
			Start: func(ctx context.Context, c peliqan.CallInfo) context.Context {
				mu.Lock()
				defer mu.Unlock()
				inFlight++
				peak = max(peak, inFlight)
				return ctx
			},
			End: func(context.Context, peliqan.CallInfo, peliqan.CallResult) { mu.Lock(); inFlight--; mu.Unlock() },
		}
		clients := map[string]*peliqan.PartnerClient{}
		for _, name := range []string{"a", "b", "c"} {
			f := peliqantest.NewFake(t, peliqantest.WithFixture(regionFixture(name)))
			f.AddFaultRule(peliqantest.FaultRule{Route: peliqan.RouteListSubAccounts, Probability: 1, Fault: peliqantest.LatencyFault(40 * time.Millisecond)})
			p, err := f.PartnerClient(peliqan.WithCallHook(hook))
			require.NoError(t, err)
			clients[name] = p
		}
		set, err := peliqan.NewPartnerSet(clients, peliqan.PartnerSetConcurrency(limit))
		require.NoError(t, err)
		n := 0
		for _, err := range set.SubAccounts(context.Background(), &peliqan.ListOptions{PerPage: 1}) {
			require.NoError(t, err)
			n++
		}
		assert.Equal(t, 9, n)
		assert.LessOrEqual(t, peak, limit, "limit %d", limit)
		if limit > 1 {
			assert.Greater(t, peak, 1, "partners do overlap when allowed")
		}
	}
}

// TestPartnerSetContextEnds: a cancelled context is yielded once, last, by
// the iterators, and returned by the reports.
func TestPartnerSetContextEnds(t *testing.T) {
	t.Parallel()
	set, _, _, clk := twoRegions(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var errs []error
	for it, err := range set.SubAccounts(ctx, nil) {
		require.Nil(t, it)
		errs = append(errs, err)
	}
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], context.Canceled)
	_, err := set.LicenseReport(ctx, &peliqan.LicenseReportOptions{Now: clk.Now})
	assert.ErrorIs(t, err, context.Canceled)
	_, err = set.InactiveCustomers(ctx, nil)
	assert.ErrorIs(t, err, context.Canceled)

	// Bad options are refused before anything runs.
	_, err = set.LicenseReport(context.Background(), &peliqan.LicenseReportOptions{WithinDays: -1})
	assert.ErrorIs(t, err, peliqan.ErrInvalidArgument)
	_, err = set.ActivityReport(context.Background(), &peliqan.InactivityOptions{Concurrency: -1})
	assert.ErrorIs(t, err, peliqan.ErrInvalidArgument)
}

// TestLeakPartnerSetBrokenEarly: breaking out of the set's iterators stops
// every partner's work; no goroutine outlives the loop. Not parallel (see
// leaks_test.go).
func TestLeakPartnerSetBrokenEarly(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	var fakes []*peliqantest.Fake
	var trs []*http.Transport
	clients := map[string]*peliqan.PartnerClient{}
	for _, name := range []string{"a", "b", "c", "d"} {
		f := peliqantest.NewFake(t, peliqantest.WithFixture(peliqantest.Generate(int64(len(name)+len(fakes)), 30, 2, 1)))
		tr := http.DefaultTransport.(*http.Transport).Clone()
		p, err := f.PartnerClient(peliqan.WithHTTPClient(&http.Client{Transport: tr}))
		require.NoError(t, err)
		fakes, trs, clients[name] = append(fakes, f), append(trs, tr), p
	}
	set, err := peliqan.NewPartnerSet(clients, peliqan.PartnerSetConcurrency(2))
	require.NoError(t, err)
	ctx := context.Background()
	for it, err := range set.SubAccounts(ctx, &peliqan.ListOptions{PerPage: 5}) {
		require.NoError(t, err)
		require.NotNil(t, it.SubAccount)
		break
	}
	n := 0
	for r, err := range set.ConnectionHealth(ctx, &peliqan.HealthScanOptions{Concurrency: 4, PageSize: 5}) {
		require.NoError(t, err)
		require.NotEmpty(t, r.Partner)
		if n++; n == 3 {
			break
		}
	}
	for _, tr := range trs {
		tr.CloseIdleConnections()
	}
	for _, f := range fakes {
		f.Close()
	}
	goleak.VerifyNone(t, ignore)
}
