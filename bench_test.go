package peliqan

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/peliqan-community/peliqan-go/internal/routes"
)

// benchServer mirrors a connection as ListServers returns it.
type benchServer struct {
	ID           ID             `json:"id"`
	Name         string         `json:"name"`
	ServerType   string         `json:"server_type"`
	HealthStatus string         `json:"health_status"`
	RunInterval  int            `json:"run_interval"`
	Created      time.Time      `json:"created_at"`
	Updated      time.Time      `json:"updated_at"`
	Settings     map[string]any `json:"settings"`
	Tables       []string       `json:"tables"`
	Enabled      bool           `json:"enabled"`
}

func benchListBody(n int) []byte {
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf(`{"id":%d,"name":"HubSpot %d","server_type":"hubspot","health_status":"OK","run_interval":3600,`+
			`"created_at":"2026-11-01T10:00:00Z","updated_at":"2026-11-20T08:30:00Z","settings":{"region":"eu","incremental":true},`+
			`"tables":["contacts","companies","deals"],"enabled":true}`, i+1, i+1)
	}
	return []byte("[" + strings.Join(items, ",") + "]")
}

// BenchmarkRoundTrip compares the SDK's GET + decode of a realistic 50-item
// list with a hand-written net/http + encoding/json client against the same
// loopback server, interleaved in one run so machine noise hits both alike.
// ratio = sdk time / baseline time; target <= 1.10.
func BenchmarkRoundTrip(b *testing.B) {
	body := benchListBody(50)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	defer srv.Close()

	baseClient := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), Timeout: 30 * time.Second}
	baseline := func() error {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL+"/api/servers/", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "JWT "+testTenantToken)
		req.Header.Set("Accept", "application/json")
		resp, err := baseClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		var out []benchServer
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			return err
		}
		if len(out) != 50 {
			return fmt.Errorf("got %d items", len(out))
		}
		_, err = io.Copy(io.Discard, resp.Body) // read to EOF so the connection is reused
		return err
	}

	s, err := NewSubAccountClient(testTenantToken, WithBaseURL(srv.URL))
	if err != nil {
		b.Fatal(err)
	}
	route := routes.MustLookup(routes.ListServers)
	sdk := func() error {
		page, err := listPage[benchServer](context.Background(), s.c, route, nil, nil, nil)
		if err != nil {
			return err
		}
		if len(page.Items) != 50 {
			return fmt.Errorf("got %d items", len(page.Items))
		}
		return nil
	}

	for _, f := range []func() error{baseline, sdk} { // warm both connection pools
		if err := f(); err != nil {
			b.Fatal(err)
		}
	}
	baseAllocs := testing.AllocsPerRun(50, func() { _ = baseline() })
	sdkAllocs := testing.AllocsPerRun(50, func() { _ = sdk() })

	var baseDur, sdkDur time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		first, second := baseline, sdk
		if i%2 == 1 {
			first, second = sdk, baseline
		}
		t0 := time.Now()
		if err := first(); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := second(); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if i%2 == 0 {
			baseDur, sdkDur = baseDur+t1.Sub(t0), sdkDur+t2.Sub(t1)
		} else {
			sdkDur, baseDur = sdkDur+t1.Sub(t0), baseDur+t2.Sub(t1)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(sdkDur)/float64(baseDur), "ratio")
	b.ReportMetric(float64(sdkDur.Nanoseconds())/float64(b.N), "sdk-ns/op")
	b.ReportMetric(float64(baseDur.Nanoseconds())/float64(b.N), "baseline-ns/op")
	b.ReportMetric(sdkAllocs, "sdk-allocs/op")
	b.ReportMetric(baseAllocs, "baseline-allocs/op")
}

// BenchmarkErrorPath measures turning a Peliqan error body into an *APIError.
func BenchmarkErrorPath(b *testing.B) {
	body := []byte(`{"error":"ERROR_PIPELINE_RUN_TIMEOUT","detail":"({'error': 'ERROR_PIPELINE_RUN_TIMEOUT', 'message': 'Run took too long'}, 'TraceId: 1-65a-bc9')"}`)
	b.ReportAllocs()
	for b.Loop() {
		_ = newAPIError(500, body)
	}
}
