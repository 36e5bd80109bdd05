package demo

import (
	"context"
	"flag"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/peliqan-community/peliqan-go/peliqantest"
)

func TestRedact(t *testing.T) {
	t.Parallel()
	tok := "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhY2NvdW50X2lkIjoxfQ.sig"
	assert.Equal(t, "eyJhbGci… [63 chars]", Redact(tok))
	assert.Equal(t, "[6 chars]", Redact("secret"), "a short token shows nothing")
	assert.Equal(t, "[0 chars]", Redact(""))
}

func TestBoolAndInt(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for v, want := range map[string]bool{"": false, "0": false, "no": false, "1": true, "TRUE": true, " yes ": true, "on": true} {
		got, err := Bool(env(map[string]string{"K": v}), "K")
		require.NoError(t, err, v)
		assert.Equal(t, want, got, v)
	}
	_, err := Bool(env(map[string]string{"K": "maybe"}), "K")
	assert.ErrorContains(t, err, `K="maybe"`)

	n, err := Int(env(nil), "N", 7)
	require.NoError(t, err)
	assert.Equal(t, 7, n)
	n, err = Int(env(map[string]string{"N": "12"}), "N", 7)
	require.NoError(t, err)
	assert.Equal(t, 12, n)
	for _, bad := range []string{"0", "-3", "x"} {
		_, err := Int(env(map[string]string{"N": bad}), "N", 7)
		assert.Error(t, err, bad)
	}
}

func TestFlagsOverrideEnv(t *testing.T) {
	t.Parallel()
	base := func(k string) string { return map[string]string{"A": "from-env", "B": "env-b", "C": "env-c"}[k] }
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Bool("sync", false, "")
	fs.String("name", "default", "")
	env, err := Flags(fs, []string{"-sync"}, base, map[string]string{"sync": "A", "name": "B"})
	require.NoError(t, err)
	assert.Equal(t, "true", env("A"), "a flag that was set wins")
	assert.Equal(t, "env-b", env("B"), "a flag left unset leaves the variable alone")
	assert.Equal(t, "env-c", env("C"))

	_, err = Flags(flag.NewFlagSet("y", flag.ContinueOnError), []string{"stray"}, base, nil)
	assert.ErrorContains(t, err, "unexpected arguments")
}

func TestOpenFake(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	prepared := false
	env, err := Open(context.Background(), &out, func(string) string { return "" }, Config{Name: "x",
		Fake: []peliqantest.Option{peliqantest.WithFixture(peliqantest.Generate(1, 1, 1, 0))},
		Prepare: func(_ context.Context, srv *peliqantest.Fake) error {
			prepared = srv != nil
			return nil
		}})
	require.NoError(t, err)
	defer env.Close()
	assert.True(t, prepared)
	assert.False(t, env.Real())
	assert.NotNil(t, env.Poll)
	assert.Equal(t, "x: PELIQAN_PARTNER_TOKEN is not set: running against the in-process fake Peliqan (peliqantest) with seeded demo data\n", out.String())
	n := 0
	for _, err := range env.Partner.SubAccounts(context.Background(), nil) {
		require.NoError(t, err)
		n++
	}
	assert.Equal(t, 1, n)

	out.Reset()
	env2, err := Open(context.Background(), &out, func(k string) string {
		return map[string]string{EnvBaseURL: "https://acme.peliqan.io"}[k]
	}, Config{Name: "x"})
	require.NoError(t, err)
	defer env2.Close()
	assert.False(t, env2.Real())
	assert.Contains(t, out.String(), "\nx: PELIQAN_BASE_URL is ignored without a partner token\n")
}

func TestOpenReal(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	env, err := Open(context.Background(), &out, func(k string) string {
		return map[string]string{EnvToken: "tok"}[k]
	}, Config{Name: "x"})
	require.NoError(t, err)
	defer env.Close()
	assert.True(t, env.Real())
	assert.Nil(t, env.Poll, "Peliqan's own poll schedule")
	assert.Equal(t, "x: using Peliqan at https://app.eu.peliqan.io with the partner token from PELIQAN_PARTNER_TOKEN\n", out.String())
	assert.NotContains(t, out.String(), "tok\n")

	_, err = Open(context.Background(), &out, func(k string) string {
		return map[string]string{EnvToken: "tok", EnvBaseURL: "http://example.com"}[k]
	}, Config{Name: "x"})
	assert.Error(t, err, "plain http to a non-loopback host is refused")
}
