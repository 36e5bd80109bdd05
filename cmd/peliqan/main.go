// Command peliqan is the operator CLI for Peliqan partner accounts: it
// looks after every customer from a terminal, a cron job or CI, as a thin
// layer over the peliqan-go SDK.
//
//	cd cmd/peliqan && go install .
//	peliqan profiles set eu --default < token.txt
//	peliqan customers list
//	peliqan fleet health --output html --file health.html
//
// Run "peliqan --help" for the commands, and "peliqan COMMAND --help" for
// each one's flags, output fields and the API routes it sends.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first interrupt, a second one ends the process at once.
		<-ctx.Done()
		stop()
	}()
	code := newApp().run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
