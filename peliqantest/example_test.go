package peliqantest_test

import (
	"context"
	"errors"
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

// A partner limited to 2 requests per second with a burst of 2: the third
// request at the same instant is throttled, and a client that honours
// Retry-After gets through once the clock has moved.
func ExampleWithRateLimit() {
	clock := peliqantest.NewManualClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	srv, err := peliqantest.New(peliqantest.WithClock(clock.Now), peliqantest.WithRateLimit(2, 2),
		peliqantest.WithFixture(peliqantest.Generate(1, 1, 2, 0)))
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	t, err := srv.SubAccountClient(srv.Seeded().SubAccounts[0].ID, peliqan.WithRetryPolicy(peliqan.NoRetry()))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for range 3 {
		_, err = t.ListServers(ctx)
	}
	var apiErr *peliqan.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.StatusCode, "retry after", apiErr.RetryAfter)
	}
	clock.Advance(time.Second)
	_, err = t.ListServers(ctx)
	fmt.Println(err, srv.Counts().RateLimited, "throttled")
	// Output:
	// 429 retry after 1s
	// <nil> 1 throttled
}

// Every connection synced once: RunsStarted counts the pipeline runs each
// connection got (the same counts are served to other processes at
// peliqantest.CountsPath).
func ExampleFake_RunsStarted() {
	srv, err := peliqantest.New(peliqantest.WithFixture(peliqantest.Generate(1, 1, 3, 0)))
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	sa := srv.Seeded().SubAccounts[0]
	t, err := srv.SubAccountClient(sa.ID)
	if err != nil {
		panic(err)
	}
	for _, c := range sa.Connections {
		if _, err := t.SyncServer(context.Background(), c.ID, nil); err != nil {
			panic(err)
		}
	}
	runs := srv.RunsStarted()
	fmt.Println(len(runs), "connections,", runs[sa.Connections[0].ID], "run each;",
		srv.Counts().Routes[peliqan.RouteSyncServer].Requests, "sync requests")
	// Output: 3 connections, 1 run each; 3 sync requests
}
