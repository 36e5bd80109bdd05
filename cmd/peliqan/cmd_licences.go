package main

import (
	"context"
	"fmt"

	"github.com/peliqan-community/peliqan-go"
	"github.com/spf13/cobra"
)

// licenceChangeRow is one customer's line of a bulk licence change.
type licenceChangeRow struct {
	label string
	r     peliqan.LicenseChangeResult
}

func datePtr(d peliqan.Date) *peliqan.Date { return &d }

var licenceChangeColumns = []column[licenceChangeRow]{
	{"customer", func(l licenceChangeRow) any { return l.label }},
	{"customer_id", func(l licenceChangeRow) any {
		if l.r.SubAccount == nil {
			return nil
		}
		return l.r.SubAccount.ID
	}},
	{"license_before", func(l licenceChangeRow) any { return l.r.Before.License }},
	{"expires_on_before", func(l licenceChangeRow) any { return datePtr(l.r.Before.ExpiresOn) }},
	{"license_after", func(l licenceChangeRow) any { return l.r.After.License }},
	{"expires_on_after", func(l licenceChangeRow) any { return datePtr(l.r.After.ExpiresOn) }},
	{"outcome", func(l licenceChangeRow) any { return string(l.r.Outcome) }},
	{"request", func(l licenceChangeRow) any {
		if l.r.SubAccount == nil || (l.r.Outcome != peliqan.LicenseWouldChange && l.r.Outcome != peliqan.LicenseChanged && l.r.Outcome != peliqan.LicenseChangeFailed) {
			return nil
		}
		method, path := routePath(peliqan.RouteUpdateSubAccount, l.r.SubAccount.ID)
		return method + " " + path
	}},
	{"error", func(l licenceChangeRow) any {
		if l.r.Err == nil {
			return nil
		}
		return l.r.Err.Error()
	}},
}

func (a *app) changeLicencesCommand() *cobra.Command {
	var (
		customers          []string
		all, noExpiry, yes bool
		whereLicense       string
		license, expiresOn string
		concurrency        int
	)
	c := a.leaf(&cobra.Command{
		Use:   "change-licences (--customer CUSTOMER... | --where-license L | --all) [--license L] [--expires-on D | --no-expiry] [--yes]",
		Short: "Change the licence or expiry of many customers (a dry run unless --yes)",
		Long: `Change the licence and/or the expiry date of the chosen customers: those
named with --customer, those whose licence is --where-license, or --all.
Without --yes this is a dry run: every customer is read, nothing is
written, and each line says would_change (with the request --yes would
send) or unchanged. With --yes only the customers whose terms differ are
written to, so running it twice changes nothing the second time.

` + customerHelp + `

Fields: ` + fieldNames(licenceChangeColumns),
	}, func(ctx context.Context, cmd *cobra.Command, args []string) error {
		var ch peliqan.LicenseChange
		chosen := 0
		if len(customers) > 0 {
			chosen++
		}
		if whereLicense != "" {
			chosen++
		}
		if all {
			chosen++
		}
		if chosen != 1 {
			return usageErrorf("choose the customers with exactly one of --customer, --where-license and --all")
		}
		labels := map[peliqan.SubAccountRef]string{}
		for _, cs := range customers {
			ref, err := parseCustomer(cs)
			if err != nil {
				return err
			}
			ch.SubAccounts = append(ch.SubAccounts, ref)
			labels[ref] = cs
		}
		switch {
		case whereLicense != "":
			ch.Match = func(sa *peliqan.SubAccount) bool { return sa.License == whereLicense }
		case all:
			ch.Match = func(*peliqan.SubAccount) bool { return true }
		}
		ch.License = license
		if expiresOn != "" {
			if noExpiry {
				return usageErrorf("--expires-on and --no-expiry exclude each other")
			}
			d, err := parseDateFlag(expiresOn)
			if err != nil {
				return err
			}
			ch.ExpiresOn = *d
		}
		ch.ClearExpiresOn = noExpiry
		if ch.License == "" && ch.ExpiresOn.IsZero() && !ch.ClearExpiresOn {
			return usageErrorf("nothing to change: give --license, --expires-on or --no-expiry")
		}
		if concurrency < 0 {
			return usageErrorf("--concurrency must not be negative")
		}
		p, _, err := a.selectedPartner()
		if err != nil {
			return err
		}
		o := &peliqan.LicenseChangeOptions{Concurrency: concurrency}
		if yes {
			o.Confirm = peliqan.Confirmed
		}
		rep, err := p.ChangeLicenses(ctx, ch, o)
		if rep == nil {
			return err
		}
		rows := make([]licenceChangeRow, len(rep.Results))
		counts := map[peliqan.LicenseChangeOutcome]int{}
		for i, r := range rep.Results {
			label, ok := labels[r.Ref]
			if !ok && r.SubAccount != nil {
				label = r.SubAccount.ExternalID
			}
			rows[i] = licenceChangeRow{label, r}
			counts[r.Outcome]++
			if r.Outcome == peliqan.LicenseChangeFailed && r.Err != nil {
				a.printError(fmt.Errorf("customer %s: %w", label, r.Err))
			}
		}
		if werr := writeList(a.stdout, a.outputFormat(), licenceChangeColumns, rows); werr != nil {
			return werr
		}
		if rep.DryRun {
			a.note("Dry run: nothing was changed. %d would change, %d unchanged, %d failed. Run again with --yes to change them.",
				counts[peliqan.LicenseWouldChange], counts[peliqan.LicenseUnchanged], counts[peliqan.LicenseChangeFailed])
		} else {
			a.note("%d changed, %d unchanged, %d failed.", counts[peliqan.LicenseChanged], counts[peliqan.LicenseUnchanged], counts[peliqan.LicenseChangeFailed])
		}
		if err != nil {
			return err
		}
		if counts[peliqan.LicenseChangeFailed] > 0 {
			return errAttention
		}
		return nil
	}, peliqan.RouteListSubAccounts, peliqan.RouteGetSubAccount, peliqan.RouteUpdateSubAccount)
	fl := c.Flags()
	fl.StringArrayVarP(&customers, "customer", "c", nil, "a customer: external id, or id:N (repeatable)")
	fl.StringVar(&whereLicense, "where-license", "", `every customer whose licence is this (e.g. "free_trial")`)
	fl.BoolVar(&all, "all", false, "every customer")
	fl.StringVar(&license, "license", "", "the new licence")
	fl.StringVar(&expiresOn, "expires-on", "", "the new expiry date, YYYY-MM-DD")
	fl.BoolVar(&noExpiry, "no-expiry", false, "remove the expiry date")
	fl.IntVar(&concurrency, "concurrency", 0, "customers worked on at once (default 4)")
	fl.BoolVar(&yes, "yes", false, "do it (without --yes: a dry run that sends no write)")
	return c
}
