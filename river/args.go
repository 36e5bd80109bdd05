package peliqanriver

import (
	"strconv"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/peliqan-community/peliqan-go"
)

// Queue is the River queue the jobs are inserted into unless the insert
// says otherwise. NewClient gives it Options.MaxWorkers workers; a client
// built by hand must list it in river.Config.Queues (Register does).
const Queue = "peliqan"

// The job kinds, as River stores them.
const (
	KindSyncConnection = "peliqan_sync_connection"
	KindFleetSync      = "peliqan_fleet_sync"
	KindCustomerSync   = "peliqan_customer_sync"
	KindHealthScan     = "peliqan_health_scan"
	KindCustomerHealth = "peliqan_customer_health"
	KindPublishScript  = "peliqan_publish_script"
)

// uniqueByArgs makes a second insert of the same arguments a no-op while a
// job with them exists in any state but cancelled and discarded: a
// completed job keeps later inserts of the same period out until River's
// job cleaner removes it (24 hours by default). The sync's own row keeps
// its run recorded after that.
func uniqueByArgs() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// SyncConnectionArgs syncs one connection once for Period: exactly one
// pipeline run is started per (connection, period), however often the job
// is retried, rescued or inserted. See SyncConnection in the package
// documentation for the rules.
type SyncConnectionArgs struct {
	SubAccountID peliqan.ID `json:"sub_account_id"`
	ServerID     peliqan.ID `json:"server_id"`
	// Period names the round this sync belongs to (the fleet sync uses the
	// start of its interval, e.g. "2026-11-30T10:00:00Z"). A new period
	// syncs the connection again.
	Period string `json:"period"`
}

// Kind is KindSyncConnection.
func (SyncConnectionArgs) Kind() string { return KindSyncConnection }

// InsertOpts: the Queue, unique by arguments.
func (SyncConnectionArgs) InsertOpts() river.InsertOpts { return uniqueByArgs() }

func (a SyncConnectionArgs) key() string {
	return strconv.FormatInt(int64(a.SubAccountID), 10) + "/" + strconv.FormatInt(int64(a.ServerID), 10) + "/" + a.Period
}

// FleetSyncArgs lists every customer and inserts one CustomerSyncArgs per
// customer for Period (which lists its connections and inserts one
// SyncConnectionArgs each). The periodic fleet sync inserts it; insert it
// yourself to sync the fleet now.
type FleetSyncArgs struct {
	Period string `json:"period"`
}

// Kind is KindFleetSync.
func (FleetSyncArgs) Kind() string { return KindFleetSync }

// InsertOpts: the Queue, unique by arguments (one fleet sync per period).
func (FleetSyncArgs) InsertOpts() river.InsertOpts { return uniqueByArgs() }

// CustomerSyncArgs lists one customer's connections and inserts one
// SyncConnectionArgs per connection to sync.
type CustomerSyncArgs struct {
	SubAccountID peliqan.ID `json:"sub_account_id"`
	Period       string     `json:"period"`
}

// Kind is KindCustomerSync.
func (CustomerSyncArgs) Kind() string { return KindCustomerSync }

// InsertOpts: the Queue, unique by arguments.
func (CustomerSyncArgs) InsertOpts() river.InsertOpts { return uniqueByArgs() }

// HealthScanArgs lists every customer and inserts one CustomerHealthArgs
// per customer for Period.
type HealthScanArgs struct {
	Period string `json:"period"`
}

// Kind is KindHealthScan.
func (HealthScanArgs) Kind() string { return KindHealthScan }

// InsertOpts: the Queue, unique by arguments.
func (HealthScanArgs) InsertOpts() river.InsertOpts { return uniqueByArgs() }

// CustomerHealthArgs reads one customer's connections and their latest
// runs, and stores a verdict per connection (see Jobs.Health).
type CustomerHealthArgs struct {
	SubAccountID peliqan.ID `json:"sub_account_id"`
	// ExternalID is stored beside the verdicts, for the dashboard.
	ExternalID string `json:"external_id,omitempty"`
	Period     string `json:"period"`
}

// Kind is KindCustomerHealth.
func (CustomerHealthArgs) Kind() string { return KindCustomerHealth }

// InsertOpts: the Queue, unique by arguments.
func (CustomerHealthArgs) InsertOpts() river.InsertOpts { return uniqueByArgs() }

// PublishScriptArgs publishes Template to one customer with
// PartnerClient.PublishScript, which is idempotent: a retried or repeated
// job finds the script by name and changes nothing the second time.
type PublishScriptArgs struct {
	SubAccountID peliqan.ID             `json:"sub_account_id"`
	Template     peliqan.ScriptTemplate `json:"template"`
}

// Kind is KindPublishScript.
func (PublishScriptArgs) Kind() string { return KindPublishScript }

// InsertOpts: the Queue, unique by arguments while a job with them is
// waiting or running (a completed publish does not block publishing the
// same template again later: it is idempotent anyway).
func (PublishScriptArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
		rivertype.JobStateRetryable, rivertype.JobStateScheduled,
	}}}
}

// PublishScriptJobs returns one PublishScriptArgs job per customer, for
// river.Client.InsertMany (inside your own transaction with InsertManyTx).
func PublishScriptJobs(tmpl peliqan.ScriptTemplate, subAccounts []peliqan.ID) []river.InsertManyParams {
	out := make([]river.InsertManyParams, 0, len(subAccounts))
	for _, id := range subAccounts {
		out = append(out, river.InsertManyParams{Args: PublishScriptArgs{SubAccountID: id, Template: tmpl}})
	}
	return out
}
