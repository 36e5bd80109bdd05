package peliqan_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/internal/routes"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// The secrets test: every public method against a server that fails in
// every way, with a debug-level logger; the errors, the log and the fake's
// recorded requests must not contain the partner token or any tenant token.

// lockedBuffer is a log sink safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// secretFault is one way the server fails. echo faults are answered by the
// test's front server with the request's own token in the body, the way a
// careless proxy or a debug page would.
type secretFault struct {
	name  string
	fault *peliqantest.Fault
	echo  func(tok string) (status int, contentType, body string)
}

func secretFaults() []secretFault {
	f := func(x peliqantest.Fault) *peliqantest.Fault { return &x }
	return []secretFault{
		{name: "400", fault: f(peliqantest.StatusFault(http.StatusBadRequest, ""))},
		{name: "401", fault: f(peliqantest.StatusFault(http.StatusUnauthorized, ""))},
		{name: "403", fault: f(peliqantest.StatusFault(http.StatusForbidden, ""))},
		{name: "404", fault: f(peliqantest.StatusFault(http.StatusNotFound, ""))},
		{name: "409", fault: f(peliqantest.StatusFault(http.StatusConflict, ""))},
		{name: "429", fault: f(peliqantest.RetryAfterFault(http.StatusTooManyRequests, "0"))},
		{name: "500", fault: f(peliqantest.StatusFault(http.StatusInternalServerError, ""))},
		{name: "html_502", fault: f(peliqantest.HTMLFault(http.StatusBadGateway))},
		{name: "reset", fault: f(peliqantest.ResetFault())},
		{name: "reset_mid_body", fault: f(peliqantest.MidBodyResetFault())},
		{name: "truncated", fault: f(peliqantest.TruncatedJSONFault())},
		{name: "oversized", fault: f(peliqantest.OversizedFault(256 << 10))},
		{name: "echo_401_detail", echo: func(tok string) (int, string, string) {
			return 401, "application/json", `{"error":"ERROR_TOKEN","detail":"Invalid token JWT ` + tok + `"}`
		}},
		{name: "echo_500_tuple", echo: func(tok string) (int, string, string) {
			return 500, "application/json", `{"error":"ERROR_X","detail":"({'error': 'ERROR_X', 'message': 'token ` + tok + ` rejected'}, 'TraceId: t-1')"}`
		}},
		{name: "echo_400_fields", echo: func(tok string) (int, string, string) {
			return 400, "application/json", `{"authorization":["JWT ` + tok + `"],"message":"` + tok + `"}`
		}},
		{name: "echo_502_html", echo: func(tok string) (int, string, string) {
			return 502, "text/html", "<html><title>upstream said " + tok + "</title><body>" + tok + "</body></html>"
		}},
		{name: "echo_200_not_json", echo: func(tok string) (int, string, string) {
			return 200, "application/json", tok
		}},
		{name: "echo_200_json_string", echo: func(tok string) (int, string, string) {
			return 200, "application/json", `"` + tok + `"`
		}},
	}
}

// secretCalls are the public methods that are not one route: iterators,
// fan-out, waits, publishing, the escape hatch and the token handler.
func secretCalls(e *relEnv) map[string]func(ctx context.Context, c *peliqan.SubAccountClient) []error {
	one := func(err error) []error { return []error{err} }
	return map[string]func(ctx context.Context, c *peliqan.SubAccountClient) []error{
		"EnsureSubAccount": func(ctx context.Context, _ *peliqan.SubAccountClient) []error {
			_, _, err := e.p.EnsureSubAccount(ctx, peliqan.SubAccountCreate{ExternalID: "ens-" + fmt.Sprint(e.seq.Add(1)),
				FirstName: "A", LastName: "B", Email: "a@b.example", CompanyName: "C"})
			return one(err)
		},
		"SubAccounts": func(ctx context.Context, _ *peliqan.SubAccountClient) []error {
			_, err := peliqan.Collect(e.p.SubAccounts(ctx, nil), 100)
			return one(err)
		},
		"SubAccount": func(ctx context.Context, _ *peliqan.SubAccountClient) []error {
			tc, err := e.p.SubAccount(peliqan.ByExternalID(e.ext))
			if err != nil {
				return one(err)
			}
			_, err = tc.ListServers(ctx)
			return one(err)
		},
		"ForEachSubAccount": func(ctx context.Context, _ *peliqan.SubAccountClient) []error {
			return one(e.p.ForEachSubAccount(ctx, 2, func(ctx context.Context, _ *peliqan.SubAccount, t *peliqan.SubAccountClient) error {
				_, err := t.ListServers(ctx)
				return err
			}))
		},
		"ConnectionHealth": func(ctx context.Context, _ *peliqan.SubAccountClient) []error {
			var errs []error
			for r, err := range e.p.ConnectionHealth(ctx, &peliqan.HealthScanOptions{Concurrency: 2}) {
				if err != nil {
					errs = append(errs, err)
					continue
				}
				errs = append(errs, r.Err)
			}
			return errs
		},
		"PublishScript": func(ctx context.Context, _ *peliqan.SubAccountClient) []error {
			rep, err := e.p.PublishScript(ctx, peliqan.ScriptTemplate{Name: "tpl", Code: "print(3)"},
				&peliqan.PublishOptions{SubAccounts: []peliqan.SubAccountRef{peliqan.ByAccountID(e.acct), peliqan.ByExternalID(e.ext + "-missing")}})
			if rep != nil {
				return []error{err, rep.Err()}
			}
			return one(err)
		},
		"PublishQueryTable": func(ctx context.Context, _ *peliqan.SubAccountClient) []error {
			rep, err := e.p.PublishQueryTable(ctx, peliqan.QueryTableTemplate{Name: "tplq", Query: "select 4"},
				&peliqan.PublishOptions{SubAccounts: []peliqan.SubAccountRef{peliqan.ByExternalID(e.ext)}})
			if rep != nil {
				return []error{err, rep.Err()}
			}
			return one(err)
		},
		"WaitForSync": func(ctx context.Context, c *peliqan.SubAccountClient) []error {
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			_, err := c.WaitForSync(ctx, &peliqan.SyncResult{ServerID: e.srv, RunData: []peliqan.RunRef{{PipelineRunID: e.pRun}}},
				&peliqan.WaitOptions{Schedule: peliqan.FixedSchedule(time.Millisecond)})
			return one(err)
		},
		"WaitForScriptRun": func(ctx context.Context, c *peliqan.SubAccountClient) []error {
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			_, err := c.WaitForScriptRun(ctx, e.scriptRun, &peliqan.ScriptWaitOptions{Schedule: peliqan.FixedSchedule(time.Millisecond)})
			return one(err)
		},
		"Rows": func(ctx context.Context, c *peliqan.SubAccountClient) []error {
			_, err := peliqan.Collect(c.Rows(ctx, e.table, &peliqan.RowsOptions{Size: 7}), 1000)
			return one(err)
		},
		"RowsAs": func(ctx context.Context, c *peliqan.SubAccountClient) []error {
			_, err := peliqan.Collect(peliqan.RowsAs[struct{ Name string }](ctx, c, e.table, nil), 1000)
			return one(err)
		},
		"QueryAs": func(ctx context.Context, c *peliqan.SubAccountClient) []error {
			_, err := peliqan.QueryAs[map[string]any](ctx, c, "SELECT * FROM contacts", nil)
			return one(err)
		},
		"ServerRuns": func(ctx context.Context, c *peliqan.SubAccountClient) []error {
			_, err := peliqan.Collect(c.ServerRuns(ctx, e.srv, nil), 100)
			return one(err)
		},
		"Do": func(ctx context.Context, c *peliqan.SubAccountClient) []error {
			var out any
			return []error{c.Do(ctx, "GET", "/api/servers/", nil, &out), e.p.Do(ctx, "POST", "/api/partner/sub-account/integrate/",
				map[string]string{"external_id": e.ext}, &out)}
		},
	}
}

func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	for _, sf := range secretFaults() {
		// Everything failing, and everything but the identity-token fetch
		// failing (so tenant tokens are minted, used and echoed too).
		for _, spare := range []bool{false, true} {
			name := sf.name + map[bool]string{false: "/all_routes", true: "/token_fetch_ok"}[spare]
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				leakCheck(t, sf, spare)
			})
		}
	}
}

func leakCheck(t *testing.T, sf secretFault, spareTokenFetch bool) {
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := newRelEnv(t, peliqan.WithLogger(logger), peliqan.WithMaxResponseBytes(128<<10),
		peliqan.WithTimeout(2*time.Second))

	// Every token the front sees on the wire, whoever minted it.
	var tokMu sync.Mutex
	seen := map[string]bool{e.partnerTok: true, e.tenantTok: true}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "JWT ")
		tokMu.Lock()
		if tok != "" {
			seen[tok] = true
		}
		tokMu.Unlock()
		rt, _, _ := routes.Match(r.Method, r.URL.Path)
		if sf.echo != nil && tok != "" && !(spareTokenFetch && rt.Name == peliqan.RouteSubAccountToken) {
			status, ct, body := sf.echo(tok)
			w.Header().Set("Content-Type", ct)
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
			return
		}
		e.serve(w, r)
	}))
	t.Cleanup(front.Close)
	opts := []peliqan.Option{peliqan.WithBaseURL(front.URL), peliqan.WithHTTPClient(e.hc), peliqan.WithRetryPolicy(zeroWait),
		peliqan.WithLogger(logger), peliqan.WithMaxResponseBytes(128 << 10)}
	var err error
	e.p, err = peliqan.NewPartnerClient(e.partnerTok, opts...)
	require.NoError(t, err)
	e.t, err = peliqan.NewSubAccountClient(e.tenantTok, opts...)
	require.NoError(t, err)
	for _, r := range peliqan.Routes() {
		if sf.fault != nil && !(spareTokenFetch && r.Name == peliqan.RouteSubAccountToken) {
			e.fake.AddFaultRule(peliqantest.FaultRule{Route: r.Name, Probability: 1, Fault: *sf.fault})
		}
	}

	ctx := context.Background()
	var errs []error
	for _, r := range peliqan.Routes() {
		call := routeCalls[r.Name]
		errs = append(errs, call(ctx, e, e.t))
		if !r.Partner {
			errs = append(errs, call(ctx, e, e.tenant(t))) // token fetched (and refetched) through the partner
		}
	}
	for _, call := range secretCalls(e) {
		errs = append(errs, call(ctx, e.t)...)
		errs = append(errs, call(ctx, e.tenant(t))...)
	}
	// The integration-token endpoint a SaaS backend mounts.
	h := mustHandler(peliqan.IntegrationTokenHandler(e.p, func(*http.Request) (peliqan.Integration, error) {
		return peliqan.Integration{ExternalID: e.ext, FirstName: "A", LastName: "B", Email: "a@b.example", CompanyName: "C"}, nil
	}, peliqan.WithTokenHandlerLogger(logger)))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/token", nil))

	// Everything a user could print or ship to a log aggregator.
	var hay strings.Builder
	failures := 0
	for _, err := range errs {
		if err == nil {
			continue
		}
		failures++
		fmt.Fprintf(&hay, "%v\n%+v\n%#v\n%s\n%q\n", err, err, err, err, err)
		var ae *peliqan.APIError
		if errors.As(err, &ae) {
			fmt.Fprintf(&hay, "%s\n%s\n%s\n", ae.Message, ae.Detail, ae.Body)
		}
		logger.Error("call failed", "err", err)
	}
	hay.WriteString(logs.String())
	if rec.Code != http.StatusOK { // a 200 carries the integration token by design
		hay.WriteString(rec.Body.String())
	}
	for _, q := range e.fake.Requests() {
		fmt.Fprintf(&hay, "%s %s?%s %s %v\n", q.Method, q.Path, q.RawQuery, q.Body, q.Header)
	}
	text := hay.String()
	tokMu.Lock()
	defer tokMu.Unlock()
	assert.Greater(t, failures, 10, "the server failed, so calls failed")
	if spareTokenFetch {
		assert.Greater(t, len(seen), 2, "tenant identity tokens were fetched and used")
	}
	hits := 0
	for tok := range seen {
		if n := strings.Count(text, tok); n > 0 {
			hits += n
			t.Errorf("token %s... found %d times", tok[:12], n)
			for _, line := range strings.Split(text, "\n") {
				if strings.Contains(line, tok) {
					t.Logf("  in: %.300s", strings.ReplaceAll(line, tok, "<TOKEN>"))
				}
			}
		}
	}
	t.Logf("%s: %d failed calls, %d bytes of errors, logs and recorded requests scanned for %d tokens: %d hits",
		sf.name, failures, len(text), len(seen), hits)
}

// TestSecretsFormatting: the token-carrying values and the clients redact
// under every fmt verb and slog.
func TestSecretsFormatting(t *testing.T) {
	t.Parallel()
	e := newRelEnv(t)
	ctx := context.Background()
	it, err := e.p.SubAccountToken(ctx, peliqan.ByAccountID(e.acct), nil)
	require.NoError(t, err)
	gt, err := e.p.IntegrationToken(ctx, peliqan.Integration{ExternalID: e.ext, FirstName: "A", LastName: "B",
		Email: "a@b.example", CompanyName: "C"})
	require.NoError(t, err)
	var logs bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	l.Debug("values", "identity", it, "integration", gt, "p", e.p, "t", e.t, "ip", &it, "gp", gt)
	l.Debug("text", slog.Any("identity", *it), slog.Any("integration", *gt))
	out := fmt.Sprintf("%v %+v %#v %s %q %v %+v %#v %s %v %+v %#v %v %+v %#v", *it, *it, *it, *it, *it, *gt, *gt, *gt, *gt,
		e.p, e.p, e.p, e.t, e.t, e.t) + logs.String()
	for _, tok := range []string{e.partnerTok, e.tenantTok} {
		assert.NotContains(t, out, tok)
	}
	assert.NotContains(t, out, "eyJ", "no JWT-shaped text at all")
}
