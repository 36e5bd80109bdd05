package peliqan

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
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

// interleave runs base and other b.N times each, alternating which goes
// first so machine noise hits both alike, and returns their total times.
func interleave(b *testing.B, base, other func() error) (baseDur, otherDur time.Duration) {
	b.Helper()
	for _, f := range []func() error{base, other} { // warm connections
		if err := f(); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		first, second := base, other
		if i%2 == 1 {
			first, second = other, base
		}
		t0 := time.Now()
		if err := first(); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := second(); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if i%2 == 0 {
			baseDur, otherDur = baseDur+t1.Sub(t0), otherDur+t2.Sub(t1)
		} else {
			otherDur, baseDur = otherDur+t1.Sub(t0), baseDur+t2.Sub(t1)
		}
	}
	b.StopTimer()
	return baseDur, otherDur
}
