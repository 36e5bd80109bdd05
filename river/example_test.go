package peliqanriver_test

import (
	"context"
	"log"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/peliqan-community/peliqan-go"
	peliqanriver "github.com/peliqan-community/peliqan-go/river"
)

// One of many workers on PostgreSQL: every worker runs this program, the
// elected leader inserts the hourly fleet sync and the 15-minute health
// scan, and all workers together stay under 10 requests per second.
func ExampleNewClient() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	db := stdlib.OpenDBFromPool(pool) // the jobs' own tables, same database

	limiter, err := peliqanriver.NewSharedLimiter(db, "", "peliqan", 10, 1)
	if err != nil {
		log.Fatal(err)
	}
	partner, err := peliqan.NewPartnerClient(os.Getenv("PELIQAN_PARTNER_TOKEN"),
		peliqan.WithLimiter(limiter),                        // shared by every worker
		peliqan.WithRetryPolicy(peliqanriver.RetryPolicy()), // a 429 snoozes the job
	)
	if err != nil {
		log.Fatal(err)
	}
	jobs, err := peliqanriver.NewJobs(partner, db, &peliqanriver.Options{
		SyncInterval:   time.Hour,
		HealthInterval: 15 * time.Minute,
	})
	if err != nil {
		log.Fatal(err)
	}

	driver := riverpgxv5.New(pool)
	migrator, err := rivermigrate.New(driver, nil)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		log.Fatal(err)
	}
	if err := jobs.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	client, err := peliqanriver.NewClient(driver, jobs, nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(ctx)

	// Sync the fleet now as well, and publish a script to two customers.
	if _, err := client.Insert(ctx, peliqanriver.FleetSyncArgs{Period: "manual-" + time.Now().Format(time.DateOnly)}, nil); err != nil {
		log.Fatal(err)
	}
	tmpl := peliqan.ScriptTemplate{Name: "weekly-digest", Code: "print('hello')"}
	if _, err := client.InsertMany(ctx, peliqanriver.PublishScriptJobs(tmpl, []peliqan.ID{101, 102})); err != nil {
		log.Fatal(err)
	}

	// What a dashboard shows, read from the database.
	rows, err := jobs.Health(ctx, &peliqanriver.HealthQuery{NeedsAttention: true})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range rows {
		log.Printf("%s / %s: %s", r.ExternalID, r.ServerName, r.Verdict)
	}
}
