package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/peliqan-community/peliqan-go"
	"github.com/spf13/cobra"
)

// fleetRow is one connection of fleet health, with its profile.
type fleetRow struct {
	profile string
	r       *peliqan.ConnectionReport
}

// verdictOrder is the order verdicts are counted and charted in: healthy
// first, then what needs attention, worst first.
var verdictOrder = []peliqan.Verdict{
	peliqan.VerdictHealthy,
	peliqan.VerdictInProgress,
	peliqan.VerdictDisabled,
	peliqan.VerdictRunErrors,
	peliqan.VerdictNeedsReauthorisation,
	peliqan.VerdictFailed,
	peliqan.VerdictUnknownStatus,
	peliqan.VerdictScanFailed,
}

func fleetColumns(withProfile bool) []column[fleetRow] {
	cols := []column[fleetRow]{
		{"customer_id", func(f fleetRow) any { return f.r.SubAccount.ID }},
		{"external_id", func(f fleetRow) any { return f.r.SubAccount.ExternalID }},
		{"customer", func(f fleetRow) any { return f.r.SubAccount.Name }},
		{"connection_id", func(f fleetRow) any {
			if f.r.Server == nil {
				return nil
			}
			return f.r.Server.ID
		}},
		{"connection", func(f fleetRow) any {
			if f.r.Server == nil {
				return nil
			}
			return f.r.Server.Name
		}},
		{"type", func(f fleetRow) any {
			if f.r.Server == nil {
				return nil
			}
			return f.r.Server.ServerType
		}},
		{"health_status", func(f fleetRow) any { return f.r.HealthStatus }},
		{"verdict", func(f fleetRow) any { return f.r.Verdict }},
		{"needs_attention", func(f fleetRow) any { return f.r.Verdict.NeedsAttention() }},
		{"last_run_id", func(f fleetRow) any {
			if f.r.LastRun == nil {
				return nil
			}
			return f.r.LastRun.ID
		}},
		{"last_run_status", func(f fleetRow) any {
			if f.r.LastRun == nil {
				return nil
			}
			return f.r.LastRun.Status
		}},
		{"last_run_ended_at", func(f fleetRow) any {
			if f.r.LastRun == nil {
				return nil
			}
			return f.r.LastRun.EndedAt
		}},
		{"error", func(f fleetRow) any {
			if f.r.Err == nil {
				return nil
			}
			return f.r.Err.Error()
		}},
	}
	if withProfile {
		cols = append([]column[fleetRow]{{"profile", func(f fleetRow) any { return f.profile }}}, cols...)
	}
	return cols
}

// fleetScan is the result of fleet health over one or more accounts.
type fleetScan struct {
	rows   []fleetRow
	failed []profileFailure // accounts whose scan could not run
	multi  bool             // --all-profiles
}

// counts returns the number of connections per verdict.
func (s *fleetScan) counts() map[peliqan.Verdict]int {
	m := map[peliqan.Verdict]int{}
	for _, r := range s.rows {
		m[r.r.Verdict]++
	}
	return m
}

// attention returns the rows that need attention.
func (s *fleetScan) attention() []fleetRow {
	var out []fleetRow
	for _, r := range s.rows {
		if r.r.Verdict.NeedsAttention() {
			out = append(out, r)
		}
	}
	return out
}

func (s *fleetScan) customers() int {
	type key struct {
		p  string
		id peliqan.ID
	}
	seen := map[key]bool{}
	for _, r := range s.rows {
		seen[key{r.profile, r.r.SubAccount.ID}] = true
	}
	return len(seen)
}

func (a *app) fleetCommand() *cobra.Command {
	var (
		allProfiles, skipLastRun, attentionOnly bool
		concurrency                             int
		file                                    string
	)
	health := a.leaf(&cobra.Command{
		Use:   "health [--all-profiles] [--output table|json|csv|html] [--file FILE]",
		Short: "Every customer's connections, and which need attention (exit 1 if any, for cron)",
		Long: `Scan every customer's connections and read each one's health and last run
into a verdict: healthy, in_progress, disabled, run_errors,
needs_reauthorisation, failed, unknown_status, or scan_failed (the
customer's connections could not be read). Exit status 1 when any
connection needs attention (anything but healthy, in_progress and disabled)
or a profile could not be scanned, so a cron job can alert on it.

--output html writes one self-contained page (inline styles and SVG, no
scripts, nothing loaded from elsewhere) with a bar chart of the verdicts
and the list of connections that need attention. With --file the output is
written to FILE only once complete.

With --all-profiles every profile of the config file is scanned; a profile
that fails is reported with its name and the others are still shown.

Fields: ` + fieldNames(fleetColumns(false)) + `
With --all-profiles: profile, then the same fields.`,
		Annotations: map[string]string{annotFormats: strings.Join([]string{formatTable, formatJSON, formatCSV, formatHTML}, ",")},
	}, func(ctx context.Context, cmd *cobra.Command, args []string) error {
		if concurrency < 0 {
			return usageErrorf("--concurrency must not be negative")
		}
		var acc *account // nil: every profile
		if !allProfiles {
			var err error
			if acc, err = a.selectAccount(); err != nil {
				return err
			}
			if _, err := a.partner(acc); err != nil {
				return err // one account named wrong is a usage error
			}
		}
		bar := a.newProgress(-1, "scanning", "connections")
		scan, err := a.scanFleet(ctx, acc, &peliqan.HealthScanOptions{Concurrency: concurrency, SkipLastRun: skipLastRun}, bar)
		bar.Done()
		if ctx.Err() != nil {
			a.note("Interrupted: the scan is incomplete; nothing was written.")
			return ctx.Err()
		}
		if err != nil {
			return err
		}
		a.printFailures(scan.failed)
		rows := scan.rows
		if attentionOnly {
			rows = scan.attention()
		}
		err = a.writeTo(file, func(w io.Writer) error {
			if a.outputFormat() == formatHTML {
				return writeFleetHTML(w, scan, a.now())
			}
			return writeList(w, a.outputFormat(), fleetColumns(allProfiles), rows)
		})
		if err != nil {
			return err
		}
		a.note("%s", fleetSummary(scan))
		if len(scan.attention()) > 0 || len(scan.failed) > 0 {
			return errAttention
		}
		return nil
	}, peliqan.RouteListSubAccounts, peliqan.RouteSubAccountToken, peliqan.RouteListServers, peliqan.RouteListServerRuns)
	fl := health.Flags()
	fl.BoolVar(&allProfiles, "all-profiles", false, "scan every profile of the config file")
	fl.BoolVar(&skipLastRun, "skip-last-run", false, "judge by health status alone: one request per customer, none per connection")
	fl.BoolVar(&attentionOnly, "attention-only", false, "list only the connections that need attention (table, json, csv)")
	fl.IntVar(&concurrency, "concurrency", 0, "customers scanned at once per profile (default 8)")
	fl.StringVarP(&file, "file", "f", "", "write the output to FILE (complete or not at all) instead of stdout")

	return group("fleet", "Every connection of every customer", health, a.fleetSyncCommand())
}

// scanFleet runs ConnectionHealth on acc, or on every profile at once (a
// PartnerSet) when acc is nil, and sorts the lines by profile, customer and
// connection. A profile that fails is a failure of the scan, its lines left
// out rather than shown in part; the error is for bad settings or ctx.
func (a *app) scanFleet(ctx context.Context, acc *account, o *peliqan.HealthScanOptions, bar *progress) (*fleetScan, error) {
	scan := &fleetScan{multi: acc == nil}
	if acc != nil {
		p, err := a.partner(acc)
		if err != nil {
			return nil, err
		}
		for r, err := range p.ConnectionHealth(ctx, o) {
			if err != nil {
				if ctx.Err() != nil {
					return nil, err
				}
				scan.failed = append(scan.failed, profileFailure{acc.Name, err})
				scan.rows = nil
				break
			}
			scan.rows = append(scan.rows, fleetRow{profile: acc.Name, r: r})
			bar.Add(1)
		}
	} else {
		set, failed, err := a.partnerSet()
		if err != nil {
			return nil, err
		}
		scan.failed = failed
		if set != nil {
			for r, err := range set.ConnectionHealth(ctx, o) {
				var pe *peliqan.PartnerError
				switch {
				case errors.As(err, &pe):
					scan.failed = append(scan.failed, profileFailure{pe.Partner, pe.Err})
					continue
				case err != nil:
					return nil, err // ctx ended
				}
				scan.rows = append(scan.rows, fleetRow{profile: r.Partner, r: r.Report})
				bar.Add(1)
			}
		}
		scan.rows = slices.DeleteFunc(scan.rows, func(r fleetRow) bool { return failedProfile(scan.failed, r.profile) })
	}
	slices.SortStableFunc(scan.rows, func(x, y fleetRow) int {
		return cmp.Or(cmp.Compare(x.profile, y.profile),
			cmp.Compare(x.r.SubAccount.ID, y.r.SubAccount.ID),
			cmp.Compare(serverID(x.r), serverID(y.r)))
	})
	return scan, nil
}

func serverID(r *peliqan.ConnectionReport) peliqan.ID {
	if r.Server == nil {
		return 0
	}
	return r.Server.ID
}

// fleetSummary is the one-line summary on stderr.
func fleetSummary(s *fleetScan) string {
	counts := s.counts()
	var parts []string
	for _, v := range verdictOrder {
		if n := counts[v]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, v))
		}
	}
	msg := fmt.Sprintf("%s of %s", plural(connectionCount(s), "connection"), plural(s.customers(), "customer"))
	if len(parts) > 0 {
		msg += ": " + strings.Join(parts, ", ")
	}
	msg += fmt.Sprintf("; %d need attention", len(s.attention()))
	if len(s.failed) > 0 {
		msg += fmt.Sprintf("; %s could not be scanned", plural(len(s.failed), "profile"))
	}
	return msg + "."
}
