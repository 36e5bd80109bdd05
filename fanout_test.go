package peliqan

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

const subAccountsURL = ptBase + "/api/partner/sub-accounts/"

// customers serves n sub-accounts (ids 1..n, external ids "ext-<id>") as
// {data, next} pages of per_page (default 10), and counts list requests.
type customers struct {
	n     int
	pages atomic.Int32
	// failPage, when > 0, answers that page with a 500.
	failPage int
	// dup repeats the last item of each page at the start of the next.
	dup bool
}

func (c *customers) responder(req *http.Request) (*http.Response, error) {
	c.pages.Add(1)
	q := req.URL.Query()
	page, _ := strconv.Atoi(q.Get("page"))
	if page < 1 {
		page = 1
	}
	per, _ := strconv.Atoi(q.Get("per_page"))
	if per < 1 {
		per = 10
	}
	if page == c.failPage {
		return jsonResp(500, `{"detail":"boom"}`)(req)
	}
	from, to := (page-1)*per+1, page*per
	if c.dup && page > 1 {
		from--
	}
	var items []string
	for id := from; id <= to && id <= c.n; id++ {
		items = append(items, fmt.Sprintf(`{"id":%d,"name":"c%d","external_id":"ext-%d"}`, id, id, id))
	}
	next := "null"
	if to < c.n {
		next = strconv.Itoa(page + 1)
	}
	return jsonResp(200, `{"data":[`+strings.Join(items, ",")+`],"next":`+next+`}`)(req)
}

func newFanoutPartner(t *testing.T, c *customers) (*PartnerClient, *httpmock.MockTransport) {
	t.Helper()
	p, mt, _ := newMockPartner(t)
	mt.RegisterResponder("GET", subAccountsURL, c.responder)
	return p, mt
}

func TestForEachSubAccountProcessesEveryCustomerWithBoundedConcurrency(t *testing.T) {
	t.Parallel()
	c := &customers{n: 95}
	p, mt := newFanoutPartner(t, c)
	ids := &identityServer{next: func(n int32) string { return "tok-" + strconv.Itoa(int(n)) }}
	mt.RegisterResponder("GET", identityURL, ids.responder)
	var tenantCalls atomic.Int32
	mt.RegisterResponder("GET", serversURL, func(r *http.Request) (*http.Response, error) {
		tenantCalls.Add(1)
		return jsonResp(200, `[]`)(r)
	})

	var inFlight, maxInFlight atomic.Int32
	var mu sync.Mutex
	var got []ID
	err := p.ForEachSubAccount(context.Background(), 4, func(ctx context.Context, sa *SubAccount, tc *SubAccountClient) error {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := maxInFlight.Load()
			if n <= m || maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		if sa.ExternalID != "ext-"+sa.ID.String() {
			return fmt.Errorf("wrong customer %v", sa)
		}
		time.Sleep(time.Millisecond)
		mu.Lock()
		got = append(got, sa.ID)
		mu.Unlock()
		return tc.Do(ctx, "GET", "/api/servers/", nil, nil)
	}, ForEachPageSize(20))
	require.NoError(t, err)
	slices.Sort(got)
	require.Len(t, got, 95)
	assert.Equal(t, ID(1), got[0])
	assert.Equal(t, ID(95), got[94])
	assert.LessOrEqual(t, maxInFlight.Load(), int32(4))
	assert.Equal(t, int32(5), c.pages.Load(), "95 customers at 20 per page")
	assert.Equal(t, int32(95), ids.calls.Load(), "one identity token per tenant")
	assert.Equal(t, int32(95), tenantCalls.Load())
}

func TestForEachSubAccountJoinsFailures(t *testing.T) {
	t.Parallel()
	c := &customers{n: 30}
	p, _ := newFanoutPartner(t, c)
	boom := errors.New("boom")
	var calls atomic.Int32
	err := p.ForEachSubAccount(context.Background(), 3, func(_ context.Context, sa *SubAccount, _ *SubAccountClient) error {
		calls.Add(1)
		if sa.ID == 7 || sa.ID == 23 {
			return fmt.Errorf("customer %d: %w", sa.ID, boom)
		}
		return nil
	})
	require.Error(t, err)
	assert.Equal(t, int32(30), calls.Load(), "every customer is processed by default")
	require.ErrorIs(t, err, boom)
	var se *SubAccountError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, ID(7), se.ID, "failures are sorted by id")
	assert.Equal(t, "ext-7", se.ExternalID)
	joined, ok := err.(interface{ Unwrap() []error })
	require.True(t, ok, "an errors.Join")
	require.Len(t, joined.Unwrap(), 2)
	assert.Equal(t, `peliqan: sub-account 23 (external_id "ext-23"): customer 23: boom`, joined.Unwrap()[1].Error())
}

func TestForEachSubAccountFailFast(t *testing.T) {
	t.Parallel()
	c := &customers{n: 200}
	p, _ := newFanoutPartner(t, c)
	boom := errors.New("boom")
	var calls, cancelled atomic.Int32
	err := p.ForEachSubAccount(context.Background(), 4, func(ctx context.Context, sa *SubAccount, _ *SubAccountClient) error {
		calls.Add(1)
		if sa.ID == 3 {
			return boom
		}
		select {
		case <-ctx.Done():
			cancelled.Add(1)
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
			return nil
		}
	}, FailFast())
	var se *SubAccountError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, ID(3), se.ID)
	require.ErrorIs(t, err, boom)
	assert.NotErrorIs(t, err, context.Canceled, "only the first failure is returned")
	assert.Less(t, calls.Load(), int32(20), "the rest is not started")
	assert.Less(t, c.pages.Load(), int32(3), "pages are fetched lazily")
}

func TestForEachSubAccountListErrorAndDuplicates(t *testing.T) {
	t.Parallel()
	t.Run("list fails on page 2", func(t *testing.T) {
		t.Parallel()
		c := &customers{n: 30, failPage: 2}
		p, _ := newFanoutPartner(t, c)
		var calls atomic.Int32
		err := p.ForEachSubAccount(context.Background(), 2, func(context.Context, *SubAccount, *SubAccountClient) error {
			calls.Add(1)
			return nil
		})
		require.ErrorIs(t, err, ErrServer)
		assert.Contains(t, err.Error(), "listing sub-accounts stopped")
		assert.Equal(t, int32(10), calls.Load(), "page 1 was processed")
	})
	t.Run("a customer listed twice is processed once", func(t *testing.T) {
		t.Parallel()
		c := &customers{n: 25, dup: true}
		p, _ := newFanoutPartner(t, c)
		var mu sync.Mutex
		count := map[ID]int{}
		require.NoError(t, p.ForEachSubAccount(context.Background(), 2, func(_ context.Context, sa *SubAccount, _ *SubAccountClient) error {
			mu.Lock()
			count[sa.ID]++
			mu.Unlock()
			return nil
		}))
		assert.Len(t, count, 25)
		for id, n := range count {
			assert.Equal(t, 1, n, "id %d", id)
		}
	})
	t.Run("a customer without an id is a per-customer failure", func(t *testing.T) {
		t.Parallel()
		p, mt, _ := newMockPartner(t)
		mt.RegisterResponder("GET", subAccountsURL, jsonResp(200, `[{"id":1,"external_id":"a"},{"name":"broken","external_id":"b"}]`))
		err := p.ForEachSubAccount(context.Background(), 2, func(context.Context, *SubAccount, *SubAccountClient) error { return nil })
		var se *SubAccountError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, "b", se.ExternalID)
		require.ErrorIs(t, err, ErrInvalidArgument)
	})
}

// Not parallel: goleak sees the whole process (see subaccount_test.go).
func TestForEachSubAccountStopsOnCancelWithoutLeaks(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	c := &customers{n: 1000}
	p, mt := newFanoutPartner(t, c)
	// Identity fetches hang until cancelled: the cancellation must reach
	// the shared fetches too.
	mt.RegisterResponder("GET", identityURL, func(r *http.Request) (*http.Response, error) {
		<-r.Context().Done()
		return nil, r.Context().Err()
	})
	ctx, cancel := context.WithCancel(context.Background())
	var started atomic.Int32
	done := make(chan error, 1)
	go func() {
		done <- p.ForEachSubAccount(ctx, 16, func(ctx context.Context, sa *SubAccount, tc *SubAccountClient) error {
			if started.Add(1) == 16 {
				cancel()
			}
			return tc.Do(ctx, "GET", "/api/servers/", nil, nil)
		})
	}()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
		var se *SubAccountError
		assert.False(t, errors.As(err, &se), "failures caused by the cancellation are not reported: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("ForEachSubAccount did not stop after cancel")
	}
	assert.LessOrEqual(t, started.Load(), int32(32))
	assert.Less(t, c.pages.Load(), int32(5))
}

func TestForEachSubAccountHugeConcurrencyIsCheap(t *testing.T) {
	t.Parallel()
	c := &customers{n: 5}
	p, _ := newFanoutPartner(t, c)
	var calls atomic.Int32
	require.NoError(t, p.ForEachSubAccount(context.Background(), 1<<30, func(context.Context, *SubAccount, *SubAccountClient) error {
		calls.Add(1)
		return nil
	}))
	assert.Equal(t, int32(5), calls.Load())
}

// TestForEachSubAccountContextErrorIsBare: when ctx ends and nothing else
// failed, the error is ctx's own value, comparable with ==, as
// ConnectionHealth returns it; a real failure beside it is still joined.
func TestForEachSubAccountContextErrorIsBare(t *testing.T) {
	t.Parallel()
	t.Run("cancelled mid-run", func(t *testing.T) {
		t.Parallel()
		p, _ := newFanoutPartner(t, &customers{n: 30})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var seen atomic.Int32
		err := p.ForEachSubAccount(ctx, 2, func(ctx context.Context, sa *SubAccount, _ *SubAccountClient) error {
			if seen.Add(1) == 2 {
				cancel()
			}
			<-ctx.Done()
			return ctx.Err()
		})
		assert.True(t, err == context.Canceled, "got %T %v", err, err)
	})
	t.Run("already cancelled", func(t *testing.T) {
		t.Parallel()
		p, _ := newFanoutPartner(t, &customers{n: 3})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := p.ForEachSubAccount(ctx, 2, func(context.Context, *SubAccount, *SubAccountClient) error { return nil })
		assert.True(t, err == context.Canceled, "got %T %v", err, err)
	})
	t.Run("deadline", func(t *testing.T) {
		t.Parallel()
		p, _ := newFanoutPartner(t, &customers{n: 30})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		err := p.ForEachSubAccount(ctx, 2, func(ctx context.Context, _ *SubAccount, _ *SubAccountClient) error {
			<-ctx.Done()
			return ctx.Err()
		})
		assert.True(t, err == context.DeadlineExceeded, "got %T %v", err, err)
	})
	t.Run("real failure beside the cancellation", func(t *testing.T) {
		t.Parallel()
		p, _ := newFanoutPartner(t, &customers{n: 30})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		boom := errors.New("boom")
		err := p.ForEachSubAccount(ctx, 1, func(ctx context.Context, sa *SubAccount, _ *SubAccountClient) error {
			if sa.ID == 1 {
				return boom
			}
			cancel()
			return ctx.Err()
		})
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorIs(t, err, boom)
		var se *SubAccountError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, ID(1), se.ID)
	})
}
