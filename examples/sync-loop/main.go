// Command sync-loop is the loop a SaaS backend runs to fetch its customers'
// data from Peliqan: list the customers, list each customer's connections,
// sync each connection and wait for it (printing progress), read the synced
// rows (streamed, counted, one shown as a sample), and print a short summary
// per customer.
//
//	go run ./examples/sync-loop
//
// Without PELIQAN_PARTNER_TOKEN it runs against the in-process fake
// (peliqantest) with three seeded customers whose syncs take 300 ms, and
// finishes in a few seconds. With it, it uses your Peliqan account
// (PELIQAN_BASE_URL, default https://app.eu.peliqan.io) and only reads
// unless told to sync: starting a sync is real work on your customers'
// sources.
//
// Flags (each has an environment variable that does the same):
//
//	-sync            start a sync of each connection and wait for it
//	                 (PELIQAN_EXAMPLE_SYNC=1); always on against the fake
//	-customers n     look at the first n customers only
//	                 (PELIQAN_EXAMPLE_CUSTOMERS, default 5)
//	-max-rows n      stop reading a table after n rows
//	                 (PELIQAN_EXAMPLE_MAX_ROWS, default 10000)
//
// A connection's tables are found with ConnectionTables: Peliqan's lookup
// routes first (as Peliqan's own client asks), the connection's
// target_schema when they do not answer; never a schema name derived from
// the connection's name (the fake's schema names are deliberately unlike
// them, and one of its connections sends no target_schema).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/examples/internal/demo"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// Settings, as environment variables.
const (
	envSync      = "PELIQAN_EXAMPLE_SYNC"
	envCustomers = "PELIQAN_EXAMPLE_CUSTOMERS"
	envMaxRows   = "PELIQAN_EXAMPLE_MAX_ROWS"
)

func main() {
	fs := flag.NewFlagSet("sync-loop", flag.ContinueOnError)
	fs.Bool("sync", false, "start a sync of each connection and wait for it (real service; always on against the fake)")
	fs.Int("customers", 5, "look at the first n customers only")
	fs.Int("max-rows", 10000, "stop reading a table after n rows")
	demo.Main(fs, map[string]string{"sync": envSync, "customers": envCustomers, "max-rows": envMaxRows}, run)
}

// fakeSyncDuration is how long a sync runs on the fake.
const fakeSyncDuration = 300 * time.Millisecond

// fixture is the fake's data: three customers, five connections, one
// waiting for OAuth, one whose syncs end with errors, one with dead
// credentials, one that sends no target_schema.
func fixture() peliqantest.Fixture {
	return peliqantest.Fixture{SubAccounts: []peliqantest.SubAccountFixture{
		{ExternalID: "acme", CompanyName: "Acme Bakery", Connections: []peliqantest.ConnectionFixture{
			{Name: "Pipedrive", Type: "pipedrive", Tables: tables("pipedrive", 12)},
			{Name: "Bank account", Type: "saltedge", Tables: tables("saltedge", 8), OmitTargetSchema: true},
		}},
		{ExternalID: "globex", CompanyName: "Globex Garden Supply", Connections: []peliqantest.ConnectionFixture{
			{Name: "HubSpot", Type: "hubspot", HealthStatus: string(peliqan.HealthAuthorizing)},
			{Name: "Orders DB", Type: "postgresql", SyncOutcome: peliqantest.OutcomeCompletedWithErrors,
				Tables: tables("postgresql", 20)},
		}},
		{ExternalID: "initech", CompanyName: "Initech Tools", Connections: []peliqantest.ConnectionFixture{
			{Name: "Pipedrive", Type: "pipedrive", HealthStatus: string(peliqan.HealthError),
				SyncOutcome: peliqantest.OutcomeError, Tables: tables("pipedrive", 5)},
		}},
	}}
}

// tables returns the default tables of a connector type, each holding rows
// rows already.
func tables(typ string, rows int) []peliqantest.TableFixture {
	for _, t := range peliqantest.DefaultServerTypes() {
		if t.Name == typ {
			out := make([]peliqantest.TableFixture, len(t.Tables))
			for i, tf := range t.Tables {
				tf.GeneratedRows = rows
				out[i] = tf
			}
			return out
		}
	}
	return nil
}

// summary is one customer's line at the end.
type summary struct {
	externalID, name                     string
	connections, synced, failed, skipped int
	rows                                 int64
	note                                 string
}

// loop holds what every step needs.
type loop struct {
	out     io.Writer
	env     *demo.Env
	sync    bool
	maxRows int
}

func run(ctx context.Context, out io.Writer, getenv func(string) string) error {
	syncFlag, err := demo.Bool(getenv, envSync)
	if err != nil {
		return err
	}
	customers, err := demo.Int(getenv, envCustomers, 5)
	if err != nil {
		return err
	}
	maxRows, err := demo.Int(getenv, envMaxRows, 10000)
	if err != nil {
		return err
	}
	env, err := demo.Open(ctx, out, getenv, demo.Config{Name: "sync-loop", Fake: []peliqantest.Option{
		peliqantest.WithFixture(fixture()),
		peliqantest.WithSyncDuration(fakeSyncDuration),
		peliqantest.WithRowsPerSync(5),
	}})
	if err != nil {
		return err
	}
	defer env.Close()
	l := &loop{out: out, env: env, sync: syncFlag || !env.Real(), maxRows: maxRows}
	if l.sync {
		fmt.Fprintln(out, "mode: sync each connection, wait for it, then read its rows")
	} else {
		fmt.Fprintf(out, "mode: read only (pass -sync or set %s=1 to start syncs)\n", envSync)
	}

	// 1. List the customers, page by page, as the loop asks for them.
	var sums []summary
	for sa, err := range env.Partner.SubAccounts(ctx, &peliqan.ListOptions{PerPage: min(customers, 100)}) {
		if err != nil {
			return fmt.Errorf("listing customers: %w", err)
		}
		if len(sums) == customers {
			fmt.Fprintf(out, "(stopping after %s)\n", plural(customers, "customer"))
			break
		}
		sums = append(sums, l.customer(ctx, *sa))
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	fmt.Fprintf(out, "\nsummary (%s):\n", plural(len(sums), "customer"))
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	for _, s := range sums {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d synced\t%d failed\t%d skipped\t%s%s\n",
			s.externalID, s.name, plural(s.connections, "connection"), s.synced, s.failed, s.skipped,
			plural(int(s.rows), "row"), s.note)
	}
	return tw.Flush()
}

// customer runs the loop for one customer: its connections, their syncs and
// their rows.
func (l *loop) customer(ctx context.Context, sa peliqan.SubAccount) summary {
	s := summary{externalID: sa.ExternalID, name: sa.Name}
	fmt.Fprintf(l.out, "\n== %s (external id %q, account %d)\n", sa.Name, sa.ExternalID, sa.ID)

	// 2. A tenant client: the customer's identity token is fetched on its
	// first request and cached.
	t, err := l.env.Partner.SubAccount(peliqan.ByAccountID(sa.ID))
	if err != nil {
		s.note = "  (" + err.Error() + ")"
		fmt.Fprintln(l.out, "  cannot open the customer:", err)
		return s
	}
	servers, err := t.ListServers(ctx)
	if err != nil {
		s.note = "  (connections could not be listed)"
		fmt.Fprintln(l.out, "  listing connections:", err)
		return s
	}
	s.connections = len(servers)
	fmt.Fprintf(l.out, "  %s\n", plural(len(servers), "connection"))

	for _, srv := range servers {
		if ctx.Err() != nil {
			return s // interrupted: run reports it
		}
		fmt.Fprintf(l.out, "  - %s [%s] health %s\n", srv.Name, srv.ServerType, srv.HealthStatus)
		switch {
		case srv.HealthStatus.NeedsReauthorisation():
			fmt.Fprintln(l.out, "    skipped: waits for the customer to authorise it (widget or ReAuthoriseServer)")
			s.skipped++
			continue
		case srv.HealthStatus.IsDisabled():
			fmt.Fprintln(l.out, "    skipped: disabled")
			s.skipped++
			continue
		}
		if l.sync {
			switch ok, err := l.syncAndWait(ctx, t, srv); {
			case err != nil:
				fmt.Fprintln(l.out, "    sync:", err)
				s.failed++
			case ok:
				s.synced++
			default:
				s.failed++
			}
		} else {
			l.lastRun(ctx, t, srv)
		}
		s.rows += l.readRows(ctx, t, srv)
	}
	return s
}

// syncAndWait starts a sync, follows it to its end with progress lines,
// and reports whether it loaded data (COMPLETED or COMPLETED_WITH_ERRORS).
func (l *loop) syncAndWait(ctx context.Context, t *peliqan.SubAccountClient, srv peliqan.Server) (bool, error) {
	res, err := t.SyncServer(ctx, srv.ID, nil)
	if err != nil {
		return false, err // refused (e.g. not authorised); a sync is never retried
	}
	fmt.Fprintf(l.out, "    sync started (task %s)\n", res.TaskID)
	limit := time.Hour // bound the wait: WaitForSync has no limit of its own
	if !l.env.Real() {
		limit = 30 * time.Second
	}
	wctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	run, err := t.WaitForSync(wctx, res, &peliqan.WaitOptions{
		Schedule: l.env.Poll, // nil against Peliqan: its own 5 s / 10 s / 20 s
		Progress: func(p peliqan.SyncProgress) {
			state := "done"
			if p.Running {
				state = "running"
			}
			fmt.Fprintf(l.out, "    poll %d: %s (%.1fs)\n", p.Poll, state, p.Elapsed.Seconds())
		},
	})
	if err != nil {
		return false, err
	}
	if run.Run == nil {
		fmt.Fprintln(l.out, "    sync finished; its run could not be read")
		return true, nil
	}
	fmt.Fprintf(l.out, "    sync %s: %s\n", run.Status, records(run.Run))
	if run.Status.HasErrors() && run.Run.Message != "" {
		fmt.Fprintf(l.out, "    message: %s\n", run.Run.Message)
	}
	return !run.Status.IsFailed(), nil
}

// lastRun prints the connection's newest run (read-only mode).
func (l *loop) lastRun(ctx context.Context, t *peliqan.SubAccountClient, srv peliqan.Server) {
	page, err := t.ListServerRuns(ctx, srv.ID, &peliqan.ListOptions{Page: 1, PerPage: 1})
	switch {
	case err != nil:
		fmt.Fprintln(l.out, "    last run:", err)
	case len(page.Items) == 0:
		fmt.Fprintln(l.out, "    last run: none")
	default:
		r := &page.Items[0]
		fmt.Fprintf(l.out, "    last run %d: %s, %s\n", r.ID, r.Status, records(r))
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func records(r *peliqan.PipelineRun) string {
	if !r.HasRecords {
		return "no record counts"
	}
	parts := make([]string, 0, len(r.Tables))
	for _, t := range r.Tables {
		if t.HasRecords {
			parts = append(parts, fmt.Sprintf("%s %d", t.Name, t.Records))
		}
	}
	return fmt.Sprintf("%d records (%s)", r.Records, strings.Join(parts, ", "))
}

// readRows finds the connection's tables (ConnectionTables), streams each
// one, counts its rows and shows the first; it returns the rows counted.
func (l *loop) readRows(ctx context.Context, t *peliqan.SubAccountClient, srv peliqan.Server) int64 {
	data, err := t.ConnectionTables(ctx, srv.ID)
	switch {
	case errors.Is(err, peliqan.ErrConnectionDataNotFound):
		fmt.Fprintln(l.out, "    tables: not found:", err)
		return 0
	case err != nil:
		fmt.Fprintln(l.out, "    tables:", err)
		return 0
	}
	fmt.Fprintf(l.out, "    data in %s.%s (found by %s): %s\n", data.DatabaseName, data.SchemaName, data.LocatedBy,
		plural(len(data.Tables), "table"))
	var total int64
	for _, tab := range data.Tables {
		var n int64
		var sample peliqan.Row
		var err error
		// Rows streams page after page; memory stays flat however big the
		// table is. Breaking out of the loop stops it at once.
		for row, rerr := range t.Rows(ctx, tab.ID, &peliqan.RowsOptions{Size: 500}) {
			if rerr != nil {
				err = rerr
				break
			}
			if sample == nil {
				sample = row
			}
			n++
			if n == int64(l.maxRows) {
				break
			}
		}
		total += n
		capped := "" // "10000+ rows": the table has more than were read
		if n == int64(l.maxRows) {
			capped = "+"
		}
		switch {
		case err != nil:
			fmt.Fprintf(l.out, "    %s: %d rows read, then: %v\n", tab.Name, n, err)
		case sample == nil:
			fmt.Fprintf(l.out, "    %s: 0 rows\n", tab.Name)
		default:
			fmt.Fprintf(l.out, "    %s: %d%s rows, first: %s\n", tab.Name, n, capped, brief(sample))
		}
	}
	return total
}

// brief renders a row as compact JSON, "id" first and then the other
// fields by name, cut to 100 bytes.
func brief(r peliqan.Row) string {
	keys := make([]string, 0, len(r))
	for k := range r {
		if k != "id" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if _, ok := r["id"]; ok {
		keys = append([]string{"id"}, keys...)
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kj, _ := json.Marshal(k)
		vj, err := json.Marshal(r[k])
		if err != nil {
			vj = []byte(`"?"`)
		}
		b.Write(kj)
		b.WriteByte(':')
		b.Write(vj)
	}
	b.WriteByte('}')
	if s := b.String(); len(s) > 100 {
		return strings.ToValidUTF8(s[:97], "") + "..."
	}
	return b.String()
}
