package peliqan

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"

	"github.com/peliqan-community/peliqan-go/internal/routes"
	"github.com/peliqan-community/peliqan-go/internal/wire"
)

// Fuzz targets for every decoder the core feeds with server bytes, and for
// the input checks that stand before the network. Seeds live in
// testdata/fuzz/<Target>/ as well as below; .ci/run runs each briefly.

func FuzzAPIErrorBody(f *testing.F) {
	for _, s := range []string{
		`{"error":"ERROR_X","detail":"text"}`,
		`{"error":"E","detail":{"message":"m","description":"d","type":"t","operation":"o","stack_trace":["a"]}}`,
		`{"detail":"({'error': 'ERROR_PIPELINE_RUN_TIMEOUT', 'message': 'slow'}, 'TraceId: 1-a')"}`,
		`{"detail":"({\"detail\": \"x\"}, \"TraceId: t\")"}`,
		`{"email":["bad"]}`, `<html><title>502</title></html>`, ``, `{"detail":[1,2]}`, `[]`, `null`,
	} {
		f.Add(500, []byte(s))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := newAPIError(status, body)
		if e == nil {
			t.Fatal("nil error")
		}
		_ = e.Error()
		if string(e.Body) != string(body) {
			t.Fatal("body not kept")
		}
	})
}

func FuzzDecodeList(f *testing.F) {
	for _, s := range []string{
		`[{"id":1}]`, `{"data":[{"id":"2"}],"next":"https://x/?page=2"}`,
		`{"count":3,"next":null,"previous":null,"results":[{"id":3}]}`, `{"count":0}`, `{"next":true}`,
		`{"data":null}`, `[`, `{"results":{}}`, `"x"`, ` `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		l, err := wire.DecodeList[item](body)
		if err != nil {
			return
		}
		if _, _, err := wire.ParseNext(l.Next); err != nil {
			return
		}
	})
}

func FuzzParseNext(f *testing.F) {
	for _, s := range []string{`null`, `true`, `false`, `7`, `"8"`, `"https://h/p/?page=2&per_page=3"`, `"%zz"`, `-1`, `1e9`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		params, more, err := wire.ParseNext(json.RawMessage(raw))
		if err != nil {
			return
		}
		for k := range params {
			ok := false
			for _, allowed := range wire.PageKeys {
				ok = ok || k == allowed
			}
			if !ok {
				t.Fatalf("non-page parameter %q taken from next", k)
			}
		}
		_ = more
	})
}

func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"0", "120", "-1", "Mon, 23 Nov 2026 10:00:00 GMT", "soon", "99999999999999999999", "Fri, 01 Jan 2100 00:00:00 GMT"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := parseRetryAfter(http.Header{"Retry-After": {v}}, now)
		if ok && (d < 0 || d > 24*time.Hour) {
			t.Fatalf("bad wait %s", d)
		}
	})
}

// FuzzPathInput checks that whatever id or path a caller passes, either it
// is refused before any request or the request stays on the base URL's
// host under its base path.
func FuzzPathInput(f *testing.F) {
	for _, s := range []string{"12", "", "..", ".", "a/b", "%2e%2e", "../../admin", "x?y#z", "//evil", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		mt := httpmock.NewMockTransport()
		mt.RegisterNoResponder(func(r *http.Request) (*http.Response, error) {
			if r.URL.Host != "api.test" || !strings.HasPrefix(r.URL.EscapedPath(), "/base/api/") {
				t.Fatalf("request left the base: %s", r.URL)
			}
			return httpmock.NewStringResponse(200, `{}`), nil
		})
		s, err := NewSubAccountClient(testTenantToken, WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: mt}), WithRetryPolicy(NoRetry()))
		if err != nil {
			t.Fatal(err)
		}
		_ = s.c.do(context.Background(), &call{route: routes.MustLookup(routes.GetServer), params: []string{in}}, nil)
		_ = s.Do(context.Background(), "GET", "/api/"+in, nil, nil)
	})
}
