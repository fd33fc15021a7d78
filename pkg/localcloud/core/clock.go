// Package core holds what every service of the local cloud shares: the simulated clock,
// the account and credential store, fault injection, the internal event stream and ids.
package core

import (
	"container/heap"
	"context"
	"sync"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/simclock"
)

// Clock is the local cloud's notion of time. Every service reads time from it and
// schedules future work with AfterFunc, so tests can advance days in microseconds.
//
// Two modes:
//   - manual (speed 0): time only moves when Advance or Set is called. Advance fires every
//     due callback in time order, with Now() equal to the callback's due time while it runs.
//   - real time (speed > 0): Now() = base + elapsed wall time × speed, and a background
//     loop fires due callbacks. Advance still works on top of it (it shifts the base).
//     This is also the scaled simulated time of the real function binaries: the local FC
//     runtime hands the clock's Mapping to every function process (DR_SIMULATED_CLOCK,
//     pkg/simclock), so the process's Now, Sleep and deadline agree with the services'.
type Clock struct {
	mu      sync.Mutex
	base    time.Time // simulated time at wallRef
	wallRef time.Time
	speed   float64
	queue   timerQueue
	seq     uint64
	wake    chan struct{}
	stop    chan struct{}
	firing  sync.Mutex // serialises callback execution so Advance is deterministic
}

// NewManualClock returns a clock that stands still at start until advanced.
func NewManualClock(start time.Time) *Clock {
	return &Clock{base: start.UTC(), wake: make(chan struct{}, 1)}
}

// NewRealtimeClock returns a clock that starts at start and runs speed times faster than
// the wall clock (1 = real time). Call Close to stop its background loop.
func NewRealtimeClock(start time.Time, speed float64) *Clock {
	if speed <= 0 {
		speed = 1
	}
	c := &Clock{base: start.UTC(), wallRef: time.Now(), speed: speed, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	go c.loop()
	return c
}

// Now returns the simulated time (UTC).
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nowLocked()
}

func (c *Clock) nowLocked() time.Time {
	if c.speed == 0 {
		return c.base
	}
	el := time.Since(c.wallRef)
	return c.base.Add(time.Duration(float64(el) * c.speed))
}

// Mapping reports how a real-time (scaled) clock ties simulated time to the wall clock,
// for the function processes that must keep the same time (pkg/simclock, passed to them
// as DR_SIMULATED_CLOCK by the local FC runtime). A manual clock has none (ok false).
// The mapping changes when Advance or AdvanceTo moves a real-time clock; the FC runtime
// hands the new one to its processes at their next invocation (DR_SIMULATED_CLOCK_FILE).
func (c *Clock) Mapping() (simclock.Mapping, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.speed == 0 {
		return simclock.Mapping{}, false
	}
	return simclock.Mapping{Wall: c.wallRef, Sim: c.base, Speed: c.speed}, true
}

// WallAt is the wall instant at which the simulated time will be s. A manual clock is
// taken to follow the wall clock 1:1 from now (how the FC runtime paces it while a
// function process works).
func (c *Clock) WallAt(s time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.speed == 0 {
		return time.Now().Add(s.Sub(c.base))
	}
	return c.wallRef.Add(time.Duration(float64(s.Sub(c.base)) / c.speed))
}

// SimAt is the simulated time at wall instant w (the inverse of WallAt).
func (c *Clock) SimAt(w time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.speed == 0 {
		return c.base.Add(time.Until(w))
	}
	return c.base.Add(time.Duration(float64(w.Sub(c.wallRef)) * c.speed))
}

// Speed reports the real-time factor (0 for a manual clock).
func (c *Clock) Speed() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.speed
}

// Timer is a scheduled callback; Stop cancels it if it has not fired.
type Timer struct {
	c     *Clock
	entry *timerEntry
}

// Stop cancels the timer. It reports whether the callback was still pending.
func (t *Timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.entry.index < 0 {
		return false
	}
	heap.Remove(&t.c.queue, t.entry.index)
	return true
}

// AfterFunc runs f (in its own call, never under the clock's lock) once the simulated time
// reaches at. A time in the past fires at the next Advance or loop tick.
func (c *Clock) AfterFunc(at time.Time, f func()) *Timer {
	c.mu.Lock()
	c.seq++
	e := &timerEntry{at: at, seq: c.seq, f: f}
	heap.Push(&c.queue, e)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return &Timer{c: c, entry: e}
}

// Advance moves the clock forward by d, firing every callback that falls due on the way,
// in time order. Callbacks may schedule further callbacks; those fire too if due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.nowLocked().Add(d)
	c.mu.Unlock()
	c.AdvanceTo(target)
}

// AdvanceTo moves the clock to t (never backwards), firing due callbacks in order.
func (c *Clock) AdvanceTo(t time.Time) {
	c.firing.Lock()
	defer c.firing.Unlock()
	for {
		c.mu.Lock()
		if len(c.queue) == 0 || c.queue[0].at.After(t) {
			c.setLocked(t)
			c.mu.Unlock()
			return
		}
		e := heap.Pop(&c.queue).(*timerEntry)
		if e.at.After(c.nowLocked()) {
			c.setLocked(e.at)
		}
		c.mu.Unlock()
		e.f()
	}
}

// NextDue reports the due time of the earliest pending callback.
func (c *Clock) NextDue() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		return time.Time{}, false
	}
	return c.queue[0].at, true
}

func (c *Clock) setLocked(t time.Time) {
	if !t.After(c.nowLocked()) {
		return
	}
	if c.speed == 0 {
		c.base = t
		return
	}
	c.base = t
	c.wallRef = time.Now()
}

// fireDue runs the callbacks due at the current time (real-time mode).
func (c *Clock) fireDue() {
	c.firing.Lock()
	defer c.firing.Unlock()
	for {
		c.mu.Lock()
		now := c.nowLocked()
		if len(c.queue) == 0 || c.queue[0].at.After(now) {
			c.mu.Unlock()
			return
		}
		e := heap.Pop(&c.queue).(*timerEntry)
		c.mu.Unlock()
		e.f()
	}
}

func (c *Clock) loop() {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
		case <-c.wake:
		}
		c.fireDue()
	}
}

// Close stops the real-time loop. It is safe on a manual clock.
func (c *Clock) Close() {
	if c.stop != nil {
		select {
		case <-c.stop:
		default:
			close(c.stop)
		}
	}
}

type timerEntry struct {
	at    time.Time
	seq   uint64
	f     func()
	index int
}

type timerQueue []*timerEntry

func (q timerQueue) Len() int { return len(q) }
func (q timerQueue) Less(i, j int) bool {
	if q[i].at.Equal(q[j].at) {
		return q[i].seq < q[j].seq
	}
	return q[i].at.Before(q[j].at)
}
func (q timerQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index = i
	q[j].index = j
}
func (q *timerQueue) Push(x any) {
	e := x.(*timerEntry)
	e.index = len(*q)
	*q = append(*q, e)
}
func (q *timerQueue) Pop() any {
	old := *q
	n := len(old)
	e := old[n-1]
	old[n-1] = nil
	e.index = -1
	*q = old[:n-1]
	return e
}

// Sleep waits d of simulated time, or until ctx ends (its error is returned). It is the
// one sleep of the time model: the product's back-off (through the injected Sleep of
// pkg/backup and pkg/app), the services' injected latency and the EventBridge delays all
// wait here, so a throttled scenario costs simulated seconds, not wall seconds.
//
//   - manual clock: time moves forward by d at once (AdvanceTo Now()+d), firing what falls
//     due on the way. Concurrent sleepers each move it, so simulated time runs at least as
//     fast as it would in the cloud: deadlines are met no more easily than for real.
//   - real-time clock: waits d/speed of wall time.
//
// Sleep must not be called from a clock callback (Advance runs callbacks one at a time).
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d <= 0 {
		return nil
	}
	speed := c.Speed()
	if speed == 0 {
		c.AdvanceTo(c.Now().Add(d))
		return ctx.Err()
	}
	t := time.NewTimer(time.Duration(float64(d) / speed))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
