package peliqan

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/peliqan-community/peliqan-go/internal/routes"
)

// TestEveryRouteHasAPublicName parses routes.go so that a row added to the
// table without its exported Route<Name> constant fails here.
func TestEveryRouteHasAPublicName(t *testing.T) {
	t.Parallel()
	f, err := parser.ParseFile(token.NewFileSet(), "routes.go", nil, 0)
	require.NoError(t, err)
	public := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok {
			for _, name := range vs.Names {
				if strings.HasPrefix(name.Name, "Route") && name.Name != "RouteInfo" {
					public[strings.TrimPrefix(name.Name, "Route")] = true
				}
			}
		}
		return true
	})
	for _, r := range routes.All() {
		assert.True(t, public[r.Name], "routes.go lacks Route%s", r.Name)
		delete(public, r.Name)
	}
	assert.Empty(t, public, "constants without a route")
	assert.Equal(t, "SyncServer", RouteSyncServer)
}

func TestRoutesListing(t *testing.T) {
	t.Parallel()
	all := Routes()
	require.Len(t, all, len(routes.All()))
	var inferred []string
	for _, r := range all {
		if r.Evidence == "inferred" {
			inferred = append(inferred, r.Name)
		}
		if r.Name == RouteSyncServer {
			assert.True(t, r.SideEffect)
			assert.False(t, r.Retry)
			assert.False(t, r.Partner)
		}
	}
	assert.ElementsMatch(t, []string{RouteUpdateSubAccount, RouteDeleteSubAccount, RouteGetServer,
		RouteDeleteServer, RouteReAuthoriseServer, RouteManualRefreshSaltEdge}, inferred)
}
