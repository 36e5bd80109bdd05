package main

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"

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
	err := run(context.Background(), []string{"-database-url", "sqlite:" + db, "-tenants", "3", "-connections", "2",
		"-sync-duration", "200ms", "-poll", "100ms", "-status-every", "500ms", "-run-for", "6s"}, out, io.Discard)
	require.NoError(t, err)
	s := out.String()
	t.Log(s)
	assert.Contains(t, s, "in-process fake Peliqan")
	assert.Contains(t, s, "jobs in SQLite file")
	last := s[strings.LastIndex(strings.TrimSuffix(s, "stopped\n"), "syncs over"):]
	assert.Contains(t, last, "health of 6 connections")
	assert.NotContains(t, last, "in flight", "every sync done")
	assert.Regexp(t, `completed \d`, last)
	assert.Contains(t, s, "stopped")
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
