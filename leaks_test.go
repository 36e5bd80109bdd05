package peliqan_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// Goroutine-leak checks. goleak sees the whole process, so these tests are
// not parallel: Go runs every sequential top-level test before releasing
// the parallel ones, and each check ignores the goroutines that existed
// when it started (the paused parallel tests among them).

// leakFixture: 40 customers with one Pipedrive connection each; the first
// has a contacts table of a million generated rows.
func leakFixture() peliqantest.Fixture {
	f := peliqantest.Fixture{}
	for i := range 40 {
		sa := peliqantest.SubAccountFixture{ExternalID: fmt.Sprintf("leak%02d", i),
			Connections: []peliqantest.ConnectionFixture{{Type: "pipedrive"}}}
		if i == 0 {
			sa.Connections[0].Tables = []peliqantest.TableFixture{{Name: "big", Fields: []peliqantest.FieldFixture{
				{Name: "name", Type: "text"}, {Name: "n", Type: "number"}}, GeneratedRows: 1_000_000}}
		}
		f.SubAccounts = append(f.SubAccounts, sa)
	}
	return f
}

type leakEnv struct {
	fake *peliqantest.Fake
	p    *peliqan.PartnerClient
	t    *peliqan.SubAccountClient // the first customer
	sd   peliqantest.SeededSubAccount
}

// noLeak runs body against a fresh fake and clients, closes them, and
// fails if any goroutine started meanwhile is still alive.
func noLeak(t *testing.T, body func(t *testing.T, e *leakEnv), fakeOpts ...peliqantest.Option) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	fake := peliqantest.NewFake(t, append([]peliqantest.Option{peliqantest.WithFixture(leakFixture())}, fakeOpts...)...)
	opts := []peliqan.Option{peliqan.WithBaseURL(fake.URL()), peliqan.WithHTTPClient(&http.Client{Transport: tr}),
		peliqan.WithRetryPolicy(zeroWait)}
	p, err := peliqan.NewPartnerClient(fake.PartnerToken(), opts...)
	require.NoError(t, err)
	sd := fake.Seeded().SubAccounts[0]
	tok, err := fake.TenantToken(sd.ID, false)
	require.NoError(t, err)
	tc, err := peliqan.NewSubAccountClient(tok, opts...)
	require.NoError(t, err)

	body(t, &leakEnv{fake: fake, p: p, t: tc, sd: sd})

	tr.CloseIdleConnections()
	fake.Close()
	goleak.VerifyNone(t, ignore)
}

func TestLeakIteratorsBrokenEarly(t *testing.T) {
	noLeak(t, func(t *testing.T, e *leakEnv) {
		ctx := context.Background()
		n := 0
		for sa, err := range e.p.SubAccounts(ctx, &peliqan.ListOptions{PerPage: 5}) {
			require.NoError(t, err)
			require.NotNil(t, sa)
			if n++; n == 7 { // mid second page
				break
			}
		}
		_, err := e.t.SyncServer(ctx, e.sd.Connections[0].ID, nil)
		require.NoError(t, err)
		for _, err := range e.t.ServerRuns(ctx, e.sd.Connections[0].ID, nil) {
			require.NoError(t, err)
			break
		}
		for r, err := range e.p.ConnectionHealth(ctx, &peliqan.HealthScanOptions{Concurrency: 8, PageSize: 5}) {
			require.NoError(t, err)
			require.NotNil(t, r.Server)
			break // scans are in flight in other goroutines
		}
	})
}

func TestLeakRowsBrokenEarly(t *testing.T) {
	noLeak(t, func(t *testing.T, e *leakEnv) {
		ctx := context.Background()
		table := e.sd.Connections[0].Tables[0]
		for _, size := range []int{1000, 7} {
			n := 0
			for row, err := range e.t.Rows(ctx, table, &peliqan.RowsOptions{Size: size}) {
				require.NoError(t, err)
				require.NotNil(t, row)
				if n++; n == 1500 { // mid-page of a million-row table
					break
				}
			}
		}
		n := 0
		for _, err := range peliqan.RowsAs[struct{ Name string }](ctx, e.t, table, &peliqan.RowsOptions{Size: 100}) {
			require.NoError(t, err)
			if n++; n == 150 {
				break
			}
		}
	})
}

func TestLeakRowsCancelledMidStall(t *testing.T) {
	noLeak(t, func(t *testing.T, e *leakEnv) {
		e.fake.FailNext(peliqan.RouteListRows, 1, peliqantest.LatencyFault(time.Minute))
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		var last error
		for _, err := range e.t.Rows(ctx, e.sd.Connections[0].Tables[0], nil) {
			last = err
		}
		assert.ErrorIs(t, last, context.DeadlineExceeded)
	})
}

func TestLeakWaitForSyncCancelled(t *testing.T) {
	noLeak(t, func(t *testing.T, e *leakEnv) {
		ctx := context.Background()
		res, err := e.t.SyncServer(ctx, e.sd.Connections[0].ID, nil)
		require.NoError(t, err)
		// Client-side polling, cancelled between polls.
		cctx, cancel := context.WithTimeout(ctx, 120*time.Millisecond)
		_, err = e.t.WaitForSync(cctx, res, &peliqan.WaitOptions{Schedule: peliqan.FixedSchedule(10 * time.Millisecond)})
		cancel()
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		// Server-side wait (the fake holds the status request), cancelled
		// while the request is held.
		cctx, cancel = context.WithTimeout(ctx, 120*time.Millisecond)
		_, err = e.t.WaitForSync(cctx, res, &peliqan.WaitOptions{ServerTimeout: 30 * time.Second})
		cancel()
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		// Script runs too.
		run, err := e.t.RunScript(ctx, mustScript(t, e))
		require.NoError(t, err)
		cctx, cancel = context.WithTimeout(ctx, 80*time.Millisecond)
		_, err = e.t.WaitForScriptRun(cctx, run.ID, &peliqan.ScriptWaitOptions{Schedule: peliqan.FixedSchedule(5 * time.Millisecond)})
		cancel()
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	}, peliqantest.WithSyncDuration(time.Hour), peliqantest.WithScriptRunDuration(time.Hour))
}

func mustScript(t *testing.T, e *leakEnv) peliqan.ID {
	t.Helper()
	groups, err := e.t.ListGroups(context.Background())
	require.NoError(t, err)
	require.NotEmpty(t, groups)
	sc, err := e.t.CreateScript(context.Background(), peliqan.ScriptCreate{Name: "leak", Code: "print(1)", GroupID: groups[0].ID})
	require.NoError(t, err)
	return sc.ID
}

func TestLeakFanOutCancelled(t *testing.T) {
	noLeak(t, func(t *testing.T, e *leakEnv) {
		// ForEachSubAccount: fn blocks until cancelled.
		ctx, cancel := context.WithCancel(context.Background())
		var started, finished atomic.Int32
		err := e.p.ForEachSubAccount(ctx, 8, func(ctx context.Context, _ *peliqan.SubAccount, tc *peliqan.SubAccountClient) error {
			defer finished.Add(1)
			if started.Add(1) == 5 {
				cancel()
			}
			if _, err := tc.ListServers(ctx); err != nil {
				return err
			}
			<-ctx.Done()
			return ctx.Err()
		}, peliqan.ForEachPageSize(4))
		cancel()
		assert.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, started.Load(), finished.Load(), "every started fn returned before ForEachSubAccount did")
		assert.Less(t, started.Load(), int32(40))

		// ConnectionHealth, cancelled from outside while scans are slow.
		e.fake.AddFaultRule(peliqantest.FaultRule{Route: peliqan.RouteListServers, Probability: 1,
			Fault: peliqantest.LatencyFault(time.Minute)})
		ctx, cancel = context.WithTimeout(context.Background(), 150*time.Millisecond)
		var scanErr error
		for _, err := range e.p.ConnectionHealth(ctx, &peliqan.HealthScanOptions{Concurrency: 8}) {
			if err != nil {
				scanErr = err
			}
		}
		cancel()
		assert.ErrorIs(t, scanErr, context.DeadlineExceeded)

		// PublishScript, cancelled while customers are in flight.
		var refs []peliqan.SubAccountRef
		for _, sa := range e.fake.Seeded().SubAccounts {
			refs = append(refs, peliqan.ByAccountID(sa.ID))
		}
		e.fake.ClearFaults()
		e.fake.AddFaultRule(peliqantest.FaultRule{Route: peliqan.RouteListGroups, Probability: 1,
			Fault: peliqantest.LatencyFault(time.Minute)})
		ctx, cancel = context.WithTimeout(context.Background(), 150*time.Millisecond)
		rep, err := e.p.PublishScript(ctx, peliqan.ScriptTemplate{Name: "x", Code: "y"}, &peliqan.PublishOptions{SubAccounts: refs, Concurrency: 6})
		cancel()
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		require.NotNil(t, rep)
		assert.Equal(t, len(refs), rep.Count(peliqan.PublishFailed))
		for _, r := range rep.Results {
			assert.True(t, errors.Is(r.Err, context.DeadlineExceeded) || errors.Is(r.Err, context.Canceled), "%v", r.Err)
		}
	})
}

// TestLeakTokenFlightAbandoned: many goroutines wait on one identity-token
// fetch that the server holds; they all give up; nothing stays behind.
func TestLeakTokenFlightAbandoned(t *testing.T) {
	noLeak(t, func(t *testing.T, e *leakEnv) {
		e.fake.FailNext(peliqan.RouteSubAccountToken, 1, peliqantest.LatencyFault(time.Minute))
		tc, err := e.p.SubAccount(peliqan.ByAccountID(e.sd.ID))
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		errs := make(chan error, 50)
		for range 50 {
			go func() {
				_, err := tc.ListServers(ctx)
				errs <- err
			}()
		}
		for range 50 {
			assert.ErrorIs(t, <-errs, context.DeadlineExceeded)
		}
		assert.Equal(t, 1, e.fake.Count(peliqan.RouteSubAccountToken), "one fetch for 50 callers")
	})
}
