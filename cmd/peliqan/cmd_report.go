package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/peliqan-community/peliqan-go"
	"github.com/spf13/cobra"
)

// licenceColumns are the fields of "report licences".
func licenceColumns(withProfile bool) []column[peliqan.CustomerLicense] {
	cols := []column[peliqan.CustomerLicense]{
		{"customer_id", func(l peliqan.CustomerLicense) any { return l.SubAccount.ID }},
		{"external_id", func(l peliqan.CustomerLicense) any { return l.SubAccount.ExternalID }},
		{"customer", func(l peliqan.CustomerLicense) any { return l.SubAccount.Name }},
		{"license", func(l peliqan.CustomerLicense) any { return l.License }},
		{"expires_on", func(l peliqan.CustomerLicense) any { return &l.ExpiresOn }},
		{"days_left", func(l peliqan.CustomerLicense) any {
			if l.ExpiresOn.IsZero() {
				return nil
			}
			return l.DaysLeft
		}},
		{"state", func(l peliqan.CustomerLicense) any { return string(l.State) }},
		{"needs_attention", func(l peliqan.CustomerLicense) any { return l.State.NeedsAttention() }},
	}
	if withProfile {
		cols = append([]column[peliqan.CustomerLicense]{{"profile", func(l peliqan.CustomerLicense) any { return l.Partner }}}, cols...)
	}
	return cols
}

// activityColumns are the fields of "report inactive".
func activityColumns(withProfile bool) []column[peliqan.CustomerActivity] {
	cols := []column[peliqan.CustomerActivity]{
		{"customer_id", func(c peliqan.CustomerActivity) any { return c.SubAccount.ID }},
		{"external_id", func(c peliqan.CustomerActivity) any { return c.SubAccount.ExternalID }},
		{"customer", func(c peliqan.CustomerActivity) any { return c.SubAccount.Name }},
		{"status", func(c peliqan.CustomerActivity) any { return string(c.Status) }},
		{"last_activity", func(c peliqan.CustomerActivity) any { return c.LastActivity }},
		{"source", func(c peliqan.CustomerActivity) any { return string(c.Source) }},
		{"source_id", func(c peliqan.CustomerActivity) any {
			if c.SourceID == 0 {
				return nil
			}
			return c.SourceID
		}},
		{"idle_days", func(c peliqan.CustomerActivity) any {
			if c.LastActivity.IsZero() {
				return nil
			}
			return int64(c.Idle / (24 * time.Hour))
		}},
		{"error", func(c peliqan.CustomerActivity) any {
			if c.Err == nil {
				return nil
			}
			return c.Err.Error()
		}},
	}
	if withProfile {
		cols = append([]column[peliqan.CustomerActivity]{{"profile", func(c peliqan.CustomerActivity) any { return c.Partner }}}, cols...)
	}
	return cols
}

// closeColumns are the fields of "report inactive --close".
var closeColumns = func() []column[peliqan.CloseResult] {
	var cols []column[peliqan.CloseResult]
	for _, c := range activityColumns(false) {
		if c.Name == "error" {
			continue
		}
		cols = append(cols, column[peliqan.CloseResult]{c.Name, func(r peliqan.CloseResult) any { return c.Value(r.Activity) }})
	}
	return append(cols,
		column[peliqan.CloseResult]{"outcome", func(r peliqan.CloseResult) any { return string(r.Outcome) }},
		column[peliqan.CloseResult]{"request", func(r peliqan.CloseResult) any {
			if r.Outcome != peliqan.CloseWouldClose && r.Outcome != peliqan.CloseClosed && r.Outcome != peliqan.CloseFailed {
				return nil
			}
			method, path := routePath(peliqan.RouteDeleteSubAccount, r.Activity.SubAccount.ID)
			return method + " " + path
		}},
		column[peliqan.CloseResult]{"error", func(r peliqan.CloseResult) any {
			if r.Err == nil {
				return nil
			}
			return r.Err.Error()
		}},
	)
}()

func (a *app) reportCommand() *cobra.Command {
	var (
		allProfiles, expiringOnly bool
		withinDays                int
		license                   string
	)
	licences := a.leaf(&cobra.Command{
		Use:     "licences [--all-profiles] [--within-days N] [--expiring-only] [--license L]",
		Aliases: []string{"licenses"},
		Short:   "Every customer's licence and expiry, the most urgent first (exit 1 if any expires soon)",
		Long: `List every customer with its licence, expiry date and days left, the most
urgent first: expired, then expiring within --within-days (30 by default),
then valid, then without an expiry. Exit status 1 when any is expired or
expiring, so a cron job can warn in time. It reads the customer list only.

Days are counted from today in this machine's time zone. With
--all-profiles every profile is reported, each line tagged with its
profile; a profile that fails is named on stderr and the others are listed.

To change licences or expiry dates in bulk: "peliqan customers
change-licences".

Fields: ` + fieldNames(licenceColumns(false)) + `
With --all-profiles: profile, then the same fields.`,
	}, func(ctx context.Context, cmd *cobra.Command, args []string) error {
		if withinDays < 0 {
			return usageErrorf("--within-days must not be negative")
		}
		o := &peliqan.LicenseReportOptions{Now: a.now, WithinDays: withinDays, License: license, ExpiringOnly: expiringOnly}
		var rep *peliqan.LicenseReport
		var failed []profileFailure
		if allProfiles {
			set, f, err := a.partnerSet()
			if err != nil {
				return err
			}
			failed = f
			if set != nil {
				if rep, err = set.LicenseReport(ctx, o); err != nil {
					return err
				}
			}
		} else {
			p, _, err := a.selectedPartner()
			if err != nil {
				return err
			}
			if rep, err = p.LicenseReport(ctx, o); err != nil {
				return err
			}
		}
		var lines []peliqan.CustomerLicense
		if rep != nil {
			lines = rep.Customers
			for _, pe := range rep.Failures {
				failed = append(failed, profileFailure{pe.Partner, pe.Err})
			}
		}
		a.printFailures(failed)
		if err := writeList(a.stdout, a.outputFormat(), licenceColumns(allProfiles), lines); err != nil {
			return err
		}
		attention := 0
		for _, l := range lines {
			if l.State.NeedsAttention() {
				attention++
			}
		}
		a.note("%s; %d expired or expiring.", plural(len(lines), "customer"), attention)
		if attention > 0 || len(failed) > 0 {
			return errAttention
		}
		return nil
	}, peliqan.RouteListSubAccounts)
	fl := licences.Flags()
	fl.BoolVar(&allProfiles, "all-profiles", false, "report every profile of the config file")
	fl.IntVar(&withinDays, "within-days", 0, "an expiry within this many days counts as expiring (default 30)")
	fl.BoolVar(&expiringOnly, "expiring-only", false, "list only the expired and expiring customers")
	fl.StringVar(&license, "license", "", `list only customers with this licence (e.g. "free_trial")`)

	var (
		inactiveAll, closeThem, yes bool
		days                        int
	)
	inactive := a.leaf(&cobra.Command{
		Use:   "inactive [--days N] [--all-profiles] [--close [--yes]]",
		Short: "Customers inactive for more than N days (90 by default); --close closes them (a dry run unless --yes)",
		Long: `List the customers with no activity for more than --days days (90 by
default), and those whose activity is unknown or could not be read, so that
none goes unseen. Exit status 1 when any is listed.

Activity is what the API shows: the latest pipeline run (sync), script run,
connection sync or connection created, else the account's creation. The
API cannot see user logins or use of Peliqan's web UI: a customer who only
uses the UI looks inactive. Check before closing.

--close closes the inactive customers (their accounts are deleted). Without
--yes it is a dry run: everything is read, nothing is written, and each
customer's line says would_close with the request --yes would send. With
--yes each one is read again and closed only if it is still inactive; a
customer whose activity is unknown or unreadable is skipped, never closed.
--close works on one profile at a time (not with --all-profiles).

Fields: ` + fieldNames(activityColumns(false)) + `
With --all-profiles: profile, then the same fields.
With --close: ` + fieldNames(closeColumns),
	}, func(ctx context.Context, cmd *cobra.Command, args []string) error {
		if days <= 0 {
			return usageErrorf("--days must be at least 1")
		}
		if yes && !closeThem {
			return usageErrorf("--yes only applies to --close")
		}
		if closeThem && inactiveAll {
			return usageErrorf("--close works on one profile at a time: choose it with --profile instead of --all-profiles")
		}
		inact := peliqan.InactivityOptions{InactiveFor: time.Duration(days) * 24 * time.Hour, Now: a.now}
		if closeThem {
			return a.closeInactive(ctx, inact, yes)
		}
		var rep *peliqan.ActivityReport
		var failed []profileFailure
		if inactiveAll {
			set, f, err := a.partnerSet()
			if err != nil {
				return err
			}
			failed = f
			if set != nil {
				if rep, err = set.InactiveCustomers(ctx, &inact); err != nil {
					return err
				}
			}
		} else {
			p, _, err := a.selectedPartner()
			if err != nil {
				return err
			}
			if rep, err = p.InactiveCustomers(ctx, &inact); err != nil {
				return err
			}
		}
		var lines []peliqan.CustomerActivity
		if rep != nil {
			lines = rep.Customers
			for _, pe := range rep.Failures {
				failed = append(failed, profileFailure{pe.Partner, pe.Err})
			}
		}
		a.printFailures(failed)
		if err := writeList(a.stdout, a.outputFormat(), activityColumns(inactiveAll), lines); err != nil {
			return err
		}
		a.note("%s inactive for more than %d days, or of unknown activity.", plural(len(lines), "customer"), days)
		if len(lines) > 0 || len(failed) > 0 {
			return errAttention
		}
		return nil
	}, peliqan.RouteListSubAccounts, peliqan.RouteSubAccountToken, peliqan.RouteListServers, peliqan.RouteListServerRuns,
		peliqan.RouteListScripts, peliqan.RouteListScriptRuns, peliqan.RouteGetSubAccount, peliqan.RouteDeleteSubAccount)
	fl = inactive.Flags()
	fl.IntVar(&days, "days", 90, "inactive means no activity for more than this many days")
	fl.BoolVar(&inactiveAll, "all-profiles", false, "report every profile of the config file")
	fl.BoolVar(&closeThem, "close", false, "close the inactive customers (a dry run unless --yes)")
	fl.BoolVar(&yes, "yes", false, "with --close: do it")

	return group("report", "Partner reports: licences and expiry, inactive customers", licences, inactive)
}

// closeInactive runs CloseInactiveCustomers as a dry run, or for real
// with yes, and prints what was done or would be.
func (a *app) closeInactive(ctx context.Context, inact peliqan.InactivityOptions, yes bool) error {
	p, _, err := a.selectedPartner()
	if err != nil {
		return err
	}
	o := &peliqan.CloseInactiveOptions{InactivityOptions: inact}
	if yes {
		o.Confirm = peliqan.Confirmed
	}
	rep, err := p.CloseInactiveCustomers(ctx, o)
	if rep == nil {
		return err
	}
	if werr := writeList(a.stdout, a.outputFormat(), closeColumns, rep.Results); werr != nil {
		return errors.Join(err, werr)
	}
	counts := map[peliqan.CloseOutcome]int{}
	for _, r := range rep.Results {
		counts[r.Outcome]++
		if r.Outcome == peliqan.CloseFailed && r.Err != nil {
			a.printError(fmt.Errorf("customer %d (%s): %w", r.Activity.SubAccount.ID, r.Activity.SubAccount.ExternalID, r.Err))
		}
	}
	switch {
	case rep.DryRun:
		a.note("Dry run: nothing was changed. %d would be closed, %d skipped (activity unknown or unreadable). Run again with --yes to close them.",
			counts[peliqan.CloseWouldClose], counts[peliqan.CloseSkipped])
	default:
		a.note("%d closed, %d failed, %d skipped (activity unknown or unreadable).",
			counts[peliqan.CloseClosed], counts[peliqan.CloseFailed], counts[peliqan.CloseSkipped])
	}
	if err != nil {
		if ctx.Err() != nil {
			a.note("Interrupted: the lines above are what was done; customers not listed were not closed.")
		}
		return err
	}
	if counts[peliqan.CloseFailed] > 0 {
		return errAttention
	}
	return nil
}
