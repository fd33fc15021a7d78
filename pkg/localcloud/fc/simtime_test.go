package fc

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/simclock"
)

// The FC deadline is on the simulated clock too: when the clock passes start+timeout (a
// clock jump, simulated latency) the invocation ends as a timeout and the process is
// killed, long before the wall-clock deadline.
func TestSimulatedDeadlineEndsTheInvocation(t *testing.T) {
	t.Parallel()
	s := spec("hang")
	s.Timeout = time.Hour // the wall deadline is far away
	f := newFixture(t, s)
	done := make(chan Invocation, 1)
	go func() {
		inv, err := f.rt.Invoke(context.Background(), "hang", []byte(`{"action":"hang"}`))
		if err != nil {
			t.Errorf("Invoke: %v", err)
		}
		done <- inv
	}()
	// Wait until the process works on it, then jump the simulated clock past the timeout.
	deadline := time.After(20 * time.Second)
	for {
		f.rt.mu.Lock()
		busy := f.rt.busy
		f.rt.mu.Unlock()
		if busy > 0 {
			break
		}
		select {
		case <-deadline:
			t.Fatal("the invocation never started")
		case <-time.After(5 * time.Millisecond):
		}
	}
	// While a process works, a manual clock follows the wall time that passes: the
	// process's own waits are simulated time (its back-off opens the next QPS window).
	t0 := f.env.Clock.Now()
	time.Sleep(50 * time.Millisecond)
	if !f.env.Clock.Now().After(t0) {
		t.Errorf("the manual clock stood still while a process worked")
	}
	start := f.env.Clock.Now()
	f.env.Clock.Advance(2 * time.Hour)
	select {
	case inv := <-done:
		if inv.Status != StatusTimeout || inv.ErrorType != "FunctionTimeout" {
			t.Errorf("status %s %s, want a FunctionTimeout", inv.Status, inv.ErrorType)
		}
		if inv.Start.After(start) {
			t.Errorf("invocation start %v after the jump from %v", inv.Start, start)
		}
		idle := f.env.Clock.Now()
		time.Sleep(30 * time.Millisecond)
		if got := f.env.Clock.Now(); !got.Equal(idle) {
			t.Errorf("the manual clock moved by %v with no invocation in flight", got.Sub(idle))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the invocation outlived its simulated deadline")
	}
}

// speed of the scaled-clock tests: a 600 s timeout is 2 wall seconds.
const speed = 300

// On a scaled clock the function process keeps the local cloud's time: it gets the
// clock's mapping in DR_SIMULATED_CLOCK, its simulated now falls inside the invocation,
// and its ctx deadline (x-fc-function-deadline, wall ms) is the wall instant the clock
// reaches hand-over + timeout.
func TestScaledClockIsSharedWithTheProcess(t *testing.T) {
	t.Parallel()
	clock := core.NewRealtimeClock(time.Date(2026, 3, 1, 1, 0, 0, 0, time.UTC), speed)
	s := spec("scaled")
	s.Timeout = 600 * time.Second
	f := newFixtureOn(t, clock, s)
	inv := invoke(t, f.rt, "scaled", `{"action":"echo"}`)
	var e struct {
		SimNow     string `json:"simNow"`
		Clock      string `json:"simulatedClock"`
		DeadlineMs int64  `json:"deadlineMs"`
	}
	decodeEcho(t, inv)
	if err := json.Unmarshal(inv.Response, &e); err != nil {
		t.Fatal(err)
	}
	m, ok := clock.Mapping()
	if !ok || e.Clock != m.String() {
		t.Fatalf("the process got %s=%q, want the clock's mapping %q", simclock.EnvVar, e.Clock, m.String())
	}
	simNow, err := time.Parse(time.RFC3339Nano, e.SimNow)
	if err != nil {
		t.Fatalf("simulated now of the process %q: %v", e.SimNow, err)
	}
	// A wall millisecond is 0.3 simulated seconds: allow a few of scheduling noise.
	const slack = 2 * time.Second
	if simNow.Before(inv.Start.Add(-slack)) || simNow.After(inv.End.Add(slack)) {
		t.Errorf("the process's simulated now %v is outside the invocation [%v, %v]", simNow, inv.Start, inv.End)
	}
	if got := clock.SimAt(time.UnixMilli(e.DeadlineMs)); got.Sub(inv.Deadline).Abs() > slack {
		t.Errorf("the process's deadline is simulated %v, the invocation's %v", got, inv.Deadline)
	}
	if inv.Deadline.Sub(inv.Start) < s.Timeout || inv.Timeout != s.Timeout || inv.MemoryMB != 512 || !inv.ColdStart {
		t.Errorf("invocation record: deadline %v after the start, timeout %v, memory %d, cold %v",
			inv.Deadline.Sub(inv.Start), inv.Timeout, inv.MemoryMB, inv.ColdStart)
	}

	// Moving an idle scaled clock changes its mapping: the warm instance reads the new one
	// from DR_SIMULATED_CLOCK_FILE at its next invocation, without a cold start.
	clock.Advance(time.Hour)
	inv2 := invoke(t, f.rt, "scaled", `{"action":"echo"}`)
	if err := json.Unmarshal(inv2.Response, &e); err != nil {
		t.Fatal(err)
	}
	if inv2.ColdStart || inv2.InstanceID != inv.InstanceID {
		t.Errorf("after Advance the warm instance was replaced")
	}
	simNow, err = time.Parse(time.RFC3339Nano, e.SimNow)
	if err != nil {
		t.Fatal(err)
	}
	if simNow.Before(inv2.Start.Add(-slack)) || simNow.After(inv2.End.Add(slack)) {
		t.Errorf("after Advance the process's simulated now %v is outside the invocation [%v, %v]", simNow, inv2.Start, inv2.End)
	}
	if got := clock.SimAt(time.UnixMilli(e.DeadlineMs)); got.Sub(inv2.Deadline).Abs() > slack {
		t.Errorf("after Advance the process's deadline is simulated %v, the invocation's %v", got, inv2.Deadline)
	}
}

// The timeout is simulated time: a function sleeping 700 simulated seconds under a 600 s
// timeout is killed when the clock passes hand-over + 600 s, i.e. after 600/speed wall
// seconds, before the sleep would have ended (700/speed).
func TestScaledClockTimeoutKillsInSimulatedTime(t *testing.T) {
	t.Parallel()
	clock := core.NewRealtimeClock(time.Date(2026, 3, 1, 1, 0, 0, 0, time.UTC), speed)
	s := spec("sleeper")
	s.Timeout = 600 * time.Second
	f := newFixtureOn(t, clock, s)
	invoke(t, f.rt, "sleeper", `{"action":"echo"}`) // cold start out of the way
	inv := invoke(t, f.rt, "sleeper", `{"action":"simSleep","seconds":700}`)
	if inv.Status != StatusTimeout || inv.ErrorType != "FunctionTimeout" {
		t.Fatalf("status %s (%s: %s), want a FunctionTimeout", inv.Status, inv.ErrorType, inv.ErrorMessage)
	}
	if inv.SimDuration < s.Timeout || inv.SimDuration >= 700*time.Second {
		t.Errorf("killed after %v of simulated time, want between the 600 s timeout and the 700 s sleep", inv.SimDuration)
	}
	if full := 700 * time.Second / speed; inv.WallDuration >= full {
		t.Errorf("killed after %v of wall time: the 700 s sleep (%v of wall time) was not cut short", inv.WallDuration, full)
	}
	t.Logf("600 s timeout at %dx: killed after %v simulated, %v wall", speed, inv.SimDuration.Round(time.Second), inv.WallDuration.Round(time.Millisecond))
}

func TestDeployRejectsTheReservedClockVariable(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := spec("reserved")
	s.Env = map[string]string{simclock.EnvVar: "2026-03-01T00:00:00Z,2026-03-01T00:00:00Z,1000"}
	if err := f.rt.Deploy(s); err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Fatalf("Deploy with %s set by the user: %v, want it refused as reserved", simclock.EnvVar, err)
	}
}

// A manual clock keeps today's model: the process has no DR_SIMULATED_CLOCK (its own
// clock is the wall, which pace follows).
func TestManualClockPassesNoMapping(t *testing.T) {
	t.Parallel()
	f := newFixture(t, spec("manual"))
	inv := invoke(t, f.rt, "manual", `{"action":"echo"}`)
	var e struct {
		Clock string `json:"simulatedClock"`
	}
	if err := json.Unmarshal(inv.Response, &e); err != nil || e.Clock != "" {
		t.Errorf("manual clock: the process got %s=%q (%v), want none", simclock.EnvVar, e.Clock, err)
	}
}

// Each invocation records the process's peak RSS against the function's memory size,
// reset before the hand-over; an invocation that goes above the memory size is killed and
// recorded as out of memory.
func TestPeakRSSAndMemoryLimit(t *testing.T) {
	t.Parallel()
	if _, _, ok := readMemory(os.Getpid()); !ok {
		t.Skip("no /proc/<pid>/status here: memory is not measured")
	}
	// Resetting the peak needs /proc/<pid>/clear_refs (CONFIG_PROC_PAGE_MONITOR).
	canReset := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	s := spec("mem")
	s.MemoryMB = 128
	f := newFixture(t, s)
	big := invoke(t, f.rt, "mem", `{"action":"alloc","mb":48,"seconds":0}`)
	decodeEcho(t, big)
	if big.PeakRSSKiB < 48<<10 || big.PeakRSSKiB >= 128<<10 || big.MemoryMB != 128 {
		t.Errorf("allocating 48 MB: peak RSS %d KiB of %d MB, want at least 48 MB, under the size", big.PeakRSSKiB, big.MemoryMB)
	}
	// The process gave the memory back: without the reset its lifetime peak (≥ 48 MB)
	// would be reported again.
	small := invoke(t, f.rt, "mem", `{"action":"echo"}`)
	decodeEcho(t, small)
	if !canReset {
		t.Log("clear_refs not writable: the peak is the process's lifetime peak")
	} else if small.PeakRSSKiB <= 0 || small.PeakRSSKiB >= 40<<10 {
		t.Errorf("an echo after the allocation: peak RSS %d KiB, want the echo's own (the peak not reset?)", small.PeakRSSKiB)
	}

	oom := invoke(t, f.rt, "mem", `{"action":"alloc","mb":200,"seconds":5}`)
	if oom.Status != StatusOOM || oom.ErrorType != ErrorTypeOOM || !strings.Contains(oom.ErrorMessage, "128 MB") {
		t.Fatalf("allocating 200 MB under 128 MB: status %s (%s: %s), want out of memory", oom.Status, oom.ErrorType, oom.ErrorMessage)
	}
	if oom.PeakRSSKiB <= 128<<10 {
		t.Errorf("out of memory with a peak of %d KiB, not above the 128 MB", oom.PeakRSSKiB)
	}
	if oom.WallDuration >= 5*time.Second {
		t.Errorf("the instance ran %v past its memory size: not killed", oom.WallDuration)
	}
	// The instance was killed: the next invocation gets a fresh one.
	after := invoke(t, f.rt, "mem", `{"action":"echo"}`)
	if !after.ColdStart || after.InstanceID == oom.InstanceID {
		t.Errorf("after an out-of-memory kill the instance %s was reused", after.InstanceID)
	}
	t.Logf("peaks: 48 MB alloc %d KiB, echo %d KiB, oom at %d KiB", big.PeakRSSKiB, small.PeakRSSKiB, oom.PeakRSSKiB)
}

// The async retry back-off is simulated time: the runtime's 30 s cap between the attempts
// on the simulated clock, no wall time.
func TestAsyncRetryBackoffIsSimulatedTime(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.rt.opts.RetryBackoff = 10 * time.Minute
	if err := f.rt.Deploy(spec("retry")); err != nil {
		t.Fatal(err)
	}
	wall := time.Now()
	if _, err := f.rt.InvokeAsync("retry", []byte(`{"action":"failUntil","code":2}`), "timer:daily"); err != nil {
		t.Fatal(err)
	}
	if !f.env.Tracker.WaitIdle(30 * time.Second) {
		t.Fatal("the async invocation never finished")
	}
	invs := f.rt.Invocations()
	if len(invs) != 3 || invs[2].Status != StatusOK {
		t.Fatalf("%d attempts, last %v; want 3 ending ok", len(invs), invs)
	}
	// The 10 min back-off is capped at 30 s by the runtime: 30 s, then 30 s.
	for i := 1; i < 3; i++ {
		if gap := invs[i].Start.Sub(invs[i-1].End); gap < 30*time.Second {
			t.Errorf("retry %d started %v of simulated time after the previous attempt, want the 30 s back-off", i, gap)
		}
	}
	if el := time.Since(wall); el >= 30*time.Second {
		t.Errorf("a minute of back-off took %v of wall time", el)
	}
}
