package peliqan

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// srvFleet is a fake partner account: tenants by id, each with connections
// and, per connection, the body of its newest-run page.
type srvFleet struct {
	tenants []srvTenant
	failing map[ID]bool // tenants whose server list answers 500
}

type srvTenant struct {
	id      ID
	ext     string
	servers string            // body of GET /api/servers/
	runs    map[string]string // server id -> body of its runs page
}

var srvRunsPath = regexp.MustCompile(`^https://api\.test/base/api/servers/\d+/runs/`)

func srvPartner(t *testing.T, f *srvFleet) (*PartnerClient, *srvMock) {
	t.Helper()
	m := &srvMock{t: t, mt: httpmock.NewMockTransport()}
	m.mt.RegisterNoResponder(func(r *http.Request) (*http.Response, error) {
		t.Errorf("unexpected request %s %s", r.Method, r.URL)
		return httpmock.NewStringResponse(599, "unexpected"), nil
	})
	byTok := map[string]*srvTenant{}
	var items []string
	for i := range f.tenants {
		tn := &f.tenants[i]
		byTok["JWT tok-"+tn.id.String()] = tn
		items = append(items, fmt.Sprintf(`{"id": %d, "name": "T%d", "external_id": %q}`, tn.id, tn.id, tn.ext))
	}
	m.on("GET", "/api/partner/sub-accounts/", srvJSON(200, `{"data": [`+strings.Join(items, ",")+`], "next": null}`))
	m.on("GET", "/api/partner/sub-account/identity/", func(r *http.Request) (*http.Response, error) {
		return srvJSON(200, `{"token": "tok-`+r.URL.Query().Get("account_id")+`"}`)(r)
	})
	m.on("GET", "/api/servers/", func(r *http.Request) (*http.Response, error) {
		tn := byTok[r.Header.Get("Authorization")]
		if tn == nil {
			return srvJSON(401, `{"detail": "bad token"}`)(r)
		}
		if f.failing[tn.id] {
			return srvJSON(500, `{"error": "BOOM"}`)(r)
		}
		return srvJSON(200, tn.servers)(r)
	})
	m.mt.RegisterRegexpResponder("GET", srvRunsPath, func(r *http.Request) (*http.Response, error) {
		m.record(r)
		tn := byTok[r.Header.Get("Authorization")]
		id := strings.Split(strings.TrimPrefix(r.URL.Path, "/base/api/servers/"), "/")[0]
		body, ok := tn.runs[id]
		if !ok {
			body = `{"data": []}`
		}
		return srvJSON(200, body)(r)
	})
	p, err := NewPartnerClient("partner-tok", WithBaseURL(srvBase), WithHTTPClient(&http.Client{Transport: &srvEntry{m: m}}),
		WithRetryPolicy(RetryPolicy{MaxAttempts: 3, Backoff: BackoffConstant}))
	require.NoError(t, err)
	return p, m
}

// srvEntry notes each request as the client's goroutine hands it over
// (httpmock then runs responders on goroutines of its own).
type srvEntry struct{ m *srvMock }

func (e *srvEntry) RoundTrip(r *http.Request) (*http.Response, error) {
	e.m.mu.Lock()
	e.m.entered = append(e.m.entered, r.URL.Path)
	e.m.mu.Unlock()
	return e.m.mt.RoundTrip(r)
}

func (m *srvMock) enteredWithPrefix(prefix string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, p := range m.entered {
		if strings.HasPrefix(p, prefix) {
			n++
		}
	}
	return n
}

func srvSortReports(rs []*ConnectionReport) {
	slices.SortFunc(rs, func(a, b *ConnectionReport) int {
		if a.SubAccount.ID != b.SubAccount.ID {
			return int(a.SubAccount.ID - b.SubAccount.ID)
		}
		var x, y ID
		if a.Server != nil {
			x = a.Server.ID
		}
		if b.Server != nil {
			y = b.Server.ID
		}
		return int(x - y)
	})
}

func TestConnectionHealthScansEveryTenant(t *testing.T) {
	t.Parallel()
	f := &srvFleet{failing: map[ID]bool{2: true}, tenants: []srvTenant{
		{id: 1, ext: "acme", servers: `[{"id": 11, "health_status": "OK"}, {"id": 12, "health_status": "ERROR"}, {"id": 13, "health_status": "BRAND_NEW"}]`,
			runs: map[string]string{"11": `{"data": [{"id": 110, "status": "COMPLETED"}], "next": 2}`}},
		{id: 2, ext: "broken", servers: `[]`},
		{id: 3, ext: "wood", servers: `{"data": [{"id": 31, "health_status": "RE_AUTHORISING"}, {"id": 32, "health_status": "DISABLED"}, {"id": 33, "health_status": "HEALTHY"}, {"id": 34, "health_status": "OK"}, {"id": 35, "health_status": "CHECKING"}]}`,
			runs: map[string]string{"33": `{"data": [{"id": 330, "status": "ERROR", "error": "401 from source"}]}`}},
	}}
	p, m := srvPartner(t, f)
	var got []*ConnectionReport
	for r, err := range p.ConnectionHealth(context.Background(), &HealthScanOptions{Concurrency: 2}) {
		require.NoError(t, err)
		got = append(got, r)
	}
	srvSortReports(got)
	type line struct {
		tenant, server ID
		status         HealthStatus
		verdict        Verdict
		lastRun        ID
		err            bool
	}
	var lines []line
	for _, r := range got {
		l := line{tenant: r.SubAccount.ID, status: r.HealthStatus, verdict: r.Verdict, err: r.Err != nil}
		if r.Server != nil {
			l.server = r.Server.ID
		}
		if r.LastRun != nil {
			l.lastRun = r.LastRun.ID
		}
		lines = append(lines, l)
	}
	assert.Equal(t, []line{
		{1, 11, HealthOK, VerdictHealthy, 110, false},
		{1, 12, HealthError, VerdictFailed, 0, false},
		{1, 13, "BRAND_NEW", VerdictUnknownStatus, 0, false},
		{2, 0, "", VerdictScanFailed, 0, true},
		{3, 31, HealthReAuthorising, VerdictNeedsReauthorisation, 0, false},
		{3, 32, HealthDisabled, VerdictDisabled, 0, false},
		{3, 33, HealthHealthy, VerdictRunErrors, 330, false},
		{3, 34, HealthOK, VerdictHealthy, 0, false},
		{3, 35, HealthChecking, VerdictInProgress, 0, false},
	}, lines)
	assert.ErrorIs(t, got[3].Err, ErrServer)
	assert.Equal(t, "broken", got[3].SubAccount.ExternalID)

	var identity, lists, runs int
	for _, r := range m.reqs() {
		switch {
		case r.Path == "/api/partner/sub-account/identity/":
			identity++
			assert.Equal(t, "false", r.Query.Get("expire"))
		case r.Path == "/api/partner/sub-accounts/":
			lists++
			assert.Equal(t, srvQ("per_page", "100"), r.Query)
		case strings.HasSuffix(r.Path, "/runs/"):
			runs++
			assert.Equal(t, srvQ("page", "1", "per_page", "1"), r.Query, "only the newest run")
		}
	}
	assert.Equal(t, 3, identity, "one token fetch per tenant")
	assert.Equal(t, 1, lists)
	assert.Equal(t, 8, runs, "one per connection of the tenants that could be read")
}

func TestConnectionHealthSkipLastRun(t *testing.T) {
	t.Parallel()
	p, m := srvPartner(t, &srvFleet{tenants: []srvTenant{{id: 1, servers: `[{"id": 11, "health_status": "OK"}]`}}})
	n := 0
	for r, err := range p.ConnectionHealth(context.Background(), &HealthScanOptions{SkipLastRun: true}) {
		require.NoError(t, err)
		assert.Nil(t, r.LastRun)
		assert.Equal(t, VerdictHealthy, r.Verdict)
		n++
	}
	assert.Equal(t, 1, n)
	for _, r := range m.reqs() {
		assert.False(t, strings.HasSuffix(r.Path, "/runs/"))
	}
}

func TestConnectionHealthBreakStopsTheScan(t *testing.T) {
	t.Parallel()
	f := &srvFleet{}
	for i := 1; i <= 50; i++ {
		f.tenants = append(f.tenants, srvTenant{id: ID(i), servers: `[{"id": 1, "health_status": "OK"}, {"id": 2, "health_status": "OK"}]`})
	}
	p, m := srvPartner(t, f)
	seen := 0
	for _, err := range p.ConnectionHealth(context.Background(), &HealthScanOptions{Concurrency: 4}) {
		require.NoError(t, err)
		seen++
		break
	}
	assert.Equal(t, 1, seen)
	// Tenant calls come from goroutines ConnectionHealth started: none may
	// run once the loop has ended. (A token fetch in flight is shared by
	// SubAccount's flight group and cancelled when its callers leave; it
	// may still land a moment later, so it is not counted here.)
	tenantCalls := func() int { return m.enteredWithPrefix("/base/api/servers/") }
	after := tenantCalls()
	time.Sleep(30 * time.Millisecond)
	assert.Equal(t, after, tenantCalls(), "no tenant request once the loop has ended")
	assert.Less(t, after, 50*3, "the scan stopped early")
}

func TestConnectionHealthListFailureIsTheScanError(t *testing.T) {
	t.Parallel()
	p, m := srvPartner(t, &srvFleet{})
	m.mt.RegisterResponder("GET", srvBase+"/api/partner/sub-accounts/", srvJSON(403, `{"detail": "not a partner"}`))
	var errs []error
	for r, err := range p.ConnectionHealth(context.Background(), nil) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		t.Errorf("unexpected report %+v", r)
	}
	require.Len(t, errs, 1, "yielded once")
	assert.ErrorIs(t, errs[0], ErrForbidden)
}

func TestConnectionHealthCancelled(t *testing.T) {
	t.Parallel()
	p, _ := srvPartner(t, &srvFleet{tenants: []srvTenant{{id: 1, servers: `[]`}}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var errs []error
	for _, err := range p.ConnectionHealth(ctx, nil) {
		errs = append(errs, err)
	}
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], context.Canceled)
}

func TestConnectionHealthInvalidOptions(t *testing.T) {
	t.Parallel()
	p, m := srvPartner(t, &srvFleet{})
	for _, o := range []*HealthScanOptions{{Concurrency: -1}, {PageSize: -1}, {PageSize: 1001}} {
		n := 0
		for _, err := range p.ConnectionHealth(context.Background(), o) {
			n++
			assert.ErrorIs(t, err, ErrInvalidArgument, "%+v", o)
		}
		assert.Equal(t, 1, n)
	}
	assert.Zero(t, m.count())
}

func TestVerdictFor(t *testing.T) {
	t.Parallel()
	run := func(s RunStatus) *PipelineRun { return &PipelineRun{Status: s} }
	for _, tc := range []struct {
		h    HealthStatus
		last *PipelineRun
		want Verdict
	}{
		{HealthOK, nil, VerdictHealthy},
		{HealthReEnabled, run(RunCompleted), VerdictHealthy},
		{HealthReAuthorised, run(RunRunning), VerdictHealthy},
		{HealthHealthy, run(RunCompletedWithErrors), VerdictRunErrors},
		{HealthOK, run(RunInternalError), VerdictRunErrors},
		{HealthAuthorizing, nil, VerdictNeedsReauthorisation},
		{HealthConfigSelect, nil, VerdictNeedsReauthorisation},
		{HealthChecking, nil, VerdictInProgress},
		{HealthCompletedWithErrors, nil, VerdictFailed},
		{HealthDisabled, run(RunError), VerdictDisabled},
		{"", nil, VerdictUnknownStatus},
		{"SHINY", run(RunCompleted), VerdictUnknownStatus},
	} {
		assert.Equal(t, tc.want, verdictFor(tc.h, tc.last), "%q", tc.h)
	}
	assert.False(t, VerdictHealthy.NeedsAttention())
	assert.False(t, VerdictDisabled.NeedsAttention())
	assert.True(t, VerdictUnknownStatus.NeedsAttention())
	assert.True(t, VerdictScanFailed.NeedsAttention())
	assert.True(t, VerdictNeedsReauthorisation.NeedsAttention())
}

// BenchmarkConnectionHealth scans 1,000 tenants x 5 connections behind a
// loopback server that takes 20 ms per request, at concurrency 32, and
// reports the wall time as a ratio of the ideal: requests x 20 ms / 32.
// Target: <= 1.25.
//
// With -short (CI's smoke run) it scans 50 tenants.
func BenchmarkConnectionHealth(b *testing.B) {
	const (
		perTenant   = 5
		latency     = 20 * time.Millisecond
		concurrency = 32
	)
	tenants := 1000
	if testing.Short() {
		tenants = 50
	}
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		time.Sleep(latency)
		w.Header().Set("Content-Type", "application/json")
		switch p := r.URL.Path; {
		case p == "/api/partner/sub-accounts/":
			// Pages of per_page tenants.
			per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
			page, _ := strconv.Atoi(r.URL.Query().Get("page"))
			if page < 1 {
				page = 1
			}
			var sb strings.Builder
			sb.WriteString(`{"data": [`)
			for i := (page-1)*per + 1; i <= min(page*per, tenants); i++ {
				if i > (page-1)*per+1 {
					sb.WriteByte(',')
				}
				fmt.Fprintf(&sb, `{"id": %d, "name": "T%d", "external_id": "ext-%d"}`, i, i, i)
			}
			next := "null"
			if page*per < tenants {
				next = strconv.Itoa(page + 1)
			}
			fmt.Fprintf(&sb, `], "next": %s}`, next)
			_, _ = w.Write([]byte(sb.String()))
		case p == "/api/partner/sub-account/identity/":
			fmt.Fprintf(w, `{"token": "tok-%s"}`, r.URL.Query().Get("account_id"))
		case p == "/api/servers/":
			var sb strings.Builder
			sb.WriteByte('[')
			for i := 1; i <= perTenant; i++ {
				if i > 1 {
					sb.WriteByte(',')
				}
				fmt.Fprintf(&sb, `{"id": %d, "name": "S%d", "health_status": "OK"}`, i, i)
			}
			sb.WriteByte(']')
			_, _ = w.Write([]byte(sb.String()))
		case strings.HasSuffix(p, "/runs/"):
			_, _ = w.Write([]byte(`{"data": [{"id": 1, "status": "COMPLETED", "tables": [{"name": "t", "records": 10}]}], "next": 2}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 2 * concurrency
	defer tr.CloseIdleConnections()

	var ratio float64
	for b.Loop() {
		// A fresh partner client each round: cold token caches, as in a
		// nightly scan.
		p, err := NewPartnerClient("partner-tok", WithBaseURL(srv.URL), WithHTTPClient(&http.Client{Transport: tr}))
		if err != nil {
			b.Fatal(err)
		}
		requests.Store(0)
		start := time.Now()
		n := 0
		for r, err := range p.ConnectionHealth(context.Background(), &HealthScanOptions{Concurrency: concurrency}) {
			if err != nil {
				b.Fatal(err)
			}
			if r.Verdict != VerdictHealthy {
				b.Fatalf("unexpected verdict %+v", r)
			}
			n++
		}
		wall := time.Since(start)
		if n != tenants*perTenant {
			b.Fatalf("%d reports, want %d", n, tenants*perTenant)
		}
		ideal := time.Duration(requests.Load()) * latency / concurrency
		ratio = float64(wall) / float64(ideal)
		b.ReportMetric(float64(requests.Load()), "requests")
		b.ReportMetric(wall.Seconds(), "wall-s")
		b.ReportMetric(ideal.Seconds(), "ideal-s")
	}
	b.ReportMetric(ratio, "x-ideal")
}
