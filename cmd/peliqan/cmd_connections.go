package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/peliqan-community/peliqan-go"
	"github.com/spf13/cobra"
)

func targetSchemaName(s *peliqan.Server) any {
	if s.TargetSchema == nil {
		return nil
	}
	return s.TargetSchema.SchemaName
}

var connectionListColumns = []column[*peliqan.Server]{
	{"id", func(s *peliqan.Server) any { return s.ID }},
	{"name", func(s *peliqan.Server) any { return s.Name }},
	{"type", func(s *peliqan.Server) any { return s.ServerType }},
	{"health_status", func(s *peliqan.Server) any { return s.HealthStatus }},
	{"run_interval_seconds", func(s *peliqan.Server) any { return int64(s.RunInterval / time.Second) }},
	{"scheduler_disabled", func(s *peliqan.Server) any { return s.SchedulerDisabled }},
	{"target_schema", targetSchemaName},
}

var connectionColumns = append(append([]column[*peliqan.Server]{}, connectionListColumns...),
	column[*peliqan.Server]{"is_target", func(s *peliqan.Server) any { return s.IsTarget }},
	column[*peliqan.Server]{"is_data_warehouse", func(s *peliqan.Server) any { return s.IsDataWarehouse }},
	column[*peliqan.Server]{"target", func(s *peliqan.Server) any {
		if s.Target == 0 {
			return nil
		}
		return s.Target
	}},
)

// healthRow is one connection's health.
type healthRow struct {
	id     peliqan.ID
	name   string
	status peliqan.HealthStatus
}

// needsAttention mirrors peliqan.Verdict.NeedsAttention for a health
// status alone: anything but healthy, in progress or disabled, unknown
// statuses included.
func needsAttention(h peliqan.HealthStatus) bool {
	return !h.IsHealthy() && !h.InProgress() && !h.IsDisabled()
}

var healthColumns = []column[healthRow]{
	{"id", func(h healthRow) any { return h.id }},
	{"name", func(h healthRow) any { return h.name }},
	{"health_status", func(h healthRow) any { return h.status }},
	{"needs_attention", func(h healthRow) any { return needsAttention(h.status) }},
}

// syncStartedColumns describe the answer of "connections sync" without --wait.
var syncStartedColumns = []column[*peliqan.SyncResult]{
	{"connection_id", func(r *peliqan.SyncResult) any { return r.ServerID }},
	{"syncing", func(r *peliqan.SyncResult) any { return r.Syncing }},
	{"task_id", func(r *peliqan.SyncResult) any { return r.TaskID }},
	{"run_ids", func(r *peliqan.SyncResult) any {
		ids := make([]string, 0, len(r.RunData))
		for _, rr := range r.RunData {
			if rr.PipelineRunID != 0 {
				ids = append(ids, rr.PipelineRunID.String())
			}
		}
		return strings.Join(ids, " ")
	}},
	{"health_status", func(r *peliqan.SyncResult) any { return r.HealthStatus }},
	{"detail", func(r *peliqan.SyncResult) any { return r.Detail }},
}

// syncDoneColumns describe a sync followed to its end (--wait).
var syncDoneColumns = []column[*peliqan.SyncRun]{
	{"connection_id", func(r *peliqan.SyncRun) any { return r.ServerID }},
	{"status", func(r *peliqan.SyncRun) any { return r.Status }},
	{"run_id", func(r *peliqan.SyncRun) any {
		if r.Run == nil {
			return nil
		}
		return r.Run.ID
	}},
	{"records", func(r *peliqan.SyncRun) any {
		if r.Run == nil || !r.Run.HasRecords {
			return nil
		}
		return r.Run.Records
	}},
	{"polls", func(r *peliqan.SyncRun) any { return r.Polls }},
	{"message", func(r *peliqan.SyncRun) any {
		if r.Run == nil {
			return nil
		}
		return r.Run.Message
	}},
}

// inviteRow is an invitation sent.
type inviteRow struct {
	customer string
	in       peliqan.ConnectionInvite
}

var inviteColumns = []column[inviteRow]{
	{"customer", func(r inviteRow) any { return r.customer }},
	{"recipient", func(r inviteRow) any { return r.in.Recipient }},
	{"type", func(r inviteRow) any { return r.in.ServerType }},
	{"confirmation_recipient", func(r inviteRow) any { return r.in.ConfirmationRecipient }},
	{"sent", func(r inviteRow) any { return true }},
}

type reauthRow struct {
	id  peliqan.ID
	url string
}

var reauthColumns = []column[reauthRow]{
	{"connection_id", func(r reauthRow) any { return r.id }},
	{"auth_url", func(r reauthRow) any { return r.url }},
}

var tableRefColumns = []column[tableRow]{
	{"table_id", func(t tableRow) any { return t.ref.ID }},
	{"table", func(t tableRow) any { return t.ref.Name }},
	{"database", func(t tableRow) any { return t.data.DatabaseName }},
	{"schema", func(t tableRow) any { return t.data.SchemaName }},
	{"qualified_name", func(t tableRow) any { return t.data.TableName(t.ref.Name).String() }},
	{"located_by", func(t tableRow) any { return string(t.data.LocatedBy) }},
}

type tableRow struct {
	data *peliqan.ConnectionData
	ref  peliqan.TableRef
}

func (a *app) connectionsCommand() *cobra.Command {
	var customer string
	customerFlag := func(c *cobra.Command) *cobra.Command {
		c.Flags().StringVarP(&customer, "customer", "c", "", "the customer: external id, or id:N (required)")
		return c
	}

	list := a.leaf(customerFlag(&cobra.Command{
		Use:   "list --customer CUSTOMER",
		Short: "List a customer's connections",
		Long:  "List a customer's connections.\n\nFields: " + fieldNames(connectionListColumns),
	}), func(ctx context.Context, cmd *cobra.Command, args []string) error {
		t, err := a.tenant(customer)
		if err != nil {
			return err
		}
		servers, err := t.ListServers(ctx)
		if err != nil {
			return err
		}
		items := make([]*peliqan.Server, len(servers))
		for i := range servers {
			items[i] = &servers[i]
		}
		return writeList(a.stdout, a.outputFormat(), connectionListColumns, items)
	}, peliqan.RouteSubAccountToken, peliqan.RouteListServers)

	get := a.leaf(customerFlag(&cobra.Command{
		Use:   "get CONNECTION_ID --customer CUSTOMER",
		Short: "Show one connection",
		Long:  "Show one connection.\n\nFields: " + fieldNames(connectionColumns),
		Args:  exactArgs(1, "a CONNECTION_ID"),
	}), func(ctx context.Context, cmd *cobra.Command, args []string) error {
		id, t, err := a.connectionOf(customer, args[0])
		if err != nil {
			return err
		}
		s, err := t.GetServer(ctx, id)
		if err != nil {
			return err
		}
		return writeOne(a.stdout, a.outputFormat(), connectionColumns, s)
	}, peliqan.RouteSubAccountToken, peliqan.RouteGetServer)

	health := a.leaf(customerFlag(&cobra.Command{
		Use:   "health --customer CUSTOMER [CONNECTION_ID...]",
		Short: "Health of a customer's connections (exit 1 when any needs attention)",
		Long: `Health of the given connections, or of all the customer's connections.
Exit status 1 when any needs attention: anything but healthy, being
checked, or disabled (an unknown status needs attention too).

Fields: ` + fieldNames(healthColumns),
		Args: func(cmd *cobra.Command, args []string) error { return nil },
	}), func(ctx context.Context, cmd *cobra.Command, args []string) error {
		ids := make([]peliqan.ID, len(args))
		for i, s := range args {
			id, err := parseID("connection", s)
			if err != nil {
				return err
			}
			ids[i] = id
		}
		t, err := a.tenant(customer)
		if err != nil {
			return err
		}
		var rows []healthRow
		if len(ids) == 0 {
			servers, err := t.ListServers(ctx)
			if err != nil {
				return err
			}
			for _, s := range servers {
				rows = append(rows, healthRow{s.ID, s.Name, s.HealthStatus})
			}
		} else {
			for _, id := range ids {
				h, err := t.GetServerHealthStatus(ctx, id)
				if err != nil {
					return err
				}
				rows = append(rows, healthRow{h.ID, h.Name, h.HealthStatus})
			}
		}
		if err := writeList(a.stdout, a.outputFormat(), healthColumns, rows); err != nil {
			return err
		}
		for _, r := range rows {
			if needsAttention(r.status) {
				return errAttention
			}
		}
		return nil
	}, peliqan.RouteSubAccountToken, peliqan.RouteListServers, peliqan.RouteGetServer)

	var wait bool
	var tables []string
	var pollEvery time.Duration
	sync := a.leaf(customerFlag(&cobra.Command{
		Use:   "sync CONNECTION_ID --customer CUSTOMER [--wait]",
		Short: "Start a sync of a connection, and with --wait follow it to its end",
		Long: `Start a sync of a connection. With --wait, follow it to its end (a live
display on a terminal) and exit 1 unless it completed without errors.
Interrupting the wait does not stop the sync on the server.

The sync request is sent once, never retried: it starts work.

Fields: ` + fieldNames(syncStartedColumns) + `
With --wait: ` + fieldNames(syncDoneColumns),
		Args: exactArgs(1, "a CONNECTION_ID"),
	}), func(ctx context.Context, cmd *cobra.Command, args []string) error {
		id, err := parseID("connection", args[0])
		if err != nil {
			return err
		}
		if pollEvery < 0 {
			return usageErrorf("--poll-interval must not be negative")
		}
		t, err := a.tenant(customer)
		if err != nil {
			return err
		}
		res, err := t.SyncServer(ctx, id, &peliqan.SyncOptions{Tables: tables})
		if err != nil {
			return err
		}
		if !wait {
			return writeOne(a.stdout, a.outputFormat(), syncStartedColumns, res)
		}
		bar := a.newProgress(-1, fmt.Sprintf("syncing connection %d", id), "")
		wo := &peliqan.WaitOptions{Progress: func(p peliqan.SyncProgress) {
			bar.Describe(fmt.Sprintf("syncing connection %d: poll %d, %s", id, p.Poll, p.Elapsed.Round(time.Second)))
			bar.Add(1)
		}}
		if pollEvery > 0 {
			wo.Schedule = peliqan.FixedSchedule(pollEvery)
		}
		run, err := t.WaitForSync(ctx, res, wo)
		bar.Done()
		if err != nil {
			if errors.Is(err, context.Canceled) {
				a.note("Interrupted while waiting: the sync goes on on the server (task %s); follow it with \"peliqan runs list\".", orDash(res.TaskID))
			}
			return err
		}
		if err := writeOne(a.stdout, a.outputFormat(), syncDoneColumns, run); err != nil {
			return err
		}
		if !run.Status.Succeeded() {
			return errAttention
		}
		return nil
	}, peliqan.RouteSubAccountToken, peliqan.RouteSyncServer, peliqan.RouteGetServerSyncRunStatus, peliqan.RouteGetPipelineRuns)
	sync.Flags().BoolVar(&wait, "wait", false, "follow the sync to its end")
	sync.Flags().StringSliceVar(&tables, "tables", nil, "sync only these tables (comma-separated)")
	sync.Flags().DurationVar(&pollEvery, "poll-interval", 0, "time between status polls with --wait (default: Peliqan's schedule, 5s then slower)")

	reauth := a.leaf(customerFlag(&cobra.Command{
		Use:   "reauth-url CONNECTION_ID --customer CUSTOMER",
		Short: "Start a re-authorisation and print the URL the customer must open",
		Long: `Ask Peliqan to start a new authorisation of a connection and print the
URL the customer must open to grant access again. The request is sent once:
it may start a new authorisation.

Fields: ` + fieldNames(reauthColumns),
		Args: exactArgs(1, "a CONNECTION_ID"),
	}), func(ctx context.Context, cmd *cobra.Command, args []string) error {
		id, t, err := a.connectionOf(customer, args[0])
		if err != nil {
			return err
		}
		u, err := t.ReAuthoriseServer(ctx, id)
		if err != nil {
			return err
		}
		return writeOne(a.stdout, a.outputFormat(), reauthColumns, reauthRow{id, u})
	}, peliqan.RouteSubAccountToken, peliqan.RouteReAuthoriseServer)

	tablesCmd := a.leaf(customerFlag(&cobra.Command{
		Use:   "tables CONNECTION_ID --customer CUSTOMER",
		Short: "Where a connection's data landed: its database, schema and tables",
		Long: `Show where a connection's synced data is: the database and schema Peliqan
put it in, and its tables, as Peliqan's lookup routes report them (schema
names are generated by Peliqan, never derived from the connection's name).
Use a table name with "rows export --connection ID --table NAME".

Fields: ` + fieldNames(tableRefColumns),
		Args: exactArgs(1, "a CONNECTION_ID"),
	}), func(ctx context.Context, cmd *cobra.Command, args []string) error {
		id, t, err := a.connectionOf(customer, args[0])
		if err != nil {
			return err
		}
		data, err := t.ConnectionTables(ctx, id)
		if err != nil {
			return err
		}
		rows := make([]tableRow, len(data.Tables))
		for i, tr := range data.Tables {
			rows[i] = tableRow{data, tr}
		}
		return writeList(a.stdout, a.outputFormat(), tableRefColumns, rows)
	}, peliqan.RouteSubAccountToken, peliqan.RouteLookupSchema, peliqan.RouteLookupDatabase, peliqan.RouteListDatabases)

	var invite peliqan.ConnectionInvite
	inviteCmd := a.leaf(customerFlag(&cobra.Command{
		Use:   "invite --customer CUSTOMER --email ADDRESS --type CONNECTOR",
		Short: "E-mail someone an invitation to connect a source to a customer's account",
		Long: `Ask Peliqan to e-mail ADDRESS an invitation to connect a source of type
CONNECTOR (e.g. hubspot) to the customer's account: for the colleague who
holds the credentials. The new connection then shows up in "connections
list". The request is sent once, never retried: a retry could send the
e-mail twice.

Fields: ` + fieldNames(inviteColumns),
	}), func(ctx context.Context, cmd *cobra.Command, args []string) error {
		t, err := a.tenant(customer)
		if err != nil {
			return err
		}
		if err := t.SendConnectionInvite(ctx, invite); err != nil {
			return err
		}
		return writeOne(a.stdout, a.outputFormat(), inviteColumns, inviteRow{customer, invite})
	}, peliqan.RouteSubAccountToken, peliqan.RouteSendConnectionInvite)
	fl := inviteCmd.Flags()
	fl.StringVar(&invite.Recipient, "email", "", "the address to invite (required)")
	fl.StringVar(&invite.ServerType, "type", "", "the connector to connect, e.g. hubspot (required)")
	fl.StringVar(&invite.Subject, "subject", "", "the e-mail's subject (default: Peliqan's)")
	fl.StringVar(&invite.Message, "message", "", "the e-mail's text (default: Peliqan's)")
	fl.StringVar(&invite.ConfirmationRecipient, "confirm-to", "", "an address told when the connection is made")

	var yes bool
	del := a.leaf(customerFlag(&cobra.Command{
		Use:   "delete CONNECTION_ID --customer CUSTOMER [--yes]",
		Short: "Remove a connection from a customer's account (a dry run unless --yes)",
		Long: `Remove a connection from a customer's account. Without --yes this is a
dry run: it reads the connection, sends no write, and prints the request
--yes would send.

Fields: ` + fieldNames(planColumns),
		Args: exactArgs(1, "a CONNECTION_ID"),
	}), func(ctx context.Context, cmd *cobra.Command, args []string) error {
		id, t, err := a.connectionOf(customer, args[0])
		if err != nil {
			return err
		}
		s, err := t.GetServer(ctx, id)
		if err != nil {
			return err
		}
		step := planStep{Action: "delete_connection", Route: peliqan.RouteDeleteServer, ID: s.ID,
			Target: fmt.Sprintf("connection %d (%s, %s) of %s", s.ID, s.Name, s.ServerType, customer)}
		return a.runPlan(ctx, yes, []*planStep{&step}, func(ctx context.Context, st *planStep) error {
			return t.DeleteServer(ctx, st.ID)
		})
	}, peliqan.RouteSubAccountToken, peliqan.RouteGetServer, peliqan.RouteDeleteServer)
	del.Flags().BoolVar(&yes, "yes", false, "do it (without --yes: a dry run that sends no write)")

	c := group("connections", "A customer's connections: list, health, sync, re-authorise, invite, delete",
		list, get, health, sync, reauth, tablesCmd, inviteCmd, del)
	return c
}
