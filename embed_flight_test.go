package peliqan_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// integrateEnv is IntegrationTokenHandler on a loopback server, minting
// through a partner client whose integrate requests reach the fake through
// a front server that holds them until the test opens the gate.
type integrateEnv struct {
	fake    *peliqantest.Fake
	h       http.Handler
	site    *httptest.Server // serves h
	gate    chan struct{}
	arrived atomic.Int32 // integrate requests that reached the front
}

const integratePath = "/api/partner/sub-account/integrate/"

func newIntegrateEnv(t *testing.T) *integrateEnv {
	t.Helper()
	e := &integrateEnv{fake: peliqantest.NewFake(t), gate: make(chan struct{})}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == integratePath {
			e.arrived.Add(1)
			select {
			case <-e.gate:
			case <-r.Context().Done():
				return
			}
		}
		e.fake.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	p, err := peliqan.NewPartnerClient(e.fake.PartnerToken(), peliqan.WithBaseURL(front.URL), peliqan.WithRetryPolicy(zeroWait))
	require.NoError(t, err)
	identify := func(r *http.Request) (peliqan.Integration, error) {
		c := r.Header.Get("X-Customer")
		return peliqan.Integration{ExternalID: c, FirstName: "F", LastName: "L", Email: c + "@example.test", CompanyName: "Co " + c}, nil
	}
	e.h = mustHandler(peliqan.IntegrationTokenHandler(p, identify))
	e.site = httptest.NewServer(e.h)
	t.Cleanup(e.site.Close)
	t.Cleanup(e.open) // never leave a request held
	return e
}

func (e *integrateEnv) open() {
	select {
	case <-e.gate:
	default:
		close(e.gate)
	}
}

type tokenResult struct {
	status int
	token  string
	err    error
}

// post asks the handler for customer's token over a real connection.
func (e *integrateEnv) post(ctx context.Context, customer string) tokenResult {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.site.URL+"/token", nil)
	if err != nil {
		return tokenResult{err: err}
	}
	req.Header.Set("X-Customer", customer)
	resp, err := e.site.Client().Do(req)
	if err != nil {
		return tokenResult{err: err}
	}
	defer resp.Body.Close()
	var body struct {
		Token string `json:"integration_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&body)
	return tokenResult{status: resp.StatusCode, token: body.Token, err: err}
}

// postAsync starts post and returns where its result arrives.
func (e *integrateEnv) postAsync(ctx context.Context, customer string) <-chan tokenResult {
	out := make(chan tokenResult, 1)
	go func() { out <- e.post(ctx, customer) }()
	return out
}

// waitWaiters waits until n handler requests for customer wait on its one
// in-flight integrate call.
func (e *integrateEnv) waitWaiters(t *testing.T, customer string, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return peliqan.TokenHandlerWaiters(e.h, customer) == n },
		10*time.Second, time.Millisecond, "%d requests for %s waiting", n, customer)
}

// TestIntegrationTokenHandlerSharesOneIntegratePerCustomer: 10 concurrent
// first loads for one customer send one POST .../integrate/ (a route that
// creates the sub-account), and all 10 get its token.
func TestIntegrationTokenHandlerSharesOneIntegratePerCustomer(t *testing.T) {
	t.Parallel()
	e := newIntegrateEnv(t)
	var results []<-chan tokenResult
	for range 10 {
		results = append(results, e.postAsync(context.Background(), "acme"))
	}
	e.waitWaiters(t, "acme", 10)
	require.Eventually(t, func() bool { return e.arrived.Load() == 1 }, 10*time.Second, time.Millisecond,
		"the one integrate request reaches the server")
	e.open()
	var tokens []string
	for _, ch := range results {
		r := <-ch
		require.NoError(t, r.err)
		require.Equal(t, http.StatusOK, r.status)
		tokens = append(tokens, r.token)
	}
	assert.Equal(t, 1, e.fake.Count(peliqan.RouteIntegrationToken), "10 first loads, 1 integrate")
	for _, tok := range tokens {
		assert.Equal(t, tokens[0], tok, "everyone got the one minted token")
	}
	// The next load is served from the cache.
	r := e.post(context.Background(), "acme")
	require.NoError(t, r.err)
	assert.Equal(t, tokens[0], r.token)
	assert.Equal(t, 1, e.fake.Count(peliqan.RouteIntegrationToken))
}

// TestIntegrationTokenHandlerCustomersInParallel: the sharing is per
// customer: two customers' integrate calls are in flight at the same time.
func TestIntegrationTokenHandlerCustomersInParallel(t *testing.T) {
	t.Parallel()
	e := newIntegrateEnv(t)
	var results []<-chan tokenResult
	for range 3 {
		for _, c := range []string{"acme", "wood"} {
			results = append(results, e.postAsync(context.Background(), c))
		}
	}
	e.waitWaiters(t, "acme", 3)
	e.waitWaiters(t, "wood", 3)
	require.Eventually(t, func() bool { return e.arrived.Load() == 2 }, 10*time.Second, time.Millisecond,
		"both customers' integrate calls are held at the same time")
	e.open()
	for _, ch := range results {
		r := <-ch
		require.NoError(t, r.err)
		assert.Equal(t, http.StatusOK, r.status)
	}
	assert.Equal(t, 2, e.fake.Count(peliqan.RouteIntegrationToken))
}

// TestIntegrationTokenHandlerCancelledWaiterLeavesOthers: the request that
// started the integrate call goes away; the call goes on for the others,
// who get its token, and the integrate request itself is answered 200.
func TestIntegrationTokenHandlerCancelledWaiterLeavesOthers(t *testing.T) {
	t.Parallel()
	e := newIntegrateEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	first := e.postAsync(ctx, "acme")
	e.waitWaiters(t, "acme", 1)
	others := []<-chan tokenResult{e.postAsync(context.Background(), "acme"), e.postAsync(context.Background(), "acme")}
	e.waitWaiters(t, "acme", 3)
	cancel()
	assert.ErrorIs(t, (<-first).err, context.Canceled)
	e.waitWaiters(t, "acme", 2)
	e.open()
	var tokens []string
	for _, ch := range others {
		r := <-ch
		require.NoError(t, r.err)
		require.Equal(t, http.StatusOK, r.status)
		tokens = append(tokens, r.token)
	}
	assert.Equal(t, tokens[0], tokens[1])
	assert.Equal(t, 1, e.fake.Count(peliqan.RouteIntegrationToken))
	var statuses []int
	for _, q := range e.fake.Requests() {
		if q.Route == peliqan.RouteIntegrationToken {
			statuses = append(statuses, q.Status)
		}
	}
	assert.Equal(t, []int{http.StatusOK}, statuses, "the shared integrate call was not cancelled")
}
