package peliqantest

// Connect-form kinds of a ServerType.
const (
	// AuthAPIKey connectors are connected with the fields of their form and
	// are OK at once.
	AuthAPIKey = "api_key"
	// AuthOAuth connectors start AUTHORIZING with an oauth_url to open; the
	// test finishes the flow with CompleteOAuth.
	AuthOAuth = "oauth"
)

// ServerType is a connector definition ("server type") with its connect
// form, as GET /api/servertypes/ lists it. The wire shape of this route is
// not documented by Peliqan; this is the fake's.
type ServerType struct {
	ID          int64       `json:"id"`
	Name        string      `json:"name"` // the key connections carry in server_type
	DisplayName string      `json:"display_name"`
	Category    string      `json:"category"`
	AuthType    string      `json:"auth_type"` // AuthAPIKey or AuthOAuth
	SaltEdge    bool        `json:"saltedge"`  // bank connector refreshed through SaltEdge
	FormFields  []FormField `json:"form_fields"`
	// Tables are the tables a new connection of this type gets (with no
	// rows until its first sync). Not part of the wire shape.
	Tables []TableFixture `json:"-"`
}

// FormField is one field of a connect form.
type FormField struct {
	Name     string   `json:"name"`
	Label    string   `json:"label"`
	Type     string   `json:"type"` // text, password, number, url, select
	Required bool     `json:"required"`
	Secret   bool     `json:"secret"`
	Options  []string `json:"options,omitempty"`
}

var (
	contactsTable = TableFixture{Name: "contacts", Fields: []FieldFixture{
		{Name: "name", Type: "text"}, {Name: "email", Type: "email"}, {Name: "company", Type: "text"},
		{Name: "score", Type: "number"}, {Name: "active", Type: "boolean"}, {Name: "created_at", Type: "date"},
	}}
	dealsTable = TableFixture{Name: "deals", Fields: []FieldFixture{
		{Name: "title", Type: "text"}, {Name: "amount", Type: "decimal"}, {Name: "stage", Type: "text"},
		{Name: "won", Type: "boolean"}, {Name: "closed_at", Type: "date"},
	}}
	transactionsTable = TableFixture{Name: "transactions", Fields: []FieldFixture{
		{Name: "description", Type: "text"}, {Name: "amount", Type: "decimal"}, {Name: "booked_at", Type: "date"},
	}}
)

// DefaultServerTypes are the connector definitions every fake starts with:
// an API-key CRM, an OAuth CRM, a database with a multi-field form, and a
// SaltEdge bank connector (OAuth).
func DefaultServerTypes() []ServerType {
	return []ServerType{
		{Name: "pipedrive", DisplayName: "Pipedrive", Category: "crm", AuthType: AuthAPIKey,
			FormFields: []FormField{
				{Name: "api_token", Label: "API token", Type: "password", Required: true, Secret: true},
				{Name: "company_domain", Label: "Company domain", Type: "text"},
			},
			Tables: []TableFixture{contactsTable, dealsTable}},
		{Name: "hubspot", DisplayName: "HubSpot", Category: "crm", AuthType: AuthOAuth,
			Tables: []TableFixture{contactsTable, dealsTable}},
		{Name: "postgresql", DisplayName: "PostgreSQL", Category: "database", AuthType: AuthAPIKey,
			FormFields: []FormField{
				{Name: "host", Label: "Host", Type: "text", Required: true},
				{Name: "port", Label: "Port", Type: "number", Required: true},
				{Name: "database", Label: "Database", Type: "text", Required: true},
				{Name: "username", Label: "User", Type: "text", Required: true},
				{Name: "password", Label: "Password", Type: "password", Required: true, Secret: true},
				{Name: "sslmode", Label: "SSL mode", Type: "select", Options: []string{"require", "prefer", "disable"}},
			},
			Tables: []TableFixture{contactsTable}},
		{Name: "saltedge", DisplayName: "Bank accounts (SaltEdge)", Category: "finance", AuthType: AuthOAuth, SaltEdge: true,
			Tables: []TableFixture{transactionsTable}},
	}
}

// addServerType adds t, or replaces the type of the same name.
func (st *state) addServerType(t ServerType) *ServerType {
	for i, old := range st.serverTypes {
		if old.Name == t.Name {
			t.ID = old.ID
			st.serverTypes[i] = &t
			return &t
		}
	}
	t.ID = st.id()
	if t.FormFields == nil {
		t.FormFields = []FormField{}
	}
	st.serverTypes = append(st.serverTypes, &t)
	return &t
}

func (st *state) serverTypeByID(id int64) *ServerType {
	for _, t := range st.serverTypes {
		if t.ID == id {
			return t
		}
	}
	return nil
}

func (st *state) serverTypeByName(name string) *ServerType {
	for _, t := range st.serverTypes {
		if t.Name == name {
			return t
		}
	}
	return nil
}
