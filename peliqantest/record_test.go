package peliqantest

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/peliqan-community/peliqan-go/internal/routes"
)

// serveDirect sends n requests for ListSubAccounts with no token (a cheap
// 401) straight to ServeHTTP, numbered by the query parameter i.
func serveDirect(srv *Fake, n int) {
	p := mustPath(routes.ListSubAccounts)
	for i := range n {
		req := httptest.NewRequest("GET", p+"?i="+strconv.Itoa(i), nil)
		req.RemoteAddr = "127.0.0.1:9"
		srv.ServeHTTP(httptest.NewRecorder(), req)
	}
}

func recordedIndexes(t *testing.T, reqs []Request) []int {
	t.Helper()
	out := make([]int, len(reqs))
	for k, r := range reqs {
		i, err := strconv.Atoi(r.Query.Get("i"))
		require.NoError(t, err)
		out[k] = i
	}
	return out
}

func TestRecordLimitKeepsExactlyTheMostRecent(t *testing.T) {
	t.Parallel()
	srv := NewFake(t, WithRecordLimit(3))
	serveDirect(srv, 2)
	assert.Equal(t, []int{0, 1}, recordedIndexes(t, srv.Requests()))
	serveDirect(srv, 10) // numbered 0..9 again
	assert.Equal(t, []int{7, 8, 9}, recordedIndexes(t, srv.Requests()))
	assert.Equal(t, 12, srv.Count(routes.ListSubAccounts))
	c := srv.Counts()
	assert.Equal(t, 12, c.ByStatus[http.StatusUnauthorized])
	assert.Equal(t, 3, c.Recorded)
	assert.Equal(t, 3, c.RecordLimit)
}

// A 1,000 x 5 fleet run makes more than 10,000 requests: a larger limit
// keeps them all, and past it the counts stay exact.
func TestRecordLimitAboveTenThousand(t *testing.T) {
	t.Parallel()
	const n, limit = 12_000, 10_500
	srv := NewFake(t, WithRecordLimit(limit))
	serveDirect(srv, n)
	reqs := srv.Requests()
	require.Len(t, reqs, limit)
	idx := recordedIndexes(t, reqs)
	assert.Equal(t, n-limit, idx[0])
	assert.Equal(t, n-1, idx[len(idx)-1])
	assert.Equal(t, n, srv.Count(routes.ListSubAccounts))
	assert.Equal(t, n, srv.Counts().Requests)
}

func TestRecordLimitZeroKeepsOnlyCounts(t *testing.T) {
	t.Parallel()
	srv := NewFake(t, WithRecordLimit(0), WithRateLimit(1e9, 10))
	serveDirect(srv, 50)
	assert.Empty(t, srv.Requests())
	c := srv.Counts()
	assert.Equal(t, 50, c.Requests)
	assert.Equal(t, map[int]int{http.StatusUnauthorized: 50}, c.ByStatus)
	assert.Equal(t, 50, c.Routes[routes.ListSubAccounts].Requests)
	assert.Equal(t, 0, c.Recorded)
	assert.Equal(t, 0, c.RecordLimit)
}

// BenchmarkFakeRecordBytes measures the heap one recorded request keeps: an
// SDK-like GET (tenant token, the SDK's headers, a query, no body) through
// ServeHTTP with a record limit that keeps them all.
func BenchmarkFakeRecordBytes(b *testing.B) {
	srv, err := New(WithFixture(Generate(1, 1, 1, 0)), WithRecordLimit(1<<30))
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	tok, _ := srv.TenantToken(srv.Seeded().SubAccounts[0].ID, false)
	u := mustPath(routes.ListServers) + "?page=1&per_page=100"
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for b.Loop() {
		req := httptest.NewRequest("GET", u, nil)
		req.RemoteAddr = "127.0.0.1:9"
		req.Header.Set("Authorization", "JWT "+tok)
		req.Header.Set("User-Agent", "peliqan-go/0.x (+https://github.com/peliqan-community/peliqan-go)")
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Accept-Encoding", "gzip")
		srv.ServeHTTP(httptest.NewRecorder(), req)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if got := len(srv.Requests()); got != b.N {
		b.Fatalf("recorded %d of %d", got, b.N)
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(b.N), "B/record")
}
