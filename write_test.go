package peliqan

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeCase is one write whose 2xx answer cannot be decoded in full.
type writeCase struct {
	name         string
	method, path string // the write's route, relative to the base
	body         string // the damaged answer; it names id 42 (or task "t-42")
	// call runs the write and returns the id (or what identifies the
	// outcome) read from its result, and whether the result was nil.
	call func(*testing.T, context.Context, *PartnerClient, *SubAccountClient) (got string, isNil bool, err error)
	// before registers the other answers the call needs.
	before func(mt *httpmock.MockTransport)
}

func idOf[T any](v *T, err error, id func(*T) ID) (string, bool, error) {
	if v == nil {
		return "", true, err
	}
	return id(v).String(), false, err
}

var (
	// Cut short after the id: the rest never arrived.
	truncatedAnswer = `{"id": 42, "name": "made", "extra": {"a": [1, 2`
	// Whole JSON, but a member of the wrong type placed before the id.
	mistypedAnswer = `{"name": ["not", "a", "string"], "created_on": 12, "all_fields": {"a": 1}, "running": "yes", "id": 42}`
)

func writeCases() []writeCase {
	name, q, code := "n", "select 2", "print(2)"
	create := SubAccountCreate{ExternalID: "acme", FirstName: "Ann", LastName: "Lee", Email: "ann@acme.example", CompanyName: "Acme"}
	var cases []writeCase
	for label, body := range map[string]string{"truncated": truncatedAnswer, "mistyped": mistypedAnswer} {
		cases = append(cases,
			writeCase{name: "CreateSubAccount/" + label, method: "POST", path: "/api/partner/sub-accounts/", body: body,
				call: func(t *testing.T, ctx context.Context, p *PartnerClient, _ *SubAccountClient) (string, bool, error) {
					v, err := p.CreateSubAccount(ctx, create)
					return idOf(v, err, func(v *SubAccount) ID { return v.ID })
				}},
			writeCase{name: "UpdateSubAccount/" + label, method: "PUT", path: "/api/partner/sub-accounts/42/", body: body,
				call: func(t *testing.T, ctx context.Context, p *PartnerClient, _ *SubAccountClient) (string, bool, error) {
					v, err := p.UpdateSubAccount(ctx, 42, SubAccountUpdate{FirstName: &name})
					return idOf(v, err, func(v *SubAccount) ID { return v.ID })
				}},
			writeCase{name: "CreateQueryTable/" + label, method: "POST", path: "/api/database/tables/database/5/", body: body,
				call: func(t *testing.T, ctx context.Context, _ *PartnerClient, s *SubAccountClient) (string, bool, error) {
					v, err := s.CreateQueryTable(ctx, 5, QueryTable{SchemaID: 3, Name: "q", Query: "select 1"})
					return idOf(v, err, func(v *Table) ID { return v.ID })
				}},
			writeCase{name: "UpdateQueryTable/" + label, method: "PATCH", path: "/api/database/tables/42/", body: body,
				call: func(t *testing.T, ctx context.Context, _ *PartnerClient, s *SubAccountClient) (string, bool, error) {
					v, err := s.UpdateQueryTable(ctx, 42, QueryTableUpdate{Query: &q})
					return idOf(v, err, func(v *Table) ID { return v.ID })
				}},
			writeCase{name: "CreateScript/" + label, method: "POST", path: "/api/interfaces/group/2/", body: body,
				call: func(t *testing.T, ctx context.Context, _ *PartnerClient, s *SubAccountClient) (string, bool, error) {
					v, err := s.CreateScript(ctx, ScriptCreate{Name: "s", Code: "print(1)", GroupID: 2})
					return idOf(v, err, func(v *Script) ID { return v.ID })
				}},
			writeCase{name: "UpdateScript/" + label, method: "PATCH", path: "/api/interfaces/42/", body: body,
				call: func(t *testing.T, ctx context.Context, _ *PartnerClient, s *SubAccountClient) (string, bool, error) {
					v, err := s.UpdateScript(ctx, 42, ScriptUpdate{Code: &code})
					return idOf(v, err, func(v *Script) ID { return v.ID })
				}},
			writeCase{name: "RunScript/" + label, method: "POST", path: "/api/interface_runs/", body: body,
				before: func(mt *httpmock.MockTransport) {
					mt.RegisterResponder("GET", testBase+"/api/interfaces/trigger_run/9/", jsonResp(200, `{}`))
				},
				call: func(t *testing.T, ctx context.Context, _ *PartnerClient, s *SubAccountClient) (string, bool, error) {
					v, err := s.RunScript(ctx, 9)
					if v != nil {
						assert.Equal(t, ID(9), v.ScriptID, "the script that was run is known")
					}
					return idOf(v, err, func(v *ScriptRun) ID { return v.ID })
				}},
			writeCase{name: "CreateServer/" + label, method: "POST", path: "/api/servers/", body: body,
				call: func(t *testing.T, ctx context.Context, _ *PartnerClient, s *SubAccountClient) (string, bool, error) {
					v, err := s.CreateServer(ctx, ServerCreate{ServerTypeID: 3})
					return idOf(v, err, func(v *ServerCreated) ID { return v.ID })
				}},
		)
	}
	syncBody := `{"task_id": "t-42", "health_status": "OK", "run_data": 7, "server_id": 8}`
	cases = append(cases,
		writeCase{name: "SyncServer/run_data", method: "GET", path: "/api/servers/8/syncdb/", body: syncBody,
			call: func(t *testing.T, ctx context.Context, _ *PartnerClient, s *SubAccountClient) (string, bool, error) {
				v, err := s.SyncServer(ctx, 8, nil)
				if v != nil {
					assert.Equal(t, ID(8), v.ServerID)
					assert.Equal(t, HealthOK, v.HealthStatus)
					return v.TaskID, false, err
				}
				return "", true, err
			}},
		writeCase{name: "SyncServer/truncated", method: "GET", path: "/api/servers/8/syncdb/", body: `{"task_id": "t-42", "run_data": [{"pipeline_run_id": 3, "task_id": "t-4`,
			call: func(t *testing.T, ctx context.Context, _ *PartnerClient, s *SubAccountClient) (string, bool, error) {
				v, err := s.SyncServer(ctx, 8, nil)
				if v != nil {
					assert.Equal(t, ID(8), v.ServerID, "the server id is the one asked for")
					return v.TaskID, false, err
				}
				return "", true, err
			}},
		writeCase{name: "FullResync/run_data", method: "GET", path: "/api/servers/8/resync/", body: syncBody,
			call: func(t *testing.T, ctx context.Context, _ *PartnerClient, s *SubAccountClient) (string, bool, error) {
				v, err := s.FullResync(ctx, 8)
				if v != nil {
					assert.True(t, v.resync, "WaitForSync follows it on the resync status route")
					return v.TaskID, false, err
				}
				return "", true, err
			}},
	)
	return cases
}

// tolerant lists the cases whose type decodes the mistyped answer without
// an error (a sub-account keeps odd members in Extra; a connection reads
// any name as text).
var tolerant = map[string]bool{"CreateSubAccount/mistyped": true, "UpdateSubAccount/mistyped": true, "CreateServer/mistyped": true}

// TestWriteAcceptedKeepsWhatWasMade: a write the server accepted (a 2xx
// answer) whose answer cannot be decoded in full still returns what was
// made, as far as it could be read, beside a *DecodeError matching
// ErrMalformedResponse; it was sent once.
func TestWriteAcceptedKeepsWhatWasMade(t *testing.T) {
	t.Parallel()
	for _, wc := range writeCases() {
		t.Run(wc.name, func(t *testing.T) {
			t.Parallel()
			mt := httpmock.NewMockTransport()
			var n atomic.Int32
			mt.RegisterResponder(wc.method, testBase+wc.path, sequence(&n, jsonResp(201, wc.body)))
			if wc.before != nil {
				wc.before(mt)
			}
			opts := []Option{WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: mt}), WithRetryPolicy(fastRetries(3))}
			p, err := NewPartnerClient(testPartnerToken, opts...)
			require.NoError(t, err)
			s, err := NewSubAccountClient(testTenantToken, opts...)
			require.NoError(t, err)

			got, isNil, err := wc.call(t, context.Background(), p, s)
			if err != nil || !tolerant[wc.name] {
				require.ErrorIs(t, err, ErrMalformedResponse)
				var de *DecodeError
				require.ErrorAs(t, err, &de)
			}
			require.False(t, isNil, "the write was accepted: its result is returned")
			want := "42"
			if wc.method == "GET" {
				want = "t-42"
			}
			assert.Equal(t, want, got, "what was made is identified")
			assert.Equal(t, int32(1), n.Load(), "sent once")
		})
	}
}

// TestWriteRefusedReturnsNoResult: an error answer, or no answer, is not an
// accepted write: no result comes back.
func TestWriteRefusedReturnsNoResult(t *testing.T) {
	t.Parallel()
	for _, wc := range writeCases() {
		t.Run(wc.name, func(t *testing.T) {
			t.Parallel()
			mt := httpmock.NewMockTransport()
			mt.RegisterResponder(wc.method, testBase+wc.path, jsonResp(409, `{"id": 42, "detail": "exists"}`))
			if wc.before != nil {
				wc.before(mt)
			}
			opts := []Option{WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: mt}), WithRetryPolicy(fastRetries(1))}
			p, err := NewPartnerClient(testPartnerToken, opts...)
			require.NoError(t, err)
			s, err := NewSubAccountClient(testTenantToken, opts...)
			require.NoError(t, err)
			_, isNil, err := wc.call(t, context.Background(), p, s)
			require.ErrorIs(t, err, ErrConflict)
			assert.True(t, isNil)
		})
	}
}

// TestEnsureSubAccountCreatedButAnswerBroken: the account was made but the
// create's answer cannot be read; EnsureSubAccount looks it up and returns
// it, created, without an error and without a second create.
func TestEnsureSubAccountCreatedButAnswerBroken(t *testing.T) {
	t.Parallel()
	p, mt := mockPartner(t)
	var gets, posts atomic.Int32
	mt.RegisterResponder("GET", testBase+"/api/partner/sub-account/", sequence(&gets,
		jsonResp(404, `{"detail": "Not found."}`),
		jsonResp(200, `{"id": 42, "name": "Acme", "external_id": "acme"}`)))
	mt.RegisterResponder("POST", testBase+"/api/partner/sub-accounts/", sequence(&posts, jsonResp(201, `{"id": 42, "name": "Ac`)))
	sa, created, err := p.EnsureSubAccount(context.Background(), SubAccountCreate{ExternalID: "acme", FirstName: "Ann",
		LastName: "Lee", Email: "ann@acme.example", CompanyName: "Acme"})
	require.NoError(t, err)
	assert.True(t, created)
	assert.Equal(t, ID(42), sa.ID)
	assert.Equal(t, "acme", sa.ExternalID)
	assert.Equal(t, int32(1), posts.Load())
	assert.Equal(t, int32(2), gets.Load())

	// The look-up fails too: what the create's answer gave is returned,
	// with its error, and created is true.
	p, mt = mockPartner(t)
	posts.Store(0)
	mt.RegisterResponder("GET", testBase+"/api/partner/sub-account/", jsonResp(404, `{"detail": "Not found."}`))
	mt.RegisterResponder("POST", testBase+"/api/partner/sub-accounts/", sequence(&posts, jsonResp(201, `{"id": 42, "name": "Ac`)))
	sa, created, err = p.EnsureSubAccount(context.Background(), SubAccountCreate{ExternalID: "acme", FirstName: "Ann",
		LastName: "Lee", Email: "ann@acme.example", CompanyName: "Acme"})
	require.ErrorIs(t, err, ErrMalformedResponse)
	require.NotNil(t, sa)
	assert.Equal(t, ID(42), sa.ID)
	assert.True(t, created)
	assert.Equal(t, int32(1), posts.Load())
}

func TestSalvageObject(t *testing.T) {
	t.Parallel()
	keepAll := func([]byte) bool { return true }
	for in, want := range map[string]string{
		`{"id": 1, "name": "a"}`:            `{"id":1,"name":"a"}`,
		`{"id": 1, "name": "a`:              `{"id":1}`,
		`{"id": 12`:                         `{}`,
		`{"id": 12 `:                        `{}`,
		`{"id": 12,`:                        `{"id":12}`,
		`{"a": {"b": [1, 2]}, "c": tru`:     `{"a":{"b":[1,2]}}`,
		`{"a": 1 "b": 2}`:                   `{}`,
		`{"a": 1, "a": 2}`:                  `{"a":2}`,
		`{}`:                                `{}`,
		`{`:                                 `{}`,
		`{"a": "x\"y", "b": [1, {"c": 2}]}`: `{"a":"x\"y","b":[1,{"c":2}]}`,
	} {
		assert.JSONEq(t, want, string(salvageObject([]byte(in), keepAll)), in)
	}
	for _, in := range []string{``, `[]`, `[{"id": 1}]`, `<html>`, `"x"`, `null`} {
		assert.Nil(t, salvageObject([]byte(in), keepAll), in)
	}
	onlyID := func(m []byte) bool { return string(m[:5]) == `{"id"` }
	assert.JSONEq(t, `{"id":3}`, string(salvageObject([]byte(`{"x": 1, "id": 3, "y": 2}`), onlyID)))
}

// FuzzSalvageObject: salvaging never panics and yields a JSON object; a
// whole object is kept whole, and a body cut anywhere yields a prefix of
// what the whole body yields (nothing cut short is taken for complete).
func FuzzSalvageObject(f *testing.F) {
	for _, seed := range []string{
		`{"id": 42, "name": "a", "tables": [{"n": 1}], "ok": true, "x": null}`,
		`{"id": "42", "run_data": {"pipeline_run_id": 3}}`,
		`{"a": 1, "a": 2}`, `{}`, `[]`, `{"a": "\u00e9\"", "b": -1.5e3}`,
	} {
		f.Add([]byte(seed), uint(len(seed)/2))
	}
	keepAll := func([]byte) bool { return true }
	f.Fuzz(func(t *testing.T, b []byte, cut uint) {
		whole := salvageObject(b, keepAll)
		if whole == nil {
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(whole, &m); err != nil {
			t.Fatalf("salvaged %q from %q: not an object: %v", whole, b, err)
		}
		if json.Valid(b) {
			var want, got map[string]any
			if json.Unmarshal(b, &want) == nil {
				require.NoError(t, json.Unmarshal(whole, &got))
				require.Equal(t, want, got, "a whole object is kept whole")
			}
		}
		part := salvageObject(b[:int(cut%uint(len(b)+1))], keepAll)
		if part != nil && !bytes.HasPrefix(whole[:len(whole)-1], part[:len(part)-1]) {
			t.Fatalf("cut body gave %q, not a prefix of %q", part, whole)
		}
	})
}
