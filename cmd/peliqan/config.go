package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
)

// The config file holds the profiles: one partner account each (a region,
// a whitelabel). It holds partner tokens, so it is written with mode 0600
// in a 0700 directory, and a file others can read is refused.
//
//	{
//	  "default": "eu",
//	  "profiles": {
//	    "eu": {"base_url": "https://app.eu.peliqan.io", "partner_token": "..."}
//	  }
//	}
const configFileName = "config.json"

// config is the config file's content.
type config struct {
	Default  string              `json:"default,omitempty"`
	Profiles map[string]*profile `json:"profiles"`
}

// profile is one partner account.
type profile struct {
	BaseURL      string `json:"base_url,omitempty"`
	PartnerToken string `json:"partner_token"`
}

var profileNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// configPath is where the config file is: --config, or
// <user config dir>/peliqan/config.json.
func (a *app) configPath() (string, error) {
	if a.flags.config != "" {
		return a.flags.config, nil
	}
	dir, err := a.userConfigDir()
	if err != nil {
		return "", usageErrorf("cannot find the user config directory (%v): use --config", err)
	}
	return filepath.Join(dir, "peliqan", configFileName), nil
}

// loadConfig reads the config file; a missing file is an empty config.
// A file group or others can read or write is refused: it holds tokens.
func (a *app) loadConfig() (*config, string, error) {
	path, err := a.configPath()
	if err != nil {
		return nil, "", err
	}
	cfg := &config{Profiles: map[string]*profile{}}
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, path, nil
	}
	if err != nil {
		return nil, path, usageErrorf("config file: %v", err)
	}
	if err := checkMode(path, fi); err != nil {
		return nil, path, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, path, usageErrorf("config file: %v", err)
	}
	if err := json.Unmarshal(b, cfg); err != nil {
		// The decoder's message can quote the file's text: name the
		// position only, never the content (it holds tokens).
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, path, usageErrorf("config file %s is not valid JSON (at byte %d)", path, se.Offset)
		}
		return nil, path, usageErrorf("config file %s does not have the expected shape", path)
	}
	if cfg.Profiles == nil {
		cfg.Profiles = map[string]*profile{}
	}
	for name, p := range cfg.Profiles {
		if p == nil {
			return nil, path, usageErrorf("config file %s: profile %q is empty", path, name)
		}
	}
	return cfg, path, nil
}

// checkMode refuses a config file that group or others may read or write.
func checkMode(path string, fi fs.FileInfo) error {
	if runtime.GOOS == "windows" {
		return nil // no Unix mode bits; the profile directory's ACL applies
	}
	if !fi.Mode().IsRegular() {
		return usageErrorf("config file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return usageErrorf("config file %s has mode %04o: it holds partner tokens, so only you may read it; run: chmod 600 %s", path, perm, path)
	}
	return nil
}

// saveConfig writes cfg atomically with mode 0600 (directory 0700): a
// temporary file in the same directory, renamed over the old one.
func saveConfig(path string, cfg *config) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	f, err := os.CreateTemp(dir, ".config-*.json")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// profileNames returns the profiles' names, sorted.
func (c *config) profileNames() []string {
	names := make([]string, 0, len(c.Profiles))
	for n := range c.Profiles {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// account is a partner account to talk to: a profile, possibly overridden
// by the environment.
type account struct {
	Name    string // the profile's name; "env" when only the environment named it
	BaseURL string
	Token   string
}

// Environment variables that override the selected profile.
const (
	envToken   = "PELIQAN_PARTNER_TOKEN"
	envBaseURL = "PELIQAN_BASE_URL"
)

// selectAccount picks the account of a single-account command: --profile,
// else the config's default, else its only profile; PELIQAN_PARTNER_TOKEN
// and PELIQAN_BASE_URL override what the profile says (and are enough on
// their own).
func (a *app) selectAccount() (*account, error) {
	cfg, path, err := a.loadConfig()
	if err != nil {
		return nil, err
	}
	name := a.flags.profile
	if name == "" {
		name = cfg.Default
	}
	if name == "" && len(cfg.Profiles) == 1 {
		name = cfg.profileNames()[0]
	}
	acc := &account{}
	if name != "" {
		p, ok := cfg.Profiles[name]
		if !ok {
			if a.flags.profile == "" {
				return nil, usageErrorf("config file %s names default profile %q, which it does not hold", path, name)
			}
			return nil, usageErrorf("no profile %q in %s (profiles: %s)", name, path, listOrNone(cfg.profileNames()))
		}
		acc = &account{Name: name, BaseURL: p.BaseURL, Token: p.PartnerToken}
	}
	if v := a.getenv(envToken); v != "" {
		acc.Token = v
		if acc.Name == "" {
			acc.Name = "env"
		}
	}
	if v := a.getenv(envBaseURL); v != "" {
		acc.BaseURL = v
	}
	if acc.Token == "" {
		if len(cfg.Profiles) > 1 {
			return nil, usageErrorf("several profiles in %s and no default: choose one with --profile (%s)", path, listOrNone(cfg.profileNames()))
		}
		return nil, usageErrorf("no partner token: set %s, or add a profile with \"peliqan profiles set NAME\"", envToken)
	}
	return acc, nil
}

// allAccounts returns every profile of the config file, sorted by name,
// for --all-profiles. The environment overrides do not apply: each profile
// is its own account.
func (a *app) allAccounts() ([]*account, error) {
	cfg, path, err := a.loadConfig()
	if err != nil {
		return nil, err
	}
	if len(cfg.Profiles) == 0 {
		return nil, usageErrorf("--all-profiles: no profiles in %s", path)
	}
	var out []*account
	for _, n := range cfg.profileNames() {
		p := cfg.Profiles[n]
		out = append(out, &account{Name: n, BaseURL: p.BaseURL, Token: p.PartnerToken})
	}
	return out, nil
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return fmt.Sprint(names)
}
