// Command fleet-worker runs peliqanriver's jobs: a periodic sync of every
// connection of every customer and a periodic health scan, as durable River
// jobs.
//
// With no flags it needs nothing installed: it starts the in-process fake
// Peliqan (peliqantest) with a few generated customers and keeps the jobs
// in an SQLite file:
//
//	cd river && go run ./examples/fleet-worker
//
// With -database-url postgres://... the same program is one of many
// workers sharing that database (start it on as many machines as you
// like); with -base-url and PELIQAN_PARTNER_TOKEN it talks to Peliqan (or
// a standalone fake) instead of the in-process one.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	_ "modernc.org/sqlite"

	"github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
	peliqanriver "github.com/peliqan-community/peliqan-go/river"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fleet-worker:", err)
		os.Exit(1)
	}
}

type settings struct {
	databaseURL    string
	baseURL        string
	tenants, conns int
	syncDuration   time.Duration
	workers        int
	syncInterval   time.Duration
	healthInterval time.Duration
	rateLimit      float64
	rateBurst      int
	poll           time.Duration
	waitPerAttempt time.Duration
	triggerLease   time.Duration
	rescueAfter    time.Duration
	maxRetryWait   time.Duration
	status         time.Duration
	runFor         time.Duration
	verbose        bool
}

func parse(args []string, stderr io.Writer) (*settings, error) {
	s := &settings{}
	fs := flag.NewFlagSet("fleet-worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&s.databaseURL, "database-url", "sqlite:fleet-worker.db",
		"where the jobs live: sqlite:PATH (one machine) or postgres://... (many workers)")
	fs.StringVar(&s.baseURL, "base-url", "",
		"Peliqan's base URL (partner token in PELIQAN_PARTNER_TOKEN); empty starts the in-process fake")
	fs.IntVar(&s.tenants, "tenants", 5, "customers the in-process fake generates")
	fs.IntVar(&s.conns, "connections", 3, "connections per customer the in-process fake generates")
	fs.DurationVar(&s.syncDuration, "sync-duration", 2*time.Second, "how long the in-process fake's syncs run")
	fs.IntVar(&s.workers, "workers", peliqanriver.DefaultMaxWorkers, "jobs this process runs at once")
	fs.DurationVar(&s.syncInterval, "sync-interval", time.Minute, "sync every connection this often (0: never)")
	fs.DurationVar(&s.healthInterval, "health-interval", 30*time.Second, "scan every connection's health this often (0: never)")
	fs.Float64Var(&s.rateLimit, "rate-limit", 0, "requests per second to Peliqan: on PostgreSQL shared by every worker on the database, on SQLite this process's (0: none)")
	fs.IntVar(&s.rateBurst, "rate-burst", 1, "burst of -rate-limit")
	fs.DurationVar(&s.poll, "poll", 0, "wait between status polls of a run (0: Peliqan's schedule, 5 s then longer)")
	fs.DurationVar(&s.waitPerAttempt, "wait-per-attempt", 0, "how long one attempt waits for a run before it snoozes (0: 2m)")
	fs.DurationVar(&s.triggerLease, "trigger-lease", 0, "how long one attempt may take to trigger a sync (0: 2m)")
	fs.DurationVar(&s.rescueAfter, "rescue-after", 0, "a job running this long on a worker that died is run elsewhere (0: the attempt timeout + 1m)")
	fs.DurationVar(&s.maxRetryWait, "max-retry-wait", 0, "longest wait before a failed attempt is retried (0: 5m)")
	fs.DurationVar(&s.status, "status-every", 5*time.Second, "print a status line this often (0: never)")
	fs.DurationVar(&s.runFor, "run-for", 0, "stop after this long (0: until interrupted)")
	fs.BoolVar(&s.verbose, "v", false, "log River's and the jobs' messages")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if s.workers < 1 || s.tenants < 0 || s.conns < 0 || s.rateLimit < 0 {
		return nil, errors.New("-workers must be at least 1; -tenants, -connections and -rate-limit at least 0")
	}
	return s, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	s, err := parse(args, stderr)
	if err != nil {
		return err
	}
	if s.runFor > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.runFor)
		defer cancel()
	}
	log := slog.New(slog.DiscardHandler)
	if s.verbose {
		log = slog.New(slog.NewTextHandler(stderr, nil))
	}

	baseURL, token := s.baseURL, os.Getenv("PELIQAN_PARTNER_TOKEN")
	if baseURL == "" {
		fake, err := peliqantest.New(peliqantest.WithSyncDuration(s.syncDuration),
			peliqantest.WithFixture(peliqantest.Generate(1, s.tenants, s.conns, 10)))
		if err != nil {
			return err
		}
		defer fake.Close()
		baseURL, token = fake.URL(), fake.PartnerToken()
		fmt.Fprintf(stdout, "in-process fake Peliqan at %s: %d customers x %d connections\n", baseURL, s.tenants, s.conns)
	} else if token == "" {
		return errors.New("-base-url needs the partner token in PELIQAN_PARTNER_TOKEN")
	}

	switch {
	case strings.HasPrefix(s.databaseURL, "postgres://"), strings.HasPrefix(s.databaseURL, "postgresql://"):
		pcfg, err := pgxpool.ParseConfig(s.databaseURL)
		if err != nil {
			return fmt.Errorf("-database-url: %w", err)
		}
		pcfg.MaxConns = int32(max(8, s.workers/2+4))
		pool, err := pgxpool.NewWithConfig(ctx, pcfg)
		if err != nil {
			return err
		}
		defer pool.Close()
		db := stdlib.OpenDBFromPool(pool)
		defer db.Close()
		fmt.Fprintf(stdout, "jobs in PostgreSQL (%s), %d workers in this process\n", pcfg.ConnConfig.Host, s.workers)
		return work(ctx, s, riverpgxv5.New(pool), db, advisoryLock(pool), baseURL, token, log, stdout)
	case strings.HasPrefix(s.databaseURL, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(s.databaseURL, "sqlite:"), "//")
		if path == "" {
			return errors.New("-database-url sqlite: needs a file path")
		}
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
		if err != nil {
			return err
		}
		defer db.Close()
		// SQLite allows one writer at a time; River's SQLite driver asks
		// for a single connection.
		db.SetMaxOpenConns(1)
		fmt.Fprintf(stdout, "jobs in SQLite file %s, %d workers\n", path, s.workers)
		return work(ctx, s, riversqlite.New(db), db, nil, baseURL, token, log, stdout)
	default:
		return fmt.Errorf("-database-url %q: want sqlite:PATH or postgres://...", s.databaseURL)
	}
}

// work migrates, starts a River client with the jobs, prints a status line
// now and then, and stops when ctx ends.
func work[TTx any](ctx context.Context, s *settings, driver riverdriver.Driver[TTx], db *sql.DB,
	lock func(context.Context) (func(), error), baseURL, token string, log *slog.Logger, stdout io.Writer) error {
	popts := []peliqan.Option{peliqan.WithBaseURL(baseURL), peliqan.WithRetryPolicy(peliqanriver.RetryPolicy()), peliqan.WithLogger(log)}
	if s.rateLimit > 0 {
		// On PostgreSQL every worker on every machine shares one rate
		// through the database; on SQLite (one machine, one process) the
		// SDK's own token bucket does.
		var lim peliqan.Limiter
		var err error
		if lock != nil {
			lim, err = peliqanriver.NewSharedLimiter(db, "", "peliqan-partner", s.rateLimit, s.rateBurst)
		} else {
			lim, err = peliqan.NewRateLimiter(s.rateLimit, s.rateBurst)
		}
		if err != nil {
			return err
		}
		popts = append(popts, peliqan.WithLimiter(lim))
	}
	partner, err := peliqan.NewPartnerClient(token, popts...)
	if err != nil {
		return err
	}
	o := &peliqanriver.Options{MaxWorkers: s.workers, SyncInterval: s.syncInterval, HealthInterval: s.healthInterval,
		WaitPerAttempt: s.waitPerAttempt, TriggerLease: s.triggerLease, MaxRetryWait: s.maxRetryWait, Logger: log}
	if s.poll > 0 {
		o.PollSchedule = peliqan.FixedSchedule(s.poll)
	}
	jobs, err := peliqanriver.NewJobs(partner, db, o)
	if err != nil {
		return err
	}
	if err := migrate(ctx, driver, jobs, lock, log); err != nil {
		return err
	}
	client, err := peliqanriver.NewClient(driver, jobs, &river.Config{Logger: log, RescueStuckJobsAfter: s.rescueAfter,
		FetchCooldown: 20 * time.Millisecond, FetchPollInterval: 200 * time.Millisecond})
	if err != nil {
		return err
	}
	if err := client.Start(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "worker %s started (fleet sync every %s, health scan every %s)\n", client.ID(), s.syncInterval, s.healthInterval)
	var tick <-chan time.Time
	if s.status > 0 {
		t := time.NewTicker(s.status)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-tick:
			printStatus(ctx, jobs, stdout)
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := client.Stop(sctx); err != nil {
				_ = client.StopAndCancel(sctx)
			}
			printStatus(sctx, jobs, stdout)
			fmt.Fprintln(stdout, "stopped")
			return nil
		}
	}
}

// migrate brings River's tables and the jobs' tables up to date, holding
// lock (if any) meanwhile.
func migrate[TTx any](ctx context.Context, driver riverdriver.Driver[TTx], jobs *peliqanriver.Jobs,
	lock func(context.Context) (func(), error), log *slog.Logger) error {
	if lock != nil {
		unlock, err := lock(ctx)
		if err != nil {
			return fmt.Errorf("migration lock: %w", err)
		}
		defer unlock()
	}
	m, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: log})
	if err != nil {
		return err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrating River's tables: %w", err)
	}
	return jobs.Migrate(ctx)
}

// advisoryLock returns a lock held by one pool connection, so that workers
// starting together on PostgreSQL migrate one after the other (concurrent
// CREATE TABLE IF NOT EXISTS can fail there).
func advisoryLock(pool *pgxpool.Pool) func(context.Context) (func(), error) {
	return func(ctx context.Context) (func(), error) {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			return nil, err
		}
		const key = 0x666c656574 // "fleet"
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(key)); err != nil {
			conn.Release()
			return nil, err
		}
		return func() {
			_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(key))
			conn.Release()
		}, nil
	}
}

func printStatus(ctx context.Context, jobs *peliqanriver.Jobs, w io.Writer) {
	syncs, err := jobs.Syncs(ctx, "")
	if err != nil {
		fmt.Fprintf(w, "status: %v\n", err)
		return
	}
	byOutcome := map[string]int{}
	periods := map[string]bool{}
	for _, r := range syncs {
		periods[r.Period] = true
		if r.State == "done" {
			byOutcome[string(r.Outcome)]++
		} else {
			byOutcome["in flight"]++
		}
	}
	health, err := jobs.Health(ctx, nil)
	if err != nil {
		fmt.Fprintf(w, "status: %v\n", err)
		return
	}
	verdicts := map[string]int{}
	for _, h := range health {
		verdicts[string(h.Verdict)]++
	}
	fmt.Fprintf(w, "%s syncs over %d period(s): %s | health of %d connections: %s\n",
		time.Now().Format(time.TimeOnly), len(periods), summary(byOutcome), len(health), summary(verdicts))
}

func summary(m map[string]int) string {
	if len(m) == 0 {
		return "none yet"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
