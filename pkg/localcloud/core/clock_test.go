package core

import (
	"testing"
	"time"
)

func TestManualClockFiresInOrderAtDueTime(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewManualClock(t0)
	var got []time.Time
	var seen []time.Time
	c.AfterFunc(t0.Add(3*time.Second), func() { got = append(got, t0.Add(3*time.Second)); seen = append(seen, c.Now()) })
	c.AfterFunc(t0.Add(1*time.Second), func() {
		got = append(got, t0.Add(1*time.Second))
		seen = append(seen, c.Now())
		// scheduling from a callback: due within the same Advance, must fire too
		c.AfterFunc(c.Now().Add(time.Second), func() { got = append(got, t0.Add(2*time.Second)); seen = append(seen, c.Now()) })
	})
	stopped := c.AfterFunc(t0.Add(2*time.Second), func() { t.Error("stopped timer fired") })
	if !stopped.Stop() {
		t.Fatal("Stop on a pending timer reported false")
	}
	c.Advance(10 * time.Second)
	if len(got) != 3 {
		t.Fatalf("fired %d callbacks, want 3", len(got))
	}
	for i := range got {
		if !got[i].Equal(seen[i]) {
			t.Errorf("callback %d saw Now()=%v, want its due time %v", i, seen[i], got[i])
		}
		if i > 0 && got[i].Before(got[i-1]) {
			t.Errorf("callbacks out of order: %v", got)
		}
	}
	if want := t0.Add(10 * time.Second); !c.Now().Equal(want) {
		t.Errorf("Now()=%v after Advance, want %v", c.Now(), want)
	}
	if _, ok := c.NextDue(); ok {
		t.Error("queue not empty after firing everything")
	}
}

func TestRealtimeClockRunsFaster(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewRealtimeClock(t0, 3600) // one simulated hour per wall second
	defer c.Close()
	fired := make(chan time.Time, 1)
	c.AfterFunc(t0.Add(time.Minute), func() { fired <- c.Now() })
	select {
	case at := <-fired:
		if at.Before(t0.Add(time.Minute)) {
			t.Fatalf("fired at %v, before its due time", at)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a timer one simulated minute ahead did not fire within 10 wall seconds at speed 3600")
	}
}

func TestFaultsThrottleFailNextAndRate(t *testing.T) {
	t.Parallel()
	c := NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	f := NewFaults(42)
	f.Now = c.Now
	f.Set("ecs", "CreateImage", FaultRule{QPS: 2})
	for i, want := range []FaultKind{FaultNone, FaultNone, FaultThrottle} {
		if got := f.Check("ecs", "CreateImage").Kind; got != want {
			t.Fatalf("call %d: kind %v, want %v", i, got, want)
		}
	}
	c.Advance(time.Second)
	if got := f.Check("ecs", "CreateImage").Kind; got != FaultNone {
		t.Fatalf("next second: kind %v, want none", got)
	}
	f.Set("ecs", "*", FaultRule{FailNext: 1, ErrorStatus: 500, ErrorCode: "InternalError"})
	if got := f.Check("ecs", "DescribeImages"); got.Kind != FaultError || got.Status != 500 || got.Code != "InternalError" {
		t.Fatalf("FailNext: got %+v", got)
	}
	if got := f.Check("ecs", "DescribeImages"); got.Kind != FaultNone {
		t.Fatalf("after FailNext used up: got %+v", got)
	}
	f.Set("sls", "*", FaultRule{ErrorRate: 0.5})
	errs := 0
	for i := 0; i < 1000; i++ {
		if f.Check("sls", "PutLogs").Kind == FaultError {
			errs++
		}
	}
	if errs < 400 || errs > 600 {
		t.Fatalf("error rate 0.5 gave %d/1000 errors", errs)
	}
}

func TestCredsSTS(t *testing.T) {
	t.Parallel()
	c := NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cr := NewCreds(c)
	if _, err := cr.Lookup("nope", ""); err != ErrUnknownAccessKey {
		t.Fatalf("unknown key: %v", err)
	}
	sts := cr.IssueSTS(DefaultAccountID, time.Hour)
	if _, err := cr.Lookup(sts.AccessKeyID, "wrong"); err != ErrTokenMismatch {
		t.Fatalf("wrong token: %v", err)
	}
	if _, err := cr.Lookup(sts.AccessKeyID, ""); err != ErrTokenMismatch {
		t.Fatalf("missing token: %v", err)
	}
	got, err := cr.Lookup(sts.AccessKeyID, sts.SecurityToken)
	if err != nil || got.AccessKeySecret != sts.AccessKeySecret {
		t.Fatalf("good token: %v %+v", err, got)
	}
	c.Advance(2 * time.Hour)
	if _, err := cr.Lookup(sts.AccessKeyID, sts.SecurityToken); err != ErrTokenExpired {
		t.Fatalf("expired token: %v", err)
	}
	if _, err := cr.Lookup(DefaultAccessKeyID, "sometoken"); err != ErrTokenMismatch {
		t.Fatalf("long-term key with a token: %v", err)
	}
}

// A scaled clock exposes the mapping the function processes run on; WallAt and SimAt
// are inverse; a manual clock has no mapping and maps 1:1 from now.
func TestClockMapping(t *testing.T) {
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	c := NewRealtimeClock(start, 20)
	defer c.Close()
	m, ok := c.Mapping()
	if !ok || m.Speed != 20 || !m.Sim.Equal(start) {
		t.Fatalf("mapping %+v %v, want speed 20 from %v", m, ok, start)
	}
	sim := start.Add(600 * time.Second)
	w := c.WallAt(sim)
	if d := w.Sub(m.Wall); d != 30*time.Second {
		t.Errorf("600 simulated seconds at 20x are %v of wall time, want 30s", d)
	}
	if got := c.SimAt(w); !got.Equal(sim) {
		t.Errorf("SimAt(WallAt(s)) = %v, want %v", got, sim)
	}
	c.Advance(time.Hour)
	if m2, _ := c.Mapping(); m2 == m {
		t.Error("Advance did not change the mapping")
	}

	manual := NewManualClock(start)
	if _, ok := manual.Mapping(); ok {
		t.Error("a manual clock has a mapping")
	}
	if d := manual.WallAt(start.Add(time.Minute)).Sub(time.Now()); d < 59*time.Second || d > time.Minute {
		t.Errorf("manual WallAt(now+1m) is %v from now, want 1m", d)
	}
}
