package peliqantest

import (
	"crypto/rand"
	"fmt"
	"net"
	"sync"
	"time"
)

// Option configures a fake server.
type Option func(*config) error

type config struct {
	lifecycle      lifecycleConfig // lifecycle.go, webhooks.go
	now            func() time.Time
	manualClock    bool
	syncDuration   time.Duration
	scriptDuration time.Duration
	outcome        RunOutcome
	rowsPerSync    int
	tokenTTL       time.Duration
	// serverTokenExp, when set, gives the "non-expiring" identity tokens
	// (expire=false) an exp; serverTokenOpt names the option that set it.
	serverTokenExp func(now time.Time) time.Time
	serverTokenOpt string
	signingKey     []byte
	faultSeed      uint64
	recordLimit    int
	rateLimit      float64 // requests per second; 0: no limit
	rateBurst      int
	addr           string
	fixtures       []Fixture
}

const (
	defaultSyncDuration   = 50 * time.Millisecond
	defaultScriptDuration = 50 * time.Millisecond
	defaultTokenTTL       = 30 * time.Minute
	defaultRowsPerSync    = 5
	defaultRecordLimit    = 10000
)

func newConfig(opts []Option) (config, error) {
	cfg := config{
		now:            time.Now,
		syncDuration:   defaultSyncDuration,
		scriptDuration: defaultScriptDuration,
		outcome:        OutcomeCompleted,
		rowsPerSync:    defaultRowsPerSync,
		tokenTTL:       defaultTokenTTL,
		faultSeed:      1,
		recordLimit:    defaultRecordLimit,
		addr:           "127.0.0.1:0",
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return config{}, fmt.Errorf("peliqantest: %w", err)
		}
	}
	if cfg.signingKey == nil {
		cfg.signingKey = make([]byte, 32)
		if _, err := rand.Read(cfg.signingKey); err != nil {
			return config{}, fmt.Errorf("peliqantest: signing key: %w", err)
		}
	}
	return cfg, nil
}

// WithClock makes the fake read time from now instead of time.Now: token
// expiry, run completion and timestamps all follow it. Use a ManualClock to
// step time in tests. With an injected clock the status routes' server-side
// "timeout" wait is not performed (it would wait on real time).
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return fmt.Errorf("WithClock: nil func")
		}
		c.now, c.manualClock = now, true
		return nil
	}
}

// WithSyncDuration sets how long a pipeline run (sync or resync) stays
// RUNNING before it ends; 0 ends it on the next request. Default 50 ms.
func WithSyncDuration(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("WithSyncDuration: negative duration %s", d)
		}
		c.syncDuration = d
		return nil
	}
}

// WithScriptRunDuration sets how long a script run stays running. Default
// 50 ms.
func WithScriptRunDuration(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("WithScriptRunDuration: negative duration %s", d)
		}
		c.scriptDuration = d
		return nil
	}
}

// WithSyncOutcome sets how pipeline runs end unless a connection has its
// own outcome (SetSyncOutcome). Default OutcomeCompleted.
func WithSyncOutcome(o RunOutcome) Option {
	return func(c *config) error {
		if !o.valid() {
			return fmt.Errorf("WithSyncOutcome: unknown outcome %q", string(o))
		}
		c.outcome = o
		return nil
	}
}

// WithRowsPerSync sets how many rows a successful run appends to each table
// of the connection (half as many, at least one, when it ends
// COMPLETED_WITH_ERRORS). Default 5.
func WithRowsPerSync(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("WithRowsPerSync: negative count %d", n)
		}
		c.rowsPerSync = n
		return nil
	}
}

// WithTokenLifetime sets the lifetime of the short-lived tokens: identity
// tokens minted without expire=false, and integration tokens. Default 30
// minutes (Peliqan's documented integration-token lifetime).
func WithTokenLifetime(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("WithTokenLifetime: must be positive (got %s)", d)
		}
		c.tokenTTL = d
		return nil
	}
}

// FarFutureExpiry is the exp WithFarFutureExpiry writes into the
// "non-expiring" identity tokens: the last second of the year 9999, a common
// way for token issuers to write "never".
var FarFutureExpiry = time.Date(9999, time.December, 31, 23, 59, 59, 0, time.UTC)

// WithFarFutureExpiry makes the "non-expiring" identity tokens (minted with
// expire=false, and by TenantToken(id, false)) carry exp = FarFutureExpiry
// instead of no exp claim, the way some issuers write "never". They still
// never expire in practice. Use it to check that a client treats such a
// token as non-expiring (its refresh time must not overflow). It excludes
// WithServerTokenLifetime.
func WithFarFutureExpiry() Option {
	return func(c *config) error {
		return c.setServerTokenExp("WithFarFutureExpiry", func(time.Time) time.Time { return FarFutureExpiry })
	}
}

// WithServerTokenLifetime makes the "non-expiring" identity tokens (minted
// with expire=false, and by TenantToken(id, false)) carry exp = now + d on
// the fake's clock, after which the fake refuses them with 401 "Signature
// has expired.". Peliqan's carry no exp; use it to drive a client's refresh
// ahead of exp (and what happens past exp) through the tenant clients of
// PartnerClient.SubAccount, which ask for expire=false. It excludes
// WithFarFutureExpiry.
func WithServerTokenLifetime(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("WithServerTokenLifetime: must be positive (got %s)", d)
		}
		return c.setServerTokenExp("WithServerTokenLifetime", func(now time.Time) time.Time { return now.Add(d) })
	}
}

func (c *config) setServerTokenExp(opt string, exp func(time.Time) time.Time) error {
	if c.serverTokenOpt != "" && c.serverTokenOpt != opt {
		return fmt.Errorf("%s: cannot be combined with %s", opt, c.serverTokenOpt)
	}
	c.serverTokenExp, c.serverTokenOpt = exp, opt
	return nil
}

// WithSigningKey sets the HMAC key the fake signs its JWTs with (at least
// 16 bytes). By default each server draws a random key; a fixed key makes
// the partner token stable across restarts.
func WithSigningKey(key []byte) Option {
	return func(c *config) error {
		if len(key) < 16 {
			return fmt.Errorf("WithSigningKey: key must be at least 16 bytes")
		}
		c.signingKey = append([]byte(nil), key...)
		return nil
	}
}

// WithFaultSeed seeds the random source of probabilistic fault rules, so a
// run's sequence of injected faults is reproducible. Default 1.
func WithFaultSeed(seed uint64) Option {
	return func(c *config) error {
		c.faultSeed = seed
		return nil
	}
}

// WithRecordLimit sets how many requests Requests keeps: exactly the n most
// recent. 0 keeps none, for long runs that only need the counts (Count,
// Counts, RunsStarted, CountsPath), which stay exact whatever n is. Default
// 10,000, fewer than one fleet sync of 1,000 customers x 5 connections
// sends. A kept request costs about 1.4 KB of heap without a body
// (BenchmarkFakeRecordBytes: headers, query, route, status), plus its body
// up to 64 KiB, so 100,000 bodiless requests hold about 140 MB.
func WithRecordLimit(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("WithRecordLimit: negative limit %d", n)
		}
		c.recordLimit = n
		return nil
	}
}

// WithAddr sets the listen address. Only loopback hosts are accepted
// (127.0.0.1, ::1, localhost): the fake has no real security. Default
// "127.0.0.1:0" (a free port).
func WithAddr(addr string) Option {
	return func(c *config) error {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Errorf("WithAddr: %w", err)
		}
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("WithAddr: %q is not a loopback address", host)
		}
		c.addr = addr
		return nil
	}
}

// WithFixture seeds the server with f when it starts (see Seed); it may be
// given more than once.
func WithFixture(f Fixture) Option {
	return func(c *config) error {
		c.fixtures = append(c.fixtures, f)
		return nil
	}
}

// ManualClock is a clock that moves only when told, for WithClock.
type ManualClock struct {
	mu sync.Mutex
	t  time.Time
}

// NewManualClock returns a clock that reads start until advanced.
func NewManualClock(start time.Time) *ManualClock { return &ManualClock{t: start} }

// Now returns the clock's time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
