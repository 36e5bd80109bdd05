package peliqan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/peliqan-community/peliqan-go/internal/routes"
	"github.com/peliqan-community/peliqan-go/internal/wire"
)

// Row is one row of a table, keyed by the fields' user-facing names.
// Numbers are kept exact as json.Number (a 64-bit id or a decimal amount
// does not go through float64); strings, booleans, nil, []any and
// map[string]any are as encoding/json decodes them. Use RowsAs to decode
// rows into your own struct instead.
type Row map[string]any

// Row page sizes. The service's default (100) and maximum (1000) are
// inferred: no source we found documents them (see ListRows in
// docs/routes.md).
const (
	DefaultRowsPageSize = 100
	MaxRowsPageSize     = 1000
)

// RowsOptions selects rows of a table.
type RowsOptions struct {
	// Page is the first page to read, 1-based; 0 means the first.
	Page int
	// Size is the number of rows per page, 1..1000; 0 means 100.
	Size int
	// Fields, when set, asks for these fields only (by user-facing name).
	// It is sent as the "include" parameter, comma-separated, as
	// Baserow-style APIs take it: inferred. A name may not contain a comma.
	Fields []string
}

func (o RowsOptions) query() (url.Values, error) {
	if o.Page < 0 {
		return nil, invalidArg("Page", "must not be negative (got %d)", o.Page)
	}
	if o.Size < 0 || o.Size > MaxRowsPageSize {
		return nil, invalidArg("Size", "must be between 1 and %d (got %d)", MaxRowsPageSize, o.Size)
	}
	size := o.Size
	if size == 0 {
		size = DefaultRowsPageSize
	}
	q := url.Values{"user_field_names": {"true"}, "size": {strconv.Itoa(size)}}
	if o.Page > 1 {
		q.Set("page", strconv.Itoa(o.Page))
	}
	if len(o.Fields) > 0 {
		for _, f := range o.Fields {
			if strings.TrimSpace(f) == "" || strings.Contains(f, ",") {
				return nil, invalidArg("Fields", "field name %q is empty or has a comma", f)
			}
		}
		q.Set("include", strings.Join(o.Fields, ","))
	}
	return q, nil
}

// RowsDecodeError says which page of which table could not be read, and
// after how many of its rows. It arrives inside a *DecodeError (so it
// matches ErrMalformedResponse); get it with errors.As.
type RowsDecodeError struct {
	TableID ID
	// Page is the page number sent (the "page" parameter), or, when the
	// server pages by another parameter, the page's 1-based position in
	// the iteration.
	Page int
	// Row counts the rows of that page decoded before the failure.
	Row int
	Err error
}

// Error names the table, page and row.
func (e *RowsDecodeError) Error() string {
	return fmt.Sprintf("table %d, page %d, after row %d: %v", int64(e.TableID), e.Page, e.Row, e.Err)
}

// Unwrap returns the decoder's or the connection's error.
func (e *RowsDecodeError) Unwrap() error { return e.Err }

// ListRows reads one page of a table's rows. The fields are named by their
// user-facing names (user_field_names=true is always sent). The page is
// decoded from the stream as Rows does; Page.HasNext says whether another
// page follows.
//
// The route is documented; its paging (page, size, and the count / next /
// previous / results answer) is inferred.
func (s *SubAccountClient) ListRows(ctx context.Context, tableID ID, o *RowsOptions, opts ...RequestOption) (*Page[Row], error) {
	opt := optionsOr(o)
	id, err := tableID.param("table id")
	if err != nil {
		return nil, err
	}
	q, err := opt.query()
	if err != nil {
		return nil, err
	}
	rs := newRowStream(s.c, tableID, id, opts)
	var items []Row
	info, err := fetchRowPage(ctx, rs, q, atoiDefault(q.Get("page"), 1), true, func(r Row) bool {
		items = append(items, r)
		return true
	})
	if err != nil {
		return nil, err
	}
	p := &Page[Row]{Items: items, Count: info.count, Response: info.resp}
	if p.Items == nil {
		p.Items = []Row{}
	}
	next, more, err := rs.next(q, info)
	if err != nil {
		return nil, err
	}
	if more {
		p.HasNext, p.next = true, next
		p.NextPage = atoiDefault(next.Get("page"), 0)
	}
	return p, nil
}

// Rows streams every row of a table, of any size, page after page, from
// o.Page on. Each page is decoded straight from the response body, one
// row at a time: neither a page's bytes nor the table are ever held in
// memory, so memory stays flat however many rows the table has.
//
// Paging follows the server's "next" link (only its page parameters: the
// request is rebuilt from the SDK's routes table), or, for a server that
// sends only a count, the page numbers up to it. Breaking out of the loop
// closes the page's body and stops at once; nothing is left running.
//
// An error is yielded once, and the iteration ends: a bad option
// (ErrInvalidArgument) before any request, an *APIError for a page the
// server refused, a *DecodeError holding a *RowsDecodeError (table, page,
// row) for a page that is not JSON or stops halfway, a *TransportError when
// the connection fails mid-page, or the context's error.
//
// A page stays open while your loop body runs for its rows. The per-attempt
// timeout (WithTimeout, or WithAttemptTimeout for this call) counts only the
// time spent waiting for the server's next bytes, never your loop body's:
// a slow consumer is not a slow server.
func (s *SubAccountClient) Rows(ctx context.Context, tableID ID, o *RowsOptions, opts ...RequestOption) iter.Seq2[Row, error] {
	opt := optionsOr(o)
	return streamRows[Row](ctx, s.c, tableID, opt, true, opts)
}

// RowsAs is Rows decoding each row into a T (a struct with json tags naming
// the fields' user-facing names, or any type encoding/json can fill). A row
// that does not fit T ends the iteration with a *DecodeError holding a
// *RowsDecodeError.
func RowsAs[T any](ctx context.Context, s *SubAccountClient, tableID ID, o *RowsOptions, opts ...RequestOption) iter.Seq2[T, error] {
	opt := optionsOr(o)
	if s == nil {
		return func(yield func(T, error) bool) {
			var zero T
			yield(zero, invalidArg("client", "nil *SubAccountClient"))
		}
	}
	return streamRows[T](ctx, s.c, tableID, opt, false, opts)
}

func streamRows[T any](ctx context.Context, c *core, tableID ID, o RowsOptions, useNumber bool, opts []RequestOption) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		if ctx == nil {
			yield(zero, invalidArg("ctx", "nil context"))
			return
		}
		id, err := tableID.param("table id")
		if err != nil {
			yield(zero, err)
			return
		}
		q, err := o.query()
		if err != nil {
			yield(zero, err)
			return
		}
		rs := newRowStream(c, tableID, id, opts)
		for seq := 1; ; seq++ {
			if err := ctx.Err(); err != nil {
				yield(zero, err)
				return
			}
			stopped := false
			info, err := fetchRowPage(ctx, rs, q, atoiDefault(q.Get("page"), seq), useNumber, func(v T) bool {
				if !yield(v, nil) {
					stopped = true
					return false
				}
				return true
			})
			if stopped {
				return
			}
			if err != nil {
				yield(zero, err)
				return
			}
			next, more, err := rs.next(q, info)
			if err != nil {
				yield(zero, err)
				return
			}
			if !more || info.n == 0 {
				return
			}
			nq := cloneValues(q)
			for k, v := range next {
				nq[k] = v
			}
			if !advances(q, nq) {
				return // a server that loops: that page was already read
			}
			q = nq
		}
	}
}

// advances reports whether the next page's query moves forward from the
// current one: a higher page number or offset, or, for other paging, a
// different query. It keeps Rows' memory flat: no set of pages seen grows
// with the table.
func advances(cur, next url.Values) bool {
	for _, p := range [...]struct {
		key   string
		first int
	}{{"page", 1}, {"offset", 0}} {
		k, first := p.key, p.first
		n, err := strconv.Atoi(next.Get(k))
		if err != nil {
			continue
		}
		c := first
		if cv := cur.Get(k); cv != "" {
			if c, err = strconv.Atoi(cv); err != nil {
				continue
			}
		}
		return n > c
	}
	return cur.Encode() != next.Encode()
}

// rowStream is what every page request of one Rows iteration shares.
type rowStream struct {
	c       *core
	route   *routes.Route
	tableID ID
	params  []string
	path    string
	opts    []RequestOption
}

func newRowStream(c *core, tableID ID, id string, opts []RequestOption) *rowStream {
	route := routes.MustLookup(routes.ListRows)
	path, _ := route.Expand(id)
	return &rowStream{c: c, route: route, tableID: tableID, params: []string{id}, path: path,
		opts: opts[:len(opts):len(opts)]}
}

// rowPage is what reading one page learned besides its rows.
type rowPage struct {
	n     int
	next  json.RawMessage
	count int
	shape wire.Shape
	resp  *Response
}

// errStopRows is returned from the stream callback when the consumer broke
// out of its loop; it never reaches the consumer.
var errStopRows = errors.New("peliqan: rows consumer stopped")

// tokenKind names a JSON token's kind for an error message without quoting
// a value: a body that is not a page may carry anything, a token included.
func tokenKind(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		return string(v)
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return "a number"
}

// errNotRows reports a page body whose JSON is not a list of rows.
var errNotRows = errors.New("page is not a list of rows")

// fetchRowPage requests one page and hands each decoded row to each, until
// each returns false.
func fetchRowPage[T any](ctx context.Context, rs *rowStream, q url.Values, pageNo int, useNumber bool, each func(T) bool) (*rowPage, error) {
	info := &rowPage{count: -1, resp: new(Response)}
	cl := &call{route: rs.route, params: rs.params, query: q, stream: func(resp *http.Response) error {
		body := &readTracker{r: resp.Body}
		dec := json.NewDecoder(body)
		if useNumber {
			dec.UseNumber()
		}
		err := decodeRowPage(dec, info, each)
		switch {
		case err == nil, err == errStopRows:
			return err
		case ctx.Err() != nil:
			return ctx.Err()
		}
		rde := &RowsDecodeError{TableID: rs.tableID, Page: pageNo, Row: info.n, Err: err}
		if body.err != nil {
			// The connection failed or timed out mid-page.
			rde.Err = body.err
			return &TransportError{Method: rs.route.Method, Path: rs.path, Attempts: info.resp.Attempts, Err: rde}
		}
		// The body ended early, is not JSON, or a row does not fit T.
		return &DecodeError{Method: rs.route.Method, Path: rs.path, StatusCode: resp.StatusCode,
			ContentType: resp.Header.Get("Content-Type"), Err: rde}
	}}
	err := rs.c.do(ctx, cl, append(rs.opts, WithResponse(info.resp)))
	if err == errStopRows {
		return info, nil
	}
	if err != nil {
		return nil, err
	}
	return info, nil
}

// readTracker remembers a read error other than io.EOF, so a failure can be
// told apart: the connection's (a transport error) or the body's (a decode
// error). A body cut short by the server reads as io.ErrUnexpectedEOF from
// net/http when its length or chunking says more was due; that is the body's.
type readTracker struct {
	r   io.Reader
	err error
}

func (t *readTracker) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF && t.err == nil {
		t.err = err
	}
	return n, err
}

// decodeRowPage walks a page with Token only to reach its rows ("results",
// "data", or a bare array), decodes them one at a time, and reads "next"
// and "count" wherever they come in the object.
func decodeRowPage[T any](dec *json.Decoder, info *rowPage, each func(T) bool) error {
	tok, err := dec.Token()
	if err != nil {
		return eofIsUnexpected(err)
	}
	switch tok {
	case json.Delim('['):
		info.shape = wire.Array
		if err := decodeRowArray(dec, info, each); err != nil {
			return err
		}
	case json.Delim('{'):
		found := false
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return eofIsUnexpected(err)
			}
			key, _ := tok.(string)
			switch key {
			case "results", "data":
				found = true
				info.shape = wire.Results
				if key == "data" {
					info.shape = wire.Data
				}
				tok, err := dec.Token()
				if err != nil {
					return eofIsUnexpected(err)
				}
				switch tok {
				case nil: // "results": null is an empty page
				case json.Delim('['):
					if err := decodeRowArray(dec, info, each); err != nil {
						return err
					}
				default:
					return fmt.Errorf("%w: %q is %s", errNotRows, key, tokenKind(tok))
				}
			case "next":
				if err := dec.Decode(&info.next); err != nil {
					return eofIsUnexpected(err)
				}
			case "count":
				var n json.Number
				if err := decodeCount(dec, &n); err != nil {
					return eofIsUnexpected(err)
				}
				if c, err := strconv.Atoi(n.String()); err == nil {
					info.count = c
				}
			default:
				var skip json.RawMessage
				if err := dec.Decode(&skip); err != nil {
					return eofIsUnexpected(err)
				}
			}
		}
		if _, err := dec.Token(); err != nil { // the closing '}'
			return eofIsUnexpected(err)
		}
		if !found && isNullRaw(info.next) && info.count < 0 {
			return fmt.Errorf("%w: an object without results or data", errNotRows)
		}
	case nil:
		return fmt.Errorf("%w: null", errNotRows)
	default:
		return fmt.Errorf("%w: starts with %s", errNotRows, tokenKind(tok))
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			return fmt.Errorf("%w: data after the page", errNotRows)
		}
		return err
	}
	return nil
}

func decodeRowArray[T any](dec *json.Decoder, info *rowPage, each func(T) bool) error {
	width := 0 // fields in the widest Row so far, to size the next map at once
	for dec.More() {
		var v T
		row, isRow := any(&v).(*Row)
		if isRow && width > 0 {
			*row = make(Row, width)
		}
		if err := dec.Decode(&v); err != nil {
			return eofIsUnexpected(err)
		}
		if isRow {
			width = max(width, len(*row))
		}
		info.n++
		if !each(v) {
			return errStopRows
		}
	}
	if _, err := dec.Token(); err != nil { // the closing ']'
		return eofIsUnexpected(err)
	}
	return nil
}

// decodeCount reads a count sent as a number, a numeric string or null.
func decodeCount(dec *json.Decoder, n *json.Number) error {
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return err
	}
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	if s == "null" {
		s = ""
	}
	*n = json.Number(s)
	return nil
}

// eofIsUnexpected turns an io.EOF met inside the page (the body ended
// before the JSON did) into io.ErrUnexpectedEOF.
func eofIsUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func isNullRaw(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "" || s == "null"
}

// next works out the following page's parameters from a page just read:
// the server's "next" (its page parameters only), or, for a server that
// sends a count and no next, the following page number while rows remain.
func (rs *rowStream) next(q url.Values, info *rowPage) (url.Values, bool, error) {
	next, more, err := wire.ParseNext(info.next)
	if err != nil {
		return nil, false, &DecodeError{Method: rs.route.Method, Path: rs.path, StatusCode: info.resp.StatusCode, Err: err}
	}
	cur := atoiDefault(q.Get("page"), 1)
	if info.next == nil && info.count >= 0 {
		per := atoiDefault(q.Get("size"), info.n)
		more = info.n > 0 && (cur-1)*per+info.n < info.count
	}
	if info.shape == wire.Array {
		more = false
	}
	if more && len(next) == 0 {
		next = url.Values{"page": {strconv.Itoa(cur + 1)}}
	}
	return next, more, nil
}
