package peliqanotel_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// BenchmarkHookOverhead: a round trip against the fake with the hook
// recording to the OpenTelemetry SDK, against the same round trip without
// it. "hook-ratio" is their ratio (target: under 1.1), "hook-ns" the
// difference per call.
func BenchmarkHookOverhead(b *testing.B) {
	tel := newTelemetry(b)
	fake := peliqantest.NewFake(b)
	plain, err := fake.PartnerClient()
	require.NoError(b, err)
	hooked, err := fake.PartnerClient(peliqan.WithCallHook(tel.hook))
	require.NoError(b, err)
	ctx := context.Background()
	call := func(p *peliqan.PartnerClient) time.Duration {
		start := time.Now()
		_, err := p.ServerTypes(ctx)
		if err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	call(plain)
	call(hooked)

	var without, with time.Duration
	for b.Loop() {
		without += call(plain)
		with += call(hooked)
	}
	b.ReportMetric(float64(with)/float64(without), "hook-ratio")
	b.ReportMetric(float64(with-without)/float64(b.N), "hook-ns")
}
