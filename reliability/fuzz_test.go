package reliability_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	peliqan "github.com/peliqan-community/peliqan-go"
)

// Fuzz targets that reach the decoders through the public API: a client
// whose transport answers every request with the fuzzer's status and body,
// so each method's whole path (status mapping, size cap, decoder, error
// typing) is exercised, not only the decoder function. Seeds live in
// testdata/fuzz/<Target>/ and below.

const base = "https://api.test/base"

// fakeTransport answers every request with status and body, counts the
// requests and checks that none leaves the base URL's host and path (Do
// may reach any path under it).
type fakeTransport struct {
	t      *testing.T
	status int
	body   []byte
	n      atomic.Int64
}

func (f *fakeTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	f.n.Add(1)
	if r.URL.Host != "api.test" || !strings.HasPrefix(r.URL.EscapedPath(), "/base/") {
		f.t.Errorf("request left the base: %s", r.URL)
	}
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	return &http.Response{StatusCode: f.status, Status: http.StatusText(f.status),
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(f.body)),
		ContentLength: int64(len(f.body)), Request: r, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}, nil
}

func clients(t *testing.T, ft *fakeTransport) (*peliqan.PartnerClient, *peliqan.SubAccountClient) {
	opts := []peliqan.Option{peliqan.WithBaseURL(base), peliqan.WithHTTPClient(&http.Client{Transport: ft}),
		peliqan.WithRetryPolicy(peliqan.NoRetry()), peliqan.WithMaxResponseBytes(1 << 20)}
	p, err := peliqan.NewPartnerClient("partner-token", opts...)
	if err != nil {
		t.Fatal(err)
	}
	s, err := peliqan.NewSubAccountClient("tenant-token", opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p, s
}

// typed reports whether err is one of the SDK's error types or a context
// error.
func typed(err error) bool {
	var (
		ae *peliqan.APIError
		de *peliqan.DecodeError
		te *peliqan.TransportError
		ar *peliqan.ArgumentError
		rd *peliqan.RowsDecodeError
		qe *peliqan.QueryError
		cd *peliqan.ConnectionDataError
		sa *peliqan.SubAccountError
		pe *peliqan.PartnerError
		lm *peliqan.LookupMissError
	)
	return errors.As(err, &ae) || errors.As(err, &de) || errors.As(err, &te) || errors.As(err, &ar) ||
		errors.As(err, &rd) || errors.As(err, &qe) ||
		errors.As(err, &cd) || errors.As(err, &sa) || errors.As(err, &pe) || errors.As(err, &lm) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

type apiCall func(ctx context.Context, p *peliqan.PartnerClient, s *peliqan.SubAccountClient) error

func ignore[T any](_ T, err error) error { return err }

// apiCalls: one public method per server decoder, in a fixed order (the
// fuzzer picks by index).
var apiCalls = []apiCall{
	func(ctx context.Context, p *peliqan.PartnerClient, _ *peliqan.SubAccountClient) error {
		return ignore(p.ListSubAccounts(ctx, nil))
	},
	func(ctx context.Context, p *peliqan.PartnerClient, _ *peliqan.SubAccountClient) error {
		return ignore(p.GetSubAccount(ctx, peliqan.ByExternalID("x")))
	},
	func(ctx context.Context, p *peliqan.PartnerClient, _ *peliqan.SubAccountClient) error {
		return ignore(p.SubAccountInfo(ctx, 1))
	},
	func(ctx context.Context, p *peliqan.PartnerClient, _ *peliqan.SubAccountClient) error {
		return ignore(p.SubAccountToken(ctx, peliqan.ByAccountID(1), nil))
	},
	func(ctx context.Context, p *peliqan.PartnerClient, _ *peliqan.SubAccountClient) error {
		return ignore(p.IntegrationToken(ctx, peliqan.Integration{ExternalID: "x", FirstName: "a", LastName: "b",
			Email: "a@b.example", CompanyName: "c"}))
	},
	func(ctx context.Context, p *peliqan.PartnerClient, _ *peliqan.SubAccountClient) error {
		return ignore(p.ServerTypes(ctx))
	},
	func(ctx context.Context, p *peliqan.PartnerClient, _ *peliqan.SubAccountClient) error {
		_, err := peliqan.Collect(p.SubAccounts(ctx, nil), 50)
		return err
	},
	func(ctx context.Context, _ *peliqan.PartnerClient, s *peliqan.SubAccountClient) error {
		return ignore(s.ListServers(ctx))
	},
	func(ctx context.Context, _ *peliqan.PartnerClient, s *peliqan.SubAccountClient) error {
		return ignore(s.GetServerHealthStatus(ctx, 1))
	},
	func(ctx context.Context, _ *peliqan.PartnerClient, s *peliqan.SubAccountClient) error {
		return ignore(s.CreateServer(ctx, peliqan.ServerCreate{ServerTypeID: 1, Fields: map[string]any{"k": "v"}}))
	},
	func(ctx context.Context, _ *peliqan.PartnerClient, s *peliqan.SubAccountClient) error {
		return ignore(s.SyncServer(ctx, 1, nil))
	},
	func(ctx context.Context, _ *peliqan.PartnerClient, s *peliqan.SubAccountClient) error {
		return ignore(s.FullResync(ctx, 1))
	},
	func(ctx context.Context, _ *peliqan.PartnerClient, s *peliqan.SubAccountClient) error {
		return ignore(s.GetServerSyncRunStatus(ctx, 1, &peliqan.SyncStatusOptions{TaskID: "t"}))
	},
	func(ctx context.Context, _ *peliqan.PartnerClient, s *peliqan.SubAccountClient) error {
		return ignore(s.ReAuthoriseServer(ctx, 1))
	},
	func(ctx context.Context, _ *peliqan.PartnerClient, s *peliqan.SubAccountClient) error {
		return ignore(s.ManualRefreshSaltEdge(ctx, 1))
	},
	func(ctx context.Context, _ *peliqan.PartnerClient, s *peliqan.SubAccountClient) error {
		return ignore(s.ListServerRuns(ctx, 1, nil))
	},
	func(ctx context.Context, _ *peliqan.PartnerClient, s *peliqan.SubAccountClient) error {
		return ignore(s.GetPipelineRuns(ctx, []peliqan.ID{1, 2}))
	},
	func(ctx context.Context, _ *peliqan.PartnerClient, s *peliqan.SubAccountClient) error {
		return ignore(s.ServerLogs(ctx, 1))
	},
	func(ctx context.Context, _ *peliqan.PartnerClient, s *peliqan.SubAccountClient) error {
		return ignore(s.ListDatabases(ctx, &peliqan.DatabaseListOptions{IncludeTables: true}))
	},
	func(ctx context.Context, _ *peliqan.PartnerClient, s *peliqan.SubAccountClient) error {
		return ignore(s.GetTable(ctx, 1))
	},
	func(ctx context.Context, _ *peliqan.PartnerClient, s *peliqan.SubAccountClient) error {
		return ignore(s.ListRows(ctx, 1, nil))
	},
	func(ctx context.Context, _ *peliqan.PartnerClient, s *peliqan.SubAccountClient) error {
		return ignore(s.Query(ctx, "select 1", nil))
	},
	func(ctx context.Context, _ *peliqan.PartnerClient, s *peliqan.SubAccountClient) error {
		return ignore(peliqan.QueryAs[map[string]any](ctx, s, "select 1", nil))
	},
	func(ctx context.Context, _ *peliqan.PartnerClient, s *peliqan.SubAccountClient) error {
		return ignore(s.ListScripts(ctx))
	},
	func(ctx context.Context, _ *peliqan.PartnerClient, s *peliqan.SubAccountClient) error {
		return ignore(s.GetScript(ctx, 1))
	},
	func(ctx context.Context, _ *peliqan.PartnerClient, s *peliqan.SubAccountClient) error {
		return ignore(s.RunScript(ctx, 1))
	},
	func(ctx context.Context, _ *peliqan.PartnerClient, s *peliqan.SubAccountClient) error {
		return ignore(s.GetScriptRun(ctx, 1))
	},
	func(ctx context.Context, _ *peliqan.PartnerClient, s *peliqan.SubAccountClient) error {
		return ignore(s.ListGroups(ctx))
	},
	func(ctx context.Context, _ *peliqan.PartnerClient, s *peliqan.SubAccountClient) error {
		ctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		return ignore(s.WaitForSync(ctx, &peliqan.SyncResult{ServerID: 1, TaskID: "t"},
			&peliqan.WaitOptions{Schedule: peliqan.FixedSchedule(time.Millisecond)}))
	},
	// Wave 2: the get-data lookups, the connection lifecycle, batched waits,
	// fleet sync and the partner reports. Appended, so the seeds above keep
	// their index.
	func(ctx context.Context, _ *peliqan.PartnerClient, s *peliqan.SubAccountClient) error {
		return ignore(s.LookupSchema(ctx, peliqan.LookupKeys{ConnectionID: 1}))
	},
	func(ctx context.Context, _ *peliqan.PartnerClient, s *peliqan.SubAccountClient) error {
		return ignore(s.LookupTable(ctx, peliqan.LookupKeys{DatabaseName: "d", SchemaName: "s", TableName: "t"}))
	},
	func(ctx context.Context, _ *peliqan.PartnerClient, s *peliqan.SubAccountClient) error {
		return ignore(s.ConnectionTables(ctx, 1))
	},
	func(ctx context.Context, _ *peliqan.PartnerClient, s *peliqan.SubAccountClient) error {
		return ignore(s.ResolveTable(ctx, peliqan.TableName{Database: "d", Schema: "s", Table: "t"}))
	},
	func(ctx context.Context, _ *peliqan.PartnerClient, s *peliqan.SubAccountClient) error {
		return drain(s.RowsByName(ctx, peliqan.TableName{Database: "d", Schema: "s", Table: "t"}, nil), nil)
	},
	func(ctx context.Context, _ *peliqan.PartnerClient, s *peliqan.SubAccountClient) error {
		ctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		return ignore(s.WaitForConnection(ctx, 1, &peliqan.ConnectionWaitOptions{Schedule: peliqan.FixedSchedule(time.Millisecond)}))
	},
	func(ctx context.Context, _ *peliqan.PartnerClient, s *peliqan.SubAccountClient) error {
		return s.SendConnectionInvite(ctx, peliqan.ConnectionInvite{Recipient: "a@b.example", ServerType: "hubspot"})
	},
	func(ctx context.Context, _ *peliqan.PartnerClient, s *peliqan.SubAccountClient) error {
		return s.DeleteServer(ctx, 1)
	},
	func(ctx context.Context, _ *peliqan.PartnerClient, s *peliqan.SubAccountClient) error {
		ctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		return drain(s.WaitForSyncs(ctx, []*peliqan.SyncResult{{ServerID: 1, TaskID: "t"}, {ServerID: 2, TaskID: "u"}},
			&peliqan.WaitManyOptions{Schedule: peliqan.FixedSchedule(time.Millisecond)}),
			func(e *peliqan.SyncEnd) error { return e.Err })
	},
	func(ctx context.Context, p *peliqan.PartnerClient, _ *peliqan.SubAccountClient) error {
		ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		return drain(p.SyncFleet(ctx, &peliqan.FleetSyncOptions{Schedule: peliqan.FixedSchedule(time.Millisecond)}),
			func(r *peliqan.FleetResult) error { return r.Err })
	},
	func(ctx context.Context, p *peliqan.PartnerClient, _ *peliqan.SubAccountClient) error {
		return ignore(p.LicenseReport(ctx, nil))
	},
	func(ctx context.Context, p *peliqan.PartnerClient, _ *peliqan.SubAccountClient) error {
		return ignore(p.ActivityReport(ctx, nil))
	},
	func(ctx context.Context, p *peliqan.PartnerClient, _ *peliqan.SubAccountClient) error {
		return ignore(p.ChangeLicenses(ctx, peliqan.LicenseChange{SubAccounts: []peliqan.SubAccountRef{peliqan.ByAccountID(1)},
			License: "pro"}, &peliqan.LicenseChangeOptions{Confirm: peliqan.Confirmed}))
	},
	func(ctx context.Context, p *peliqan.PartnerClient, _ *peliqan.SubAccountClient) error {
		return ignore(p.CloseInactiveCustomers(ctx, &peliqan.CloseInactiveOptions{Confirm: peliqan.Confirmed}))
	},
}

// drain runs a stream to its end and returns its first error: the
// stream's own, or the first an item carries (itemErr, when set).
func drain[T any](seq iter.Seq2[T, error], itemErr func(T) error) error {
	for v, err := range seq {
		if err != nil {
			return err
		}
		if itemErr != nil {
			if err := itemErr(v); err != nil {
				return err
			}
		}
	}
	return nil
}

// hangWatchdog turns a call that outlives its context by far into a crash
// that prints every goroutine's stack, so the fuzzer records the input
// (a hang otherwise only shows as a worker that stops executing). The
// returned func disarms it.
func hangWatchdog(after time.Duration) (disarm func()) {
	tm := time.AfterFunc(after, func() {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		panic(fmt.Sprintf("call still running %v after it started (its context ends after 2s):\n%s", after, buf))
	})
	return func() { tm.Stop() }
}

func FuzzResponseBodies(f *testing.F) {
	for _, s := range []string{
		`{"error":"ERROR_X","detail":"({'error': 'ERROR_X', 'message': 'm'}, 'TraceId: abc')"}`,
		`[{"id":1,"name":"a"}]`, `{"data":[{"id":"2"}],"next":2}`, `{"count":1,"next":null,"previous":null,"results":[{"id":3}]}`,
		`{"server_id":1,"health_status":"OK","run_data":[{"pipeline_run_id":4,"task_id":"t"}],"task_id":"t","syncing":true}`,
		`{"running":false,"run_id":4}`, `{"records":[[1,"a"]],"columns":[["id","bigint"],["n","varchar"]],"error":null}`,
		`{"token":"x"}`, `{"auth_uri":"https://a.example/x"}`, `{"refresh_url":"https://r.example/"}`,
		`<html><title>502 Bad Gateway</title></html>`, `{"id":1,"health_status":"ERROR"}`, ``, `null`, `{`,
	} {
		for _, st := range []uint16{200, 201, 204, 400, 401, 404, 429, 500, 502} {
			f.Add(uint8(len(s)%len(apiCalls)), st, []byte(s))
		}
	}
	for i := range apiCalls { // every call, with an empty answer and a 404
		for _, s := range []string{`{}`, `[]`, `{"id":1}`} {
			f.Add(uint8(i), uint16(0), []byte(s))
			f.Add(uint8(i), uint16(204), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, status uint16, body []byte) {
		code := 200 + int(status)%400
		ft := &fakeTransport{t: t, status: code, body: body}
		p, s := clients(t, ft)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		defer hangWatchdog(10 * time.Second)()
		err := apiCalls[int(which)%len(apiCalls)](ctx, p, s)
		if err == nil {
			return
		}
		if !typed(err) {
			t.Fatalf("untyped error %T: %v", err, err)
		}
		if code >= 300 && !errors.Is(err, context.DeadlineExceeded) {
			var ae *peliqan.APIError
			if !errors.As(err, &ae) || ae.StatusCode != code {
				t.Fatalf("status %d gave %T %v", code, err, err)
			}
		}
		_ = err.Error()
	})
}

// FuzzRowsStream streams rows from one page body (repeated for every page
// asked for) through Rows and RowsAs.
func FuzzRowsStream(f *testing.F) {
	for _, s := range []string{
		`{"count":2,"next":null,"previous":null,"results":[{"id":1,"n":"a"},{"id":2,"n":null}]}`,
		`{"count":4,"next":"https://api.test/base/api/database/rows/table/1/?page=2&size=2","results":[{"id":1},{"id":2}]}`,
		`{"data":[{"a":[1,{"b":2}]}],"next":true}`, `[{"id":1},{"id":2}]`, `{"results":[{"id":1},`, `{"results":"x"}`,
		`{"results":[1,2]}`, `{"count":"9","results":[]}`, `{}`, `[] []`,
	} {
		f.Add([]byte(s), uint8(2))
	}
	f.Fuzz(func(t *testing.T, body []byte, size uint8) {
		ft := &fakeTransport{t: t, status: 200, body: body}
		_, s := clients(t, ft)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n := 0
		for row, err := range s.Rows(ctx, 1, &peliqan.RowsOptions{Size: 1 + int(size)%50}) {
			if err != nil {
				if !typed(err) {
					t.Fatalf("untyped error %T: %v", err, err)
				}
				break
			}
			_ = len(row) // a JSON null in the list is a nil Row: readable, no fields
			if n++; n > 500 {
				break
			}
		}
		if ft.n.Load() > 501 {
			t.Fatalf("%d requests for %d rows", ft.n.Load(), n)
		}
		for _, err := range peliqan.RowsAs[struct {
			ID json.Number `json:"id"`
		}](ctx, s, 1, nil) {
			if err != nil {
				if !typed(err) {
					t.Fatalf("untyped error %T: %v", err, err)
				}
				break
			}
			if n++; n > 10000 {
				break
			}
		}
	})
}

const webhookSecret = "whsec-fuzz-0123456789"

// FuzzWebhookHandler posts bodies to the webhook handler, signed or with
// the fuzzer's signature: only a true signature reaches fn, and every
// answer is one of the documented ones and never carries the secret.
func FuzzWebhookHandler(f *testing.F) {
	for _, s := range []string{`{"event":"connection_added","server_id":1}`, `{"type":"pipeline_run_completed","data":{"id":2}}`,
		`{"event":7}`, `[]`, `not json`, ``, `{"event":"fail"}`} {
		f.Add([]byte(s), true, "")
		f.Add([]byte(s), false, "sha256=00")
	}
	f.Fuzz(func(t *testing.T, body []byte, sign bool, sig string) {
		called := false
		h := mustHandler(peliqan.WebhookHandler(webhookSecret, func(_ context.Context, ev *peliqan.WebhookEvent) error {
			called = true
			if !bytes.Equal(ev.Payload, body) {
				t.Fatal("payload is not the body")
			}
			var v any
			_ = ev.Decode(&v)
			_ = ev.Type.IsKnown()
			if ev.Type == "fail" {
				return errors.New("handler failed")
			}
			return nil
		}, peliqan.WithWebhookMaxBody(64<<10)))
		if sign {
			sig = peliqan.SignWebhook(webhookSecret, body)
		}
		req := httptest.NewRequest(http.MethodPost, "/hook", bytes.NewReader(body))
		req.Header.Set(peliqan.DefaultWebhookSignatureHeader, sig)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusNoContent, http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge,
			http.StatusInternalServerError:
		default:
			t.Fatalf("undocumented answer %d", rec.Code)
		}
		if called && !hmac.Equal([]byte(sig), []byte(peliqan.SignWebhook(webhookSecret, body))) &&
			!strings.EqualFold(strings.TrimSpace(sig), peliqan.SignWebhook(webhookSecret, body)) {
			t.Fatalf("fn called for signature %q", sig)
		}
		if strings.Contains(rec.Body.String(), webhookSecret) {
			t.Fatal("secret in the answer")
		}
	})
}

// FuzzInputValidation feeds the fuzzer's string and number to the input
// checks of many methods: a call refused with ErrInvalidArgument sent no
// request, and no request ever leaves the base URL.
func FuzzInputValidation(f *testing.F) {
	for _, s := range []string{"", " ", "x", "a@b.example", "..", "../../x", "%2e%2e", "a/b", "x\r\nHost: evil", "\x00", "ok_id-1",
		"SELECT * FROM t", strings.Repeat("a", 300)} {
		for _, n := range []int64{-1, 0, 1, 1000, 1001, 1 << 40} {
			f.Add(s, n)
		}
	}
	f.Fuzz(func(t *testing.T, s string, n int64) {
		ft := &fakeTransport{t: t, status: 200, body: []byte(`{}`)}
		p, c := clients(t, ft)
		ctx := context.Background()
		id := peliqan.ID(n)
		calls := []func() error{
			func() error { return ignore(p.GetSubAccount(ctx, peliqan.ByExternalID(s))) },
			func() error { return ignore(p.SubAccountInfo(ctx, id)) },
			func() error {
				return ignore(p.ListSubAccounts(ctx, &peliqan.ListOptions{Page: int(n), PerPage: int(n)}))
			},
			func() error {
				return ignore(p.CreateSubAccount(ctx, peliqan.SubAccountCreate{ExternalID: s, Email: s, FirstName: s, LastName: s, CompanyName: s}))
			},
			func() error {
				return ignore(p.UpdateSubAccount(ctx, id, peliqan.SubAccountUpdate{Email: &s}))
			},
			func() error {
				return ignore(p.IntegrationToken(ctx, peliqan.Integration{ExternalID: s, Email: s, FirstName: s, LastName: s, CompanyName: s}))
			},
			func() error {
				return ignore(p.SubAccountToken(ctx, peliqan.ByExternalID(s), nil))
			},
			func() error { return ignore(c.GetServer(ctx, id)) },
			func() error { return ignore(c.SyncServer(ctx, id, &peliqan.SyncOptions{Tables: []string{s}})) },
			func() error {
				return ignore(c.GetServerSyncRunStatus(ctx, id, &peliqan.SyncStatusOptions{TaskID: s, Timeout: time.Duration(n)}))
			},
			func() error {
				return ignore(c.ListRows(ctx, id, &peliqan.RowsOptions{Size: int(n), Page: int(n), Fields: []string{s}}))
			},
			func() error { return c.UpdateCell(ctx, id, n, s, s) },
			func() error { return ignore(c.Query(ctx, s, &peliqan.QueryOptions{Database: s})) },
			func() error {
				return ignore(c.CreateQueryTable(ctx, id, peliqan.QueryTable{SchemaID: id, Name: s, Query: s}))
			},
			func() error {
				return ignore(c.CreateScript(ctx, peliqan.ScriptCreate{Name: s, Code: s, GroupID: id,
					Schedule: &peliqan.Schedule{Interval: time.Duration(n)}}))
			},
			func() error { return ignore(c.GetPipelineRuns(ctx, []peliqan.ID{id})) },
			func() error { return ignore(c.ListServers(ctx, peliqan.WithHeader(s, s))) },
			func() error { return c.Do(ctx, s, "/api/"+s, nil, nil) },
			func() error { return p.Do(ctx, "GET", s, nil, nil) },
		}
		for i, call := range calls {
			before := ft.n.Load()
			err := call()
			sent := ft.n.Load() - before
			if errors.Is(err, peliqan.ErrInvalidArgument) && sent != 0 {
				t.Fatalf("call %d: %v after %d requests", i, err, sent)
			}
			if err != nil && !typed(err) {
				t.Fatalf("call %d: untyped error %T: %v", i, err, err)
			}
		}
	})
}

func mustHandler(h http.Handler, err error) http.Handler {
	if err != nil {
		panic(err)
	}
	return h
}
