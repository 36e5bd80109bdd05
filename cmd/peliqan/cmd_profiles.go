package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/peliqan-community/peliqan-go"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// profileRow is one line of "profiles list".
type profileRow struct {
	name, baseURL, token string
	isDefault            bool
}

func (a *app) profileColumns(reveal bool) []column[profileRow] {
	return []column[profileRow]{
		{"name", func(r profileRow) any { return r.name }},
		{"default", func(r profileRow) any { return r.isDefault }},
		{"base_url", func(r profileRow) any {
			if r.baseURL == "" {
				return peliqan.DefaultBaseURL
			}
			return r.baseURL
		}},
		{"partner_token", func(r profileRow) any { return tokenText(r.token, reveal) }},
	}
}

func (a *app) profilesCommand() *cobra.Command {
	var reveal bool
	list := a.leaf(&cobra.Command{
		Use:   "list",
		Short: "List the profiles of the config file (tokens masked unless --reveal)",
		Long: `List the profiles of the config file. Tokens are masked unless --reveal.

Fields: ` + fieldNames(a.profileColumns(false)),
	}, func(ctx context.Context, cmd *cobra.Command, args []string) error {
		cfg, _, err := a.loadConfig()
		if err != nil {
			return err
		}
		var rows []profileRow
		for _, n := range cfg.profileNames() {
			p := cfg.Profiles[n]
			rows = append(rows, profileRow{name: n, baseURL: p.BaseURL, token: p.PartnerToken, isDefault: n == cfg.Default})
		}
		return writeList(a.stdout, a.outputFormat(), a.profileColumns(reveal), rows)
	})
	list.Flags().BoolVar(&reveal, "reveal", false, "print the partner tokens")

	var baseURL string
	var makeDefault bool
	set := a.leaf(&cobra.Command{
		Use:   "set NAME",
		Short: "Add or change a profile; the partner token is read from stdin",
		Long: `Add or change a profile. The partner token is read from stdin (typed
without echo on a terminal), never from the command line, where it would
land in the shell's history. An empty line keeps an existing profile's
token. The config file is written with mode 0600.

  peliqan profiles set eu --default < token.txt
  peliqan profiles set us --base-url https://app.us.peliqan.io`,
		Args: exactArgs(1, "a profile name"),
	}, func(ctx context.Context, cmd *cobra.Command, args []string) error {
		name := args[0]
		if !profileNameRE.MatchString(name) {
			return usageErrorf("profile name %q: use letters, digits, '.', '_' and '-'", name)
		}
		cfg, path, err := a.loadConfig()
		if err != nil {
			return err
		}
		p := cfg.Profiles[name]
		if p == nil {
			p = &profile{}
		}
		tok, err := a.readSecret(fmt.Sprintf("Partner token for %s: ", name))
		if err != nil {
			return err
		}
		if tok != "" {
			p.PartnerToken = tok
		}
		if p.PartnerToken == "" {
			return usageErrorf("no partner token on stdin")
		}
		if cmd.Flags().Changed("base-url") {
			p.BaseURL = baseURL
		}
		// The SDK checks the token's form and the URL, without any request.
		opts := []peliqan.Option{}
		if p.BaseURL != "" {
			opts = append(opts, peliqan.WithBaseURL(p.BaseURL))
		}
		if _, err := peliqan.NewPartnerClient(p.PartnerToken, opts...); err != nil {
			return usageErrorf("profile %s: %v", name, err)
		}
		cfg.Profiles[name] = p
		if makeDefault || len(cfg.Profiles) == 1 {
			cfg.Default = name
		}
		if err := saveConfig(path, cfg); err != nil {
			return err
		}
		a.note("profile %s saved in %s", name, path)
		return nil
	})
	set.Flags().StringVar(&baseURL, "base-url", "", "API base URL (default "+peliqan.DefaultBaseURL+")")
	set.Flags().BoolVar(&makeDefault, "default", false, "make it the default profile")

	use := a.leaf(&cobra.Command{
		Use:   "use NAME",
		Short: "Make a profile the default",
		Args:  exactArgs(1, "a profile name"),
	}, func(ctx context.Context, cmd *cobra.Command, args []string) error {
		cfg, path, err := a.loadConfig()
		if err != nil {
			return err
		}
		if _, ok := cfg.Profiles[args[0]]; !ok {
			return usageErrorf("no profile %q in %s", args[0], path)
		}
		cfg.Default = args[0]
		if err := saveConfig(path, cfg); err != nil {
			return err
		}
		a.note("default profile: %s", args[0])
		return nil
	})

	remove := a.leaf(&cobra.Command{
		Use:   "remove NAME",
		Short: "Remove a profile from the config file (nothing is sent to Peliqan)",
		Args:  exactArgs(1, "a profile name"),
	}, func(ctx context.Context, cmd *cobra.Command, args []string) error {
		cfg, path, err := a.loadConfig()
		if err != nil {
			return err
		}
		if _, ok := cfg.Profiles[args[0]]; !ok {
			return usageErrorf("no profile %q in %s", args[0], path)
		}
		delete(cfg.Profiles, args[0])
		if cfg.Default == args[0] {
			cfg.Default = ""
		}
		if err := saveConfig(path, cfg); err != nil {
			return err
		}
		a.note("profile %s removed", args[0])
		return nil
	})

	c := group("profiles", "Partner accounts in the config file", list, set, use, remove)
	c.Long = `Profiles are partner accounts (regions, whitelabels) kept in the config
file, <user config dir>/peliqan/config.json unless --config names another.
The file holds partner tokens: it is written with mode 0600, and a file
that group or others can read is refused. Tokens are stored nowhere else.`
	return c
}

// readSecret reads one line from stdin: without echo, after a prompt on
// stderr, when stdin is a terminal.
func (a *app) readSecret(prompt string) (string, error) {
	if f, ok := a.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(a.stderr, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.stderr)
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(string(b)), nil
	}
	line, err := bufio.NewReader(a.stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", err
	}
	return strings.TrimSpace(line), nil
}
