package main

import (
	"io"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// commandPaths lists every command of the tree, as the words after
// "peliqan" ("" for the root).
func commandPaths() [][]string {
	var out [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		out = append(out, path)
		for _, sub := range c.Commands() {
			if sub.Name() == "help" {
				continue
			}
			walk(sub, append(append([]string{}, path...), sub.Name()))
		}
	}
	root := newApp().rootCommand()
	root.InitDefaultCompletionCmd() // added at execution; its help is pinned too
	walk(root, nil)
	return out
}

// leafPaths lists the commands that run something (not groups).
func leafPaths(t *testing.T) [][]string {
	t.Helper()
	root := (&app{stdout: io.Discard, stderr: io.Discard}).rootCommand()
	root.InitDefaultCompletionCmd()
	var out [][]string
	for _, p := range commandPaths() {
		c, _, err := root.Find(p)
		if err != nil {
			t.Fatal(err)
		}
		if c.Runnable() && !c.HasSubCommands() && !strings.HasPrefix(c.CommandPath(), "peliqan completion") {
			out = append(out, p)
		}
	}
	return out
}

// TestHelpGolden pins the --help text of every command.
func TestHelpGolden(t *testing.T) {
	t.Parallel()
	for _, path := range commandPaths() {
		name := "help/" + strings.Join(append([]string{"peliqan"}, path...), "_")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newCLI(t).must(exitOK, append(append([]string{}, path...), "--help")...)
			if r.stderr != "" {
				t.Errorf("help wrote to stderr: %q", r.stderr)
			}
			golden(t, name, r.stdout)
		})
	}
}

// TestHelpNamesInferredRoutes checks that the commands sending an inferred
// route say so in their help.
func TestHelpNamesInferredRoutes(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"customers", "delete"}, {"customers", "update"}, {"connections", "reauth-url"}, {"connections", "get"},
		{"connections", "delete"},
	} {
		r := newCLI(t).must(exitOK, append(args, "--help")...)
		if !strings.Contains(r.stdout, "INFERRED ROUTE:") {
			t.Errorf("%v --help does not flag its inferred route:\n%s", args, r.stdout)
		}
	}
	r := newCLI(t).must(exitOK, "customers", "list", "--help")
	if strings.Contains(r.stdout, "INFERRED ROUTE") {
		t.Errorf("customers list is on a documented route, its help says inferred:\n%s", r.stdout)
	}
}
