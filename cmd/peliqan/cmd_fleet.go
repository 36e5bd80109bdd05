package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

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

type profileFailure struct {
	profile string
	err     error
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
		var accs []*account
		if allProfiles {
			var err error
			if accs, err = a.allAccounts(); err != nil {
				return err
			}
		} else {
			acc, err := a.selectAccount()
			if err != nil {
				return err
			}
			if _, err := a.partner(acc); err != nil {
				return err // one account named wrong is a usage error
			}
			accs = []*account{acc}
		}
		bar := a.newProgress(-1, "scanning", "connections")
		scan := a.scanFleet(ctx, accs, &peliqan.HealthScanOptions{Concurrency: concurrency, SkipLastRun: skipLastRun}, bar)
		bar.Done()
		scan.multi = allProfiles
		if err := ctx.Err(); err != nil {
			a.note("Interrupted: the scan is incomplete; nothing was written.")
			return err
		}
		for _, f := range scan.failed {
			a.printError(fmt.Errorf("profile %s: %w", f.profile, f.err))
		}
		rows := scan.rows
		if attentionOnly {
			rows = scan.attention()
		}
		err := a.writeTo(file, func(w io.Writer) error {
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

	return group("fleet", "Every connection of every customer", health)
}

// scanFleet runs ConnectionHealth on every account at once and sorts the
// result by profile, customer and connection.
// A profile whose client cannot be made is reported like one whose scan
// failed.
func (a *app) scanFleet(ctx context.Context, accs []*account, o *peliqan.HealthScanOptions, bar *progress) *fleetScan {
	results := make([][]fleetRow, len(accs))
	errs := make([]error, len(accs))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, acc := range accs {
		p, err := a.partner(acc)
		if err != nil {
			errs[i] = err
			continue
		}
		wg.Go(func() {
			for r, err := range p.ConnectionHealth(ctx, o) {
				if err != nil {
					errs[i] = err
					return
				}
				results[i] = append(results[i], fleetRow{profile: accs[i].Name, r: r})
				mu.Lock()
				bar.Add(1)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	scan := &fleetScan{}
	for i := range accs {
		if errs[i] != nil {
			scan.failed = append(scan.failed, profileFailure{accs[i].Name, errs[i]})
			continue
		}
		scan.rows = append(scan.rows, results[i]...)
	}
	slices.SortStableFunc(scan.rows, func(x, y fleetRow) int {
		return cmp.Or(cmp.Compare(x.profile, y.profile),
			cmp.Compare(x.r.SubAccount.ID, y.r.SubAccount.ID),
			cmp.Compare(serverID(x.r), serverID(y.r)))
	})
	return scan
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
