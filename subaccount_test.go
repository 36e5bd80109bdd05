package peliqan

import (
	"context"
	"errors"
	"fmt"
	"net/http"
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

const (
	identityURL = ptBase + "/api/partner/sub-account/identity/"
	serversURL  = ptBase + "/api/servers/"
)

// identityServer answers identity-token requests with "tok-1", "tok-2", ...
// (or what next returns) and counts them.
type identityServer struct {
	calls atomic.Int32
	delay time.Duration
	next  func(n int32) string
	mu    sync.Mutex
	qs    []string
}

func (s *identityServer) responder(req *http.Request) (*http.Response, error) {
	n := s.calls.Add(1)
	s.mu.Lock()
	s.qs = append(s.qs, req.URL.RawQuery)
	s.mu.Unlock()
	if s.delay > 0 {
		select {
		case <-time.After(s.delay):
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
	tok := fmt.Sprintf("tok-%d", n)
	if s.next != nil {
		tok = s.next(n)
	}
	return jsonResp(200, `{"token":"`+tok+`"}`)(req)
}

// acceptOnly answers 200 to requests bearing one of the given tokens and 401
// to any other, counting both.
func acceptOnly(ok, refused *atomic.Int32, accept func(auth string) bool) httpmock.Responder {
	return func(req *http.Request) (*http.Response, error) {
		if accept(req.Header.Get("Authorization")) {
			ok.Add(1)
			return jsonResp(200, `[]`)(req)
		}
		refused.Add(1)
		return jsonResp(401, `{"detail":"Signature has expired."}`)(req)
	}
}

func TestSubAccountClientIsLazyAndCached(t *testing.T) {
	t.Parallel()
	p, mt, _ := newMockPartner(t)
	a, err := p.SubAccount(ByExternalID("wood_123"))
	require.NoError(t, err)
	b, err := p.SubAccount(ByExternalID("wood_123"))
	require.NoError(t, err)
	c, err := p.SubAccount(ByAccountID(12))
	require.NoError(t, err)
	assert.Same(t, a, b, "the same ref gives the same client")
	assert.NotSame(t, a, c)
	assert.Zero(t, mt.GetTotalCallCount(), "SubAccount does no I/O")
	assert.Equal(t, "peliqan.SubAccountClient{"+ptBase+"}", a.String())
	assert.Same(t, p.c.rc, a.c.rc, "the tenant client shares the partner's transport and retry layer")

	for _, ref := range []SubAccountRef{{}, ByExternalID(""), ByExternalID(" \t"), ByExternalID("a\nb"), ByAccountID(0), ByAccountID(-1)} {
		_, err := p.SubAccount(ref)
		require.ErrorIs(t, err, ErrInvalidArgument, ref.String())
	}
	assert.Equal(t, 2, p.st.tenants.len(), "invalid refs are never cached")
}

func TestColdTenantClient1000GoroutinesOneIdentityRequest(t *testing.T) {
	t.Parallel()
	p, mt, _ := newMockPartner(t)
	ids := &identityServer{delay: 20 * time.Millisecond}
	mt.RegisterResponder("GET", identityURL, ids.responder)
	var ok, refused atomic.Int32
	mt.RegisterResponder("GET", serversURL, acceptOnly(&ok, &refused, func(a string) bool { return a == "JWT tok-1" }))

	const n = 1000
	start := make(chan struct{})
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			t, err := p.SubAccount(ByExternalID("wood_123"))
			if err == nil {
				err = t.Do(context.Background(), "GET", "/api/servers/", nil, nil)
			}
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, int32(1), ids.calls.Load(), "exactly one identity-token request")
	assert.Equal(t, []string{"expire=false&external_id=wood_123"}, ids.qs)
	assert.Equal(t, int32(n), ok.Load())
	assert.Zero(t, refused.Load())
}

func TestTenant401RefetchesOnceAndReplaysOnce(t *testing.T) {
	t.Parallel()
	t.Run("expired token: one refetch, one replay", func(t *testing.T) {
		t.Parallel()
		p, mt, _ := newMockPartner(t)
		ids := &identityServer{}
		mt.RegisterResponder("GET", identityURL, ids.responder)
		var ok, refused atomic.Int32
		mt.RegisterResponder("GET", serversURL, acceptOnly(&ok, &refused, func(a string) bool { return a == "JWT tok-2" }))
		tc, err := p.SubAccount(ByAccountID(7))
		require.NoError(t, err)
		var resp Response
		require.NoError(t, tc.Do(context.Background(), "GET", "/api/servers/", nil, nil, WithResponse(&resp)))
		assert.Equal(t, int32(2), ids.calls.Load(), "first fetch + one refetch")
		assert.Equal(t, int32(1), refused.Load())
		assert.Equal(t, int32(1), ok.Load(), "one replay")
		assert.Equal(t, 2, resp.Attempts)
		assert.Equal(t, []string{"account_id=7&expire=false", "account_id=7&expire=false"}, ids.qs)

		// The fresh token is kept: the next call sends it at once.
		require.NoError(t, tc.Do(context.Background(), "GET", "/api/servers/", nil, nil))
		assert.Equal(t, int32(2), ids.calls.Load())
		assert.Equal(t, int32(2), ok.Load())
	})
	t.Run("side-effect GET is replayed too", func(t *testing.T) {
		t.Parallel()
		p, mt, _ := newMockPartner(t)
		ids := &identityServer{}
		mt.RegisterResponder("GET", identityURL, ids.responder)
		var ok, refused atomic.Int32
		mt.RegisterResponder("GET", ptBase+"/api/servers/5/syncdb/",
			acceptOnly(&ok, &refused, func(a string) bool { return a == "JWT tok-2" }))
		tc, err := p.SubAccount(ByAccountID(7))
		require.NoError(t, err)
		require.NoError(t, tc.Do(context.Background(), "GET", "/api/servers/5/syncdb/", nil, nil))
		assert.Equal(t, int32(1), refused.Load())
		assert.Equal(t, int32(1), ok.Load())
		assert.Equal(t, int32(2), ids.calls.Load())
	})
	t.Run("fresh token refused too: no loop", func(t *testing.T) {
		t.Parallel()
		p, mt, _ := newMockPartner(t)
		ids := &identityServer{}
		mt.RegisterResponder("GET", identityURL, ids.responder)
		var ok, refused atomic.Int32
		mt.RegisterResponder("GET", serversURL, acceptOnly(&ok, &refused, func(string) bool { return false }))
		tc, _ := p.SubAccount(ByAccountID(7))
		err := tc.Do(context.Background(), "GET", "/api/servers/", nil, nil)
		require.ErrorIs(t, err, ErrUnauthorized)
		assert.Equal(t, int32(2), ids.calls.Load())
		assert.Equal(t, int32(2), refused.Load(), "the call and its one replay")
		assert.NotContains(t, err.Error(), "tok-")
	})
	t.Run("server hands back the refused token: no replay", func(t *testing.T) {
		t.Parallel()
		p, mt, _ := newMockPartner(t)
		ids := &identityServer{next: func(int32) string { return "same" }}
		mt.RegisterResponder("GET", identityURL, ids.responder)
		var ok, refused atomic.Int32
		mt.RegisterResponder("GET", serversURL, acceptOnly(&ok, &refused, func(string) bool { return false }))
		tc, _ := p.SubAccount(ByAccountID(7))
		require.ErrorIs(t, tc.Do(context.Background(), "GET", "/api/servers/", nil, nil), ErrUnauthorized)
		assert.Equal(t, int32(2), ids.calls.Load())
		assert.Equal(t, int32(1), refused.Load())
	})
	t.Run("50 concurrent 401s: one refetch, each call replayed once", func(t *testing.T) {
		t.Parallel()
		p, mt, _ := newMockPartner(t)
		ids := &identityServer{}
		mt.RegisterResponder("GET", identityURL, ids.responder)
		var rotated atomic.Bool
		var ok, refused atomic.Int32
		mt.RegisterResponder("GET", serversURL, acceptOnly(&ok, &refused, func(a string) bool {
			if rotated.Load() {
				return a == "JWT tok-2"
			}
			return a == "JWT tok-1"
		}))
		tc, _ := p.SubAccount(ByAccountID(7))
		require.NoError(t, tc.Do(context.Background(), "GET", "/api/servers/", nil, nil)) // warm: tok-1
		rotated.Store(true)
		ids.delay = 0
		ok.Store(0)

		const n = 50
		var wg sync.WaitGroup
		attempts := make(chan int, n)
		errs := make(chan error, n)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var resp Response
				errs <- tc.Do(context.Background(), "GET", "/api/servers/", nil, nil, WithResponse(&resp))
				attempts <- resp.Attempts
			}()
		}
		wg.Wait()
		close(errs)
		close(attempts)
		for err := range errs {
			require.NoError(t, err)
		}
		for a := range attempts {
			assert.LessOrEqual(t, a, 2)
		}
		assert.Equal(t, int32(2), ids.calls.Load(), "one refetch however many calls were refused")
		assert.Equal(t, int32(n), ok.Load())
		assert.Positive(t, refused.Load())
	})
}

func TestIdentityTokenFailureIsReturnedAndNotCached(t *testing.T) {
	t.Parallel()
	p, mt, _ := newMockPartner(t)
	var calls atomic.Int32
	mt.RegisterResponder("GET", identityURL, func(r *http.Request) (*http.Response, error) {
		calls.Add(1)
		return jsonResp(404, `{"detail":"Sub-account not found"}`)(r)
	})
	tc, err := p.SubAccount(ByExternalID("ghost"))
	require.NoError(t, err)
	for i := 1; i <= 2; i++ {
		err = tc.Do(context.Background(), "GET", "/api/servers/", nil, nil)
		require.ErrorIs(t, err, ErrNotFound)
		assert.Contains(t, err.Error(), `external_id="ghost"`)
		assert.Equal(t, int32(i), calls.Load(), "a failed fetch is tried again by the next call")
	}
}

func TestTenantTokenRefreshedAheadOfExp(t *testing.T) {
	t.Parallel()
	p, mt, _ := newMockPartner(t)
	exp := time.Now().Add(2 * time.Hour).Truncate(time.Second)
	tok := makeJWT(t, exp)
	ids := &identityServer{next: func(int32) string { return tok }}
	mt.RegisterResponder("GET", identityURL, ids.responder)
	mt.RegisterResponder("GET", serversURL, jsonResp(200, `[]`))
	tc, _ := p.SubAccount(ByAccountID(7))
	require.NoError(t, tc.Do(context.Background(), "GET", "/api/servers/", nil, nil))
	ts := tc.c.tokens.(*tenantTokens)
	cur := ts.cur.Load()
	require.NotNil(t, cur)
	assert.True(t, exp.Add(-tokenRefreshMargin).Equal(cur.refreshAt), "refreshAt %s", cur.refreshAt)

	ts.cur.Store(&cachedToken{tok: tok, refreshAt: time.Now().Add(-time.Second)})
	require.NoError(t, tc.Do(context.Background(), "GET", "/api/servers/", nil, nil))
	assert.Equal(t, int32(2), ids.calls.Load(), "a token near its exp is fetched again before use")
}

func TestCachedTokenSchedule(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		exp       time.Time
		refreshAt time.Time
	}{
		{"no exp", time.Time{}, time.Time{}},
		{"already past exp", now.Add(-time.Second), time.Time{}},
		{"an hour", now.Add(time.Hour), now.Add(time.Hour - tokenRefreshMargin)},
		{"short-lived: half-way", now.Add(90 * time.Second), now.Add(45 * time.Second)},
		{"year 9999 means never", time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), time.Time{}},
		{"past the int64 nanosecond range", time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), time.Time{}},
		{"99 years is still scheduled", now.Add(99 * 365 * 24 * time.Hour), now.Add(99*365*24*time.Hour - tokenRefreshMargin)},
	} {
		c := newCachedToken(&IdentityToken{Token: "t", ExpiresAt: tc.exp}, now)
		assert.True(t, tc.refreshAt.Equal(c.refreshAt), "%s: refreshAt %s, want %s", tc.name, c.refreshAt, tc.refreshAt)
		assert.True(t, c.fresh(now), tc.name)
	}
}

func TestDeleteSubAccountForgetsTenantClient(t *testing.T) {
	t.Parallel()
	p, mt, _ := newMockPartner(t)
	mt.RegisterResponder("DELETE", ptBase+"/api/partner/sub-accounts/7/", jsonResp(204, ``))
	a, _ := p.SubAccount(ByAccountID(7))
	require.NoError(t, p.DeleteSubAccount(context.Background(), 7))
	b, _ := p.SubAccount(ByAccountID(7))
	assert.NotSame(t, a, b)
}

func TestTenantCacheIsBounded(t *testing.T) {
	t.Parallel()
	tc := newTenantCache(128)
	hot := ByExternalID("hot")
	hotClient := tc.getOrCreate(hot, func() *SubAccountClient { return &SubAccountClient{} })
	for i := range 5000 {
		ref := ByAccountID(ID(i + 1))
		tc.getOrCreate(ref, func() *SubAccountClient { return &SubAccountClient{} })
		require.Same(t, hotClient, tc.get(hot), "a tenant in use is not evicted by a scan (after %d)", i)
	}
	assert.LessOrEqual(t, tc.len(), 128)
	tc.remove(hot)
	assert.Nil(t, tc.get(hot))
}

func TestSubAccountRef(t *testing.T) {
	t.Parallel()
	e := ByExternalID("wood_123")
	v, ok := e.ExternalID()
	assert.True(t, ok)
	assert.Equal(t, "wood_123", v)
	_, ok = e.AccountID()
	assert.False(t, ok)
	assert.Equal(t, `external_id="wood_123"`, e.String())
	assert.Equal(t, "account_id=12", ByAccountID(12).String())
	assert.True(t, SubAccountRef{}.IsZero())
	assert.Equal(t, ByExternalID("x"), ByExternalID("x"), "refs are comparable")
}

// waiters counts the callers waiting on key's flight (0 when none runs).
func waiters[K comparable, V any](g *flightGroup[K, V], key K) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c := g.m[key]; c != nil {
		return c.waiters
	}
	return 0
}

// The tests below check that no goroutine outlives a cancelled call. They
// are not parallel: goleak sees every goroutine of the process, and other
// tests running alongside would be reported.

func TestCancelledWaiterLeavesAndLastOneCancelsTheFetch(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	p, mt, _ := newMockPartner(t)
	release := make(chan struct{})
	var fetchCancelled atomic.Int32
	var calls atomic.Int32
	mt.RegisterResponder("GET", identityURL, func(r *http.Request) (*http.Response, error) {
		calls.Add(1)
		select {
		case <-release:
			return jsonResp(200, `{"token":"tok"}`)(r)
		case <-r.Context().Done():
			fetchCancelled.Add(1)
			return nil, r.Context().Err()
		}
	})
	mt.RegisterResponder("GET", serversURL, jsonResp(200, `[]`))
	tc, _ := p.SubAccount(ByAccountID(7))

	// One impatient caller leaves; a patient one still gets the token.
	short, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	patient := make(chan error, 1)
	go func() { patient <- tc.Do(context.Background(), "GET", "/api/servers/", nil, nil) }()
	flights := &tc.c.tokens.(*tenantTokens).flights
	require.Eventually(t, func() bool { return waiters(flights, struct{}{}) == 1 }, 5*time.Second, time.Millisecond)
	begin := time.Now()
	err := tc.Do(short, "GET", "/api/servers/", nil, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(begin), time.Second, "the waiter leaves promptly")
	close(release)
	require.NoError(t, <-patient)
	assert.Equal(t, int32(1), calls.Load())
	assert.Zero(t, fetchCancelled.Load(), "one caller leaving does not cancel the others' fetch")

	// When every caller leaves, the fetch itself is cancelled.
	tc2, _ := p.SubAccount(ByAccountID(8))
	mt.RegisterResponder("GET", identityURL, func(r *http.Request) (*http.Response, error) {
		<-r.Context().Done()
		fetchCancelled.Add(1)
		return nil, r.Context().Err()
	})
	ctx, cancel2 := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := tc2.Do(ctx, "GET", "/api/servers/", nil, nil)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("want context.Canceled, got %v", err)
			}
		}()
	}
	flights2 := &tc2.c.tokens.(*tenantTokens).flights
	require.Eventually(t, func() bool { return waiters(flights2, struct{}{}) == 5 }, 5*time.Second, time.Millisecond)
	cancel2()
	wg.Wait()
	require.Eventually(t, func() bool { return fetchCancelled.Load() == 1 }, time.Second, 5*time.Millisecond)
}

func TestFlightGroupSharesAndClaimsOnce(t *testing.T) {
	t.Parallel()
	var g flightGroup[string, int]
	var runs atomic.Int32
	gate := make(chan struct{})
	var firsts atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, first, err := g.do(context.Background(), "k", func(context.Context) (int, error) {
				runs.Add(1)
				<-gate
				return 42, nil
			})
			if err != nil || v != 42 {
				t.Errorf("got %d, %v", v, err)
			}
			if first {
				firsts.Add(1)
			}
		}()
	}
	require.Eventually(t, func() bool { return waiters(&g, "k") == 20 }, 5*time.Second, time.Millisecond)
	close(gate)
	wg.Wait()
	assert.Equal(t, int32(1), runs.Load())
	assert.Equal(t, int32(1), firsts.Load())

	_, _, err := g.do(context.Background(), "e", func(context.Context) (int, error) { return 0, errors.New("boom") })
	require.EqualError(t, err, "boom")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err = g.do(cancelled, "k", func(context.Context) (int, error) { return 1, nil })
	require.ErrorIs(t, err, context.Canceled)
	assert.False(t, strings.Contains(fmt.Sprint(g.m), "k"), "no flight left behind")
}
