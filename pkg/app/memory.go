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
// The functions are I/O bound (they wait on ECS, OSS and SLS) and their live heap is small
// (≈10-15 MB at 5,000 instances and concurrency 32), so at cold start:
//   - GC percent 50 instead of 100: the heap grows to 1.5× the live heap between
//     collections, not 2×; each collection of a ~10 MB heap costs about a millisecond of
//     CPU, and there are a few per second at most;
//   - a soft memory limit of 3/4 of FC's memory size minus the binary's pages: as the
//     heap approaches it the GC works harder, so a run that outgrows its plan slows down
//     (and stops at its soft deadline, the next run continuing) instead of being killed
//     mid-write by FC's memory check.
//
// GOGC or GOMEMLIMIT set in the function's environment win (the operator's choice).
const (
	gcPercent = 50
	// binaryReserveMiB is what the mapped binary and non-Go memory may take of the memory
	// size (the measured file-backed RSS is 15-23 MB; doubled for margin).
	binaryReserveMiB = 48
	minLimitMiB      = 32
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
	switch {
	case strings.TrimSpace(getenv("GOMEMLIMIT")) != "":
		s.Note = "GOMEMLIMIT set in the environment"
	case err != nil || mb <= 0:
		s.Note = "FC_FUNCTION_MEMORY_SIZE not set: no memory limit"
	default:
		s.MemorySizeM = mb
		limit := max(mb*3/4-binaryReserveMiB, minLimitMiB)
		s.LimitBytes = int64(limit) << 20
		s.Note = fmt.Sprintf("memory limit %d MiB of %d MB", limit, mb)
	}
	return s
}
