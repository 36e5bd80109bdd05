// Command embed-server is a small SaaS backend that embeds Peliqan's
// "Add connection" widget for its logged-in customers:
//
//   - GET  /                     the integrations page (peliqan.Widget)
//   - POST /api/peliqan/token    a fresh integration token for the session's
//     customer (peliqan.IntegrationTokenHandler)
//   - POST /webhooks/peliqan     Peliqan's outbound webhooks (peliqan.WebhookHandler)
//   - GET  /events               the logged-in customer's last webhook events:
//     those whose payload names the customer's ID as "external_id"; an
//     event that names no customer is shown to nobody (see eventOwner)
//   - GET  /login, /logout       a demo login (pick a demo customer)
//
// With PELIQAN_PARTNER_TOKEN set it talks to Peliqan (PELIQAN_BASE_URL,
// default https://app.eu.peliqan.io) and loads Peliqan's widget script, and
// it writes there: the token endpoint calls Peliqan's integrate route, which
// creates a customer's sub-account the first time, so opening the page as
// the demo customers creates cust_1001 and cust_2002 under your partner
// account. Nothing else it does writes.
// Without it, it runs against the in-process fake (peliqantest) and serves a
// local stand-in for the widget script, so the whole flow works offline.
//
//	go run . -addr 127.0.0.1:8080
//
// Environment: PELIQAN_PARTNER_TOKEN, PELIQAN_BASE_URL,
// PELIQAN_WIDGET_SCRIPT_URL (override the script), PELIQAN_WEBHOOK_SECRET
// (the webhook signing secret; a random one is generated and printed when
// unset).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "embed-server:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("embed-server", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))

	cfg, cleanup, err := configFromEnv(getenv, logger)
	if err != nil {
		return err
	}
	defer cleanup()
	_, handler, err := newApp(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "embed-server: open %s/login\n", base)
	if getenv("PELIQAN_WEBHOOK_SECRET") == "" {
		fmt.Fprintf(stdout, "embed-server: generated webhook secret: SECRET=%s\n", cfg.WebhookSecret)
	}
	fmt.Fprintf(stdout, "embed-server: try a webhook:\n  body='{\"event\":\"connection_added\",\"server_id\":1,\"external_id\":\"cust_1001\"}'\n"+
		"  curl -H \"X-Peliqan-Signature: sha256=$(printf %%s \"$body\" | openssl dgst -sha256 -hmac \"$SECRET\" -r | cut -d' ' -f1)\" -d \"$body\" %s/webhooks/peliqan\n", base)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// configFromEnv builds the partner client: Peliqan itself when
// PELIQAN_PARTNER_TOKEN is set, else the in-process fake with the stand-in
// widget script. cleanup stops the fake.
func configFromEnv(getenv func(string) string, logger *slog.Logger) (config, func(), error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg := config{Logger: logger, WebhookSecret: getenv("PELIQAN_WEBHOOK_SECRET"), WidgetScriptURL: getenv("PELIQAN_WIDGET_SCRIPT_URL")}
	if cfg.WebhookSecret == "" {
		var b [24]byte
		_, _ = rand.Read(b[:])
		cfg.WebhookSecret = hex.EncodeToString(b[:])
	}
	if tok := getenv("PELIQAN_PARTNER_TOKEN"); tok != "" {
		opts := []peliqan.Option{peliqan.WithLogger(logger)}
		if base := getenv("PELIQAN_BASE_URL"); base != "" {
			opts = append(opts, peliqan.WithBaseURL(base))
		}
		p, err := peliqan.NewPartnerClient(tok, opts...)
		if err != nil {
			return config{}, nil, err
		}
		cfg.Partner = p
		logger.Info("using Peliqan", "base_url", p.String())
		return cfg, func() {}, nil
	}
	fake, err := peliqantest.New()
	if err != nil {
		return config{}, nil, err
	}
	p, err := fake.PartnerClient(peliqan.WithLogger(logger))
	if err != nil {
		fake.Close()
		return config{}, nil, err
	}
	cfg.Partner = p
	if cfg.WidgetScriptURL == "" {
		cfg.WidgetScriptURL = StandInScriptPath
	}
	logger.Info("PELIQAN_PARTNER_TOKEN is not set: using the in-process fake and the stand-in widget script", "fake", fake.URL())
	return cfg, fake.Close, nil
}
