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
	var page struct {
		Data []struct {
			ExternalID string `json:"external_id"`
			Name       string `json:"name"`
		} `json:"data"`
	}
	if err := p.Do(context.Background(), http.MethodGet, "/api/partner/sub-accounts/", nil, &page); err != nil {
		panic(err)
	}
	for _, sa := range page.Data {
		fmt.Println(sa.ExternalID, sa.Name)
	}
	// Output:
	// cust-0001 Nova Alpha
	// cust-0002 Xenon Ember
}

// Injected faults: the next two connection lists fail with a 503 and a
// Retry-After; the SDK's zero-wait retries get through on the third try.
func ExampleServer_FailNext() {
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
	var servers []map[string]any
	if err := t.Do(context.Background(), http.MethodGet, "/api/servers/", nil, &servers); err != nil {
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
	var sync struct {
		HealthStatus string `json:"health_status"`
	}
	var status struct {
		Running bool `json:"running"`
	}
	_ = t.Do(ctx, http.MethodGet, "/api/servers/"+conn.String()+"/syncdb/", nil, &sync)
	_ = t.Do(ctx, http.MethodGet, "/api/servers/"+conn.String()+"/syncdb/status/", nil, &status)
	fmt.Println(sync.HealthStatus, "running:", status.Running)
	clk.Advance(time.Minute)
	_ = t.Do(ctx, http.MethodGet, "/api/servers/"+conn.String()+"/syncdb/status/", nil, &status)
	fmt.Println("running:", status.Running)
	// Output:
	// CHECKING running: true
	// running: false
}
