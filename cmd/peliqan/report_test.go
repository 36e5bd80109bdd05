package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

const day = 24 * time.Hour

// reportFake is a partner account seeded 182 days before testStart, on a
// manual clock then moved to testStart:
//
//	idle    licence expired 2026-02-01; a connection never synced (inactive)
//	busy    expires 2026-03-20 (expiring); synced 32 days ago (active)
//	valid   expires 2027-01-01; synced 2 days ago (active)
//	empty   no expiry; nothing but the account (inactive)
func reportFake(t *testing.T, opts ...peliqantest.Option) (*peliqantest.Fake, *peliqantest.ManualClock) {
	t.Helper()
	t0 := testStart.Add(-182 * day)
	clk := peliqantest.NewManualClock(t0)
	f := peliqantest.NewFake(t, append([]peliqantest.Option{peliqantest.WithClock(clk.Now), peliqantest.WithSyncDuration(0),
		peliqantest.WithFixture(peliqantest.Fixture{SubAccounts: []peliqantest.SubAccountFixture{
			{ExternalID: "idle", ExpiresOn: peliqan.NewDate(2026, 2, 1), Connections: []peliqantest.ConnectionFixture{{Type: "pipedrive"}}},
			{ExternalID: "busy", ExpiresOn: peliqan.NewDate(2026, 3, 20), Connections: []peliqantest.ConnectionFixture{{Type: "hubspot"}}},
			{ExternalID: "valid", License: "pro", ExpiresOn: peliqan.NewDate(2027, 1, 1), Connections: []peliqantest.ConnectionFixture{{Type: "hubspot"}}},
			{ExternalID: "empty"},
		}})}, opts...)...)
	ids := map[string]peliqantest.SeededSubAccount{}
	for _, sd := range f.Seeded().SubAccounts {
		ids[sd.ExternalID] = sd
	}
	syncAt := func(ext string, at time.Time) {
		clk.Advance(at.Sub(clk.Now()))
		syncOnce(t, f, clk, ids[ext].ID, ids[ext].Connections[0].ID)
	}
	syncAt("busy", testStart.Add(-32*day))
	syncAt("valid", testStart.Add(-2*day))
	clk.Advance(testStart.Sub(clk.Now()))
	f.ResetRecords()
	return f, clk
}

// reportCLI is a CLI whose reports run on the fake's clock.
func reportCLI(t *testing.T, clk *peliqantest.ManualClock, names []string, fakes ...*peliqantest.Fake) *cli {
	c := newCLI(t).withProfiles(names, fakes...)
	c.now = clk.Now
	return c
}

func TestReportLicences(t *testing.T) {
	t.Parallel()
	f, clk := reportFake(t)
	c := reportCLI(t, clk, []string{"eu"}, f)
	r := c.must(exitAttention, "report", "licences")
	golden(t, "table/report_licences", r.stdout)
	if !strings.Contains(r.stderr, "4 customers; 2 expired or expiring.") {
		t.Errorf("summary %q", r.stderr)
	}
	var lines []map[string]any
	parseJSON(t, c.must(exitAttention, "report", "licences", "--expiring-only", "-o", "json").stdout, &lines)
	if len(lines) != 2 || lines[0]["external_id"] != "idle" || lines[0]["state"] != "expired" || lines[0]["days_left"] != json.Number("-29") ||
		lines[1]["external_id"] != "busy" || lines[1]["state"] != "expiring" || lines[1]["days_left"] != json.Number("18") {
		t.Errorf("expiring only: %v", lines)
	}
	parseJSON(t, c.must(exitOK, "report", "licences", "--license", "pro", "-o", "json").stdout, &lines)
	if len(lines) != 1 || lines[0]["external_id"] != "valid" {
		t.Errorf("--license pro: %v", lines)
	}
	if w := writes(f); len(w) != 0 {
		t.Errorf("a report wrote: %+v", w)
	}
}

func TestReportInactive(t *testing.T) {
	t.Parallel()
	f, clk := reportFake(t)
	c := reportCLI(t, clk, []string{"eu"}, f)
	r := c.must(exitAttention, "report", "inactive")
	golden(t, "table/report_inactive", r.stdout)
	var lines []map[string]any
	parseJSON(t, c.must(exitAttention, "report", "inactive", "--days", "30", "-o", "json").stdout, &lines)
	if len(lines) != 3 { // busy too, at 32 days
		t.Errorf("--days 30: %v", lines)
	}
	parseJSON(t, c.must(exitOK, "report", "inactive", "--days", "365", "-o", "json").stdout, &lines)
	if len(lines) != 0 {
		t.Errorf("--days 365: %v", lines)
	}
	c.must(exitUsage, "report", "inactive", "--days", "0")
	c.must(exitUsage, "report", "inactive", "--yes")
	c.must(exitUsage, "report", "inactive", "--close", "--all-profiles")
	if w := writes(f); len(w) != 0 {
		t.Errorf("a report wrote: %+v", w)
	}
}

// TestReportInactiveClose: the dry run sends no write and lists the
// requests; --yes sends exactly those.
func TestReportInactiveClose(t *testing.T) {
	t.Parallel()
	f, clk := reportFake(t)
	c := reportCLI(t, clk, []string{"eu"}, f)
	r := c.must(exitOK, "report", "inactive", "--close")
	golden(t, "table/report_inactive_close_dry_run", r.stdout)
	if w := writes(f); len(w) != 0 {
		t.Fatalf("dry run sent writes: %+v", w)
	}
	if !strings.Contains(r.stderr, "Dry run: nothing was changed. 2 would be closed") {
		t.Errorf("summary %q", r.stderr)
	}
	var plan []map[string]any
	parseJSON(t, c.must(exitOK, "report", "inactive", "--close", "-o", "json").stdout, &plan)
	var want []string
	for _, p := range plan {
		if p["outcome"] == "would_close" {
			want = append(want, p["request"].(string))
		}
	}
	if len(want) != 2 {
		t.Fatalf("plan %v", plan)
	}

	r = c.must(exitOK, "report", "inactive", "--close", "--yes", "-o", "json")
	var got []string
	for _, w := range writes(f) {
		got = append(got, w.Method+" "+w.Path)
	}
	if !sameSet(got, want) {
		t.Errorf("--yes sent\n%v\nwant exactly the dry run's\n%v", got, want)
	}
	if !strings.Contains(r.stderr, "2 closed, 0 failed") {
		t.Errorf("summary %q", r.stderr)
	}
	var left []map[string]any
	parseJSON(t, c.must(exitOK, "customers", "list", "-o", "json").stdout, &left)
	if len(left) != 2 {
		t.Errorf("%d customers left, want busy and valid", len(left))
	}
}

// TestReportsAllProfiles runs both reports over two partner accounts,
// then with one of them failing.
func TestReportsAllProfiles(t *testing.T) {
	t.Parallel()
	eu, clk := reportFake(t)
	us, _ := reportFake(t, peliqantest.WithSigningKey([]byte("the us partner account's own key")))
	c := reportCLI(t, clk, []string{"eu", "us"}, eu, us)
	r := c.must(exitAttention, "report", "licences", "--all-profiles", "--expiring-only")
	golden(t, "table/report_licences_all_profiles", r.stdout)
	var lines []map[string]any
	parseJSON(t, c.must(exitAttention, "report", "inactive", "--all-profiles", "-o", "json").stdout, &lines)
	perProfile := map[any]int{}
	for _, l := range lines {
		perProfile[l["profile"]]++
	}
	if perProfile["eu"] != 2 || perProfile["us"] != 2 {
		t.Errorf("inactive per profile %v", perProfile)
	}

	us.FailNext(peliqan.RouteListSubAccounts, 1, peliqantest.StatusFault(403, ""))
	r = c.must(exitAttention, "report", "licences", "--all-profiles", "-o", "json")
	parseJSON(t, r.stdout, &lines)
	if len(lines) != 4 || !strings.Contains(r.stderr, "profile us:") || !strings.Contains(r.stderr, "status: 403") {
		t.Errorf("one profile failing: %d lines\n%s", len(lines), r.stderr)
	}
	for _, l := range lines {
		if l["profile"] != "eu" {
			t.Errorf("line of the failed profile: %v", l)
		}
	}
}

// TestChangeLicences: a dry run writes nothing, --yes writes exactly the
// customers that differ, and a second run changes nothing.
func TestChangeLicences(t *testing.T) {
	t.Parallel()
	f, clk := reportFake(t)
	c := reportCLI(t, clk, []string{"eu"}, f)
	args := []string{"customers", "change-licences", "--where-license", "free_trial", "--license", "pro", "--expires-on", "2027-01-01"}
	r := c.must(exitOK, args...)
	golden(t, "table/change_licences_dry_run", r.stdout)
	if w := writes(f); len(w) != 0 {
		t.Fatalf("dry run sent writes: %+v", w)
	}
	var plan []map[string]any
	parseJSON(t, c.must(exitOK, append(args, "-o", "json")...).stdout, &plan)
	var want []string
	for _, p := range plan {
		if p["outcome"] == "would_change" {
			want = append(want, p["request"].(string))
		}
	}
	if len(want) != 3 {
		t.Fatalf("plan %v", plan)
	}
	r = c.must(exitOK, append(args, "--yes", "--concurrency", "1")...)
	var got []string
	for _, w := range writes(f) {
		got = append(got, w.Method+" "+w.Path)
	}
	if !sameSet(got, want) {
		t.Errorf("--yes sent\n%v\nwant exactly the dry run's\n%v", got, want)
	}
	if !strings.Contains(r.stderr, "3 changed, 0 unchanged, 0 failed") {
		t.Errorf("summary %q", r.stderr)
	}
	f.ResetRecords()
	r = c.must(exitOK, "customers", "change-licences", "--customer", "idle", "--customer", "busy", "--license", "pro", "--expires-on", "2027-01-01", "--yes")
	if w := writes(f); len(w) != 0 || !strings.Contains(r.stderr, "0 changed, 2 unchanged") {
		t.Errorf("second run wrote %d times: %s", len(w), r.stderr)
	}
	c.must(exitUsage, "customers", "change-licences", "--all")
	c.must(exitUsage, "customers", "change-licences", "--all", "--customer", "idle", "--license", "pro")
	c.must(exitUsage, "customers", "change-licences", "--all", "--expires-on", "2027-01-01", "--no-expiry")
}

// TestReportInactiveInterrupted: an interrupted close says what was done.
func TestReportInactiveInterrupted(t *testing.T) {
	t.Parallel()
	f, clk := reportFake(t)
	f.AddFaultRule(peliqantest.FaultRule{Route: peliqan.RouteListScripts, Probability: 1, Fault: peliqantest.LatencyFault(time.Minute)})
	c := reportCLI(t, clk, []string{"eu"}, f)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result)
	go func() { done <- c.runContext(ctx, "report", "inactive", "--close", "--yes") }()
	waitForCount(t, f, peliqan.RouteListScripts, 1)
	cancel()
	r := <-done
	if r.code != exitAttention {
		t.Errorf("exit %d: %s", r.code, r.stderr)
	}
	if w := writes(f); len(w) != 0 {
		t.Errorf("closed while interrupted before any customer was read: %+v", w)
	}
}

// sameSet compares two request lists regardless of order (customers are
// worked on concurrently).
func sameSet(a, b []string) bool {
	return strings.Join(sorted(a), "\n") == strings.Join(sorted(b), "\n")
}
