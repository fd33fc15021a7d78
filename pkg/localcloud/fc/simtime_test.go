package fc

import (
	"context"
	"testing"
	"time"
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
