package peliqan_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// A page template that places the widget: Widget's output is template.HTML,
// already escaped for every context it contains.
func ExampleWidget() {
	page := template.Must(template.New("page").Parse(`<body>
<h1>Integrations</h1>
{{.Widget}}
<script>
const handleOnConnected = (connection) => console.log("connected", connection);
</script>
</body>`))

	widget, err := peliqan.Widget(peliqan.WidgetConfig{
		TokenURL:            "/api/peliqan/token", // served by IntegrationTokenHandler
		AvailableConnectors: []string{"hubspot", "exact_online"},
		SelectedConnector:   "hubspot",
		OnConnected:         "handleOnConnected",
		ButtonText:          "Connect your CRM",
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := page.Execute(os.Stdout, map[string]any{"Widget": widget}); err != nil {
		log.Fatal(err)
	}
	// Output:
	// <body>
	// <h1>Integrations</h1>
	// <script type="module" src="https://peliqan.io/embed/v1.3/peliqan-integration.js"></script>
	// <div id="peliqan-integration-button">Connect your CRM</div>
	// <script type="module">
	// (async () => {
	//   const options = {"availableConnectors":["hubspot","exact_online"],"selectedConnector":"hubspot"};
	//   options.onConnected = (data) => handleOnConnected(data);
	//   const res = await fetch("/api/peliqan/token", {method: "POST", credentials: "same-origin", headers: {"Accept": "application/json"}});
	//   if (!res.ok) {
	//     throw new Error("peliqan: the token endpoint answered " + res.status);
	//   }
	//   options.integrationToken = (await res.json()).integration_token;
	//   if (!globalThis.Peliqan || typeof globalThis.Peliqan.initialize !== "function") {
	//     throw new Error("peliqan: the embed script did not load");
	//   }
	//   await globalThis.Peliqan.initialize(options);
	// })().catch((err) => console.error(err));
	// </script>
	//
	// <script>
	// const handleOnConnected = (connection) => console.log("connected", connection);
	// </script>
	// </body>
}

// Only a connector from your list may be offered.
func ExampleValidateConnectors() {
	known := []string{"hubspot", "exact_online", "teamleader"}
	fmt.Println(peliqan.ValidateConnectors([]string{"hubspot", "teamleader"}, known))
	err := peliqan.ValidateConnectors([]string{"hubspot", "salesforce"}, known)
	fmt.Println(errors.Is(err, peliqan.ErrInvalidArgument), err)
	// Output:
	// <nil>
	// true peliqan: invalid argument connector: "salesforce" is not an available connector
}

// The token endpoint, with identify reading your own session. Here the
// partner client talks to the in-process fake; in production it is
// peliqan.NewPartnerClient(os.Getenv("PELIQAN_PARTNER_TOKEN")).
func ExampleIntegrationTokenHandler() {
	fake, err := peliqantest.New()
	if err != nil {
		log.Fatal(err)
	}
	defer fake.Close()
	p, err := fake.PartnerClient()
	if err != nil {
		log.Fatal(err)
	}

	identify := func(r *http.Request) (peliqan.Integration, error) {
		c, err := r.Cookie("session")
		if err != nil || c.Value != "alice-session" { // your session lookup
			return peliqan.Integration{}, errors.New("not logged in") // -> 401
		}
		return peliqan.Integration{ExternalID: "cust_1001", FirstName: "Alice", LastName: "Martin",
			Email: "alice@acme.test", CompanyName: "Acme"}, nil
	}
	tokens, err := peliqan.IntegrationTokenHandler(p, identify)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/peliqan/token", tokens)

	for _, cookie := range []string{"alice-session", ""} {
		r := httptest.NewRequest(http.MethodPost, "/api/peliqan/token", nil)
		if cookie != "" {
			r.AddCookie(&http.Cookie{Name: "session", Value: cookie})
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		var body map[string]string
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		fmt.Printf("%d %s token=%t error=%q\n", w.Code, w.Header().Get("Cache-Control"), body["integration_token"] != "", body["error"])
	}
	// Output:
	// 200 no-store token=true error=""
	// 401 no-store token=false error="unauthenticated"
}

// Receiving Peliqan's outbound webhooks. The signature header and format are
// inferred; name the header with WithWebhookHeader if yours differs.
func ExampleWebhookHandler() {
	secret := "whsec-from-peliqan-settings"
	h, err := peliqan.WebhookHandler(secret, func(ctx context.Context, ev *peliqan.WebhookEvent) error {
		switch {
		case ev.Type == peliqan.WebhookConnectionAdded:
			var p struct {
				ServerID int `json:"server_id"`
			}
			if err := ev.Decode(&p); err != nil {
				return err
			}
			fmt.Println("new connection", p.ServerID)
		case ev.Type.IsPipelineRun():
			fmt.Println("pipeline event", ev.Type)
		default:
			fmt.Printf("unknown event %q kept\n", ev.Type)
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}

	for _, body := range []string{`{"event":"connection_added","server_id":42}`, `{"event":"pipeline_run_completed"}`, `{"event":"connection_paused"}`} {
		r := httptest.NewRequest(http.MethodPost, "/webhooks/peliqan", strings.NewReader(body))
		r.Header.Set(peliqan.DefaultWebhookSignatureHeader, peliqan.SignWebhook(secret, []byte(body)))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(w.Code)
	}
	forged := httptest.NewRequest(http.MethodPost, "/webhooks/peliqan", strings.NewReader(`{"event":"connection_removed"}`))
	forged.Header.Set(peliqan.DefaultWebhookSignatureHeader, peliqan.SignWebhook("guess", []byte(`{"event":"connection_removed"}`)))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, forged)
	fmt.Println(w.Code, strings.TrimSpace(w.Body.String()))
	// Output:
	// new connection 42
	// 204
	// pipeline event pipeline_run_completed
	// 204
	// unknown event "connection_paused" kept
	// 204
	// 401 {"error":"invalid_signature"}
}
