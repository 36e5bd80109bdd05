package peliqanriver_test

import (
	"context"
	"database/sql"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
	peliqanriver "github.com/peliqan-community/peliqan-go/river"
)

var quiet = slog.New(slog.DiscardHandler)

// openSQLite opens (creating it) an SQLite file the way the example does:
// WAL, a busy timeout, and one connection, as River's SQLite driver asks.
func openSQLite(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	require.NoError(t, err)
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func tempSQLite(t testing.TB) (string, *sql.DB) {
	path := filepath.Join(t.TempDir(), "jobs.db")
	return path, openSQLite(t, path)
}

// testOptions are short waits for a fake whose syncs take well under a
// second.
func testOptions() *peliqanriver.Options {
	return &peliqanriver.Options{
		MaxWorkers:     20,
		PollSchedule:   peliqan.FixedSchedule(100 * time.Millisecond),
		WaitPerAttempt: 3 * time.Second,
		TriggerLease:   5 * time.Second,
		MaxRetryWait:   300 * time.Millisecond,
		Logger:         quiet,
	}
}

// partnerFor is a client of the fake that returns 429s to the job.
func partnerFor(t testing.TB, f *peliqantest.Fake, opts ...peliqan.Option) *peliqan.PartnerClient {
	t.Helper()
	pol := peliqanriver.RetryPolicy()
	pol.MinWait, pol.MaxWait = 0, 0
	p, err := f.PartnerClient(append([]peliqan.Option{peliqan.WithRetryPolicy(pol)}, opts...)...)
	require.NoError(t, err)
	return p
}

type sqliteWorker struct {
	jobs   *peliqanriver.Jobs
	client *river.Client[*sql.Tx]
	db     *sql.DB
}

// startSQLiteWorker migrates db and starts a River client with the jobs
// on it; it is stopped at cleanup unless stopped before.
func startSQLiteWorker(t testing.TB, db *sql.DB, p *peliqan.PartnerClient, o *peliqanriver.Options) *sqliteWorker {
	t.Helper()
	ctx := context.Background()
	driver := riversqlite.New(db)
	m, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: quiet})
	require.NoError(t, err)
	_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	require.NoError(t, err)
	jobs, err := peliqanriver.NewJobs(p, db, o)
	require.NoError(t, err)
	require.NoError(t, jobs.Migrate(ctx))
	c, err := peliqanriver.NewClient(driver, jobs, &river.Config{
		Logger:            quiet,
		FetchCooldown:     20 * time.Millisecond,
		FetchPollInterval: 50 * time.Millisecond,
	})
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx))
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.StopAndCancel(sctx)
	})
	return &sqliteWorker{jobs: jobs, client: c, db: db}
}

// waitSyncsDone polls until want syncs of period are done (or fails after
// limit) and returns them.
func waitSyncsDone(t testing.TB, jobs *peliqanriver.Jobs, period string, want int, limit time.Duration) []peliqanriver.SyncRecord {
	t.Helper()
	deadline := time.Now().Add(limit)
	var recs []peliqanriver.SyncRecord
	for {
		var err error
		recs, err = jobs.Syncs(context.Background(), period)
		if err == nil {
			done := 0
			for _, r := range recs {
				if r.State == "done" {
					done++
				}
			}
			if done >= want {
				return recs
			}
			if time.Now().After(deadline) {
				t.Fatalf("after %s: %d of %d syncs of %q done (%d rows)", limit, done, want, period, len(recs))
			}
		} else if time.Now().After(deadline) {
			t.Fatalf("reading syncs: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// connections lists every (customer, connection) of the fake through the
// SDK.
func connections(t testing.TB, p *peliqan.PartnerClient) map[peliqan.ID]peliqan.ID {
	t.Helper()
	ctx := context.Background()
	out := map[peliqan.ID]peliqan.ID{}
	for sa, err := range p.SubAccounts(ctx, &peliqan.ListOptions{PerPage: 100}) {
		require.NoError(t, err)
		tc, err := p.SubAccount(peliqan.ByAccountID(sa.ID))
		require.NoError(t, err)
		servers, err := tc.ListServers(ctx)
		require.NoError(t, err)
		for _, s := range servers {
			out[s.ID] = sa.ID
		}
	}
	return out
}

// runsPerConnection counts each connection's pipeline runs, as the fake
// lists them (every run it started).
func runsPerConnection(t testing.TB, p *peliqan.PartnerClient, conns map[peliqan.ID]peliqan.ID) map[peliqan.ID]int {
	t.Helper()
	ctx := context.Background()
	out := map[peliqan.ID]int{}
	for srv, sub := range conns {
		tc, err := p.SubAccount(peliqan.ByAccountID(sub))
		require.NoError(t, err)
		n := 0
		for _, err := range tc.ServerRuns(ctx, srv, &peliqan.ListOptions{PerPage: 100}) {
			require.NoError(t, err)
			n++
		}
		out[srv] = n
	}
	return out
}

// unfinishedJobs counts River jobs not completed.
func unfinishedJobs(t testing.TB, db *sql.DB) map[string]int {
	t.Helper()
	rows, err := db.Query(`SELECT kind, state FROM river_job WHERE state <> 'completed'`)
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var kind, state string
		require.NoError(t, rows.Scan(&kind, &state))
		out[kind+"/"+state]++
	}
	require.NoError(t, rows.Err())
	return out
}
