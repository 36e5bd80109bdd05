package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/internal/routes"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// syncBuffer is a goroutine-safe writer the test reads lines from.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func start(t *testing.T, args ...string) (map[string]string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, out, io.Discard) }()
	vars := map[string]string{}
	for range 500 { // up to 5 s
		if s := out.String(); strings.Count(s, "\n") >= 2 {
			sc := bufio.NewScanner(strings.NewReader(s))
			for sc.Scan() {
				if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
					vars[k] = v
				}
			}
			break
		}
		select {
		case err := <-done:
			cancel()
			return nil, func() error { return err }
		case <-time.After(10 * time.Millisecond):
		}
	}
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			runErr = <-done
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return vars, stop
}

func TestRunPrintsTokenAndServes(t *testing.T) {
	vars, stop := start(t, "-addr", "127.0.0.1:0", "-seed", "1", "-tenants", "2")
	require.Contains(t, vars, "PELIQAN_BASE_URL")
	require.Contains(t, vars, "PELIQAN_PARTNER_TOKEN")
	assert.True(t, strings.HasPrefix(vars["PELIQAN_BASE_URL"], "http://127.0.0.1:"))

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest("GET", vars["PELIQAN_BASE_URL"]+routes.MustLookup(routes.ListSubAccounts).Path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "JWT "+vars["PELIQAN_PARTNER_TOKEN"])
	res, err := (&http.Client{Transport: tr}).Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	var page struct {
		Data []struct {
			ExternalID string `json:"external_id"`
		} `json:"data"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&page))
	assert.Len(t, page.Data, 2)
	assert.Equal(t, "cust-0001", page.Data[0].ExternalID)
	require.NoError(t, stop())

	// The same seed prints the same partner token.
	vars2, stop2 := start(t, "-addr", "127.0.0.1:0", "-seed", "1")
	assert.Equal(t, vars["PELIQAN_PARTNER_TOKEN"], vars2["PELIQAN_PARTNER_TOKEN"])
	require.NoError(t, stop2())
}

func TestRunRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-addr", "0.0.0.0:0"},
		{"-rows", "-1"},
		{"-nope"},
		{"-fail-rate", "1.5"},
		{"-fail-rate", "-0.1"},
		{"-fail-rate", "0.2", "-fail-kinds", "500,teapot"},
		{"-fail-rate", "0.2", "-fail-kinds", ""},
		{"-rate-limit", "-1"},
		{"-rate-limit", "5", "-rate-burst", "-1"},
		{"-record-limit", "-1"},
		{"-latency", "-1s"},
		{"-sync-duration", "-1s"},
	} {
		err := run(context.Background(), args, io.Discard, io.Discard)
		assert.Error(t, err, args)
	}
}

// client sends requests to the command's fake over loopback.
type client struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newClient(t *testing.T, vars map[string]string) *client {
	// A connection per request: net/http would resend a GET reset on a
	// reused connection by itself, hiding the injected reset.
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &client{t: t, base: vars["PELIQAN_BASE_URL"], hc: &http.Client{Transport: tr}}
}

// get sends a GET and returns the status, the Retry-After header and the
// body; a reset comes back as status 0.
func (c *client) get(p, token string) (int, string, []byte) {
	c.t.Helper()
	req, err := http.NewRequest("GET", c.base+p, nil)
	require.NoError(c.t, err)
	if token != "" {
		req.Header.Set("Authorization", "JWT "+token)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return 0, "", nil
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Retry-After"), b
}

func (c *client) counts() peliqantest.Counts {
	c.t.Helper()
	code, _, b := c.get(peliqantest.CountsPath, "")
	require.Equal(c.t, http.StatusOK, code, "%s", b)
	var out peliqantest.Counts
	require.NoError(c.t, json.Unmarshal(b, &out))
	return out
}

func mustPath(t *testing.T, name string, params ...string) string {
	t.Helper()
	p, err := routes.MustLookup(name).Expand(params...)
	require.NoError(t, err)
	return p
}

func TestRunRateLimitFlags(t *testing.T) {
	t.Parallel()
	// One token every 2 s and no burst: of 4 quick requests at most 2 pass.
	vars, _ := start(t, "-addr", "127.0.0.1:0", "-tenants", "1", "-rate-limit", "0.5", "-rate-burst", "1")
	c := newClient(t, vars)
	var throttled int
	for range 4 {
		code, retryAfter, _ := c.get(mustPath(t, routes.ServerTypes), vars["PELIQAN_PARTNER_TOKEN"])
		if code == http.StatusTooManyRequests {
			throttled++
			assert.Contains(t, []string{"1", "2"}, retryAfter)
		}
	}
	assert.GreaterOrEqual(t, throttled, 2)
	assert.Equal(t, throttled, c.counts().RateLimited)

	// Without -rate-burst the burst is the rate rounded up.
	vars, _ = start(t, "-addr", "127.0.0.1:0", "-tenants", "1", "-rate-limit", "3")
	c = newClient(t, vars)
	for range 3 {
		code, _, b := c.get(mustPath(t, routes.ServerTypes), vars["PELIQAN_PARTNER_TOKEN"])
		require.Equal(t, http.StatusOK, code, "%s", b)
	}
}

func TestRunFailRateFlags(t *testing.T) {
	t.Parallel()
	// Every request fails, with the one kind asked for.
	vars, _ := start(t, "-addr", "127.0.0.1:0", "-tenants", "1", "-fail-rate", "1", "-fail-kinds", "503")
	c := newClient(t, vars)
	for range 5 {
		code, _, _ := c.get(mustPath(t, routes.ServerTypes), vars["PELIQAN_PARTNER_TOKEN"])
		assert.Equal(t, http.StatusServiceUnavailable, code)
	}

	// A mix at 50%: the same seed gives the same sequence, and the kinds
	// asked for all show up.
	statuses := func(args ...string) []int {
		vars, stop := start(t, append([]string{"-addr", "127.0.0.1:0", "-tenants", "1"}, args...)...)
		c := newClient(t, vars)
		var out []int
		for range 60 {
			code, _, _ := c.get(mustPath(t, routes.ServerTypes), vars["PELIQAN_PARTNER_TOKEN"])
			out = append(out, code)
		}
		require.NoError(t, stop())
		return out
	}
	mix := []string{"-fail-rate", "0.5", "-fail-kinds", "500,429,502", "-fail-seed", "3"}
	first := statuses(mix...)
	assert.Equal(t, first, statuses(mix...))
	for _, code := range []int{200, 500, 429, 502} {
		assert.Contains(t, first, code)
	}
	assert.NotEqual(t, first, statuses("-fail-rate", "0.5", "-fail-kinds", "500,429,502", "-fail-seed", "4"))

	// The default mix includes resets (status 0 here: the client saw none).
	var resets int
	for _, code := range statuses("-fail-rate", "0.6") {
		if code == 0 {
			resets++
		}
	}
	assert.Positive(t, resets)
}

func TestRunLatencyFlag(t *testing.T) {
	t.Parallel()
	vars, _ := start(t, "-addr", "127.0.0.1:0", "-tenants", "1", "-latency", "150ms",
		"-fail-rate", "1", "-fail-kinds", "503")
	c := newClient(t, vars)
	began := time.Now()
	code, _, _ := c.get(mustPath(t, routes.ServerTypes), vars["PELIQAN_PARTNER_TOKEN"])
	assert.Equal(t, http.StatusServiceUnavailable, code, "latency composes with the fault mix")
	assert.GreaterOrEqual(t, time.Since(began), 150*time.Millisecond)

	vars, _ = start(t, "-addr", "127.0.0.1:0", "-tenants", "1", "-latency", "150ms")
	c = newClient(t, vars)
	began = time.Now()
	code, _, _ = c.get(mustPath(t, routes.ServerTypes), vars["PELIQAN_PARTNER_TOKEN"])
	assert.Equal(t, http.StatusOK, code)
	assert.GreaterOrEqual(t, time.Since(began), 150*time.Millisecond)
}

// syncFirst syncs the first connection of the first sub-account and returns
// whether its run is still running right after, and the counts.
func syncFirst(t *testing.T, args ...string) (bool, peliqantest.Counts) {
	t.Helper()
	vars, _ := start(t, append([]string{"-addr", "127.0.0.1:0", "-tenants", "1", "-connections", "2"}, args...)...)
	c := newClient(t, vars)
	p := vars["PELIQAN_PARTNER_TOKEN"]
	code, _, b := c.get(mustPath(t, routes.SubAccountToken)+"?external_id=cust-0001&expire=false", p)
	require.Equal(t, http.StatusOK, code, "%s", b)
	var tok struct{ Token string }
	require.NoError(t, json.Unmarshal(b, &tok))
	code, _, b = c.get(mustPath(t, routes.ListServers), tok.Token)
	require.Equal(t, http.StatusOK, code, "%s", b)
	var servers []struct{ ID peliqan.ID }
	require.NoError(t, json.Unmarshal(b, &servers))
	require.Len(t, servers, 2)
	sid := servers[0].ID.String()
	code, _, b = c.get(mustPath(t, routes.SyncServer, sid), tok.Token)
	require.Equal(t, http.StatusOK, code, "%s", b)
	time.Sleep(20 * time.Millisecond)
	code, _, b = c.get(mustPath(t, routes.GetServerSyncRunStatus, sid), tok.Token)
	require.Equal(t, http.StatusOK, code, "%s", b)
	var st struct{ Running bool }
	require.NoError(t, json.Unmarshal(b, &st))
	counts := c.counts()
	assert.Equal(t, map[peliqan.ID]int{servers[0].ID: 1}, counts.RunsStarted)
	return st.Running, counts
}

func TestRunSyncDurationAndRecordLimitFlags(t *testing.T) {
	t.Parallel()
	running, counts := syncFirst(t, "-sync-duration", "1h", "-record-limit", "2")
	assert.True(t, running)
	assert.Equal(t, 2, counts.Recorded)
	assert.Equal(t, 2, counts.RecordLimit)
	assert.Equal(t, 4, counts.Requests, "counts stay exact past the record limit")
	assert.Equal(t, 1, counts.Routes[routes.SyncServer].Requests)

	running, counts = syncFirst(t, "-sync-duration", "0s", "-record-limit", "0")
	assert.False(t, running)
	assert.Equal(t, 0, counts.Recorded)
	assert.Equal(t, 4, counts.Requests)

	_, counts = syncFirst(t)
	assert.Equal(t, 10000, counts.RecordLimit)
}
