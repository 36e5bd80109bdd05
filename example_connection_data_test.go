package peliqan_test

import (
	"context"
	"fmt"
	"log"

	"github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// exampleConnection starts the fake with one customer whose "CRM"
// connection holds a contacts table of three rows, and returns the
// customer's client and the connection's id.
func exampleConnection() (*peliqantest.Fake, *peliqan.SubAccountClient, peliqan.ID) {
	fake, err := peliqantest.New(peliqantest.WithFixture(peliqantest.Fixture{SubAccounts: []peliqantest.SubAccountFixture{{
		ExternalID: "acme", Connections: []peliqantest.ConnectionFixture{{Name: "CRM", Type: "pipedrive",
			Tables: []peliqantest.TableFixture{{Name: "contacts", Rows: []map[string]any{
				{"name": "Ada"}, {"name": "Grace"}, {"name": "Edsger"}}}}}},
	}}}))
	if err != nil {
		log.Fatal(err)
	}
	sa := fake.Seeded().SubAccounts[0]
	t, err := fake.SubAccountClient(sa.ID)
	if err != nil {
		log.Fatal(err)
	}
	return fake, t, sa.Connections[0].ID
}

// Find the tables a connection's data landed in, then read one by name.
// The schema is asked of Peliqan, never derived from the connection's name
// (here the connection is "CRM" and its schema is generated).
func ExampleSubAccountClient_ConnectionTables() {
	fake, t, serverID := exampleConnection()
	defer fake.Close()
	ctx := context.Background()

	data, err := t.ConnectionTables(ctx, serverID)
	if err != nil {
		log.Fatal(err) // errors.Is(err, peliqan.ErrConnectionDataNotFound) when nothing says where
	}
	fmt.Println("found by:", data.LocatedBy)
	for _, tab := range data.Tables {
		fmt.Println("table:", data.TableName(tab.Name))
		for row, err := range t.RowsByName(ctx, data.TableName(tab.Name), nil) {
			if err != nil {
				log.Fatal(err)
			}
			fmt.Println(row["id"], row["name"])
		}
	}
	// Output:
	// found by: lookup
	// table: "dw_9"."pipedrive_c13"."contacts"
	// 1 Ada
	// 2 Grace
	// 3 Edsger
}

// Decode a table's rows into your own struct, naming the table instead of
// using its id.
func ExampleRowsAsByName() {
	fake, t, serverID := exampleConnection()
	defer fake.Close()
	ctx := context.Background()

	data, err := t.ConnectionTables(ctx, serverID)
	if err != nil {
		log.Fatal(err)
	}
	type Contact struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	}
	for c, err := range peliqan.RowsAsByName[Contact](ctx, t, data.TableName("contacts"), &peliqan.RowsOptions{Size: 2}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%d %s\n", c.ID, c.Name)
	}
	// Output:
	// 1 Ada
	// 2 Grace
	// 3 Edsger
}

// Put a table's name into SQL: every part is quoted, so any name stays one
// name.
func ExampleTableName_String() {
	n := peliqan.TableName{Database: "dw_1", Schema: "hubspot_c7", Table: `odd "name"; DROP`}
	fmt.Println("SELECT count(*) FROM " + n.String())
	// Output:
	// SELECT count(*) FROM "dw_1"."hubspot_c7"."odd ""name""; DROP"
}
