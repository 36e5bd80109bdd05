package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/peliqan-community/peliqan-go"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// Exit statuses.
const (
	exitOK        = 0 // done, nothing needs attention
	exitAttention = 1 // something failed or needs attention
	exitUsage     = 2 // the command line or the config is wrong
)

// app is one run of the CLI: its streams, its environment and its flags.
// Tests build one per run with their own streams and environment.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	userConfigDir  func() (string, error)
	// isTerminal reports whether w is a terminal: progress bars are drawn
	// only on a terminal stderr.
	isTerminal func(w io.Writer) bool
	// clientOptions are added to every partner client (tests use them).
	clientOptions []peliqan.Option
	// now is the clock of report timestamps.
	now func() time.Time

	flags globalFlags
}

// globalFlags are the flags every command takes.
type globalFlags struct {
	profile string
	output  string
	config  string
	debug   bool
}

// newApp returns an app on the process's streams and environment.
func newApp() *app {
	return &app{
		stdin:         os.Stdin,
		stdout:        os.Stdout,
		stderr:        os.Stderr,
		getenv:        os.Getenv,
		userConfigDir: os.UserConfigDir,
		isTerminal:    fileIsTerminal,
		now:           time.Now,
	}
}

func fileIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// usageError is a mistake in the command line or the config: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// errAttention ends a command that has already printed its results and
// found something that needs attention (or failed in part): exit 1 without
// another message.
var errAttention = errors.New("needs attention")

// commandError marks an error returned by a command's own code (not by
// cobra's parsing of the command line), so that it exits 1, not 2.
type commandError struct{ err error }

func (e *commandError) Error() string { return e.err.Error() }
func (e *commandError) Unwrap() error { return e.err }

// run executes the command line args and returns the exit status.
func (a *app) run(ctx context.Context, args []string) int {
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	err := root.ExecuteContext(ctx)
	return a.report(err)
}

// report prints err on stderr and returns the exit status for it.
func (a *app) report(err error) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, errAttention) {
		return exitAttention
	}
	var ce *commandError
	var ue *usageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(a.stderr, "Error: %s\n", sanitize(ue.msg))
		return exitUsage
	case errors.As(err, &ce):
		a.printError(ce.err)
		if errors.Is(ce.err, peliqan.ErrInvalidArgument) {
			return exitUsage // refused before any request: the input is wrong
		}
		return exitAttention
	default:
		// cobra's own errors: unknown command or flag, wrong arguments.
		fmt.Fprintf(a.stderr, "Error: %s\nRun 'peliqan --help' for usage.\n", sanitize(err.Error()))
		return exitUsage
	}
}

// printError writes err on stderr, with the API error's status, code and
// trace id on a line of their own.
func (a *app) printError(err error) {
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(a.stderr, "Error: interrupted")
		return
	}
	fmt.Fprintf(a.stderr, "Error: %s\n", sanitize(err.Error()))
	var ae *peliqan.APIError
	if errors.As(err, &ae) {
		fmt.Fprintf(a.stderr, "  status: %d  code: %s  trace id: %s  request: %s %s\n",
			ae.StatusCode, orDash(string(ae.Code)), orDash(ae.TraceID), ae.Method, ae.Path)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return sanitize(s)
}

// rootCommand builds the command tree.
func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "peliqan",
		Short: "Operate a Peliqan partner account: customers, connections, syncs, data",
		Long: `peliqan looks after every customer of a Peliqan partner account from a
terminal, a cron job or CI. Every command is a thin layer over the
peliqan-go SDK.

Accounts: profiles in the config file (see "peliqan profiles"), chosen with
--profile; PELIQAN_PARTNER_TOKEN and PELIQAN_BASE_URL override the selected
profile, and are enough on their own.

Output: tables by default; --output json or csv for scripts (field names are
stable and listed in each command's help). Errors go to stderr with the API
error's status, code and trace id. Exit status: 0 ok, 1 something failed or
needs attention, 2 usage or config error.

Destructive commands are dry runs unless --yes: a dry run sends no write and
prints what --yes would do.`,
		Version:           peliqan.Version,
		SilenceUsage:      true,
		SilenceErrors:     true,
		DisableAutoGenTag: true,
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: false},
	}
	// A group's usage shows only "peliqan GROUP [command]": it runs only to
	// print its help or refuse an unknown subcommand (see group).
	root.SetUsageTemplate(strings.Replace(root.UsageTemplate(), "{{if .Runnable}}", "{{if and .Runnable (not .HasAvailableSubCommands)}}", 1))
	root.SetVersionTemplate("peliqan {{.Version}} (peliqan-go " + peliqan.Version + ")\n")
	pf := root.PersistentFlags()
	pf.StringVar(&a.flags.profile, "profile", "", "profile (partner account) from the config file")
	pf.StringVarP(&a.flags.output, "output", "o", formatTable, "output format: table, json or csv")
	pf.StringVar(&a.flags.config, "config", "", "config file (default <user config dir>/peliqan/config.json)")
	pf.BoolVar(&a.flags.debug, "debug", false, "log every request on stderr (tokens are never logged)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErrorf("%v", err) })
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if allowed := formatsOf(cmd); !slices.Contains(allowed, a.flags.output) {
			return usageErrorf("--output %q: %s takes %s", a.flags.output, cmd.CommandPath(), strings.Join(allowed, ", "))
		}
		return nil
	}

	root.AddCommand(
		a.profilesCommand(),
		a.customersCommand(),
		a.tokensCommand(),
		a.connectionsCommand(),
		a.runsCommand(),
		a.rowsCommand(),
		a.queryCommand(),
		a.scriptsCommand(),
		a.fleetCommand(),
		a.reportCommand(),
		a.fakeCommand(),
	)
	return root
}

// Annotation keys on commands.
const (
	annotFormats = "peliqan/formats" // comma-separated --output values
)

// formatsOf returns the --output values cmd accepts.
func formatsOf(cmd *cobra.Command) []string {
	if f, ok := cmd.Annotations[annotFormats]; ok {
		return strings.Split(f, ",")
	}
	return []string{formatTable, formatJSON, formatCSV}
}

// group returns a parent command that only holds subcommands.
// Run without a subcommand it prints its help; with an unknown one it is a
// usage error (cobra alone would print the help and exit 0).
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{Use: use, Short: short, Args: func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usageErrorf("unknown command %q for %q", args[0], cmd.CommandPath())
		}
		return nil
	}, RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() }}
	c.AddCommand(subs...)
	return c
}

// leaf builds a command whose errors exit 1 (its own failures) rather than
// 2, and whose help ends with the routes it sends.
func (a *app) leaf(c *cobra.Command, run func(ctx context.Context, cmd *cobra.Command, args []string) error, routeNames ...string) *cobra.Command {
	c.RunE = func(cmd *cobra.Command, args []string) error {
		err := run(cmd.Context(), cmd, args)
		var ue *usageError
		if err == nil || errors.Is(err, errAttention) || errors.As(err, &ue) {
			return err
		}
		return &commandError{err: err}
	}
	if c.Args == nil {
		c.Args = noArgs
	}
	c.Long = strings.TrimRight(c.Long, "\n") + routesHelp(routeNames)
	return c
}

// Argument checks that report usage errors.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("%s takes no arguments (got %q)", cmd.CommandPath(), args[0])
	}
	return nil
}

func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErrorf("%s needs %s", cmd.CommandPath(), what)
		}
		return nil
	}
}

// partner returns a partner client for acc.
func (a *app) partner(acc *account) (*peliqan.PartnerClient, error) {
	opts := []peliqan.Option{peliqan.WithUserAgent("peliqan-cli/" + peliqan.Version)}
	if acc.BaseURL != "" {
		opts = append(opts, peliqan.WithBaseURL(acc.BaseURL))
	}
	if a.flags.debug {
		opts = append(opts, peliqan.WithLogger(slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	}
	opts = append(opts, a.clientOptions...)
	p, err := peliqan.NewPartnerClient(acc.Token, opts...)
	if err != nil {
		return nil, usageErrorf("profile %s: %v", acc.Name, err)
	}
	return p, nil
}

// selectedPartner returns the partner client of the selected account.
func (a *app) selectedPartner() (*peliqan.PartnerClient, *account, error) {
	acc, err := a.selectAccount()
	if err != nil {
		return nil, nil, err
	}
	p, err := a.partner(acc)
	return p, acc, err
}

// parseCustomer reads a customer reference: "id:N" is Peliqan's account
// id, anything else your external id.
func parseCustomer(s string) (peliqan.SubAccountRef, error) {
	if rest, ok := strings.CutPrefix(s, "id:"); ok {
		id, err := peliqan.ParseID(rest)
		if err != nil || id <= 0 {
			return peliqan.SubAccountRef{}, usageErrorf("customer %q: id: must be followed by a positive account id", s)
		}
		return peliqan.ByAccountID(id), nil
	}
	if strings.TrimSpace(s) == "" {
		return peliqan.SubAccountRef{}, usageErrorf("customer: empty reference")
	}
	return peliqan.ByExternalID(s), nil
}

// customerHelp describes a CUSTOMER argument, for help texts.
const customerHelp = `CUSTOMER is your external id for the customer, or id:N for Peliqan's
account id N.`

// connectionOf reads a CONNECTION_ID argument and the customer's client
// (the id is checked first, so a bad id is reported without a profile).
func (a *app) connectionOf(customer, arg string) (peliqan.ID, *peliqan.SubAccountClient, error) {
	id, err := parseID("connection", arg)
	if err != nil {
		return 0, nil, err
	}
	t, err := a.tenant(customer)
	return id, t, err
}

// tenant returns the tenant client of the customer named by --customer.
func (a *app) tenant(customer string) (*peliqan.SubAccountClient, error) {
	if customer == "" {
		return nil, usageErrorf("--customer is required (an external id, or id:N)")
	}
	ref, err := parseCustomer(customer)
	if err != nil {
		return nil, err
	}
	p, _, err := a.selectedPartner()
	if err != nil {
		return nil, err
	}
	t, err := p.SubAccount(ref)
	if err != nil {
		return nil, usageErrorf("--customer: %v", err)
	}
	return t, nil
}

// parseID reads a positive id argument.
func parseID(what, s string) (peliqan.ID, error) {
	id, err := peliqan.ParseID(s)
	if err != nil || id <= 0 {
		return 0, usageErrorf("%s %q is not a positive id", what, s)
	}
	return id, nil
}

// outputFormat is the --output value, checked against the command's
// formats by the root's pre-run.
func (a *app) outputFormat() string { return a.flags.output }

// note writes a line for people on stderr (summaries, dry-run hints).
func (a *app) note(format string, args ...any) {
	fmt.Fprintf(a.stderr, format+"\n", args...)
}
