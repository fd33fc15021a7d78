package app

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/events"
	"github.com/ecsdr/ecs-image-dr/pkg/obs"
)

// EnvCPUProfileDir names a directory where a function process writes pprof CPU profiles
// of itself (the bench's -function-cpuprofile sets it). Like DR_SIMULATED_CLOCK it is
// honoured only on the local cloud (DR_ECS_ENDPOINT on loopback): production never
// profiles by accident.
//
// A process is killed at its timeout and when the runtime retires it, so one profile per
// process would be lost: the profile is rotated every profileSpan of wall time (also in
// the middle of a long invocation, so one killed at its timeout leaves all but its last
// seconds), each into its own file <function>-<pid>-<seq>.pprof. Merge them per function with
// `go tool pprof -top DIR/copy-image-*.pprof` (the profiles carry their symbols).
const EnvCPUProfileDir = "DR_CPU_PROFILE_DIR"

// profileSpan is the least wall time a profile file covers before it is rotated: short
// enough that a killed process loses little, long enough that the rotation (the
// profiler's writer wakes every 100 ms) costs nothing measurable.
const profileSpan = 2 * time.Second

// cpuProfiler writes the process's CPU profile in rotated files.
type cpuProfiler struct {
	dir, prefix string
	mu          sync.Mutex
	seq         int
	f           *os.File
	since       time.Time
	rotating    bool
}

// profilerFromEnv starts profiling when DR_CPU_PROFILE_DIR is set and the ECS endpoint
// is on loopback; nil otherwise (nil is a valid, inactive profiler).
func profilerFromEnv(getenv func(string) string, stdout io.Writer, fn Function) *cpuProfiler {
	dir := strings.TrimSpace(getenv(EnvCPUProfileDir))
	if dir == "" {
		return nil
	}
	log, _, _ := obs.New(stdout, slog.LevelInfo, obs.SLSConfig{})
	log = log.With(obs.KeyFunction, string(fn))
	if endpoint := strings.TrimSpace(getenv(EnvECSEndpoint)); !loopbackEndpoint(endpoint) {
		log.Warn("cpu profiling ignored: the ECS endpoint is not a loopback address", obs.KeyAction, "profile",
			obs.KeyResult, "skipped", "variable", EnvCPUProfileDir, "ecs_endpoint", endpoint)
		return nil
	}
	p := &cpuProfiler{dir: dir, prefix: fmt.Sprintf("%s-%d", fn, os.Getpid())}
	if err := p.start(); err != nil {
		log.Warn("cpu profiling not started", obs.KeyAction, "profile", obs.KeyResult, "failed", "error", err.Error())
		return nil
	}
	log.Info("cpu profiling on (local cloud)", obs.KeyAction, "profile", obs.KeyResult, "ok", "dir", dir)
	go func() {
		for range time.Tick(profileSpan) {
			p.invocationDone()
		}
	}()
	return p
}

// start opens the next file and starts the profiler; caller holds mu (or owns p).
func (p *cpuProfiler) start() error {
	p.seq++
	f, err := os.Create(filepath.Join(p.dir, fmt.Sprintf("%s-%04d.pprof", p.prefix, p.seq)))
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return err
	}
	p.f, p.since = f, time.Now()
	return nil
}

// invocationDone rotates the profile when it covers profileSpan (at the end of an
// invocation, and every profileSpan). The rotation runs in the background (stopping
// waits for the profiler's writer): the invocation's response is not delayed by it.
func (p *cpuProfiler) invocationDone() {
	if p == nil {
		return
	}
	p.mu.Lock()
	if p.rotating || p.f == nil || time.Since(p.since) < profileSpan {
		p.mu.Unlock()
		return
	}
	p.rotating = true
	p.mu.Unlock()
	go p.rotate()
}

func (p *cpuProfiler) rotate() {
	p.mu.Lock()
	defer p.mu.Unlock()
	defer func() { p.rotating = false }()
	pprof.StopCPUProfile()
	_ = p.f.Close()
	p.f = nil
	if err := p.start(); err != nil {
		p.f = nil // profiling ends; the function goes on
	}
}

// label tags the rest of the invocation's CPU samples (this goroutine and those it
// starts) with what it serves, e.g. "image-events" or "timer/pending", so a merged profile
// splits by it: `go tool pprof -tagfocus work=image-events ...`. A no-op when off.
func (p *cpuProfiler) label(ctx context.Context, work string) context.Context {
	if p == nil {
		return ctx
	}
	ctx = pprof.WithLabels(ctx, pprof.Labels("work", work))
	pprof.SetGoroutineLabels(ctx)
	return ctx
}

// profileWork names an invocation's work for the profile label: its payload kind, and a
// timer's mode (copy-image's pending or deep reconcile).
func profileWork(fn Function, kind events.Kind, tp timerPayload) string {
	if kind == events.KindTimer && fn == CopyImage {
		return kind.String() + "/" + cmp.Or(tp.Mode, ModeDeep)
	}
	return kind.String()
}

// stop ends profiling and closes the file (tests; a function process is killed instead).
func (p *cpuProfiler) stop() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.f != nil {
		pprof.StopCPUProfile()
		_ = p.f.Close()
		p.f = nil
	}
}
