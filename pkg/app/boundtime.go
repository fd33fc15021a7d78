package app

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/backup"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/events"
	"github.com/ecsdr/ecs-image-dr/pkg/obs"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// clockSkew is how far a payload's time may be ahead of the function's clock and still be
// taken as is: the timer service and the FC instance do not share a clock, and clamping a
// 02:00:00 trigger seen at 01:59:59.8 would name the previous slot.
const clockSkew = time.Minute

// boundedTime is invocationTime held to the clock: a payload never makes the services act
// in the future, nor in a slot that is over. A time more than clockSkew ahead of now, or
// in an earlier slot than now's (a manual run with a sample payload, a replayed event, the
// run-now payload of events/run-now.json), is replaced by now, with a warning record. A
// time earlier in the current slot is kept: an FC retry of a late invocation decides as
// the on-time one did.
func boundedTime(timer *events.TimerEvent, evs []events.ImageEvent, now time.Time, pol *policy.Policy, log *slog.Logger) time.Time {
	t := invocationTime(timer, evs, now)
	reason := ""
	switch {
	case t.After(now.Add(clockSkew)):
		reason = "payload time is in the future"
	case t.After(now):
		return t // within the clock skew
	case pol != nil && pol.Slot(t) != pol.Slot(now):
		reason = "payload time is in a slot that is over (" + pol.Slot(t) + ", now " + pol.Slot(now) + ")"
	default:
		return t
	}
	log.Warn("payload time replaced by the clock", obs.KeyAction, "clock", obs.KeyResult, backup.ResultSkipped,
		"reason", reason, "payload_time", t.UTC().Format(time.RFC3339), "now", now.UTC().Format(time.RFC3339))
	return now
}

// cloudClock is the clock payload times are held to. The handler's own clock when the
// payload time agrees with it (within the slot, not ahead by more than clockSkew) or when
// no event is one the services act on; otherwise the cloud's clock (the Date of one ECS
// response in the function's region) decides, the handler's clock being the fallback. In
// FC the two agree within seconds, so the normal run makes no extra call; on the local
// cloud only the cloud's clock is the simulated time.
func cloudClock(ctx context.Context, api ecsx.API, region string, clock Clock, timer *events.TimerEvent, evs []events.ImageEvent,
	pol *policy.Policy, log *slog.Logger) time.Time {
	local := clock.Now().UTC()
	t := invocationTime(timer, evs, local)
	if !t.After(local.Add(clockSkew)) && (pol == nil || pol.Slot(t) == pol.Slot(local)) {
		return local
	}
	if timer == nil && !slices.ContainsFunc(evs, func(ev events.ImageEvent) bool {
		return ev.State == ecsx.StatusAvailable || ev.State == ecsx.StatusCreateFailed || ev.State == ecsx.StatusUnAvailable
	}) {
		return local // nothing will be acted on: not worth a call
	}
	sc, ok := api.(ecsx.ServerClock)
	if !ok || region == "" {
		return local
	}
	ct, err := sc.ServerTime(ctx, region)
	if err != nil {
		log.Warn("cloud clock not read; using the local clock", obs.KeyAction, "clock", obs.KeyResult, backup.ResultSkipped, "error", err.Error())
		return local
	}
	return ct
}
