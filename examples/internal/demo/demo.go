// Package demo is the set-up the runnable examples share: a partner client
// for your Peliqan account when PELIQAN_PARTNER_TOKEN is set, or else the
// in-process fake (peliqantest) loaded with an example's seeded data.
package demo

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// Environment variables every example reads.
const (
	EnvToken   = "PELIQAN_PARTNER_TOKEN"
	EnvBaseURL = "PELIQAN_BASE_URL"
)

// FakePoll is the status poll interval used against the fake, whose syncs
// last a few hundred milliseconds. Against the real service the examples
// leave the schedule nil: Peliqan's own (5 s, then 10 s, then 20 s).
const FakePoll = 100 * time.Millisecond

// Config says how an example wants its environment.
type Config struct {
	// Name is the example's name, sent in the User-Agent.
	Name string
	// Fake lists the options of the in-process fake (fixture, sync
	// duration...), used when no partner token is set.
	Fake []peliqantest.Option
	// Prepare, when set, runs once the fake is up, before the example
	// starts: to bring seeded data into a state a fixture cannot express
	// (runs in the past, credentials pulled).
	Prepare func(ctx context.Context, srv *peliqantest.Fake) error
}

// Env is an example's connection to Peliqan, real or fake.
type Env struct {
	// Partner is the partner client.
	Partner *peliqan.PartnerClient
	// Fake is the in-process fake, nil against the real service.
	Fake *peliqantest.Fake
	// Poll is the status poll schedule for WaitForSync: nil (Peliqan's
	// own) against the real service, FakePoll against the fake.
	Poll peliqan.PollSchedule
}

// Real reports whether the example talks to the real service.
func (e *Env) Real() bool { return e.Fake == nil }

// Close stops the fake, if one was started.
func (e *Env) Close() {
	if e.Fake != nil {
		e.Fake.Close()
	}
}

// Open connects to Peliqan as env says and writes the example's first
// line, which names what it runs against. The caller closes the Env.
func Open(ctx context.Context, out io.Writer, env func(string) string, cfg Config) (*Env, error) {
	ua := peliqan.WithUserAgent("peliqan-go-example/" + cfg.Name)
	if tok := env(EnvToken); tok != "" {
		base := env(EnvBaseURL)
		opts := []peliqan.Option{ua}
		if base != "" {
			opts = append(opts, peliqan.WithBaseURL(base))
		} else {
			base = peliqan.DefaultBaseURL
		}
		p, err := peliqan.NewPartnerClient(tok, opts...)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(out, "%s: using Peliqan at %s with the partner token from %s\n", cfg.Name, base, EnvToken)
		return &Env{Partner: p}, nil
	}
	srv, err := peliqantest.New(cfg.Fake...)
	if err != nil {
		return nil, err
	}
	e := &Env{Fake: srv, Poll: peliqan.FixedSchedule(FakePoll)}
	if cfg.Prepare != nil {
		if err := cfg.Prepare(ctx, srv); err != nil {
			srv.Close()
			return nil, fmt.Errorf("preparing the fake: %w", err)
		}
	}
	if e.Partner, err = srv.PartnerClient(ua); err != nil {
		srv.Close()
		return nil, err
	}
	fmt.Fprintf(out, "%s: %s is not set: running against the in-process fake Peliqan (peliqantest) with seeded demo data\n",
		cfg.Name, EnvToken)
	if env(EnvBaseURL) != "" {
		fmt.Fprintf(out, "%s: %s is ignored without a partner token\n", cfg.Name, EnvBaseURL)
	}
	return e, nil
}

// Redact shows enough of a token to recognise it (its first characters and
// its length), never the whole of it.
func Redact(token string) string {
	if len(token) < 24 {
		return fmt.Sprintf("[%d chars]", len(token))
	}
	return fmt.Sprintf("%s… [%d chars]", token[:8], len(token))
}

// Flags parses an example's command line and returns env with the flags
// that were set layered over it: each flag stands for an environment
// variable (the map gives the variable of each flag name), so run sees one
// source of settings and tests pass plain env functions.
func Flags(fs *flag.FlagSet, args []string, env func(string) string, vars map[string]string) (func(string) string, error) {
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, errors.New("unexpected arguments: " + fmt.Sprint(fs.Args()))
	}
	set := map[string]string{}
	fs.Visit(func(f *flag.Flag) {
		if v, ok := vars[f.Name]; ok {
			set[v] = f.Value.String()
		}
	})
	return func(k string) string {
		if v, ok := set[k]; ok {
			return v
		}
		return env(k)
	}, nil
}

// Bool reads a yes/no setting: "1", "true", "yes" and "on" are yes.
func Bool(env func(string) string, key string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(env(key))) {
	case "", "0", "false", "no", "off":
		return false, nil
	case "1", "true", "yes", "on":
		return true, nil
	}
	return false, fmt.Errorf("%s=%q: want 1 or 0", key, env(key))
}

// Int reads a positive number setting, def when unset.
func Int(env func(string) string, key string, def int) (int, error) {
	v := strings.TrimSpace(env(key))
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s=%q: want a positive number", key, v)
	}
	return n, nil
}

// Main is the shared main of the examples: it parses fs from the command line
// (each flag may also come from the environment variable vars names), runs
// run until it returns or the process is interrupted, and exits with 2 on bad
// flags and 1 on failure.
func Main(fs *flag.FlagSet, vars map[string]string, run func(context.Context, io.Writer, func(string) string) error) {
	env, err := Flags(fs, os.Args[1:], os.Getenv, vars)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, fs.Name()+":", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, env); err != nil {
		stop()
		fmt.Fprintln(os.Stderr, fs.Name()+":", err)
		os.Exit(1)
	}
}
