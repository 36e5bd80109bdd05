package peliqantest_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// A fake seeded with generated customers, read through a real SDK client.
func ExampleNew() {
	srv, err := peliqantest.New(peliqantest.WithFixture(peliqantest.Generate(1, 2, 1, 10)))
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	p, err := srv.PartnerClient()
	if err != nil {
		panic(err)
	}
	for sa, err := range p.SubAccounts(context.Background(), nil) {
		if err != nil {
			panic(err)
		}
		fmt.Println(sa.ExternalID, sa.Name)
	}
	// Output:
	// cust-0001 Nova Alpha
	// cust-0002 Xenon Ember
}

// Injected faults: the next two connection lists fail with a 503 and a
// Retry-After; the SDK's zero-wait retries get through on the third try.
func ExampleFake_FailNext() {
	srv, err := peliqantest.New(peliqantest.WithFixture(peliqantest.Generate(1, 1, 2, 0)))
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	srv.FailNext(peliqan.RouteListServers, 2, peliqantest.RetryAfterFault(http.StatusServiceUnavailable, "0"))

	t, err := srv.SubAccountClient(srv.Seeded().SubAccounts[0].ID)
	if err != nil {
		panic(err)
	}
	servers, err := t.ListServers(context.Background())
	if err != nil {
		panic(err)
	}
	fmt.Println(len(servers), "connections after", srv.Count(peliqan.RouteListServers), "requests")
	// Output: 2 connections after 3 requests
}

// A sync followed on an injected clock: RUNNING until the sync duration has
// passed, then COMPLETED.
func ExampleManualClock() {
	clk := peliqantest.NewManualClock(time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC))
	srv, err := peliqantest.New(peliqantest.WithClock(clk.Now), peliqantest.WithSyncDuration(time.Minute),
		peliqantest.WithFixture(peliqantest.Fixture{SubAccounts: []peliqantest.SubAccountFixture{{
			ExternalID: "acme", Connections: []peliqantest.ConnectionFixture{{Name: "CRM"}},
		}}}))
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	conn := srv.Seeded().SubAccounts[0].Connections[0].ID
	t, err := srv.SubAccountClient(srv.Seeded().SubAccounts[0].ID)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	res, err := t.SyncServer(ctx, conn, nil)
	if err != nil {
		panic(err)
	}
	status, err := t.GetServerSyncRunStatus(ctx, conn, &peliqan.SyncStatusOptions{TaskID: res.TaskID})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.HealthStatus, "running:", status.Running)
	clk.Advance(time.Minute)
	if status, err = t.GetServerSyncRunStatus(ctx, conn, &peliqan.SyncStatusOptions{TaskID: res.TaskID}); err != nil {
		panic(err)
	}
	fmt.Println("running:", status.Running)
	// Output:
	// CHECKING running: true
	// running: false
}
