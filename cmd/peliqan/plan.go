package main

import (
	"context"
	"fmt"

	"github.com/peliqan-community/peliqan-go"
)

// A destructive command first builds its plan: the write requests --yes
// sends, each with its method and path from the SDK's routes table. A dry
// run prints the plan and sends nothing; --yes sends exactly the plan's
// requests, in order, and prints each one's result.

// planStep is one write of a plan.
type planStep struct {
	Action string // delete_customer, ...
	Target string // what it acts on, for people
	Route  string // a peliqan.Route* name
	ID     peliqan.ID
	// Result is "dry run", "done", "failed" or "not started".
	Result string
	Err    error
}

// Results of a plan step.
const (
	resultDryRun     = "dry run"
	resultDone       = "done"
	resultFailed     = "failed"
	resultNotStarted = "not started"
)

var planColumns = []column[*planStep]{
	{"action", func(s *planStep) any { return s.Action }},
	{"target", func(s *planStep) any { return s.Target }},
	{"method", func(s *planStep) any { m, _ := routePath(s.Route, s.ID); return m }},
	{"path", func(s *planStep) any { _, p := routePath(s.Route, s.ID); return p }},
	{"inferred_route", func(s *planStep) any { return isInferred(s.Route) }},
	{"result", func(s *planStep) any { return s.Result }},
	{"error", func(s *planStep) any {
		if s.Err == nil {
			return nil
		}
		return s.Err.Error()
	}},
}

// runPlan prints steps as a dry run, or with yes runs do for each in order
// and prints the results. An interrupt stops before the next step; the
// summary on stderr says what was done.
func (a *app) runPlan(ctx context.Context, yes bool, steps []*planStep, do func(context.Context, *planStep) error) error {
	if !yes {
		for _, s := range steps {
			s.Result = resultDryRun
		}
		if err := writeList(a.stdout, a.outputFormat(), planColumns, steps); err != nil {
			return err
		}
		if len(steps) == 0 {
			a.note("Dry run: nothing to do.")
			return nil
		}
		a.note("Dry run: nothing was changed. Run again with --yes to send the %s above.", plural(len(steps), "request"))
		return nil
	}
	var done, failed, notStarted int
	for _, s := range steps {
		if ctx.Err() != nil {
			s.Result = resultNotStarted
			notStarted++
			continue
		}
		if err := do(ctx, s); err != nil {
			s.Result, s.Err = resultFailed, err
			failed++
			a.printError(fmt.Errorf("%s: %w", s.Target, err))
			continue
		}
		s.Result = resultDone
		done++
	}
	if err := writeList(a.stdout, a.outputFormat(), planColumns, steps); err != nil {
		return err
	}
	summary := fmt.Sprintf("%d done, %d failed", done, failed)
	if notStarted > 0 {
		summary += fmt.Sprintf(", %d not started (interrupted)", notStarted)
	}
	a.note("%s.", summary)
	if failed > 0 || notStarted > 0 {
		return errAttention
	}
	return nil
}

// plural writes n and noun, with an "s" unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
