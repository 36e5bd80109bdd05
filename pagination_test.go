package peliqan

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/peliqan-community/peliqan-go/internal/routes"
	"github.com/peliqan-community/peliqan-go/internal/wire"
)

type item struct {
	ID   ID     `json:"id"`
	Name string `json:"name"`
}

// listAll pages through the sub-account list with the one engine.
func iterSubAccounts(c *core, opts *ListOptions) iter.Seq2[*item, error] {
	first, _ := wire.Query(opts)
	return paginate(context.Background(), first, func(ctx context.Context, q url.Values) (*Page[item], error) {
		return listPage[item](ctx, c, routes.MustLookup(routes.ListSubAccounts), nil, q, nil)
	})
}

const listURL = testBase + "/api/partner/sub-accounts/"

func TestListShapes(t *testing.T) {
	t.Parallel()
	shapes := map[string]string{
		"bare array": `[{"id":1,"name":"a"},{"id":"2","name":"b"}]`,
		"data":       `{"data":[{"id":1,"name":"a"},{"id":"2","name":"b"}],"next":null}`,
		"results":    `{"count":2,"next":null,"previous":null,"results":[{"id":1,"name":"a"},{"id":"2","name":"b"}]}`,
	}
	for name, body := range shapes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, mt := mockPartner(t)
			mt.RegisterResponder("GET", listURL, httpmock.NewStringResponder(200, body))
			got, err := Collect(iterSubAccounts(p.c, nil), 0)
			require.NoError(t, err)
			require.Len(t, got, 2)
			assert.Equal(t, ID(2), got[1].ID, "numeric-string ids decode")
			assert.Equal(t, 1, mt.GetTotalCallCount())
		})
	}
}

func TestPagingFollowsNextButOnlyItsPageParameters(t *testing.T) {
	t.Parallel()
	p, mt := mockPartner(t)
	var seen []string
	mt.RegisterNoResponder(func(r *http.Request) (*http.Response, error) {
		seen = append(seen, r.URL.Host+r.URL.Path+"?"+r.URL.RawQuery)
		switch r.URL.Query().Get("page") {
		case "", "1":
			// The next link names another host and path: only page/per_page are taken.
			return httpmock.NewStringResponse(200, `{"data":[{"id":1},{"id":2}],"next":"https://evil.test/steal/?page=2&per_page=2&token=x"}`), nil
		case "2":
			return httpmock.NewStringResponse(200, `{"data":[{"id":3}],"next":3}`), nil
		case "3":
			return httpmock.NewStringResponse(200, `{"data":[{"id":4}],"next":false}`), nil
		}
		return httpmock.NewStringResponse(500, "unexpected"), nil
	})
	got, err := Collect(iterSubAccounts(p.c, &ListOptions{PerPage: 2}), 0)
	require.NoError(t, err)
	assert.Len(t, got, 4)
	assert.Equal(t, []string{
		"api.test/base/api/partner/sub-accounts/?per_page=2",
		"api.test/base/api/partner/sub-accounts/?page=2&per_page=2",
		"api.test/base/api/partner/sub-accounts/?page=3&per_page=2",
	}, seen)
}

func TestPagingStopsOnRepeatedOrEmptyPages(t *testing.T) {
	t.Parallel()
	p, mt := mockPartner(t)
	mt.RegisterResponder("GET", listURL, httpmock.NewStringResponder(200, `{"data":[{"id":1}],"next":"?page=1"}`))
	got, err := Collect(iterSubAccounts(p.c, &ListOptions{Page: 1}), 0)
	require.NoError(t, err)
	assert.Len(t, got, 1, "a server that points back at the same page is not looped")
	assert.Equal(t, 1, mt.GetTotalCallCount())

	p2, mt2 := mockPartner(t)
	mt2.RegisterResponder("GET", listURL, httpmock.NewStringResponder(200, `{"data":[],"next":true}`))
	got, err = Collect(iterSubAccounts(p2.c, nil), 0)
	require.NoError(t, err)
	assert.Empty(t, got)
	assert.Equal(t, 1, mt2.GetTotalCallCount(), "an empty page ends the list")
}

func TestPagingByCountOnly(t *testing.T) {
	t.Parallel()
	p, mt := mockPartner(t)
	var calls atomic.Int32
	mt.RegisterResponder("GET", listURL, func(r *http.Request) (*http.Response, error) {
		calls.Add(1)
		page := r.URL.Query().Get("page")
		if page == "" {
			page = "1"
		}
		var n int
		fmt.Sscan(page, &n)
		if n > 3 {
			return httpmock.NewStringResponse(200, `{"count":5,"results":[]}`), nil
		}
		items := `{"id":1},{"id":2}`
		if n == 3 {
			items = `{"id":5}`
		}
		return httpmock.NewStringResponse(200, `{"count":5,"results":[`+items+`]}`), nil
	})
	got, err := Collect(iterSubAccounts(p.c, &ListOptions{PerPage: 2}), 0)
	require.NoError(t, err)
	assert.Len(t, got, 5)
	assert.EqualValues(t, 3, calls.Load())
}

func TestIteratorIsLazyAndStopsOnBreak(t *testing.T) {
	t.Parallel()
	p, mt := mockPartner(t)
	mt.RegisterResponder("GET", listURL, func(r *http.Request) (*http.Response, error) {
		return httpmock.NewStringResponse(200, `{"data":[{"id":1},{"id":2}],"next":true}`), nil
	})
	seq := iterSubAccounts(p.c, nil)
	assert.Zero(t, mt.GetTotalCallCount(), "nothing is fetched before the first item is asked for")
	for it, err := range seq {
		require.NoError(t, err)
		assert.Equal(t, ID(1), it.ID)
		break
	}
	assert.Equal(t, 1, mt.GetTotalCallCount())
	got, err := Collect(seq, 3)
	require.NoError(t, err)
	assert.Len(t, got, 3)
	assert.Equal(t, 3, mt.GetTotalCallCount(), "page 1 again for the new range, then page 2")
}

func TestIteratorYieldsAnErrorOnceAndStops(t *testing.T) {
	t.Parallel()
	p, mt := mockPartner(t, WithRetryPolicy(NoRetry()))
	var n atomic.Int32
	mt.RegisterResponder("GET", listURL, sequence(&n,
		httpmock.NewStringResponder(200, `{"data":[{"id":1}],"next":2}`),
		httpmock.NewStringResponder(404, `{"detail":"Not found."}`)))
	var items, errs int
	for _, err := range iterSubAccounts(p.c, nil) {
		if err != nil {
			errs++
			assert.ErrorIs(t, err, ErrNotFound)
			continue
		}
		items++
	}
	assert.Equal(t, 1, items)
	assert.Equal(t, 1, errs)
	assert.EqualValues(t, 2, n.Load())
}

func TestIteratorChecksContextBetweenPages(t *testing.T) {
	t.Parallel()
	p, mt := mockPartner(t)
	mt.RegisterResponder("GET", listURL, httpmock.NewStringResponder(200, `{"data":[{"id":1}],"next":true}`))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seq := paginate(ctx, nil, func(ctx context.Context, q url.Values) (*Page[item], error) {
		return listPage[item](ctx, p.c, routes.MustLookup(routes.ListSubAccounts), nil, q, nil)
	})
	var gotErr error
	for _, err := range seq {
		if err != nil {
			gotErr = err
			break
		}
		cancel()
	}
	assert.Equal(t, context.Canceled, gotErr)
	assert.Equal(t, 1, mt.GetTotalCallCount())
}

func TestPageReportsNext(t *testing.T) {
	t.Parallel()
	p, mt := mockPartner(t)
	mt.RegisterResponder("GET", listURL, httpmock.NewStringResponder(200, `{"data":[{"id":1}],"next":"https://x/?page=4"}`))
	pg, err := listPage[item](context.Background(), p.c, routes.MustLookup(routes.ListSubAccounts), nil, url.Values{"page": {"3"}}, nil)
	require.NoError(t, err)
	assert.True(t, pg.HasNext)
	assert.Equal(t, 4, pg.NextPage)
	assert.Equal(t, -1, pg.Count)
	require.NotNil(t, pg.Response)
	assert.Equal(t, 200, pg.Response.StatusCode)

	mt.RegisterResponder("GET", listURL, httpmock.NewStringResponder(200, `{"rows":[]}`))
	_, err = listPage[item](context.Background(), p.c, routes.MustLookup(routes.ListSubAccounts), nil, nil, nil)
	assert.ErrorIs(t, err, ErrMalformedResponse, "an object without data/results is not a list")
}

func TestListOptionsValidation(t *testing.T) {
	t.Parallel()
	assert.NoError(t, (*ListOptions)(nil).validate())
	assert.NoError(t, (&ListOptions{Page: 2, PerPage: 50}).validate())
	assert.ErrorIs(t, (&ListOptions{Page: -1}).validate(), ErrInvalidArgument)
	assert.ErrorIs(t, (&ListOptions{PerPage: -5}).validate(), ErrInvalidArgument)
	assert.ErrorIs(t, (&ListOptions{PerPage: 5000}).validate(), ErrInvalidArgument)
}
