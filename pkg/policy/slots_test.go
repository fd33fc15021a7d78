package policy

import (
	"testing"
	"time"
)

func TestSlotOrderIsByInstantNotString(t *testing.T) {
	t.Parallel()
	p := &Policy{Timezone: "Asia/Shanghai", SlotInterval: "6h"}
	// "20261123" (daily, written before a change of slotInterval) starts at 00:00; the
	// 6-hourly "20261122T1800" is older even though it sorts before it as a string too, and
	// "20261123T0000" equals it.
	cases := []struct {
		a, b string
		want int
	}{
		{"20261122T1800", "20261123", -1},
		{"20261123T0000", "20261123", 0},
		{"20261123T0600", "20261123", 1},
		{"garbage", "20200101", -1},
		{"20200101", "garbage", 1},
	}
	for _, c := range cases {
		if got := p.CompareSlots(c.a, c.b); got != c.want {
			t.Errorf("CompareSlots(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
	// A timezone change: the same instant named in two zones compares equal once parsed in
	// one zone is impossible to recover, but ordering within the new zone never depends on
	// string order of the old slot's time part.
	ts, err := p.SlotTime("20261123T0600")
	if err != nil || !ts.Equal(time.Date(2026, 11, 22, 22, 0, 0, 0, time.UTC)) {
		t.Errorf("SlotTime = %v, %v; want 2026-11-22T22:00Z (06:00 in Shanghai)", ts, err)
	}
}

func TestAttemptNamingAndTokens(t *testing.T) {
	t.Parallel()
	p := &Policy{Name: "web"}
	if Attempt(nil) != 1 || Attempt(map[string]string{TagAttempt: "3"}) != 3 || Attempt(map[string]string{TagAttempt: "x"}) != 1 {
		t.Error("Attempt: want 1 when absent or invalid, else the tag")
	}
	if AttemptName("dr-a", 1) != "dr-a" || AttemptName("dr-a", 2) != "dr-a-r2" {
		t.Errorf("AttemptName: %q %q", AttemptName("dr-a", 1), AttemptName("dr-a", 2))
	}
	long := string(make([]byte, 0))
	for len(long) < maxNameLen {
		long += "a"
	}
	if n := AttemptName(long, 3); len(n) != maxNameLen || ValidImageName(n) != nil {
		t.Errorf("AttemptName of a maximal name: %q (%d)", n, len(n))
	}
	t1, t2 := p.AttemptClientToken("i-1", "20261123", 1), p.AttemptClientToken("i-1", "20261123", 2)
	if t1 != p.ClientToken("i-1", "20261123") || t1 == t2 || len(t2) > 64 {
		t.Errorf("tokens: %q %q", t1, t2)
	}
}

func TestCompareData(t *testing.T) {
	t.Parallel()
	p := &Policy{}
	t0 := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
	if p.CompareData(t0, "20261123", "m-b", t0.Add(time.Second), "20261122", "m-a") != -1 {
		t.Error("data time must win over slot")
	}
	if p.CompareData(t0, "20261123", "m-b", t0, "20261122", "m-a") != 1 {
		t.Error("same data time: the newer slot wins")
	}
	if p.CompareData(t0, "20261123", "m-a", t0, "20261123", "m-b") != 1 {
		t.Error("same data time and slot: the smaller id counts as newer")
	}
	tagged := DataTime(map[string]string{TagDataTime: "2026-11-20T01:00:00Z"}, t0)
	if !tagged.Equal(time.Date(2026, 11, 20, 1, 0, 0, 0, time.UTC)) || !DataTime(nil, t0).Equal(t0) {
		t.Error("DataTime: tag first, creation time otherwise")
	}
}

func TestBackfillLimit(t *testing.T) {
	t.Parallel()
	p := &Policy{Retention: Retention{Destination: RetentionRule{KeepLast: 3}}, Destinations: []Destination{
		{Region: "a"}, {Region: "b", Backfill: 10}, {Region: "c", Backfill: 2}, {Region: "d", Backfill: 5, Retention: &RetentionRule{KeepDays: 30}}}}
	for region, want := range map[string]int{"a": 1, "b": 3, "c": 2, "d": 5, "nowhere": 0} {
		if got := p.BackfillLimit(region); got != want {
			t.Errorf("BackfillLimit(%s) = %d, want %d", region, got, want)
		}
	}
}
