package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/peliqan-community/peliqan-go/peliqantest"
	"github.com/spf13/cobra"
)

func (a *app) fakeCommand() *cobra.Command {
	var (
		addr                  string
		seed                  int64
		tenants, conns, rows  int
		syncDuration, latency time.Duration
		failRate, rateLimit   float64
		rateBurst             int
	)
	c := a.leaf(&cobra.Command{
		Use:   "fake [--addr 127.0.0.1:8080] [--seed 1]",
		Short: "Run the fake Peliqan server (peliqantest) for tests in any language",
		Long: `Run peliqantest's stateful fake of the Peliqan API on a loopback address,
seeded with generated customers, connections and rows, until interrupted,
like the standalone peliqan-fake command. It prints PELIQAN_BASE_URL and
PELIQAN_PARTNER_TOKEN as shell assignments (the token is the fake's own,
stable for a seed, the same as peliqan-fake's), so that this CLI, another
language's client or curl can be pointed at it:

  peliqan fake --addr 127.0.0.1:8080 &
  export PELIQAN_BASE_URL=http://127.0.0.1:8080 PELIQAN_PARTNER_TOKEN=...
  peliqan customers list

Trouble for the client: --rate-limit answers 429 with Retry-After above a
request rate, --fail-rate fails a share of requests (a 500, a connection
reset or a 429, evenly), --latency delays every request. Counts of requests
and runs are served as JSON at the counts path it prints, without a token.
The fake only listens on loopback addresses.`,
	}, func(ctx context.Context, cmd *cobra.Command, args []string) error {
		switch {
		case tenants < 0 || conns < 0 || rows < 0 || tenants > 100000:
			return usageErrorf("--tenants, --connections and --rows must be >= 0 (and --tenants <= 100000)")
		case syncDuration < 0 || latency < 0:
			return usageErrorf("--sync-duration and --latency must not be negative")
		case !(failRate >= 0 && failRate <= 1):
			return usageErrorf("--fail-rate must be within 0..1")
		case !(rateLimit >= 0) || math.IsInf(rateLimit, 0) || rateBurst < 0:
			return usageErrorf("--rate-limit and --rate-burst must not be negative")
		}
		// The same key derivation as peliqantest/cmd/peliqan-fake, so a seed
		// gives the same partner token from either command.
		key := sha256.Sum256([]byte("peliqan-fake/" + strconv.FormatInt(seed, 10)))
		opts := []peliqantest.Option{
			peliqantest.WithAddr(addr),
			peliqantest.WithSigningKey(key[:]),
			peliqantest.WithSyncDuration(syncDuration),
			peliqantest.WithFaultSeed(uint64(seed)),
			peliqantest.WithFixture(peliqantest.Generate(seed, tenants, conns, rows)),
		}
		if rateLimit > 0 {
			if rateBurst == 0 {
				rateBurst = max(1, int(math.Ceil(rateLimit)))
			}
			opts = append(opts, peliqantest.WithRateLimit(rateLimit, rateBurst))
		}
		var rules []peliqantest.FaultRule
		if failRate > 0 {
			// One fault per request: the latency rides on the failure.
			faults := []peliqantest.Fault{
				peliqantest.StatusFault(http.StatusInternalServerError, ""),
				peliqantest.ResetFault(),
				peliqantest.RetryAfterFault(http.StatusTooManyRequests, "1"),
			}
			for i := range faults {
				faults[i].Delay = latency
			}
			mix, err := peliqantest.FaultMix("", failRate, faults...)
			if err != nil {
				return usageErrorf("--fail-rate: %v", err)
			}
			rules = append(rules, mix...)
		}
		if latency > 0 {
			rules = append(rules, peliqantest.FaultRule{Probability: 1, Fault: peliqantest.LatencyFault(latency)})
		}
		srv, err := peliqantest.New(opts...)
		if err != nil {
			return usageErrorf("fake: %v", err)
		}
		defer srv.Close()
		for _, r := range rules {
			srv.AddFaultRule(r)
		}
		fmt.Fprintf(a.stdout, "PELIQAN_BASE_URL=%s\n", srv.URL())
		fmt.Fprintf(a.stdout, "PELIQAN_PARTNER_TOKEN=%s\n", srv.PartnerToken())
		fmt.Fprintf(a.stdout, "# peliqan fake: %d customers x %d connections x %d rows (seed %d), syncs take %s\n", tenants, conns, rows, seed, syncDuration)
		if rateLimit > 0 {
			fmt.Fprintf(a.stdout, "# rate limit: %v requests/s, burst %d\n", rateLimit, rateBurst)
		}
		if failRate > 0 {
			fmt.Fprintf(a.stdout, "# failures: %v of requests (500, reset, 429)\n", failRate)
		}
		if latency > 0 {
			fmt.Fprintf(a.stdout, "# latency: %s per request\n", latency)
		}
		fmt.Fprintf(a.stdout, "# counts (no token): %s%s\n", srv.URL(), peliqantest.CountsPath)
		<-ctx.Done()
		a.note("fake: stopped")
		return nil
	})
	fl := c.Flags()
	fl.StringVar(&addr, "addr", "127.0.0.1:8080", "listen address (loopback only; port 0 picks a free one)")
	fl.Int64Var(&seed, "seed", 1, "seed of the generated data, the signing key and the failures")
	fl.IntVar(&tenants, "tenants", 3, "generated customers")
	fl.IntVar(&conns, "connections", 2, "generated connections per customer")
	fl.IntVar(&rows, "rows", 25, "generated rows per table")
	fl.DurationVar(&syncDuration, "sync-duration", 2*time.Second, "how long a sync stays RUNNING")
	fl.DurationVar(&latency, "latency", 0, "delay added to every request")
	fl.Float64Var(&failRate, "fail-rate", 0, "share of requests (0..1) that fail: a 500, a reset or a 429, evenly")
	fl.Float64Var(&rateLimit, "rate-limit", 0, "requests per second, 429 with Retry-After above it (0: no limit)")
	fl.IntVar(&rateBurst, "rate-burst", 0, "burst of --rate-limit (0: the rate rounded up)")
	return c
}
