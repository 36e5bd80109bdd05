package peliqantest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"

	peliqan "github.com/peliqan-community/peliqan-go"
)

// Fixture is data to load into a fake: extra connector definitions and
// sub-accounts with their connections, tables, rows and scripts.
type Fixture struct {
	// ServerTypes are added to DefaultServerTypes (one with the same Name
	// replaces it).
	ServerTypes []ServerType
	SubAccounts []SubAccountFixture
}

// SubAccountFixture is one sub-account (tenant). ExternalID is required and
// must be unique.
type SubAccountFixture struct {
	ExternalID  string
	CompanyName string // also the name; default "Customer <external id>"
	FirstName   string
	LastName    string
	Email       string
	Country     string
	License     string // default "free_trial"
	// ExpiresOn is the licence expiry; the zero Date means none (null).
	ExpiresOn   peliqan.Date
	Connections []ConnectionFixture
	Scripts     []ScriptFixture
}

// ConnectionFixture is one connection of a sub-account.
type ConnectionFixture struct {
	Name string // default: the type's display name
	Type string // a ServerType name; default "pipedrive"
	// HealthStatus defaults to OK (seeded connections are authorised, even
	// OAuth ones; set AUTHORIZING to start one mid-flow).
	HealthStatus string
	// SyncOutcome is how this connection's runs end; "" means the server's
	// default (WithSyncOutcome).
	SyncOutcome RunOutcome
	// Tables replaces the type's default tables when set.
	Tables []TableFixture
	// OmitTargetSchema leaves target_schema out of the connection's JSON,
	// as the real service may: its data still lands in a schema, which
	// only the lookup routes then find.
	OmitTargetSchema bool
}

// TableFixture is a table: its fields, explicit rows, and a number of
// generated rows that follow them (computed on demand, so large tables are
// cheap).
type TableFixture struct {
	Name          string
	Fields        []FieldFixture // inferred from the first row's keys when empty
	Rows          []map[string]any
	GeneratedRows int
}

// FieldFixture is a column: Type is text, email, number, decimal, boolean
// or date (anything else is text).
type FieldFixture struct {
	Name string
	Type string
}

// ScriptFixture is a script in the sub-account's default group.
type ScriptFixture struct {
	Name    string
	Code    string
	RunMode string // default "SHELL"
}

// Seeded lists the ids a Seed assigned, in fixture order.
type Seeded struct {
	SubAccounts []SeededSubAccount
}

// SeededSubAccount is one seeded sub-account.
type SeededSubAccount struct {
	ID          peliqan.ID
	ExternalID  string
	DatabaseID  peliqan.ID // the built-in warehouse
	GroupID     peliqan.ID // the default script group
	Connections []SeededConnection
	Scripts     []peliqan.ID
}

// SeededConnection is one seeded connection and its tables.
type SeededConnection struct {
	ID     peliqan.ID
	Name   string
	Tables []peliqan.ID
}

// Seed loads f. It checks the whole fixture first and changes nothing when
// it is invalid (an empty or duplicate external id, an unknown connector
// type or outcome).
func (s *Fake) Seed(f Fixture) (*Seeded, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	types := map[string]bool{}
	for _, t := range st.serverTypes {
		types[t.Name] = true
	}
	for _, t := range f.ServerTypes {
		if t.Name == "" {
			return nil, fmt.Errorf("peliqantest: fixture server type without a name")
		}
		if t.AuthType != AuthAPIKey && t.AuthType != AuthOAuth {
			return nil, fmt.Errorf("peliqantest: server type %q: auth type %q is not %q or %q", t.Name, t.AuthType, AuthAPIKey, AuthOAuth)
		}
		types[t.Name] = true
	}
	seen := map[string]bool{}
	for i, sa := range f.SubAccounts {
		switch {
		case strings.TrimSpace(sa.ExternalID) == "":
			return nil, fmt.Errorf("peliqantest: fixture sub-account %d has no external id", i)
		case seen[sa.ExternalID] || st.byExternalID(sa.ExternalID) != nil:
			return nil, fmt.Errorf("peliqantest: external id %q is used twice", sa.ExternalID)
		}
		seen[sa.ExternalID] = true
		if err := sa.checkExpiry(); err != nil {
			return nil, err
		}
		for _, cf := range sa.Connections {
			if cf.Type != "" && !types[cf.Type] {
				return nil, fmt.Errorf("peliqantest: connection %q: unknown server type %q", cf.Name, cf.Type)
			}
			if cf.SyncOutcome != "" && !cf.SyncOutcome.valid() {
				return nil, fmt.Errorf("peliqantest: connection %q: unknown outcome %q", cf.Name, cf.SyncOutcome)
			}
		}
	}

	for _, t := range f.ServerTypes {
		st.addServerType(t)
	}
	now := s.now()
	out := &Seeded{}
	for _, sa := range f.SubAccounts {
		name := sa.CompanyName
		if name == "" {
			name = "Customer " + sa.ExternalID
		}
		a := st.addSubAccount(profile{ExternalID: sa.ExternalID, Name: name, CompanyName: name,
			FirstName: sa.FirstName, LastName: sa.LastName, Email: sa.Email, Country: sa.Country,
			License: sa.License, ExpiresOn: sa.expiresOn(), Verified: true}, now)
		sd := SeededSubAccount{ID: peliqan.ID(a.ID), ExternalID: a.ExternalID,
			DatabaseID: peliqan.ID(a.dw.ID), GroupID: peliqan.ID(a.defaultGroup)}
		for _, cf := range sa.Connections {
			sd.Connections = append(sd.Connections, st.seedConnection(a, cf, now))
		}
		for _, sf := range sa.Scripts {
			mode := sf.RunMode
			if mode == "" {
				mode = "SHELL"
			}
			sc := &script{ID: st.id(), Name: sf.Name, Type: "streamlit", RunMode: mode, Code: sf.Code,
				Group: a.defaultGroup, Settings: []byte("{}"), Editor: "RAW_SCRIPT_EDITOR",
				CreatedOn: now, UpdatedOn: now, account: a.ID}
			st.scripts[sc.ID] = sc
			a.scripts = append(a.scripts, sc.ID)
			sd.Scripts = append(sd.Scripts, peliqan.ID(sc.ID))
		}
		out.SubAccounts = append(out.SubAccounts, sd)
	}
	s.seeded.SubAccounts = append(s.seeded.SubAccounts, out.SubAccounts...)
	return out, nil
}

// Seeded returns the ids of everything seeded so far (by WithFixture and
// Seed), in order.
func (s *Fake) Seeded() *Seeded {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &Seeded{SubAccounts: make([]SeededSubAccount, len(s.seeded.SubAccounts))}
	for i, sa := range s.seeded.SubAccounts {
		sa.Connections = slices.Clone(sa.Connections)
		for j := range sa.Connections {
			sa.Connections[j].Tables = slices.Clone(sa.Connections[j].Tables)
		}
		sa.Scripts = slices.Clone(sa.Scripts)
		out.SubAccounts[i] = sa
	}
	return out
}

func (st *state) seedConnection(a *account, cf ConnectionFixture, now time.Time) SeededConnection {
	typ := cf.Type
	if typ == "" {
		typ = "pipedrive"
	}
	t := *st.serverTypeByName(typ)
	if cf.Tables != nil {
		t.Tables = cf.Tables
	}
	name := cf.Name
	if name == "" {
		name = t.DisplayName
	}
	srv := st.newServer(a, &t, name, now)
	srv.kind = st.serverTypeByName(typ)
	srv.HealthStatus, srv.authWhat = healthOK, ""
	if cf.HealthStatus != "" {
		srv.HealthStatus = cf.HealthStatus
		switch cf.HealthStatus {
		case healthAuthorizing:
			srv.authWhat = "oauth"
		case healthReauthorising:
			srv.authWhat = "reauth"
		}
	}
	srv.outcome = cf.SyncOutcome
	if cf.OmitTargetSchema {
		srv.TargetSchema = nil
	}
	sc := SeededConnection{ID: peliqan.ID(srv.ID), Name: srv.Name}
	for i, id := range srv.tables {
		tb := st.tables[id]
		tf := t.Tables[i]
		tb.loadRows(st, tf)
		sc.Tables = append(sc.Tables, peliqan.ID(id))
	}
	return sc
}

// loadRows fills a fresh table from its fixture.
func (t *table) loadRows(st *state, tf TableFixture) {
	if len(t.fields) == 0 && len(tf.Rows) > 0 {
		keys := make([]string, 0, len(tf.Rows[0]))
		for k := range tf.Rows[0] {
			if k != "id" {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			t.addField(st, k, inferType(tf.Rows[0][k]))
		}
	}
	for _, row := range tf.Rows {
		vals := make([]any, len(t.fields))
		for i, f := range t.fields {
			vals[i] = row[f.Name]
		}
		t.fixed = append(t.fixed, vals)
	}
	t.gen = tf.GeneratedRows
}

func inferType(v any) string {
	switch v.(type) {
	case bool:
		return "boolean"
	case int, int32, int64:
		return "number"
	case float32, float64:
		return "decimal"
	}
	return "text"
}

// Generate builds a deterministic fixture of tenants sub-accounts, each with
// connections connections whose tables (contacts and deals, or
// transactions) hold rows generated rows. The same seed gives the same
// fixture, and loading it into a fresh server gives the same ids. About one
// connection in six has dead credentials: health ERROR, and its syncs end
// in ERROR. One connection in three has no target_schema. Every
// sub-account also gets one script.
func Generate(seed int64, tenants, connections, rows int) Fixture {
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15))
	types := []string{"pipedrive", "hubspot", "postgresql", "saltedge"}
	f := Fixture{}
	for i := range max(tenants, 0) {
		w1, w2 := words[rng.IntN(len(words))], words[rng.IntN(len(words))]
		company := strings.ToUpper(w1[:1]) + w1[1:] + " " + strings.ToUpper(w2[:1]) + w2[1:]
		sa := SubAccountFixture{
			ExternalID:  fmt.Sprintf("cust-%04d", i+1),
			CompanyName: company,
			FirstName:   "Alex",
			LastName:    strings.ToUpper(w2[:1]) + w2[1:],
			Email:       fmt.Sprintf("owner+%d@%s.example.com", i+1, w1),
			Country:     []string{"BE", "NL", "FR", "DE", "GB", "US"}[rng.IntN(6)],
			Scripts:     []ScriptFixture{{Name: "nightly-report", Code: "print('report for " + company + "')"}},
		}
		for j := range max(connections, 0) {
			typ := types[(i+j)%len(types)]
			// One connection in three sends no target_schema (the member is
			// optional): only the lookup routes locate its data.
			cf := ConnectionFixture{Name: fmt.Sprintf("%s %d", typ, j+1), Type: typ, OmitTargetSchema: (i+j)%3 == 2}
			if rng.IntN(6) == 0 {
				cf.HealthStatus, cf.SyncOutcome = healthError, OutcomeError
			}
			for _, tf := range defaultTables(typ) {
				tf.GeneratedRows = max(rows, 0)
				cf.Tables = append(cf.Tables, tf)
			}
			sa.Connections = append(sa.Connections, cf)
		}
		f.SubAccounts = append(f.SubAccounts, sa)
	}
	return f
}

func defaultTables(typ string) []TableFixture {
	for _, t := range DefaultServerTypes() {
		if t.Name == typ {
			return slices.Clone(t.Tables)
		}
	}
	return nil
}
