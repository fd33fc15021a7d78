package app

import (
	"context"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
)

// Clock is a handler's time source and its one way to wait: every back-off of the
// product (the ECS retry loop of pkg/backup) sleeps through it. In FC it is the wall
// clock; tests and the chaos runs give the local cloud's simulated clock, so a throttled
// scenario costs simulated seconds and no wall time. A function process of the local FC
// runtime on a scaled clock reads it from DR_SIMULATED_CLOCK at cold start (simclock.go).
type Clock interface {
	Now() time.Time
	// Sleep waits d, or until ctx ends (then it returns ctx's error).
	Sleep(ctx context.Context, d time.Duration) error
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }
func (wallClock) Sleep(ctx context.Context, d time.Duration) error {
	return ecsx.SleepContext(ctx, d)
}

// Options tune a handler beyond its environment; the zero value is what FC runs.
type Options struct {
	// Clock: nil is the environment's clock (the wall clock, or the local cloud's
	// simulated clock of DR_SIMULATED_CLOCK, see simclock.go).
	Clock Clock
	// SLSRetryTimeout bounds the SLS SDK's own retries of a failed flush, which wait on the
	// wall clock inside the SDK (0: obs's default). Tests on a simulated clock keep it
	// small so an SLS fault costs milliseconds.
	SLSRetryTimeout time.Duration
	// Jitter draws each back-off in [0, d] (nil: ecsx.FullJitter); a seeded one makes a
	// simulated run reproducible.
	Jitter func(d time.Duration) time.Duration
}

// WithOptions sets o on h (before its first invocation) and returns h.
func (h *Handler) WithOptions(o Options) *Handler {
	if o.Clock == nil {
		o.Clock = h.clock
	}
	if o.Clock == nil {
		o.Clock = wallClock{}
	}
	h.opts = o
	return h
}
