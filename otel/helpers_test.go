package peliqanotel_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	peliqan "github.com/peliqan-community/peliqan-go"
	peliqanotel "github.com/peliqan-community/peliqan-go/otel"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// telemetry is an in-memory tracer and meter provider and the hook wired to
// them.
type telemetry struct {
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
	hook   peliqan.CallHook
}

func newTelemetry(t testing.TB) *telemetry {
	t.Helper()
	tel := &telemetry{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	tel.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tel.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(tel.reader))
	t.Cleanup(func() {
		_ = tel.tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	var err error
	tel.hook, err = peliqanotel.Hook(peliqanotel.WithTracerProvider(tel.tp), peliqanotel.WithMeterProvider(mp))
	require.NoError(t, err)
	return tel
}

// ended returns the ended spans, optionally only those of one route.
func (tel *telemetry) ended(route ...string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range tel.spans.Ended() {
		if len(route) == 0 || attr(s.Attributes(), "peliqan.route") == route[0] {
			out = append(out, s)
		}
	}
	return out
}

func (tel *telemetry) metrics(t testing.TB) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, tel.reader.Collect(context.Background(), &rm))
	return rm
}

// attr returns the value of key among attrs as a string ("" when absent).
func attr(attrs []attribute.KeyValue, key string) string {
	for _, kv := range attrs {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

func hasAttr(attrs []attribute.KeyValue, key string) bool {
	for _, kv := range attrs {
		if string(kv.Key) == key {
			return true
		}
	}
	return false
}

// events returns the names of a span's events.
func events(s sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, e := range s.Events() {
		out = append(out, e.Name)
	}
	return out
}

// fakeWith starts the fake with one customer (a Pipedrive connection with a
// table, a script) and returns a partner client carrying the hook.
func fakeWith(t testing.TB, tel *telemetry, opts ...peliqan.Option) (*peliqantest.Fake, *peliqan.PartnerClient) {
	t.Helper()
	fake := peliqantest.NewFake(t, peliqantest.WithFixture(peliqantest.Fixture{SubAccounts: []peliqantest.SubAccountFixture{
		{ExternalID: "ext-SECRET-acme", CompanyName: "Acme", Email: "ops@acme.example",
			Connections: []peliqantest.ConnectionFixture{{Type: "pipedrive", Tables: []peliqantest.TableFixture{
				{Name: "contacts", Fields: []peliqantest.FieldFixture{{Name: "name", Type: "text"}}, GeneratedRows: 5}}},
				{Type: "saltedge"}},
			Scripts: []peliqantest.ScriptFixture{{Name: "nightly", Code: "print(1)"}}},
		{ExternalID: "ext-SECRET-victim", CompanyName: "Victim"},
	}}), peliqantest.WithSyncDuration(time.Millisecond), peliqantest.WithScriptRunDuration(time.Millisecond))
	p, err := fake.PartnerClient(append([]peliqan.Option{peliqan.WithCallHook(tel.hook)}, opts...)...)
	require.NoError(t, err)
	return fake, p
}
