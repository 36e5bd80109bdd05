package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strconv"
	"time"

	"github.com/peliqan-community/peliqan-go/peliqantest"
	"github.com/spf13/cobra"
)

func (a *app) fakeCommand() *cobra.Command {
	var (
		addr                 string
		seed                 int64
		tenants, conns, rows int
		syncDuration         time.Duration
	)
	c := a.leaf(&cobra.Command{
		Use:   "fake [--addr 127.0.0.1:8080] [--seed 1]",
		Short: "Run the fake Peliqan server (peliqantest) for tests in any language",
		Long: `Run peliqantest's stateful fake of the Peliqan API on a loopback address,
seeded with generated customers, connections and rows, until interrupted.
It prints PELIQAN_BASE_URL and PELIQAN_PARTNER_TOKEN as shell assignments
(the token is the fake's own, stable for a seed), so that this CLI, another
language's client or curl can be pointed at it:

  peliqan fake --addr 127.0.0.1:8080 &
  export PELIQAN_BASE_URL=http://127.0.0.1:8080 PELIQAN_PARTNER_TOKEN=...
  peliqan customers list

The fake only listens on loopback addresses.`,
	}, func(ctx context.Context, cmd *cobra.Command, args []string) error {
		if tenants < 0 || conns < 0 || rows < 0 || tenants > 100000 {
			return usageErrorf("--tenants, --connections and --rows must be >= 0 (and --tenants <= 100000)")
		}
		if syncDuration < 0 {
			return usageErrorf("--sync-duration must not be negative")
		}
		// The same key derivation as peliqantest/cmd/peliqan-fake, so a seed
		// gives the same partner token from either binary.
		key := sha256.Sum256([]byte("peliqan-fake/" + strconv.FormatInt(seed, 10)))
		srv, err := peliqantest.New(
			peliqantest.WithAddr(addr),
			peliqantest.WithSigningKey(key[:]),
			peliqantest.WithSyncDuration(syncDuration),
			peliqantest.WithFixture(peliqantest.Generate(seed, tenants, conns, rows)),
		)
		if err != nil {
			return usageErrorf("fake: %v", err)
		}
		defer srv.Close()
		fmt.Fprintf(a.stdout, "PELIQAN_BASE_URL=%s\n", srv.URL())
		fmt.Fprintf(a.stdout, "PELIQAN_PARTNER_TOKEN=%s\n", srv.PartnerToken())
		fmt.Fprintf(a.stdout, "# peliqan fake: %d customers x %d connections x %d rows (seed %d); serving until interrupted\n", tenants, conns, rows, seed)
		if f, ok := a.stdout.(interface{ Sync() error }); ok {
			_ = f.Sync()
		}
		<-ctx.Done()
		a.note("fake: stopped")
		return nil
	})
	fl := c.Flags()
	fl.StringVar(&addr, "addr", "127.0.0.1:8080", "listen address (loopback only; port 0 picks a free one)")
	fl.Int64Var(&seed, "seed", 1, "seed of the generated data and of the signing key")
	fl.IntVar(&tenants, "tenants", 3, "generated customers")
	fl.IntVar(&conns, "connections", 2, "generated connections per customer")
	fl.IntVar(&rows, "rows", 25, "generated rows per table")
	fl.DurationVar(&syncDuration, "sync-duration", 2*time.Second, "how long a sync stays RUNNING")
	return c
}
