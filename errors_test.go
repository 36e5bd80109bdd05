package peliqan

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestErrorBodiesDecodeInEveryForm(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, body             string
		code, message, traceID string
	}{
		{"string detail", `{"error":"ERROR_TABLE_DOES_NOT_EXIST","detail":"Table 9 does not exist"}`,
			"ERROR_TABLE_DOES_NOT_EXIST", "Table 9 does not exist", ""},
		{"object detail", `{"error":"ERROR_X","detail":{"type":"ValueError","operation":"sync","message":"bad creds","description":"long","stack_trace":["a","b"]}}`,
			"ERROR_X", "bad creds", ""},
		{"object detail, description only", `{"detail":{"description":"only a description","error":"ERROR_Y"}}`,
			"ERROR_Y", "only a description", ""},
		{"tuple string detail", `{"detail":"({'error': 'ERROR_PIPELINE_RUN_TIMEOUT', 'message': 'Run took too long'}, 'TraceId: 1-65a-bc9')"}`,
			"ERROR_PIPELINE_RUN_TIMEOUT", "Run took too long", "1-65a-bc9"},
		{"tuple with double quotes", `{"error":"E","detail":"({\"detail\": \"it's broken\"}, \"TraceId: abc123\")"}`,
			"E", "it's broken", "abc123"},
		{"tuple without message", `{"detail":"({'x': 1}, 'TraceId: t-1')"}`,
			"", "({'x': 1}, 'TraceId: t-1')", "t-1"},
		{"django detail", `{"detail":"Not found."}`, "", "Not found.", ""},
		{"django field errors", `{"email":["Enter a valid email address."],"external_id":["This field is required."]}`,
			"", "email: Enter a valid email address.; external_id: This field is required.", ""},
		{"list detail", `{"detail":["a","b"]}`, "", "a; b", ""},
		{"message key", `{"message":"plain"}`, "", "plain", ""},
		{"html page", `<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>`,
			"", "non-JSON body: 502 Bad Gateway", ""},
		{"plain text", "upstream connect error\nor disconnect", "", "non-JSON body: upstream connect error or disconnect", ""},
		{"empty", "", "", "", ""},
		{"truncated json", `{"error":"ERR`, "", `non-JSON body: {"error":"ERR`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newAPIError(500, []byte(tc.body))
			assert.Equal(t, ErrorCode(tc.code), e.Code)
			assert.Equal(t, tc.message, e.Message)
			assert.Equal(t, tc.traceID, e.TraceID)
			assert.Equal(t, tc.body, string(e.Body), "raw body kept")
		})
	}
}

func TestObjectDetailIsKeptRaw(t *testing.T) {
	t.Parallel()
	e := newAPIError(400, []byte(`{"error":"E","detail":{"operation":"create","message":"m"}}`))
	var d map[string]string
	require.NoError(t, json.Unmarshal(e.Detail, &d))
	assert.Equal(t, "create", d["operation"])
}

func TestStatusesMapToSentinels(t *testing.T) {
	t.Parallel()
	want := map[int]error{
		400: ErrValidation, 401: ErrUnauthorized, 403: ErrForbidden, 404: ErrNotFound,
		409: ErrConflict, 422: ErrValidation, 429: ErrRateLimited, 500: ErrServer, 502: ErrServer, 503: ErrServer,
	}
	all := []error{ErrValidation, ErrUnauthorized, ErrForbidden, ErrNotFound, ErrConflict, ErrRateLimited, ErrServer}
	for status, sentinel := range want {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			t.Parallel()
			s, mt := mockTenant(t, WithRetryPolicy(NoRetry()))
			mt.RegisterResponder("GET", testBase+"/api/servers/1/", httpmock.NewStringResponder(status, `{"detail":"x"}`))
			err := s.Do(context.Background(), "GET", "/api/servers/1/", nil, nil)
			assert.ErrorIs(t, err, sentinel)
			for _, other := range all {
				if other != sentinel {
					assert.NotErrorIs(t, err, other)
				}
			}
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, status, ae.StatusCode)
			assert.Equal(t, "/api/servers/1/", ae.Path)
			assert.Equal(t, "GET", ae.Method)
			assert.Contains(t, err.Error(), fmt.Sprintf("GET /api/servers/1/: %d", status))
		})
	}
}

func TestErrorMessageFormat(t *testing.T) {
	t.Parallel()
	e := newAPIError(404, []byte(`{"error":"ERROR_TABLE_DOES_NOT_EXIST","detail":"({'message': 'gone'}, 'TraceId: t9')"}`))
	e.Method, e.Path, e.Attempts = "GET", "/api/database/tables/9/", 1
	assert.Equal(t, "peliqan: GET /api/database/tables/9/: 404 Not Found: ERROR_TABLE_DOES_NOT_EXIST: gone (trace_id=t9)", e.Error())
	assert.True(t, ErrorCode("ERROR_TABLE_DOES_NOT_EXIST").IsKnown())
	assert.False(t, ErrorCode("ERROR_NEW_THING").IsKnown())
}

func TestMalformedSuccessBodiesAreTypedErrors(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"truncated": `{"id": 1, "name": "ab`,
		"html":      `<html><body>Login</body></html>`,
		"wrong":     `[1,2,3]`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, mt := mockTenant(t)
			mt.RegisterResponder("GET", testBase+"/api/servers/1/", func(*http.Request) (*http.Response, error) {
				r := httpmock.NewStringResponse(200, body)
				r.Header.Set("Content-Type", "text/html")
				return r, nil
			})
			var out struct{ ID int }
			err := s.Do(context.Background(), "GET", "/api/servers/1/", nil, &out)
			assert.ErrorIs(t, err, ErrMalformedResponse)
			var de *DecodeError
			require.ErrorAs(t, err, &de)
			assert.Equal(t, 200, de.StatusCode)
			assert.Equal(t, "text/html", de.ContentType)
			assert.Equal(t, 1, mt.GetTotalCallCount(), "a bad success body is not retried")
		})
	}
}

func TestOversizedBodies(t *testing.T) {
	t.Parallel()
	s, mt := mockTenant(t, WithMaxResponseBytes(1024))
	big := `{"x":"` + strings.Repeat("a", 4096) + `"}`
	mt.RegisterResponder("GET", testBase+"/api/servers/", httpmock.NewStringResponder(200, big))
	var out map[string]string
	err := s.Do(context.Background(), "GET", "/api/servers/", nil, &out)
	assert.ErrorIs(t, err, ErrResponseTooLarge)
	assert.ErrorIs(t, err, ErrMalformedResponse)
	assert.Equal(t, 1, mt.GetTotalCallCount(), "not retried")

	// An error body is capped at 1 MiB and kept, not turned into a size error.
	hugeErr := strings.Repeat("x", errorBodyLimit+5000)
	mt.RegisterResponder("GET", testBase+"/api/groups/", httpmock.NewStringResponder(400, hugeErr))
	err = s.Do(context.Background(), "GET", "/api/groups/", nil, nil)
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	assert.Len(t, ae.Body, errorBodyLimit)
	assert.ErrorIs(t, err, ErrValidation)
}

func TestArgumentErrorNamesTheField(t *testing.T) {
	t.Parallel()
	err := invalidArg("external_id", "is empty")
	assert.EqualError(t, err, "peliqan: invalid argument external_id: is empty")
	assert.ErrorIs(t, err, ErrInvalidArgument)
}
