package peliqan

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/jarcoal/httpmock"
)

// BenchmarkTenantTokenCached measures what the tenant-client cache adds to a
// tenant call once warm: looking the tenant's client up by ref
// (p.SubAccount) and getting its cached identity token, spread over 1,000
// warm tenants from every P at once. No network: the tokens were fetched
// once from a mock before the timer starts. Target: <= 200 ns/op, 0
// allocs/op.
func BenchmarkTenantTokenCached(b *testing.B) {
	const tenants = 1000
	mt := httpmock.NewMockTransport()
	mt.RegisterResponder("GET", ptBase+"/api/partner/sub-account/identity/", func(r *http.Request) (*http.Response, error) {
		return httpmock.NewStringResponse(200, `{"token":"tok-`+r.URL.Query().Get("external_id")+`"}`), nil
	})
	p, err := NewPartnerClient("partner-tok", WithBaseURL(ptBase), WithHTTPClient(&http.Client{Transport: mt}))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	refs := make([]SubAccountRef, tenants)
	for i := range refs {
		refs[i] = ByExternalID(fmt.Sprintf("customer-%04d", i))
		tc, err := p.SubAccount(refs[i])
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tc.c.tokens.token(ctx); err != nil {
			b.Fatal(err)
		}
	}
	fetched := mt.GetTotalCallCount()
	var next atomic.Uint32
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(7919)) // each goroutine starts elsewhere
		for pb.Next() {
			i++
			tc, err := p.SubAccount(refs[i%tenants])
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := tc.c.tokens.token(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if n := mt.GetTotalCallCount(); n != fetched {
		b.Fatalf("the benchmark hit the network: %d requests after warm-up", n-fetched)
	}
}
