package peliqanriver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Dialect is the SQL flavour of the database the jobs keep their state in.
type Dialect string

// The supported dialects. The zero value makes NewJobs and NewSharedLimiter
// detect it from the *sql.DB's driver (modernc.org/sqlite, or pgx's
// database/sql adapter github.com/jackc/pgx/v5/stdlib).
const (
	DialectPostgres Dialect = "postgres"
	DialectSQLite   Dialect = "sqlite"
)

// dialect holds what differs between PostgreSQL and SQLite.
type dialect struct {
	name Dialect
	// now is the database's clock in microseconds since the Unix epoch,
	// the same value wherever it appears in one statement. All leases and
	// rate-limit slots use it, so machines with skewed clocks still agree.
	now string
	// greatest is the two-argument maximum.
	greatest string
	// dollar: placeholders are $1, $2, ... instead of ?.
	dollar bool
}

var (
	postgresDialect = dialect{name: DialectPostgres,
		now:      "CAST(EXTRACT(EPOCH FROM now()) * 1000000 AS BIGINT)",
		greatest: "GREATEST", dollar: true}
	sqliteDialect = dialect{name: DialectSQLite,
		now:      "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)",
		greatest: "MAX"}
)

// resolveDialect returns the dialect named, or the one db's driver speaks.
func resolveDialect(db *sql.DB, d Dialect) (dialect, error) {
	switch d {
	case DialectPostgres:
		return postgresDialect, nil
	case DialectSQLite:
		return sqliteDialect, nil
	case "":
	default:
		return dialect{}, invalidArg("Dialect", "unknown dialect %q", string(d))
	}
	t := reflect.TypeOf(db.Driver())
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch pkg := t.PkgPath(); {
	case pkg == "modernc.org/sqlite" || strings.Contains(pkg, "sqlite"):
		return sqliteDialect, nil
	case strings.HasPrefix(pkg, "github.com/jackc/pgx") || pkg == "github.com/lib/pq":
		return postgresDialect, nil
	default:
		return dialect{}, invalidArg("Dialect", "cannot tell the SQL dialect of driver %s.%s: set it", pkg, t.Name())
	}
}

// q rewrites a query written with ? placeholders and {now}/{greatest} for
// the dialect.
func (d dialect) q(query string) string {
	query = strings.ReplaceAll(query, "{now}", d.now)
	query = strings.ReplaceAll(query, "{greatest}", d.greatest)
	if !d.dollar {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// schema creates the tables. Every statement is idempotent, and the types
// are ones both dialects accept (times are microseconds since the Unix
// epoch by the database's clock).
var schema = []string{
	`CREATE TABLE IF NOT EXISTS peliqan_syncs (
		sync_key        TEXT PRIMARY KEY,
		sub_account_id  BIGINT NOT NULL,
		server_id       BIGINT NOT NULL,
		period          TEXT NOT NULL,
		state           TEXT NOT NULL,
		baseline_run_id BIGINT NOT NULL DEFAULT 0,
		pending         INTEGER NOT NULL DEFAULT 0,
		triggers        INTEGER NOT NULL DEFAULT 0,
		checks          INTEGER NOT NULL DEFAULT 0,
		how             TEXT NOT NULL DEFAULT '',
		task_id         TEXT NOT NULL DEFAULT '',
		run_ids         TEXT NOT NULL DEFAULT '',
		outcome         TEXT NOT NULL DEFAULT '',
		run_status      TEXT NOT NULL DEFAULT '',
		records         BIGINT NOT NULL DEFAULT 0,
		message         TEXT NOT NULL DEFAULT '',
		lease_owner     TEXT NOT NULL DEFAULT '',
		lease_until_us  BIGINT NOT NULL DEFAULT 0,
		started_us      BIGINT NOT NULL DEFAULT 0,
		created_us      BIGINT NOT NULL,
		updated_us      BIGINT NOT NULL,
		finished_us     BIGINT NOT NULL DEFAULT 0
	)`,
	`CREATE INDEX IF NOT EXISTS peliqan_syncs_period ON peliqan_syncs (period, state)`,
	`CREATE TABLE IF NOT EXISTS peliqan_connection_health (
		sub_account_id  BIGINT NOT NULL,
		server_id       BIGINT NOT NULL,
		external_id     TEXT NOT NULL DEFAULT '',
		server_name     TEXT NOT NULL DEFAULT '',
		server_type     TEXT NOT NULL DEFAULT '',
		health_status   TEXT NOT NULL DEFAULT '',
		verdict         TEXT NOT NULL,
		last_run_id     BIGINT NOT NULL DEFAULT 0,
		last_run_status TEXT NOT NULL DEFAULT '',
		last_run_end_us BIGINT NOT NULL DEFAULT 0,
		error           TEXT NOT NULL DEFAULT '',
		checked_us      BIGINT NOT NULL,
		PRIMARY KEY (sub_account_id, server_id)
	)`,
	`CREATE INDEX IF NOT EXISTS peliqan_connection_health_verdict ON peliqan_connection_health (verdict)`,
	`CREATE TABLE IF NOT EXISTS peliqan_publishes (
		sub_account_id BIGINT NOT NULL,
		kind           TEXT NOT NULL,
		name           TEXT NOT NULL,
		outcome        TEXT NOT NULL,
		object_id      BIGINT NOT NULL DEFAULT 0,
		error          TEXT NOT NULL DEFAULT '',
		updated_us     BIGINT NOT NULL,
		PRIMARY KEY (sub_account_id, kind, name)
	)`,
	rateLimitTable,
}

const rateLimitTable = `CREATE TABLE IF NOT EXISTS peliqan_rate_limits (
		name   TEXT PRIMARY KEY,
		tat_us BIGINT NOT NULL
	)`

// store reads and writes the jobs' tables.
type store struct {
	db *sql.DB
	d  dialect
}

// migrateLockKey is the PostgreSQL advisory lock Migrate holds, so workers
// starting together do not create the same tables at once (concurrent
// CREATE TABLE IF NOT EXISTS can fail there).
const migrateLockKey = 0x7065_6c69_7269_7672 // "peliriv r"

func (s *store) migrate(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("peliqanriver: creating tables: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if s.d.name == DialectPostgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrateLockKey)); err != nil {
			return fmt.Errorf("peliqanriver: creating tables: %w", err)
		}
	}
	for _, stmt := range schema {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("peliqanriver: creating tables: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("peliqanriver: creating tables: %w", err)
	}
	return nil
}

func (s *store) exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.d.q(query), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Sync states, in the order a sync goes through them.
const (
	stateNew        = "new"        // the job has not triggered yet
	stateTriggering = "triggering" // baseline recorded; a trigger may have been sent
	stateStarted    = "started"    // the run is known; waiting for it
	stateDone       = "done"       // the outcome is recorded
)

// How a sync's run became known.
const (
	howTriggered = "triggered" // from the trigger's own answer
	howAdopted   = "adopted"   // a trigger's answer was lost; the runs check found the run
	howFollowed  = "followed"  // the connection was already syncing: no trigger was sent
)

// syncRow is one row of peliqan_syncs.
type syncRow struct {
	Key           string
	SubAccountID  int64
	ServerID      int64
	Period        string
	State         string
	BaselineRunID int64
	Pending       bool
	Triggers      int
	Checks        int
	How           string
	TaskID        string
	RunIDs        []int64
	Outcome       string
	RunStatus     string
	Records       int64
	Message       string
	// Waited is how long ago the run became known (0 before).
	Waited time.Duration
}

const syncColumns = `sync_key, sub_account_id, server_id, period, state, baseline_run_id, pending,
	triggers, checks, how, task_id, run_ids, outcome, run_status, records, message,
	CASE WHEN started_us > 0 THEN {now} - started_us ELSE 0 END`

func scanSync(sc interface{ Scan(...any) error }) (*syncRow, error) {
	var r syncRow
	var pending int
	var ids string
	var waited int64
	if err := sc.Scan(&r.Key, &r.SubAccountID, &r.ServerID, &r.Period, &r.State, &r.BaselineRunID, &pending,
		&r.Triggers, &r.Checks, &r.How, &r.TaskID, &ids, &r.Outcome, &r.RunStatus, &r.Records, &r.Message, &waited); err != nil {
		return nil, err
	}
	r.Waited = time.Duration(waited) * time.Microsecond
	r.Pending = pending != 0
	r.RunIDs = parseIDs(ids)
	return &r, nil
}

func parseIDs(s string) []int64 {
	var out []int64
	for _, f := range strings.Split(s, ",") {
		if n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}

func formatIDs(ids []int64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(parts, ",")
}

// ensureSync creates the sync's row if it is not there and returns it.
func (s *store) ensureSync(ctx context.Context, a SyncConnectionArgs) (*syncRow, error) {
	if _, err := s.exec(ctx, `INSERT INTO peliqan_syncs (sync_key, sub_account_id, server_id, period, state, created_us, updated_us)
		VALUES (?, ?, ?, ?, ?, {now}, {now}) ON CONFLICT (sync_key) DO NOTHING`,
		a.key(), a.SubAccountID, a.ServerID, a.Period, stateNew); err != nil {
		return nil, err
	}
	return s.getSync(ctx, a.key())
}

func (s *store) getSync(ctx context.Context, key string) (*syncRow, error) {
	row := s.db.QueryRowContext(ctx, s.d.q(`SELECT `+syncColumns+` FROM peliqan_syncs WHERE sync_key = ?`), key)
	return scanSync(row)
}

// errLeaseLost: another attempt of the same job holds (or took over) the
// right to trigger.
var errLeaseLost = errors.New("peliqanriver: another attempt holds this sync's trigger lease")

// claim takes the trigger lease for d, if nobody holds an unexpired one and
// the sync has not started. It reports whether it got it.
func (s *store) claim(ctx context.Context, key, owner string, d time.Duration) (bool, error) {
	n, err := s.exec(ctx, `UPDATE peliqan_syncs SET lease_owner = ?, lease_until_us = {now} + ?, updated_us = {now}
		WHERE sync_key = ? AND state IN (?, ?) AND (lease_owner = '' OR lease_until_us < {now})`,
		owner, d.Microseconds(), key, stateNew, stateTriggering)
	return n == 1, err
}

// release gives the lease back (a no-op when it was lost or already given
// back by a state change).
func (s *store) release(ctx context.Context, key, owner string) error {
	_, err := s.exec(ctx, `UPDATE peliqan_syncs SET lease_owner = '', lease_until_us = 0 WHERE sync_key = ? AND lease_owner = ?`, key, owner)
	return err
}

// leased runs an update that only the lease holder, within its lease, may
// make.
func (s *store) leased(ctx context.Context, key, owner, set string, args ...any) error {
	args = append(args, key, owner)
	n, err := s.exec(ctx, `UPDATE peliqan_syncs SET `+set+`, updated_us = {now}
		WHERE sync_key = ? AND lease_owner = ? AND lease_until_us > {now}`, args...)
	if err != nil {
		return err
	}
	if n != 1 {
		return errLeaseLost
	}
	return nil
}

// aboutToTrigger records, before a trigger is sent, the connection's latest
// run (the baseline a later check compares against) and that a trigger may
// now be on its way.
func (s *store) aboutToTrigger(ctx context.Context, key, owner string, baseline int64) error {
	return s.leased(ctx, key, owner, `state = ?, baseline_run_id = ?, pending = 1, triggers = triggers + 1`,
		stateTriggering, baseline)
}

// notTriggered records that the trigger was certainly not acted on: no runs
// check is needed before the next one. sent says whether it reached
// Peliqan (a 429) or never left (the rate limiter had no slot in time);
// Triggers counts only the ones that reached it.
func (s *store) notTriggered(ctx context.Context, key, owner string, sent bool) error {
	if sent {
		return s.leased(ctx, key, owner, `pending = 0`)
	}
	return s.leased(ctx, key, owner, `pending = 0, triggers = triggers - 1`)
}

// checked counts a runs check made because a trigger's answer was missing.
func (s *store) checked(ctx context.Context, key, owner string) error {
	return s.leased(ctx, key, owner, `checks = checks + 1`)
}

// started records the run to wait for and gives the lease back.
func (s *store) started(ctx context.Context, key, owner, how, taskID string, runIDs []int64) error {
	return s.leased(ctx, key, owner, `state = ?, pending = 0, how = ?, task_id = ?, run_ids = ?, started_us = {now}, lease_owner = '', lease_until_us = 0`,
		stateStarted, how, taskID, formatIDs(runIDs))
}

// finishUnstarted records an outcome for a sync whose trigger was refused.
func (s *store) finishUnstarted(ctx context.Context, key, owner string, outcome Outcome, msg string) error {
	return s.leased(ctx, key, owner, `state = ?, pending = 0, outcome = ?, message = ?, finished_us = {now}, lease_owner = '', lease_until_us = 0`,
		stateDone, string(outcome), msg)
}

// finish records a waited-for run's outcome. Waiting needs no lease: two
// attempts waiting for the same run write the same outcome.
func (s *store) finish(ctx context.Context, key string, outcome Outcome, runStatus string, records int64, msg string) error {
	_, err := s.exec(ctx, `UPDATE peliqan_syncs SET state = ?, outcome = ?, run_status = ?, records = ?, message = ?,
		finished_us = {now}, updated_us = {now} WHERE sync_key = ? AND state = ?`,
		stateDone, string(outcome), runStatus, records, msg, key, stateStarted)
	return err
}

// skip records a connection the fleet sync does not trigger (one that needs
// re-authorisation, or is disabled), unless the period already has a row
// for it.
func (s *store) skip(ctx context.Context, a SyncConnectionArgs, outcome Outcome, msg string) error {
	_, err := s.exec(ctx, `INSERT INTO peliqan_syncs (sync_key, sub_account_id, server_id, period, state, outcome, message,
		created_us, updated_us, finished_us) VALUES (?, ?, ?, ?, ?, ?, ?, {now}, {now}, {now}) ON CONFLICT (sync_key) DO NOTHING`,
		a.key(), a.SubAccountID, a.ServerID, a.Period, stateDone, string(outcome), msg)
	return err
}
