package peliqan_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/peliqan-community/peliqan-go"
)

// exampleServer is a tiny stand-in for Peliqan's partner API, so the
// examples run without an account: sub-accounts by external_id, their
// identity tokens, integration tokens and one tenant route.
func exampleServer() *httptest.Server {
	var mu sync.Mutex
	accounts := []map[string]any{
		{"id": 1, "name": "Acme", "external_id": "acme"},
		{"id": 2, "name": "Globex", "external_id": "globex"},
		{"id": 3, "name": "Initech", "external_id": "initech"},
	}
	write := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	find := func(ext string) map[string]any {
		for _, a := range accounts {
			if a["external_id"] == ext {
				return a
			}
		}
		return nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/partner/sub-account/{$}", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if a := find(r.URL.Query().Get("external_id")); a != nil {
			write(w, 200, a)
			return
		}
		write(w, 404, map[string]string{"detail": "Not found."})
	})
	mux.HandleFunc("POST /api/partner/sub-accounts/{$}", func(w http.ResponseWriter, r *http.Request) {
		var in map[string]any
		_ = json.NewDecoder(r.Body).Decode(&in)
		mu.Lock()
		defer mu.Unlock()
		a := map[string]any{"id": len(accounts) + 1, "name": in["company_name"], "external_id": in["external_id"],
			"license": in["license"], "expires_on": in["expires_on"]}
		accounts = append(accounts, a)
		write(w, 200, a)
	})
	mux.HandleFunc("GET /api/partner/sub-accounts/{$}", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		page = max(page, 1)
		const per = 2
		from, to := min((page-1)*per, len(accounts)), min(page*per, len(accounts))
		var next any
		if to < len(accounts) {
			next = page + 1
		}
		write(w, 200, map[string]any{"data": accounts[from:to], "next": next})
	})
	mux.HandleFunc("GET /api/partner/sub-account/identity/{$}", func(w http.ResponseWriter, r *http.Request) {
		write(w, 200, map[string]string{"token": "tenant-" + r.URL.Query().Get("account_id")})
	})
	mux.HandleFunc("POST /api/partner/sub-account/integrate/{$}", func(w http.ResponseWriter, r *http.Request) {
		exp := time.Date(2030, time.January, 1, 12, 30, 0, 0, time.UTC)
		tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(exp)}).
			SignedString([]byte("example"))
		write(w, 200, map[string]string{"integration_token": tok})
	})
	mux.HandleFunc("GET /api/servers/{$}", func(w http.ResponseWriter, r *http.Request) {
		tenant := strings.TrimPrefix(r.Header.Get("Authorization"), "JWT tenant-")
		n, _ := strconv.Atoi(tenant)
		servers := make([]map[string]any, n) // tenant n has n connections
		for i := range servers {
			servers[i] = map[string]any{"id": i + 1}
		}
		write(w, 200, servers)
	})
	return httptest.NewServer(mux)
}

// Provision a customer on sign-up: get it by your own id, or create it. Run
// it again and the existing account comes back, with created == false, so
// "install the templates" runs once.
func ExamplePartnerClient_EnsureSubAccount() {
	srv := exampleServer()
	defer srv.Close()
	p, err := peliqan.NewPartnerClient("partner-token", peliqan.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	expires := peliqan.NewDate(2027, time.June, 30)
	customer := peliqan.SubAccountCreate{
		ExternalID:  "wood_123",
		FirstName:   "John",
		LastName:    "Doe",
		Email:       "john@woodsolutions.example",
		CompanyName: "Wood Solutions Ltd",
		License:     "pro",
		ExpiresOn:   &expires,
	}
	for range 2 {
		sa, created, err := p.EnsureSubAccount(ctx, customer)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("sub-account %d %q created=%v license=%s expires=%s\n", sa.ID, sa.ExternalID, created, sa.License, sa.ExpiresOn)
	}
	// Output:
	// sub-account 4 "wood_123" created=true license=pro expires=2027-06-30
	// sub-account 4 "wood_123" created=false license=pro expires=2027-06-30
}

// Mint a 30-minute integration token for the "Add connection" widget of one
// end-customer. It prints redacted; encode it as JSON to hand it to the
// browser.
func ExamplePartnerClient_IntegrationToken() {
	srv := exampleServer()
	defer srv.Close()
	p, err := peliqan.NewPartnerClient("partner-token", peliqan.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	tok, err := p.IntegrationToken(context.Background(), peliqan.Integration{
		ExternalID:  "wood_123",
		FirstName:   "John",
		LastName:    "Doe",
		Email:       "john@woodsolutions.example",
		CompanyName: "Wood Solutions Ltd",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok)
	fmt.Println("expires at", tok.ExpiresAt.UTC().Format(time.RFC3339))
	body, _ := json.Marshal(tok) // what your endpoint returns to the widget
	fmt.Println(strings.HasPrefix(string(body), `{"integration_token":"eyJ`))
	// Output:
	// peliqan.IntegrationToken{Token:[REDACTED] ExpiresAt:2030-01-01T12:30:00Z}
	// expires at 2030-01-01T12:30:00Z
	// true
}

// Act inside one customer's account ("login as"): the tenant client fetches
// the customer's identity token on its first call and keeps it.
func ExamplePartnerClient_SubAccount() {
	srv := exampleServer()
	defer srv.Close()
	p, err := peliqan.NewPartnerClient("partner-token", peliqan.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	t, err := p.SubAccount(peliqan.ByAccountID(2)) // no request yet
	if err != nil {
		log.Fatal(err)
	}
	var servers []struct {
		ID peliqan.ID `json:"id"`
	}
	if err := t.Do(ctx, "GET", "/api/servers/", nil, &servers); err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(servers), "connections")
	// Output:
	// 2 connections
}

// Iterate over all customers; pages are fetched as the loop goes.
func ExamplePartnerClient_SubAccounts() {
	srv := exampleServer()
	defer srv.Close()
	p, err := peliqan.NewPartnerClient("partner-token", peliqan.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	for sa, err := range p.SubAccounts(context.Background(), nil) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(sa.ID, sa.Name, sa.ExternalID)
	}
	// Output:
	// 1 Acme acme
	// 2 Globex globex
	// 3 Initech initech
}

// Visit every customer's tenant, a few at a time: each tenant client
// fetches its own identity token on first use.
func ExamplePartnerClient_ForEachSubAccount() {
	srv := exampleServer()
	defer srv.Close()
	p, err := peliqan.NewPartnerClient("partner-token", peliqan.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	var mu sync.Mutex
	var lines []string
	err = p.ForEachSubAccount(context.Background(), 8, func(ctx context.Context, sa *peliqan.SubAccount, t *peliqan.SubAccountClient) error {
		var servers []json.RawMessage
		if err := t.Do(ctx, "GET", "/api/servers/", nil, &servers); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, fmt.Sprintf("%s: %d connections", sa.Name, len(servers)))
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	slices.Sort(lines)
	fmt.Println(strings.Join(lines, "\n"))
	// Output:
	// Acme: 1 connections
	// Globex: 2 connections
	// Initech: 3 connections
}

// Check a connect form before creating a connection: Validate names every
// required field that is missing.
func ExampleServerType_Validate() {
	var pipedrive peliqan.ServerType
	_ = json.Unmarshal([]byte(`{"id":123,"name":"pipedrive","connect_form":[
		{"name":"login","label":"Login","type":"string","required":true},
		{"name":"password","label":"Password","type":"password","required":true},
		{"name":"region","type":"select","options":["eu","us"]}]}`), &pipedrive)
	fmt.Println(pipedrive.Validate(map[string]any{"region": "eu"}))
	fmt.Println(pipedrive.Validate(map[string]any{"login": "ann", "password": "s3cret"}))
	// Output:
	// peliqan: invalid argument fields: pipedrive needs login, password
	// <nil>
}
