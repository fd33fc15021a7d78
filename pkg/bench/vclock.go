package bench

import (
	"container/heap"
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

// vclock is virtual time for the paced runs: the local cloud's manual clock, moved on by
// a driver only when the system is quiet (no request in flight, nothing newly started,
// every worker asleep on the clock), straight to the next wake-up or emulator timer. A
// run's simulated figures then do not depend on how busy the machine is (a real-time
// clock at 20x on a loaded machine runs ahead of the work and inflates every delay).
//
// Quiet is detected, not proven: a goroutine between two calls is invisible for a moment,
// so the driver waits for the state to hold across a few short wall pauses. An early move
// can only make a worker start later than it could have (pessimistic), never earlier.
type vclock struct {
	clock    *core.Clock // manual
	mu       sync.Mutex
	sleepers sleepHeap
	seq      int
	inflight atomic.Int64  // requests the servers are serving
	activity atomic.Uint64 // bumped by every sleep, request start/end and hand-off
	pending  atomic.Int64  // work handed off but not yet started (queued events)
	steps    atomic.Int64  // times the driver moved the clock on
	quietNs  atomic.Int64  // wall time spent making sure the system is quiet
}

func newVClock(start time.Time) *vclock { return &vclock{clock: core.NewManualClock(start)} }

func (v *vclock) Now() time.Time { return v.clock.Now() }

// Sleep waits d of virtual time (or until ctx ends).
func (v *vclock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d <= 0 {
		return nil
	}
	ch := make(chan struct{})
	v.mu.Lock()
	v.seq++
	// Wake-ups fall on a 1 ms grid (rounded up: never early), so sleepers that end close
	// together are woken in one step.
	at := v.clock.Now().Add(d)
	if r := at.Sub(v.clock.Now().Truncate(time.Millisecond)) % time.Millisecond; r != 0 {
		at = at.Add(time.Millisecond - r)
	}
	heap.Push(&v.sleepers, sleeper{at: at, seq: v.seq, ch: ch})
	v.mu.Unlock()
	v.activity.Add(1)
	select {
	case <-ch:
		v.activity.Add(1)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (v *vclock) begin() { v.inflight.Add(1); v.activity.Add(1) }
func (v *vclock) end()   { v.inflight.Add(-1); v.activity.Add(1) }

// How sure the driver makes itself that the system is quiet before a step: settle rounds
// that must see nothing move, and the wall pause of each. A step within 20 ms of virtual
// time needs little (a worker it misses starts a few ms late); a longer jump (to a
// timer) would strand a worker that is between two calls; a jump of a second or more (to
// an image build, a copy's completion: minutes) strands it for minutes, so it waits
// longest. A goroutine is invisible between the server's answer and its next call (the
// SDK reads and decodes the answer, the run computes): on the loaded 2-core machine that
// outlasted 3 pauses of 300 µs often enough that a pipeline now and then ended 9
// simulated minutes late (most likely a copy's completion jumped to with a copy not yet
// asked for).
type settle struct {
	rounds int
	pause  time.Duration // 0: yield only (50 µs on the last round)
}

var (
	settleStep = settle{rounds: 3}
	settleJump = settle{rounds: 3, pause: 300 * time.Microsecond}
	settleLong = settle{rounds: 5, pause: 2 * time.Millisecond}
)

// quiet waits until nothing moved across the settle rounds: yields to the other
// goroutines and pauses as s says.
func (v *vclock) quiet(ctx context.Context, s settle) bool {
	t0 := time.Now()
	defer func() { v.quietNs.Add(int64(time.Since(t0))) }()
	stable := 0
	last := v.activity.Load()
	for stable < s.rounds {
		if ctx.Err() != nil {
			return false
		}
		for range 20 {
			runtime.Gosched()
		}
		if s.pause > 0 {
			time.Sleep(s.pause)
		} else if stable == s.rounds-1 {
			time.Sleep(50 * time.Microsecond)
		}
		cur := v.activity.Load()
		if cur == last && v.inflight.Load() == 0 && v.pending.Load() == 0 {
			stable++
		} else {
			stable = 0
		}
		last = cur
	}
	return true
}

// drive moves time on until ctx ends.
func (v *vclock) drive(ctx context.Context) {
	for ctx.Err() == nil {
		if !v.quiet(ctx, settleStep) {
			return
		}
		next := v.next()
		if d := next.Sub(v.clock.Now()); d > 20*time.Millisecond {
			// A long jump (to a timer, a build): be sure first that nobody is between
			// two calls, or the jump would strand them late.
			s := settleJump
			if d >= time.Second {
				s = settleLong
			}
			if !v.quiet(ctx, s) {
				return
			}
			next = v.next()
		}
		if next.IsZero() {
			continue // nothing to wait for: the run is about to end, or work is starting
		}
		if next.After(v.clock.Now()) {
			v.clock.AdvanceTo(next) // fires emulator timers (builds, copies) on the way
		}
		v.steps.Add(1)
		v.mu.Lock()
		now := v.clock.Now()
		for len(v.sleepers) > 0 && !v.sleepers[0].at.After(now) {
			s := heap.Pop(&v.sleepers).(sleeper)
			close(s.ch)
		}
		v.mu.Unlock()
		v.activity.Add(1)
	}
}

// next is the earliest wake-up or emulator timer (zero: none).
func (v *vclock) next() time.Time {
	v.mu.Lock()
	var next time.Time
	if len(v.sleepers) > 0 {
		next = v.sleepers[0].at
	}
	v.mu.Unlock()
	if due, ok := v.clock.NextDue(); ok && (next.IsZero() || due.Before(next)) {
		next = due
	}
	return next
}

type sleeper struct {
	at  time.Time
	seq int
	ch  chan struct{}
}

type sleepHeap []sleeper

func (h sleepHeap) Len() int { return len(h) }
func (h sleepHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h sleepHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *sleepHeap) Push(x any)   { *h = append(*h, x.(sleeper)) }
func (h *sleepHeap) Pop() any {
	old := *h
	s := old[len(old)-1]
	*h = old[:len(old)-1]
	return s
}
