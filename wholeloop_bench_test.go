package peliqan_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// BenchmarkWholeLoop runs "every customer -> its connections -> each
// connection's tables -> the first 100 rows of each table" against the fake
// answering every request after 20 ms, 50 customers x 3 connections,
// concurrency 32: the SDK (ForEachSubAccount, ListServers,
// ConnectionTables, Rows, through the shared connection pool) against a
// hand-written net/http + encoding/json loop sending the same requests with
// the same concurrency through its own pooled transport. Each side runs
// behind its own loopback listener, which counts the TCP connections it is
// opened; both pools are emptied before each loop. The order alternates
// between iterations.
//
// ratio = SDK wall / baseline wall (target <= 1.15); sdk-new-conns is the
// SDK's new connections per loop (target <= concurrency + 4); x-ideal is
// the SDK's wall over requests x latency / concurrency. -short: 10
// customers and 5 ms, for CI's smoke run.
func BenchmarkWholeLoop(b *testing.B) {
	const (
		perCustomer = 3
		concurrency = 32
		rowsPerRead = 100
	)
	customers, latency := 50, 20*time.Millisecond
	if testing.Short() {
		customers, latency = 10, 5*time.Millisecond
	}
	fake := peliqantest.NewFake(b, peliqantest.WithFixture(peliqantest.Generate(14, customers, perCustomer, 150)),
		peliqantest.WithRecordLimit(100000))
	fake.AddFaultRule(peliqantest.FaultRule{Probability: 1, Fault: peliqantest.LatencyFault(latency)})
	sdkSrv, sdkConns := countedServer(b, fake)
	baseSrv, baseConns := countedServer(b, fake)

	p, err := peliqan.NewPartnerClient(fake.PartnerToken(), peliqan.WithBaseURL(sdkSrv.URL))
	if err != nil {
		b.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 2 * concurrency
	defer tr.CloseIdleConnections()
	base := &handLoop{hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}, url: baseSrv.URL, partner: fake.PartnerToken()}
	ctx := context.Background()

	type result struct {
		wall     time.Duration
		rows     int64
		conns    int64
		requests map[string]int
	}
	run := func(loop func() (int64, error), conns *atomic.Int64) result {
		peliqan.CloseIdleConnections()
		tr.CloseIdleConnections()
		fake.ResetRecords()
		conns.Store(0)
		start := time.Now()
		rows, err := loop()
		wall := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		requests := map[string]int{}
		for _, r := range fake.Requests() {
			requests[r.Method+" "+r.Route]++
		}
		return result{wall, rows, conns.Load(), requests}
	}
	sdk := func() result {
		return run(func() (int64, error) { return sdkLoop(ctx, p, concurrency, rowsPerRead) }, sdkConns)
	}
	hand := func() result {
		return run(func() (int64, error) { return base.run(ctx, concurrency, rowsPerRead) }, baseConns)
	}

	// Both sides send the same requests and read the same rows.
	s, h := sdk(), hand()
	if s.rows != h.rows || s.rows == 0 || fmt.Sprint(s.requests) != fmt.Sprint(h.requests) {
		b.Fatalf("the loops differ:\n sdk  %d rows %v\n hand %d rows %v", s.rows, s.requests, h.rows, h.requests)
	}
	requests := 0
	for _, n := range s.requests {
		requests += n
	}

	var sdkWall, handWall time.Duration
	var sdkNew, handNew int64
	b.ResetTimer()
	for i := range b.N {
		if i%2 == 0 {
			s, h = sdk(), hand()
		} else {
			h, s = hand(), sdk()
		}
		sdkWall, handWall = sdkWall+s.wall, handWall+h.wall
		sdkNew, handNew = sdkNew+s.conns, handNew+h.conns
	}
	b.StopTimer()
	ideal := time.Duration(requests) * latency / concurrency
	b.ReportMetric(float64(sdkWall)/float64(handWall), "ratio")
	b.ReportMetric(float64(sdkNew)/float64(b.N), "sdk-new-conns")
	b.ReportMetric(float64(handNew)/float64(b.N), "baseline-new-conns")
	b.ReportMetric(float64(requests), "requests")
	b.ReportMetric(sdkWall.Seconds()/float64(b.N), "sdk-wall-s")
	b.ReportMetric(handWall.Seconds()/float64(b.N), "baseline-wall-s")
	b.ReportMetric(float64(sdkWall)/float64(b.N)/float64(ideal), "x-ideal")
}

// countedServer serves h on a loopback listener and counts the TCP
// connections clients open to it.
func countedServer(tb testing.TB, h http.Handler) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			n.Add(1)
		}
	}
	srv.Start()
	tb.Cleanup(srv.Close)
	return srv, &n
}

// sdkLoop is the loop as a user writes it with the SDK.
func sdkLoop(ctx context.Context, p *peliqan.PartnerClient, concurrency, rowsPerRead int) (int64, error) {
	var total atomic.Int64
	err := p.ForEachSubAccount(ctx, concurrency, func(ctx context.Context, _ *peliqan.SubAccount, t *peliqan.SubAccountClient) error {
		servers, err := t.ListServers(ctx)
		if err != nil {
			return err
		}
		for _, srv := range servers {
			data, err := t.ConnectionTables(ctx, srv.ID)
			if err != nil {
				return err
			}
			for _, tbl := range data.Tables {
				n := 0
				for _, err := range t.Rows(ctx, tbl.ID, &peliqan.RowsOptions{Size: rowsPerRead}) {
					if err != nil {
						return err
					}
					if n++; n == rowsPerRead {
						break
					}
				}
				total.Add(int64(n))
			}
		}
		return nil
	})
	return total.Load(), err
}

// handLoop is the same loop written by hand: net/http, encoding/json, a
// worker pool of the same size, the same requests.
type handLoop struct {
	hc      *http.Client
	url     string
	partner string
}

func (l *handLoop) get(ctx context.Context, tok, path, query string, body []byte, out any) error {
	u := l.url + path
	if query != "" {
		u += "?" + query
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "JWT "+tok)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := l.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", path, resp.StatusCode)
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

func (l *handLoop) run(ctx context.Context, concurrency, rowsPerRead int) (int64, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		total atomic.Int64
		wg    sync.WaitGroup
		ids   = make(chan int64)
	)
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ids {
				n, err := l.customer(ctx, id, rowsPerRead)
				if err != nil {
					cancel(err)
				}
				total.Add(n)
			}
		}()
	}
	query := ""
	for ctx.Err() == nil {
		var page struct {
			Data []struct {
				ID int64 `json:"id"`
			} `json:"data"`
			Next *int `json:"next"`
		}
		if err := l.get(ctx, l.partner, "/api/partner/sub-accounts/", query, nil, &page); err != nil {
			cancel(err)
			break
		}
		for _, sa := range page.Data {
			ids <- sa.ID
		}
		if page.Next == nil {
			break
		}
		query = "page=" + strconv.Itoa(*page.Next)
	}
	close(ids)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return 0, err
	}
	return total.Load(), nil
}

func (l *handLoop) customer(ctx context.Context, id int64, rowsPerRead int) (int64, error) {
	var ident struct {
		Token string `json:"token"`
	}
	if err := l.get(ctx, l.partner, "/api/partner/sub-account/identity/",
		"account_id="+strconv.FormatInt(id, 10)+"&expire=false", nil, &ident); err != nil {
		return 0, err
	}
	tok := ident.Token
	var servers []struct {
		ID int64 `json:"id"`
	}
	if err := l.get(ctx, tok, "/api/servers/", "", nil, &servers); err != nil {
		return 0, err
	}
	var total int64
	for _, srv := range servers {
		lookup := `{"connection_id":` + strconv.FormatInt(srv.ID, 10) + `,"connection_name":null,"database_id":null,` +
			`"database_name":null,"schema_id":null,"schema_name":null,"table_id":null,"table_name":null,"field_id":null,"field_name":null}`
		var sc struct {
			SchemaID int64 `json:"schema_id"`
		}
		if err := l.get(ctx, tok, "/api/database/resource/lookup/schema/", "", []byte(lookup), &sc); err != nil {
			return 0, err
		}
		var dbs []struct {
			Tables []struct {
				ID       int64  `json:"id"`
				Name     string `json:"name"`
				SchemaID int64  `json:"schema_id"`
			} `json:"tables"`
		}
		if err := l.get(ctx, tok, "/api/applications/", "", nil, &dbs); err != nil {
			return 0, err
		}
		for _, db := range dbs {
			tables := slices.Clone(db.Tables)
			slices.SortStableFunc(tables, func(a, b struct {
				ID       int64  `json:"id"`
				Name     string `json:"name"`
				SchemaID int64  `json:"schema_id"`
			}) int {
				return strings.Compare(a.Name, b.Name)
			})
			for _, t := range tables {
				if t.SchemaID != sc.SchemaID {
					continue
				}
				var page struct {
					Results []map[string]any `json:"results"`
				}
				if err := l.get(ctx, tok, "/api/database/rows/table/"+strconv.FormatInt(t.ID, 10)+"/",
					"size="+strconv.Itoa(rowsPerRead)+"&user_field_names=true", nil, &page); err != nil {
					return 0, err
				}
				total += int64(min(len(page.Results), rowsPerRead))
			}
		}
	}
	return total, nil
}
