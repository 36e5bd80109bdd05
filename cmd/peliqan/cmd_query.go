package main

import (
	"context"
	"fmt"

	"github.com/peliqan-community/peliqan-go"
	"github.com/spf13/cobra"
)

func (a *app) queryCommand() *cobra.Command {
	var customer, database, schema string
	c := a.leaf(&cobra.Command{
		Use:   "query SQL --customer CUSTOMER [--database DB --schema SCHEMA]",
		Short: "Run a SQL query in a customer's warehouse",
		Long: `Run a SQL query in a customer's warehouse and print the result: a table,
a JSON array of objects (keys are the result's column names, in order; a
repeated name gets a _2, _3 suffix) or CSV with a header row. Numbers are
printed exactly as the API sends them.

Qualify table names ("db"."schema"."table"); "connections tables" shows
where a connection's data is. The query is sent once, never retried.`,
		Args: exactArgs(1, "the SQL, as one argument"),
	}, func(ctx context.Context, cmd *cobra.Command, args []string) error {
		t, err := a.tenant(customer)
		if err != nil {
			return err
		}
		res, err := t.Query(ctx, args[0], &peliqan.QueryOptions{Database: database, Schema: schema})
		if err != nil {
			return err
		}
		seen := map[string]int{}
		cols := make([]column[[]any], len(res.Columns))
		for i, c := range res.Columns {
			name := c.Name
			if seen[name]++; seen[name] > 1 {
				name = fmt.Sprintf("%s_%d", name, seen[name])
			}
			cols[i] = column[[]any]{name, func(r []any) any {
				if i < len(r) {
					return r[i]
				}
				return nil
			}}
		}
		return writeRecords(a.stdout, a.outputFormat(), cols, res.Rows, true)
	}, peliqan.RouteSubAccountToken, peliqan.RouteQuery)
	c.Flags().StringVarP(&customer, "customer", "c", "", "the customer: external id, or id:N (required)")
	c.Flags().StringVar(&database, "database", "", "database for unqualified table names (sent as db_name)")
	c.Flags().StringVar(&schema, "schema", "", "schema for unqualified table names (sent as schema_name)")
	return c
}
