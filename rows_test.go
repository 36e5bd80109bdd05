package peliqan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rowsSrv is a loopback server for one table; it records every query.
type rowsSrv struct {
	mu      sync.Mutex
	queries []url.Values
}

func (rs *rowsSrv) seen() []url.Values {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]url.Values(nil), rs.queries...)
}

// newRowsSrv serves GET /api/database/rows/table/{table}/ with h and
// returns a tenant client pointed at it.
func newRowsSrv(t *testing.T, table ID, h func(w http.ResponseWriter, r *http.Request)) (*SubAccountClient, *rowsSrv) {
	t.Helper()
	rs := &rowsSrv{}
	path := fmt.Sprintf("/api/database/rows/table/%d/", table)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != path {
			http.Error(w, `{"error":"ERROR_NOT_FOUND"}`, http.StatusNotFound)
			return
		}
		assert.Equal(t, "JWT tenant-tok", r.Header.Get("Authorization"))
		rs.mu.Lock()
		rs.queries = append(rs.queries, r.URL.Query())
		rs.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	s, err := NewSubAccountClient("tenant-tok", WithBaseURL(srv.URL),
		WithRetryPolicy(RetryPolicy{MaxAttempts: 3, Backoff: BackoffConstant}))
	require.NoError(t, err)
	return s, rs
}

func rowJSON(i int) string { return fmt.Sprintf(`{"id": %d, "name": "row %d"}`, i, i) }

func rowsJSON(from, to int) string {
	parts := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		parts = append(parts, rowJSON(i))
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func q(s string) url.Values {
	v, err := url.ParseQuery(s)
	if err != nil {
		panic(err)
	}
	return v
}

func collectRows(t *testing.T, seq func(func(Row, error) bool)) ([]Row, error) {
	t.Helper()
	var out []Row
	for r, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

func TestRowsFollowsNextAcrossPages(t *testing.T) {
	t.Parallel()
	// Three pages of 2, 2 and 1 rows; "next" points at another host with
	// extra parameters: only the page parameter may be taken from it.
	s, rs := newRowsSrv(t, 10, func(w http.ResponseWriter, r *http.Request) {
		page := atoiDefault(r.URL.Query().Get("page"), 1)
		next := fmt.Sprintf(`"https://evil.example/steal/?page=%d&size=2&user_field_names=false&x=1"`, page+1)
		if page == 3 {
			next = "null"
		}
		fmt.Fprintf(w, `{"count": 5, "next": %s, "previous": null, "results": %s}`, next, rowsJSON((page-1)*2, min(page*2, 5)))
	})
	rows, err := collectRows(t, s.Rows(context.Background(), 10, &RowsOptions{Size: 2}))
	require.NoError(t, err)
	require.Len(t, rows, 5)
	for i, r := range rows {
		assert.Equal(t, json.Number(strconv.Itoa(i)), r["id"])
		assert.Equal(t, "row "+strconv.Itoa(i), r["name"])
	}
	assert.Equal(t, []url.Values{
		q("user_field_names=true&size=2"),
		q("user_field_names=true&size=2&page=2"),
		q("user_field_names=true&size=2&page=3"),
	}, rs.seen())
}

func TestRowsDataShapeWithNextAfterRows(t *testing.T) {
	t.Parallel()
	s, rs := newRowsSrv(t, 3, func(w http.ResponseWriter, r *http.Request) {
		page := atoiDefault(r.URL.Query().Get("page"), 1)
		next := "2"
		if page == 2 {
			next = "false"
		}
		fmt.Fprintf(w, `{"data": %s, "meta": {"a": [1, {"b": 2}]}, "next": %s}`, rowsJSON((page-1)*3, page*3), next)
	})
	rows, err := collectRows(t, s.Rows(context.Background(), 3, &RowsOptions{Size: 3, Fields: []string{"id", "name"}}))
	require.NoError(t, err)
	assert.Len(t, rows, 6)
	assert.Equal(t, []url.Values{
		q("user_field_names=true&size=3&include=id,name"),
		q("user_field_names=true&size=3&include=id,name&page=2"),
	}, rs.seen())
}

func TestRowsPageNumberOnlyServer(t *testing.T) {
	t.Parallel()
	// No "next" at all, only a count: pages are numbered up to it.
	s, rs := newRowsSrv(t, 4, func(w http.ResponseWriter, r *http.Request) {
		page := atoiDefault(r.URL.Query().Get("page"), 1)
		fmt.Fprintf(w, `{"results": %s, "count": "250"}`, rowsJSON((page-1)*100, min(page*100, 250)))
	})
	rows, err := collectRows(t, s.Rows(context.Background(), 4, nil))
	require.NoError(t, err)
	assert.Len(t, rows, 250)
	assert.Equal(t, []url.Values{
		q("user_field_names=true&size=100"),
		q("user_field_names=true&size=100&page=2"),
		q("user_field_names=true&size=100&page=3"),
	}, rs.seen())
}

func TestRowsStartPageAndBareArray(t *testing.T) {
	t.Parallel()
	s, rs := newRowsSrv(t, 4, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, rowsJSON(0, 3))
	})
	rows, err := collectRows(t, s.Rows(context.Background(), 4, &RowsOptions{Page: 5, Size: 3}))
	require.NoError(t, err)
	assert.Len(t, rows, 3, "a bare array is a single page")
	assert.Equal(t, []url.Values{q("user_field_names=true&size=3&page=5")}, rs.seen())
}

func TestRowsResultsNull(t *testing.T) {
	t.Parallel()
	s, rs := newRowsSrv(t, 5, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"count": 0, "next": null, "previous": null, "results": null}`)
	})
	rows, err := collectRows(t, s.Rows(context.Background(), 5, nil))
	require.NoError(t, err)
	assert.Empty(t, rows)
	assert.Len(t, rs.seen(), 1)
}

func TestRowsEarlyBreakClosesTheBody(t *testing.T) {
	t.Parallel()
	closed := make(chan struct{})
	var once sync.Once
	// Page 1 is complete; page 2 never ends: the server keeps writing rows
	// until the client hangs up.
	s, rs := newRowsSrv(t, 6, func(w http.ResponseWriter, r *http.Request) {
		page := atoiDefault(r.URL.Query().Get("page"), 1)
		if page == 1 {
			fmt.Fprintf(w, `{"count": 1000000, "next": "?page=2", "results": %s}`, rowsJSON(0, 100))
			return
		}
		fmt.Fprint(w, `{"count": 1000000, "next": "?page=3", "results": [`)
		for i := 100; ; i++ {
			if i > 100 {
				if _, err := fmt.Fprint(w, ","); err != nil {
					break
				}
			}
			if _, err := fmt.Fprint(w, rowJSON(i)); err != nil {
				break
			}
			if r.Context().Err() != nil {
				break
			}
		}
		once.Do(func() { close(closed) })
	})
	n := 0
	for r, err := range s.Rows(context.Background(), 6, nil) {
		require.NoError(t, err)
		assert.Equal(t, json.Number(strconv.Itoa(n)), r["id"])
		n++
		if n == 150 {
			break
		}
	}
	assert.Equal(t, 150, n)
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the endless page was not closed after break")
	}
	assert.Len(t, rs.seen(), 2, "no page after the break")
}

func TestRowsTruncatedMidRow(t *testing.T) {
	t.Parallel()
	s, _ := newRowsSrv(t, 8, func(w http.ResponseWriter, r *http.Request) {
		page := atoiDefault(r.URL.Query().Get("page"), 1)
		if page == 1 {
			fmt.Fprintf(w, `{"count": 4, "next": "?page=2", "results": %s}`, rowsJSON(0, 2))
			return
		}
		fmt.Fprintf(w, `{"count": 4, "next": null, "results": [%s, {"id": 3, "na`, rowJSON(2))
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the connection drops mid-row
	})
	var got []Row
	var errs []error
	for r, err := range s.Rows(context.Background(), 8, &RowsOptions{Size: 2}) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		got = append(got, r)
	}
	assert.Len(t, got, 3, "every complete row before the cut")
	require.Len(t, errs, 1, "the error is yielded once")
	err := errs[0]
	assert.ErrorIs(t, err, ErrMalformedResponse)
	var de *DecodeError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "/api/database/rows/table/8/", de.Path)
	var rde *RowsDecodeError
	require.ErrorAs(t, err, &rde)
	assert.Equal(t, RowsDecodeError{TableID: 8, Page: 2, Row: 1, Err: rde.Err}, *rde)
	assert.Contains(t, err.Error(), "table 8, page 2")
}

func TestRowsTruncatedBetweenRows(t *testing.T) {
	t.Parallel()
	// A body that ends cleanly (Content-Length honoured) right after a row:
	// still a short page, never a silent end.
	s, _ := newRowsSrv(t, 8, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"count": 4, "next": null, "results": [%s`, rowJSON(0))
	})
	rows, err := collectRows(t, s.Rows(context.Background(), 8, nil))
	assert.Len(t, rows, 1)
	var rde *RowsDecodeError
	require.ErrorAs(t, err, &rde)
	assert.Equal(t, 1, rde.Page)
	assert.Equal(t, 1, rde.Row)
}

func TestRowsNotJSON(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"html":        `<html><title>Gateway</title></html>`,
		"string":      `"rows"`,
		"object":      `{"detail": "nope"}`,
		"results":     `{"results": {"a": 1}}`,
		"trailing":    `[] []`,
		"row garbage": `{"results": [{"id": 1}, nope]}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, _ := newRowsSrv(t, 9, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, body) })
			_, err := collectRows(t, s.Rows(context.Background(), 9, nil))
			assert.ErrorIs(t, err, ErrMalformedResponse)
			var rde *RowsDecodeError
			assert.ErrorAs(t, err, &rde)
		})
	}
}

func TestRowsAPIErrorOnALaterPage(t *testing.T) {
	t.Parallel()
	s, rs := newRowsSrv(t, 2, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("page") == "2" {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error": "ERROR_TABLE_DOES_NOT_EXIST", "detail": "gone"}`)
			return
		}
		fmt.Fprintf(w, `{"next": 2, "results": %s}`, rowsJSON(0, 2))
	})
	rows, err := collectRows(t, s.Rows(context.Background(), 2, &RowsOptions{Size: 2}))
	assert.Len(t, rows, 2)
	assert.ErrorIs(t, err, ErrNotFound)
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, CodeTableDoesNotExist, ae.Code)
	assert.Len(t, rs.seen(), 2, "a 404 is not retried")
}

func TestRowsContextCancelledBetweenPages(t *testing.T) {
	t.Parallel()
	s, rs := newRowsSrv(t, 2, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"next": true, "results": %s}`, rowsJSON(0, 2))
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	var gotErr error
	for _, err := range s.Rows(ctx, 2, &RowsOptions{Size: 2}) {
		if err != nil {
			gotErr = err
			break
		}
		n++
		if n == 2 {
			cancel()
		}
	}
	assert.Equal(t, 2, n)
	assert.Equal(t, context.Canceled, gotErr, "the context's error, unwrapped")
	assert.Len(t, rs.seen(), 1)
}

func TestRowsStopsOnARepeatingServer(t *testing.T) {
	t.Parallel()
	s, rs := newRowsSrv(t, 2, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"next": "?page=2", "results": %s}`, rowsJSON(0, 2))
	})
	rows, err := collectRows(t, s.Rows(context.Background(), 2, &RowsOptions{Size: 2}))
	require.NoError(t, err)
	assert.Len(t, rows, 4, "page 2 read once, then the loop is noticed")
	assert.Len(t, rs.seen(), 2)
}

func TestRowsStopsWhenNextGoesBack(t *testing.T) {
	t.Parallel()
	s, rs := newRowsSrv(t, 2, func(w http.ResponseWriter, r *http.Request) {
		page := atoiDefault(r.URL.Query().Get("page"), 1)
		fmt.Fprintf(w, `{"next": "?page=%d", "results": %s}`, map[int]int{1: 2, 2: 3, 3: 2}[page], rowsJSON(0, 1))
	})
	rows, err := collectRows(t, s.Rows(context.Background(), 2, &RowsOptions{Size: 1}))
	require.NoError(t, err)
	assert.Len(t, rows, 3)
	assert.Len(t, rs.seen(), 3)
}

func TestAdvances(t *testing.T) {
	t.Parallel()
	assert.True(t, advances(q("size=2"), q("size=2&page=2")))
	assert.False(t, advances(q("page=3"), q("page=3")))
	assert.False(t, advances(q("page=3"), q("page=1")))
	assert.True(t, advances(q("offset=10"), q("offset=20")))
	assert.False(t, advances(q("offset=20"), q("offset=20")))
	assert.True(t, advances(q("cursor=a"), q("cursor=b")))
	assert.False(t, advances(q("cursor=a"), q("cursor=a")))
}

type orderRow struct {
	ID    int64   `json:"id"`
	Name  string  `json:"name"`
	Total float64 `json:"total"`
}

func TestRowsAs(t *testing.T) {
	t.Parallel()
	s, _ := newRowsSrv(t, 11, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("page") == "2" {
			fmt.Fprint(w, `{"count": 3, "results": [{"id": 9007199254740993, "name": "c", "total": 3}]}`)
			return
		}
		fmt.Fprint(w, `{"count": 3, "results": [{"id": 1, "name": "a", "total": 1.5, "extra": [1]}, {"id": 2, "name": "b", "total": null}]}`)
	})
	var got []orderRow
	for o, err := range RowsAs[orderRow](context.Background(), s, 11, &RowsOptions{Size: 2}) {
		require.NoError(t, err)
		got = append(got, o)
	}
	assert.Equal(t, []orderRow{{1, "a", 1.5}, {2, "b", 0}, {9007199254740993, "c", 3}}, got)

	s2, _ := newRowsSrv(t, 12, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"results": [{"id": 1, "name": "a"}, {"id": "x", "name": "b"}]}`)
	})
	var n int
	var gotErr error
	for _, err := range RowsAs[orderRow](context.Background(), s2, 12, nil) {
		if err != nil {
			gotErr = err
			break
		}
		n++
	}
	assert.Equal(t, 1, n)
	var rde *RowsDecodeError
	require.ErrorAs(t, gotErr, &rde)
	assert.Equal(t, 1, rde.Row)
}

func TestRowsInvalidArguments(t *testing.T) {
	t.Parallel()
	s, mt := dtClient(t)
	ctx := context.Background()
	for name, o := range map[string]*RowsOptions{
		"size 1001":   {Size: 1001},
		"size -1":     {Size: -1},
		"page -1":     {Page: -1},
		"empty field": {Fields: []string{"a", ""}},
		"comma field": {Fields: []string{"a,b"}},
	} {
		_, err := collectRows(t, s.Rows(ctx, 1, o))
		assert.ErrorIs(t, err, ErrInvalidArgument, name)
		_, err = s.ListRows(ctx, 1, o)
		assert.ErrorIs(t, err, ErrInvalidArgument, name)
	}
	_, err := collectRows(t, s.Rows(ctx, 0, nil))
	assert.ErrorIs(t, err, ErrInvalidArgument)
	_, err = s.ListRows(ctx, 0, nil)
	assert.ErrorIs(t, err, ErrInvalidArgument)
	//nolint:staticcheck // a nil context is the point
	_, err = collectRows(t, s.Rows(nil, 1, nil))
	assert.ErrorIs(t, err, ErrInvalidArgument)
	for _, err := range RowsAs[orderRow](ctx, nil, 1, nil) {
		assert.ErrorIs(t, err, ErrInvalidArgument)
	}
	assert.Zero(t, mt.GetTotalCallCount())
}

func TestListRows(t *testing.T) {
	t.Parallel()
	s, mt := dtClient(t)
	dtExpect(t, mt, "GET", "/api/database/rows/table/10/", "user_field_names=true&size=2&page=3", "", 200,
		`{"count": 9, "next": "https://api.test/base/api/database/rows/table/10/?page=4&size=2", "previous": null,
		  "results": [{"id": 5, "v": 1.25}, {"id": 6, "v": null}]}`)
	var resp Response
	p, err := s.ListRows(context.Background(), 10, &RowsOptions{Page: 3, Size: 2}, WithResponse(&resp))
	require.NoError(t, err)
	assert.Equal(t, []Row{{"id": json.Number("5"), "v": json.Number("1.25")}, {"id": json.Number("6"), "v": nil}}, p.Items)
	assert.True(t, p.HasNext)
	assert.Equal(t, 4, p.NextPage)
	assert.Equal(t, 9, p.Count)
	assert.Equal(t, 200, resp.StatusCode)
	require.NotNil(t, p.Response)

	dtExpect(t, mt, "GET", "/api/database/rows/table/11/", "user_field_names=true&size=100", "", 200, `{"results": null}`)
	p, err = s.ListRows(context.Background(), 11, nil)
	require.NoError(t, err)
	assert.NotNil(t, p.Items)
	assert.Empty(t, p.Items)
	assert.False(t, p.HasNext)

	dtExpect(t, mt, "GET", "/api/database/rows/table/12/", "user_field_names=true&size=100", "", 200, `{"results": [{"id": 1}, {"id`)
	_, err = s.ListRows(context.Background(), 12, nil)
	var rde *RowsDecodeError
	require.ErrorAs(t, err, &rde)
	assert.Equal(t, RowsDecodeError{TableID: 12, Page: 1, Row: 1, Err: rde.Err}, *rde)
	assert.True(t, errors.Is(err, ErrMalformedResponse))
}

// FuzzRowPageDecoder feeds the streaming page decoder arbitrary bodies: it
// must never panic, and must either accept the body as a page or fail with
// an error, counting only rows it really decoded.
func FuzzRowPageDecoder(f *testing.F) {
	for _, seed := range []string{
		`{"count": 2, "next": null, "previous": null, "results": [{"id": 1}, {"id": 2}]}`,
		`{"data": [{"a": [1, {"b": null}]}], "next": "?page=2"}`,
		`[{"id": 1}]`, `{"results": null}`, `{"results": [{"id": 1}, {"id`, `<html>`, `{}`, `[] x`,
		`{"count": "7", "results": []}`, `{"next": true}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.UseNumber()
		info := &rowPage{count: -1}
		n := 0
		err := decodeRowPage(dec, info, func(Row) bool { n++; return true })
		assert.Equal(t, n, info.n)
		if err == nil {
			assert.True(t, json.Valid(body), "accepted a body that is not JSON: %q", body)
		}
	})
}

func TestRowsAttemptTimeoutMidPage(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	defer close(release)
	s, _ := newRowsSrv(t, 13, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"count": 9, "results": [%s,`, rowJSON(0))
		w.(http.Flusher).Flush()
		select { // stall mid-page
		case <-release:
		case <-r.Context().Done():
		}
	})
	rows, err := collectRows(t, s.Rows(context.Background(), 13, nil, WithAttemptTimeout(100*time.Millisecond)))
	assert.Len(t, rows, 1)
	var te *TransportError
	require.ErrorAs(t, err, &te)
	assert.ErrorIs(t, err, ErrTimeout)
	var rde *RowsDecodeError
	require.ErrorAs(t, err, &rde)
	assert.Equal(t, RowsDecodeError{TableID: 13, Page: 1, Row: 1, Err: rde.Err}, *rde)
}

type pickyRow struct{ ID int }

func (p *pickyRow) UnmarshalJSON(b []byte) error {
	if strings.Contains(string(b), `"bad"`) {
		return errors.New("picky: refused")
	}
	p.ID = 1
	return nil
}

func TestRowsAsCustomDecoderErrorIsADecodeError(t *testing.T) {
	t.Parallel()
	s, _ := newRowsSrv(t, 14, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"results": [{"id": 1}, {"id": "bad"}]}`)
	})
	n := 0
	var gotErr error
	for _, err := range RowsAs[pickyRow](context.Background(), s, 14, nil) {
		if err != nil {
			gotErr = err
			break
		}
		n++
	}
	assert.Equal(t, 1, n)
	assert.ErrorIs(t, gotErr, ErrMalformedResponse)
	assert.ErrorContains(t, gotErr, "picky: refused")
	var te *TransportError
	assert.False(t, errors.As(gotErr, &te))
}

func TestRowsRetriesAPageThatFailsBeforeItsBody(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	failed := false
	s, rs := newRowsSrv(t, 15, func(w http.ResponseWriter, r *http.Request) {
		page := atoiDefault(r.URL.Query().Get("page"), 1)
		mu.Lock()
		fail := page == 2 && !failed
		failed = failed || fail
		mu.Unlock()
		if fail {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error": "busy"}`)
			return
		}
		fmt.Fprintf(w, `{"count": 4, "results": %s}`, rowsJSON((page-1)*2, page*2))
	})
	rows, err := collectRows(t, s.Rows(context.Background(), 15, &RowsOptions{Size: 2}))
	require.NoError(t, err)
	assert.Len(t, rows, 4)
	assert.Equal(t, []url.Values{
		q("user_field_names=true&size=2"),
		q("user_field_names=true&size=2&page=2"),
		q("user_field_names=true&size=2&page=2"),
	}, rs.seen())
}
