package routes

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRoutesDocIsFresh fails when docs/routes.md no longer matches the
// table: a row was added or changed without running go generate.
func TestRoutesDocIsFresh(t *testing.T) {
	t.Parallel()
	got, err := os.ReadFile("../../docs/routes.md")
	require.NoError(t, err, "docs/routes.md is missing: run go generate ./internal/routes")
	if string(got) != string(Markdown()) {
		t.Fatal("docs/routes.md is stale: run go generate ./internal/routes")
	}
}

func TestMarkdownListsEveryRoute(t *testing.T) {
	t.Parallel()
	md := string(Markdown())
	for _, r := range All() {
		line := "| " + r.Name + " | " + r.Method + " | `" + r.Path + "` |"
		assert.Contains(t, md, line, r.Name)
	}
	assert.Contains(t, md, "| SyncServer | GET | `/api/servers/{id}/syncdb/` | tenant | 200 | sent once (side effect) | client |")
	assert.Contains(t, md, "| CreateScriptRun | POST | `/api/interface_runs/` | tenant | 201 | sent once | client |")
	assert.Contains(t, md, "| LookupTable | GET | `/api/database/resource/lookup/table/` | tenant | 200 | retried | client |")
	assert.Contains(t, md, "| DeleteSubAccount | DELETE | `/api/partner/sub-accounts/{id}/` | partner | 204 | retried | inferred |")
	assert.Equal(t, len(All()), strings.Count(md, "\n| ")-1, "one line per route, plus the header")
	assert.Equal(t, `a \| b c`, cell("a | b\nc"))
}
