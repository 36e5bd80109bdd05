package peliqan_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// dataFake seeds one customer with a connection named "CRM" (target_schema
// sent), one named "Bank" (no target_schema) and a table with a hostile
// name, and returns a tenant client on real sockets.
func dataFake(t *testing.T) (*peliqantest.Fake, peliqantest.SeededSubAccount, *peliqan.SubAccountClient) {
	t.Helper()
	fake := peliqantest.NewFake(t, peliqantest.WithFixture(peliqantest.Fixture{SubAccounts: []peliqantest.SubAccountFixture{{
		ExternalID: "acme", Connections: []peliqantest.ConnectionFixture{
			{Name: "CRM", Type: "pipedrive", Tables: []peliqantest.TableFixture{
				{Name: "contacts", Fields: []peliqantest.FieldFixture{{Name: "name", Type: "text"}}, GeneratedRows: 5},
				{Name: "deals", Fields: []peliqantest.FieldFixture{{Name: "amount", Type: "number"}}, GeneratedRows: 3},
			}},
			{Name: "Bank", Type: "saltedge", OmitTargetSchema: true, Tables: []peliqantest.TableFixture{
				{Name: `a"; DROP`, Fields: []peliqantest.FieldFixture{{Name: "n", Type: "number"}}, GeneratedRows: 4},
				{Name: "a", Fields: []peliqantest.FieldFixture{{Name: "n", Type: "number"}}, GeneratedRows: 9},
			}},
		}}}}))
	sa := fake.Seeded().SubAccounts[0]
	c, err := fake.SubAccountClient(sa.ID)
	require.NoError(t, err)
	return fake, sa, c
}

func TestConnectionTablesAgainstTheFake(t *testing.T) {
	t.Parallel()
	fake, sa, c := dataFake(t)
	ctx := context.Background()
	for _, conn := range sa.Connections {
		d, err := c.ConnectionTables(ctx, conn.ID)
		require.NoError(t, err, conn.Name)
		assert.Equal(t, peliqan.LocatedByLookup, d.LocatedBy, conn.Name)
		assert.Equal(t, sa.DatabaseID, d.DatabaseID)
		assert.Equal(t, "dw_"+sa.ID.String(), d.DatabaseName)
		assert.NotEqual(t, strings.ToLower(conn.Name), strings.ToLower(d.SchemaName), "the schema is not named after the connection")
		var ids []peliqan.ID
		for _, tb := range d.Tables {
			ids = append(ids, tb.ID)
		}
		assert.ElementsMatch(t, conn.Tables, ids, conn.Name)
	}
	// Lookup, then the databases listing: two requests per connection.
	assert.Equal(t, 2, fake.Count(peliqan.RouteLookupSchema))
	assert.Equal(t, 2, fake.Count(peliqan.RouteListDatabases))
	assert.Zero(t, fake.Count(peliqan.RouteListServers))
}

// With lookup routes the service does not have (Django's HTML 404), the
// connection's target_schema answers; a connection without one is a typed
// not-found.
func TestConnectionTablesFallbackAgainstTheFake(t *testing.T) {
	t.Parallel()
	fake, sa, c := dataFake(t)
	fake.AddFaultRule(peliqantest.FaultRule{Route: peliqan.RouteLookupSchema, Probability: 1,
		Fault: peliqantest.StatusFault(http.StatusNotFound, "<html><title>Not Found</title></html>")})
	ctx := context.Background()
	crm, bank := sa.Connections[0], sa.Connections[1]
	d, err := c.ConnectionTables(ctx, crm.ID)
	require.NoError(t, err)
	assert.Equal(t, peliqan.LocatedByTargetSchema, d.LocatedBy)
	assert.Len(t, d.Tables, 2)

	_, err = c.ConnectionTables(ctx, bank.ID)
	assert.ErrorIs(t, err, peliqan.ErrConnectionDataNotFound)
	assert.ErrorIs(t, err, peliqan.ErrNotFound)
	assert.Contains(t, err.Error(), "sends no target_schema")
}

// A client that guesses where a connection's data is (its name, a slug of
// it) fails against the fake; the typed path finds it.
func TestGuessedTableNamesFailAgainstTheFake(t *testing.T) {
	t.Parallel()
	_, sa, c := dataFake(t)
	ctx := context.Background()
	crm := sa.Connections[0]
	db := "dw_" + sa.ID.String()
	for _, guess := range []string{"CRM", "crm", "pipedrive"} {
		n := peliqan.TableName{Database: db, Schema: guess, Table: "contacts"}
		for _, err := range c.RowsByName(ctx, n, nil) {
			assert.ErrorIs(t, err, peliqan.ErrNotFound, guess)
			break
		}
		_, err := c.Query(ctx, "SELECT * FROM "+n.String(), nil)
		assert.ErrorContains(t, err, "does not exist", guess)
	}

	d, err := c.ConnectionTables(ctx, crm.ID)
	require.NoError(t, err)
	var rows int
	for row, err := range c.RowsByName(ctx, d.TableName("contacts"), &peliqan.RowsOptions{Size: 2}) {
		require.NoError(t, err)
		assert.NotEmpty(t, row["name"])
		rows++
	}
	assert.Equal(t, 5, rows)
}

// A hostile table name stays a name: quoted in SQL, it reaches that table
// and no other; looked up by name, it streams that table's rows.
func TestHostileTableNameStaysAName(t *testing.T) {
	t.Parallel()
	_, sa, c := dataFake(t)
	ctx := context.Background()
	d, err := c.ConnectionTables(ctx, sa.Connections[1].ID)
	require.NoError(t, err)
	n := d.TableName(`a"; DROP`)
	res, err := c.Query(ctx, "SELECT * FROM "+n.String()+" LIMIT 10", nil)
	require.NoError(t, err)
	assert.Len(t, res.Rows, 4, `the rows of a"; DROP, not of a`)
	var rows int
	for _, err := range c.RowsByName(ctx, n, nil) {
		require.NoError(t, err)
		rows++
	}
	assert.Equal(t, 4, rows)
	// Unquoted, the same text is not one name.
	_, err = c.Query(ctx, `SELECT * FROM `+d.SchemaName+`.a"; DROP`, nil)
	var qe *peliqan.QueryError
	assert.True(t, errors.As(err, &qe), "refused by the service as SQL: %v", err)
}

// A lookup answered 503 is sent again with the same body, on real sockets.
func TestLookupRetriedWithTheSameBodyOnTheWire(t *testing.T) {
	t.Parallel()
	fake, sa, c := dataFake(t)
	fake.ResetRecords()
	fake.FailNext(peliqan.RouteLookupTable, 1, peliqantest.StatusFault(http.StatusServiceUnavailable, ""))
	var resp peliqan.Response
	res, err := c.LookupTable(context.Background(), peliqan.LookupKeys{SchemaName: schemaOf(t, c, sa.Connections[0].ID), TableName: "deals"},
		peliqan.WithResponse(&resp))
	require.NoError(t, err)
	assert.Equal(t, sa.Connections[0].Tables[1], res.TableID)
	assert.Equal(t, 2, resp.Attempts)
	var bodies []string
	for _, r := range fake.Requests() {
		if r.Route == peliqan.RouteLookupTable {
			assert.Equal(t, http.MethodGet, r.Method)
			bodies = append(bodies, string(r.Body))
		}
	}
	require.Len(t, bodies, 2)
	assert.Equal(t, []int{http.StatusServiceUnavailable, http.StatusOK}, statuses(fake, peliqan.RouteLookupTable))
	assert.Equal(t, bodies[0], bodies[1])
	assert.Contains(t, bodies[0], `"table_name":"deals"`)
}

func schemaOf(t *testing.T, c *peliqan.SubAccountClient, id peliqan.ID) string {
	t.Helper()
	srv, err := c.GetServer(context.Background(), id)
	require.NoError(t, err)
	require.NotNil(t, srv.TargetSchema)
	return srv.TargetSchema.SchemaName
}

func statuses(fake *peliqantest.Fake, route string) []int {
	var out []int
	for _, r := range fake.Requests() {
		if r.Route == route {
			out = append(out, r.Status)
		}
	}
	return out
}
