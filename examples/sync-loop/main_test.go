package main

import (
	"context"
	"encoding/json"
	"regexp"
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
	srv := peliqantest.NewServer(t, peliqantest.WithFixture(fixture()))
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

func TestConnectionTables(t *testing.T) {
	t.Parallel()
	dbs := []peliqan.Database{{ID: 1, Name: "dw",
		Schemas: []peliqan.Schema{{ID: 10, Name: "public"}, {ID: 11, Name: "crm"}},
		Tables:  []peliqan.TableRef{{ID: 100, Name: "deals", SchemaID: 11}, {ID: 101, Name: "contacts", SchemaID: 11}, {ID: 102, Name: "x", SchemaID: 10}},
	}}
	names := func(raw string) ([]string, bool) {
		tabs, found := connectionTables(peliqan.Server{Raw: json.RawMessage(raw)}, dbs)
		var out []string
		for _, tb := range tabs {
			out = append(out, tb.Name)
		}
		return out, found
	}
	for _, raw := range []string{
		`{"target_schema": {"id": 11, "schema_name": "crm"}}`,
		`{"target_schema": {"id": "11"}, "database_id": 1}`,
		`{"target_schema": 11}`,
		`{"target_schema": "crm"}`,
		`{"target_schema": {"name": "crm"}}`,
	} {
		got, found := names(raw)
		assert.True(t, found, raw)
		assert.Equal(t, []string{"contacts", "deals"}, got, raw)
	}
	for _, raw := range []string{`{}`, `{"target_schema": null}`, `{"target_schema": [1]}`} {
		_, found := names(raw)
		assert.False(t, found, raw)
	}
	got, found := names(`{"target_schema": 11, "database_id": 2}`)
	assert.True(t, found)
	assert.Empty(t, got, "another database")
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
