package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// TestFleetSync syncs every connection once and prints one outcome each.
func TestFleetSync(t *testing.T) {
	t.Parallel()
	f, _ := newTestFake(t)
	if err := f.MarkNeedsReauth(48); err != nil {
		t.Fatal(err)
	}
	if err := f.SetHealthStatus(63, "DISABLED"); err != nil {
		t.Fatal(err)
	}
	c := newCLI(t).withProfiles([]string{"eu"}, f)
	r := c.must(exitAttention, "fleet", "sync", "--poll-interval", "1ms", "--concurrency", "1")
	golden(t, "table/fleet_sync", r.stdout)
	if !strings.Contains(r.stderr, "6 results: 2 completed, 2 failed, 1 skipped_needs_reauthorisation, 1 skipped_disabled.") {
		t.Errorf("summary: %q", r.stderr)
	}
	started := f.RunsStarted()
	for _, id := range []peliqan.ID{13, 28, 77, 86} {
		if started[id] != 1 {
			t.Errorf("connection %d: %d runs started, want exactly 1", id, started[id])
		}
	}
	for _, id := range []peliqan.ID{48, 63} {
		if started[id] != 0 {
			t.Errorf("skipped connection %d was synced", id)
		}
	}
}

// TestFleetSyncStructured parses the JSON and CSV forms, with filters.
func TestFleetSyncStructured(t *testing.T) {
	t.Parallel()
	f, _ := newTestFake(t)
	c := newCLI(t).withProfiles([]string{"eu"}, f)
	var rows []map[string]any
	parseJSON(t, c.must(exitOK, "fleet", "sync", "--poll-interval", "1ms", "--type", "hubspot", "-o", "json").stdout, &rows)
	if len(rows) != 2 {
		t.Fatalf("--type hubspot: %d results, want 2 (28 and 48)", len(rows))
	}
	for _, row := range rows {
		if row["type"] != "hubspot" || row["outcome"] != "completed" || row["triggers"] != json.Number("1") || row["run_status"] != "COMPLETED" {
			t.Errorf("result %v", row)
		}
		if got, want := jsonKeys(t, row), sorted(strings.Split(fieldNames(fleetSyncColumns), ", ")); !slices.Equal(got, want) {
			t.Errorf("keys %v, want %v", got, want)
		}
	}

	r := c.must(exitAttention, "fleet", "sync", "--poll-interval", "1ms", "-c", "cust-0003", "-o", "csv")
	recs, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(recs[0], ", ") != fieldNames(fleetSyncColumns) || len(recs) != 3 {
		t.Fatalf("csv %v", recs)
	}
	outcomes := []string{recs[1][5], recs[2][5]}
	slices.Sort(outcomes)
	if !slices.Equal(outcomes, []string{"completed", "failed"}) {
		t.Errorf("cust-0003 outcomes %v", outcomes)
	}

	parseJSON(t, c.must(exitOK, "fleet", "sync", "--poll-interval", "1ms", "--health", "healthy", "-c", "cust-0002", "--rate-limit", "1000", "-o", "json").stdout, &rows)
	if len(rows) != 2 {
		t.Errorf("--health healthy -c cust-0002: %d results", len(rows))
	}
	c.must(exitUsage, "fleet", "sync", "--health", "sick")
	c.must(exitUsage, "fleet", "sync", "--concurrency", "-1")
}

// TestFleetSyncInterrupted: stopping the fleet lists the runs started as
// unknown, says so, and exits 1.
func TestFleetSyncInterrupted(t *testing.T) {
	t.Parallel()
	f, _ := newTestFake(t)
	f.AddFaultRule(peliqantest.FaultRule{Route: peliqan.RouteGetPipelineRuns, Probability: 1, Fault: peliqantest.LatencyFault(time.Minute)})
	c := newCLI(t).withProfiles([]string{"eu"}, f)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result)
	go func() {
		done <- c.runContext(ctx, "fleet", "sync", "--poll-interval", "1ms", "-c", "cust-0002", "-o", "json")
	}()
	waitForCount(t, f, peliqan.RouteGetPipelineRuns, 1)
	cancel()
	r := <-done
	if r.code != exitAttention || !strings.Contains(r.stderr, "Interrupted: runs already started go on") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	var rows []map[string]any
	parseJSON(t, r.stdout, &rows)
	if len(rows) != 2 {
		t.Fatalf("%d results, want the 2 started", len(rows))
	}
	for _, row := range rows {
		if row["outcome"] != "unknown" {
			t.Errorf("interrupted result %v", row)
		}
	}
}
