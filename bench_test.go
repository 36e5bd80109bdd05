package peliqan

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func benchListBody(n int) []byte {
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf(`{"id":%d,"name":"HubSpot %d","server_type":"hubspot","health_status":"OK","run_interval":3600,`+
			`"created_at":"2026-11-01T10:00:00Z","updated_at":"2026-11-20T08:30:00Z","settings":{"region":"eu","incremental":true},`+
			`"tables":["contacts","companies","deals"],"enabled":true}`, i+1, i+1)
	}
	return []byte("[" + strings.Join(items, ",") + "]")
}

// baselineServer is what a hand-written client would decode a connection
// into: the fields of Server, plus the object as sent (Server keeps Raw, so
// the baseline copies it too).
type baselineServer struct {
	ID                int64   `json:"id"`
	Name              string  `json:"name"`
	ServerType        string  `json:"server_type"`
	HealthStatus      string  `json:"health_status"`
	RunInterval       float64 `json:"run_interval"`
	SchedulerDisabled bool    `json:"disable_scheduler"`
	IsDataWarehouse   bool    `json:"is_datawarehouse"`
	IsTarget          bool    `json:"is_target"`
	Target            int64   `json:"target"`
	TargetSchema      *struct {
		SchemaName string `json:"schema_name"`
		ID         int64  `json:"id"`
	} `json:"target_schema"`
	Raw json.RawMessage `json:"-"`
}

func (s *baselineServer) UnmarshalJSON(b []byte) error {
	type plain baselineServer
	if err := json.Unmarshal(b, (*plain)(s)); err != nil {
		return err
	}
	s.Raw = append(json.RawMessage(nil), b...)
	return nil
}

// cannedServer is a loopback HTTP/1.1 server that answers every request
// with a fixed body per path (a request body, sized by Content-Length, is
// read and ignored), written by hand so that it allocates (almost) nothing
// per request: the allocations a benchmark counts are the client's. It
// keeps connections alive.
func cannedServer(tb testing.TB, bodies map[string][]byte) (url string) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	resps := make(map[string][]byte, len(bodies))
	for path, body := range bodies {
		resps[path] = fmt.Appendf(nil, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	}
	notFound := []byte("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	serve := func(c net.Conn) {
		defer wg.Done()
		defer c.Close()
		br := bufio.NewReaderSize(c, 4096)
		for {
			line, err := br.ReadSlice('\n') // "GET /path HTTP/1.1"
			if err != nil {
				return
			}
			resp := notFound
			if f := bytes.Fields(line); len(f) == 3 {
				if r, ok := resps[string(f[1])]; ok {
					resp = r
				}
			}
			bodyLen := 0
			for { // headers, up to the empty line
				h, err := br.ReadSlice('\n')
				if err != nil {
					return
				}
				h = bytes.TrimSpace(h)
				if len(h) == 0 {
					break
				}
				if k, v, ok := bytes.Cut(h, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
					bodyLen, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
				}
			}
			if _, err := br.Discard(bodyLen); err != nil {
				return
			}
			if _, err := c.Write(resp); err != nil {
				return
			}
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go serve(c)
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "http://" + ln.Addr().String()
}

// baselineGet is the hand-written client: net/http, the same headers, a
// status check and encoding/json.
func baselineGet(hc *http.Client, url string, out any) error {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "JWT "+testTenantToken)
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body) // read to EOF so the connection is reused
	return err
}

// BenchmarkRoundTrip times the public ListServers (a 50-item list) and
// GetServer (one connection) against a hand-written net/http +
// encoding/json client decoding into an equivalent struct that also keeps
// the raw object, on the same loopback server, interleaved in one run so
// machine noise hits both alike. ratio = SDK time / baseline time (target
// <= 1.10); allocs-ratio = SDK allocations per call / baseline's (target
// <= 1.05). The server allocates nothing per request, so the allocations
// are the clients'.
func BenchmarkRoundTrip(b *testing.B) {
	list := benchListBody(50)
	one := benchListBody(1)
	one = one[1 : len(one)-1] // the object, without the brackets
	base := cannedServer(b, map[string][]byte{"/api/servers/": list, "/api/servers/1/": one})
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	s, err := NewSubAccountClient(testTenantToken, WithBaseURL(base))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()

	b.Run("ListServers", func(b *testing.B) {
		roundTrip(b, func() error {
			var out []baselineServer
			if err := baselineGet(hc, base+"/api/servers/", &out); err != nil {
				return err
			}
			if len(out) != 50 || len(out[49].Raw) == 0 {
				return fmt.Errorf("baseline got %d items", len(out))
			}
			return nil
		}, func() error {
			out, err := s.ListServers(ctx)
			if err == nil && (len(out) != 50 || len(out[49].Raw) == 0) {
				err = fmt.Errorf("sdk got %d items", len(out))
			}
			return err
		})
	})
	b.Run("GetServer", func(b *testing.B) {
		roundTrip(b, func() error {
			var out baselineServer
			if err := baselineGet(hc, base+"/api/servers/1/", &out); err != nil {
				return err
			}
			if out.ID != 1 || len(out.Raw) == 0 {
				return fmt.Errorf("baseline got %+v", out)
			}
			return nil
		}, func() error {
			out, err := s.GetServer(ctx, 1)
			if err == nil && (out.ID != 1 || len(out.Raw) == 0) {
				err = fmt.Errorf("sdk got %+v", out)
			}
			return err
		})
	})
}

// roundTrip reports the interleaved time ratio and the allocation ratio of
// sdk over baseline.
func roundTrip(b *testing.B, baseline, sdk func() error) {
	for _, f := range []func() error{baseline, sdk} { // warm both pools
		if err := f(); err != nil {
			b.Fatal(err)
		}
	}
	baseAllocs := testing.AllocsPerRun(200, func() { _ = baseline() })
	sdkAllocs := testing.AllocsPerRun(200, func() { _ = sdk() })
	baseDur, sdkDur := interleave(b, baseline, sdk)
	b.ReportMetric(float64(sdkDur)/float64(baseDur), "ratio")
	b.ReportMetric(float64(sdkDur.Nanoseconds())/float64(b.N), "sdk-ns/op")
	b.ReportMetric(float64(baseDur.Nanoseconds())/float64(b.N), "baseline-ns/op")
	b.ReportMetric(sdkAllocs/baseAllocs, "allocs-ratio")
	b.ReportMetric(sdkAllocs, "sdk-allocs/op")
	b.ReportMetric(baseAllocs, "baseline-allocs/op")
}

// interleave runs base and other b.N times each, alternating which goes
// first so machine noise hits both alike, and returns their total times.
func interleave(b *testing.B, base, other func() error) (baseDur, otherDur time.Duration) {
	b.Helper()
	for _, f := range []func() error{base, other} { // warm connections
		if err := f(); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		first, second := base, other
		if i%2 == 1 {
			first, second = other, base
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
			baseDur, otherDur = baseDur+t1.Sub(t0), otherDur+t2.Sub(t1)
		} else {
			otherDur, baseDur = otherDur+t1.Sub(t0), baseDur+t2.Sub(t1)
		}
	}
	b.StopTimer()
	return baseDur, otherDur
}

// BenchmarkErrorPath measures turning a Peliqan error body into an *APIError.
func BenchmarkErrorPath(b *testing.B) {
	body := []byte(`{"error":"ERROR_PIPELINE_RUN_TIMEOUT","detail":"({'error': 'ERROR_PIPELINE_RUN_TIMEOUT', 'message': 'Run took too long'}, 'TraceId: 1-65a-bc9')"}`)
	b.ReportAllocs()
	for b.Loop() {
		_ = newAPIError(500, body)
	}
}
