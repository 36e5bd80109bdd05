package peliqan

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// queryBody is a records answer of n rows of 8 columns: ids, text,
// decimals, booleans, nulls and timestamps, as Trino sends them.
func queryBody(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"records": [`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `[%d, "customer-%d@example.com", %d.%02d, %t, null, "2026-11-%02dT10:00:00Z", "BE", %d]`,
			i+1, i, i%100000, i%100, i%3 == 0, i%28+1, 9007199254740993+int64(i))
	}
	b.WriteString(`], "columns": [["id", "bigint"], ["email", "varchar"], ["total", "decimal(10,2)"], ["vip", "boolean"],` +
		` ["note", "varchar"], ["created_at", "timestamp"], ["country", "varchar"], ["big", "bigint"]], "error": null}`)
	return b.Bytes()
}

// BenchmarkQuery times Query on a 15,000-row answer (1,000 with -short)
// against a hand-written client: net/http, then encoding/json with
// UseNumber into [][]any plus the columns, interleaved on the same loopback
// server. ratio and allocs-ratio are SDK / baseline; targets <= 1.2.
func BenchmarkQuery(b *testing.B) {
	rows := 15000
	if testing.Short() {
		rows = 1000
	}
	body := queryBody(rows)
	base := cannedServer(b, map[string][]byte{"/api/database/resource/trino/records/": body})
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	s, err := NewSubAccountClient(testTenantToken, WithBaseURL(base))
	if err != nil {
		b.Fatal(err)
	}
	const sql = "SELECT * FROM orders"
	ctx := context.Background()
	baseline := func() error {
		q, err := json.Marshal(map[string]string{"query": sql})
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/database/resource/trino/records/", bytes.NewReader(q))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "JWT "+testTenantToken)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		var out struct {
			Records [][]any         `json:"records"`
			Columns [][]any         `json:"columns"`
			Error   json.RawMessage `json:"error"`
		}
		dec := json.NewDecoder(resp.Body)
		dec.UseNumber()
		if err := dec.Decode(&out); err != nil {
			return err
		}
		if len(out.Records) != rows || out.Records[rows-1][0] != json.Number(strconv.Itoa(rows)) {
			return fmt.Errorf("baseline got %d rows", len(out.Records))
		}
		return nil
	}
	sdk := func() error {
		res, err := s.Query(ctx, sql, nil)
		if err == nil && (len(res.Rows) != rows || res.Rows[rows-1][0] != json.Number(strconv.Itoa(rows))) {
			err = fmt.Errorf("sdk got %d rows", len(res.Rows))
		}
		return err
	}
	for _, f := range []func() error{baseline, sdk} {
		if err := f(); err != nil {
			b.Fatal(err)
		}
	}
	baseAllocs, baseBytes := allocsPerCall(baseline)
	sdkAllocs, sdkBytes := allocsPerCall(sdk)
	baseDur, sdkDur := interleave(b, baseline, sdk)
	b.ReportMetric(float64(sdkDur)/float64(baseDur), "ratio")
	b.ReportMetric(float64(sdkDur.Nanoseconds())/float64(b.N), "sdk-ns/op")
	b.ReportMetric(float64(baseDur.Nanoseconds())/float64(b.N), "baseline-ns/op")
	b.ReportMetric(sdkAllocs/baseAllocs, "allocs-ratio")
	b.ReportMetric(sdkAllocs, "sdk-allocs/op")
	b.ReportMetric(baseAllocs, "baseline-allocs/op")
	b.ReportMetric(sdkBytes/baseBytes, "bytes-ratio")
	b.ReportMetric(sdkBytes/1e6, "sdk-MB/op")
	b.ReportMetric(baseBytes/1e6, "baseline-MB/op")
}

// allocsPerCall measures f's allocations and allocated bytes per call over
// a few calls (the whole process's, so nothing else should run).
func allocsPerCall(f func() error) (allocs, bytes float64) {
	const runs = 5
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range runs {
		_ = f()
	}
	runtime.ReadMemStats(&after)
	return float64(after.Mallocs-before.Mallocs) / runs, float64(after.TotalAlloc-before.TotalAlloc) / runs
}
