package peliqan

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// PublishOutcome is what publishing did in one customer.
type PublishOutcome string

// Publish outcomes.
const (
	// PublishCreated: the customer had no such script or table; it was made.
	PublishCreated PublishOutcome = "created"
	// PublishUpdated: it existed and differed; it was changed in place.
	PublishUpdated PublishOutcome = "updated"
	// PublishUnchanged: it existed and already matched; nothing was written.
	PublishUnchanged PublishOutcome = "unchanged"
	// PublishFailed: see the result's Err. Other customers are unaffected.
	PublishFailed PublishOutcome = "failed"
)

// ErrGroupNotFound: a ScriptTemplate names a script group the customer does
// not have (or the customer has no group at all). It fails that customer
// only.
var ErrGroupNotFound = errors.New("peliqan: script group not found")

// ErrSchemaNotFound: a QueryTableTemplate names a database or schema the
// customer does not have. It fails that customer only.
var ErrSchemaNotFound = errors.New("peliqan: database or schema not found")

// PublishOptions chooses the customers to publish to.
type PublishOptions struct {
	// SubAccounts are the customers, each named once; required. To publish
	// to every customer, collect refs from SubAccounts (ByAccountID(sa.ID)).
	SubAccounts []SubAccountRef
	// Concurrency is how many customers are worked on at once; 0 means 4.
	Concurrency int
}

// DefaultPublishConcurrency is the number of customers published to at once
// when PublishOptions.Concurrency is 0.
const DefaultPublishConcurrency = 4

// PublishResult is the outcome in one customer.
type PublishResult struct {
	SubAccount SubAccountRef
	Outcome    PublishOutcome
	// ID is the script's or table's id in that customer (0 if none was
	// found or made). A failed result carries it too when the script or
	// table exists: one found before the failure, or one made whose answer
	// could not be read in full (Err is then a *DecodeError). Publishing
	// again finds it by name; it never makes a second one.
	ID ID
	// Err says why, when Outcome is PublishFailed.
	Err error
}

// PublishReport holds one result per customer, in the order of
// PublishOptions.SubAccounts.
type PublishReport struct {
	Results []PublishResult
}

// Count returns how many customers had outcome o.
func (r *PublishReport) Count(o PublishOutcome) int {
	return countWhere(r.Results, func(x *PublishResult) bool { return x.Outcome == o })
}

// Err joins the failures, one "<ref>: <error>" each, or returns nil when
// every customer succeeded. Each joined error unwraps to the customer's.
func (r *PublishReport) Err() error {
	var errs []error
	for _, res := range r.Results {
		if res.Outcome == PublishFailed {
			errs = append(errs, fmt.Errorf("%s: %w", res.SubAccount, res.Err))
		}
	}
	return errors.Join(errs...)
}

// publishOne brings one customer in line with a template.
type publishOne func(ctx context.Context, ref SubAccountRef, t *SubAccountClient) (PublishOutcome, ID, error)

// publish is the engine behind PublishScript and PublishQueryTable: it
// validates the customers, then runs one per customer, at most Concurrency
// at a time, and collects a result for each. A customer's failure never
// stops the others; when ctx ends, customers not yet started fail with
// ctx's error, and ctx's error is returned with the report.
func (p *PartnerClient) publish(ctx context.Context, o PublishOptions, one publishOne) (*PublishReport, error) {
	if ctx == nil {
		return nil, invalidArg("ctx", "nil context")
	}
	if len(o.SubAccounts) == 0 {
		return nil, invalidArg("SubAccounts", "is empty")
	}
	if o.Concurrency < 0 {
		return nil, invalidArg("Concurrency", "must not be negative (got %d)", o.Concurrency)
	}
	seen := make(map[SubAccountRef]bool, len(o.SubAccounts))
	for i, ref := range o.SubAccounts {
		if err := ref.validate(); err != nil {
			return nil, invalidArg(fmt.Sprintf("SubAccounts[%d]", i), "%v", err)
		}
		if seen[ref] {
			return nil, invalidArg(fmt.Sprintf("SubAccounts[%d]", i), "%s is listed twice", ref)
		}
		seen[ref] = true
	}
	conc := o.Concurrency
	if conc == 0 {
		conc = DefaultPublishConcurrency
	}
	rep := &PublishReport{Results: make([]PublishResult, len(o.SubAccounts))}
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for i, ref := range o.SubAccounts {
		rep.Results[i] = PublishResult{SubAccount: ref, Outcome: PublishFailed}
		select {
		case sem <- struct{}{}:
			if err := ctx.Err(); err != nil {
				<-sem
				rep.Results[i].Err = err
				continue
			}
		case <-ctx.Done():
			rep.Results[i].Err = ctx.Err()
			continue
		}
		wg.Add(1)
		go func(res *PublishResult) {
			defer func() { <-sem; wg.Done() }()
			t, err := p.SubAccount(res.SubAccount)
			if err == nil {
				res.Outcome, res.ID, err = one(ctx, res.SubAccount, t)
			}
			if err != nil {
				res.Outcome, res.Err = PublishFailed, err
			}
		}(&rep.Results[i])
	}
	wg.Wait()
	return rep, ctx.Err()
}

// ScriptTemplate is a script to install in many customers, as Peliqan's
// "Data App templates" are published from the partner account.
type ScriptTemplate struct {
	// Name identifies the script in each customer: publishing updates the
	// script of that name, or creates it.
	Name string
	Code string
	// Schedule, when set, is applied too (and compared on later publishes);
	// nil leaves each customer's schedule alone.
	Schedule *Schedule
	// Group is the name of the script group (folder) to create the script
	// in; empty means the customer's first group, as Peliqan's own client
	// picks. A customer without that group fails with ErrGroupNotFound.
	Group string
	// RunMode for new scripts; empty means RunModeShell.
	RunMode RunMode
}

// PublishScript installs a script in each chosen customer, or brings it up
// to date: a customer without a script of that name gets one (created), one
// whose script differs in code or schedule has it changed in place
// (updated), and one whose script already matches is not written to at all
// (unchanged), so publishing twice changes nothing the second time. An
// existing script stays in its group.
//
// Each customer is worked on with its own tenant client (SubAccount), at
// most Concurrency at a time; one customer's failure is reported in its
// result and does not stop the others. The returned error is for bad input
// (before any request) or the context ending; per-customer failures are in
// the report (PublishReport.Err joins them). opts apply to every request
// made for every customer.
func (p *PartnerClient) PublishScript(ctx context.Context, tmpl ScriptTemplate, o *PublishOptions, opts ...RequestOption) (*PublishReport, error) {
	opt := optionsOr(o)
	if strings.TrimSpace(tmpl.Name) == "" {
		return nil, invalidArg("Name", "is empty")
	}
	if err := tmpl.Schedule.validate(); err != nil {
		return nil, err
	}
	if _, err := applyCallOptions(opts); err != nil {
		return nil, err
	}
	return p.publish(ctx, opt, func(ctx context.Context, _ SubAccountRef, t *SubAccountClient) (PublishOutcome, ID, error) {
		return publishScript(ctx, t, tmpl, opts)
	})
}

func publishScript(ctx context.Context, t *SubAccountClient, tmpl ScriptTemplate, opts []RequestOption) (PublishOutcome, ID, error) {
	groups, err := t.ListGroups(ctx, opts...)
	if err != nil {
		return PublishFailed, 0, err
	}
	var group *Group
	for i := range groups {
		if tmpl.Group == "" || groups[i].Name == tmpl.Group {
			group = &groups[i]
			break
		}
	}
	if group == nil {
		if tmpl.Group == "" {
			return PublishFailed, 0, fmt.Errorf("%w: the customer has no script group", ErrGroupNotFound)
		}
		return PublishFailed, 0, fmt.Errorf("%w: %q", ErrGroupNotFound, tmpl.Group)
	}
	scripts, err := t.ListScripts(ctx, opts...)
	if err != nil {
		return PublishFailed, 0, err
	}
	var found *Script
	for i := range scripts {
		if scripts[i].Name != tmpl.Name {
			continue
		}
		if found == nil || (scripts[i].GroupID == group.ID && found.GroupID != group.ID) {
			found = &scripts[i]
		}
	}
	if found == nil {
		sc, err := t.CreateScript(ctx, ScriptCreate{Name: tmpl.Name, Code: tmpl.Code, GroupID: group.ID,
			RunMode: tmpl.RunMode, Schedule: tmpl.Schedule}, opts...)
		if err != nil {
			return PublishFailed, idOrZero(sc, func(s *Script) ID { return s.ID }), err
		}
		return PublishCreated, sc.ID, nil
	}
	cur, err := t.GetScript(ctx, found.ID, opts...)
	if err != nil {
		return PublishFailed, found.ID, err
	}
	var code *string
	var settings json.RawMessage
	if cur.Code != tmpl.Code {
		code = &tmpl.Code
	}
	if tmpl.Schedule != nil && !sameSchedule(cur.Schedule, tmpl.Schedule) {
		if settings, err = mergeSchedule(cur.Settings, tmpl.Schedule); err != nil {
			return PublishFailed, found.ID, err
		}
	}
	if code == nil && settings == nil {
		return PublishUnchanged, found.ID, nil
	}
	if _, err := t.patchScript(ctx, found.ID, nil, code, settings, opts); err != nil {
		return PublishFailed, found.ID, err
	}
	return PublishUpdated, found.ID, nil
}

// QueryTableTemplate is a query table to install in many customers.
type QueryTableTemplate struct {
	// Name identifies the table in each customer's schema.
	Name  string
	Query string
	// Database is the database's name; empty means the customer's default
	// data warehouse (from SubAccountInfo), which is named differently in
	// every customer.
	Database string
	// Schema is the schema's name in that database; empty means its first
	// schema.
	Schema string
}

// PublishQueryTable installs a query table in each chosen customer, or
// brings its SQL up to date, with the same rules and report as
// PublishScript: created, updated (the query differed), unchanged (nothing
// written), or failed (ErrSchemaNotFound when the database or schema is
// missing).
func (p *PartnerClient) PublishQueryTable(ctx context.Context, tmpl QueryTableTemplate, o *PublishOptions, opts ...RequestOption) (*PublishReport, error) {
	opt := optionsOr(o)
	switch {
	case strings.TrimSpace(tmpl.Name) == "":
		return nil, invalidArg("Name", "is empty")
	case strings.TrimSpace(tmpl.Query) == "":
		return nil, invalidArg("Query", "is empty")
	}
	if _, err := applyCallOptions(opts); err != nil {
		return nil, err
	}
	return p.publish(ctx, opt, func(ctx context.Context, ref SubAccountRef, t *SubAccountClient) (PublishOutcome, ID, error) {
		return p.publishQueryTable(ctx, ref, t, tmpl, opts)
	})
}

func (p *PartnerClient) publishQueryTable(ctx context.Context, ref SubAccountRef, t *SubAccountClient, tmpl QueryTableTemplate, opts []RequestOption) (PublishOutcome, ID, error) {
	dbs, err := t.ListDatabases(ctx, &DatabaseListOptions{IncludeTables: true}, opts...)
	if err != nil {
		return PublishFailed, 0, err
	}
	var db *Database
	if tmpl.Database != "" {
		for i := range dbs {
			if dbs[i].Name == tmpl.Database {
				db = &dbs[i]
				break
			}
		}
	} else if dwID, err := p.defaultDW(ctx, ref, opts); err != nil {
		return PublishFailed, 0, err
	} else {
		for i := range dbs {
			if dbs[i].ID == dwID {
				db = &dbs[i]
				break
			}
		}
	}
	if db == nil {
		return PublishFailed, 0, fmt.Errorf("%w: database %q", ErrSchemaNotFound, cmp.Or(tmpl.Database, "default data warehouse"))
	}
	var schema *Schema
	for i := range db.Schemas {
		if tmpl.Schema == "" || db.Schemas[i].Name == tmpl.Schema {
			schema = &db.Schemas[i]
			break
		}
	}
	if schema == nil {
		return PublishFailed, 0, fmt.Errorf("%w: schema %q in database %q", ErrSchemaNotFound, tmpl.Schema, db.Name)
	}
	for _, tr := range db.Tables {
		if tr.Name != tmpl.Name || tr.SchemaID != schema.ID {
			continue
		}
		cur, err := t.GetTable(ctx, tr.ID, opts...)
		if err != nil {
			return PublishFailed, tr.ID, err
		}
		if cur.Query == tmpl.Query {
			return PublishUnchanged, tr.ID, nil
		}
		if _, err := t.UpdateQueryTable(ctx, tr.ID, QueryTableUpdate{Query: &tmpl.Query}, opts...); err != nil {
			return PublishFailed, tr.ID, err
		}
		return PublishUpdated, tr.ID, nil
	}
	tb, err := t.CreateQueryTable(ctx, db.ID, QueryTable{SchemaID: schema.ID, Name: tmpl.Name, Query: tmpl.Query}, opts...)
	if err != nil {
		return PublishFailed, idOrZero(tb, func(t *Table) ID { return t.ID }), err
	}
	return PublishCreated, tb.ID, nil
}

// idOrZero is the id of what a create returned beside its error (made, but
// its answer not read in full), or 0 when it returned nothing.
func idOrZero[T any](v *T, id func(*T) ID) ID {
	if v == nil {
		return 0
	}
	return id(v)
}

// defaultDW finds the customer's default data warehouse id through the
// partner API (an external id is first resolved to the account id).
func (p *PartnerClient) defaultDW(ctx context.Context, ref SubAccountRef, opts []RequestOption) (ID, error) {
	id, isID := ref.AccountID()
	if !isID {
		sa, err := p.GetSubAccount(ctx, ref, opts...)
		if err != nil {
			return 0, err
		}
		id = sa.ID
	}
	info, err := p.SubAccountInfo(ctx, id, opts...)
	if err != nil {
		return 0, err
	}
	if info.DefaultDWID <= 0 {
		return 0, fmt.Errorf("%w: the customer has no default data warehouse", ErrSchemaNotFound)
	}
	return info.DefaultDWID, nil
}
