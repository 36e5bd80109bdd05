package peliqan

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkCallHookOverhead times the public ListServers on a 50-item list
// with and without a no-op CallHook (all three functions set), interleaved
// in one run. ratio = with hook / without; a hook that costs nothing
// measurable stays within noise of 1.00.
func BenchmarkCallHookOverhead(b *testing.B) {
	body := benchListBody(50)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	defer srv.Close()
	plain, err := NewSubAccountClient(testTenantToken, WithBaseURL(srv.URL))
	if err != nil {
		b.Fatal(err)
	}
	hooked, err := NewSubAccountClient(testTenantToken, WithBaseURL(srv.URL), WithCallHook(CallHook{
		Start:   func(ctx context.Context, _ CallInfo) context.Context { return ctx },
		Attempt: func(context.Context, CallInfo, AttemptInfo) {},
		End:     func(context.Context, CallInfo, CallResult) {},
	}))
	if err != nil {
		b.Fatal(err)
	}
	list := func(s *SubAccountClient) func() error {
		return func() error {
			out, err := s.ListServers(context.Background())
			if err == nil && len(out) != 50 {
				err = fmt.Errorf("got %d items", len(out))
			}
			return err
		}
	}
	without, with := interleave(b, list(plain), list(hooked))
	b.ReportMetric(float64(with)/float64(without), "ratio")
	b.ReportMetric(float64(without.Nanoseconds())/float64(b.N), "nohook-ns/op")
	b.ReportMetric(float64(with.Nanoseconds())/float64(b.N), "hook-ns/op")
}
