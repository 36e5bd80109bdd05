package main

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/examples/internal/demotest"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// noEnv is an environment with nothing set: the example uses the fake.
func noEnv(string) string { return "" }

func TestRunAgainstFake(t *testing.T) {
	t.Parallel()
	lines := demotest.RunLines(t, run, noEnv)
	text := strings.Join(lines, "\n")

	require.Equal(t, "sync-loop: PELIQAN_PARTNER_TOKEN is not set: running against the in-process fake Peliqan (peliqantest) with seeded demo data", lines[0])
	assert.Equal(t, "mode: sync each connection, wait for it, then read its rows", lines[1])
	for _, want := range []string{
		`== Acme Bakery (external id "acme", account 9)`,
		"  - Pipedrive [pipedrive] health OK",
		"    sync COMPLETED: 10 records (contacts 5, deals 5)",
		"  - Bank account [saltedge] health OK",
		"    sync COMPLETED: 5 records (transactions 5)",
		`== Globex Garden Supply (external id "globex", account 34)`,
		"  - HubSpot [hubspot] health AUTHORIZING",
		"    skipped: waits for the customer to authorise it (widget or ReAuthoriseServer)",
		"  - Orders DB [postgresql] health OK",
		"    sync COMPLETED_WITH_ERRORS: 2 records (contacts 2)",
		"    message: Some records could not be synced",
		`== Initech Tools (external id "initech", account 62)`,
		"  - Pipedrive [pipedrive] health ERROR",
		"    sync ERROR: 0 records (contacts 0, deals 0)",
		"    message: Source returned 401 Unauthorized: the credentials are no longer valid",
		"summary (3 customers):",
		"  acme     Acme Bakery           2 connections  2 synced  0 failed  0 skipped  47 rows",
		"  globex   Globex Garden Supply  2 connections  1 synced  0 failed  1 skipped  22 rows",
		"  initech  Initech Tools         1 connection   0 synced  1 failed  0 skipped  10 rows",
	} {
		assert.Contains(t, lines, want)
	}
	// Rows: the seeded rows plus those the sync appended (none after ERROR),
	// each with a sample row that starts with its id.
	for _, re := range []string{
		`(?m)^    contacts: 17 rows, first: \{"id":1,"active":`,
		`(?m)^    deals: 17 rows, first: \{"id":1,"amount":`,
		`(?m)^    transactions: 13 rows, first: \{"id":1,"amount":[0-9.]+,"booked_at":"2024-01-01T[0-9:]+Z","description":"[A-Za-z ]+"\}$`,
		`(?m)^    contacts: 22 rows, first: `,
		`(?m)^    contacts: 5 rows, first: `,
		`(?m)^    deals: 5 rows, first: `,
	} {
		assert.Regexp(t, re, text)
	}
	// Every synced connection printed where its data is (found by the
	// lookup routes, also for the one without target_schema) and rows of
	// each of its tables.
	blocks := connectionBlocks(lines)
	synced := 0
	for name, block := range blocks {
		if !regexp.MustCompile(`(?m)^    sync (COMPLETED|COMPLETED_WITH_ERRORS):`).MatchString(block) {
			continue
		}
		synced++
		m := regexp.MustCompile(`(?m)^    data in dw_\d+\.\S+ \(found by lookup\): (\d+) tables?$`).FindStringSubmatch(block)
		require.NotNil(t, m, "%s:\n%s", name, block)
		tablesWithRows := regexp.MustCompile(`(?m)^    \S+: [1-9]\d* rows, first: \{"id":1,`).FindAllString(block, -1)
		assert.Equal(t, m[1], strconv.Itoa(len(tablesWithRows)), "%s: rows of every table:\n%s", name, block)
		assert.NotEmpty(t, tablesWithRows, name)
	}
	assert.Equal(t, 3, synced, "Pipedrive and Bank account of acme, Orders DB of globex")
	assert.Contains(t, blocks, "acme/Bank account [saltedge]", "the connection that sends no target_schema")

	// Progress: every sync was polled until done; four syncs in all.
	assert.Len(t, regexp.MustCompile(`(?m)^    sync started \(task \S+\)$`).FindAllString(text, -1), 4)
	assert.Len(t, regexp.MustCompile(`(?m)^    poll \d+: done \(\d+\.\ds\)$`).FindAllString(text, -1), 4)
	assert.Regexp(t, `(?m)^    poll 1: running \(\d+\.\ds\)$`, text)
}

// With a partner token the example is read-only unless told to sync: here
// the "real" service is a fake started by the test, so what the example
// sent can be checked.
func TestRunWithTokenIsReadOnly(t *testing.T) {
	t.Parallel()
	srv := peliqantest.NewFake(t, peliqantest.WithFixture(fixture()))
	lines := demotest.RunLines(t, run, demotest.Env(map[string]string{
		"PELIQAN_PARTNER_TOKEN":     srv.PartnerToken(),
		"PELIQAN_BASE_URL":          srv.URL(),
		"PELIQAN_EXAMPLE_CUSTOMERS": "2",
	}))
	assert.Equal(t, "sync-loop: using Peliqan at "+srv.URL()+" with the partner token from PELIQAN_PARTNER_TOKEN", lines[0])
	assert.Equal(t, "mode: read only (pass -sync or set PELIQAN_EXAMPLE_SYNC=1 to start syncs)", lines[1])
	assert.Contains(t, lines, "    last run: none")
	assert.Regexp(t, `(?m)^    contacts: 12 rows, first: \{"id":1,"active":`, strings.Join(lines, "\n"))
	assert.Contains(t, lines, "(stopping after 2 customers)")
	assert.Contains(t, lines, "summary (2 customers):")
	assert.NotContains(t, strings.Join(lines, "\n"), "initech")
	assert.Zero(t, srv.Count(peliqan.RouteSyncServer), "no sync without -sync")
	for _, r := range srv.Requests() {
		assert.Equal(t, "GET", r.Method, "%s %s", r.Method, r.Path)
	}
}

// connectionBlocks splits the output into one text per connection, keyed
// "<external id>/<connection line>".
func connectionBlocks(lines []string) map[string]string {
	out := map[string]string{}
	customer, key := "", ""
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "== "):
			customer, key = regexp.MustCompile(`external id "([^"]+)"`).FindStringSubmatch(l)[1], ""
		case strings.HasPrefix(l, "  - "):
			name := strings.TrimPrefix(l, "  - ")
			key = customer + "/" + name[:strings.Index(name, " health")]
		case strings.HasPrefix(l, "    ") && key != "":
			out[key] += l + "\n"
		default:
			key = ""
		}
	}
	return out
}

func indexOfPrefix(lines []string, prefix string) int {
	for i, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return i
		}
	}
	return 0
}

func TestRunRejectsBadSettings(t *testing.T) {
	t.Parallel()
	for _, env := range []map[string]string{
		{"PELIQAN_EXAMPLE_SYNC": "maybe"},
		{"PELIQAN_EXAMPLE_CUSTOMERS": "0"},
		{"PELIQAN_EXAMPLE_MAX_ROWS": "x"},
	} {
		var out strings.Builder
		err := run(context.Background(), &out, demotest.Env(env))
		assert.Error(t, err, "%v", env)
		assert.Empty(t, out.String(), "nothing is done before the settings are checked")
	}
}

func TestMaxRowsStopsReading(t *testing.T) {
	t.Parallel()
	lines := demotest.RunLines(t, run, demotest.Env(map[string]string{"PELIQAN_EXAMPLE_MAX_ROWS": "3"}))
	assert.Regexp(t, `^    contacts: 3\+ rows, first: `, lines[indexOfPrefix(lines, "    contacts: 3+")])
	assert.Contains(t, lines, "  acme     Acme Bakery           2 connections  2 synced  0 failed  0 skipped  9 rows")
}

func TestRunStopsWhenInterrupted(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	var out strings.Builder
	// Interrupted during the first sync's wait: nothing more is started.
	w := writerFunc(func(p []byte) (int, error) {
		if strings.Contains(string(p), "sync started") {
			cancel()
		}
		return out.Write(p)
	})
	err := run(ctx, w, noEnv)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 1, strings.Count(out.String(), "sync started"), out.String())
	assert.NotContains(t, out.String(), "summary")
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
