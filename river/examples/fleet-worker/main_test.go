package main

import (
	"context"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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

// The example with nothing installed: the in-process fake and an SQLite
// file. Within a few seconds the fleet sync has synced every connection and
// the health scan has stored every verdict.
func TestRunsAgainstTheInProcessFakeOnSQLite(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "jobs.db")
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-database-url", "sqlite:" + db, "-tenants", "3", "-connections", "2",
			"-sync-duration", "200ms", "-poll", "100ms", "-status-every", "300ms"}, out, io.Discard)
	}()
	// Every connection synced (none in flight) and every verdict stored.
	finished := regexp.MustCompile(`syncs over 1 period\(s\): completed \d+(, failed \d+)? \| health of 6 connections`)
	deadline := time.After(2 * time.Minute)
	for !finished.MatchString(out.String()) {
		select {
		case err := <-done:
			t.Fatalf("run ended early: %v\n%s", err, out)
		case <-deadline:
			t.Fatalf("the fleet was not synced and scanned within 2 minutes:\n%s", out)
		case <-time.After(100 * time.Millisecond):
		}
	}
	cancel()
	require.NoError(t, <-done)
	s := out.String()
	assert.Contains(t, s, "in-process fake Peliqan")
	assert.Contains(t, s, "jobs in SQLite file")
	assert.True(t, strings.HasSuffix(s, "stopped\n"), s)
}

func TestRefusesBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"-database-url", "mysql://x"},
		{"-database-url", "sqlite:"},
		{"-workers", "0"},
		{"-nope"},
		{"extra"},
	} {
		err := run(context.Background(), args, io.Discard, io.Discard)
		assert.Error(t, err, "%q", args)
	}
}
