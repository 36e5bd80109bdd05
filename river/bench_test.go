package peliqanriver_test

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// BenchmarkFleetSyncWorkers syncs 100 customers x 3 connections (syncs of
// 500 ms, polled every 100 ms) with 1 and with 3 worker processes of 20
// workers each on one PostgreSQL, the rate limiter off, against the
// standalone fake. It reports connections synced per second and the
// workers' CPU time per connection (user + system, all processes). On 2
// shared cores this is information, not a scaling claim: the workers, the
// fake and PostgreSQL share them.
//
//	cd river && scripts/with-postgres.sh go test -run '^$' -bench FleetSyncWorkers -benchtime 1x
func BenchmarkFleetSyncWorkers(b *testing.B) {
	if testing.Short() {
		b.Skip("-short: starts processes and a database")
	}
	for _, procs := range []int{1, 3} {
		b.Run(fmt.Sprintf("procs=%d", procs), func(b *testing.B) {
			const conns = 300
			dsn := postgresDatabase(b)
			pool, db := postgresPool(b, dsn)
			jobs := readOnlyJobs(b, db)
			if err := jobs.Migrate(b.Context()); err != nil {
				b.Fatal(err)
			}
			baseURL, token := standaloneFake(b, "-tenants", "100", "-connections", "3", "-sync-duration", "500ms")
			workers := startWorkers(b, procs, dsn, baseURL, token, "-workers", "20", "-poll", "100ms")
			waitFor(b, time.Minute, "every worker started", func() bool {
				for _, w := range workers {
					if w.out.String() == "" {
						return false
					}
				}
				return true
			})
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				period := fmt.Sprintf("bench-%d", i)
				insertFleetSync(b, pool, period)
				waitFor(b, 5*time.Minute, "the fleet synced", func() bool {
					return syncStates(b, db, period)["done"] >= conns
				})
			}
			wall := time.Since(start)
			b.StopTimer()
			var cpu time.Duration
			for _, w := range workers {
				_ = w.cmd.Process.Signal(syscall.SIGTERM)
				_ = w.cmd.Wait()
				cpu += w.cmd.ProcessState.UserTime() + w.cmd.ProcessState.SystemTime()
			}
			n := float64(conns * b.N)
			b.ReportMetric(n/wall.Seconds(), "conns/s")
			b.ReportMetric(float64(cpu.Milliseconds())/n, "cpu-ms/conn")
			b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cores")
		})
	}
}
