package peliqan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const ptBase = "https://api.test/base"

// seen is one request as the mock server received it.
type seen struct {
	Method, Path, Query, Auth, ContentType string
	Body                                   []byte
}

// recorder keeps every request the mock transport answers.
type recorder struct {
	mu   sync.Mutex
	reqs []seen
}

func (r *recorder) wrap(h httpmock.Responder) httpmock.Responder {
	return func(req *http.Request) (*http.Response, error) {
		var body []byte
		if req.Body != nil {
			body, _ = io.ReadAll(req.Body)
		}
		r.mu.Lock()
		r.reqs = append(r.reqs, seen{Method: req.Method, Path: req.URL.EscapedPath(), Query: req.URL.RawQuery,
			Auth: req.Header.Get("Authorization"), ContentType: req.Header.Get("Content-Type"), Body: body})
		r.mu.Unlock()
		return h(req)
	}
}

func (r *recorder) all() []seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]seen(nil), r.reqs...)
}

func (r *recorder) count(path string) int {
	n := 0
	for _, s := range r.all() {
		if s.Path == path {
			n++
		}
	}
	return n
}

// newMockPartner returns a partner client bound to its own mock transport
// (never the global httpmock.Activate) with zero-wait retries.
func newMockPartner(t *testing.T) (*PartnerClient, *httpmock.MockTransport, *recorder) {
	t.Helper()
	mt := httpmock.NewMockTransport()
	p, err := NewPartnerClient("partner-tok",
		WithBaseURL(ptBase),
		WithHTTPClient(&http.Client{Transport: mt}),
		WithRetryPolicy(RetryPolicy{MaxAttempts: 3, Backoff: BackoffConstant}))
	require.NoError(t, err)
	return p, mt, &recorder{}
}

func jsonResp(status int, body string) httpmock.Responder {
	return func(*http.Request) (*http.Response, error) {
		r := httpmock.NewStringResponse(status, body)
		r.Header.Set("Content-Type", "application/json")
		return r, nil
	}
}

func TestPartnerRoutesSendExactRequests(t *testing.T) {
	t.Parallel()
	exp := NewDate(2027, time.January, 31)
	no := false
	tests := []struct {
		name      string
		method    string
		url       string // registered URL, without query
		status    int
		resp      string
		call      func(ctx context.Context, p *PartnerClient) error
		wantPath  string
		wantQuery string
		wantBody  string // JSON, "" for none
	}{
		{
			name: "ListSubAccounts", method: "GET", url: "/api/partner/sub-accounts/", status: 200,
			resp: `{"data":[{"id":1,"name":"a","external_id":"x"}],"next":null}`,
			call: func(ctx context.Context, p *PartnerClient) error {
				_, err := p.ListSubAccounts(ctx, &ListOptions{Page: 2, PerPage: 50})
				return err
			},
			wantPath: "/base/api/partner/sub-accounts/", wantQuery: "page=2&per_page=50",
		},
		{
			name: "CreateSubAccount all fields", method: "POST", url: "/api/partner/sub-accounts/", status: 200,
			resp: `{"id":7,"name":"Wood Solutions Ltd","external_id":"wood_123"}`,
			call: func(ctx context.Context, p *PartnerClient) error {
				_, err := p.CreateSubAccount(ctx, SubAccountCreate{
					ExternalID: "wood_123", FirstName: "John", LastName: "Doe", Email: "john@wood.example",
					Password: "s3cret", CompanyName: "Wood Solutions Ltd", Country: "BE", CompanySize: "11-50",
					Language: "nl", Timezone: "Europe/Brussels", Verified: &no, License: "pro", ExpiresOn: &exp,
				})
				return err
			},
			wantPath: "/base/api/partner/sub-accounts/",
			wantBody: `{"first_name":"John","last_name":"Doe","email":"john@wood.example","password":"s3cret",
				"company_name":"Wood Solutions Ltd","country":"BE","company_size":"11-50","language":"nl",
				"timezone":"Europe/Brussels","verified":false,"license":"pro","expires_on":"2027-01-31","external_id":"wood_123"}`,
		},
		{
			name: "CreateSubAccount defaults", method: "POST", url: "/api/partner/sub-accounts/", status: 200,
			resp: `{"id":7}`,
			call: func(ctx context.Context, p *PartnerClient) error {
				_, err := p.CreateSubAccount(ctx, SubAccountCreate{
					ExternalID: "wood_123", FirstName: "John", LastName: "Doe", Email: " john@wood.example ",
					CompanyName: "Wood",
				})
				return err
			},
			wantPath: "/base/api/partner/sub-accounts/",
			wantBody: `{"first_name":"John","last_name":"Doe","email":"john@wood.example","company_name":"Wood",
				"company_size":null,"language":"en","timezone":"UTC","verified":true,"license":"free_trial",
				"expires_on":null,"external_id":"wood_123"}`,
		},
		{
			name: "GetSubAccount by external id", method: "GET", url: "/api/partner/sub-account/", status: 200,
			resp: `{"id":7,"external_id":"wood 1&2"}`,
			call: func(ctx context.Context, p *PartnerClient) error {
				_, err := p.GetSubAccount(ctx, ByExternalID("wood 1&2"))
				return err
			},
			wantPath: "/base/api/partner/sub-account/", wantQuery: "external_id=wood+1%262",
		},
		{
			name: "GetSubAccount by account id", method: "GET", url: "/api/partner/sub-account/", status: 200,
			resp: `{"id":7}`,
			call: func(ctx context.Context, p *PartnerClient) error {
				_, err := p.GetSubAccount(ctx, ByAccountID(7))
				return err
			},
			wantPath: "/base/api/partner/sub-account/", wantQuery: "account_id=7",
		},
		{
			name: "SubAccountInfo", method: "GET", url: "/api/partner/sub-accounts/7/info/", status: 200,
			resp: `{"default_dw_id":3,"default_dw_name":"dw_7"}`,
			call: func(ctx context.Context, p *PartnerClient) error {
				_, err := p.SubAccountInfo(ctx, 7)
				return err
			},
			wantPath: "/base/api/partner/sub-accounts/7/info/",
		},
		{
			name: "UpdateSubAccount license and expiry", method: "PUT", url: "/api/partner/sub-accounts/7/", status: 200,
			resp: `{"id":7,"license":"pro","expires_on":"2027-01-31"}`,
			call: func(ctx context.Context, p *PartnerClient) error {
				lic := "pro"
				_, err := p.UpdateSubAccount(ctx, 7, SubAccountUpdate{License: &lic, ExpiresOn: &exp})
				return err
			},
			wantPath: "/base/api/partner/sub-accounts/7/", wantBody: `{"license":"pro","expires_on":"2027-01-31"}`,
		},
		{
			name: "UpdateSubAccount clear expiry", method: "PUT", url: "/api/partner/sub-accounts/7/", status: 200,
			resp: `{"id":7}`,
			call: func(ctx context.Context, p *PartnerClient) error {
				_, err := p.UpdateSubAccount(ctx, 7, SubAccountUpdate{ClearExpiresOn: true, Verified: &no})
				return err
			},
			wantPath: "/base/api/partner/sub-accounts/7/", wantBody: `{"expires_on":null,"verified":false}`,
		},
		{
			name: "DeleteSubAccount", method: "DELETE", url: "/api/partner/sub-accounts/7/", status: 204, resp: ``,
			call: func(ctx context.Context, p *PartnerClient) error {
				return p.DeleteSubAccount(ctx, 7)
			},
			wantPath: "/base/api/partner/sub-accounts/7/",
		},
		{
			name: "SubAccountToken non-expiring by default", method: "GET", url: "/api/partner/sub-account/identity/", status: 200,
			resp: `{"token":"tenant-tok"}`,
			call: func(ctx context.Context, p *PartnerClient) error {
				_, err := p.SubAccountToken(ctx, ByExternalID("wood_123"), nil)
				return err
			},
			wantPath: "/base/api/partner/sub-account/identity/", wantQuery: "expire=false&external_id=wood_123",
		},
		{
			name: "SubAccountToken expiring", method: "GET", url: "/api/partner/sub-account/identity/", status: 200,
			resp: `{"token":"tenant-tok"}`,
			call: func(ctx context.Context, p *PartnerClient) error {
				_, err := p.SubAccountToken(ctx, ByAccountID(1234), &TokenOptions{Expiring: true})
				return err
			},
			wantPath: "/base/api/partner/sub-account/identity/", wantQuery: "account_id=1234",
		},
		{
			name: "IntegrationToken", method: "POST", url: "/api/partner/sub-account/integrate/", status: 200,
			resp: `{"integration_token":"int-tok"}`,
			call: func(ctx context.Context, p *PartnerClient) error {
				_, err := p.IntegrationToken(ctx, Integration{ExternalID: "wood_123", FirstName: "John",
					LastName: "Doe", Email: "john@wood.example", CompanyName: "Wood Solutions Ltd"})
				return err
			},
			wantPath: "/base/api/partner/sub-account/integrate/",
			wantBody: `{"external_id":"wood_123","first_name":"John","last_name":"Doe","email":"john@wood.example","company_name":"Wood Solutions Ltd"}`,
		},
		{
			name: "ServerTypes", method: "GET", url: "/api/servertypes/", status: 200,
			resp: `[{"id":1,"name":"hubspot"}]`,
			call: func(ctx context.Context, p *PartnerClient) error {
				_, err := p.ServerTypes(ctx)
				return err
			},
			wantPath: "/base/api/servertypes/",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, mt, rec := newMockPartner(t)
			mt.RegisterResponder(tc.method, ptBase+tc.url, rec.wrap(jsonResp(tc.status, tc.resp)))
			require.NoError(t, tc.call(context.Background(), p))
			reqs := rec.all()
			require.Len(t, reqs, 1)
			r := reqs[0]
			assert.Equal(t, tc.method, r.Method)
			assert.Equal(t, tc.wantPath, r.Path)
			assert.True(t, strings.HasSuffix(r.Path, "/"), "trailing slash")
			assert.Equal(t, tc.wantQuery, r.Query)
			assert.Equal(t, "JWT partner-tok", r.Auth)
			if tc.wantBody == "" {
				assert.Empty(t, r.Body)
			} else {
				assert.JSONEq(t, tc.wantBody, string(r.Body))
				assert.Equal(t, "application/json", r.ContentType)
			}
		})
	}
}

func TestListSubAccountsDecodesEveryListShape(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"bare array": `[{"id":1,"name":"a","external_id":"x1"},{"id":"2","name":"b","external_id":"x2"}]`,
		"data/next":  `{"data":[{"id":1,"name":"a","external_id":"x1"},{"id":"2","name":"b","external_id":"x2"}],"next":false}`,
		"results":    `{"count":2,"next":null,"previous":null,"results":[{"id":1,"name":"a","external_id":"x1"},{"id":"2","name":"b","external_id":"x2"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, mt, _ := newMockPartner(t)
			mt.RegisterResponder("GET", ptBase+"/api/partner/sub-accounts/", jsonResp(200, body))
			page, err := p.ListSubAccounts(context.Background(), nil)
			require.NoError(t, err)
			require.Len(t, page.Items, 2)
			assert.Equal(t, SubAccount{ID: 2, Name: "b", ExternalID: "x2"}, page.Items[1])
			assert.False(t, page.HasNext)
		})
	}
}

func TestSubAccountsIteratesAllPagesLazily(t *testing.T) {
	t.Parallel()
	p, mt, rec := newMockPartner(t)
	mt.RegisterResponder("GET", ptBase+"/api/partner/sub-accounts/", rec.wrap(func(req *http.Request) (*http.Response, error) {
		switch req.URL.Query().Get("page") {
		case "", "1":
			// A next link naming another host: only its page number is used.
			return jsonResp(200, `{"data":[{"id":1},{"id":2}],"next":"https://evil.example/x/?page=2&per_page=2"}`)(req)
		case "2":
			return jsonResp(200, `{"data":[{"id":3},{"id":4}],"next":3}`)(req)
		default:
			return jsonResp(200, `{"data":[{"id":5}],"next":null}`)(req)
		}
	}))
	var ids []ID
	for sa, err := range p.SubAccounts(context.Background(), &ListOptions{PerPage: 2}) {
		require.NoError(t, err)
		ids = append(ids, sa.ID)
		if sa.ID == 3 {
			break
		}
	}
	assert.Equal(t, []ID{1, 2, 3}, ids)
	reqs := rec.all()
	require.Len(t, reqs, 2, "page 3 is never fetched once the loop stops")
	assert.Equal(t, "per_page=2", reqs[0].Query)
	assert.Equal(t, "page=2&per_page=2", reqs[1].Query)
	assert.Equal(t, "/base/api/partner/sub-accounts/", reqs[1].Path)

	all, err := Collect(p.SubAccounts(context.Background(), &ListOptions{PerPage: 2}), 0)
	require.NoError(t, err)
	assert.Len(t, all, 5)
}

func TestPartnerErrorMapping(t *testing.T) {
	t.Parallel()
	t.Run("404 is ErrNotFound", func(t *testing.T) {
		t.Parallel()
		p, mt, rec := newMockPartner(t)
		mt.RegisterResponder("GET", ptBase+"/api/partner/sub-account/",
			rec.wrap(jsonResp(404, `{"error":"ERROR_NOT_FOUND","detail":"no such sub-account"}`)))
		_, err := p.GetSubAccount(context.Background(), ByExternalID("nobody"))
		require.ErrorIs(t, err, ErrNotFound)
		var ae *APIError
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, "/api/partner/sub-account/", ae.Path)
		assert.Equal(t, 1, rec.count("/base/api/partner/sub-account/"))
	})
	t.Run("401 is ErrUnauthorized, sent once", func(t *testing.T) {
		t.Parallel()
		p, mt, rec := newMockPartner(t)
		mt.RegisterResponder("GET", ptBase+"/api/partner/sub-accounts/",
			rec.wrap(jsonResp(401, `{"detail":"Signature has expired. partner-tok"}`)))
		_, err := p.ListSubAccounts(context.Background(), nil)
		require.ErrorIs(t, err, ErrUnauthorized)
		assert.NotContains(t, err.Error(), "partner-tok")
		assert.Equal(t, 1, rec.count("/base/api/partner/sub-accounts/"), "a partner token cannot be refreshed: no replay")
	})
	t.Run("404 from delete", func(t *testing.T) {
		t.Parallel()
		p, mt, _ := newMockPartner(t)
		mt.RegisterResponder("DELETE", ptBase+"/api/partner/sub-accounts/9/", jsonResp(404, `{"detail":"Not found."}`))
		require.ErrorIs(t, p.DeleteSubAccount(context.Background(), 9), ErrNotFound)
	})
	t.Run("token response without a token", func(t *testing.T) {
		t.Parallel()
		p, mt, _ := newMockPartner(t)
		mt.RegisterResponder("GET", ptBase+"/api/partner/sub-account/identity/", jsonResp(200, `{"detail":"ok"}`))
		_, err := p.SubAccountToken(context.Background(), ByAccountID(1), nil)
		require.ErrorIs(t, err, ErrMalformedResponse)
	})
}

func TestPartnerInputChecksSendNothing(t *testing.T) {
	t.Parallel()
	good := SubAccountCreate{ExternalID: "w1", FirstName: "A", LastName: "B", Email: "a@b.example", CompanyName: "C"}
	with := func(f func(*SubAccountCreate)) SubAccountCreate { c := good; f(&c); return c }
	bad := Date{2026, time.February, 30}
	empty := ""
	tests := []struct {
		name  string
		field string
		call  func(ctx context.Context, p *PartnerClient) error
	}{
		{"create: missing external_id", "external_id", func(ctx context.Context, p *PartnerClient) error {
			_, err := p.CreateSubAccount(ctx, with(func(c *SubAccountCreate) { c.ExternalID = " " }))
			return err
		}},
		{"create: malformed email", "email", func(ctx context.Context, p *PartnerClient) error {
			_, err := p.CreateSubAccount(ctx, with(func(c *SubAccountCreate) { c.Email = "not-an-email" }))
			return err
		}},
		{"create: email with a display name", "email", func(ctx context.Context, p *PartnerClient) error {
			_, err := p.CreateSubAccount(ctx, with(func(c *SubAccountCreate) { c.Email = "Ann <ann@b.example>" }))
			return err
		}},
		{"create: empty first name", "first_name", func(ctx context.Context, p *PartnerClient) error {
			_, err := p.CreateSubAccount(ctx, with(func(c *SubAccountCreate) { c.FirstName = "" }))
			return err
		}},
		{"create: empty company", "company_name", func(ctx context.Context, p *PartnerClient) error {
			_, err := p.CreateSubAccount(ctx, with(func(c *SubAccountCreate) { c.CompanyName = "\t" }))
			return err
		}},
		{"create: impossible date", "expires_on", func(ctx context.Context, p *PartnerClient) error {
			_, err := p.CreateSubAccount(ctx, with(func(c *SubAccountCreate) { c.ExpiresOn = &bad }))
			return err
		}},
		{"ensure: missing external_id", "external_id", func(ctx context.Context, p *PartnerClient) error {
			_, _, err := p.EnsureSubAccount(ctx, with(func(c *SubAccountCreate) { c.ExternalID = "" }))
			return err
		}},
		{"get: zero ref", "ref", func(ctx context.Context, p *PartnerClient) error {
			_, err := p.GetSubAccount(ctx, SubAccountRef{})
			return err
		}},
		{"get: empty external id", "external_id", func(ctx context.Context, p *PartnerClient) error {
			_, err := p.GetSubAccount(ctx, ByExternalID(""))
			return err
		}},
		{"token: zero account id", "account_id", func(ctx context.Context, p *PartnerClient) error {
			_, err := p.SubAccountToken(ctx, ByAccountID(0), nil)
			return err
		}},
		{"list: negative page size", "PerPage", func(ctx context.Context, p *PartnerClient) error {
			_, err := p.ListSubAccounts(ctx, &ListOptions{PerPage: -1})
			return err
		}},
		{"iterate: negative page", "Page", func(ctx context.Context, p *PartnerClient) error {
			_, err := Collect(p.SubAccounts(ctx, &ListOptions{Page: -1}), 0)
			return err
		}},
		{"update: zero id", "id", func(ctx context.Context, p *PartnerClient) error {
			lic := "pro"
			_, err := p.UpdateSubAccount(ctx, 0, SubAccountUpdate{License: &lic})
			return err
		}},
		{"update: nothing to change", "update", func(ctx context.Context, p *PartnerClient) error {
			_, err := p.UpdateSubAccount(ctx, 7, SubAccountUpdate{})
			return err
		}},
		{"update: empty license", "license", func(ctx context.Context, p *PartnerClient) error {
			_, err := p.UpdateSubAccount(ctx, 7, SubAccountUpdate{License: &empty})
			return err
		}},
		{"update: bad email", "email", func(ctx context.Context, p *PartnerClient) error {
			e := "x@"
			_, err := p.UpdateSubAccount(ctx, 7, SubAccountUpdate{Email: &e})
			return err
		}},
		{"update: expiry set and cleared", "expires_on", func(ctx context.Context, p *PartnerClient) error {
			d := NewDate(2027, 1, 1)
			_, err := p.UpdateSubAccount(ctx, 7, SubAccountUpdate{ExpiresOn: &d, ClearExpiresOn: true})
			return err
		}},
		{"delete: negative id", "id", func(ctx context.Context, p *PartnerClient) error {
			return p.DeleteSubAccount(ctx, -3)
		}},
		{"info: zero id", "id", func(ctx context.Context, p *PartnerClient) error {
			_, err := p.SubAccountInfo(ctx, 0)
			return err
		}},
		{"integrate: missing external_id", "external_id", func(ctx context.Context, p *PartnerClient) error {
			_, err := p.IntegrationToken(ctx, Integration{FirstName: "a", LastName: "b", Email: "a@b.example", CompanyName: "c"})
			return err
		}},
		{"integrate: bad email", "email", func(ctx context.Context, p *PartnerClient) error {
			_, err := p.IntegrationToken(ctx, Integration{ExternalID: "x", FirstName: "a", LastName: "b", Email: "a b@c", CompanyName: "c"})
			return err
		}},
		{"integrate: empty last name", "last_name", func(ctx context.Context, p *PartnerClient) error {
			_, err := p.IntegrationToken(ctx, Integration{ExternalID: "x", FirstName: "a", Email: "a@b.example", CompanyName: "c"})
			return err
		}},
		{"tenant client: zero ref", "ref", func(ctx context.Context, p *PartnerClient) error {
			_, err := p.SubAccount(SubAccountRef{})
			return err
		}},
		{"fan-out: concurrency 0", "concurrency", func(ctx context.Context, p *PartnerClient) error {
			return p.ForEachSubAccount(ctx, 0, func(context.Context, *SubAccount, *SubAccountClient) error { return nil })
		}},
		{"fan-out: page size 0", "ForEachPageSize", func(ctx context.Context, p *PartnerClient) error {
			return p.ForEachSubAccount(ctx, 2, func(context.Context, *SubAccount, *SubAccountClient) error { return nil }, ForEachPageSize(0))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, mt, _ := newMockPartner(t)
			err := tc.call(context.Background(), p)
			require.ErrorIs(t, err, ErrInvalidArgument)
			var ae *ArgumentError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tc.field, ae.Name)
			assert.Zero(t, mt.GetTotalCallCount(), "no request may be sent")
		})
	}
}

func TestSubAccountDecodesTolerantly(t *testing.T) {
	t.Parallel()
	var sa SubAccount
	require.NoError(t, json.Unmarshal([]byte(`{
		"id": "42", "name": "Wood", "external_id": 123, "email": "a@b.example",
		"verified": "true", "company_size": 50, "expires_on": "2027-01-31T00:00:00Z",
		"license": null, "created_at": "2026-01-01", "country": {"code": "BE"}
	}`), &sa))
	assert.Equal(t, ID(42), sa.ID)
	assert.Equal(t, "123", sa.ExternalID)
	assert.True(t, sa.Verified)
	assert.Equal(t, "50", sa.CompanySize)
	require.NotNil(t, sa.ExpiresOn)
	assert.Equal(t, NewDate(2027, time.January, 31), *sa.ExpiresOn)
	assert.Empty(t, sa.License)
	assert.JSONEq(t, `"2026-01-01"`, string(sa.Extra["created_at"]))
	assert.JSONEq(t, `{"code":"BE"}`, string(sa.Extra["country"]), "a member of an unexpected type is kept, not fatal")

	require.Error(t, json.Unmarshal([]byte(`{"id":"x"}`), &sa), "an unusable id fails")

	var info SubAccountInfo
	require.NoError(t, json.Unmarshal([]byte(`{"default_dw_id":"3","default_dw_name":"dw","region":"eu"}`), &info))
	assert.Equal(t, SubAccountInfo{DefaultDWID: 3, DefaultDWName: "dw", Extra: map[string]json.RawMessage{"region": json.RawMessage(`"eu"`)}}, info)
}

func TestDateJSON(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(struct {
		A Date  `json:"a"`
		B *Date `json:"b"`
		C Date  `json:"c"`
	}{A: NewDate(2027, 3, 9), C: Date{}})
	require.NoError(t, err)
	assert.JSONEq(t, `{"a":"2027-03-09","b":null,"c":null}`, string(b))
	_, err = json.Marshal(NewDate(2027, 2, 29))
	require.Error(t, err)
	for in, want := range map[string]Date{
		`"2027-03-09"`: NewDate(2027, 3, 9), `"2027-03-09T23:30:00+02:00"`: NewDate(2027, 3, 9),
		`"2027-03-09T10:00:00"`: NewDate(2027, 3, 9), `null`: {}, `""`: {},
	} {
		var d Date
		require.NoError(t, json.Unmarshal([]byte(in), &d), in)
		assert.Equal(t, want, d, in)
	}
	var d Date
	require.Error(t, json.Unmarshal([]byte(`"09/03/2027"`), &d))
	pd, err := ParseDate("2027-12-31")
	require.NoError(t, err)
	assert.Equal(t, "2027-12-31", pd.String())
	assert.Equal(t, time.Date(2027, 12, 31, 0, 0, 0, 0, time.UTC), pd.In(time.UTC))
}

func makeJWT(t *testing.T, exp time.Time) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(exp)}).
		SignedString([]byte("test-key"))
	require.NoError(t, err)
	return s
}

func TestIntegrationTokenExpiry(t *testing.T) {
	t.Parallel()
	in := Integration{ExternalID: "w", FirstName: "a", LastName: "b", Email: "a@b.example", CompanyName: "c"}
	t.Run("from the JWT exp", func(t *testing.T) {
		t.Parallel()
		exp := time.Now().Add(17 * time.Minute).Truncate(time.Second)
		tok := makeJWT(t, exp)
		p, mt, _ := newMockPartner(t)
		mt.RegisterResponder("POST", ptBase+"/api/partner/sub-account/integrate/", jsonResp(200, `{"integration_token":"`+tok+`"}`))
		it, err := p.IntegrationToken(context.Background(), in)
		require.NoError(t, err)
		assert.Equal(t, tok, it.Token)
		assert.True(t, it.ExpiresAt.Equal(exp), "%s != %s", it.ExpiresAt, exp)
	})
	t.Run("opaque token under {token}: issue time + 30 min", func(t *testing.T) {
		t.Parallel()
		p, mt, _ := newMockPartner(t)
		mt.RegisterResponder("POST", ptBase+"/api/partner/sub-account/integrate/", jsonResp(200, `{"token":"opaque-tok"}`))
		before := time.Now()
		it, err := p.IntegrationToken(context.Background(), in)
		after := time.Now()
		require.NoError(t, err)
		assert.Equal(t, "opaque-tok", it.Token)
		assert.False(t, it.ExpiresAt.Before(before.Add(30*time.Minute)))
		assert.False(t, it.ExpiresAt.After(after.Add(30*time.Minute)))
	})
}

func TestTokensNeverPrint(t *testing.T) {
	t.Parallel()
	exp := time.Date(2026, 11, 23, 10, 30, 0, 0, time.UTC)
	id := &IdentityToken{Token: "SECRET-identity", ExpiresAt: exp}
	it := &IntegrationToken{Token: "SECRET-integration", ExpiresAt: exp}
	create := SubAccountCreate{ExternalID: "w", Password: "SECRET-password"}
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	logger.Info("tokens", "id", id, "it", it, "idv", *id, "itv", *it, "create", create)
	for _, v := range []any{id, it, *id, *it, create, struct{ T IdentityToken }{*id}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
			out := fmt.Sprintf(verb, v)
			assert.NotContains(t, out, "SECRET", verb)
		}
	}
	assert.NotContains(t, logs.String(), "SECRET")
	assert.Contains(t, logs.String(), "[REDACTED]")
	assert.Contains(t, id.String(), "2026-11-23T10:30:00Z")

	b, err := json.Marshal(id)
	require.NoError(t, err)
	assert.NotContains(t, string(b), "SECRET", "an identity token never leaves as JSON")
	b, err = json.Marshal(it)
	require.NoError(t, err)
	assert.JSONEq(t, `{"integration_token":"SECRET-integration","expires_at":"2026-11-23T10:30:00Z"}`, string(b),
		"the integration token is meant for the browser")
}

func TestEnsureSubAccount(t *testing.T) {
	t.Parallel()
	in := SubAccountCreate{ExternalID: "wood_123", FirstName: "John", LastName: "Doe", Email: "john@wood.example", CompanyName: "Wood"}
	t.Run("existing: no create", func(t *testing.T) {
		t.Parallel()
		p, mt, rec := newMockPartner(t)
		mt.RegisterResponder("GET", ptBase+"/api/partner/sub-account/", rec.wrap(jsonResp(200, `{"id":7,"external_id":"wood_123"}`)))
		sa, created, err := p.EnsureSubAccount(context.Background(), in)
		require.NoError(t, err)
		assert.False(t, created)
		assert.Equal(t, ID(7), sa.ID)
		assert.Equal(t, 1, mt.GetTotalCallCount())
		assert.Equal(t, "external_id=wood_123", rec.all()[0].Query)
	})
	t.Run("missing: created", func(t *testing.T) {
		t.Parallel()
		p, mt, rec := newMockPartner(t)
		mt.RegisterResponder("GET", ptBase+"/api/partner/sub-account/", jsonResp(404, `{"detail":"Not found."}`))
		mt.RegisterResponder("POST", ptBase+"/api/partner/sub-accounts/", rec.wrap(jsonResp(200, `{"id":8,"external_id":"wood_123"}`)))
		sa, created, err := p.EnsureSubAccount(context.Background(), in)
		require.NoError(t, err)
		assert.True(t, created)
		assert.Equal(t, ID(8), sa.ID)
		require.Len(t, rec.all(), 1)
		assert.Contains(t, string(rec.all()[0].Body), `"external_id":"wood_123"`)
	})
	t.Run("created elsewhere meanwhile: conflict then found", func(t *testing.T) {
		t.Parallel()
		p, mt, _ := newMockPartner(t)
		var gets atomic.Int32
		mt.RegisterResponder("GET", ptBase+"/api/partner/sub-account/", func(r *http.Request) (*http.Response, error) {
			if gets.Add(1) == 1 {
				return jsonResp(404, `{"detail":"Not found."}`)(r)
			}
			return jsonResp(200, `{"id":9,"external_id":"wood_123"}`)(r)
		})
		mt.RegisterResponder("POST", ptBase+"/api/partner/sub-accounts/", jsonResp(400, `{"external_id":["already exists"]}`))
		sa, created, err := p.EnsureSubAccount(context.Background(), in)
		require.NoError(t, err)
		assert.False(t, created)
		assert.Equal(t, ID(9), sa.ID)
		assert.Equal(t, int32(2), gets.Load())
	})
	t.Run("100 concurrent callers: one get, one create, one created=true", func(t *testing.T) {
		t.Parallel()
		p, mt, _ := newMockPartner(t)
		var gets, posts atomic.Int32
		release := make(chan struct{})
		mt.RegisterResponder("GET", ptBase+"/api/partner/sub-account/", func(r *http.Request) (*http.Response, error) {
			gets.Add(1)
			<-release
			return jsonResp(404, `{"detail":"Not found."}`)(r)
		})
		mt.RegisterResponder("POST", ptBase+"/api/partner/sub-accounts/", func(r *http.Request) (*http.Response, error) {
			posts.Add(1)
			return jsonResp(200, `{"id":10,"external_id":"wood_123"}`)(r)
		})
		const n = 100
		var wg sync.WaitGroup
		var createdN atomic.Int32
		var started sync.WaitGroup
		started.Add(n)
		errs := make(chan error, n)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				started.Done()
				sa, created, err := p.EnsureSubAccount(context.Background(), in)
				if err == nil && sa.ID != 10 {
					err = fmt.Errorf("got id %d", sa.ID)
				}
				if created {
					createdN.Add(1)
				}
				errs <- err
			}()
		}
		started.Wait()
		require.Eventually(t, func() bool { return waiters(&p.st.ensure, "wood_123") == n }, 5*time.Second, time.Millisecond,
			"every caller joins the one flight")
		close(release)
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		assert.Equal(t, int32(1), gets.Load())
		assert.Equal(t, int32(1), posts.Load())
		assert.Equal(t, int32(1), createdN.Load())
	})
	t.Run("server error is returned", func(t *testing.T) {
		t.Parallel()
		p, mt, _ := newMockPartner(t)
		mt.RegisterResponder("GET", ptBase+"/api/partner/sub-account/", jsonResp(403, `{"detail":"nope"}`))
		_, _, err := p.EnsureSubAccount(context.Background(), in)
		require.ErrorIs(t, err, ErrForbidden)
		assert.Equal(t, 1, mt.GetTotalCallCount())
	})
}

func TestCreateSubAccountIsNotRetried(t *testing.T) {
	t.Parallel()
	p, mt, rec := newMockPartner(t)
	mt.RegisterResponder("POST", ptBase+"/api/partner/sub-accounts/", rec.wrap(jsonResp(503, `{"detail":"busy"}`)))
	_, err := p.CreateSubAccount(context.Background(), SubAccountCreate{ExternalID: "w", FirstName: "a",
		LastName: "b", Email: "a@b.example", CompanyName: "c"})
	require.ErrorIs(t, err, ErrServer)
	assert.Len(t, rec.all(), 1)
	assert.False(t, errors.Is(err, ErrInvalidArgument))
}

func TestNilContextIsRefused(t *testing.T) {
	t.Parallel()
	p, mt, _ := newMockPartner(t)
	var nilCtx context.Context
	_, err := Collect(p.SubAccounts(nilCtx, nil), 0)
	require.ErrorIs(t, err, ErrInvalidArgument)
	_, err = p.ServerTypes(nilCtx)
	require.ErrorIs(t, err, ErrInvalidArgument)
	_, _, err = p.EnsureSubAccount(nilCtx, SubAccountCreate{})
	require.ErrorIs(t, err, ErrInvalidArgument)
	require.ErrorIs(t, p.ForEachSubAccount(nilCtx, 1, func(context.Context, *SubAccount, *SubAccountClient) error { return nil }), ErrInvalidArgument)
	_, err = p.GetSubAccount(nilCtx, ByAccountID(1))
	require.ErrorIs(t, err, ErrInvalidArgument)
	assert.Zero(t, mt.GetTotalCallCount())
}
