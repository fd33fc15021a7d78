package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/obs"
	"github.com/ecsdr/ecs-image-dr/pkg/simclock"
)

// Scaled simulated time (pkg/simclock). On the local cloud the FC runtime may run
// simulated time S times faster than the wall clock, so a 600 s invocation takes 600/S
// wall seconds; it then gives every function process the mapping in DR_SIMULATED_CLOCK.
// At cold start the handler takes it as its Clock: Now, every back-off and limiter sleep
// (Sleep waits d/S of wall time) and the soft deadline (withSoftDeadline maps FC's wall
// deadline onto it) then agree with the local cloud's clock.
//
// Guard: production must never run on a simulated clock by accident, so the variable is
// honoured only when DR_ECS_ENDPOINT is a loopback address (the local cloud); otherwise
// it is ignored with a warning. When it is on, one record says so at cold start. The
// mapping is re-read from DR_SIMULATED_CLOCK_FILE (when set) at every invocation.

// simulatedClock is a Clock on a simclock.Mapping. With a file (DR_SIMULATED_CLOCK_FILE)
// the mapping is re-read at the start of every invocation (refresh): the local cloud's
// clock may have jumped while the instance was idle.
type simulatedClock struct {
	m    atomic.Pointer[simclock.Mapping]
	file string
}

func newSimulatedClock(m simclock.Mapping, file string) *simulatedClock {
	c := &simulatedClock{file: file}
	c.m.Store(&m)
	return c
}

func (c *simulatedClock) mapping() simclock.Mapping { return *c.m.Load() }

func (c *simulatedClock) Now() time.Time { return c.mapping().Now() }
func (c *simulatedClock) Sleep(ctx context.Context, d time.Duration) error {
	return c.mapping().Sleep(ctx, d)
}

// SimAt maps a wall instant (FC's deadline) onto the clock.
func (c *simulatedClock) SimAt(w time.Time) time.Time { return c.mapping().SimAt(w) }

// refresh re-reads the mapping from the file; on an error the previous one stays.
func (c *simulatedClock) refresh() error {
	if c.file == "" {
		return nil
	}
	m, err := simclock.ReadFile(c.file)
	if err != nil {
		return err
	}
	c.m.Store(&m)
	return nil
}

// refreshClock brings a simulated clock up to date at the start of an invocation.
func refreshClock(clock Clock, log *slog.Logger) {
	c, ok := clock.(*simulatedClock)
	if !ok {
		return
	}
	if err := c.refresh(); err != nil {
		log.Warn("simulated clock not re-read; keeping the previous mapping", obs.KeyAction, "clock",
			obs.KeyResult, "skipped", "error", err.Error())
	}
}

// wallMapper is a Clock that does not run at the wall clock's pace: it maps a wall
// instant (the ctx deadline FC gives) to its own time. Clocks without it are taken to
// run 1:1 with the wall clock.
type wallMapper interface {
	SimAt(wall time.Time) time.Time
}

// clockFromEnv is the handler's clock at cold start: the simulated clock of
// DR_SIMULATED_CLOCK when it is set and the ECS endpoint is on loopback, else the wall
// clock. A malformed value on loopback is a configuration error (every invocation then
// fails naming it) rather than a silent fall-back to a clock the local cloud disagrees
// with. It writes its one record to stdout.
func clockFromEnv(getenv func(string) string, stdout io.Writer, fn Function) (Clock, error) {
	v := strings.TrimSpace(getenv(simclock.EnvVar))
	if v == "" {
		return wallClock{}, nil
	}
	log, _, _ := obs.New(stdout, slog.LevelInfo, obs.SLSConfig{})
	log = log.With(obs.KeyFunction, string(fn))
	endpoint := strings.TrimSpace(getenv(EnvECSEndpoint))
	if !loopbackEndpoint(endpoint) {
		log.Warn("simulated clock ignored: the ECS endpoint is not a loopback address", obs.KeyAction, "clock",
			obs.KeyResult, "skipped", "variable", simclock.EnvVar, "ecs_endpoint", endpoint)
		return wallClock{}, nil
	}
	m, err := simclock.Parse(v)
	if err != nil {
		log.Error("simulated clock not usable", obs.KeyAction, "clock", obs.KeyResult, "failed", "error", err.Error())
		return wallClock{}, fmt.Errorf("simulated clock: %w", err)
	}
	log.Info("simulated clock on (local cloud)", obs.KeyAction, "clock", obs.KeyResult, "ok",
		"speed", m.Speed, "wall_origin", m.Wall.Format(time.RFC3339Nano), "sim_origin", m.Sim.Format(time.RFC3339Nano),
		"sim_now", m.Now().Format(time.RFC3339Nano))
	return newSimulatedClock(m, strings.TrimSpace(getenv(simclock.EnvFile))), nil
}

// loopbackEndpoint reports whether a host[:port] endpoint names this machine.
func loopbackEndpoint(endpoint string) bool {
	if endpoint == "" {
		return false // the regional endpoints of Alibaba Cloud
	}
	host := endpoint
	if h, _, err := net.SplitHostPort(endpoint); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
