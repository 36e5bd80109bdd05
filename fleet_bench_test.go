package peliqan_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// The fleet figures of issue 14 (scripts/bench.sh reports them):
//
//   - BenchmarkFleetSync: 1,000 customers x 5 connections on the fake, 20 ms
//     per request, concurrency 32, no limiter, polls every 1 s, syncs of 2 s.
//   - BenchmarkFleetSyncRateLimited: the fake answering 429 + Retry-After
//     above 10 requests/s, 20 customers x 5 connections.
//   - BenchmarkFleetSyncMemory: 10,000 runs in flight against a stub whose
//     runs never finish.
//
// -short shrinks each to a few seconds (CI's smoke run).

// benchFleet is a fake seeded with customers x perCustomer connections
// (one small table each) that takes latency per request (a latency fault
// on every route), and a partner client on it using the SDK's shared
// transport.
type benchFleet struct {
	fake *peliqantest.Fake
	p    *peliqan.PartnerClient
	sas  []peliqantest.SeededSubAccount
}

func newBenchFleet(b *testing.B, customers, perCustomer int, latency time.Duration, fakeOpts []peliqantest.Option, opts ...peliqan.Option) *benchFleet {
	b.Helper()
	table := []peliqantest.TableFixture{{Name: "t", Fields: []peliqantest.FieldFixture{{Name: "a", Type: "text"}}}}
	var fix peliqantest.Fixture
	for i := range customers {
		sa := peliqantest.SubAccountFixture{ExternalID: fmt.Sprintf("fleet%05d", i)}
		for range perCustomer {
			sa.Connections = append(sa.Connections, peliqantest.ConnectionFixture{Type: "pipedrive", Tables: table})
		}
		fix.SubAccounts = append(fix.SubAccounts, sa)
	}
	fake, err := peliqantest.New(append([]peliqantest.Option{peliqantest.WithFixture(fix)}, fakeOpts...)...)
	if err != nil {
		b.Fatal(err)
	}
	if latency > 0 {
		fake.AddFaultRule(peliqantest.FaultRule{Probability: 1, Fault: peliqantest.LatencyFault(latency)})
	}
	e := &benchFleet{fake: fake, sas: fake.Seeded().SubAccounts}
	base := []peliqan.Option{peliqan.WithBaseURL(fake.URL()),
		peliqan.WithRetryPolicy(peliqan.RetryPolicy{MaxAttempts: 3, Backoff: peliqan.BackoffConstant})}
	if e.p, err = peliqan.NewPartnerClient(fake.PartnerToken(), append(base, opts...)...); err != nil {
		b.Fatal(err)
	}
	return e
}

// runsPerConnection is the fewest and the most pipeline runs the fake
// started for any seeded connection (its own count).
func (e *benchFleet) runsPerConnection(b *testing.B) (lo, hi int) {
	lo = math.MaxInt
	for _, n := range runsStarted(b, e.fake, e.sas) {
		lo, hi = min(lo, n), max(hi, n)
	}
	return lo, hi
}

// drainFleet runs SyncFleet to its end and counts the outcomes.
func drainFleet(b *testing.B, p *peliqan.PartnerClient, o *peliqan.FleetSyncOptions) map[peliqan.FleetOutcome]int {
	b.Helper()
	out := map[peliqan.FleetOutcome]int{}
	for r, err := range p.SyncFleet(context.Background(), o) {
		if err != nil {
			b.Fatal(err)
		}
		out[r.Outcome]++
		if r.Outcome != peliqan.FleetCompleted && out[r.Outcome] == 1 {
			b.Logf("first %s: %v", r.Outcome, r.Err)
		}
	}
	return out
}

// BenchmarkFleetSync syncs 1,000 customers x 5 connections through SyncFleet
// against the fake at 20 ms per request, concurrency 32, no limiter, polls
// every 1 s, syncs that take 2 s. Targets:
//
//   - runs started per connection = 1 (runs/conn-min and runs/conn-max, the
//     fake's own count);
//   - requests <= list pages + 2 x customers + connections + customers x poll
//     ticks, with poll ticks = sync / interval + 1 = 3 (requests/budget <= 1);
//   - wall <= 1.2 x (trigger fan-out ideal + sync duration + one poll
//     interval), the fan-out ideal being (list pages + 2 x customers +
//     connections) x 20 ms / 32 (x-ideal <= 1.2).
//
// With -short: 50 customers.
func BenchmarkFleetSync(b *testing.B) {
	const (
		perCustomer = 5
		latency     = 20 * time.Millisecond
		concurrency = 32
		interval    = time.Second
		syncTime    = 2 * time.Second
		pageSize    = 100
	)
	customers := 1000
	if testing.Short() {
		customers = 50
	}
	conns := customers * perCustomer
	pages := (customers + pageSize - 1) / pageSize
	ticks := int(math.Ceil(float64(syncTime)/float64(interval))) + 1
	budget := pages + 2*customers + conns + customers*ticks
	fanOut := time.Duration(pages+2*customers+conns) * latency / concurrency
	ideal := fanOut + syncTime + interval

	var wall time.Duration
	var requests int64
	var lo, hi int
	for b.Loop() {
		e := newBenchFleet(b, customers, perCustomer, latency, []peliqantest.Option{peliqantest.WithSyncDuration(syncTime)})
		start := time.Now()
		outcomes := drainFleet(b, e.p, &peliqan.FleetSyncOptions{Concurrency: concurrency,
			Schedule: peliqan.FixedSchedule(interval), PageSize: pageSize})
		wall = time.Since(start)
		requests = int64(e.fake.Counts().Requests)
		if outcomes[peliqan.FleetCompleted] != conns {
			b.Fatalf("outcomes %v, want %d completed", outcomes, conns)
		}
		lo, hi = e.runsPerConnection(b)
		e.fake.Close()
	}
	b.ReportMetric(float64(wall)/float64(ideal), "x-ideal")
	b.ReportMetric(wall.Seconds(), "wall-s")
	b.ReportMetric(ideal.Seconds(), "ideal-s")
	b.ReportMetric(float64(requests)/float64(budget), "requests/budget")
	b.ReportMetric(float64(requests), "requests")
	b.ReportMetric(float64(lo), "runs/conn-min")
	b.ReportMetric(float64(hi), "runs/conn-max")
}

// BenchmarkFleetSyncRateLimited syncs 20 customers x 5 connections against
// the fake answering 429 with Retry-After above 10 requests/s (burst 10)
// for the partner (peliqantest.WithRateLimit), 20 ms per request, concurrency 32, the partner client
// paced by NewRateLimiter(10, 10). Targets: 0 connections failed (failed
// = every outcome but completed), at most 5% of requests answered 429
// (share-429 <= 0.05), runs started per connection = 1.
//
// With -short: 4 customers.
func BenchmarkFleetSyncRateLimited(b *testing.B) {
	const (
		perCustomer = 5
		perSecond   = 10
		burst       = 10
	)
	customers := 20
	if testing.Short() {
		customers = 4
	}
	var failed, lo, hi int
	var share float64
	var wall time.Duration
	for b.Loop() {
		l, err := peliqan.NewRateLimiter(perSecond, burst)
		if err != nil {
			b.Fatal(err)
		}
		e := newBenchFleet(b, customers, perCustomer, 20*time.Millisecond, []peliqantest.Option{
			peliqantest.WithSyncDuration(time.Second), peliqantest.WithRateLimit(perSecond, burst)}, peliqan.WithLimiter(l))
		start := time.Now()
		outcomes := drainFleet(b, e.p, &peliqan.FleetSyncOptions{Concurrency: 32, Schedule: peliqan.FixedSchedule(time.Second)})
		wall = time.Since(start)
		failed = customers*perCustomer - outcomes[peliqan.FleetCompleted]
		counts := e.fake.Counts()
		share = float64(counts.RateLimited) / float64(counts.Requests)
		lo, hi = e.runsPerConnection(b)
		e.fake.Close()
	}
	b.ReportMetric(float64(failed), "failed")
	b.ReportMetric(share, "share-429")
	b.ReportMetric(float64(lo), "runs/conn-min")
	b.ReportMetric(float64(hi), "runs/conn-max")
	b.ReportMetric(wall.Seconds(), "wall-s")
}

// fleetStub is a stateless server for the memory figure: customers x
// perCustomer connections whose runs never finish. It keeps nothing per
// request, so the heap measured is the client's.
func fleetStub(customers, perCustomer int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		q := r.URL.Query()
		var sb bytes.Buffer
		switch p := r.URL.Path; {
		case p == "/api/partner/sub-accounts/":
			per, _ := strconv.Atoi(q.Get("per_page"))
			page, _ := strconv.Atoi(q.Get("page"))
			page = max(page, 1)
			sb.WriteString(`{"data": [`)
			for i := (page-1)*per + 1; i <= min(page*per, customers); i++ {
				if i > (page-1)*per+1 {
					sb.WriteByte(',')
				}
				fmt.Fprintf(&sb, `{"id": %d, "name": "Customer %d", "external_id": "ext-%d"}`, i, i, i)
			}
			next := "null"
			if page*per < customers {
				next = strconv.Itoa(page + 1)
			}
			fmt.Fprintf(&sb, `], "next": %s}`, next)
		case p == "/api/partner/sub-account/identity/":
			fmt.Fprintf(&sb, `{"token": "tok-%s"}`, q.Get("account_id"))
		case p == "/api/servers/":
			acct, _ := strconv.Atoi(strings.TrimPrefix(r.Header.Get("Authorization"), "JWT tok-"))
			sb.WriteByte('[')
			for k := range perCustomer {
				if k > 0 {
					sb.WriteByte(',')
				}
				id := acct*10 + k
				fmt.Fprintf(&sb, `{"id": %d, "name": "Connection %d", "server_type": "pipedrive", "health_status": "OK"}`, id, id)
			}
			sb.WriteByte(']')
		case strings.HasSuffix(p, "/syncdb/"):
			id := strings.TrimSuffix(strings.TrimPrefix(p, "/api/servers/"), "/syncdb/")
			fmt.Fprintf(&sb, `{"server_id": %s, "health_status": "CHECKING", "run_data": [{"pipeline_run_id": %s, "task_id": "task-%s"}], "task_id": "task-%s", "detail": "Sync started", "syncing": true}`, id, id, id, id)
		case p == "/api/pipeline_runs/":
			sb.WriteString(`{"data": [`)
			for i, id := range strings.Split(q.Get("run_id"), ",") {
				if i > 0 {
					sb.WriteByte(',')
				}
				fmt.Fprintf(&sb, `{"id": %s, "status": "RUNNING", "tables": []}`, id)
			}
			sb.WriteString(`], "next": null}`)
		default:
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(sb.Bytes())
	})
}

// fleetGoroutines counts the goroutines that net/http did not start (a
// pooled connection's reader and writer, a server's accept loop and
// per-connection handlers belong to the transport, not to the fleet).
func fleetGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		_, creator, _ := strings.Cut(string(g), "\ncreated by ")
		if strings.HasPrefix(creator, "net/http.") || strings.HasPrefix(creator, "net/http/httptest.") {
			continue
		}
		count++
	}
	return count
}

// BenchmarkFleetSyncMemory holds 10,000 runs in flight (2,000 customers x 5
// connections, concurrency 32, a poll every second) against a stub whose
// runs never finish, and measures, once every run was started and every
// customer polled at least once: the heap growth per run after GC
// (heap-B/run <= 2048) and the goroutines besides net/http's connection
// goroutines (goroutines <= concurrency + 10 = 42).
//
// With -short: 1,000 runs.
func BenchmarkFleetSyncMemory(b *testing.B) {
	const (
		perCustomer = 5
		concurrency = 32
		interval    = time.Second
	)
	customers := 2000
	if testing.Short() {
		customers = 200
	}
	runs := customers * perCustomer
	srv := httptest.NewServer(fleetStub(customers, perCustomer))
	defer srv.Close()

	var perRun float64
	var goroutines int
	for b.Loop() {
		p, err := peliqan.NewPartnerClient("partner-token", peliqan.WithBaseURL(srv.URL))
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.GC()
		var before, during runtime.MemStats
		runtime.ReadMemStats(&before)
		baseG := fleetGoroutines()

		ctx, cancel := context.WithCancel(context.Background())
		allStarted := make(chan struct{})
		var once sync.Once
		done := make(chan int)
		go func() { // the consumer: one goroutine of the benchmark's own
			n := 0
			for _, err := range p.SyncFleet(ctx, &peliqan.FleetSyncOptions{Concurrency: concurrency,
				Schedule: peliqan.FixedSchedule(interval),
				Progress: func(pr peliqan.FleetProgress) {
					if pr.Started == runs {
						once.Do(func() { close(allStarted) })
					}
				}}) {
				if err == nil {
					n++
				}
			}
			done <- n
		}()
		select {
		case <-allStarted:
		case <-time.After(5 * time.Minute):
			b.Fatal("the runs were not all started in 5 minutes")
		}
		time.Sleep(2*interval + interval/2) // every customer polled at least once
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&during)
		goroutines = fleetGoroutines() - baseG - 1 // not the consumer
		cancel()
		if n := <-done; n != runs {
			b.Fatalf("%d results after cancelling, want every one of the %d runs reported unknown", n, runs)
		}
		perRun = (float64(during.HeapAlloc) - float64(before.HeapAlloc)) / float64(runs)
	}
	b.ReportMetric(perRun, "heap-B/run")
	b.ReportMetric(float64(goroutines), "goroutines")
}
