// Command peliqan-fake runs the peliqantest fake Peliqan server on a
// loopback address, seeded with generated customers, so that clients in any
// language (and curl) can be tested against it:
//
//	go run ./peliqantest/cmd/peliqan-fake -addr 127.0.0.1:8080 -seed 1
//
// It prints the base URL and the partner token (stable for a given seed) as
// shell assignments, then serves until interrupted.
//
// Flags shape the data (-tenants, -connections, -rows, -seed), the runs
// (-sync-duration), and the trouble a client meets:
//
//	-rate-limit 10 -rate-burst 10   429 with Retry-After above 10 requests/s
//	-fail-rate 0.2                  20% of requests fail: a 500, a reset or a 429
//	-fail-kinds 500,503,reset       ...with these kinds instead, evenly
//	-fail-seed 7                    another sequence of failures (default: -seed)
//	-latency 20ms                   every request answered 20 ms later
//	-record-limit 0                 keep no request log, only the counts
//
// Counts (requests per route and status, pipeline runs started per
// connection) are served as JSON at /_peliqantest/counts, without a token.
package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/peliqan-community/peliqan-go/internal/routes"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return // the usage was printed
		}
		fmt.Fprintln(os.Stderr, "peliqan-fake:", err)
		os.Exit(2)
	}
}

// settings are the parsed flags.
type settings struct {
	addr                  string
	seed                  int64
	tenants, conns, rows  int
	syncDuration, latency time.Duration
	failRate              float64
	failKinds             []peliqantest.Fault
	failKindNames         string
	failSeed              int64
	rateLimit             float64
	rateBurst             int
	recordLimit           int
}

// failKinds maps -fail-kinds names to faults. The 429 asks for a one-second
// pause, like the rate limit's shortest.
var failKinds = map[string]peliqantest.Fault{
	"500":     peliqantest.StatusFault(http.StatusInternalServerError, ""),
	"502":     peliqantest.HTMLFault(http.StatusBadGateway),
	"503":     peliqantest.StatusFault(http.StatusServiceUnavailable, ""),
	"504":     peliqantest.HTMLFault(http.StatusGatewayTimeout),
	"429":     peliqantest.RetryAfterFault(http.StatusTooManyRequests, "1"),
	"reset":   peliqantest.ResetFault(),
	"midbody": peliqantest.MidBodyResetFault(),
}

const defaultFailKinds = "500,reset,429"

func parseFlags(args []string, stderr io.Writer) (*settings, error) {
	fs := flag.NewFlagSet("peliqan-fake", flag.ContinueOnError)
	fs.SetOutput(stderr)
	s := &settings{}
	fs.StringVar(&s.addr, "addr", "127.0.0.1:8080", "listen address (loopback only)")
	fs.Int64Var(&s.seed, "seed", 1, "seed for the generated data and the signing key")
	fs.IntVar(&s.tenants, "tenants", 3, "generated sub-accounts (customers)")
	fs.IntVar(&s.conns, "connections", 2, "generated connections per sub-account")
	fs.IntVar(&s.rows, "rows", 25, "generated rows per table")
	fs.DurationVar(&s.syncDuration, "sync-duration", 2*time.Second, "how long a sync stays RUNNING")
	fs.Float64Var(&s.failRate, "fail-rate", 0, "share of requests (0..1) answered with a failure from -fail-kinds")
	fs.StringVar(&s.failKindNames, "fail-kinds", defaultFailKinds,
		"comma-separated failures -fail-rate spreads evenly: 500, 502, 503, 504 (502 and 504 as a proxy's HTML page), "+
			"429 (Retry-After: 1), reset (before the answer: not acted on), midbody (acted on, then cut)")
	fs.Int64Var(&s.failSeed, "fail-seed", 0, "seed of the failure sequence (default: -seed)")
	fs.DurationVar(&s.latency, "latency", 0, "delay added to every request")
	fs.Float64Var(&s.rateLimit, "rate-limit", 0, "requests per second for the partner and its sub-accounts together, "+
		"429 with Retry-After above it (0: no limit)")
	fs.IntVar(&s.rateBurst, "rate-burst", 0, "burst of -rate-limit (0: the rate rounded up)")
	fs.IntVar(&s.recordLimit, "record-limit", 10000, "requests kept in the request log (0: none; counts stay exact)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	failSeedSet := false
	fs.Visit(func(f *flag.Flag) { failSeedSet = failSeedSet || f.Name == "fail-seed" })
	if !failSeedSet {
		s.failSeed = s.seed
	}
	switch {
	case s.tenants < 0 || s.conns < 0 || s.rows < 0 || s.tenants > 100000:
		return nil, fmt.Errorf("-tenants, -connections and -rows must be >= 0 (and -tenants <= 100000)")
	case !(s.failRate >= 0 && s.failRate <= 1):
		return nil, fmt.Errorf("-fail-rate must be within 0..1 (got %v)", s.failRate)
	case !(s.rateLimit >= 0) || math.IsInf(s.rateLimit, 0):
		return nil, fmt.Errorf("-rate-limit must be >= 0 (got %v)", s.rateLimit)
	case s.rateBurst < 0:
		return nil, fmt.Errorf("-rate-burst must be >= 0 (got %d)", s.rateBurst)
	case s.latency < 0:
		return nil, fmt.Errorf("-latency must be >= 0 (got %s)", s.latency)
	}
	for _, name := range strings.Split(s.failKindNames, ",") {
		f, ok := failKinds[strings.TrimSpace(name)]
		if !ok {
			return nil, fmt.Errorf("-fail-kinds: unknown kind %q (known: 500, 502, 503, 504, 429, reset, midbody)", name)
		}
		f.Delay = s.latency // one fault per request: the latency rides on the failure
		s.failKinds = append(s.failKinds, f)
	}
	if s.rateLimit > 0 && s.rateBurst == 0 {
		s.rateBurst = max(1, int(math.Ceil(s.rateLimit)))
	}
	return s, nil
}

// options are the fake's options for the settings.
func (s *settings) options() []peliqantest.Option {
	key := sha256.Sum256([]byte("peliqan-fake/" + strconv.FormatInt(s.seed, 10)))
	opts := []peliqantest.Option{
		peliqantest.WithAddr(s.addr),
		peliqantest.WithSigningKey(key[:]),
		peliqantest.WithSyncDuration(s.syncDuration),
		peliqantest.WithRecordLimit(s.recordLimit),
		peliqantest.WithFaultSeed(uint64(s.failSeed)),
		peliqantest.WithFixture(peliqantest.Generate(s.seed, s.tenants, s.conns, s.rows)),
	}
	if s.rateLimit > 0 {
		opts = append(opts, peliqantest.WithRateLimit(s.rateLimit, s.rateBurst))
	}
	return opts
}

// faultRules are the failure mix, then the latency for the requests the mix
// spares.
func (s *settings) faultRules() ([]peliqantest.FaultRule, error) {
	var rules []peliqantest.FaultRule
	if s.failRate > 0 {
		mix, err := peliqantest.FaultMix("", s.failRate, s.failKinds...)
		if err != nil {
			return nil, err
		}
		rules = append(rules, mix...)
	}
	if s.latency > 0 {
		rules = append(rules, peliqantest.FaultRule{Probability: 1, Fault: peliqantest.LatencyFault(s.latency)})
	}
	return rules, nil
}

// run parses args, starts the fake, prints how to reach it, and serves
// until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	s, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	rules, err := s.faultRules()
	if err != nil {
		return err
	}
	srv, err := peliqantest.New(s.options()...)
	if err != nil {
		return err
	}
	defer srv.Close()
	for _, r := range rules {
		srv.AddFaultRule(r)
	}
	fmt.Fprintf(stdout, "PELIQAN_BASE_URL=%s\n", srv.URL())
	fmt.Fprintf(stdout, "PELIQAN_PARTNER_TOKEN=%s\n", srv.PartnerToken())
	fmt.Fprintf(stdout, "# peliqan-fake: %d sub-accounts x %d connections x %d rows (seed %d), syncs take %s\n",
		s.tenants, s.conns, s.rows, s.seed, s.syncDuration)
	if s.rateLimit > 0 {
		fmt.Fprintf(stdout, "# rate limit: %v requests/s, burst %d (429 with Retry-After above it)\n", s.rateLimit, s.rateBurst)
	}
	if s.failRate > 0 {
		fmt.Fprintf(stdout, "# failures: %v of requests, evenly %s (seed %d)\n", s.failRate, s.failKindNames, s.failSeed)
	}
	if s.latency > 0 {
		fmt.Fprintf(stdout, "# latency: %s per request\n", s.latency)
	}
	fmt.Fprintf(stdout, "# try:\n#   curl -H \"Authorization: JWT $PELIQAN_PARTNER_TOKEN\" %s%s\n", srv.URL(),
		routes.MustLookup(routes.ListSubAccounts).Path)
	fmt.Fprintf(stdout, "# counts (no token): curl %s%s\n", srv.URL(), peliqantest.CountsPath)
	<-ctx.Done()
	return nil
}
