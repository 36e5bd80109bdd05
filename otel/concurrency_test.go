package peliqanotel_test

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	peliqan "github.com/peliqan-community/peliqan-go"
	peliqanotel "github.com/peliqan-community/peliqan-go/otel"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// spanSeer records the span in the context of every request it sends.
type spanSeer struct {
	mu   sync.Mutex
	seen []trace.SpanContext
}

func (s *spanSeer) RoundTrip(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	s.seen = append(s.seen, trace.SpanContextFromContext(r.Context()))
	s.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// A tracing transport (otelhttp) nests its per-attempt spans under the
// call's span, and propagates that span to the server.
func TestEveryAttemptIsSentWithTheCallsSpanInItsContext(t *testing.T) {
	t.Parallel()
	tel := newTelemetry(t)
	seer := &spanSeer{}
	fake, p := fakeWith(t, tel, peliqan.WithHTTPClient(&http.Client{Transport: seer}))
	fake.FailNext(peliqan.RouteListSubAccounts, 1, peliqantest.StatusFault(http.StatusServiceUnavailable, ""))
	_, err := p.ListSubAccounts(context.Background(), nil)
	require.NoError(t, err)

	spans := tel.ended()
	require.Len(t, spans, 1)
	seer.mu.Lock()
	defer seer.mu.Unlock()
	require.Len(t, seer.seen, 2, "two attempts")
	for _, sc := range seer.seen {
		assert.Equal(t, spans[0].SpanContext().SpanID(), sc.SpanID())
	}
}

// One hook serves many goroutines: each call gets its own span and its own
// events (run with -race).
func TestConcurrentCallsKeepTheirOwnSpans(t *testing.T) {
	t.Parallel()
	tel := newTelemetry(t)
	fake, p := fakeWith(t, tel)
	const workers, calls = 8, 10
	fake.FailNext(peliqan.RouteServerTypes, workers*calls/2, peliqantest.StatusFault(http.StatusBadGateway, ""))
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range calls {
				_, _ = p.ServerTypes(context.Background()) // some fail three times
			}
		})
	}
	wg.Wait()

	spans := tel.ended()
	require.Len(t, spans, workers*calls)
	attempts := 0
	for _, s := range spans {
		n, err := strconv.Atoi(attr(s.Attributes(), "peliqan.attempts"))
		require.NoError(t, err)
		attempts += n
		retries := 0
		for _, e := range events(s) {
			if e == peliqanotel.EventRetry {
				retries++
			}
		}
		assert.Equal(t, n-1, retries, "a span's retry events are its own attempts")
	}
	assert.Equal(t, fake.Count(peliqan.RouteServerTypes), attempts)
	sum := func(m map[string]int64) (n int64) {
		for _, v := range m {
			n += v
		}
		return n
	}
	rm := tel.metrics(t)
	assert.Equal(t, int64(workers*calls), sum(findSum(t, rm, peliqanotel.MetricCalls)))
	assert.Equal(t, int64(attempts), sum(findSum(t, rm, peliqanotel.MetricAttempts)))
}
