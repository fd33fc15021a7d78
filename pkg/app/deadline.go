package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/backup"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/obs"
)

// softMargin is kept free before the FC deadline: the services start no new work past
// deadline − margin, so the invocation can finish the calls under way, write its catalog
// (a shard's sync lists the catalog and writes what changed), record what remains and
// flush its records. That wind-down grows with the run, so the margin is a tenth of the
// budget (60 s of a 600 s timeout), at least ecsx.DefaultMargin, at most a quarter of a
// short invocation's budget.
func softMargin(budget time.Duration) time.Duration {
	return min(max(ecsx.DefaultMargin, budget/10), budget/4)
}

// withSoftDeadline puts the soft deadline on ctx, on the handler's clock: the deadline FC
// gives (ctx's, a wall instant) on that clock, minus the margin. A clock that does not
// run at the wall's pace (the local cloud's scaled simulated clock) maps the instant
// itself, so a 600 s timeout at 20x is 600 simulated seconds, reached after 30 wall
// seconds; any other clock is taken to run 1:1 with the wall. Without a deadline, ctx is
// unchanged.
func withSoftDeadline(ctx context.Context, clock Clock) context.Context {
	dl, ok := ctx.Deadline()
	if !ok {
		return ctx
	}
	now := clock.Now()
	end := now.Add(time.Until(dl))
	if m, ok := clock.(wallMapper); ok {
		end = m.SimAt(dl)
	}
	budget := end.Sub(now)
	return backup.WithSoftDeadline(ctx, end.Add(-softMargin(budget)), clock.Now)
}

// finishRemaining records what the run left for the next one and makes the invocation
// fail (retryable) so FC runs it again; the services are idempotent, so the retry
// continues where this run stopped.
func finishRemaining(ctx context.Context, res *Result, err error, log *slog.Logger) (*Result, error) {
	left := backup.Remaining(ctx)
	if len(left) == 0 {
		return res, err
	}
	if res != nil {
		res.Remaining = left
	}
	attrs := []any{obs.KeyAction, "deadline", obs.KeyResult, backup.ResultSkipped}
	for k, n := range left {
		attrs = append(attrs, k, n)
	}
	log.Warn("soft deadline reached: work left for the next run", attrs...)
	if err == nil {
		err = backup.RemainingError(left)
	}
	return res, err
}
