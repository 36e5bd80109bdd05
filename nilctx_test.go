package peliqan

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"iter"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// firstErr consumes an iterator up to its first error (or its end).
func firstErr[T any](seq iter.Seq2[T, error]) error {
	for _, err := range seq {
		if err != nil {
			return err
		}
	}
	return nil
}

// nilCtxCalls calls every public entry point that takes a context with a
// nil one and otherwise valid arguments, so the only thing to refuse is the
// context. Iterators are consumed to their first error.
func nilCtxCalls(p *PartnerClient, s *SubAccountClient) (partner, tenant, funcs map[string]func(context.Context) error) {
	id := ID(7)
	sync := &SyncResult{ServerID: 7, TaskID: "t-1", RunData: []RunRef{{PipelineRunID: 9, TaskID: "t-1"}}}
	create := SubAccountCreate{ExternalID: "acme", FirstName: "Ann", LastName: "Lee", Email: "ann@acme.example", CompanyName: "Acme"}
	name := "n"
	pub := &PublishOptions{SubAccounts: []SubAccountRef{ByAccountID(1)}}
	partner = map[string]func(context.Context) error{
		"ActivityReport": func(ctx context.Context) error { _, err := p.ActivityReport(ctx, nil); return err },
		"ChangeLicenses": func(ctx context.Context) error {
			_, err := p.ChangeLicenses(ctx, LicenseChange{SubAccounts: []SubAccountRef{ByAccountID(1)}, License: "pro"}, nil)
			return err
		},
		"CloseInactiveCustomers": func(ctx context.Context) error { _, err := p.CloseInactiveCustomers(ctx, nil); return err },
		"ConnectionHealth":       func(ctx context.Context) error { return firstErr(p.ConnectionHealth(ctx, nil)) },
		"CreateSubAccount":       func(ctx context.Context) error { _, err := p.CreateSubAccount(ctx, create); return err },
		"DeleteSubAccount":       func(ctx context.Context) error { return p.DeleteSubAccount(ctx, id) },
		"Do":                     func(ctx context.Context) error { return p.Do(ctx, "GET", "/api/partner/sub-accounts/", nil, nil) },
		"EnsureSubAccount":       func(ctx context.Context) error { _, _, err := p.EnsureSubAccount(ctx, create); return err },
		"SyncFleet":              func(ctx context.Context) error { return firstErr(p.SyncFleet(ctx, nil)) },
		"ForEachSubAccount": func(ctx context.Context) error {
			return p.ForEachSubAccount(ctx, 1, func(context.Context, *SubAccount, *SubAccountClient) error { return nil })
		},
		"GetSubAccount":     func(ctx context.Context) error { _, err := p.GetSubAccount(ctx, ByExternalID("acme")); return err },
		"InactiveCustomers": func(ctx context.Context) error { _, err := p.InactiveCustomers(ctx, nil); return err },
		"IntegrationToken": func(ctx context.Context) error {
			_, err := p.IntegrationToken(ctx, Integration{ExternalID: "acme", FirstName: "Ann", LastName: "Lee", Email: "ann@acme.example", CompanyName: "Acme"})
			return err
		},
		"LicenseReport":   func(ctx context.Context) error { _, err := p.LicenseReport(ctx, nil); return err },
		"ListSubAccounts": func(ctx context.Context) error { _, err := p.ListSubAccounts(ctx, nil); return err },
		"PublishQueryTable": func(ctx context.Context) error {
			_, err := p.PublishQueryTable(ctx, QueryTableTemplate{Name: "q", Query: "select 1"}, pub)
			return err
		},
		"PublishScript": func(ctx context.Context) error {
			_, err := p.PublishScript(ctx, ScriptTemplate{Name: "s", Code: "print(1)"}, pub)
			return err
		},
		"ServerTypes":    func(ctx context.Context) error { _, err := p.ServerTypes(ctx); return err },
		"SubAccountInfo": func(ctx context.Context) error { _, err := p.SubAccountInfo(ctx, id); return err },
		"SubAccountToken": func(ctx context.Context) error {
			_, err := p.SubAccountToken(ctx, ByAccountID(id), nil)
			return err
		},
		"SubAccounts": func(ctx context.Context) error { return firstErr(p.SubAccounts(ctx, nil)) },
		"UpdateSubAccount": func(ctx context.Context) error {
			_, err := p.UpdateSubAccount(ctx, id, SubAccountUpdate{FirstName: &name})
			return err
		},
	}
	tenant = map[string]func(context.Context) error{
		"CreateQueryTable": func(ctx context.Context) error {
			_, err := s.CreateQueryTable(ctx, id, QueryTable{SchemaID: 3, Name: "q", Query: "select 1"})
			return err
		},
		"CreateScript": func(ctx context.Context) error {
			_, err := s.CreateScript(ctx, ScriptCreate{Name: "s", Code: "print(1)", GroupID: 2})
			return err
		},
		"CreateServer": func(ctx context.Context) error {
			_, err := s.CreateServer(ctx, ServerCreate{ServerTypeID: 3, Fields: map[string]any{"api_key": "k"}})
			return err
		},
		"DeleteServer": func(ctx context.Context) error {
			return s.DeleteServer(ctx, id)
		},
		"Do":         func(ctx context.Context) error { return s.Do(ctx, "GET", "/api/servers/", nil, nil) },
		"FullResync": func(ctx context.Context) error { _, err := s.FullResync(ctx, id); return err },
		"GetFullResyncStatus": func(ctx context.Context) error {
			_, err := s.GetFullResyncStatus(ctx, id, &SyncStatusOptions{TaskID: "t-1"})
			return err
		},
		"GetPipelineRuns":       func(ctx context.Context) error { _, err := s.GetPipelineRuns(ctx, []ID{1, 2}); return err },
		"GetScript":             func(ctx context.Context) error { _, err := s.GetScript(ctx, id); return err },
		"GetScriptRun":          func(ctx context.Context) error { _, err := s.GetScriptRun(ctx, id); return err },
		"GetServer":             func(ctx context.Context) error { _, err := s.GetServer(ctx, id); return err },
		"GetServerHealthStatus": func(ctx context.Context) error { _, err := s.GetServerHealthStatus(ctx, id); return err },
		"GetServerSyncRunStatus": func(ctx context.Context) error {
			_, err := s.GetServerSyncRunStatus(ctx, id, &SyncStatusOptions{TaskID: "t-1"})
			return err
		},
		"ConnectionTables": func(ctx context.Context) error { _, err := s.ConnectionTables(ctx, id); return err },
		"LookupConnection": func(ctx context.Context) error {
			_, err := s.LookupConnection(ctx, LookupKeys{ConnectionID: id})
			return err
		},
		"LookupDatabase": func(ctx context.Context) error {
			_, err := s.LookupDatabase(ctx, LookupKeys{ConnectionID: id})
			return err
		},
		"LookupSchema": func(ctx context.Context) error {
			_, err := s.LookupSchema(ctx, LookupKeys{ConnectionID: id})
			return err
		},
		"LookupTable": func(ctx context.Context) error {
			_, err := s.LookupTable(ctx, LookupKeys{TableID: id})
			return err
		},
		"ResolveTable": func(ctx context.Context) error {
			_, err := s.ResolveTable(ctx, TableName{Schema: "s", Table: "t"})
			return err
		},
		"RowsByName": func(ctx context.Context) error {
			return firstErr(s.RowsByName(ctx, TableName{Schema: "s", Table: "t"}, nil))
		},
		"GetTable":       func(ctx context.Context) error { _, err := s.GetTable(ctx, id); return err },
		"ListDatabases":  func(ctx context.Context) error { _, err := s.ListDatabases(ctx, nil); return err },
		"ListGroups":     func(ctx context.Context) error { _, err := s.ListGroups(ctx); return err },
		"ListRows":       func(ctx context.Context) error { _, err := s.ListRows(ctx, id, nil); return err },
		"ListScriptRuns": func(ctx context.Context) error { _, err := s.ListScriptRuns(ctx, id, nil); return err },
		"ListScripts":    func(ctx context.Context) error { _, err := s.ListScripts(ctx); return err },
		"ListServerRuns": func(ctx context.Context) error { _, err := s.ListServerRuns(ctx, id, nil); return err },
		"ListServers":    func(ctx context.Context) error { _, err := s.ListServers(ctx); return err },
		"ListTables":     func(ctx context.Context) error { _, err := s.ListTables(ctx, id); return err },
		"ManualRefreshSaltEdge": func(ctx context.Context) error {
			_, err := s.ManualRefreshSaltEdge(ctx, id)
			return err
		},
		"PipelineRunLogs":   func(ctx context.Context) error { _, err := s.PipelineRunLogs(ctx, id); return err },
		"Query":             func(ctx context.Context) error { _, err := s.Query(ctx, "select 1", nil); return err },
		"ReAuthoriseServer": func(ctx context.Context) error { _, err := s.ReAuthoriseServer(ctx, id); return err },
		"Rows":              func(ctx context.Context) error { return firstErr(s.Rows(ctx, id, nil)) },
		"RunScript":         func(ctx context.Context) error { _, err := s.RunScript(ctx, id); return err },
		"ScriptRunLogs":     func(ctx context.Context) error { _, err := s.ScriptRunLogs(ctx, id); return err },
		"ScriptRuns":        func(ctx context.Context) error { return firstErr(s.ScriptRuns(ctx, id, nil)) },
		"ServerLogs":        func(ctx context.Context) error { _, err := s.ServerLogs(ctx, id); return err },
		"ServerRuns":        func(ctx context.Context) error { return firstErr(s.ServerRuns(ctx, id, nil)) },
		"SyncServer":        func(ctx context.Context) error { _, err := s.SyncServer(ctx, id, nil); return err },
		"UpdateCell":        func(ctx context.Context) error { return s.UpdateCell(ctx, id, 1, "name", "x") },
		"SendConnectionInvite": func(ctx context.Context) error {
			return s.SendConnectionInvite(ctx, ConnectionInvite{Recipient: "cfo@acme.example", ServerType: "hubspot"})
		},
		"UpdateQueryTable": func(ctx context.Context) error {
			q := "select 2"
			_, err := s.UpdateQueryTable(ctx, id, QueryTableUpdate{Query: &q})
			return err
		},
		"UpdateScript": func(ctx context.Context) error {
			code := "print(2)"
			_, err := s.UpdateScript(ctx, id, ScriptUpdate{Code: &code})
			return err
		},
		"WaitForConnection": func(ctx context.Context) error {
			_, err := s.WaitForConnection(ctx, id, &ConnectionWaitOptions{Schedule: FixedSchedule(0)})
			return err
		},
		"WaitForScriptRun": func(ctx context.Context) error {
			_, err := s.WaitForScriptRun(ctx, id, &ScriptWaitOptions{Schedule: FixedSchedule(0)})
			return err
		},
		"WaitForSync": func(ctx context.Context) error {
			_, err := s.WaitForSync(ctx, sync, &WaitOptions{Schedule: FixedSchedule(0)})
			return err
		},
		"WaitForSyncs": func(ctx context.Context) error {
			return firstErr(s.WaitForSyncs(ctx, []*SyncResult{sync}, &WaitManyOptions{Schedule: FixedSchedule(0)}))
		},
	}
	funcs = map[string]func(context.Context) error{
		"QueryAs": func(ctx context.Context) error {
			_, err := QueryAs[map[string]any](ctx, s, "select 1", nil)
			return err
		},
		"RowsAs": func(ctx context.Context) error {
			return firstErr(RowsAs[map[string]any](ctx, s, id, nil))
		},
		"RowsAsByName": func(ctx context.Context) error {
			return firstErr(RowsAsByName[map[string]any](ctx, s, TableName{Schema: "s", Table: "t"}, nil))
		},
	}
	return partner, tenant, funcs
}

// nilCtxSetCalls is nilCtxCalls for a PartnerSet.
func nilCtxSetCalls(set *PartnerSet) map[string]func(context.Context) error {
	return map[string]func(context.Context) error{
		"ActivityReport":    func(ctx context.Context) error { _, err := set.ActivityReport(ctx, nil); return err },
		"ConnectionHealth":  func(ctx context.Context) error { return firstErr(set.ConnectionHealth(ctx, nil)) },
		"InactiveCustomers": func(ctx context.Context) error { _, err := set.InactiveCustomers(ctx, nil); return err },
		"LicenseReport":     func(ctx context.Context) error { _, err := set.LicenseReport(ctx, nil); return err },
		"SubAccounts":       func(ctx context.Context) error { return firstErr(set.SubAccounts(ctx, nil)) },
	}
}

// ctxMethods lists the exported methods of v's type whose first parameter
// is a context.Context.
func ctxMethods(v any) []string {
	ctxType := reflect.TypeFor[context.Context]()
	t := reflect.TypeOf(v)
	var out []string
	for i := range t.NumMethod() {
		m := t.Method(i)
		if m.Type.NumIn() > 1 && m.Type.In(1) == ctxType {
			out = append(out, m.Name)
		}
	}
	return out
}

// ctxFuncs lists the package's exported top-level functions (not methods)
// whose first parameter is a context.Context, read from the source: a
// function added later is found without anyone listing it.
func ctxFuncs(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	fset := token.NewFileSet()
	var out []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		require.NoError(t, err)
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !fn.Name.IsExported() || fn.Type.Params.NumFields() == 0 {
				continue
			}
			sel, ok := fn.Type.Params.List[0].Type.(*ast.SelectorExpr)
			if ok && fmt.Sprint(sel.X) == "context" && sel.Sel.Name == "Context" {
				out = append(out, fn.Name.Name)
			}
		}
	}
	return out
}

// TestNilContextRefusedEverywhere: every public method of both clients and
// every package-level function that takes a context returns
// ErrInvalidArgument (naming "ctx") for a nil one, without panicking and
// without a single request reaching the (loopback) server. The table is
// checked against the clients' method sets and the package's functions, so
// a new entry point that is not listed fails the test.
func TestNilContextRefusedEverywhere(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)
	opts := []Option{WithBaseURL(srv.URL), WithRetryPolicy(fastRetries(1))}
	p, err := NewPartnerClient(testPartnerToken, opts...)
	require.NoError(t, err)
	s, err := NewSubAccountClient(testTenantToken, opts...)
	require.NoError(t, err)
	partner, tenant, funcs := nilCtxCalls(p, s)
	set, err := NewPartnerSet(map[string]*PartnerClient{"eu": p})
	require.NoError(t, err)
	setCalls := nilCtxSetCalls(set)

	sortedKeys := func(m map[string]func(context.Context) error) []string {
		return slices.Sorted(func(yield func(string) bool) {
			for k := range m {
				if !yield(k) {
					return
				}
			}
		})
	}
	want := ctxMethods(p)
	slices.Sort(want)
	assert.Equal(t, want, sortedKeys(partner), "every PartnerClient method taking a context is in the table")
	want = ctxMethods(s)
	slices.Sort(want)
	assert.Equal(t, want, sortedKeys(tenant), "every SubAccountClient method taking a context is in the table")
	want = ctxFuncs(t)
	slices.Sort(want)
	assert.Equal(t, want, sortedKeys(funcs), "every package-level function taking a context is in the table")
	want = ctxMethods(set)
	slices.Sort(want)
	assert.Equal(t, want, sortedKeys(setCalls), "every PartnerSet method taking a context is in the table")

	check := func(t *testing.T, call func(context.Context) error) {
		before := hits.Load()
		var err error
		func() {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("panic: %v", r)
				}
			}()
			var nilCtx context.Context
			err = call(nilCtx)
		}()
		require.ErrorIs(t, err, ErrInvalidArgument)
		var ae *ArgumentError
		require.True(t, errors.As(err, &ae), "%T %v", err, err)
		assert.Equal(t, "ctx", ae.Name, "the nil context is what was refused: %v", err)
		assert.Equal(t, before, hits.Load(), "no request reached the server")
	}
	for group, calls := range map[string]map[string]func(context.Context) error{"PartnerClient": partner, "SubAccountClient": tenant, "func": funcs, "PartnerSet": setCalls} {
		for name, call := range calls {
			t.Run(group+"."+name, func(t *testing.T) { check(t, call) })
		}
	}
	assert.Zero(t, hits.Load(), "no request reached the server")
}
