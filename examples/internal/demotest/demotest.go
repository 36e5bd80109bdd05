// Package demotest holds what the examples' tests share: an environment
// built from a map, and running an example's run function to its output
// lines.
package demotest

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Env returns an environment lookup over m (nil: nothing set, so the
// examples use the in-process fake).
func Env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// RunLines runs an example's run function with env, requires it to succeed
// within 30 s, and returns its output split into lines.
func RunLines(t *testing.T, run func(context.Context, io.Writer, func(string) string) error, env func(string) string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out strings.Builder
	require.NoError(t, run(ctx, &out, env))
	return strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
}
