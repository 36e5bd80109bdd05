package peliqan_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/format"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goBlock is one ```go block of a Markdown file.
type goBlock struct {
	line int // of the opening fence, 1-based
	code string
}

// goBlocks returns the ```go blocks of a Markdown text.
func goBlocks(md string) ([]goBlock, error) {
	var out []goBlock
	var cur *goBlock
	sc := bufio.NewScanner(strings.NewReader(md))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil && strings.TrimSpace(line) == "```go":
			cur = &goBlock{line: n}
		case cur != nil && strings.TrimSpace(line) == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.code += line + "\n"
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("the ```go block at line %d is never closed", cur.line)
	}
	return out, sc.Err()
}

// TestReadmeCompiles builds every ```go block of README.md against this
// module, so a sample that stops compiling (an API change, a typo) fails the
// suite. Each block must be a whole Go file (package clause, imports),
// formatted by gofmt, so that a reader can paste it as it is. The blocks are
// laid over the module with go build -overlay: nothing is written into the
// tree, and no network is used.
func TestReadmeCompiles(t *testing.T) {
	t.Parallel()
	md, err := os.ReadFile("README.md")
	require.NoError(t, err)
	blocks, err := goBlocks(string(md))
	require.NoError(t, err)
	require.NotEmpty(t, blocks, "README.md has no ```go block")

	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH to build the README's samples with")
	}
	root, err := filepath.Abs(".")
	require.NoError(t, err)
	tmp := t.TempDir()
	overlay := map[string]string{}
	var pkgs []string
	for i, b := range blocks {
		where := fmt.Sprintf("README.md:%d", b.line)
		if !strings.HasPrefix(strings.TrimSpace(stripLeadingComments(b.code)), "package ") {
			t.Errorf("%s: a ```go block must be a whole file, starting with its package clause", where)
			continue
		}
		formatted, err := format.Source([]byte(b.code))
		if err != nil {
			t.Errorf("%s: does not parse: %v", where, err)
			continue
		}
		assert.Equal(t, string(formatted), b.code, "%s: not gofmt-formatted", where)
		src := filepath.Join(tmp, fmt.Sprintf("block%d.go", i+1))
		require.NoError(t, os.WriteFile(src, []byte(b.code), 0o600))
		dir := fmt.Sprintf("testdata/readme/block%d", i+1)
		overlay[filepath.Join(root, dir, "main.go")] = src
		pkgs = append(pkgs, "./"+dir)
	}
	if t.Failed() {
		return
	}
	ov, err := json.Marshal(map[string]any{"Replace": overlay})
	require.NoError(t, err)
	ovPath := filepath.Join(tmp, "overlay.json")
	require.NoError(t, os.WriteFile(ovPath, ov, 0o600))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := append([]string{"build", "-overlay", ovPath, "-o", tmp + string(filepath.Separator)}, pkgs...)
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOWORK=off", "GOFLAGS=-mod=readonly -buildvcs=false")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("a README.md sample does not compile (blockN is the Nth ```go block; lines are the block's own):\n%s", out.String())
	}
}

// stripLeadingComments drops the // comment lines a file may start with
// (its doc comment) to reach the package clause.
func stripLeadingComments(code string) string {
	lines := strings.Split(code, "\n")
	for i, l := range lines {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "//") {
			return strings.Join(lines[i:], "\n")
		}
	}
	return ""
}

func TestGoBlocks(t *testing.T) {
	t.Parallel()
	bs, err := goBlocks("text\n```go\npackage a\n```\n```sh\nls\n```\n  ```go\nx\n  ```\n")
	require.NoError(t, err)
	assert.Equal(t, []goBlock{{line: 2, code: "package a\n"}, {line: 8, code: "x\n"}}, bs)
	_, err = goBlocks("```go\npackage a\n")
	assert.Error(t, err)
}
