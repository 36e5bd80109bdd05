package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/peliqan-community/peliqan-go"
	"github.com/spf13/cobra"
)

// customerRow is a customer, with the profile it belongs to under
// --all-profiles.
type customerRow struct {
	profile string
	sa      *peliqan.SubAccount
}

func customerListColumns(withProfile bool) []column[customerRow] {
	cols := []column[customerRow]{
		{"id", func(r customerRow) any { return r.sa.ID }},
		{"external_id", func(r customerRow) any { return r.sa.ExternalID }},
		{"name", func(r customerRow) any { return r.sa.Name }},
		{"email", func(r customerRow) any { return r.sa.Email }},
		{"company_name", func(r customerRow) any { return r.sa.CompanyName }},
		{"license", func(r customerRow) any { return r.sa.License }},
		{"expires_on", func(r customerRow) any { return r.sa.ExpiresOn }},
	}
	if withProfile {
		cols = append([]column[customerRow]{{"profile", func(r customerRow) any { return r.profile }}}, cols...)
	}
	return cols
}

var customerColumns = []column[*peliqan.SubAccount]{
	{"id", func(s *peliqan.SubAccount) any { return s.ID }},
	{"external_id", func(s *peliqan.SubAccount) any { return s.ExternalID }},
	{"name", func(s *peliqan.SubAccount) any { return s.Name }},
	{"first_name", func(s *peliqan.SubAccount) any { return s.FirstName }},
	{"last_name", func(s *peliqan.SubAccount) any { return s.LastName }},
	{"email", func(s *peliqan.SubAccount) any { return s.Email }},
	{"company_name", func(s *peliqan.SubAccount) any { return s.CompanyName }},
	{"country", func(s *peliqan.SubAccount) any { return s.Country }},
	{"company_size", func(s *peliqan.SubAccount) any { return s.CompanySize }},
	{"language", func(s *peliqan.SubAccount) any { return s.Language }},
	{"timezone", func(s *peliqan.SubAccount) any { return s.Timezone }},
	{"verified", func(s *peliqan.SubAccount) any { return s.Verified }},
	{"license", func(s *peliqan.SubAccount) any { return s.License }},
	{"expires_on", func(s *peliqan.SubAccount) any { return s.ExpiresOn }},
}

// profileFields are the customer profile flags of ensure and update.
type profileFields struct {
	firstName, lastName, email, company, country, companySize, language, timezone, license, expiresOn string
	noExpiry                                                                                          bool
}

func (f *profileFields) register(cmd *cobra.Command, update bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.firstName, "first-name", "", "owner's first name")
	fl.StringVar(&f.lastName, "last-name", "", "owner's last name")
	fl.StringVar(&f.email, "email", "", "owner's e-mail address")
	fl.StringVar(&f.company, "company", "", "company name")
	fl.StringVar(&f.country, "country", "", "company's country")
	fl.StringVar(&f.companySize, "company-size", "", `company size ("1-10", "50")`)
	fl.StringVar(&f.language, "language", "", `language (default "en" on creation)`)
	fl.StringVar(&f.timezone, "timezone", "", `time zone (default "UTC" on creation)`)
	fl.StringVar(&f.license, "license", "", `licence (default "free_trial" on creation)`)
	fl.StringVar(&f.expiresOn, "expires-on", "", "licence expiry date, YYYY-MM-DD")
	if update {
		fl.BoolVar(&f.noExpiry, "no-expiry", false, "remove the licence expiry date")
	}
}

func parseDateFlag(s string) (*peliqan.Date, error) {
	if s == "" {
		return nil, nil
	}
	d, err := peliqan.ParseDate(s)
	if err != nil {
		return nil, usageErrorf("--expires-on %q: want YYYY-MM-DD", s)
	}
	return &d, nil
}

func (a *app) customersCommand() *cobra.Command {
	var allProfiles bool
	list := a.leaf(&cobra.Command{
		Use:   "list",
		Short: "List the customers (sub-accounts)",
		Long: `List every customer (sub-account) of the partner account, or of every
profile with --all-profiles (a profile that fails is reported on stderr
with its name; the others are still listed, and the exit status is 1).

Fields: ` + fieldNames(customerListColumns(false)) + `
With --all-profiles: profile, then the same fields.`,
	}, func(ctx context.Context, cmd *cobra.Command, args []string) error {
		if allProfiles {
			return a.listCustomersAllProfiles(ctx)
		}
		p, _, err := a.selectedPartner()
		if err != nil {
			return err
		}
		var rows []customerRow
		for sa, err := range p.SubAccounts(ctx, nil) {
			if err != nil {
				return err
			}
			rows = append(rows, customerRow{sa: sa})
		}
		return writeList(a.stdout, a.outputFormat(), customerListColumns(false), rows)
	}, peliqan.RouteListSubAccounts)
	list.Flags().BoolVar(&allProfiles, "all-profiles", false, "list the customers of every profile in the config file")

	get := a.leaf(&cobra.Command{
		Use:   "get CUSTOMER",
		Short: "Show one customer",
		Long:  "Show one customer.\n\n" + customerHelp + "\n\nFields: " + fieldNames(customerColumns),
		Args:  exactArgs(1, "a CUSTOMER (external id, or id:N)"),
	}, func(ctx context.Context, cmd *cobra.Command, args []string) error {
		ref, err := parseCustomer(args[0])
		if err != nil {
			return err
		}
		p, _, err := a.selectedPartner()
		if err != nil {
			return err
		}
		sa, err := p.GetSubAccount(ctx, ref)
		if err != nil {
			return err
		}
		return writeOne(a.stdout, a.outputFormat(), customerColumns, sa)
	}, peliqan.RouteGetSubAccount)

	var ensureFields profileFields
	var externalID string
	ensure := a.leaf(&cobra.Command{
		Use:   "ensure --external-id ID --first-name F --last-name L --email E --company C",
		Short: "Get a customer by external id, creating it when missing",
		Long: `Get the customer with this external id, or create it from the flags when
it does not exist (first name, last name, e-mail and company are required
for that). Safe to run again: a second run finds the customer.

Fields: ` + fieldNames(ensureColumns),
	}, func(ctx context.Context, cmd *cobra.Command, args []string) error {
		in := peliqan.SubAccountCreate{
			ExternalID: externalID, FirstName: ensureFields.firstName, LastName: ensureFields.lastName,
			Email: ensureFields.email, CompanyName: ensureFields.company, Country: ensureFields.country,
			CompanySize: ensureFields.companySize, Language: ensureFields.language, Timezone: ensureFields.timezone,
			License: ensureFields.license,
		}
		d, err := parseDateFlag(ensureFields.expiresOn)
		if err != nil {
			return err
		}
		in.ExpiresOn = d
		p, _, err := a.selectedPartner()
		if err != nil {
			return err
		}
		sa, created, err := p.EnsureSubAccount(ctx, in)
		if err != nil {
			return err
		}
		return writeOne(a.stdout, a.outputFormat(), ensureColumns, ensured{sa, created})
	}, peliqan.RouteGetSubAccount, peliqan.RouteCreateSubAccount)
	ensure.Flags().StringVar(&externalID, "external-id", "", "your id for the customer (required)")
	ensureFields.register(ensure, false)

	var updateFields profileFields
	update := a.leaf(&cobra.Command{
		Use:   "update CUSTOMER [--license L] [--expires-on YYYY-MM-DD | --no-expiry] [profile flags]",
		Short: "Change a customer's licence, expiry or profile fields",
		Long: `Change a customer's licence, expiry date or profile fields; only the
flags given are sent.

` + customerHelp + `

Fields: ` + fieldNames(customerColumns),
		Args: exactArgs(1, "a CUSTOMER (external id, or id:N)"),
	}, func(ctx context.Context, cmd *cobra.Command, args []string) error {
		ref, err := parseCustomer(args[0])
		if err != nil {
			return err
		}
		u, err := updateFields.update(cmd)
		if err != nil {
			return err
		}
		p, _, err := a.selectedPartner()
		if err != nil {
			return err
		}
		id, err := accountID(ctx, p, ref)
		if err != nil {
			return err
		}
		sa, err := p.UpdateSubAccount(ctx, id, u)
		if err != nil {
			return err
		}
		return writeOne(a.stdout, a.outputFormat(), customerColumns, sa)
	}, peliqan.RouteGetSubAccount, peliqan.RouteUpdateSubAccount)
	updateFields.register(update, true)

	var yes bool
	del := a.leaf(&cobra.Command{
		Use:   "delete CUSTOMER [--yes]",
		Short: "Close a customer account (a dry run unless --yes)",
		Long: `Close a customer account. Without --yes this is a dry run: it reads the
customer, sends no write, and prints the request --yes would send.

` + customerHelp + `

Fields: ` + fieldNames(planColumns),
		Args: exactArgs(1, "a CUSTOMER (external id, or id:N)"),
	}, func(ctx context.Context, cmd *cobra.Command, args []string) error {
		ref, err := parseCustomer(args[0])
		if err != nil {
			return err
		}
		p, _, err := a.selectedPartner()
		if err != nil {
			return err
		}
		sa, err := p.GetSubAccount(ctx, ref)
		if err != nil {
			return err
		}
		step := planStep{Action: "delete_customer", Target: fmt.Sprintf("customer %d (%s, %s)", sa.ID, sa.ExternalID, sa.Name), Route: peliqan.RouteDeleteSubAccount, ID: sa.ID}
		return a.runPlan(ctx, yes, []*planStep{&step}, func(ctx context.Context, s *planStep) error {
			return p.DeleteSubAccount(ctx, s.ID)
		})
	}, peliqan.RouteGetSubAccount, peliqan.RouteDeleteSubAccount)
	del.Flags().BoolVar(&yes, "yes", false, "do it (without --yes: a dry run that sends no write)")

	return group("customers", "Customers (sub-accounts) of the partner account", list, get, ensure, update, del, a.changeLicencesCommand())
}

// ensured is the answer of "customers ensure".
type ensured struct {
	sa      *peliqan.SubAccount
	created bool
}

var ensureColumns = func() []column[ensured] {
	cols := []column[ensured]{{"created", func(e ensured) any { return e.created }}}
	for _, c := range customerColumns {
		cols = append(cols, column[ensured]{c.Name, func(e ensured) any { return c.Value(e.sa) }})
	}
	return cols
}()

// update builds the SubAccountUpdate of the flags that were given.
func (f *profileFields) update(cmd *cobra.Command) (peliqan.SubAccountUpdate, error) {
	var u peliqan.SubAccountUpdate
	fl := cmd.Flags()
	set := func(name string, v string, dst **string) {
		if fl.Changed(name) {
			s := v
			*dst = &s
		}
	}
	set("first-name", f.firstName, &u.FirstName)
	set("last-name", f.lastName, &u.LastName)
	set("email", f.email, &u.Email)
	set("company", f.company, &u.CompanyName)
	set("country", f.country, &u.Country)
	set("company-size", f.companySize, &u.CompanySize)
	set("language", f.language, &u.Language)
	set("timezone", f.timezone, &u.Timezone)
	set("license", f.license, &u.License)
	if fl.Changed("expires-on") {
		if f.noExpiry {
			return u, usageErrorf("--expires-on and --no-expiry exclude each other")
		}
		d, err := parseDateFlag(f.expiresOn)
		if err != nil {
			return u, err
		}
		if d == nil {
			return u, usageErrorf("--expires-on: empty date (use --no-expiry to remove it)")
		}
		u.ExpiresOn = d
	}
	u.ClearExpiresOn = f.noExpiry
	if u == (peliqan.SubAccountUpdate{}) {
		return u, usageErrorf("nothing to change: give at least one of --license, --expires-on, --no-expiry or a profile flag")
	}
	return u, nil
}

// accountID returns the account id of ref, asking the API only for an
// external id.
func accountID(ctx context.Context, p *peliqan.PartnerClient, ref peliqan.SubAccountRef) (peliqan.ID, error) {
	if id, ok := ref.AccountID(); ok {
		return id, nil
	}
	sa, err := p.GetSubAccount(ctx, ref)
	if err != nil {
		return 0, err
	}
	return sa.ID, nil
}

// listCustomersAllProfiles lists the customers of every profile at once
// (a PartnerSet). A profile that fails is reported with its name, and its
// customers are left out rather than listed in part; the others are listed.
func (a *app) listCustomersAllProfiles(ctx context.Context) error {
	set, failed, err := a.partnerSet()
	if err != nil {
		return err
	}
	var rows []customerRow
	if set != nil {
		for ps, err := range set.SubAccounts(ctx, nil) {
			var pe *peliqan.PartnerError
			switch {
			case errors.As(err, &pe):
				failed = append(failed, profileFailure{pe.Partner, pe.Err})
				continue
			case err != nil:
				return err // ctx ended
			}
			rows = append(rows, customerRow{profile: ps.Partner, sa: ps.SubAccount})
		}
	}
	rows = slices.DeleteFunc(rows, func(r customerRow) bool { return failedProfile(failed, r.profile) })
	slices.SortStableFunc(rows, func(x, y customerRow) int {
		return cmp.Or(cmp.Compare(x.profile, y.profile), cmp.Compare(x.sa.ID, y.sa.ID))
	})
	a.printFailures(failed)
	if err := writeList(a.stdout, a.outputFormat(), customerListColumns(true), rows); err != nil {
		return err
	}
	if len(failed) > 0 {
		return errAttention
	}
	return nil
}
