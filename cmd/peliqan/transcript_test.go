package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// The README's CLI transcript is testdata/transcript.console. This test
// replays every "$ peliqan ..." line of it (but "peliqan fake", which it
// stands for) against the fake that "peliqan fake" starts with its default
// flags, and checks the output is the one written under it; -update
// rewrites the outputs. A trailing `; echo "exit $?"` checks the exit status
// too. Lines of other commands (cd, go install, export) and their output
// are kept as written.
const transcriptFile = "testdata/transcript.console"

const exitEcho = `; echo "exit $?"`

func TestTranscript(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(transcriptFile)
	if err != nil {
		t.Fatal(err)
	}
	// "peliqan fake" with its defaults: seed 1, 3 x 2 x 25.
	key := sha256.Sum256([]byte("peliqan-fake/" + strconv.FormatInt(1, 10)))
	f := peliqantest.NewFake(t, peliqantest.WithSigningKey(key[:]), peliqantest.WithFixture(peliqantest.Generate(1, 3, 2, 25)))
	c := newCLI(t)
	c.env[envToken], c.env[envBaseURL] = f.PartnerToken(), f.URL()

	var out strings.Builder
	lines := strings.SplitAfter(string(b), "\n")
	for i := 0; i < len(lines); {
		line := lines[i]
		out.WriteString(line)
		i++
		cmdline, ok := strings.CutPrefix(strings.TrimRight(line, "\n"), "$ peliqan ")
		if !ok || strings.HasPrefix(cmdline, "fake") {
			continue
		}
		// The expected output: up to the next prompt.
		var want strings.Builder
		for ; i < len(lines) && !strings.HasPrefix(lines[i], "$ "); i++ {
			want.WriteString(lines[i])
		}
		cmdline, echo := strings.CutSuffix(cmdline, exitEcho)
		args, err := shellWords(cmdline)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		r := c.run(args...)
		got := r.stdout + r.stderr
		if echo {
			got += fmt.Sprintf("exit %d\n", r.code)
		} else if r.code != exitOK {
			t.Errorf("%s: exit %d (add %s to show it)\n%s", line, r.code, exitEcho, r.stderr)
		}
		if got != want.String() && !*update {
			t.Errorf("%s: output differs (go test -update rewrites it)\n--- got:\n%s--- want:\n%s", strings.TrimSpace(line), got, want.String())
		}
		out.WriteString(got)
	}
	if *update {
		if err := os.WriteFile(transcriptFile, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReadmeHasTranscript checks that the README's CLI section, once it
// has one, shows the transcript this package replays, word for word.
func TestReadmeHasTranscript(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "$ peliqan ") {
		t.Skip("the README has no CLI transcript yet")
	}
	tr, err := os.ReadFile(transcriptFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```console\n"+string(tr)+"```\n") {
		t.Errorf("README.md's CLI transcript is not %s (copy it in a ```console block)", transcriptFile)
	}
}

// shellWords splits a command line as a POSIX shell would for the simple
// words of the transcript: blanks separate, single and double quotes group.
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unclosed quote")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
