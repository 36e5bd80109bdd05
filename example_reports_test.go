package peliqan_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"slices"
	"strings"
	"time"

	"github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// exampleFake starts a fake partner account on a manual clock (so the
// examples can move time forward) with f loaded.
func exampleFake(start time.Time, f peliqantest.Fixture) (*peliqantest.Fake, *peliqantest.ManualClock, *peliqan.PartnerClient) {
	clk := peliqantest.NewManualClock(start)
	fake, err := peliqantest.New(peliqantest.WithClock(clk.Now), peliqantest.WithFixture(f))
	if err != nil {
		log.Fatal(err)
	}
	p, err := fake.PartnerClient()
	if err != nil {
		log.Fatal(err)
	}
	return fake, clk, p
}

// Every customer's licence and expiry, the most urgent first. Moving the
// clock three weeks on, one licence has expired and another is now
// expiring.
func ExamplePartnerClient_LicenseReport() {
	fake, clk, p := exampleFake(time.Date(2026, time.March, 1, 9, 0, 0, 0, time.UTC), peliqantest.Fixture{
		SubAccounts: []peliqantest.SubAccountFixture{
			{ExternalID: "acme", License: "pro", ExpiresOn: peliqan.NewDate(2026, time.March, 15)},
			{ExternalID: "globex", License: "pro", ExpiresOn: peliqan.NewDate(2026, time.April, 20)},
			{ExternalID: "initech", License: "free_trial"},
		}})
	defer fake.Close()
	ctx := context.Background()

	for range 2 {
		rep, err := p.LicenseReport(ctx, &peliqan.LicenseReportOptions{Now: clk.Now})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("on", rep.Today)
		for _, c := range rep.Customers {
			fmt.Printf("  %-8s %-10s %-10s %4d days  %s\n", c.SubAccount.ExternalID, c.License, c.ExpiresOn, c.DaysLeft, c.State)
		}
		clk.Advance(21 * 24 * time.Hour)
	}
	// Output:
	// on 2026-03-01
	//   acme     pro        2026-03-15   14 days  expiring
	//   globex   pro        2026-04-20   50 days  valid
	//   initech  free_trial               0 days  no_expiry
	// on 2026-03-22
	//   acme     pro        2026-03-15   -7 days  expired
	//   globex   pro        2026-04-20   29 days  expiring
	//   initech  free_trial               0 days  no_expiry
}

// Extend every "pro" customer to the end of the year: review the dry run,
// then confirm. Running it again changes nothing.
func ExamplePartnerClient_ChangeLicenses() {
	fake, _, p := exampleFake(time.Date(2026, time.March, 1, 9, 0, 0, 0, time.UTC), peliqantest.Fixture{
		SubAccounts: []peliqantest.SubAccountFixture{
			{ExternalID: "acme", License: "pro", ExpiresOn: peliqan.NewDate(2026, time.March, 15)},
			{ExternalID: "globex", License: "pro", ExpiresOn: peliqan.NewDate(2026, time.December, 31)},
			{ExternalID: "initech", License: "free_trial"},
		}})
	defer fake.Close()
	ctx := context.Background()
	change := peliqan.LicenseChange{
		Match:     func(sa *peliqan.SubAccount) bool { return sa.License == "pro" },
		ExpiresOn: peliqan.NewDate(2026, time.December, 31),
	}
	show := func(rep *peliqan.LicenseChangeReport) {
		fmt.Println("dry run:", rep.DryRun)
		for _, r := range rep.Results {
			fmt.Printf("  %-7s %-12s %s -> %s\n", r.SubAccount.ExternalID, r.Outcome, r.Before, r.After)
		}
	}

	dry, err := p.ChangeLicenses(ctx, change, nil) // nil options: a dry run
	if err != nil {
		log.Fatal(err)
	}
	show(dry)
	fmt.Println("updates sent:", fake.Count(peliqan.RouteUpdateSubAccount))

	for range 2 {
		rep, err := p.ChangeLicenses(ctx, change, &peliqan.LicenseChangeOptions{Confirm: peliqan.Confirmed})
		if err != nil {
			log.Fatal(err)
		}
		show(rep)
		fmt.Println("updates sent:", fake.Count(peliqan.RouteUpdateSubAccount))
	}
	// Output:
	// dry run: true
	//   acme    would_change pro until 2026-03-15 -> pro until 2026-12-31
	//   globex  unchanged    pro until 2026-12-31 -> pro until 2026-12-31
	// updates sent: 0
	// dry run: false
	//   acme    changed      pro until 2026-03-15 -> pro until 2026-12-31
	//   globex  unchanged    pro until 2026-12-31 -> pro until 2026-12-31
	// updates sent: 1
	// dry run: false
	//   acme    unchanged    pro until 2026-12-31 -> pro until 2026-12-31
	//   globex  unchanged    pro until 2026-12-31 -> pro until 2026-12-31
	// updates sent: 1
}

// Find the customers without activity for 90 days, see what closing them
// would do, then close them. A customer whose connection synced a month in
// stays.
func ExamplePartnerClient_CloseInactiveCustomers() {
	start := time.Date(2026, time.January, 5, 9, 0, 0, 0, time.UTC)
	fake, clk, p := exampleFake(start, peliqantest.Fixture{SubAccounts: []peliqantest.SubAccountFixture{
		{ExternalID: "acme", Connections: []peliqantest.ConnectionFixture{{Type: "pipedrive"}}},
		{ExternalID: "globex", Connections: []peliqantest.ConnectionFixture{{Type: "hubspot"}}},
		{ExternalID: "initech"},
	}})
	defer fake.Close()
	ctx := context.Background()

	// globex syncs on day 30; nobody else does anything.
	clk.Advance(30 * 24 * time.Hour)
	globex, err := p.SubAccount(peliqan.ByExternalID("globex"))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := globex.SyncServer(ctx, fake.Seeded().SubAccounts[1].Connections[0].ID, nil); err != nil {
		log.Fatal(err)
	}
	clk.Advance(70 * 24 * time.Hour) // day 100

	act, err := p.ActivityReport(ctx, &peliqan.InactivityOptions{Now: clk.Now})
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range act.Customers {
		fmt.Printf("%-8s %-9s last %s (%s), %d days ago\n", c.SubAccount.ExternalID, c.Status,
			c.LastActivity.Format(time.DateOnly), c.Source, c.Idle/(24*time.Hour))
	}

	inactivity := peliqan.InactivityOptions{Now: clk.Now} // InactiveFor: 90 days by default
	for _, confirm := range []peliqan.Confirmation{"", peliqan.Confirmed} {
		rep, err := p.CloseInactiveCustomers(ctx, &peliqan.CloseInactiveOptions{InactivityOptions: inactivity, Confirm: confirm})
		if err != nil {
			log.Fatal(err)
		}
		for _, r := range rep.Results {
			fmt.Printf("dry run %-5v %-8s %s\n", rep.DryRun, r.Activity.SubAccount.ExternalID, r.Outcome)
		}
		fmt.Println("deletes sent:", fake.Count(peliqan.RouteDeleteSubAccount))
	}
	// Output:
	// acme     inactive  last 2026-01-05 (connection_created), 100 days ago
	// initech  inactive  last 2026-01-05 (account_created), 100 days ago
	// globex   active    last 2026-02-04 (pipeline_run), 69 days ago
	// dry run true  acme     would_close
	// dry run true  initech  would_close
	// deletes sent: 0
	// dry run false acme     closed
	// dry run false initech  closed
	// deletes sent: 2
}

// Two partner accounts (an EU and a US region) as one. The US account is
// down: the EU lines are all there, and the failure names its partner.
func ExampleNewPartnerSet() {
	start := time.Date(2026, time.March, 1, 9, 0, 0, 0, time.UTC)
	euFake, clk, eu := exampleFake(start, peliqantest.Fixture{SubAccounts: []peliqantest.SubAccountFixture{
		{ExternalID: "acme", License: "pro", ExpiresOn: peliqan.NewDate(2026, time.March, 15)},
		{ExternalID: "globex", License: "free_trial"},
	}})
	defer euFake.Close()
	usFake, _, us := exampleFake(start, peliqantest.Fixture{SubAccounts: []peliqantest.SubAccountFixture{{ExternalID: "initech"}}})
	defer usFake.Close()
	usFake.FailNext(peliqan.RouteListSubAccounts, 1000, peliqantest.StatusFault(503, ""))

	set, err := peliqan.NewPartnerSet(map[string]*peliqan.PartnerClient{"eu": eu, "us": us})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	rep, err := set.LicenseReport(ctx, &peliqan.LicenseReportOptions{Now: clk.Now})
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range rep.Customers {
		fmt.Printf("%s/%-7s %-10s %s\n", c.Partner, c.SubAccount.ExternalID, c.License, c.State)
	}
	for _, f := range rep.Failures {
		fmt.Printf("partner %s failed (server error: %v)\n", f.Partner, errors.Is(f, peliqan.ErrServer))
	}

	// The iterators go on past a failing partner: it is one error among the
	// lines. Partners are read at once, so lines of different partners
	// interleave; sort them to print.
	var lines []string
	for it, err := range set.SubAccounts(ctx, nil) {
		var pe *peliqan.PartnerError
		switch {
		case errors.As(err, &pe):
			lines = append(lines, pe.Partner+": listing failed")
		case err != nil:
			log.Fatal(err) // ctx ended
		default:
			lines = append(lines, it.Partner+": "+it.SubAccount.ExternalID)
		}
	}
	slices.Sort(lines)
	fmt.Println(strings.Join(lines, "\n"))
	// Output:
	// eu/acme    pro        expiring
	// eu/globex  free_trial no_expiry
	// partner us failed (server error: true)
	// eu: acme
	// eu: globex
	// us: listing failed
}
