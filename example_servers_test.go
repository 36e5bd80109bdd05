package peliqan_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	peliqan "github.com/peliqan-community/peliqan-go"
)

// srvExampleAPI stands in for Peliqan in the examples below.
func srvExampleAPI() *httptest.Server {
	var polls atomic.Int32
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.Method + " " + r.URL.Path {
		case "POST /api/servers/":
			if r.Header.Get("X-Connector") == "oauth" {
				fmt.Fprint(w, `{"id": 42, "oauth_url": "https://login.example.com/authorize?state=xyz"}`)
				return
			}
			fmt.Fprint(w, `{"id": 41, "name": "Stripe", "health_status": "OK"}`)
		case "GET /api/servers/41/syncdb/":
			fmt.Fprint(w, `{"server_id": 41, "run_data": [{"pipeline_run_id": 900, "task_id": "t-1"}], "task_id": "t-1", "syncing": true}`)
		case "GET /api/servers/41/syncdb/status/":
			fmt.Fprintf(w, `{"running": %t, "run_id": 900}`, polls.Add(1) < 3)
		case "GET /api/pipeline_runs/":
			fmt.Fprint(w, `{"data": [{"id": 900, "status": "COMPLETED", "tables": [{"name": "charges", "records": 1000}, {"name": "customers", "records": 200}]}]}`)
		case "GET /api/servers/41/reauthorise/":
			fmt.Fprint(w, `{"auth_uri": "https://login.example.com/authorize?state=again"}`)
		case "GET /api/partner/sub-accounts/":
			fmt.Fprint(w, `{"data": [{"id": 1, "name": "Wood & Co", "external_id": "wood_123"}], "next": null}`)
		case "GET /api/partner/sub-account/identity/":
			fmt.Fprint(w, `{"token": "tenant-token"}`)
		case "GET /api/servers/":
			fmt.Fprint(w, `[{"id": 41, "name": "Stripe", "health_status": "OK"}, {"id": 43, "name": "Gmail", "health_status": "RE_AUTHORISING"}]`)
		case "GET /api/servers/41/runs/", "GET /api/servers/43/runs/":
			fmt.Fprint(w, `{"data": [{"id": 900, "status": "COMPLETED"}]}`)
		default:
			http.NotFound(w, r)
		}
	}))
}

// Add an API-key connection for a customer: the connection is ready at once.
func ExampleSubAccountClient_CreateServer() {
	api := srvExampleAPI()
	defer api.Close()
	t, err := peliqan.NewSubAccountClient("tenant-token", peliqan.WithBaseURL(api.URL))
	if err != nil {
		log.Fatal(err)
	}

	created, err := t.CreateServer(context.Background(), peliqan.ServerCreate{
		ServerTypeID: 7, // from PartnerClient.ServerTypes
		Fields:       map[string]any{"name": "Stripe", "api_key": "sk_test_123"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("connection", created.ID, "health", created.Server.HealthStatus, "needs OAuth:", created.OAuthURL != "")
	// Output: connection 41 health OK needs OAuth: false
}

// Start an OAuth connection: the customer must open the URL to grant access.
func ExampleSubAccountClient_CreateServer_oauth() {
	api := srvExampleAPI()
	defer api.Close()
	t, err := peliqan.NewSubAccountClient("tenant-token", peliqan.WithBaseURL(api.URL))
	if err != nil {
		log.Fatal(err)
	}

	created, err := t.CreateServer(context.Background(), peliqan.ServerCreate{ServerTypeID: 12},
		peliqan.WithHeader("X-Connector", "oauth")) // (only to steer this example's fake server)
	if created == nil {
		log.Fatal(err) // nothing was created
	}
	if err != nil {
		// The connection exists but its answer was not usable in full (a
		// *DecodeError): keep created.ID, do not create it again, and get a
		// fresh URL with ReAuthoriseServer.
		log.Printf("connection %s created, but: %v", created.ID, err)
	}
	if created.OAuthURL != "" {
		// Redirect the customer's browser here (http.Redirect, or window.open
		// in your front end); the connection syncs once they grant access.
		fmt.Println("connection", created.ID, "waits for the customer at", created.OAuthURL)
	}
	// Output: connection 42 waits for the customer at https://login.example.com/authorize?state=xyz
}

// Start a sync and wait for it, reporting progress.
func ExampleSubAccountClient_WaitForSync() {
	api := srvExampleAPI()
	defer api.Close()
	t, err := peliqan.NewSubAccountClient("tenant-token", peliqan.WithBaseURL(api.URL))
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()

	res, err := t.SyncServer(ctx, 41, nil) // asynchronous: returns at once
	if err != nil {
		log.Fatal(err)
	}
	run, err := t.WaitForSync(ctx, res, &peliqan.WaitOptions{
		// Leave Schedule nil in production: Peliqan's own 5 s / 10 s / 20 s.
		Schedule: peliqan.FixedSchedule(time.Millisecond),
		Progress: func(p peliqan.SyncProgress) {
			fmt.Printf("poll %d: running=%t\n", p.Poll, p.Running)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("run %d: %s, %d records\n", run.Run.ID, run.Status, run.Run.Records)
	// Output:
	// poll 1: running=true
	// poll 2: running=true
	// poll 3: running=false
	// run 900: COMPLETED, 1200 records
}

// Send a customer back through authorisation when its credentials expired.
func ExampleSubAccountClient_ReAuthoriseServer() {
	api := srvExampleAPI()
	defer api.Close()
	t, err := peliqan.NewSubAccountClient("tenant-token", peliqan.WithBaseURL(api.URL))
	if err != nil {
		log.Fatal(err)
	}
	u, err := t.ReAuthoriseServer(context.Background(), 41)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("send the customer to", u)
	// Output: send the customer to https://login.example.com/authorize?state=again
}

// Find the connections that need attention across all customers.
func ExamplePartnerClient_ConnectionHealth() {
	api := srvExampleAPI()
	defer api.Close()
	p, err := peliqan.NewPartnerClient("partner-token", peliqan.WithBaseURL(api.URL))
	if err != nil {
		log.Fatal(err)
	}
	for r, err := range p.ConnectionHealth(context.Background(), &peliqan.HealthScanOptions{Concurrency: 1}) {
		if err != nil {
			log.Fatal(err) // the scan itself stopped
		}
		if !r.Verdict.NeedsAttention() {
			continue
		}
		if r.Server == nil { // VerdictScanFailed: the customer's connections could not be read
			fmt.Printf("%s: %v\n", r.SubAccount.ExternalID, r.Err)
			continue
		}
		fmt.Printf("%s / %s: %s (%s)\n", r.SubAccount.ExternalID, r.Server.Name, r.Verdict, r.HealthStatus)
	}
	// Output: wood_123 / Gmail: needs_reauthorisation (RE_AUTHORISING)
}
