package peliqan_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/peliqan-community/peliqan-go"
)

// Read every row of a table into your own struct. Rows are streamed page by
// page, one row at a time, so a table of any size reads in flat memory.
func ExampleRowsAs() {
	srv := exampleDataServer()
	defer srv.Close()
	ctx := context.Background()

	t, err := peliqan.NewSubAccountClient("tenant-token", peliqan.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	type Order struct {
		ID       int64   `json:"id"`
		Customer string  `json:"customer"`
		Total    float64 `json:"total"`
	}
	var orders []Order
	for o, err := range peliqan.RowsAs[Order](ctx, t, 42, &peliqan.RowsOptions{Size: 2}) {
		if err != nil {
			log.Fatal(err)
		}
		orders = append(orders, o)
	}
	for _, o := range orders {
		fmt.Printf("%d %s %.2f\n", o.ID, o.Customer, o.Total)
	}
	// Output:
	// 1 Acme 120.50
	// 2 Globex 80.00
	// 3 Initech 15.25
}

// Run a SQL query on a customer's warehouse and scan the records into a
// struct.
func ExampleSubAccountClient_Query() {
	srv := exampleDataServer()
	defer srv.Close()
	ctx := context.Background()

	t, err := peliqan.NewSubAccountClient("tenant-token", peliqan.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	res, err := t.Query(ctx, `SELECT customer, sum(total) AS revenue FROM dw_1.public.orders GROUP BY 1 ORDER BY 2 DESC`,
		nil)
	if err != nil {
		log.Fatal(err) // a failing query is an *peliqan.APIError with the warehouse's message
	}
	for _, c := range res.Columns {
		fmt.Printf("%s (%s)\n", c.Name, c.Type)
	}
	type Revenue struct {
		Customer string  `json:"customer"`
		Revenue  float64 `json:"revenue"`
	}
	rows, err := peliqan.ScanQuery[Revenue](res)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range rows {
		fmt.Printf("%s: %.2f\n", r.Customer, r.Revenue)
	}
	// Output:
	// customer (varchar)
	// revenue (double)
	// Acme: 120.50
	// Globex: 80.00
}

// Publish a script to every customer: created where missing, updated in
// place where it differs, left alone where it already matches.
func ExamplePartnerClient_PublishScript() {
	srv := exampleDataServer()
	defer srv.Close()
	ctx := context.Background()

	p, err := peliqan.NewPartnerClient("partner-token", peliqan.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	var customers []peliqan.SubAccountRef
	for sa, err := range p.SubAccounts(ctx, nil) {
		if err != nil {
			log.Fatal(err)
		}
		customers = append(customers, peliqan.ByAccountID(sa.ID))
	}
	rep, err := p.PublishScript(ctx, peliqan.ScriptTemplate{
		Name:     "nightly_export",
		Code:     "print('export v2')",
		Schedule: &peliqan.Schedule{Interval: 24 * time.Hour, StartTime: peliqan.At(2, 0)},
	}, &peliqan.PublishOptions{SubAccounts: customers, Concurrency: 8})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range rep.Results {
		fmt.Println(r.SubAccount, r.Outcome, r.Err)
	}
	// Output:
	// account_id=1 created <nil>
	// account_id=2 updated <nil>
	// account_id=3 unchanged <nil>
	// account_id=4 failed peliqan: script group not found: the customer has no script group
}

// exampleDataServer stands in for Peliqan in the examples above.
func exampleDataServer() *httptest.Server {
	current := `{"id": 40, "name": "nightly_export", "group": 7, "raw_script": "print('export v2')",
		"settings": {"schedule": true, "run_interval": 86400, "start_time": "02:00:00"}}`
	answers := map[string]string{
		"GET /api/partner/sub-accounts/": `{"data": [{"id": 1, "name": "Wood"}, {"id": 2, "name": "Stone"},
			{"id": 3, "name": "Glass"}, {"id": 4, "name": "Paper"}], "next": null}`,
		"GET /api/database/rows/table/42/?page=2": `{"count": 3, "next": null, "results": [{"id": 3, "customer": "Initech", "total": 15.25}]}`,
		"GET /api/database/rows/table/42/":        `{"count": 3, "next": "?page=2", "results": [{"id": 1, "customer": "Acme", "total": 120.5}, {"id": 2, "customer": "Globex", "total": 80}]}`,
		"POST /api/database/resource/trino/records/": `{"columns": [["customer", "varchar"], ["revenue", "double"]],
			"records": [["Acme", 120.5], ["Globex", 80.0]], "error": null}`,
		"GET /api/groups/ tok-4":        `[]`,
		"GET /api/groups/":              `[{"id": 7, "name": "Default"}]`,
		"GET /api/interfaces/ tok-1":    `[]`,
		"GET /api/interfaces/":          `[{"id": 40, "name": "nightly_export", "group": 7}]`,
		"GET /api/interfaces/40/ tok-2": strings.Replace(current, "v2", "v1", 1),
		"GET /api/interfaces/40/":       current,
		"POST /api/interfaces/group/7/": `{"id": 41, "name": "nightly_export"}`,
		"PATCH /api/interfaces/40/":     current,
	}
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "JWT ")
		key := r.Method + " " + r.URL.Path
		if r.URL.Path == "/api/partner/sub-account/identity/" {
			_ = json.NewEncoder(w).Encode(map[string]string{"token": "tok-" + r.URL.Query().Get("account_id")})
			return
		}
		for _, k := range []string{key + " " + tok, key + "?page=" + r.URL.Query().Get("page"), key} {
			if body, ok := answers[k]; ok {
				fmt.Fprint(w, body)
				return
			}
		}
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error": "NOT_FOUND"}`)
	}))
}
