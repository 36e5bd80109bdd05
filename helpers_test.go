package peliqan

import (
	"bytes"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/require"

	"github.com/peliqan-community/peliqan-go/internal/routes"
)

const (
	testBase         = "https://api.test/base"
	testPartnerToken = "partner-secret-token-0123456789"
	testTenantToken  = "tenant-secret-token-9876543210"
)

// fastRetries retries at once, so retry tests take no wall time.
func fastRetries(attempts int) RetryPolicy {
	return RetryPolicy{MaxAttempts: attempts, Backoff: BackoffConstant, MaxRetryAfter: 0}
}

// mockPartner returns a partner client whose transport is its own httpmock
// transport (never the global one), so tests run in parallel.
func mockPartner(t *testing.T, opts ...Option) (*PartnerClient, *httpmock.MockTransport) {
	t.Helper()
	mt := httpmock.NewMockTransport()
	all := append([]Option{WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: mt}),
		WithRetryPolicy(fastRetries(3))}, opts...)
	p, err := NewPartnerClient(testPartnerToken, all...)
	require.NoError(t, err)
	return p, mt
}

func mockTenant(t *testing.T, opts ...Option) (*SubAccountClient, *httpmock.MockTransport) {
	t.Helper()
	mt := httpmock.NewMockTransport()
	all := append([]Option{WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: mt}),
		WithRetryPolicy(fastRetries(3))}, opts...)
	s, err := NewSubAccountClient(testTenantToken, all...)
	require.NoError(t, err)
	return s, mt
}

// sequence answers with the given responders in turn (the last one repeats)
// and counts the requests it saw.
func sequence(count *atomic.Int32, rs ...httpmock.Responder) httpmock.Responder {
	return func(req *http.Request) (*http.Response, error) {
		n := int(count.Add(1)) - 1
		if n >= len(rs) {
			n = len(rs) - 1
		}
		return rs[n](req)
	}
}

func mustRoute(name string) *routes.Route { return routes.MustLookup(name) }

// safeBuffer is a bytes.Buffer safe for a logger and a test to share.
type safeBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *safeBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *safeBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// mustHandler unwraps a handler constructor's result; the tests that use it
// pass valid arguments.
func mustHandler(h http.Handler, err error) http.Handler {
	if err != nil {
		panic(err)
	}
	return h
}
