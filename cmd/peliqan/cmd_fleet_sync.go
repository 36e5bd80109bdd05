package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/peliqan-community/peliqan-go"
	"github.com/spf13/cobra"
)

// fleetSyncOrder is the order outcomes are counted in the summary: the
// good ones first.
var fleetSyncOrder = []peliqan.FleetOutcome{
	peliqan.FleetCompleted,
	peliqan.FleetCompletedWithErrors,
	peliqan.FleetFailed,
	peliqan.FleetFailedToStart,
	peliqan.FleetUnknown,
	peliqan.FleetSkippedNeedsReauthorisation,
	peliqan.FleetSkippedDisabled,
	peliqan.FleetNotListed,
}

// outcomeNeedsAttention: everything but a clean run and a disabled
// connection (which was turned off on purpose), as fleet health counts a
// disabled connection.
func outcomeNeedsAttention(o peliqan.FleetOutcome) bool {
	return o != peliqan.FleetCompleted && o != peliqan.FleetSkippedDisabled
}

var fleetSyncColumns = []column[*peliqan.FleetResult]{
	{"customer_id", func(r *peliqan.FleetResult) any {
		if r.SubAccount.ID == 0 {
			return nil
		}
		return r.SubAccount.ID
	}},
	{"external_id", func(r *peliqan.FleetResult) any { return r.SubAccount.ExternalID }},
	{"connection_id", func(r *peliqan.FleetResult) any {
		if r.Server == nil {
			return nil
		}
		return r.Server.ID
	}},
	{"connection", func(r *peliqan.FleetResult) any {
		if r.Server == nil {
			return nil
		}
		return r.Server.Name
	}},
	{"type", func(r *peliqan.FleetResult) any {
		if r.Server == nil {
			return nil
		}
		return r.Server.ServerType
	}},
	{"outcome", func(r *peliqan.FleetResult) any { return string(r.Outcome) }},
	{"already_syncing", func(r *peliqan.FleetResult) any { return r.AlreadySyncing }},
	{"triggers", func(r *peliqan.FleetResult) any { return r.Triggers }},
	{"run_id", func(r *peliqan.FleetResult) any {
		if r.Run == nil || r.Run.Run == nil {
			return nil
		}
		return r.Run.Run.ID
	}},
	{"run_status", func(r *peliqan.FleetResult) any {
		if r.Run == nil {
			return nil
		}
		return r.Run.Status
	}},
	{"records", func(r *peliqan.FleetResult) any {
		if r.Run == nil || r.Run.Run == nil || !r.Run.Run.HasRecords {
			return nil
		}
		return r.Run.Run.Records
	}},
	{"message", func(r *peliqan.FleetResult) any {
		if r.Run == nil || r.Run.Run == nil {
			return nil
		}
		return r.Run.Run.Message
	}},
	{"error", func(r *peliqan.FleetResult) any {
		if r.Err == nil {
			return nil
		}
		return r.Err.Error()
	}},
}

// verdictNames lists the verdicts --health takes.
var healthVerdicts = []peliqan.Verdict{
	peliqan.VerdictHealthy, peliqan.VerdictFailed, peliqan.VerdictInProgress,
	peliqan.VerdictNeedsReauthorisation, peliqan.VerdictDisabled, peliqan.VerdictUnknownStatus,
}

func (a *app) fleetSyncCommand() *cobra.Command {
	var (
		customers, types, health []string
		concurrency, burst       int
		rateLimit                float64
		pollEvery                time.Duration
	)
	c := a.leaf(&cobra.Command{
		Use:   "sync [--customer CUSTOMER...] [--type TYPE...] [--health VERDICT...]",
		Short: "Sync every selected connection of every customer once, paced, and report each outcome",
		Long: `Start one sync of every selected connection of every selected customer
(all of them by default; never a customer's data warehouse), wait for all of
them with batched status reads, and print one outcome per connection:
completed, completed_with_errors, failed, failed_to_start, unknown (a run may
exist but its end is not known), skipped_needs_reauthorisation,
skipped_disabled, or not_listed (the customer's connections could not be
read). A connection already syncing is followed, not triggered again; a
trigger answered 429 waits for the fleet's pause and is sent again; one that
failed ambiguously is sent again only when Peliqan shows nothing started.
A live display runs on a terminal. Exit status 1 when any outcome is not
completed (a disabled connection aside).

Pacing: at most --concurrency requests in flight (halved on a 429, grown
back on success), and with --rate-limit a token bucket of that many requests
per second across the partner and all its customers.

Interrupting stops the fleet: runs already started go on at Peliqan and
are listed as unknown; connections not triggered yet are not listed.

Fields: ` + fieldNames(fleetSyncColumns),
	}, func(ctx context.Context, cmd *cobra.Command, args []string) error {
		o := &peliqan.FleetSyncOptions{Concurrency: concurrency, ConnectionTypes: types}
		switch {
		case concurrency < 0:
			return usageErrorf("--concurrency must not be negative")
		case pollEvery < 0:
			return usageErrorf("--poll-interval must not be negative")
		case rateLimit < 0 || burst < 0:
			return usageErrorf("--rate-limit and --rate-burst must not be negative")
		}
		for _, cs := range customers {
			ref, err := parseCustomer(cs)
			if err != nil {
				return err
			}
			o.SubAccounts = append(o.SubAccounts, ref)
		}
		for _, h := range health {
			v := peliqan.Verdict(h)
			if !slices.Contains(healthVerdicts, v) {
				return usageErrorf("--health %q: want one of %s", h, joinVerdicts(healthVerdicts))
			}
			o.Health = append(o.Health, v)
		}
		if pollEvery > 0 {
			o.Schedule = peliqan.FixedSchedule(pollEvery)
		}
		if rateLimit > 0 {
			if burst == 0 {
				burst = max(1, int(rateLimit))
			}
			l, err := peliqan.NewRateLimiter(rateLimit, burst)
			if err != nil {
				return usageErrorf("--rate-limit: %v", err)
			}
			o.Limiter = l
		}
		p, _, err := a.selectedPartner()
		if err != nil {
			return err
		}
		bar := a.newProgress(-1, "listing customers", "")
		o.Progress = func(fp peliqan.FleetProgress) {
			desc := fmt.Sprintf("%d customers, %d connections: %d started, %d done", fp.Customers, fp.Connections, fp.Started, fp.Done)
			if fp.RateLimited > 0 {
				desc += fmt.Sprintf(", %d rate-limited", fp.RateLimited)
			}
			if !fp.PausedUntil.IsZero() {
				desc += " (paused)"
			}
			bar.Describe(desc)
		}
		var results []*peliqan.FleetResult
		var fleetErr error
		for r, err := range p.SyncFleet(ctx, o) {
			if err != nil {
				fleetErr = err
				break
			}
			results = append(results, r)
		}
		bar.Done()
		slices.SortStableFunc(results, func(x, y *peliqan.FleetResult) int {
			return cmp.Or(cmp.Compare(x.SubAccount.ID, y.SubAccount.ID), cmp.Compare(x.SubAccount.ExternalID, y.SubAccount.ExternalID),
				cmp.Compare(fleetServerID(x), fleetServerID(y)))
		})
		if err := writeList(a.stdout, a.outputFormat(), fleetSyncColumns, results); err != nil {
			return err
		}
		a.note("%s", fleetSyncSummary(results))
		if fleetErr != nil {
			if errors.Is(fleetErr, context.Canceled) {
				a.note("Interrupted: runs already started go on at Peliqan (listed as unknown); connections not triggered yet are not listed.")
			}
			return fleetErr
		}
		for _, r := range results {
			if outcomeNeedsAttention(r.Outcome) {
				return errAttention
			}
		}
		return nil
	}, peliqan.RouteListSubAccounts, peliqan.RouteSubAccountToken, peliqan.RouteListServers, peliqan.RouteSyncServer,
		peliqan.RouteGetServerSyncRunStatus, peliqan.RouteGetPipelineRuns, peliqan.RouteListServerRuns)
	fl := c.Flags()
	fl.StringArrayVarP(&customers, "customer", "c", nil, "only this customer: external id, or id:N (repeatable; default all)")
	fl.StringArrayVar(&types, "type", nil, "only connections of this connector type, e.g. hubspot (repeatable)")
	fl.StringArrayVar(&health, "health", nil, "only connections whose health verdict is this: "+joinVerdicts(healthVerdicts)+" (repeatable)")
	fl.IntVar(&concurrency, "concurrency", 0, "requests in flight at most (default 8)")
	fl.Float64Var(&rateLimit, "rate-limit", 0, "requests per second for the whole fleet (0: no limit)")
	fl.IntVar(&burst, "rate-burst", 0, "burst of --rate-limit (default: the rate)")
	fl.DurationVar(&pollEvery, "poll-interval", 0, "time between two status reads of a customer's runs (default: Peliqan's schedule, 5s then slower)")
	return c
}

func fleetServerID(r *peliqan.FleetResult) peliqan.ID {
	if r.Server == nil {
		return 0
	}
	return r.Server.ID
}

func joinVerdicts(vs []peliqan.Verdict) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

// fleetSyncSummary is the one-line summary on stderr.
func fleetSyncSummary(results []*peliqan.FleetResult) string {
	counts := map[peliqan.FleetOutcome]int{}
	for _, r := range results {
		counts[r.Outcome]++
	}
	var parts []string
	for _, o := range fleetSyncOrder {
		if n := counts[o]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, o))
		}
	}
	msg := plural(len(results), "result")
	if len(parts) > 0 {
		msg += ": " + strings.Join(parts, ", ")
	}
	return msg + "."
}
