package fc

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// memWatch measures one invocation's memory and enforces the function's memorySize, as
// FC's instance limit does: before the hand-over the process's peak is reset (writing 5
// to /proc/<pid>/clear_refs resets VmHWM to the current RSS), then VmRSS and VmHWM are
// sampled until the end. A sample above the limit closes exceeded; the runtime then kills
// the instance and records the attempt as out of memory. Where /proc is unreadable (not
// Linux) nothing is measured: PeakKiB stays 0 and no limit is enforced.
type memWatch struct {
	pid      int
	limitKiB int64
	exceeded chan struct{} // closed once a sample is above the limit

	mu   sync.Mutex
	peak int64 // KiB
	over int64 // the sample that went over (KiB), 0 if none

	stopc chan struct{}
	done  chan struct{}

	cpu0    time.Duration // the process's CPU time (user+system) at the start; -1: unreadable
	cpuLast time.Duration // the last sample's (a killed process cannot be read at the end)
}

// watchMemory starts measuring pid against limitMB, sampling every interval.
func watchMemory(pid, limitMB int, interval time.Duration) *memWatch {
	w := &memWatch{pid: pid, limitKiB: int64(limitMB) << 10, exceeded: make(chan struct{}),
		stopc: make(chan struct{}), done: make(chan struct{})}
	// A failed reset (no /proc, process gone) leaves the lifetime peak: an overestimate.
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
	w.cpu0 = readCPU(pid)
	w.sample()
	go w.loop(interval)
	return w
}

func (w *memWatch) loop(interval time.Duration) {
	defer close(w.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-w.stopc:
			return
		case <-t.C:
			if w.sample() {
				return
			}
		}
	}
}

// sample reads the process's RSS and peak; it reports whether the limit was exceeded.
func (w *memWatch) sample() bool {
	rss, hwm, ok := readMemory(w.pid)
	if !ok {
		return false
	}
	c := readCPU(w.pid)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cpuLast = max(w.cpuLast, c)
	w.peak = max(w.peak, rss, hwm)
	if w.over == 0 && w.limitKiB > 0 && w.peak > w.limitKiB {
		w.over = w.peak
		close(w.exceeded)
		return true
	}
	return false
}

// cpu returns the CPU time (user+system, all threads) the process used since the watch
// started, at the clock tick's resolution (10 ms); 0 when /proc is unreadable. A process
// already killed (timeout, memory) counts up to the last sample.
func (w *memWatch) cpu() time.Duration {
	if w.cpu0 < 0 {
		return 0
	}
	w.mu.Lock()
	c := max(readCPU(w.pid), w.cpuLast)
	w.mu.Unlock()
	if c >= w.cpu0 {
		return c - w.cpu0
	}
	return 0
}

// stop ends the sampling and returns the peak RSS in KiB (0: not measured) and, if the
// limit was exceeded, the sample that went over.
func (w *memWatch) stop() (peakKiB, overKiB int64) {
	select {
	case <-w.stopc:
	default:
		close(w.stopc)
	}
	<-w.done
	w.sample() // the final VmHWM covers what happened since the last tick
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.peak, w.over
}

// readMemory returns VmRSS and VmHWM (KiB) of pid from /proc/<pid>/status.
func readMemory(pid int) (rss, hwm int64, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, false
	}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		switch {
		case bytes.HasPrefix(line, []byte("VmRSS:")):
			rss = kib(line[len("VmRSS:"):])
		case bytes.HasPrefix(line, []byte("VmHWM:")):
			hwm = kib(line[len("VmHWM:"):])
		}
	}
	// A zombie (exited, not yet reaped) has no Vm lines.
	return rss, hwm, rss > 0 || hwm > 0
}

// clockTick is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on every Linux
// architecture Go supports.
const clockTick = 10 * time.Millisecond

// readCPU returns utime+stime of pid (all its threads) from /proc/<pid>/stat; -1 when
// unreadable.
func readCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// The command name (field 2) is in parentheses and may hold spaces: count the fields
	// after its closing one. utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return -1
	}
	u, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	s, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return time.Duration(u+s) * clockTick
}

// kib parses "   1804 kB".
func kib(v []byte) int64 {
	f := bytes.Fields(v)
	if len(f) == 0 {
		return 0
	}
	n, err := strconv.ParseInt(string(f[0]), 10, 64)
	if err != nil {
		return 0
	}
	return n
}
