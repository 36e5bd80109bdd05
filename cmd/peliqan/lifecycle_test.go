package main

import (
	"strings"
	"testing"

	"github.com/peliqan-community/peliqan-go"
)

// TestConnectionsInvite sends one invite, as given.
func TestConnectionsInvite(t *testing.T) {
	t.Parallel()
	f, _ := newTestFake(t)
	c := newCLI(t).withProfiles([]string{"eu"}, f)
	r := c.must(exitOK, "connections", "invite", "-c", "cust-0002", "--email", "it@ember.example", "--type", "hubspot",
		"--message", "Please connect our CRM", "--confirm-to", "owner@ember.example")
	golden(t, "table/connections_invite", r.stdout)
	inv := f.Invites()
	if len(inv) != 1 || inv[0].AccountID != 44 || inv[0].Recipient != "it@ember.example" || inv[0].ServerType != "hubspot" ||
		inv[0].Message != "Please connect our CRM" || inv[0].ConfirmationRecipient != "owner@ember.example" {
		t.Fatalf("invites %+v", inv)
	}
	if n := f.Count(peliqan.RouteSendConnectionInvite); n != 1 {
		t.Errorf("%d invite requests, want 1", n)
	}
	c.must(exitUsage, "connections", "invite", "-c", "cust-0002", "--email", "not an address", "--type", "hubspot")
	c.must(exitUsage, "connections", "invite", "-c", "cust-0002", "--email", "it@ember.example")
	if n := f.Count(peliqan.RouteSendConnectionInvite); n != 1 {
		t.Errorf("refused invites reached the server: %d requests", n)
	}
}

// TestConnectionsDeleteDryRunAndYes: the dry run sends no write; --yes
// sends exactly the planned DELETE.
func TestConnectionsDeleteDryRunAndYes(t *testing.T) {
	t.Parallel()
	f, _ := newTestFake(t)
	c := newCLI(t).withProfiles([]string{"eu"}, f)
	r := c.must(exitOK, "connections", "delete", "13", "-c", "cust-0001")
	golden(t, "table/connections_delete_dry_run", r.stdout)
	if w := writes(f); len(w) != 0 {
		t.Fatalf("dry run sent writes: %+v", w)
	}
	var plan []map[string]any
	parseJSON(t, c.must(exitOK, "connections", "delete", "13", "-c", "cust-0001", "-o", "json").stdout, &plan)
	if len(plan) != 1 || plan[0]["method"] != "DELETE" || plan[0]["path"] != "/api/servers/13/" || plan[0]["inferred_route"] != true {
		t.Fatalf("plan %v", plan)
	}
	r = c.must(exitOK, "connections", "delete", "13", "-c", "cust-0001", "--yes")
	w := writes(f)
	if len(w) != 1 || w[0].Method != plan[0]["method"] || w[0].Path != plan[0]["path"] {
		t.Fatalf("--yes sent %+v, want exactly the planned request", w)
	}
	if !strings.Contains(r.stderr, "1 done, 0 failed") {
		t.Errorf("summary %q", r.stderr)
	}
	r = c.must(exitOK, "connections", "list", "-c", "cust-0001")
	if strings.Contains(r.stdout, "pipedrive 1") {
		t.Errorf("the connection is still listed:\n%s", r.stdout)
	}
}
