package routes

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var paramRe = regexp.MustCompile(`^\{[a-z_]+\}$`)

func TestTemplatesAreWellFormed(t *testing.T) {
	t.Parallel()
	names := map[string]bool{}
	keys := map[string]string{}
	for _, r := range All() {
		assert.False(t, names[r.Name], "duplicate name %s", r.Name)
		names[r.Name] = true
		assert.True(t, strings.HasPrefix(r.Path, "/api/"), "%s: %s must start with /api/", r.Name, r.Path)
		assert.True(t, strings.HasSuffix(r.Path, "/"), "%s: %s must end with a slash", r.Name, r.Path)
		assert.NotContains(t, r.Path, "//", r.Name)
		assert.NotContains(t, r.Path, "?", r.Name)
		for _, seg := range strings.Split(strings.Trim(r.Path, "/"), "/") {
			if strings.ContainsAny(seg, "{}") {
				assert.Regexp(t, paramRe, seg, "%s: bad parameter segment", r.Name)
			} else {
				assert.Regexp(t, `^[a-z_-]+$`, seg, "%s: bad literal segment", r.Name)
			}
		}
		assert.Contains(t, []string{"GET", "POST", "PUT", "PATCH", "DELETE"}, r.Method, r.Name)
		assert.Contains(t, []Auth{Partner, Tenant}, r.Auth, r.Name)
		assert.Contains(t, []Evidence{Doc, Client, DocAndClient, Inferred}, r.Evidence, r.Name)
		assert.Contains(t, []int{200, 201, 204}, r.Success, r.Name)
		key := r.Method + " " + r.Path
		assert.Empty(t, keys[key], "%s and %s share %s", keys[key], r.Name, key)
		keys[key] = r.Name
	}
}

func TestRetryFlagsFollowTheRule(t *testing.T) {
	t.Parallel()
	sideEffects := map[string]bool{
		SyncServer: true, FullResync: true, ReAuthoriseServer: true,
		ManualRefreshSaltEdge: true, TriggerScriptRun: true,
	}
	for _, r := range All() {
		assert.Equal(t, sideEffects[r.Name], r.SideEffect, "%s side effect", r.Name)
		want := (r.Method == "GET" && !r.SideEffect) || r.Method == "PUT" || r.Method == "DELETE"
		assert.Equal(t, want, r.Retry, "%s retry flag", r.Name)
		if r.Method == "POST" || r.Method == "PATCH" {
			assert.False(t, r.Retry, "%s: POST/PATCH are never retried", r.Name)
		}
		if r.SideEffect {
			assert.Equal(t, "GET", r.Method, "%s: side effects are flagged on GETs", r.Name)
		}
	}
	assert.False(t, Retryable("POST", false))
	assert.False(t, Retryable("PATCH", false))
	assert.False(t, Retryable("GET", true))
	assert.True(t, Retryable("GET", false))
	assert.True(t, Retryable("DELETE", false))
}

func TestSuccessCodesMatchTheService(t *testing.T) {
	t.Parallel()
	assert.Equal(t, 201, MustLookup(CreateScriptRun).Success)
	assert.Equal(t, 204, MustLookup(UpdateCell).Success)
	assert.Equal(t, 204, MustLookup(DeleteSubAccount).Success)
	assert.Equal(t, 200, MustLookup(CreateSubAccount).Success)
}

func TestExpandEscapesAndRefuses(t *testing.T) {
	t.Parallel()
	r := MustLookup(GetServer)
	p, err := r.Expand("12")
	require.NoError(t, err)
	assert.Equal(t, "/api/servers/12/", p)

	p, err = r.Expand("a/b c?")
	require.NoError(t, err)
	assert.Equal(t, "/api/servers/a%2Fb%20c%3F/", p)

	for _, bad := range []string{"", " ", ".", ".."} {
		_, err := r.Expand(bad)
		assert.ErrorIs(t, err, ErrBadParam, "%q", bad)
	}
	_, err = r.Expand()
	assert.ErrorIs(t, err, ErrBadParam)
	_, err = r.Expand("1", "2")
	assert.ErrorIs(t, err, ErrBadParam)

	p, err = MustLookup(ListServers).Expand()
	require.NoError(t, err)
	assert.Equal(t, "/api/servers/", p)
}

func TestMatchFindsEveryRoute(t *testing.T) {
	t.Parallel()
	for _, r := range All() {
		n := strings.Count(r.Path, "{")
		params := make([]string, n)
		for i := range params {
			params[i] = "7"
		}
		path, err := r.Expand(params...)
		require.NoError(t, err)
		got, gotParams, ok := Match(r.Method, path)
		require.True(t, ok, "%s %s", r.Method, path)
		assert.Equal(t, r.Name, got.Name, path)
		assert.Equal(t, params, append([]string{}, gotParams...)[:n], path)
	}
	_, _, ok := Match("GET", "/api/nothing/")
	assert.False(t, ok)
	_, _, ok = Match("POST", "/api/servers/1/syncdb/")
	assert.False(t, ok, "method is part of the match")
	assert.True(t, MatchPath("/api/servers/3/"))
	assert.False(t, MatchPath("/api/servers/3/x/y/z/"))
}

func TestMatchPrefersLiteralSegments(t *testing.T) {
	t.Parallel()
	r, params, ok := Match("POST", "/api/interfaces/group/4/")
	require.True(t, ok)
	assert.Equal(t, CreateScript, r.Name)
	assert.Equal(t, []string{"4"}, params)
	r, _, ok = Match("GET", "/api/interfaces/trigger_run/9/")
	require.True(t, ok)
	assert.Equal(t, TriggerScriptRun, r.Name)
}

// The lookup routes are reads that carry a JSON body (Peliqan's own client
// sends them so): retried like any read, never flagged as side effects.
func TestLookupRoutesAreRetriedReads(t *testing.T) {
	t.Parallel()
	for name, path := range map[string]string{
		LookupConnection: "/api/database/resource/lookup/connection/",
		LookupDatabase:   "/api/database/resource/lookup/database/",
		LookupSchema:     "/api/database/resource/lookup/schema/",
		LookupTable:      "/api/database/resource/lookup/table/",
	} {
		r := MustLookup(name)
		assert.Equal(t, "GET", r.Method, name)
		assert.Equal(t, path, r.Path, name)
		assert.Equal(t, Tenant, r.Auth, name)
		assert.Equal(t, Client, r.Evidence, name)
		assert.True(t, r.Retry, name)
		assert.False(t, r.SideEffect, name)
		assert.Equal(t, 200, r.Success, name)
		assert.NotEmpty(t, r.Note, name)
	}
}
