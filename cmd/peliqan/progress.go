package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress is a live progress display on stderr. It is drawn only when
// stderr is a terminal: in a pipe or a file nothing is written, so no
// escape code or carriage return reaches a log. A nil *progress is a valid
// no-op.
type progress struct {
	bar *progressbar.ProgressBar
}

// newProgress starts a bar of max steps (-1: a spinner without an end)
// described by desc, counting in unit ("" shows no count), or returns nil
// when stderr is not a terminal.
func (a *app) newProgress(max int64, desc, unit string) *progress {
	if !a.isTerminal(a.stderr) {
		return nil
	}
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(a.stderr),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetWidth(30),
	}
	if unit != "" {
		opts = append(opts, progressbar.OptionShowCount(), progressbar.OptionShowTotalBytes(max >= 0),
			progressbar.OptionShowIts(), progressbar.OptionSetItsString(unit))
	}
	if max < 0 {
		opts = append(opts, progressbar.OptionSpinnerType(14))
	}
	return &progress{bar: progressbar.NewOptions64(max, opts...)}
}

// Add advances the display by n.
func (p *progress) Add(n int) {
	if p != nil {
		_ = p.bar.Add(n)
	}
}

// Describe changes the text beside the bar.
func (p *progress) Describe(s string) {
	if p != nil {
		p.bar.Describe(s)
	}
}

// Done clears the display.
func (p *progress) Done() {
	if p != nil {
		_ = p.bar.Finish()
		_ = p.bar.Clear()
	}
}

// outputFile is where a command writes a file it produces: a temporary
// file beside the target, renamed over it only by Commit, so an
// interrupted or failed run never leaves a half-written file that looks
// complete.
type outputFile struct {
	f      *os.File
	target string
	done   bool
}

// createOutput opens a temporary file next to path (mode 0644, as a new
// file would be).
func createOutput(path string) (*outputFile, error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.partial")
	if err != nil {
		return nil, usageErrorf("cannot write %s: %v", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &outputFile{f: f, target: path}, nil
}

// Write writes to the temporary file.
func (o *outputFile) Write(p []byte) (int, error) { return o.f.Write(p) }

// Commit flushes the file to disk and renames it to its target.
func (o *outputFile) Commit() error {
	if err := o.f.Sync(); err != nil {
		return errors.Join(err, o.Abort())
	}
	if err := o.f.Close(); err != nil {
		return errors.Join(err, o.Abort())
	}
	if err := os.Rename(o.f.Name(), o.target); err != nil {
		os.Remove(o.f.Name())
		return fmt.Errorf("writing %s: %w", o.target, err)
	}
	o.done = true
	return nil
}

// Abort removes the temporary file; after Commit it does nothing.
func (o *outputFile) Abort() error {
	if o.done {
		return nil
	}
	o.done = true
	o.f.Close()
	return os.Remove(o.f.Name())
}

// writeTo runs write on path (atomically, see outputFile) or on stdout
// when path is "" or "-".
func (a *app) writeTo(path string, write func(w io.Writer) error) error {
	if path == "" || path == "-" {
		return write(a.stdout)
	}
	out, err := createOutput(path)
	if err != nil {
		return err
	}
	if err := write(out); err != nil {
		_ = out.Abort()
		return err
	}
	return out.Commit()
}
