package app

import (
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
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
//   - optionally a tighter budget for the whole resident set (DR_MEMORY_BUDGET_MB, e.g.
//     48): the Go limit becomes the budget minus the binary's pages. Off by default:
//     measured at 5,000 instances it takes create-image from 64 to 50 MB and a reconcile
//     from 66 to 54 MB, but cleanup, whose live heap exceeds it, runs 4× longer
//     (collecting all the time) and nears its FC timeout.
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
	defaultBudgetMB = 0
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
	Note        string
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
	return s
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
		s.Note = fmt.Sprintf("memory limit %d MiB (budget %d MB, FC memory size %d MB)", limit, budget, mb)
	}
	return s
}
