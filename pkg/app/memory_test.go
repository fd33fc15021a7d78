package app

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestMemorySettings(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		env      map[string]string
		gc       int
		limitMiB int64
		sizeMB   int
		follow   bool
	}{
		{"FC 256 MB: the default budget", map[string]string{"FC_FUNCTION_MEMORY_SIZE": "256"}, 50, 26, 256, true},
		{"budget off: the FC guard", map[string]string{"FC_FUNCTION_MEMORY_SIZE": "256", "DR_MEMORY_BUDGET_MB": "0"}, 50, 144, 256, false},
		{"a 48 MB budget", map[string]string{"FC_FUNCTION_MEMORY_SIZE": "256", "DR_MEMORY_BUDGET_MB": "48"}, 50, 28, 256, true},
		{"larger budget", map[string]string{"FC_FUNCTION_MEMORY_SIZE": "512", "DR_MEMORY_BUDGET_MB": "120"}, 50, 100, 512, true},
		{"the FC guard caps the budget", map[string]string{"FC_FUNCTION_MEMORY_SIZE": "128", "DR_MEMORY_BUDGET_MB": "200"}, 50, 48, 128, false},
		{"small size keeps a floor", map[string]string{"FC_FUNCTION_MEMORY_SIZE": "64", "DR_MEMORY_BUDGET_MB": "0"}, 50, 32, 64, false},
		{"tiny budget keeps a floor", map[string]string{"DR_MEMORY_BUDGET_MB": "20"}, 50, 16, 0, true},
		{"not on FC, no budget: no limit", map[string]string{"DR_MEMORY_BUDGET_MB": "0"}, 50, 0, 0, false},
		{"bad size, no budget", map[string]string{"FC_FUNCTION_MEMORY_SIZE": "lots", "DR_MEMORY_BUDGET_MB": "0"}, 50, 0, 0, false},
		{"not on FC: the default budget alone", map[string]string{}, 50, 26, 0, true},
		{"not on FC: a budget alone", map[string]string{"DR_MEMORY_BUDGET_MB": "48"}, 50, 28, 0, true},
		{"operator's GOGC wins", map[string]string{"GOGC": "200", "FC_FUNCTION_MEMORY_SIZE": "256"}, 0, 26, 256, true},
		{"operator's GOMEMLIMIT wins", map[string]string{"GOMEMLIMIT": "100MiB", "FC_FUNCTION_MEMORY_SIZE": "256"}, 50, 0, 256, false},
	} {
		s := memorySettings(func(k string) string { return c.env[k] })
		if s.GCPercent != c.gc || s.LimitBytes != c.limitMiB<<20 || s.MemorySizeM != c.sizeMB || s.FollowLive != c.follow || s.Note == "" {
			t.Errorf("%s: %+v, want gc %d, limit %d MiB, size %d, follow the live heap %v and a note", c.name, s, c.gc, c.limitMiB, c.sizeMB, c.follow)
		}
	}
}

// The budget's limit holds while the live heap leaves room under it; a live heap that
// outgrows it raises the limit to half above it (plus what is not heap), so the GC
// never collects continuously; past the budget the room grows with the overrun, up to
// the guard, and GOGC follows so that the limit decides.
func TestLimitForKeepsRoomAboveTheLiveHeap(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	base, guard := int64(26*mib), int64(144*mib)
	for _, c := range []struct {
		name  string
		guard int64
		m     memSample
		want  int64
		pct   int
	}{
		{"small live heap: the budget", guard, memSample{live: 8 * mib, nonHeap: 6 * mib}, base, 50},
		{"live heap near the budget: half above it", guard, memSample{live: 12 * mib, nonHeap: 6 * mib}, base, 50},
		{"live heap and non-heap at the budget: half above it", guard, memSample{live: 20 * mib, nonHeap: 6 * mib}, 36 * mib, 50},
		// 24+6 = 30 MiB: 4 MiB past the budget, 16 MiB more room than half (36+6+16 = 58)
		{"past the budget: room grows with the overrun", guard, memSample{live: 24 * mib, nonHeap: 6 * mib}, 58 * mib, 116},
		{"far past the budget: the guard", guard, memSample{live: 80 * mib, nonHeap: 8 * mib}, guard, 70},
		{"past the guard: half above the live heap", guard, memSample{live: 100 * mib, nonHeap: 8 * mib}, 158 * mib, 50},
		{"no guard known: half above the live heap", 0, memSample{live: 24 * mib, nonHeap: 6 * mib}, 42 * mib, 50},
		{"nothing measured: the budget", guard, memSample{}, base, 50},
		{"no live heap measured, non-heap past the budget: no growth", guard, memSample{nonHeap: 30 * mib}, 30 * mib, 50},
	} {
		got, pct := limitFor(base, c.guard, 50, c.m)
		if got != c.want || pct != c.pct {
			t.Errorf("%s: limit %d MiB, GOGC %d; want %d MiB, %d", c.name, got/mib, pct, c.want/mib, c.pct)
		}
	}
}

// keepRoomOver32MiB runs keepRoom (a 1 MiB budget, guard and pct as given) on the real
// runtime with 32 MiB live until ok holds for the limit and GC percent it reads (or 5 s),
// and returns the last of them. The caller restores the runtime's settings.
func keepRoomOver32MiB(guard int64, pct int, ok func(limit int64, pct int) bool) (int64, int) {
	live := make([][]byte, 32)
	for i := range live {
		live[i] = make([]byte, 1<<20)
	}
	runtime.GC()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { keepRoom(1<<20, guard, pct, time.Millisecond, stop); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	var limit int64
	var gc int
	for time.Now().Before(deadline) {
		limit = debug.SetMemoryLimit(-1)
		gc = debug.SetGCPercent(-1)
		debug.SetGCPercent(gc)
		if ok(limit, gc) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	<-done
	runtime.KeepAlive(live)
	return limit, gc
}

// keepRoom reads the real runtime: with a budget far below a live heap of 32 MiB, the
// limit it sets leaves that heap room (the process is not left collecting continuously).
func TestKeepRoomRaisesTheLimitAboveTheLiveHeap(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(prev)
	inRange := func(limit int64, _ int) bool { return limit >= 48<<20 && limit < 1<<40 }
	if limit, _ := keepRoomOver32MiB(0, 0, inRange); !inRange(limit, 0) {
		t.Fatalf("limit %d MiB with 32 MiB live: want at least 48 MiB (the live heap and half)", limit>>20)
	}
}

// Past the budget keepRoom grows the room toward the guard and raises GOGC with it (the
// real runtime): a 32 MiB live heap, a 1 MiB budget and a 200 MiB guard get a limit near
// the guard and a GC percent that leaves the limit to decide.
func TestKeepRoomGrowsTheRoomPastTheBudget(t *testing.T) {
	prevLimit := debug.SetMemoryLimit(-1)
	prevPct := debug.SetGCPercent(50)
	defer func() { debug.SetMemoryLimit(prevLimit); debug.SetGCPercent(prevPct) }()
	grown := func(limit int64, pct int) bool { return limit >= 150<<20 && limit <= 200<<20 && pct > 100 }
	if limit, pct := keepRoomOver32MiB(200<<20, 50, grown); !grown(limit, pct) {
		t.Fatalf("limit %d MiB, GOGC %d with 32 MiB live past a 1 MiB budget: want 150-200 MiB (toward the 200 MiB guard) and GOGC above 100", limit>>20, pct)
	}
}
