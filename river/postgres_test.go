package peliqanriver_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/stretchr/testify/require"

	"github.com/peliqan-community/peliqan-go"
	peliqanriver "github.com/peliqan-community/peliqan-go/river"
	"github.com/peliqan-community/peliqan-go/river/internal/testenv"
)

// DatabaseURLEnv names the PostgreSQL server the tests use; each test
// makes a database of its own there and drops it at the end.
// scripts/with-postgres.sh sets it to a throwaway cluster.
const DatabaseURLEnv = "PELIQAN_TEST_DATABASE_URL"

// postgresDatabase creates an empty database for the test and returns its
// URL. Without a server the test skips, or fails under
// PELIQAN_REQUIRE_SERVICES=1 (as in CI).
func postgresDatabase(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(DatabaseURLEnv)
	testenv.Require(t, "PostgreSQL", admin != "", DatabaseURLEnv+" is not set: run the tests through "+
		"scripts/with-postgres.sh (it installs PostgreSQL if needed and starts a throwaway cluster), or point "+
		DatabaseURLEnv+" at a server where the user may create databases")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	require.NoError(t, err)
	defer conn.Close(ctx)
	name := fmt.Sprintf("peliqanriver_%d_%08x", time.Now().Unix(), rand.Uint32())
	_, err = conn.Exec(ctx, "CREATE DATABASE "+name)
	require.NoError(t, err)
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), admin)
		if err != nil {
			t.Logf("dropping %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("dropping %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	require.NoError(t, err)
	u.Path = "/" + name
	return u.String()
}

// postgresPool opens a pool on the database and migrates River's tables
// and the jobs' tables.
func postgresPool(t testing.TB, dsn string) (*pgxpool.Pool, *sql.DB) {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	db := stdlib.OpenDBFromPool(pool)
	t.Cleanup(func() { _ = db.Close() })
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: quiet})
	require.NoError(t, err)
	_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	require.NoError(t, err)
	return pool, db
}

type postgresWorker struct {
	jobs   *peliqanriver.Jobs
	client *river.Client[pgx.Tx]
	db     *sql.DB
}

// startPostgresWorker starts a River client with the jobs in this process.
func startPostgresWorker(t testing.TB, pool *pgxpool.Pool, db *sql.DB, p *peliqan.PartnerClient, o *peliqanriver.Options) *postgresWorker {
	t.Helper()
	ctx := context.Background()
	jobs, err := peliqanriver.NewJobs(p, db, o)
	require.NoError(t, err)
	require.NoError(t, jobs.Migrate(ctx))
	c, err := peliqanriver.NewClient(riverpgxv5.New(pool), jobs, &river.Config{Logger: quiet, FetchCooldown: 20 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx))
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.StopAndCancel(sctx)
	})
	return &postgresWorker{jobs: jobs, client: c, db: db}
}
