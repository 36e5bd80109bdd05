package peliqanotel_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	peliqan "github.com/peliqan-community/peliqan-go"
	peliqanotel "github.com/peliqan-community/peliqan-go/otel"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// findMetric returns the metric called name.
func findMetric(t testing.TB, rm metricdata.ResourceMetrics, name string) metricdata.Metrics {
	t.Helper()
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				assert.Equal(t, peliqanotel.ScopeName, sm.Scope.Name)
				return m
			}
		}
	}
	require.Failf(t, "no metric", "%s", name)
	return metricdata.Metrics{}
}

// pointKey is "route method outcome" of a data point; the set must have
// exactly those three attributes.
func pointKey(t testing.TB, set attribute.Set) string {
	t.Helper()
	assert.Equal(t, 3, set.Len(), "route, method and outcome only: %v", set.ToSlice())
	get := func(k string) string {
		v, _ := set.Value(attribute.Key(k))
		return v.Emit()
	}
	return get("peliqan.route") + " " + get("http.request.method") + " " + get("peliqan.outcome")
}

// findSum returns an int64 counter's values by pointKey.
func findSum(t testing.TB, rm metricdata.ResourceMetrics, name string) map[string]int64 {
	t.Helper()
	sum, ok := findMetric(t, rm, name).Data.(metricdata.Sum[int64])
	require.True(t, ok, "%s is an int64 sum", name)
	assert.True(t, sum.IsMonotonic)
	out := map[string]int64{}
	for _, dp := range sum.DataPoints {
		out[pointKey(t, dp.Attributes)] = dp.Value
	}
	return out
}

func TestMetricsCountCallsAttemptsAndDurationsByRouteAndOutcome(t *testing.T) {
	t.Parallel()
	tel := newTelemetry(t)
	fake, p := fakeWith(t, tel)
	ctx := context.Background()
	sd := fake.Seeded().SubAccounts[0]

	for range 2 {
		_, err := p.ListSubAccounts(ctx, nil)
		require.NoError(t, err)
	}
	fake.FailNext(peliqan.RouteGetSubAccount, 2, peliqantest.StatusFault(http.StatusBadGateway, ""))
	_, err := p.GetSubAccount(ctx, peliqan.ByExternalID(sd.ExternalID))
	require.NoError(t, err)
	fake.FailNext(peliqan.RouteGetSubAccount, 5, peliqantest.StatusFault(http.StatusBadGateway, ""))
	_, err = p.GetSubAccount(ctx, peliqan.ByExternalID(sd.ExternalID))
	require.ErrorIs(t, err, peliqan.ErrServer)
	_, err = p.SubAccountInfo(ctx, 999999)
	require.ErrorIs(t, err, peliqan.ErrNotFound)

	rm := tel.metrics(t)
	assert.Equal(t, map[string]int64{
		"ListSubAccounts GET ok":       2,
		"GetSubAccount GET ok":         1,
		"GetSubAccount GET server":     1,
		"SubAccountInfo GET not_found": 1,
	}, findSum(t, rm, peliqanotel.MetricCalls))
	assert.Equal(t, map[string]int64{
		"ListSubAccounts GET ok":       2,
		"GetSubAccount GET ok":         3,
		"GetSubAccount GET server":     3,
		"SubAccountInfo GET not_found": 1,
	}, findSum(t, rm, peliqanotel.MetricAttempts))

	m := findMetric(t, rm, peliqanotel.MetricCallDuration)
	assert.Equal(t, "s", m.Unit)
	hist, ok := m.Data.(metricdata.Histogram[float64])
	require.True(t, ok, "the duration is a float64 histogram")
	counts := map[string]uint64{}
	for _, dp := range hist.DataPoints {
		counts[pointKey(t, dp.Attributes)] = dp.Count
		assert.Positive(t, dp.Sum)
		assert.Less(t, dp.Sum, 10.0, "seconds, not nanoseconds")
		assert.Contains(t, dp.Bounds, 0.005)
	}
	assert.Equal(t, map[string]uint64{
		"ListSubAccounts GET ok":       2,
		"GetSubAccount GET ok":         1,
		"GetSubAccount GET server":     1,
		"SubAccountInfo GET not_found": 1,
	}, counts)
}
