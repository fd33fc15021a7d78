package fc

import (
	"os"
	"runtime"
	"testing"
	"time"
)

// readCPU counts the process's CPU time from /proc/<pid>/stat: it grows by what the
// process burns, and an unknown process reads as unmeasurable (-1), never as 0 used.
func TestReadCPU(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc/<pid>/stat is Linux's")
	}
	before := readCPU(os.Getpid())
	if before < 0 {
		t.Fatal("own process unreadable")
	}
	x := 0
	for start := time.Now(); time.Since(start) < 150*time.Millisecond; {
		for i := range 10_000 {
			x += i * i
		}
	}
	after := readCPU(os.Getpid())
	if after-before < 50*time.Millisecond {
		t.Errorf("burned 150 ms of CPU, read %v (%d)", after-before, x)
	}
	if got := readCPU(1 << 30); got != -1 {
		t.Errorf("unknown pid: got %v, want -1", got)
	}
}
