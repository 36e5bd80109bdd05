package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/examples/internal/demotest"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

func TestRunAgainstFake(t *testing.T) {
	t.Parallel()
	lines := demotest.RunLines(t, run, demotest.Env(nil))
	assert.Equal(t, []string{
		"fleet-health: PELIQAN_PARTNER_TOKEN is not set: running against the in-process fake Peliqan (peliqantest) with seeded demo data",
		"scanned 5 customers, 10 connections",
		"verdicts: 2 needs_reauthorisation, 2 failed, 1 run_errors, 1 disabled, 4 healthy",
		"",
		"connections that need attention (5):",
		"  CUSTOMER                       CONNECTION    VERDICT                HEALTH                 LAST RUN               WHAT TO DO",
		"  acme (Acme Bakery)             HubSpot       needs_reauthorisation  RE_AUTHORISING         COMPLETED              send the customer through the widget or ReAuthoriseServer's URL",
		"  globex (Globex Garden Supply)  Bank account  needs_reauthorisation  AUTHORIZING            none                   send the customer through the widget or ReAuthoriseServer's URL",
		"  globex (Globex Garden Supply)  Orders DB     failed                 COMPLETED_WITH_ERRORS  COMPLETED_WITH_ERRORS  read ServerLogs; once the source is fixed, sync again",
		"  initech (Initech Tools)        Pipedrive     failed                 ERROR                  ERROR                  read ServerLogs; once the source is fixed, sync again",
		"  umbrella (Umbrella Travel)     HubSpot       run_errors             RE_AUTHORISED          ERROR                  read the last run's PipelineRunLogs",
	}, lines)
}

func TestRunAllListsEveryConnection(t *testing.T) {
	t.Parallel()
	lines := demotest.RunLines(t, run, demotest.Env(map[string]string{"PELIQAN_EXAMPLE_ALL": "1", "PELIQAN_EXAMPLE_CONCURRENCY": "2"}))
	assert.Equal(t, "all connections (5 need attention):", lines[4])
	assert.Len(t, lines, 6+10)
	for _, want := range []string{
		"  initech (Initech Tools)        Legacy CRM    disabled               DISABLED               none                   -",
		"  wayne (Wayne Fitness)          Pipedrive     healthy                OK                     COMPLETED              -",
	} {
		assert.Contains(t, lines, want)
	}
}

// With a partner token the example scans the account it is given and only
// reads. The "real" service here is a fake the test starts (without the
// seeded history), answering the first connection list with a 403, so the
// customer it belonged to shows as a failed scan and the rest go on.
func TestRunWithTokenReadsOnlyAndReportsScanFailures(t *testing.T) {
	t.Parallel()
	srv := peliqantest.NewFake(t, peliqantest.WithFixture(fleet()))
	srv.FailNext(peliqan.RouteListServers, 1, peliqantest.StatusFault(http.StatusForbidden, `{"detail": "You do not have permission to perform this action."}`))
	lines := demotest.RunLines(t, run, demotest.Env(map[string]string{
		"PELIQAN_PARTNER_TOKEN":       srv.PartnerToken(),
		"PELIQAN_BASE_URL":            srv.URL(),
		"PELIQAN_EXAMPLE_CONCURRENCY": "1",
	}))
	assert.Equal(t, "fleet-health: using Peliqan at "+srv.URL()+" with the partner token from PELIQAN_PARTNER_TOKEN", lines[0])
	assert.Equal(t, "scanned 5 customers, 8 connections", lines[1])
	assert.Equal(t, "verdicts: 1 scan_failed, 1 needs_reauthorisation, 1 failed, 1 disabled, 5 healthy", lines[2])
	text := strings.Join(lines, "\n")
	assert.Regexp(t, `(?m)^  acme \(Acme Bakery\) +- +scan_failed +- +- +the customer's connections could not be read: .*403`, text)
	assert.Regexp(t, `(?m)^  initech \(Initech Tools\) +Pipedrive +failed +ERROR +none `, text)
	for _, r := range srv.Requests() {
		assert.Equal(t, http.MethodGet, r.Method, "%s %s", r.Method, r.Path)
	}
	assert.Zero(t, srv.Count(peliqan.RouteSyncServer))
	assert.Zero(t, srv.Count(peliqan.RouteReAuthoriseServer))
}

func TestRunRejectsBadSettings(t *testing.T) {
	t.Parallel()
	for _, env := range []map[string]string{{"PELIQAN_EXAMPLE_ALL": "perhaps"}, {"PELIQAN_EXAMPLE_CONCURRENCY": "-1"}} {
		var out strings.Builder
		assert.Error(t, run(context.Background(), &out, demotest.Env(env)), "%v", env)
		assert.Empty(t, out.String())
	}
}
