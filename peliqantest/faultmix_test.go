package peliqantest

import (
	"math"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/peliqan-community/peliqan-go/internal/routes"
)

func TestFaultMixProbabilities(t *testing.T) {
	t.Parallel()
	a, b, c := StatusFault(500, ""), ResetFault(), RetryAfterFault(429, "1")
	rules, err := FaultMix(routes.SyncServer, 0.3, a, b, c)
	require.NoError(t, err)
	require.Len(t, rules, 3)
	// Each rule fires only when the ones before it did not: 0.1 of all
	// requests each.
	want := []float64{0.1, 0.1 / 0.9, 0.1 / 0.8}
	for i, r := range rules {
		assert.Equal(t, routes.SyncServer, r.Route)
		assert.InDelta(t, want[i], r.Probability, 1e-12)
	}
	assert.Equal(t, []Fault{a, b, c}, []Fault{rules[0].Fault, rules[1].Fault, rules[2].Fault})

	all, err := FaultMix("", 1, a, b)
	require.NoError(t, err)
	assert.InDelta(t, 0.5, all[0].Probability, 1e-12)
	assert.InDelta(t, 1, all[1].Probability, 1e-12)

	none, err := FaultMix("", 0, a)
	require.NoError(t, err)
	assert.Equal(t, 0.0, none[0].Probability)
}

func TestFaultMixShares(t *testing.T) {
	t.Parallel()
	srv := NewFake(t, WithFaultSeed(7), WithRecordLimit(0))
	rules, err := FaultMix("", 0.3, StatusFault(500, ""), StatusFault(503, ""), RetryAfterFault(429, "1"))
	require.NoError(t, err)
	for _, r := range rules {
		srv.AddFaultRule(r)
	}
	const n = 6000
	serveDirect(srv, n)
	by := srv.Counts().ByStatus
	// Expected 600 each; 4 standard deviations is about 90.
	for _, code := range []int{500, 503, 429} {
		assert.InDelta(t, 600, by[code], 90, "status %d", code)
	}
	assert.InDelta(t, 4200, by[http.StatusUnauthorized], 140)
	assert.Equal(t, n, by[500]+by[503]+by[429]+by[http.StatusUnauthorized])
	assert.Equal(t, 0, srv.Counts().RateLimited, "injected 429s are faults, not the rate limit")
}

func TestFaultMixRefusesBadInput(t *testing.T) {
	t.Parallel()
	f := StatusFault(500, "")
	for name, call := range map[string]func() ([]FaultRule, error){
		"negative":      func() ([]FaultRule, error) { return FaultMix("", -0.1, f) },
		"above one":     func() ([]FaultRule, error) { return FaultMix("", 1.5, f) },
		"NaN":           func() ([]FaultRule, error) { return FaultMix("", math.NaN(), f) },
		"no faults":     func() ([]FaultRule, error) { return FaultMix("", 0.5) },
		"unknown route": func() ([]FaultRule, error) { return FaultMix("Nope", 0.5, f) },
		"unknown kind":  func() ([]FaultRule, error) { return FaultMix("", 0.5, Fault{}) },
	} {
		_, err := call()
		assert.Error(t, err, name)
	}
}
