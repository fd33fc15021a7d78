package app

import (
	"fmt"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"
)

// Memory of a function process. An FC instance is killed when its resident set passes
// the function's memory size (FC_FUNCTION_MEMORY_SIZE, MB). The resident set is the Go
// runtime's memory (heap, stacks, runtime structures: what the Go memory limit governs)
// plus the pages of the mapped binary, which the runtime does not count and cannot
// release (15-23 MB of these binaries, measured: the SDKs make them ~48 MB, and
// fault-around maps 64 KB per touched page).
//
// The functions are I/O bound (they wait on ECS, OSS and SLS, paced at a few dozen calls
// a second) and their live heap is small (≈10-25 MB at 5,000 instances and concurrency
// 32, sharded), but listings decode large SDK responses, so garbage comes in bursts. At
// cold start:
//   - GC percent 50 instead of 100: the heap grows to 1.5× the live heap between
//     collections, not 2×;
//   - a soft memory limit of 3/4 of FC's memory size minus the binary's pages (the
//     guard): near it the GC collects more often instead of letting garbage pile up;
//     the limit is soft, so a run whose live heap outgrows it keeps going (the runtime
//     caps the GC's CPU at half) rather than being killed by FC's memory check;
//   - a budget for the whole resident set (DR_MEMORY_BUDGET_MB, default 46, 0: none):
//     the Go limit becomes the budget minus the binary's pages (26 MiB by default), so
//     the bursts of listing garbage are collected before they add to the peak (measured
//     at 5,000 instances and concurrency 32: create-image 51 -> 43 MB, a reconcile shard
//     49 -> 45, a cleanup shard 56 -> 46, the RPO monitor 48 -> 43);
//   - and, with a budget, a floor under that limit that follows the live heap (keepRoom):
//     the limit never comes closer than half the live heap above it, GOGC 50's own goal.
//     The budget thus only makes the GC collect earlier while the live heap is small
//     (cheap: marking cost follows the live heap); a run whose live heap outgrows it (a
//     larger fleet or shard) is never left collecting continuously: a budget as a hard
//     limit made cleanup, whose live heap exceeded it, 4x slower, and a floor at a
//     quarter above the live heap cost more GC cycles for 1-2 MB.
//   - once the live heap outgrows the budget, the budget cannot be met anyway, and the
//     GC uses the memory FC bills for: the room above the live heap grows by four times
//     the overrun, up to the FC guard (GOGC follows, so the limit decides when to
//     collect). The GC's work is the bytes allocated times the live heap over the room
//     (each cycle marks the live heap); at GOGC 50 a 20,000-instance cleanup shard (live
//     heap ≈ 80 MB) spent 60% of its CPU in the GC (2026-12-01 fleet day, profiled).
//
// GOGC or GOMEMLIMIT set in the function's environment win (the operator's choice).
const (
	gcPercent = 50
	// binaryReserveMiB is what the mapped binary and non-Go memory may take of FC's
	// memory size (the measured file-backed RSS is 15-23 MB; doubled for margin).
	binaryReserveMiB = 48
	minLimitMiB      = 32
	// EnvMemoryBudget is the resident-set budget in MB (default defaultBudgetMB; 0: none).
	EnvMemoryBudget = "DR_MEMORY_BUDGET_MB"
	defaultBudgetMB = 46
	// fileRSSMiB is the binary's resident pages the budget leaves out of the Go limit.
	fileRSSMiB = 20
	// minBudgetLimitMiB: a budget cannot push the Go limit below this.
	minBudgetLimitMiB = 16
)

// MemorySettings is what TuneMemory set ("" fields: left to the environment).
type MemorySettings struct {
	GCPercent   int   // 0: not set here
	LimitBytes  int64 // 0: not set here
	MemorySizeM int   // FC_FUNCTION_MEMORY_SIZE (MB), 0 when unknown
	// FollowLive: the limit comes from the budget and keepRoom raises it above the live heap.
	FollowLive bool
	// GuardBytes is the FC guard (3/4 of the memory size minus the binary's reserve), the
	// most keepRoom's room grows to past the budget; 0 when the memory size is unknown.
	GuardBytes int64
	Note       string
}

// TuneMemory applies the GC percent and the soft memory limit above, once, at cold start
// (before the handler runs). getenv is the process environment.
func TuneMemory(getenv func(string) string) MemorySettings {
	s := memorySettings(getenv)
	if s.GCPercent > 0 {
		debug.SetGCPercent(s.GCPercent)
	}
	if s.LimitBytes > 0 {
		debug.SetMemoryLimit(s.LimitBytes)
	}
	if s.FollowLive {
		go keepRoom(s.LimitBytes, s.GuardBytes, s.GCPercent, 100*time.Millisecond, nil)
	}
	return s
}

// roomNum/roomDen is the room keepRoom leaves above the live heap: half, as GOGC 50.
const roomNum, roomDen = 3, 2

// overrunRoom is how many bytes of room above the live heap each byte of overrun (live
// heap and non-heap memory past the budget's limit) adds, within the guard.
const overrunRoom = 4

// memSample is what keepRoom reads of the runtime (bytes).
type memSample struct {
	live    uint64 // the live heap after the last collection
	nonHeap uint64 // stacks, runtime metadata and other memory the Go limit counts
}

// limitFor is the soft limit for a sample: the budget's limit, or the live heap plus
// half plus what is not heap, whichever is higher; past the budget (live heap and
// non-heap above base), the room grows by overrunRoom times the overrun, up to guard
// (0: no guard known, no growth). The GC percent returned puts GOGC's goal at that
// limit, so the limit decides when to collect (never below gcPercent's own goal).
func limitFor(base, guard int64, pct int, m memSample) (int64, int) {
	used := int64(m.live + m.nonHeap)
	follow := int64(m.live/roomDen*roomNum + m.nonHeap)
	over := used - base
	if over <= 0 || guard <= follow || m.live == 0 {
		return max(base, follow), pct
	}
	limit := min(follow+overrunRoom*over, guard)
	return limit, max(pct, int((limit-used)*100/int64(m.live)))
}

var memMetrics = []string{"/gc/heap/live:bytes", "/memory/classes/total:bytes", "/memory/classes/heap/released:bytes",
	"/memory/classes/heap/free:bytes", "/memory/classes/heap/objects:bytes", "/memory/classes/heap/unused:bytes"}

func readMem(ss []metrics.Sample) memSample {
	metrics.Read(ss)
	v := make([]uint64, len(ss))
	for i, s := range ss {
		if s.Value.Kind() == metrics.KindUint64 {
			v[i] = s.Value.Uint64()
		}
	}
	heap := v[2] + v[3] + v[4] + v[5] // released, free, objects, unused
	m := memSample{live: v[0]}
	if v[1] > heap {
		m.nonHeap = v[1] - heap
	}
	return m
}

// keepRoom moves the soft memory limit and the GC percent to limitFor(base, guard, pct,
// …) every interval, for the life of the process (stop, when not nil, ends it; tests).
// Limit changes under 1 MiB and percent changes under 10 are skipped.
func keepRoom(base, guard int64, pct int, interval time.Duration, stop <-chan struct{}) {
	ss := make([]metrics.Sample, len(memMetrics))
	for i, n := range memMetrics {
		ss[i].Name = n
	}
	cur, curPct := base, pct
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		l, p := limitFor(base, guard, pct, readMem(ss))
		if l > cur+1<<20 || l < cur-1<<20 {
			debug.SetMemoryLimit(l)
			cur = l
		}
		if pct > 0 && p != curPct && (p >= curPct+10 || p <= curPct-10 || p == pct) {
			debug.SetGCPercent(p)
			curPct = p
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// memorySettings computes TuneMemory's settings without applying them.
func memorySettings(getenv func(string) string) MemorySettings {
	var s MemorySettings
	if strings.TrimSpace(getenv("GOGC")) == "" {
		s.GCPercent = gcPercent
	}
	mb, err := strconv.Atoi(strings.TrimSpace(getenv("FC_FUNCTION_MEMORY_SIZE")))
	if err != nil || mb <= 0 {
		mb = 0
	}
	s.MemorySizeM = mb
	budget := defaultBudgetMB
	if v := strings.TrimSpace(getenv(EnvMemoryBudget)); v != "" {
		if b, err := strconv.Atoi(v); err == nil && b >= 0 {
			budget = b
		}
	}
	var limit int // MiB; 0: none
	if budget > 0 {
		limit = max(budget-fileRSSMiB, minBudgetLimitMiB)
	}
	if mb > 0 {
		guard := max(mb*3/4-binaryReserveMiB, minLimitMiB)
		s.GuardBytes = int64(guard) << 20
		if limit == 0 || guard < limit {
			limit = guard
		}
	}
	switch {
	case strings.TrimSpace(getenv("GOMEMLIMIT")) != "":
		s.Note = "GOMEMLIMIT set in the environment"
	case limit == 0:
		s.Note = "no memory budget and FC_FUNCTION_MEMORY_SIZE not set: no memory limit"
	default:
		s.LimitBytes = int64(limit) << 20
		s.FollowLive = budget > 0 && limit == max(budget-fileRSSMiB, minBudgetLimitMiB)
		s.Note = fmt.Sprintf("memory limit %d MiB (budget %d MB, FC memory size %d MB)", limit, budget, mb)
		if s.FollowLive {
			s.Note += ", raised to stay half the live heap above it"
		}
	}
	return s
}
