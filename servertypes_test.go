package peliqan

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestServerTypesConnectForms(t *testing.T) {
	t.Parallel()
	p, mt, _ := newMockPartner(t)
	mt.RegisterResponder("GET", ptBase+"/api/servertypes/", jsonResp(200, `{"data":[
		{"id":123,"name":"pipedrive","title":"Pipedrive","category":"crm","connect_form":[
			{"name":"login","label":"Login","type":"string","required":true,"help":"your e-mail"},
			{"name":"password","label":"Password","type":"password","required":"true"},
			{"name":"region","type":"select","required":false,"options":["eu","us"],"default":"eu"}]},
		{"id":"124","key":"hubspot","form":{"fields":[{"key":"api_key","optional":false},
			{"key":"plan","choices":[{"value":"pro","label":"Pro"},["free","Free"]]}]}},
		{"id":125,"name":"keyed","connect_form":{"token":{"type":"password","required":1},"site":{"type":"url"}}}
	],"next":null}`))
	types, err := p.ServerTypes(context.Background())
	require.NoError(t, err)
	require.Len(t, types, 3)

	pd := types[0]
	assert.Equal(t, ID(123), pd.ID)
	assert.Equal(t, "Pipedrive", pd.Title)
	assert.JSONEq(t, `"crm"`, string(pd.Extra["category"]), "unknown keys are kept")
	require.Len(t, pd.ConnectForm, 3)
	assert.Equal(t, ConnectField{Name: "login", Label: "Login", Type: "string", Required: true,
		Extra: map[string]json.RawMessage{"help": json.RawMessage(`"your e-mail"`)}}, pd.ConnectForm[0])
	assert.True(t, pd.ConnectForm[1].Required)
	assert.Equal(t, []FieldOption{{"eu", "eu"}, {"us", "us"}}, pd.ConnectForm[2].Options)
	assert.JSONEq(t, `"eu"`, string(pd.ConnectForm[2].Default))

	err = pd.Validate(map[string]any{"login": "ann", "password": "  ", "region": "eu"})
	require.ErrorIs(t, err, ErrInvalidArgument)
	assert.Contains(t, err.Error(), "pipedrive needs password")
	assert.Equal(t, []string{"login", "password"}, pd.MissingFields(map[string]any{"login": nil}))
	require.NoError(t, pd.Validate(map[string]any{"login": "ann", "password": "x"}))

	hs := types[1]
	assert.Equal(t, "hubspot", hs.Name)
	require.Len(t, hs.ConnectForm, 2)
	assert.Equal(t, "api_key", hs.ConnectForm[0].Name)
	assert.True(t, hs.ConnectForm[0].Required)
	assert.Equal(t, []FieldOption{{"pro", "Pro"}, {"free", "Free"}}, hs.ConnectForm[1].Options)

	keyed := types[2]
	require.Len(t, keyed.ConnectForm, 2)
	assert.Equal(t, []string{"token", "site"}, []string{keyed.ConnectForm[0].Name, keyed.ConnectForm[1].Name}, "form order kept")
	assert.Equal(t, []string{"token"}, keyed.MissingFields(nil))
}

// FuzzPartnerDecoders feeds server bodies to every partner decoder: none may
// panic, and a decoded sub-account re-encodes.
func FuzzPartnerDecoders(f *testing.F) {
	for _, seed := range []string{
		`{"id":1,"name":"a","external_id":"x","verified":"1","expires_on":"2027-01-31"}`,
		`{"id":"7","company_size":50,"expires_on":"2027-01-31T10:00:00+02:00","extra":[1,2]}`,
		`{"id":123,"name":"p","connect_form":[{"name":"login","required":true,"options":["a",["b","B"],{"value":1}]}]}`,
		`{"form":{"fields":[{"key":"k","optional":"false"}]}}`,
		`{"connect_form":{"token":{"type":"password"},"site":null}}`,
		`{"token":"abc"}`, `{"integration_token":"eyJ.x.y"}`, `"bare"`, `null`, `[]`, `{}`, `{"id":{}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var sa SubAccount
		if json.Unmarshal(b, &sa) == nil {
			if _, err := json.Marshal(sa); err != nil {
				t.Fatalf("re-encode: %v", err)
			}
		}
		var info SubAccountInfo
		_ = json.Unmarshal(b, &info)
		var st ServerType
		if json.Unmarshal(b, &st) == nil {
			_ = st.Validate(map[string]any{"login": "x"})
		}
		var d Date
		_ = json.Unmarshal(b, &d)
		_, _ = decodeToken(b, "token", "integration_token")
	})
}
