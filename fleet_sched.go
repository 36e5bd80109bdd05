package peliqan

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// The scheduler behind SyncFleet: a fixed pool of workers (one per unit of
// the concurrency cap, so the goroutine count never depends on the fleet's
// size) takes tasks from priority queues. Every task is one short piece of
// work (a page of customers, a customer's connection list, one trigger, one
// status check, one tick of a customer's waits); waiting between ticks is a
// time in a heap, not a goroutine.
//
// Picking order, so work already begun finishes first and polls neither
// starve nor crowd out the triggers:
//  1. triggers and status checks of customers already listed (hi);
//  2. ticks overdue by one full interval;
//  3. new customers and the next page of customers (lo);
//  4. ticks that are due.
//
// Concurrency is AIMD: a 429 halves the cap (once per round of requests:
// only a request started after the last cut can cut again) and pauses every
// worker until its Retry-After has passed; each other finished task adds
// 1/cap, so the cap grows back by one per cap's worth of successes.

type fleetTaskKind uint8

const (
	taskListPage fleetTaskKind = iota
	taskCustomer
	taskTrigger
	taskCheck
	taskTick
)

type fleetTask struct {
	kind fleetTaskKind
	page int
	cust *fleetCustomer
	conn *fleetConn
	// due and late are a tick's times: eligible from due, ahead of new
	// customers from late.
	due, late time.Time
	started   time.Time
}

// defaultFleetPause is the pause after a 429 without a usable Retry-After.
const defaultFleetPause = time.Second

// taskHeap is a binary min-heap of tasks under less.
type taskHeap struct {
	items []*fleetTask
	less  func(a, b *fleetTask) bool
}

func (h *taskHeap) len() int { return len(h.items) }

func (h *taskHeap) peek() *fleetTask { return h.items[0] }

func (h *taskHeap) push(t *fleetTask) {
	h.items = append(h.items, t)
	for i := len(h.items) - 1; i > 0; {
		p := (i - 1) / 2
		if !h.less(h.items[i], h.items[p]) {
			break
		}
		h.items[i], h.items[p] = h.items[p], h.items[i]
		i = p
	}
}

func (h *taskHeap) pop() *fleetTask {
	top := h.items[0]
	last := len(h.items) - 1
	h.items[0] = h.items[last]
	h.items[last] = nil
	h.items = h.items[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h.items) && h.less(h.items[l], h.items[m]) {
			m = l
		}
		if r < len(h.items) && h.less(h.items[r], h.items[m]) {
			m = r
		}
		if m == i {
			break
		}
		h.items[i], h.items[m] = h.items[m], h.items[i]
		i = m
	}
	return top
}

// taskQueue is a FIFO that can also put a task back at its front.
type taskQueue struct {
	items []*fleetTask
	head  int
}

func (q *taskQueue) len() int { return len(q.items) - q.head }

func (q *taskQueue) pushBack(t *fleetTask) { q.items = append(q.items, t) }

func (q *taskQueue) pushFront(t *fleetTask) {
	if q.head > 0 {
		q.head--
		q.items[q.head] = t
		return
	}
	q.items = append([]*fleetTask{t}, q.items...)
}

func (q *taskQueue) pop() *fleetTask {
	t := q.items[q.head]
	q.items[q.head] = nil
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	} else if q.head > 1024 && q.head*2 > len(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	return t
}

// next blocks until a task may start (a free slot under the cap, no fleet
// pause, a task eligible), and returns it; nil once the fleet is done or
// its context ended.
func (f *fleet) next() *fleetTask {
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		if f.ctx.Err() != nil || f.pending == 0 {
			return nil
		}
		now := time.Now()
		for f.timed.len() > 0 && !f.timed.peek().due.After(now) {
			f.dueTicks.push(f.timed.pop())
		}
		var wake time.Time
		switch {
		case now.Before(f.pauseUntil):
			wake = f.pauseUntil
		case f.inflight < f.capLocked():
			if t := f.pickLocked(now); t != nil {
				f.inflight++
				t.started = now
				return t
			}
		}
		if wake.IsZero() && f.timed.len() > 0 {
			wake = f.timed.peek().due
		}
		changed := f.changed
		f.mu.Unlock()
		f.sleep(changed, wake)
		f.mu.Lock()
	}
}

func (f *fleet) pickLocked(now time.Time) *fleetTask {
	switch {
	case f.hi.len() > 0:
		return f.hi.pop()
	case f.dueTicks.len() > 0 && !f.dueTicks.peek().late.After(now):
		return f.dueTicks.pop()
	case f.lo.len() > 0:
		return f.lo.pop()
	case f.dueTicks.len() > 0:
		return f.dueTicks.pop()
	}
	return nil
}

// sleep waits for a change, the wake time (if any) or the end of ctx.
func (f *fleet) sleep(changed <-chan struct{}, wake time.Time) {
	var timer <-chan time.Time
	if !wake.IsZero() {
		t := time.NewTimer(time.Until(wake))
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-changed:
	case <-timer:
	case <-f.ctx.Done():
	}
}

// broadcastLocked wakes every worker waiting in next.
func (f *fleet) broadcastLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fleet) capLocked() int { return max(1, int(f.limit)) }

// enqueueLocked adds new work.
func (f *fleet) enqueueLocked(t *fleetTask) {
	f.pending++
	switch t.kind {
	case taskTrigger, taskCheck:
		f.hi.pushBack(t)
	case taskTick:
		f.timed.push(t)
	default:
		f.lo.pushBack(t)
	}
	f.broadcastLocked()
}

// finished ends a task the worker ran. A task that ran into a 429 is put
// back at the front of its queue, to run after the fleet's pause.
func (f *fleet) finished(t *fleetTask, err error) {
	f.mu.Lock()
	f.inflight--
	var ae *APIError
	if errors.As(err, &ae) && ae.StatusCode == http.StatusTooManyRequests {
		f.rateLimitedLocked(t, ae)
		switch t.kind {
		case taskTrigger, taskCheck:
			f.hi.pushFront(t)
		case taskTick:
			t.late = time.Time{} // overdue: first in line after the pause
			f.dueTicks.push(t)
		default:
			f.lo.pushFront(t)
		}
	} else {
		f.pending--
		f.limit = min(float64(f.maxConc), f.limit+1/f.limit)
	}
	f.broadcastLocked()
	f.mu.Unlock()
	f.report()
}

// rateLimitedLocked applies a 429: the whole fleet pauses for its
// Retry-After, and the cap halves unless a cut already answered requests
// started as early as this one.
func (f *fleet) rateLimitedLocked(t *fleetTask, ae *APIError) {
	now := time.Now()
	f.prog.RateLimited++
	pause := ae.RetryAfter
	if pause <= 0 {
		pause = defaultFleetPause
	}
	if until := now.Add(pause); until.After(f.pauseUntil) {
		f.pauseUntil = until
	}
	if t.started.After(f.lastCut) {
		f.limit = max(1, f.limit/2)
		f.lastCut = now
	}
}

// report hands a snapshot of the counts to o.Progress, one call at a time
// and in order.
func (f *fleet) report() {
	if f.progress == nil {
		return
	}
	f.progMu.Lock()
	defer f.progMu.Unlock()
	f.mu.Lock()
	p := f.prog
	p.Concurrency = f.capLocked()
	if time.Now().Before(f.pauseUntil) {
		p.PausedUntil = f.pauseUntil
	}
	f.mu.Unlock()
	p.Elapsed = time.Since(f.start)
	f.progress(p)
}

// worker runs tasks until the fleet is done.
func (f *fleet) worker() {
	for {
		t := f.next()
		if t == nil {
			return
		}
		f.finished(t, f.run(t))
	}
}

func (f *fleet) run(t *fleetTask) error {
	switch t.kind {
	case taskListPage:
		return f.listPage(t.page)
	case taskCustomer:
		return f.listConnections(t.cust)
	case taskTrigger:
		return f.trigger(t.cust, t.conn)
	case taskCheck:
		return f.check(t.cust, t.conn)
	case taskTick:
		return f.tick(t.cust)
	}
	return nil
}

// contextDone reports whether the fleet's context has ended.
func contextDone(ctx context.Context) bool { return ctx.Err() != nil }
