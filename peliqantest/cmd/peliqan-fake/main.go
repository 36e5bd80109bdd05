// Command peliqan-fake runs the peliqantest fake Peliqan server on a
// loopback address, seeded with generated customers, so that clients in any
// language (and curl) can be tested against it:
//
//	go run ./peliqantest/cmd/peliqan-fake -addr 127.0.0.1:8080 -seed 1
//
// It prints the base URL and the partner token (stable for a given seed) as
// shell assignments, then serves until interrupted.
package main

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/peliqan-community/peliqan-go/internal/routes"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "peliqan-fake:", err)
		os.Exit(2)
	}
}

// run parses args, starts the fake, prints how to reach it, and serves
// until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("peliqan-fake", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address (loopback only)")
	seed := fs.Int64("seed", 1, "seed for the generated data and the signing key")
	tenants := fs.Int("tenants", 3, "generated sub-accounts")
	conns := fs.Int("connections", 2, "generated connections per sub-account")
	rows := fs.Int("rows", 25, "generated rows per table")
	syncDur := fs.Duration("sync-duration", 2*time.Second, "how long a sync stays RUNNING")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *tenants < 0 || *conns < 0 || *rows < 0 || *tenants > 100000 {
		return fmt.Errorf("-tenants, -connections and -rows must be >= 0 (and -tenants <= 100000)")
	}
	key := sha256.Sum256([]byte("peliqan-fake/" + strconv.FormatInt(*seed, 10)))
	srv, err := peliqantest.New(
		peliqantest.WithAddr(*addr),
		peliqantest.WithSigningKey(key[:]),
		peliqantest.WithSyncDuration(*syncDur),
		peliqantest.WithFixture(peliqantest.Generate(*seed, *tenants, *conns, *rows)),
	)
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(stdout, "PELIQAN_BASE_URL=%s\n", srv.URL())
	fmt.Fprintf(stdout, "PELIQAN_PARTNER_TOKEN=%s\n", srv.PartnerToken())
	fmt.Fprintf(stdout, "# peliqan-fake: %d sub-accounts x %d connections x %d rows (seed %d); try:\n", *tenants, *conns, *rows, *seed)
	fmt.Fprintf(stdout, "#   curl -H \"Authorization: JWT $PELIQAN_PARTNER_TOKEN\" %s%s\n", srv.URL(),
		routes.MustLookup(routes.ListSubAccounts).Path)
	<-ctx.Done()
	return nil
}
