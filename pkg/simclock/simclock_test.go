package simclock

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestRoundTripAndMapping(t *testing.T) {
	m := Mapping{
		Wall:  time.Date(2026, 11, 30, 22, 0, 0, 123456789, time.UTC),
		Sim:   time.Date(2026, 3, 1, 1, 0, 0, 0, time.UTC),
		Speed: 20,
	}
	got, err := Parse(m.String())
	if err != nil {
		t.Fatalf("Parse(%q): %v", m.String(), err)
	}
	if !got.Wall.Equal(m.Wall) || !got.Sim.Equal(m.Sim) || got.Speed != m.Speed {
		t.Fatalf("round trip %+v, want %+v", got, m)
	}
	// 30 wall seconds after the origin are 600 simulated seconds after it, and back.
	w := m.Wall.Add(30 * time.Second)
	if s := m.SimAt(w); !s.Equal(m.Sim.Add(600 * time.Second)) {
		t.Errorf("SimAt = %v, want origin+600s", s)
	}
	if back := m.WallAt(m.Sim.Add(600 * time.Second)); !back.Equal(w) {
		t.Errorf("WallAt = %v, want %v", back, w)
	}
	if d := m.WallDuration(600 * time.Second); d != 30*time.Second {
		t.Errorf("WallDuration(600s) = %v, want 30s", d)
	}
}

func TestParseRejectsBadInput(t *testing.T) {
	for in, want := range map[string]string{
		"":                          "want <wall origin",
		"a,b":                       "want <wall origin",
		"x,2026-03-01T00:00:00Z,20": "wall origin",
		"2026-03-01T00:00:00Z,y,20": "simulated origin",
		"2026-03-01T00:00:00Z,2026-03-01T00:00:00Z,fast": "speed",
		"2026-03-01T00:00:00Z,2026-03-01T00:00:00Z,0":    "speed 0 must be above 0",
		"2026-03-01T00:00:00Z,2026-03-01T00:00:00Z,-3":   "must be above 0",
		"2026-03-01T00:00:00Z,2026-03-01T00:00:00Z,1e9":  "at most",
		"2026-03-01T00:00:00Z,2026-03-01T00:00:00Z,NaN":  "must be above 0",
	} {
		_, err := Parse(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", in, err, want)
		}
	}
}

func TestSleepWaitsScaledWallTime(t *testing.T) {
	m := Mapping{Wall: time.Now(), Sim: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Speed: 100}
	start := time.Now()
	if err := m.Sleep(context.Background(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 100*time.Millisecond || el > 5*time.Second {
		t.Errorf("10 simulated seconds at 100x took %v of wall time, want ~100ms", el)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Sleep(ctx, time.Hour); err == nil {
		t.Error("Sleep on an ended context returned nil")
	}
}

func TestFileRoundTrip(t *testing.T) {
	path := t.TempDir() + "/clock"
	if _, err := ReadFile(path); err == nil {
		t.Fatal("ReadFile of a missing file succeeded")
	}
	m := Mapping{Wall: time.Now().UTC(), Sim: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Speed: 20}
	for _, m := range []Mapping{m, {Wall: m.Wall, Sim: m.Sim.Add(time.Hour), Speed: 20}} {
		if err := WriteFile(path, m); err != nil {
			t.Fatal(err)
		}
		got, err := ReadFile(path)
		if err != nil || got.String() != m.String() {
			t.Fatalf("ReadFile = %v, %v; want %v", got, err, m)
		}
	}
}
