package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/peliqan-community/peliqan-go"
	"github.com/spf13/cobra"
)

var runColumns = []column[*peliqan.PipelineRun]{
	{"id", func(r *peliqan.PipelineRun) any { return r.ID }},
	{"connection_id", func(r *peliqan.PipelineRun) any { return r.ServerID }},
	{"status", func(r *peliqan.PipelineRun) any { return r.Status }},
	{"started_at", func(r *peliqan.PipelineRun) any { return r.StartedAt }},
	{"ended_at", func(r *peliqan.PipelineRun) any { return r.EndedAt }},
	{"records", func(r *peliqan.PipelineRun) any {
		if !r.HasRecords {
			return nil
		}
		return r.Records
	}},
	{"message", func(r *peliqan.PipelineRun) any { return r.Message }},
}

func (a *app) runsCommand() *cobra.Command {
	var customer string
	var connection string
	var limit int
	list := a.leaf(&cobra.Command{
		Use:   "list --customer CUSTOMER --connection CONNECTION_ID [--limit N]",
		Short: "A connection's pipeline runs (syncs), newest first as the API sends them",
		Long: `List a connection's pipeline runs (syncs, resyncs, scheduled runs) in the
order the API sends them, at most --limit of them (0: all).

Fields: ` + fieldNames(runColumns),
	}, func(ctx context.Context, cmd *cobra.Command, args []string) error {
		if connection == "" {
			return usageErrorf("--connection is required")
		}
		id, err := parseID("--connection", connection)
		if err != nil {
			return err
		}
		if limit < 0 {
			return usageErrorf("--limit must not be negative")
		}
		t, err := a.tenant(customer)
		if err != nil {
			return err
		}
		var runs []*peliqan.PipelineRun
		for r, err := range t.ServerRuns(ctx, id, nil) {
			if err != nil {
				return err
			}
			runs = append(runs, r)
			if limit > 0 && len(runs) == limit {
				break
			}
		}
		return writeList(a.stdout, a.outputFormat(), runColumns, runs)
	}, peliqan.RouteSubAccountToken, peliqan.RouteListServerRuns)
	list.Flags().StringVarP(&customer, "customer", "c", "", "the customer: external id, or id:N (required)")
	list.Flags().StringVar(&connection, "connection", "", "the connection's id (required)")
	list.Flags().IntVar(&limit, "limit", 20, "at most this many runs (0: all)")

	var logsCustomer string
	logs := a.leaf(&cobra.Command{
		Use:   "logs RUN_ID --customer CUSTOMER",
		Short: "A pipeline run's logs",
		Long: `Print a pipeline run's logs as the API sends them: text as text, lists one
item a line, anything else as indented JSON. --output json prints the API's
JSON as it is.`,
		Args:        exactArgs(1, "a RUN_ID"),
		Annotations: map[string]string{annotFormats: formatTable + "," + formatJSON},
	}, func(ctx context.Context, cmd *cobra.Command, args []string) error {
		id, err := parseID("run", args[0])
		if err != nil {
			return err
		}
		t, err := a.tenant(logsCustomer)
		if err != nil {
			return err
		}
		raw, err := t.PipelineRunLogs(ctx, id)
		if err != nil {
			return err
		}
		if a.outputFormat() == formatJSON {
			_, err := fmt.Fprintf(a.stdout, "%s\n", bytes.TrimSpace(raw))
			return err
		}
		return writeLogText(a, raw)
	}, peliqan.RouteSubAccountToken, peliqan.RoutePipelineRunLogs)
	logs.Flags().StringVarP(&logsCustomer, "customer", "c", "", "the customer: external id, or id:N (required)")

	return group("runs", "Pipeline runs (syncs) of a connection", list, logs)
}

// writeLogText prints logs for people: a JSON string as its text, a list
// one item a line, anything else indented. Control characters are made
// visible: logs come from the customer's source systems.
func writeLogText(a *app, raw json.RawMessage) error {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		for _, line := range bytes.Split([]byte(s), []byte("\n")) {
			fmt.Fprintln(a.stdout, sanitize(string(line)))
		}
		return nil
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) == nil {
		for _, it := range items {
			var line string
			if json.Unmarshal(it, &line) == nil {
				fmt.Fprintln(a.stdout, sanitize(line))
				continue
			}
			fmt.Fprintln(a.stdout, sanitize(string(it)))
		}
		return nil
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		_, err := fmt.Fprintf(a.stdout, "%s\n", sanitize(string(raw)))
		return err
	}
	for _, line := range bytes.Split(b.Bytes(), []byte("\n")) {
		fmt.Fprintln(a.stdout, sanitize(string(line)))
	}
	return nil
}
