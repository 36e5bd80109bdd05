package peliqanriver_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
	peliqanriver "github.com/peliqan-community/peliqan-go/river"
)

// binDir holds the worker and fake binaries, built once per test run.
var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// binaries builds examples/fleet-worker and the standalone fake
// (peliqantest/cmd/peliqan-fake).
func binaries(t testing.TB) (worker, fake string) {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "peliqanriver-bin-")
		if binErr != nil {
			return
		}
		for _, pkg := range []string{"./examples/fleet-worker", "github.com/peliqan-community/peliqan-go/peliqantest/cmd/peliqan-fake"} {
			out, err := exec.Command("go", "build", "-o", binDir, pkg).CombinedOutput()
			if err != nil {
				binErr = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
				return
			}
		}
	})
	require.NoError(t, binErr)
	return filepath.Join(binDir, "fleet-worker"), filepath.Join(binDir, "peliqan-fake")
}

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// standaloneFake runs the fake's command on a free loopback port and
// returns its base URL and partner token.
func standaloneFake(t testing.TB, args ...string) (baseURL, token string) {
	t.Helper()
	_, bin := binaries(t)
	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0", "-rows", "1", "-record-limit", "0"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	vars := make(chan map[string]string, 1)
	go func() {
		v := map[string]string{}
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if k, val, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
				v[k] = val
				if len(v) == 2 {
					vars <- v
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case v := <-vars:
		return v["PELIQAN_BASE_URL"], v["PELIQAN_PARTNER_TOKEN"]
	case <-time.After(30 * time.Second):
		t.Fatalf("the fake printed no URL and token in 30 s: %s", stderr)
	}
	return "", ""
}

// fakeCounts reads the standalone fake's counts endpoint.
func fakeCounts(t testing.TB, baseURL string) *peliqantest.Counts {
	t.Helper()
	res, err := http.Get(baseURL + peliqantest.CountsPath)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	var c peliqantest.Counts
	require.NoError(t, json.NewDecoder(res.Body).Decode(&c))
	return &c
}

// requestCount reads the fake's count of requests received.
func requestCount(baseURL string) (int, error) {
	res, err := http.Get(baseURL + peliqantest.CountsPath)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	var c peliqantest.Counts
	if err := json.NewDecoder(res.Body).Decode(&c); err != nil {
		return 0, err
	}
	return c.Requests, nil
}

// workerProc is one fleet-worker process.
type workerProc struct {
	cmd *exec.Cmd
	out *lockedBuffer
}

// startWorkers starts n fleet-worker processes on the database, talking to
// the fake at baseURL. Periodic jobs are off: the test inserts the work.
func startWorkers(t testing.TB, n int, dsn, baseURL, token string, extra ...string) []*workerProc {
	t.Helper()
	bin, _ := binaries(t)
	var procs []*workerProc
	for i := range n {
		args := append([]string{"-database-url", dsn, "-base-url", baseURL, "-workers", "30",
			"-sync-interval", "0", "-health-interval", "0", "-status-every", "0",
			"-poll", "200ms", "-wait-per-attempt", "3s", "-trigger-lease", "5s", "-rescue-after", "15s",
			"-max-retry-wait", "1s"}, extra...)
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "PELIQAN_PARTNER_TOKEN="+token)
		out := &lockedBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		require.NoError(t, cmd.Start(), "worker %d", i)
		p := &workerProc{cmd: cmd, out: out}
		procs = append(procs, p)
		t.Cleanup(func() {
			if p.cmd.ProcessState == nil {
				_ = p.cmd.Process.Signal(syscall.SIGTERM)
				done := make(chan struct{})
				go func() { _ = p.cmd.Wait(); close(done) }()
				select {
				case <-done:
				case <-time.After(15 * time.Second):
					_ = p.cmd.Process.Kill()
					<-done
				}
			}
			if t.Failed() {
				t.Logf("worker %d output:\n%s", i, p.out.String())
			}
		})
		// The first worker migrates alone and becomes River's leader
		// before the others start.
		if i == 0 {
			waitFor(t, 60*time.Second, "the first worker to start", func() bool {
				return strings.Contains(out.String(), "started")
			})
		}
	}
	return procs
}

func waitFor(t testing.TB, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", limit, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// insertFleetSync inserts a fleet sync with an insert-only River client.
func insertFleetSync(t testing.TB, pool *pgxpool.Pool, period string) {
	t.Helper()
	c, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: quiet})
	require.NoError(t, err)
	_, err = c.Insert(context.Background(), peliqanriver.FleetSyncArgs{Period: period}, nil)
	require.NoError(t, err)
}

// syncStates counts peliqan_syncs rows of a period by state.
func syncStates(t testing.TB, db *sql.DB, period string) map[string]int {
	t.Helper()
	rows, err := db.Query(`SELECT state, count(*) FROM peliqan_syncs WHERE period = $1 GROUP BY state`, period)
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		require.NoError(t, rows.Scan(&s, &n))
		out[s] = n
	}
	return out
}

// fleetResult checks that every connection of the period was synced once:
// want rows all done, every River job completed, the fake's count of runs
// started exactly one for each connection and none elsewhere. It returns
// the rows for statistics.
func checkOneRunPerConnection(t testing.TB, db *sql.DB, jobs *peliqanriver.Jobs, baseURL, period string, want int, limit time.Duration) []peliqanriver.SyncRecord {
	t.Helper()
	waitFor(t, limit, fmt.Sprintf("%d syncs of %s done", want, period), func() bool {
		return syncStates(t, db, period)["done"] >= want
	})
	waitFor(t, 60*time.Second, "every River job completed", func() bool { return len(unfinishedJobs(t, db)) == 0 })
	recs, err := jobs.Syncs(context.Background(), period)
	require.NoError(t, err)
	require.Len(t, recs, want)
	counts := fakeCounts(t, baseURL)
	assert.Equal(t, want, counts.RunsStartedTotal, "runs started in all")
	assert.Len(t, counts.RunsStarted, want, "connections with a run")
	for _, r := range recs {
		assert.Equal(t, 1, counts.RunsStarted[r.ServerID], "connection %d: runs started (%+v)", r.ServerID, r)
		assert.Contains(t, []peliqanriver.Outcome{peliqanriver.OutcomeCompleted, peliqanriver.OutcomeFailed}, r.Outcome, "%+v", r)
	}
	return recs
}

// stats summarises how the runs became known.
func stats(recs []peliqanriver.SyncRecord) string {
	how := map[string]int{}
	triggers, checks, again := 0, 0, 0
	for _, r := range recs {
		how[r.How]++
		triggers += r.Triggers
		checks += r.Checks
		if r.Checks > 0 && r.How != "adopted" {
			again++
		}
	}
	return fmt.Sprintf("%d syncs: %v; %d trigger requests, %d runs checks after a lost answer (%d found the run, %d found none and sent the trigger again)",
		len(recs), how, triggers, checks, how["adopted"], again)
}

// readOnlyJobs opens the jobs' tables for reading (Syncs) from the test.
func readOnlyJobs(t testing.TB, db *sql.DB) *peliqanriver.Jobs {
	t.Helper()
	p, err := peliqan.NewPartnerClient("unused")
	require.NoError(t, err)
	j, err := peliqanriver.NewJobs(p, db, nil)
	require.NoError(t, err)
	return j
}

func multiProcessSetup(t *testing.T, fakeArgs ...string) (pool *pgxpool.Pool, db *sql.DB, jobs *peliqanriver.Jobs, baseURL, token, dsn string) {
	if testing.Short() {
		t.Skip("-short: the multi-process tests take a minute")
	}
	dsn = postgresDatabase(t)
	pool, db = postgresPool(t, dsn)
	jobs = readOnlyJobs(t, db)
	require.NoError(t, jobs.Migrate(context.Background()))
	baseURL, token = standaloneFake(t, fakeArgs...)
	return
}

// 3 worker processes on one PostgreSQL, the standalone fake with 200
// customers x 3 connections.
func TestMultiProcessFleetSync(t *testing.T) {
	t.Parallel()
	pool, db, jobs, baseURL, token, dsn := multiProcessSetup(t, "-tenants", "200", "-connections", "3", "-sync-duration", "1s")
	startWorkers(t, 3, dsn, baseURL, token)
	start := time.Now()
	insertFleetSync(t, pool, "mp")
	recs := checkOneRunPerConnection(t, db, jobs, baseURL, "mp", 600, 3*time.Minute)
	t.Logf("%s in %s", stats(recs), time.Since(start).Round(time.Millisecond))
}

// kill -9 one of 3 workers in the middle: the others finish its jobs
// (River's rescuer, after -rescue-after), still one run per connection.
func TestMultiProcessWorkerKilled(t *testing.T) {
	t.Parallel()
	pool, db, jobs, baseURL, token, dsn := multiProcessSetup(t, "-tenants", "200", "-connections", "3", "-sync-duration", "1s")
	procs := startWorkers(t, 3, dsn, baseURL, token)
	start := time.Now()
	insertFleetSync(t, pool, "kill")
	waitFor(t, 2*time.Minute, "syncs under way", func() bool {
		s := syncStates(t, db, "kill")
		return s["done"] >= 150 && s["started"]+s["triggering"] > 0
	})
	victim := procs[2] // not the first, River's leader
	require.NoError(t, victim.cmd.Process.Signal(syscall.SIGKILL))
	_ = victim.cmd.Wait()
	var running int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM river_job WHERE state = 'running'`).Scan(&running))
	t.Logf("killed a worker %s in, %v syncs by state, %d jobs running", time.Since(start).Round(time.Millisecond),
		syncStates(t, db, "kill"), running)
	recs := checkOneRunPerConnection(t, db, jobs, baseURL, "kill", 600, 3*time.Minute)
	t.Logf("%s in %s", stats(recs), time.Since(start).Round(time.Millisecond))
}

// The fake failing 20% of requests (5xx, resets before the answer and in
// the middle of it, 429 with Retry-After): the same result.
func TestMultiProcessFaults(t *testing.T) {
	t.Parallel()
	pool, db, jobs, baseURL, token, dsn := multiProcessSetup(t, "-tenants", "200", "-connections", "3", "-sync-duration", "1s",
		"-fail-rate", "0.2", "-fail-kinds", "500,503,reset,midbody,429")
	startWorkers(t, 3, dsn, baseURL, token)
	start := time.Now()
	insertFleetSync(t, pool, "faults")
	recs := checkOneRunPerConnection(t, db, jobs, baseURL, "faults", 600, 4*time.Minute)
	c := fakeCounts(t, baseURL)
	t.Logf("%s in %s; the fake answered %d requests, by status %v", stats(recs), time.Since(start).Round(time.Millisecond), c.Requests, c.ByStatus)
}

// 3 workers sharing a limit of 10 requests/s through the database: the
// fake sees at most 10.5 requests/s over any 5 s window.
func TestMultiProcessSharedRateLimit(t *testing.T) {
	t.Parallel()
	pool, db, jobs, baseURL, token, dsn := multiProcessSetup(t, "-tenants", "10", "-connections", "3", "-sync-duration", "1s")
	// Every request waits its turn in one queue, so an attempt's lease and
	// wait must be long enough for it (see Options.TriggerLease).
	startWorkers(t, 3, dsn, baseURL, token, "-rate-limit", "10", "-rate-burst", "1",
		"-trigger-lease", "60s", "-wait-per-attempt", "20s", "-rescue-after", "2m")
	type sample struct {
		at time.Time
		n  int
	}
	var samples []sample
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if n, err := requestCount(baseURL); err == nil {
				samples = append(samples, sample{time.Now(), n})
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-sampled
	})
	insertFleetSync(t, pool, "rate")
	recs := checkOneRunPerConnection(t, db, jobs, baseURL, "rate", 30, 2*time.Minute)
	close(stop)
	<-sampled
	require.NotEmpty(t, samples)
	// The most requests between two samples at most 5 s apart.
	worst, span := 0, samples[len(samples)-1].at.Sub(samples[0].at)
	lo := 0
	for hi := range samples {
		for samples[hi].at.Sub(samples[lo].at) > 5*time.Second {
			lo++
		}
		worst = max(worst, samples[hi].n-samples[lo].n)
	}
	total := samples[len(samples)-1].n - samples[0].n
	t.Logf("%d requests in %s (%.2f/s); at most %d in any 5 s window (%.2f/s); %s", total, span.Round(time.Millisecond),
		float64(total)/span.Seconds(), worst, float64(worst)/5, stats(recs))
	require.Greater(t, span, 10*time.Second, "the run must span several windows")
	assert.LessOrEqual(t, float64(worst)/5, 10.5)
}

// One worker process on an SQLite file, killed with SIGKILL in the middle
// and started again on the same file: every connection synced once.
func TestSQLiteWorkerKilledAndRestarted(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("-short: the multi-process tests take a minute")
	}
	baseURL, token := standaloneFake(t, "-tenants", "50", "-connections", "3", "-sync-duration", "1s")
	path := filepath.Join(t.TempDir(), "jobs.db")
	dsn := "sqlite:" + path
	first := startWorkers(t, 1, dsn, baseURL, token)[0]
	db := openSQLite(t, path)
	jobs := readOnlyJobs(t, db)
	c, err := river.NewClient(riversqlite.New(db), &river.Config{Logger: quiet})
	require.NoError(t, err)
	_, err = c.Insert(context.Background(), peliqanriver.FleetSyncArgs{Period: "sqlite-kill"}, nil)
	require.NoError(t, err)
	start := time.Now()
	waitFor(t, 2*time.Minute, "syncs under way", func() bool {
		recs, err := jobs.Syncs(context.Background(), "sqlite-kill")
		if err != nil {
			return false
		}
		done, flying := 0, 0
		for _, r := range recs {
			if r.State == "done" {
				done++
			} else if r.State != "new" {
				flying++
			}
		}
		return done >= 30 && flying > 0
	})
	require.NoError(t, first.cmd.Process.Signal(syscall.SIGKILL))
	_ = first.cmd.Wait()
	t.Logf("killed the worker %s in", time.Since(start).Round(time.Millisecond))
	startWorkers(t, 1, dsn, baseURL, token)
	recs := waitSyncsDone(t, jobs, "sqlite-kill", 150, 3*time.Minute)
	waitJobsFinished(t, db, time.Minute)
	counts := fakeCounts(t, baseURL)
	assert.Equal(t, 150, counts.RunsStartedTotal)
	for _, r := range recs {
		assert.Equal(t, 1, counts.RunsStarted[r.ServerID], "connection %d (%+v)", r.ServerID, r)
	}
	t.Logf("%s in %s", stats(recs), time.Since(start).Round(time.Millisecond))
}
