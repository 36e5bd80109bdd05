// Command fleet-health finds the dead connections across all your
// customers: credentials that expired or were never finished, connections
// in error, and connections whose last sync failed. It runs
// PartnerClient.ConnectionHealth, which scans every customer's connections
// (and each one's last run) with bounded concurrency, and prints the ones
// that need attention with their verdicts and what to do about them.
//
//	go run ./examples/fleet-health
//
// Without PELIQAN_PARTNER_TOKEN it runs against the in-process fake
// (peliqantest), seeded with five customers whose ten connections are in
// every state a fleet shows. With it, it scans your Peliqan account
// (PELIQAN_BASE_URL, default https://app.eu.peliqan.io). It only reads:
// nothing is synced or re-authorised.
//
// Flags (each has an environment variable that does the same):
//
//	-all             list every connection, not only those needing attention
//	                 (PELIQAN_EXAMPLE_ALL=1)
//	-concurrency n   customers scanned at once (PELIQAN_EXAMPLE_CONCURRENCY, default 8)
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/examples/internal/demo"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// Settings, as environment variables.
const (
	envAll         = "PELIQAN_EXAMPLE_ALL"
	envConcurrency = "PELIQAN_EXAMPLE_CONCURRENCY"
)

func main() {
	fs := flag.NewFlagSet("fleet-health", flag.ContinueOnError)
	fs.Bool("all", false, "list every connection, not only those needing attention")
	fs.Int("concurrency", 8, "customers scanned at once")
	demo.Main(fs, map[string]string{"all": envAll, "concurrency": envConcurrency}, run)
}

// verdictOrder is the order verdicts are counted and listed in: the ones to
// act on first.
var verdictOrder = []peliqan.Verdict{
	peliqan.VerdictScanFailed,
	peliqan.VerdictNeedsReauthorisation,
	peliqan.VerdictFailed,
	peliqan.VerdictRunErrors,
	peliqan.VerdictUnknownStatus,
	peliqan.VerdictInProgress,
	peliqan.VerdictDisabled,
	peliqan.VerdictHealthy,
}

// advice says what to do about a verdict.
var advice = map[peliqan.Verdict]string{
	peliqan.VerdictNeedsReauthorisation: "send the customer through the widget or ReAuthoriseServer's URL",
	peliqan.VerdictFailed:               "read ServerLogs; once the source is fixed, sync again",
	peliqan.VerdictRunErrors:            "read the last run's PipelineRunLogs",
	peliqan.VerdictUnknownStatus:        "look at the connection in Peliqan",
	peliqan.VerdictScanFailed:           "the customer's connections could not be read",
}

func run(ctx context.Context, out io.Writer, getenv func(string) string) error {
	all, err := demo.Bool(getenv, envAll)
	if err != nil {
		return err
	}
	conc, err := demo.Int(getenv, envConcurrency, 8)
	if err != nil {
		return err
	}
	env, err := demo.Open(ctx, out, getenv, demo.Config{Name: "fleet-health",
		Fake: []peliqantest.Option{
			peliqantest.WithFixture(fleet()),
			peliqantest.WithSyncDuration(0), // the seeded history syncs end at once
		},
		Prepare: history,
	})
	if err != nil {
		return err
	}
	defer env.Close()

	// One loop over every connection of every customer. Reports arrive as
	// customers are scanned, in no stable order: sort them to print.
	var reports []*peliqan.ConnectionReport
	for r, err := range env.Partner.ConnectionHealth(ctx, &peliqan.HealthScanOptions{Concurrency: conc}) {
		if err != nil {
			return fmt.Errorf("scan stopped: %w", err) // listing the customers failed, or ctx ended
		}
		reports = append(reports, r)
	}
	sort.Slice(reports, func(i, j int) bool {
		a, b := reports[i], reports[j]
		if a.SubAccount.ExternalID != b.SubAccount.ExternalID {
			return a.SubAccount.ExternalID < b.SubAccount.ExternalID
		}
		return serverName(a) < serverName(b)
	})

	customers := map[peliqan.ID]bool{}
	counts := map[peliqan.Verdict]int{}
	connections, attention := 0, 0
	for _, r := range reports {
		customers[r.SubAccount.ID] = true
		counts[r.Verdict]++
		if r.Server != nil {
			connections++
		}
		if r.Verdict.NeedsAttention() {
			attention++
		}
	}
	fmt.Fprintf(out, "scanned %s, %s\n", plural(len(customers), "customer"), plural(connections, "connection"))
	var parts []string
	for _, v := range verdictOrder {
		if counts[v] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[v], v))
		}
	}
	fmt.Fprintf(out, "verdicts: %s\n", strings.Join(parts, ", "))
	if attention == 0 && !all {
		fmt.Fprintln(out, "no connection needs attention")
		return nil
	}
	if all {
		fmt.Fprintf(out, "\nall connections (%d need attention):\n", attention)
	} else {
		fmt.Fprintf(out, "\nconnections that need attention (%d):\n", attention)
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  CUSTOMER\tCONNECTION\tVERDICT\tHEALTH\tLAST RUN\tWHAT TO DO")
	for _, r := range reports {
		if !all && !r.Verdict.NeedsAttention() {
			continue
		}
		todo := advice[r.Verdict]
		if r.Verdict == peliqan.VerdictScanFailed {
			todo += ": " + r.Err.Error()
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", customerName(r.SubAccount), orDash(serverName(r)),
			r.Verdict, orDash(string(r.HealthStatus)), lastRun(r), orDash(todo))
	}
	return tw.Flush()
}

func customerName(sa peliqan.SubAccount) string {
	if sa.Name == "" {
		return sa.ExternalID
	}
	return sa.ExternalID + " (" + sa.Name + ")"
}

func serverName(r *peliqan.ConnectionReport) string {
	if r.Server == nil {
		return ""
	}
	return r.Server.Name
}

func lastRun(r *peliqan.ConnectionReport) string {
	switch {
	case r.Server == nil:
		return "-"
	case r.LastRun != nil:
		return string(r.LastRun.Status)
	case r.Err != nil:
		return "unreadable"
	}
	return "none"
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// fleet is the fake's data: five customers, ten connections. history then
// gives them the past a fixture cannot express.
func fleet() peliqantest.Fixture {
	c := func(name, typ string) peliqantest.ConnectionFixture {
		return peliqantest.ConnectionFixture{Name: name, Type: typ}
	}
	broken := c("Orders DB", "postgresql")
	broken.SyncOutcome = peliqantest.OutcomeCompletedWithErrors
	dead := c("Pipedrive", "pipedrive")
	dead.HealthStatus, dead.SyncOutcome = string(peliqan.HealthError), peliqantest.OutcomeError
	unfinished := c("Bank account", "saltedge")
	unfinished.HealthStatus = string(peliqan.HealthAuthorizing) // the customer never finished connecting
	disabled := c("Legacy CRM", "hubspot")
	disabled.HealthStatus = string(peliqan.HealthDisabled)
	renewed := c("HubSpot", "hubspot")
	renewed.SyncOutcome = peliqantest.OutcomeError
	return peliqantest.Fixture{SubAccounts: []peliqantest.SubAccountFixture{
		{ExternalID: "acme", CompanyName: "Acme Bakery", Connections: []peliqantest.ConnectionFixture{
			c("Pipedrive", "pipedrive"), c("HubSpot", "hubspot")}},
		{ExternalID: "globex", CompanyName: "Globex Garden Supply", Connections: []peliqantest.ConnectionFixture{
			broken, unfinished}},
		{ExternalID: "initech", CompanyName: "Initech Tools", Connections: []peliqantest.ConnectionFixture{
			dead, disabled}},
		{ExternalID: "umbrella", CompanyName: "Umbrella Travel", Connections: []peliqantest.ConnectionFixture{
			renewed, c("Bookings", "postgresql")}},
		{ExternalID: "wayne", CompanyName: "Wayne Fitness", Connections: []peliqantest.ConnectionFixture{
			c("Pipedrive", "pipedrive"), c("Members DB", "postgresql")}},
	}}
}

// history syncs every connection that can sync once, and pulls or renews
// credentials along the way:
//   - acme's HubSpot synced fine, then its token was revoked (RE_AUTHORISING);
//   - umbrella's HubSpot failed its sync while its credentials were dead,
//     then the customer re-authorised it (RE_AUTHORISED, last run ERROR).
func history(ctx context.Context, srv *peliqantest.Fake) error {
	for _, sa := range srv.Seeded().SubAccounts {
		t, err := srv.SubAccountClient(sa.ID)
		if err != nil {
			return err
		}
		for _, conn := range sa.Connections {
			who := sa.ExternalID + "/" + conn.Name
			h, err := t.GetServerHealthStatus(ctx, conn.ID)
			if err != nil {
				return err
			}
			if h.HealthStatus.NeedsReauthorisation() || h.HealthStatus.IsDisabled() {
				continue // cannot sync
			}
			res, err := t.SyncServer(ctx, conn.ID, nil)
			if err != nil {
				return fmt.Errorf("%s: %w", who, err)
			}
			if who == "umbrella/HubSpot" {
				if err := srv.MarkNeedsReauth(conn.ID); err != nil {
					return err
				}
				if err := srv.CompleteOAuth(conn.ID); err != nil {
					return err
				}
			}
			if _, err := t.WaitForSync(ctx, res, &peliqan.WaitOptions{Schedule: peliqan.FixedSchedule(time.Millisecond)}); err != nil {
				return fmt.Errorf("%s: %w", who, err)
			}
			if who == "acme/HubSpot" {
				if err := srv.MarkNeedsReauth(conn.ID); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
