// Package peliqanriver runs peliqan-go's fleet work as durable jobs on
// River (github.com/riverqueue/river): syncing every connection of every
// customer on a schedule, scanning their health into a table a dashboard
// reads, and publishing a script template to customers, on one machine
// with SQLite or on many machines sharing one PostgreSQL database.
//
// It is a module of its own, so the SDK never depends on River, a database
// driver or SQLite.
//
// # Jobs
//
//   - FleetSyncArgs (periodic with Options.SyncInterval) lists the customers
//     and inserts one CustomerSyncArgs each, which lists the customer's
//     connections and inserts one SyncConnectionArgs each. All three are
//     unique by arguments, and the arguments name the period: a second
//     scheduler, a retried fan-out or a restart within the period inserts
//     nothing new.
//   - SyncConnectionArgs starts one pipeline run of one connection for its
//     period and waits for it, recording the outcome in peliqan_syncs
//     (Jobs.Syncs).
//   - HealthScanArgs (periodic with Options.HealthInterval) inserts one
//     CustomerHealthArgs per customer, which stores each connection's
//     verdict in peliqan_connection_health (Jobs.Health).
//   - PublishScriptArgs (PublishScriptJobs) publishes a script to one
//     customer with PublishScript, idempotent as it is.
//
// # One run per connection
//
// A sync job may run more than once: River retries failed attempts,
// rescues the jobs of a worker that died, and a job can be inserted twice.
// The job still starts at most one run per connection and period:
//
//   - Before the trigger is sent, the sync's row records the connection's
//     latest run (the baseline) and that a trigger may be on its way. After
//     the answer comes, the row records its task and run ids, and only then
//     does the wait begin. An attempt that finds the run recorded only
//     waits.
//   - An attempt that finds a trigger sent but no answer recorded (the
//     worker died, the connection was reset, a 5xx or a timeout came back)
//     reads the connection's latest run first. A run other than the
//     baseline started since: it is followed, not triggered again. Only
//     when the latest run is still the baseline is the trigger sent again.
//     A connection already syncing when the job starts is followed, not
//     triggered.
//   - One attempt at a time may trigger: it holds a lease in the row
//     (Options.TriggerLease, by the database's clock), and sends nothing
//     after its lease could have run out, so an attempt River rescued while
//     the first one still runs cannot trigger beside it.
//   - A 429 was not acted on: the job snoozes for its Retry-After
//     (river.JobSnooze) and triggers again without a check. A 400, 404 or
//     422 means Peliqan refused: the outcome is OutcomeFailedToStart and the
//     job ends.
//
// What remains possible: a second run when Peliqan accepted a trigger
// whose answer was lost, but the run it started is not yet the newest in
// the connection's run list when the next attempt looks (Peliqan creates
// runs as it answers, so this needs its list to lag its answer), or when
// the newest-first order of that list does not hold. SyncRecord.Triggers
// and Checks count how often a trigger was sent again and how often a
// check was needed; the tests report both (see README.md).
//
// # Rate limits
//
// SharedLimiter paces every request of every worker on every machine
// through one row of the database (peliqan.WithLimiter). Give the partner
// client RetryPolicy() so a 429 snoozes the job instead of holding a
// worker while the client sleeps.
package peliqanriver
