package peliqan_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// The load test: about 20,000 requests through the fan-out helpers at
// concurrency 64 against the fake with random latency. It is not parallel,
// so the goroutine count it samples is its own.
//
// Size: 1,000 customers (20,020 requests) by default; 100 customers (2,020
// requests) with -short; PELIQAN_LOAD_CUSTOMERS=n overrides both.

const loadConcurrency = 64

// loadCallsPerCustomer is what fn sends per customer in the
// ForEachSubAccount phase: ListServers then GetServer 15 times.
const loadCallsPerCustomer = 16

func loadCustomers(t *testing.T) int {
	if v := os.Getenv("PELIQAN_LOAD_CUSTOMERS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "PELIQAN_LOAD_CUSTOMERS")
		require.Positive(t, n)
		return n
	}
	if testing.Short() {
		return 100
	}
	return 1000
}

// peakGoroutines samples runtime.NumGoroutine every 500 µs until stop.
func peakGoroutines() (stop func() int) {
	var peak atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(500 * time.Microsecond)
		defer tk.Stop()
		for {
			if n := int64(runtime.NumGoroutine()); n > peak.Load() {
				peak.Store(n)
			}
			select {
			case <-done:
				return
			case <-tk.C:
			}
		}
	}()
	return func() int { close(done); wg.Wait(); return int(peak.Load()) }
}

func TestLoadFanOut(t *testing.T) {
	n := loadCustomers(t)
	fix := peliqantest.Fixture{}
	for i := range n {
		fix.SubAccounts = append(fix.SubAccounts, peliqantest.SubAccountFixture{ExternalID: fmt.Sprintf("load%05d", i),
			Connections: []peliqantest.ConnectionFixture{{Type: "pipedrive"}}})
	}
	fake := peliqantest.NewFake(t, peliqantest.WithFixture(fix), peliqantest.WithRecordLimit(n*loadCallsPerCustomer+10*n),
		peliqantest.WithFaultSeed(20000))
	// Random latency: 0, 1, 2 or 5 ms (mean about 1.4 ms), drawn from the
	// fake's seeded source.
	for _, r := range []peliqantest.FaultRule{
		{Probability: 0.30, Fault: peliqantest.LatencyFault(time.Millisecond)},
		{Probability: 0.25, Fault: peliqantest.LatencyFault(2 * time.Millisecond)},
		{Probability: 0.15, Fault: peliqantest.LatencyFault(5 * time.Millisecond)},
	} {
		fake.AddFaultRule(r)
	}
	serverOf := map[peliqan.ID]peliqan.ID{}
	for _, sa := range fake.Seeded().SubAccounts {
		serverOf[sa.ID] = sa.Connections[0].ID
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxConnsPerHost, tr.MaxIdleConnsPerHost = loadConcurrency, loadConcurrency
	defer tr.CloseIdleConnections()
	newPartner := func() *peliqan.PartnerClient {
		p, err := fake.PartnerClient(peliqan.WithHTTPClient(&http.Client{Transport: tr}), peliqan.WithRetryPolicy(zeroWait))
		require.NoError(t, err)
		return p
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	runtime.GC()
	base := runtime.NumGoroutine()
	stopSampling := peakGoroutines()
	start := time.Now()

	// Phase 1: ForEachSubAccount, every call tagged with a unique sequence
	// number the fake records.
	var (
		seq              atomic.Int64
		inFlight, maxFly atomic.Int64
		mu               sync.Mutex
		visits           = map[peliqan.ID]int{}
	)
	err := newPartner().ForEachSubAccount(ctx, loadConcurrency, func(ctx context.Context, sa *peliqan.SubAccount, tc *peliqan.SubAccountClient) error {
		f := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := maxFly.Load(); f > m && !maxFly.CompareAndSwap(m, f); m = maxFly.Load() {
		}
		mu.Lock()
		visits[sa.ID]++
		mu.Unlock()
		tag := func() peliqan.RequestOption {
			return peliqan.WithHeader("X-Load-Seq", strconv.FormatInt(seq.Add(1), 10))
		}
		if _, err := tc.ListServers(ctx, tag()); err != nil {
			return err
		}
		for range loadCallsPerCustomer - 1 {
			if _, err := tc.GetServer(ctx, serverOf[sa.ID], tag()); err != nil {
				return err
			}
		}
		return nil
	}, peliqan.ForEachPageSize(100))
	require.NoError(t, err)
	phase1 := time.Since(start)

	// Phase 2: ConnectionHealth over the same customers (a fresh partner
	// client, so identity tokens are fetched again).
	reports := map[peliqan.ID]int{}
	for r, err := range newPartner().ConnectionHealth(ctx, &peliqan.HealthScanOptions{Concurrency: loadConcurrency}) {
		require.NoError(t, err)
		assert.NotEqual(t, peliqan.VerdictScanFailed, r.Verdict, "%v", r.Err)
		reports[r.SubAccount.ID]++
	}
	wall := time.Since(start)
	peak := stopSampling()

	// Every customer once per phase.
	assert.Len(t, visits, n)
	assert.Len(t, reports, n)
	for id := range serverOf {
		assert.Equal(t, 1, visits[id], "customer %d visited once", id)
		assert.Equal(t, 1, reports[id], "customer %d reported once", id)
	}
	// Every tagged request reached the server exactly once.
	tags := map[string]int{}
	for _, r := range fake.Requests() {
		if v := r.Header.Get("X-Load-Seq"); v != "" {
			tags[v]++
		}
	}
	sent := seq.Load()
	assert.Equal(t, int64(n*loadCallsPerCustomer), sent)
	assert.Len(t, tags, int(sent), "no tagged request lost")
	dups := 0
	for _, c := range tags {
		if c != 1 {
			dups++
		}
	}
	assert.Zero(t, dups, "no tagged request duplicated")

	pages := n/100 + 1
	if n%100 != 0 {
		pages = (n + 99) / 100
	}
	want := map[string]int{
		peliqan.RouteSubAccountToken: 2 * n,
		peliqan.RouteListServers:     2 * n,
		peliqan.RouteGetServer:       n * (loadCallsPerCustomer - 1),
		peliqan.RouteListServerRuns:  n,
	}
	total := 0
	for route, w := range want {
		assert.Equal(t, w, fake.Count(route), route)
		total += fake.Count(route)
	}
	lists := fake.Count(peliqan.RouteListSubAccounts)
	total += lists
	assert.LessOrEqual(t, lists, 2*(pages+1), "sub-account pages")

	// Bounded by the concurrency, not by the number of customers: at most
	// 64 fn at once; goroutines at most, per unit of concurrency, the worker
	// and its identity-token flight (the worker waits while the flight's
	// goroutine sends), and per connection (at most 64) the client's read
	// and write loops and, in the same process, the server's connection
	// goroutine and its background reader while a handler runs; plus a few
	// (the lister, ConnectionHealth's producer, the sampler). A goroutine
	// dump at the peak shows exactly these.
	assert.LessOrEqual(t, maxFly.Load(), int64(loadConcurrency))
	bound := base + 2*loadConcurrency + 4*loadConcurrency + 32
	assert.LessOrEqual(t, peak, bound, "peak goroutines")
	t.Logf("load: %d customers, %d requests (%d list pages) in %s (ForEachSubAccount %s), concurrency %d: "+
		"max fn in flight %d, goroutines base %d peak %d (bound %d), tagged requests %d recorded once each, duplicates %d",
		n, total, lists, wall.Round(time.Millisecond), phase1.Round(time.Millisecond), loadConcurrency,
		maxFly.Load(), base, peak, bound, len(tags), dups)
}

// BenchmarkLoadFanOut: ForEachSubAccount over 1,000 customers of the fake
// (no added latency) at concurrency 64, each customer one ListServers; it
// reports requests per second through the whole stack (fan-out, token
// cache, core, loopback HTTP, the fake) on this machine.
func BenchmarkLoadFanOut(b *testing.B) {
	const n = 1000
	fix := peliqantest.Fixture{}
	for i := range n {
		fix.SubAccounts = append(fix.SubAccounts, peliqantest.SubAccountFixture{ExternalID: fmt.Sprintf("b%04d", i)})
	}
	fake := peliqantest.NewFake(b, peliqantest.WithFixture(fix), peliqantest.WithRecordLimit(0))
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = loadConcurrency
	defer tr.CloseIdleConnections()
	var reqs int64
	start := time.Now()
	for b.Loop() {
		p, err := fake.PartnerClient(peliqan.WithHTTPClient(&http.Client{Transport: tr}))
		if err != nil {
			b.Fatal(err)
		}
		err = p.ForEachSubAccount(context.Background(), loadConcurrency, func(ctx context.Context, _ *peliqan.SubAccount, tc *peliqan.SubAccountClient) error {
			_, err := tc.ListServers(ctx)
			return err
		}, peliqan.ForEachPageSize(100))
		if err != nil {
			b.Fatal(err)
		}
		reqs += 2*n + n/100 + 1 // token + ListServers per customer, list pages
	}
	b.ReportMetric(float64(reqs)/time.Since(start).Seconds(), "req/s")
}

// BenchmarkColdTenant1000: 1,000 goroutines make their first call on the
// same cold tenant client at once, against the fake; it reports how many
// identity-token requests the fake received per round (target: exactly 1).
func BenchmarkColdTenant1000(b *testing.B) {
	fake := peliqantest.NewFake(b, peliqantest.WithFixture(peliqantest.Fixture{SubAccounts: []peliqantest.SubAccountFixture{{ExternalID: "cold"}}}),
		peliqantest.WithRecordLimit(0))
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 100
	defer tr.CloseIdleConnections()
	rounds := 0
	for b.Loop() {
		p, err := fake.PartnerClient(peliqan.WithHTTPClient(&http.Client{Transport: tr}))
		if err != nil {
			b.Fatal(err)
		}
		tc, err := p.SubAccount(peliqan.ByExternalID("cold"))
		if err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		var failed atomic.Int64
		for range 1000 {
			wg.Go(func() {
				if _, err := tc.ListServers(context.Background()); err != nil {
					failed.Add(1)
				}
			})
		}
		wg.Wait()
		if failed.Load() > 0 {
			b.Fatalf("%d calls failed", failed.Load())
		}
		rounds++
	}
	b.ReportMetric(float64(fake.Count(peliqan.RouteSubAccountToken))/float64(rounds), "identity-requests")
}

// Fan-out at scale with injected failures: ForEachSubAccount,
// ConnectionHealth and PublishScript over 200 customers, 10% of whom fail.

// fanoutEnv seeds n customers with one connection and one script group
// each, and fails the identity-token fetch of about 10% of them (a 403 the
// SDK does not retry), chosen by the fake's seeded fault rule. It returns
// the fake, a partner client, and the set of external ids whose token fetch
// the fake answered with the fault, read from its own records.
func fanoutEnv(t *testing.T, n int) (*peliqantest.Fake, *peliqan.PartnerClient) {
	t.Helper()
	fix := peliqantest.Fixture{}
	for i := range n {
		fix.SubAccounts = append(fix.SubAccounts, peliqantest.SubAccountFixture{
			ExternalID: fmt.Sprintf("c%03d", i), Connections: []peliqantest.ConnectionFixture{{Type: "pipedrive"}}})
	}
	fake := peliqantest.NewFake(t, peliqantest.WithFixture(fix), peliqantest.WithFaultSeed(9))
	p, err := fake.PartnerClient(peliqan.WithRetryPolicy(zeroWait))
	require.NoError(t, err)
	fake.AddFaultRule(peliqantest.FaultRule{Route: peliqan.RouteSubAccountToken, Probability: 0.10,
		Fault: peliqantest.StatusFault(http.StatusForbidden, "")})
	return fake, p
}

// faultedAccounts reads from the fake's records which account ids had their
// token request faulted.
func faultedAccounts(fake *peliqantest.Fake) map[peliqan.ID]bool {
	out := map[peliqan.ID]bool{}
	for _, r := range fake.Requests() {
		if r.Route == peliqan.RouteSubAccountToken && r.Fault != "" {
			id, err := peliqan.ParseID(r.Query.Get("account_id"))
			if err == nil {
				out[id] = true
			}
		}
	}
	return out
}

func TestFaultForEachSubAccount200(t *testing.T) {
	t.Parallel()
	fake, p := fanoutEnv(t, 200)
	var mu sync.Mutex
	done := map[peliqan.ID]int{}
	err := p.ForEachSubAccount(context.Background(), 16, func(ctx context.Context, sa *peliqan.SubAccount, tc *peliqan.SubAccountClient) error {
		if _, err := tc.ListServers(ctx); err != nil {
			return err
		}
		mu.Lock()
		done[sa.ID]++
		mu.Unlock()
		return nil
	}, peliqan.ForEachPageSize(50))
	failed := faultedAccounts(fake)
	t.Logf("ForEachSubAccount: 200 customers, %d token fetches faulted, %d completed", len(failed), len(done))
	require.NotEmpty(t, failed)
	assert.InDelta(t, 20, len(failed), 12, "about 10%% faulted")

	var reported []peliqan.ID
	for _, e := range unjoin(err) {
		var se *peliqan.SubAccountError
		require.ErrorAs(t, e, &se)
		assert.ErrorIs(t, se, peliqan.ErrForbidden)
		reported = append(reported, se.ID)
	}
	assert.ElementsMatch(t, slices.Collect(maps.Keys(failed)), reported, "exactly the failed customers are reported")
	assert.Len(t, done, 200-len(failed), "every other customer completed")
	for id, n := range done {
		assert.Equal(t, 1, n, "customer %d processed once", id)
		assert.False(t, failed[id])
	}
	assert.Equal(t, 200-len(failed), fake.Count(peliqan.RouteListServers))
	assert.Equal(t, 200, fake.Count(peliqan.RouteSubAccountToken), "one token request per customer, none retried")
}

func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestFaultConnectionHealth200(t *testing.T) {
	t.Parallel()
	fake, p := fanoutEnv(t, 200)
	scanned := map[peliqan.ID]int{}
	failedReports := map[peliqan.ID]error{}
	for r, err := range p.ConnectionHealth(context.Background(), &peliqan.HealthScanOptions{Concurrency: 16}) {
		require.NoError(t, err)
		if r.Verdict == peliqan.VerdictScanFailed {
			failedReports[r.SubAccount.ID] = r.Err
			continue
		}
		scanned[r.SubAccount.ID]++
		assert.NoError(t, r.Err)
	}
	failed := faultedAccounts(fake)
	t.Logf("ConnectionHealth: 200 customers, %d token fetches faulted, %d scanned, %d reported failed", len(failed), len(scanned), len(failedReports))
	require.NotEmpty(t, failed)
	assert.ElementsMatch(t, slices.Collect(maps.Keys(failed)), slices.Collect(maps.Keys(failedReports)))
	for id, err := range failedReports {
		assert.ErrorIs(t, err, peliqan.ErrForbidden, "customer %d", id)
	}
	assert.Len(t, scanned, 200-len(failed))
	for id, n := range scanned {
		assert.Equal(t, 1, n, "customer %d has one connection, one report", id)
	}
}

func TestFaultPublishScript200(t *testing.T) {
	t.Parallel()
	fake, p := fanoutEnv(t, 200)
	var refs []peliqan.SubAccountRef
	for _, sa := range fake.Seeded().SubAccounts {
		refs = append(refs, peliqan.ByAccountID(sa.ID))
	}
	rep, err := p.PublishScript(context.Background(), peliqan.ScriptTemplate{Name: "sync_crm", Code: "print('hi')"},
		&peliqan.PublishOptions{SubAccounts: refs, Concurrency: 16})
	require.NoError(t, err)
	failed := faultedAccounts(fake)
	t.Logf("PublishScript: 200 customers, %d token fetches faulted, created %d, failed %d",
		len(failed), rep.Count(peliqan.PublishCreated), rep.Count(peliqan.PublishFailed))
	require.Len(t, rep.Results, 200)
	for i, res := range rep.Results {
		id, _ := res.SubAccount.AccountID()
		assert.Equal(t, refs[i], res.SubAccount, "results keep the customers' order")
		if failed[id] {
			assert.Equal(t, peliqan.PublishFailed, res.Outcome)
			assert.ErrorIs(t, res.Err, peliqan.ErrForbidden)
		} else {
			assert.Equal(t, peliqan.PublishCreated, res.Outcome, "customer %d: %v", id, res.Err)
		}
	}
	assert.Equal(t, len(failed), rep.Count(peliqan.PublishFailed))
	assert.Equal(t, 200-len(failed), fake.Count(peliqan.RouteCreateScript), "one create per completed customer, none repeated")
	assert.Equal(t, 200-len(failed), rep.Count(peliqan.PublishCreated))
}
