package peliqantest

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/peliqan-community/peliqan-go/internal/routes"
)

func TestSubAccountPaging(t *testing.T) {
	t.Parallel()
	srv := NewFake(t)
	c := newTC(t, srv)
	p := srv.PartnerToken()
	for i := range 25 {
		r := c.ok(routes.CreateSubAccount, p, nil, map[string]any{
			"external_id": fmt.Sprintf("c%02d", i), "company_name": fmt.Sprintf("Co %d", i), "email": "a@b.example",
		})
		assert.Equal(t, fmt.Sprintf("c%02d", i), r.json(t)["external_id"])
	}

	var seen []string
	var nexts []any
	page := "1"
	for range 10 { // bounded: 3 pages expected
		m := c.ok(routes.ListSubAccounts, p, url.Values{"page": {page}, "per_page": {"10"}}, nil).json(t)
		for _, it := range m["data"].([]any) {
			seen = append(seen, it.(map[string]any)["external_id"].(string))
		}
		nexts = append(nexts, m["next"])
		if m["next"] == nil {
			break
		}
		page = id(m["next"])
	}
	assert.Equal(t, []any{2.0, 3.0, nil}, nexts)
	require.Len(t, seen, 25)
	assert.Equal(t, "c00", seen[0])
	assert.Equal(t, "c24", seen[24])

	// Defaults: page 1, 10 per page.
	m := c.ok(routes.ListSubAccounts, p, nil, nil).json(t)
	assert.Len(t, m["data"], 10)
	// page_size is accepted for per_page.
	m = c.ok(routes.ListSubAccounts, p, url.Values{"page_size": {"20"}, "page": {"2"}}, nil).json(t)
	assert.Len(t, m["data"], 5)
	// Past the end: an empty page.
	m = c.ok(routes.ListSubAccounts, p, url.Values{"page": {"9"}}, nil).json(t)
	assert.Empty(t, m["data"])
	assert.Nil(t, m["next"])
	// Bad paging parameters are DRF field errors.
	for _, q := range []url.Values{{"per_page": {"0"}}, {"per_page": {"1001"}}, {"page": {"x"}}} {
		r := c.call(routes.ListSubAccounts, p, q, nil)
		assert.Equal(t, http.StatusBadRequest, r.status, q.Encode())
	}
}

func TestSubAccountCRUD(t *testing.T) {
	t.Parallel()
	srv := NewFake(t)
	c := newTC(t, srv)
	p := srv.PartnerToken()

	r := c.call(routes.CreateSubAccount, p, nil, map[string]any{"company_name": "No id"})
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Equal(t, []any{"This field is required."}, r.json(t)["external_id"])

	created := c.ok(routes.CreateSubAccount, p, nil, map[string]any{
		"external_id": "wood_123", "first_name": "Ada", "last_name": "L", "email": "ada@wood.example",
		"password": "secret", "company_name": "Wood", "country": "BE", "company_size": "11-50",
	}).json(t)
	assert.Equal(t, 200, routes.MustLookup(routes.CreateSubAccount).Success)
	assert.Equal(t, "Wood", created["name"])
	assert.Equal(t, "free_trial", created["license"])
	assert.Equal(t, true, created["verified"])
	assert.Equal(t, "en", created["language"])
	assert.NotContains(t, created, "password")
	sid := id(created["id"])

	requireTupleError(t, c.call(routes.CreateSubAccount, p, nil, map[string]any{"external_id": "wood_123"}),
		http.StatusBadRequest, "ERROR_SUBACCOUNT_ALREADY_EXISTS")

	got := c.ok(routes.GetSubAccount, p, url.Values{"external_id": {"wood_123"}}, nil).json(t)
	assert.Equal(t, sid, id(got["id"]))
	got = c.ok(routes.GetSubAccount, p, url.Values{"account_id": {sid}}, nil).json(t)
	assert.Equal(t, "wood_123", got["external_id"])
	assert.Equal(t, http.StatusNotFound, c.call(routes.GetSubAccount, p, url.Values{"external_id": {"nope"}}, nil).status)
	assert.Equal(t, http.StatusBadRequest, c.call(routes.GetSubAccount, p, nil, nil).status)

	info := c.ok(routes.SubAccountInfo, p, nil, nil, sid).json(t)
	assert.Equal(t, "dw_"+sid, info["default_dw_name"])
	assert.NotEmpty(t, info["default_dw_id"])

	upd := c.ok(routes.UpdateSubAccount, p, nil, map[string]any{"license": "pro", "expires_on": "2027-01-31"}, sid).json(t)
	assert.Equal(t, "pro", upd["license"])
	assert.Equal(t, "2027-01-31", upd["expires_on"])
	assert.Equal(t, "wood_123", upd["external_id"])

	del := c.ok(routes.DeleteSubAccount, p, nil, nil, sid)
	assert.Equal(t, http.StatusNoContent, del.status)
	assert.Empty(t, del.body)
	assert.Equal(t, http.StatusNotFound, c.call(routes.SubAccountInfo, p, nil, nil, sid).status)
	assert.Equal(t, http.StatusNotFound, c.call(routes.DeleteSubAccount, p, nil, nil, sid).status)
	// The external id is free again.
	c.ok(routes.CreateSubAccount, p, nil, map[string]any{"external_id": "wood_123"})
}

func TestIntegrateAutoProvisions(t *testing.T) {
	t.Parallel()
	srv := NewFake(t)
	c := newTC(t, srv)
	p := srv.PartnerToken()
	body := map[string]any{"external_id": "new_1", "first_name": "Bo", "last_name": "K", "email": "bo@new.example", "company_name": "New One"}

	tok1 := c.ok(routes.IntegrationToken, p, nil, body).json(t)["integration_token"].(string)
	tok2 := c.ok(routes.IntegrationToken, p, nil, body).json(t)["integration_token"].(string)
	assert.NotEqual(t, tok1, tok2)
	m := c.ok(routes.ListSubAccounts, p, nil, nil).json(t)
	require.Len(t, m["data"], 1, "the second integrate reuses the sub-account")
	assert.Equal(t, "New One", m["data"].([]any)[0].(map[string]any)["name"])

	// The integration token opens the new tenant.
	assert.Empty(t, c.ok(routes.ListServers, tok1, nil, nil).list(t))
	// The older query-parameter form works too; no external id is refused.
	c.ok(routes.IntegrationToken, p, url.Values{"external_id": {"new_1"}}, nil)
	assert.Equal(t, http.StatusBadRequest, c.call(routes.IntegrationToken, p, nil, map[string]any{}).status)
}

func TestServerTypesHaveConnectForms(t *testing.T) {
	t.Parallel()
	srv := NewFake(t)
	c := newTC(t, srv)
	types := c.ok(routes.ServerTypes, srv.PartnerToken(), nil, nil).list(t)
	kinds := map[string]string{}
	for _, ty := range types {
		kinds[ty["name"].(string)] = ty["auth_type"].(string)
		assert.NotNil(t, ty["form_fields"])
	}
	assert.Equal(t, map[string]string{"pipedrive": AuthAPIKey, "hubspot": AuthOAuth, "postgresql": AuthAPIKey, "saltedge": AuthOAuth}, kinds)
	pd := types[0]["form_fields"].([]any)[0].(map[string]any)
	assert.Equal(t, "api_token", pd["name"])
	assert.Equal(t, true, pd["required"])
}
