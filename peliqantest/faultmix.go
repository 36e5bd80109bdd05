package peliqantest

import (
	"errors"
	"fmt"

	"github.com/peliqan-community/peliqan-go/internal/routes"
)

// FaultMix returns rules under which a share rate (0..1) of the requests to
// route (a peliqan.Route* name, or "" for every route) get one of faults,
// each as often as the others: rate 0.3 with a 500, a reset and a 429
// faults 10% of requests with each. Add the rules with AddFaultRule, in
// order: each fires only when the ones before it did not, so its
// probability is its share of what is left. They draw from the seeded
// source (WithFaultSeed), so a run's faults repeat.
//
// Only one fault applies to a request, so a constant latency cannot be a
// second rule beside the mix: set Delay on the mix's faults and add the
// latency rule after them (the peliqan-fake command's -latency does this).
func FaultMix(route string, rate float64, faults ...Fault) ([]FaultRule, error) {
	if route != "" {
		if _, ok := routes.Lookup(route); !ok {
			return nil, fmt.Errorf("peliqantest: FaultMix: %w: %q", errUnknownRoute, route)
		}
	}
	if !(rate >= 0 && rate <= 1) {
		return nil, fmt.Errorf("peliqantest: FaultMix: rate %v is outside 0..1", rate)
	}
	if len(faults) == 0 {
		return nil, errors.New("peliqantest: FaultMix: no faults")
	}
	share := rate / float64(len(faults))
	rules := make([]FaultRule, len(faults))
	for i, f := range faults {
		if f.Kind < FaultStatus || f.Kind > FaultOversizedBody {
			return nil, fmt.Errorf("peliqantest: FaultMix: fault %d has unknown kind %v", i, f.Kind)
		}
		p := 0.0
		if left := 1 - float64(i)*share; left > 0 {
			p = min(1, share/left)
		}
		rules[i] = FaultRule{Route: route, Probability: p, Fault: f}
	}
	return rules, nil
}
