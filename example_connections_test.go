package peliqan_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"time"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// After the customer's OAuth window closes, confirm the new connection by
// reading it until it leaves the authorising states. Here the fake plays
// the customer, finishing the flow after 200 ms.
func ExampleSubAccountClient_WaitForConnection() {
	fake, err := peliqantest.New(peliqantest.WithOAuthCompletion(200*time.Millisecond),
		peliqantest.WithFixture(peliqantest.Fixture{SubAccounts: []peliqantest.SubAccountFixture{{ExternalID: "wood_123"}}}))
	if err != nil {
		log.Fatal(err)
	}
	defer fake.Close()
	t, err := fake.SubAccountClient(fake.Seeded().SubAccounts[0].ID)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // bound the wait
	defer cancel()

	p, err := fake.PartnerClient()
	if err != nil {
		log.Fatal(err)
	}
	types, err := p.ServerTypes(ctx)
	if err != nil {
		log.Fatal(err)
	}
	var hubspot *peliqan.ServerType // an OAuth connector
	for i := range types {
		if types[i].Name == "hubspot" {
			hubspot = &types[i]
		}
	}

	created, err := t.CreateServer(ctx, peliqan.ServerCreate{Type: hubspot})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("created:", created.Server.HealthStatus)

	st, err := t.WaitForConnection(ctx, created.ID, &peliqan.ConnectionWaitOptions{
		Schedule: peliqan.FixedSchedule(50 * time.Millisecond),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("confirmed:", st.Status, st.Status.IsHealthy())
	// Output:
	// created: AUTHORIZING
	// confirmed: OK true
}

// Hand each distinct webhook event to the handler once, however often
// Peliqan delivers it. Here the fake delivers every event twice.
func ExampleWithWebhookDedupe() {
	fake, err := peliqantest.New(peliqantest.WithFixture(peliqantest.Fixture{SubAccounts: []peliqantest.SubAccountFixture{{
		ExternalID: "wood_123", Connections: []peliqantest.ConnectionFixture{{Type: "pipedrive"}}}}}))
	if err != nil {
		log.Fatal(err)
	}
	defer fake.Close()

	handled := make(chan *peliqan.WebhookEvent, 10)
	h, err := peliqan.WebhookHandler("whsec-example", func(_ context.Context, ev *peliqan.WebhookEvent) error {
		handled <- ev
		return nil
	}, peliqan.WithWebhookDedupe(nil))
	if err != nil {
		log.Fatal(err)
	}
	endpoint := httptest.NewServer(h)
	defer endpoint.Close()
	if err := fake.AddWebhook(endpoint.URL, "whsec-example", peliqantest.DeliverTwice()); err != nil {
		log.Fatal(err)
	}

	sa := fake.Seeded().SubAccounts[0]
	t, err := fake.SubAccountClient(sa.ID)
	if err != nil {
		log.Fatal(err)
	}
	if err := t.DeleteServer(context.Background(), sa.Connections[0].ID); err != nil {
		log.Fatal(err)
	}
	for len(fake.WebhookDeliveries()) < 2 { // both copies answered
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println("deliveries:", len(fake.WebhookDeliveries()), "handled:", len(handled))
	fmt.Println((<-handled).Type)
	// Output:
	// deliveries: 2 handled: 1
	// connection_removed
}
