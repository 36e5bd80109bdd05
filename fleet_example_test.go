package peliqan_test

import (
	"context"
	"fmt"
	"log"
	"slices"
	"time"

	"github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// Sync every connection of every customer, at most 16 requests in flight and
// 10 per second, and print one line per connection. (Against a fake here:
// a customer with a CRM and a bank account whose authorisation lapsed, and
// one whose database sync ends with errors.)
func ExamplePartnerClient_SyncFleet() {
	fake, err := peliqantest.New(peliqantest.WithSyncDuration(100*time.Millisecond),
		peliqantest.WithFixture(peliqantest.Fixture{SubAccounts: []peliqantest.SubAccountFixture{
			{ExternalID: "acme", Connections: []peliqantest.ConnectionFixture{
				{Name: "CRM", Type: "pipedrive"},
				{Name: "Bank", Type: "saltedge", HealthStatus: "RE_AUTHORISING"},
			}},
			{ExternalID: "globex", Connections: []peliqantest.ConnectionFixture{
				{Name: "Orders DB", Type: "postgresql", SyncOutcome: peliqantest.OutcomeCompletedWithErrors},
			}},
		}}))
	if err != nil {
		log.Fatal(err)
	}
	defer fake.Close()
	p, err := peliqan.NewPartnerClient(fake.PartnerToken(), peliqan.WithBaseURL(fake.URL()))
	if err != nil {
		log.Fatal(err)
	}

	limiter, err := peliqan.NewRateLimiter(10, 10)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour) // bound the whole job
	defer cancel()
	var lines []string
	for r, err := range p.SyncFleet(ctx, &peliqan.FleetSyncOptions{
		Concurrency: 16,
		Limiter:     limiter,
		Schedule:    peliqan.FixedSchedule(100 * time.Millisecond), // Peliqan's own schedule when nil
	}) {
		if err != nil {
			log.Fatal(err) // the fleet as a whole stopped: the list failed, or ctx ended
		}
		line := fmt.Sprintf("%s / %s: %s", r.SubAccount.ExternalID, r.Server.Name, r.Outcome)
		if r.Run != nil && r.Run.Run != nil {
			line += fmt.Sprintf(" (run %s)", r.Run.Status)
		}
		lines = append(lines, line)
	}
	slices.Sort(lines) // results come as they are known
	for _, l := range lines {
		fmt.Println(l)
	}
	// Output:
	// acme / Bank: skipped_needs_reauthorisation
	// acme / CRM: completed (run COMPLETED)
	// globex / Orders DB: completed_with_errors (run COMPLETED_WITH_ERRORS)
}
