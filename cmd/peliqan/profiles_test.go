package main

import (
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"

	"github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// twoAccounts starts two fakes as the profiles "eu" (the generated three
// customers) and "us" (two customers of its own, one connection each: one
// OK, one needing re-authorisation).
func twoAccounts(t *testing.T) (*cli, *peliqantest.Fake, *peliqantest.Fake) {
	t.Helper()
	eu, _ := newTestFake(t)
	us := peliqantest.NewFake(t, peliqantest.WithClock(peliqantest.NewManualClock(testStart).Now),
		peliqantest.WithSigningKey([]byte("the us partner account's own key")),
		peliqantest.WithFixture(peliqantest.Fixture{SubAccounts: []peliqantest.SubAccountFixture{
			{ExternalID: "us-1", Connections: []peliqantest.ConnectionFixture{{Type: "hubspot"}}},
			{ExternalID: "us-2", Connections: []peliqantest.ConnectionFixture{{Type: "hubspot", HealthStatus: "RE_AUTHORISING"}}},
		}}))
	return newCLI(t).withProfiles([]string{"eu", "us"}, eu, us), eu, us
}

// TestAllProfilesCustomers lists both accounts' customers, tagged with
// their profile.
func TestAllProfilesCustomers(t *testing.T) {
	t.Parallel()
	c, _, _ := twoAccounts(t)
	r := c.must(exitOK, "customers", "list", "--all-profiles")
	golden(t, "table/customers_list_all_profiles", r.stdout)

	r = c.must(exitOK, "customers", "list", "--all-profiles", "-o", "csv")
	recs, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if recs[0][0] != "profile" || len(recs) != 1+3+2 {
		t.Fatalf("csv: %v", recs)
	}
	perProfile := map[string]int{}
	for _, rec := range recs[1:] {
		perProfile[rec[0]]++
	}
	if perProfile["eu"] != 3 || perProfile["us"] != 2 {
		t.Errorf("customers per profile %v, want eu 3, us 2", perProfile)
	}
}

// TestAllProfilesOneFails: one account failing does not hide the other's
// results; the failure names its profile and the exit status is 1.
func TestAllProfilesOneFails(t *testing.T) {
	t.Parallel()
	c, _, us := twoAccounts(t)
	us.FailNext(peliqan.RouteListSubAccounts, 1, peliqantest.StatusFault(403, ""))
	r := c.must(exitAttention, "customers", "list", "--all-profiles", "-o", "json")
	var items []map[string]any
	parseJSON(t, r.stdout, &items)
	if len(items) != 3 {
		t.Fatalf("%d customers listed, want eu's 3:\n%s", len(items), r.stdout)
	}
	for _, it := range items {
		if it["profile"] != "eu" {
			t.Errorf("listed %v", it)
		}
	}
	if !strings.Contains(r.stderr, "profile us:") || !strings.Contains(r.stderr, "status: 403") {
		t.Errorf("the failure does not name its profile and status:\n%s", r.stderr)
	}

	us.FailNext(peliqan.RouteListSubAccounts, 1, peliqantest.StatusFault(403, ""))
	r = c.must(exitAttention, "fleet", "health", "--all-profiles", "-o", "json")
	var rows []map[string]any
	parseJSON(t, r.stdout, &rows)
	if len(rows) != 6 {
		t.Fatalf("fleet health: %d rows, want eu's 6", len(rows))
	}
	if !strings.Contains(r.stderr, "profile us:") || !strings.Contains(r.stderr, "1 profile could not be scanned") {
		t.Errorf("fleet health does not report the failed profile:\n%s", r.stderr)
	}
}

// TestAllProfilesFleetHealth scans both accounts.
func TestAllProfilesFleetHealth(t *testing.T) {
	t.Parallel()
	c, _, _ := twoAccounts(t)
	r := c.must(exitAttention, "fleet", "health", "--all-profiles", "--skip-last-run")
	golden(t, "table/fleet_health_all_profiles", r.stdout)
	if !strings.Contains(r.stderr, "8 connections of 5 customers") || !strings.Contains(r.stderr, "3 need attention") {
		t.Errorf("summary: %q", r.stderr)
	}
	r = c.must(exitAttention, "fleet", "health", "--all-profiles", "--attention-only", "-o", "json")
	var rows []map[string]any
	parseJSON(t, r.stdout, &rows)
	got := map[string]string{}
	for _, row := range rows {
		got[row["profile"].(string)+"/"+string(row["connection_id"].(json.Number))] = row["verdict"].(string)
	}
	if len(got) != 3 || got["us/"+usReauthConnection(t, rows)] != "needs_reauthorisation" {
		t.Errorf("attention rows %v", got)
	}
}

// usReauthConnection returns the id of us's connection that needs
// re-authorisation, as listed.
func usReauthConnection(t *testing.T, rows []map[string]any) string {
	t.Helper()
	for _, r := range rows {
		if r["profile"] == "us" {
			return string(r["connection_id"].(json.Number))
		}
	}
	t.Fatal("no us row")
	return ""
}

// TestAllProfilesBrokenProfile: a profile the SDK refuses (a bad base URL)
// is reported with its name; the other profiles are still listed.
func TestAllProfilesBrokenProfile(t *testing.T) {
	t.Parallel()
	eu, _ := newTestFake(t)
	c := newCLI(t).withProfiles([]string{"eu"}, eu)
	cfg, _, err := c.app(nil, nil).loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Profiles["broken"] = &profile{BaseURL: "ftp://nowhere.example", PartnerToken: eu.PartnerToken()}
	if err := saveConfig(c.configPath(), cfg); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"customers", "list"}, {"fleet", "health"}} {
		r := c.must(exitAttention, append(args, "--all-profiles", "-o", "csv")...)
		if !strings.Contains(r.stderr, "profile broken:") || !strings.Contains(r.stdout, "\neu,") {
			t.Errorf("%v: stdout\n%s\nstderr\n%s", args, r.stdout, r.stderr)
		}
	}
	r := c.must(exitUsage, "--profile", "broken", "fleet", "health")
	if !strings.Contains(r.stderr, "profile broken") {
		t.Errorf("single broken profile: %q", r.stderr)
	}
}
