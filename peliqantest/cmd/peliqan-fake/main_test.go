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

	"github.com/peliqan-community/peliqan-go/internal/routes"
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
	} {
		err := run(context.Background(), args, io.Discard, io.Discard)
		assert.Error(t, err, args)
	}
}
