package main

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/examples/internal/demotest"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// tokenLine matches a truncated token: a JWT's first 8 characters and its
// length, never more.
const tokenLine = `eyJhbGci… \[\d+ chars\]$`

func TestRunAgainstFake(t *testing.T) {
	t.Parallel()
	lines := demotest.RunLines(t, run, demotest.Env(nil))
	require.Len(t, lines, 11, strings.Join(lines, "\n"))
	assert.Equal(t, []string{
		"provision: PELIQAN_PARTNER_TOKEN is not set: running against the in-process fake Peliqan (peliqantest) with seeded demo data",
		`customer "wood-and-co":`,
		`  EnsureSubAccount #1: created account 49 "Wood And Co" (created=true)`,
		`  EnsureSubAccount #2: found account 49 "Wood And Co" (created=false)`,
		"tokens (truncated; a token is a credential):",
	}, lines[:5])
	assert.Regexp(t, `^  identity token \(server side, does not expire\): `+tokenLine, lines[5])
	assert.Regexp(t, `^  integration token \(for the embed widget, expires in 30m\): `+tokenLine, lines[6])
	assert.Equal(t, []string{
		`script "hello_peliqan_go":`,
		"  PublishScript #1: created (script 53)",
		"  PublishScript #2: unchanged (script 53)",
		"the customer's scripts: hello_peliqan_go",
	}, lines[7:])
}

// With a partner token the example writes only to the customer it is given.
// The "real" service here is a fake the test starts, so what the example
// sent can be checked.
func TestRunWithTokenNeedsExternalID(t *testing.T) {
	t.Parallel()
	srv := peliqantest.NewFake(t)
	var out strings.Builder
	err := run(context.Background(), &out, demotest.Env(map[string]string{
		"PELIQAN_PARTNER_TOKEN": srv.PartnerToken(),
		"PELIQAN_BASE_URL":      srv.URL(),
	}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "-external-id")
	assert.Empty(t, out.String())
	assert.Empty(t, srv.Requests(), "nothing is sent without -external-id")
}

func TestRunWithTokenTwiceIsIdempotent(t *testing.T) {
	t.Parallel()
	srv := peliqantest.NewFake(t)
	env := demotest.Env(map[string]string{
		"PELIQAN_PARTNER_TOKEN":       srv.PartnerToken(),
		"PELIQAN_BASE_URL":            srv.URL(),
		"PELIQAN_EXAMPLE_EXTERNAL_ID": "acme_42",
		"PELIQAN_EXAMPLE_COMPANY":     "Acme Corp",
		"PELIQAN_EXAMPLE_EMAIL":       "owner@acme.example",
		"PELIQAN_EXAMPLE_SCRIPT":      "acme_report",
	})
	first := demotest.RunLines(t, run, env)
	assert.Equal(t, "provision: using Peliqan at "+srv.URL()+" with the partner token from PELIQAN_PARTNER_TOKEN", first[0])
	assert.Contains(t, first, `customer "acme_42":`)
	assert.Regexp(t, `^  EnsureSubAccount #1: created account \d+ "Acme Corp" \(created=true\)$`, first[2])
	assert.Contains(t, first, "the customer's scripts: acme_report")
	require.Equal(t, 1, srv.Count(peliqan.RouteCreateSubAccount))
	require.Equal(t, 1, srv.Count(peliqan.RouteCreateScript))

	second := demotest.RunLines(t, run, env)
	assert.Regexp(t, `^  EnsureSubAccount #1: found account \d+ "Acme Corp" \(created=false\)$`, second[2])
	assert.Regexp(t, `^  PublishScript #1: unchanged \(script \d+\)$`, second[8])
	assert.Equal(t, 1, srv.Count(peliqan.RouteCreateSubAccount), "no second account")
	assert.Equal(t, 1, srv.Count(peliqan.RouteCreateScript), "no second script")
	assert.Zero(t, srv.Count(peliqan.RouteUpdateScript), "an unchanged script is not written")

	p, err := srv.PartnerClient()
	require.NoError(t, err)
	sa, err := p.GetSubAccount(context.Background(), peliqan.ByExternalID("acme_42"))
	require.NoError(t, err)
	assert.Equal(t, "owner@acme.example", sa.Email)
}

// No token is ever printed whole.
func TestRunNeverPrintsTokens(t *testing.T) {
	t.Parallel()
	srv := peliqantest.NewFake(t)
	var out strings.Builder
	require.NoError(t, run(context.Background(), &out, demotest.Env(map[string]string{
		"PELIQAN_PARTNER_TOKEN":       srv.PartnerToken(),
		"PELIQAN_BASE_URL":            srv.URL(),
		"PELIQAN_EXAMPLE_EXTERNAL_ID": "x1",
	})))
	// Every token the fake signs is a JWT starting with this header; only
	// its first 8 characters may be shown.
	assert.Contains(t, out.String(), "eyJhbGci…")
	assert.NotContains(t, out.String(), "eyJhbGciO")
	assert.NotContains(t, out.String(), srv.PartnerToken())
}

func TestCompanyFrom(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "Wood And Co", companyFrom("wood-and-co"))
	assert.Equal(t, "Acme 42", companyFrom("acme_42"))
	assert.Equal(t, "X", companyFrom("x"))
	assert.Equal(t, "Émile Co", companyFrom("émile.co"))
}
