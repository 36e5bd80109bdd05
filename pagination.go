package peliqan

import (
	"context"
	"iter"
	"net/url"
	"slices"
	"strconv"

	"github.com/peliqan-community/peliqan-go/internal/routes"
	"github.com/peliqan-community/peliqan-go/internal/wire"
)

// ListOptions selects one page of a paged list. Zero values mean the
// server's defaults (page 1).
type ListOptions struct {
	Page    int `url:"page,omitempty"`
	PerPage int `url:"per_page,omitempty"`
}

func (o *ListOptions) validate() error {
	if o == nil {
		return nil
	}
	if o.Page < 0 {
		return invalidArg("Page", "must not be negative (got %d)", o.Page)
	}
	if o.PerPage < 0 {
		return invalidArg("PerPage", "must not be negative (got %d)", o.PerPage)
	}
	if o.PerPage > 1000 {
		return invalidArg("PerPage", "must be at most 1000 (got %d)", o.PerPage)
	}
	return nil
}

// Page is one page of a list.
type Page[T any] struct {
	Items []T
	// HasNext says another page follows; NextPage is its number when the
	// server named one (0 otherwise).
	HasNext  bool
	NextPage int
	// Count is the server's total count, or -1 when it sent none.
	Count int
	// Response is the HTTP exchange that produced the page.
	Response *Response

	next url.Values // page parameters for the following request
}

// listPage fetches one page of a list route and decodes it in any of the
// three list shapes.
func listPage[T any](ctx context.Context, c *core, route *routes.Route, params []string, q url.Values, opts []RequestOption) (*Page[T], error) {
	var list wire.List[T]
	resp := new(Response)
	cl := &call{route: route, params: params, query: q, resp: resp, decode: func(b []byte) error {
		var err error
		list, err = wire.DecodeList[T](b)
		return err
	}}
	if err := c.do(ctx, cl, opts); err != nil {
		return nil, err
	}
	p := &Page[T]{Items: list.Items, Count: list.Count, Response: resp}
	next, more, err := wire.ParseNext(list.Next)
	if err != nil {
		return nil, &DecodeError{Method: route.Method, Path: resp.Path, StatusCode: resp.StatusCode, Err: err}
	}
	cur := atoiDefault(q.Get("page"), 1)
	if list.Next == nil && list.Count >= 0 {
		// A page-number-only server: more while the pages so far fall short
		// of the count.
		per := atoiDefault(q.Get("per_page"), atoiDefault(q.Get("size"), len(list.Items)))
		more = len(list.Items) > 0 && (cur-1)*per+len(list.Items) < list.Count
	}
	if list.Shape == wire.Array {
		more = false
	}
	if more && len(next) == 0 {
		next = url.Values{"page": {strconv.Itoa(cur + 1)}}
	}
	if more {
		p.HasNext, p.next = true, next
		p.NextPage = atoiDefault(next.Get("page"), 0)
	}
	return p, nil
}

func atoiDefault(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil && n > 0 {
		return n
	}
	return def
}

// paginate is the one lazy engine behind every iterator: it fetches the next
// page only when the consumer wants more, stops when yield returns false,
// yields an error once and stops, checks ctx between pages, and stops on an
// empty page or on a page it has already fetched (a server that loops). A
// nil ctx is yielded as ErrInvalidArgument, before any request.
func paginate[T any](ctx context.Context, first url.Values, fetch func(context.Context, url.Values) (*Page[T], error)) iter.Seq2[*T, error] {
	return func(yield func(*T, error) bool) {
		if ctx == nil {
			yield(nil, invalidArg("ctx", "nil context"))
			return
		}
		q := cloneValues(first)
		seen := map[string]bool{}
		for {
			if err := ctx.Err(); err != nil {
				yield(nil, err)
				return
			}
			key := q.Encode()
			if seen[key] {
				return
			}
			seen[key] = true
			page, err := fetch(ctx, q)
			if err != nil {
				yield(nil, err)
				return
			}
			for i := range page.Items {
				if !yield(&page.Items[i], nil) {
					return
				}
			}
			if len(page.Items) == 0 || !page.HasNext {
				return
			}
			q = cloneValues(q)
			for k, v := range page.next {
				q[k] = v
			}
		}
	}
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v)+2)
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// listAll reads every page of a list route into a slice, through the one
// pagination engine. It serves the lists that are small in practice
// (connections, connector types, databases, tables, scripts, groups) and
// usually come as one bare array; paged shapes work too.
func listAll[T any](ctx context.Context, c *core, route *routes.Route, params []string, q url.Values, opts []RequestOption) ([]T, error) {
	out := []T{}
	fetch := func(ctx context.Context, q url.Values) (*Page[T], error) {
		p, err := listPage[T](ctx, c, route, params, q, opts)
		if err == nil {
			out = slices.Grow(out, len(p.Items)) // one allocation per page, not per doubling
		}
		return p, err
	}
	for v, err := range paginate(ctx, q, fetch) {
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	return out, nil
}

// Collect drains an iterator into a slice. It stops at the first error and
// returns what it had; max > 0 stops after max items (a guard for lists that
// could be huge).
func Collect[T any](seq iter.Seq2[T, error], max int) ([]T, error) {
	var out []T
	for v, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, v)
		if max > 0 && len(out) >= max {
			break
		}
	}
	return out, nil
}
