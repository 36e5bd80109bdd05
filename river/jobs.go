package peliqanriver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"

	"github.com/peliqan-community/peliqan-go"
)

// Defaults for Options' zero values.
const (
	DefaultMaxWorkers     = 20
	DefaultWaitPerAttempt = 2 * time.Minute
	DefaultTriggerLease   = 2 * time.Minute
	DefaultMaxRetryWait   = 5 * time.Minute
	DefaultMaxWait        = 24 * time.Hour
	DefaultPageSize       = 100
)

// Options tunes the jobs. The zero value (or nil) means all defaults.
type Options struct {
	// Dialect of the database; "" detects it from the *sql.DB's driver.
	Dialect Dialect
	// MaxWorkers is how many jobs NewClient runs at once in this process
	// (the Queue's MaxWorkers); 0 means DefaultMaxWorkers.
	MaxWorkers int
	// SyncInterval, when positive, adds a periodic fleet sync: every
	// interval the cluster's leader inserts a FleetSyncArgs whose period is
	// the interval's start (UTC), also once at start-up. 0 adds none.
	SyncInterval time.Duration
	// HealthInterval, when positive, adds a periodic health scan the same
	// way. 0 adds none.
	HealthInterval time.Duration
	// PollSchedule is the wait between status polls of a sync's run; nil
	// means peliqan.PeliqanSchedule.
	PollSchedule peliqan.PollSchedule
	// WaitPerAttempt bounds how long one attempt of a sync job waits for
	// its run. When it runs out the job snoozes and the next attempt goes
	// on waiting (the run is recorded, so nothing is triggered again).
	// Short attempts keep River's stuck-job rescue quick: a dead worker's
	// jobs run elsewhere after about TriggerLease + WaitPerAttempt plus a
	// minute (NewClient's RescueStuckJobsAfter). 0 means
	// DefaultWaitPerAttempt.
	WaitPerAttempt time.Duration
	// MaxWait bounds the whole wait for one run, over all attempts: a run
	// still going after it is recorded with OutcomeUnknown and the job
	// ends, so a run stuck at Peliqan does not keep a job (and the next
	// periods' jobs, which follow it) alive forever. 0 means
	// DefaultMaxWait.
	MaxWait time.Duration
	// TriggerLease is how long one attempt may take to read the
	// connection's latest run and send the trigger (the limiter's wait
	// included) while holding the sync's trigger lease; a request not sent
	// by then is not sent. 0 means DefaultTriggerLease.
	TriggerLease time.Duration
	// MaxRetryWait caps the wait before a failed attempt is retried (1 s,
	// 2 s, 4 s, ... with jitter). 0 means DefaultMaxRetryWait.
	MaxRetryWait time.Duration
	// PageSize is how many customers each list request asks for; 0 means
	// DefaultPageSize.
	PageSize int
	// SkipConnection decides which connections the fleet sync leaves out;
	// each gets a row with OutcomeSkipped and the reason returned. nil
	// skips connections that need re-authorisation or are disabled
	// (their sync would be refused), and data warehouses.
	SkipConnection func(*peliqan.Server) (skip bool, reason string)
	// Logger receives one line per job outcome worth knowing; nil means
	// slog.Default().
	Logger *slog.Logger
}

// Jobs holds what the workers need: the partner client, the database their
// state lives in, and the options. Build it with NewJobs and hand it to
// NewClient (or Register). It is safe for concurrent use.
type Jobs struct {
	partner *peliqan.PartnerClient
	st      *store
	o       Options
	log     *slog.Logger
}

// NewJobs prepares the jobs. db holds their tables (create them with
// Migrate): for PostgreSQL a pgx pool opened as *sql.DB
// (stdlib.OpenDBFromPool), for SQLite the *sql.DB River's SQLite driver
// uses. It does no I/O.
//
// Give partner a RetryPolicy whose RetryOn leaves out 429 (see
// RetryPolicy): a 429 then comes back at once and snoozes the job for its
// Retry-After, instead of holding a worker while the client sleeps. A rate
// limit shared by every worker goes in through peliqan.WithLimiter (see
// NewSharedLimiter).
func NewJobs(partner *peliqan.PartnerClient, db *sql.DB, o *Options) (*Jobs, error) {
	var opt Options
	if o != nil {
		opt = *o
	}
	switch {
	case partner == nil:
		return nil, invalidArg("partner", "is nil")
	case db == nil:
		return nil, invalidArg("db", "is nil")
	case opt.MaxWorkers < 0 || opt.MaxWorkers > river.QueueNumWorkersMax:
		return nil, invalidArg("MaxWorkers", "must be 0..%d (got %d)", river.QueueNumWorkersMax, opt.MaxWorkers)
	case opt.SyncInterval < 0 || opt.HealthInterval < 0 || opt.WaitPerAttempt < 0 || opt.TriggerLease < 0 || opt.MaxRetryWait < 0 || opt.MaxWait < 0:
		return nil, invalidArg("Options", "durations must not be negative")
	case opt.PageSize < 0 || opt.PageSize > 1000:
		return nil, invalidArg("PageSize", "must be 0..1000 (got %d)", opt.PageSize)
	}
	d, err := resolveDialect(db, opt.Dialect)
	if err != nil {
		return nil, err
	}
	if opt.MaxWorkers == 0 {
		opt.MaxWorkers = DefaultMaxWorkers
	}
	if opt.WaitPerAttempt == 0 {
		opt.WaitPerAttempt = DefaultWaitPerAttempt
	}
	if opt.TriggerLease == 0 {
		opt.TriggerLease = DefaultTriggerLease
	}
	if opt.MaxRetryWait == 0 {
		opt.MaxRetryWait = DefaultMaxRetryWait
	}
	if opt.MaxWait == 0 {
		opt.MaxWait = DefaultMaxWait
	}
	if opt.PageSize == 0 {
		opt.PageSize = DefaultPageSize
	}
	if opt.PollSchedule == nil {
		opt.PollSchedule = peliqan.PeliqanSchedule()
	}
	if opt.SkipConnection == nil {
		opt.SkipConnection = defaultSkip
	}
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Jobs{partner: partner, st: &store{db: db, d: d}, o: opt, log: log}, nil
}

func defaultSkip(s *peliqan.Server) (bool, string) {
	switch {
	case s.HealthStatus.NeedsReauthorisation():
		return true, "needs re-authorisation (health " + string(s.HealthStatus) + ")"
	case s.HealthStatus.IsDisabled():
		return true, "disabled"
	case s.IsDataWarehouse:
		return true, "a data warehouse (a sync target, not a source)"
	}
	return false, ""
}

// Migrate creates the jobs' tables (peliqan_syncs,
// peliqan_connection_health, peliqan_publishes, peliqan_rate_limits) if
// they are missing. River's own tables are migrated with rivermigrate.
func (j *Jobs) Migrate(ctx context.Context) error {
	if ctx == nil {
		return invalidArg("ctx", "nil context")
	}
	return j.st.migrate(ctx)
}

// AttemptTimeout is the longest one attempt of a job runs: the trigger
// lease, the wait, and 5 s for the database writes. River's
// RescueStuckJobsAfter must be longer, or a job still running is rescued
// (the trigger lease still keeps a second trigger out).
func (j *Jobs) AttemptTimeout() time.Duration {
	return j.o.TriggerLease + j.o.WaitPerAttempt + 5*time.Second
}

// RetryPolicy returns DefaultRetryPolicy without 429 in RetryOn: give it to
// the partner client (peliqan.WithRetryPolicy) so that a 429 reaches the
// job, which snoozes for its Retry-After.
func RetryPolicy() peliqan.RetryPolicy {
	p := peliqan.DefaultRetryPolicy()
	p.RetryOn = []int{500, 502, 503, 504}
	return p
}

// Register adds the workers to cfg.Workers (creating it if nil), the
// Queue to cfg.Queues if missing, and the periodic jobs Options asked for
// to cfg.PeriodicJobs. TTx is the River driver's transaction type
// (pgx.Tx, *sql.Tx): the fan-out jobs insert with the client that runs
// them.
func Register[TTx any](cfg *river.Config, j *Jobs) error {
	if cfg == nil || j == nil {
		return invalidArg("Register", "nil config or jobs")
	}
	if cfg.Workers == nil {
		cfg.Workers = river.NewWorkers()
	}
	ins := func(ctx context.Context) (inserter, error) {
		c, err := river.ClientFromContextSafely[TTx](ctx)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	for _, add := range []func() error{
		func() error { return river.AddWorkerSafely(cfg.Workers, &syncWorker{j: j}) },
		func() error { return river.AddWorkerSafely(cfg.Workers, &fleetWorker{j: j, ins: ins}) },
		func() error { return river.AddWorkerSafely(cfg.Workers, &customerSyncWorker{j: j, ins: ins}) },
		func() error { return river.AddWorkerSafely(cfg.Workers, &healthScanWorker{j: j, ins: ins}) },
		func() error { return river.AddWorkerSafely(cfg.Workers, &customerHealthWorker{j: j}) },
		func() error { return river.AddWorkerSafely(cfg.Workers, &publishWorker{j: j}) },
	} {
		if err := add(); err != nil {
			return fmt.Errorf("peliqanriver: %w", err)
		}
	}
	if cfg.Queues == nil {
		cfg.Queues = map[string]river.QueueConfig{}
	}
	if _, ok := cfg.Queues[Queue]; !ok {
		cfg.Queues[Queue] = river.QueueConfig{MaxWorkers: j.o.MaxWorkers}
	}
	cfg.PeriodicJobs = append(cfg.PeriodicJobs, j.PeriodicJobs()...)
	return nil
}

// NewClient builds a River client that runs the jobs: Register on cfg (nil
// means an empty config), and, where cfg leaves them 0, JobTimeout set to
// AttemptTimeout and RescueStuckJobsAfter to JobTimeout plus a minute, so a
// crashed worker's jobs are picked up by another soon after. Start it with Start;
// insert FleetSyncArgs, HealthScanArgs or PublishScriptJobs with its Insert
// methods.
func NewClient[TTx any](driver riverdriver.Driver[TTx], j *Jobs, cfg *river.Config) (*river.Client[TTx], error) {
	if driver == nil || j == nil {
		return nil, invalidArg("NewClient", "nil driver or jobs")
	}
	var c river.Config
	if cfg != nil {
		c = *cfg
	}
	if err := Register[TTx](&c, j); err != nil {
		return nil, err
	}
	if c.JobTimeout == 0 {
		c.JobTimeout = j.AttemptTimeout()
	}
	if c.RescueStuckJobsAfter == 0 {
		c.RescueStuckJobsAfter = c.JobTimeout + time.Minute
	}
	if c.Logger == nil {
		c.Logger = j.log
	}
	return river.NewClient(driver, &c)
}

// PeriodicJobs returns the periodic jobs Options asked for (the fleet sync
// every SyncInterval, the health scan every HealthInterval), for a River
// config Register does not fill. River runs them on the elected leader
// only, and their arguments name the period, so a scheduler elsewhere (or a
// restart within the period) inserts nothing new.
func (j *Jobs) PeriodicJobs() []*river.PeriodicJob {
	var out []*river.PeriodicJob
	if d := j.o.SyncInterval; d > 0 {
		out = append(out, river.NewPeriodicJob(river.PeriodicInterval(d), func() (river.JobArgs, *river.InsertOpts) {
			return FleetSyncArgs{Period: PeriodOf(time.Now(), d)}, nil
		}, &river.PeriodicJobOpts{ID: KindFleetSync, RunOnStart: true}))
	}
	if d := j.o.HealthInterval; d > 0 {
		out = append(out, river.NewPeriodicJob(river.PeriodicInterval(d), func() (river.JobArgs, *river.InsertOpts) {
			return HealthScanArgs{Period: PeriodOf(time.Now(), d)}, nil
		}, &river.PeriodicJobOpts{ID: KindHealthScan, RunOnStart: true}))
	}
	return out
}

// PeriodOf names the period of length d that t falls in: its start, in
// UTC, as RFC 3339 text.
func PeriodOf(t time.Time, d time.Duration) string {
	return t.UTC().Truncate(d).Format(time.RFC3339)
}

// inserter is what the fan-out jobs need of the River client running them.
type inserter interface {
	InsertMany(ctx context.Context, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
}

// nextRetry is the retry time of a failed attempt: 1 s, 2 s, 4 s, ... up to
// MaxRetryWait, each less up to a fifth at random so that jobs failed
// together do not come back together. River's own default (attempt^4
// seconds) is meant for failures that last; these are mostly one request.
func (j *Jobs) nextRetry(attempt int) time.Time {
	d := j.o.MaxRetryWait
	if attempt >= 1 && attempt < 30 {
		d = min(d, time.Second<<(attempt-1))
	}
	d -= time.Duration(rand.Int64N(int64(d)/5 + 1))
	return time.Now().Add(d)
}

// snoozeUnsent turns a 429 into a snooze for its Retry-After (at least a
// second), and a SharedLimiter slot past the attempt's deadline into a
// snooze until about then; it reports whether err was either. Neither
// request reached Peliqan.
func snoozeUnsent(err error) (error, bool) {
	var late *SlotTooLateError
	if errors.As(err, &late) {
		d := max(late.Wait, 100*time.Millisecond)
		return river.JobSnooze(d + time.Duration(rand.Int64N(int64(d)/4+1))), true
	}
	var ae *peliqan.APIError
	if !errors.As(err, &ae) || !errors.Is(err, peliqan.ErrRateLimited) {
		return nil, false
	}
	return river.JobSnooze(max(ae.RetryAfter, time.Second)), true
}

// invalidArg is an error matching peliqan.ErrInvalidArgument.
func invalidArg(name, format string, args ...any) error {
	return fmt.Errorf("peliqanriver: %s: %s: %w", name, fmt.Sprintf(format, args...), peliqan.ErrInvalidArgument)
}
