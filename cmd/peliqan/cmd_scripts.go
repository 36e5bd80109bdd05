package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/peliqan-community/peliqan-go"
	"github.com/spf13/cobra"
)

// publishRow is one customer's line of a publish report.
type publishRow struct {
	customer string
	res      peliqan.PublishResult
}

var publishColumns = []column[publishRow]{
	{"customer", func(r publishRow) any { return r.customer }},
	{"outcome", func(r publishRow) any { return string(r.res.Outcome) }},
	{"script_id", func(r publishRow) any {
		if r.res.ID == 0 {
			return nil
		}
		return r.res.ID
	}},
	{"error", func(r publishRow) any {
		if r.res.Err == nil {
			return nil
		}
		return r.res.Err.Error()
	}},
}

func (a *app) scriptsCommand() *cobra.Command {
	var (
		file, name, scriptGroup string
		customers               []string
		all                     bool
		concurrency             int
	)
	publish := a.leaf(&cobra.Command{
		Use:   "publish --file FILE [--name NAME] (--customer CUSTOMER... | --all)",
		Short: "Install or update a script in selected or all customers",
		Long: `Install a script (a Data App template) from FILE in each selected
customer, or bring it up to date: a customer without a script of that name
gets one (created), one whose code differs has it changed in place
(updated), one that already matches is not written to (unchanged). Running
it twice changes nothing the second time. One customer's failure does not
stop the others; the exit status is 1 when any failed.

Fields: ` + fieldNames(publishColumns),
	}, func(ctx context.Context, cmd *cobra.Command, args []string) error {
		if file == "" {
			return usageErrorf("--file is required")
		}
		if all == (len(customers) > 0) {
			return usageErrorf("choose the customers: --customer (repeatable) or --all")
		}
		if concurrency < 0 {
			return usageErrorf("--concurrency must not be negative")
		}
		code, err := os.ReadFile(file)
		if err != nil {
			return usageErrorf("--file: %v", err)
		}
		if name == "" {
			name = strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
		}
		p, _, err := a.selectedPartner()
		if err != nil {
			return err
		}
		labels := map[peliqan.SubAccountRef]string{}
		var refs []peliqan.SubAccountRef
		if all {
			for sa, err := range p.SubAccounts(ctx, nil) {
				if err != nil {
					return err
				}
				ref := peliqan.ByAccountID(sa.ID)
				refs = append(refs, ref)
				labels[ref] = sa.ExternalID
			}
		} else {
			for _, c := range customers {
				ref, err := parseCustomer(c)
				if err != nil {
					return err
				}
				if _, dup := labels[ref]; dup {
					return usageErrorf("--customer %s is named twice", c)
				}
				refs = append(refs, ref)
				labels[ref] = c
			}
		}
		if len(refs) == 0 {
			a.note("No customers: nothing published.")
			return nil
		}
		report, err := p.PublishScript(ctx, peliqan.ScriptTemplate{Name: name, Code: string(code), Group: scriptGroup},
			&peliqan.PublishOptions{SubAccounts: refs, Concurrency: concurrency})
		if err != nil {
			if ctx.Err() != nil {
				a.note("Interrupted: some customers may already have the new script. Publishing again is safe: it changes nothing where the script matches.")
			}
			return err
		}
		rows := make([]publishRow, len(report.Results))
		for i, r := range report.Results {
			rows[i] = publishRow{customer: labels[r.SubAccount], res: r}
		}
		if err := writeList(a.stdout, a.outputFormat(), publishColumns, rows); err != nil {
			return err
		}
		a.note("Script %q: %d created, %d updated, %d unchanged, %d failed.", name,
			report.Count(peliqan.PublishCreated), report.Count(peliqan.PublishUpdated),
			report.Count(peliqan.PublishUnchanged), report.Count(peliqan.PublishFailed))
		if report.Count(peliqan.PublishFailed) > 0 {
			return errAttention
		}
		return nil
	}, peliqan.RouteListSubAccounts, peliqan.RouteSubAccountToken, peliqan.RouteListScripts, peliqan.RouteListGroups,
		peliqan.RouteCreateScript, peliqan.RouteUpdateScript)
	fl := publish.Flags()
	fl.StringVarP(&file, "file", "f", "", "the script's code (required)")
	fl.StringVar(&name, "name", "", "the script's name in each customer (default: the file's name without extension)")
	fl.StringVar(&scriptGroup, "group", "", "script group (folder) for new scripts (default: the customer's first)")
	fl.StringArrayVarP(&customers, "customer", "c", nil, "a customer: external id, or id:N (repeatable)")
	fl.BoolVar(&all, "all", false, "every customer of the partner account")
	fl.IntVar(&concurrency, "concurrency", 0, "customers worked on at once (default 4)")

	return group("scripts", "Scripts (Data Apps) across customers", publish)
}
