package app

import (
	"log/slog"

	"github.com/ecsdr/ecs-image-dr/pkg/backup"
	"github.com/ecsdr/ecs-image-dr/pkg/events"
	"github.com/ecsdr/ecs-image-dr/pkg/obs"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// parseChecked is events.Parse behind the payload checks: a payload too large, nested too
// deeply or not valid UTF-8 is refused before any decoding, with an error that says which
// (it wraps events.ErrMalformed, so the handler records and acknowledges it).
func parseChecked(payload []byte) (events.Kind, *events.TimerEvent, []events.ImageEvent, error) {
	if err := events.CheckPayload(payload); err != nil {
		return events.KindUnknown, nil, nil, err
	}
	return events.Parse(payload)
}

// outsidePolicy takes out the image events from regions the policy names neither as a
// source nor as a destination: each is rejected with its own record (they are forged or
// misrouted, never work to do) and comes back as a rejected item of the summary. Nothing
// is asked of ECS about them.
func outsidePolicy(evs []events.ImageEvent, pol *policy.Policy, log *slog.Logger) ([]events.ImageEvent, []backup.Item) {
	regions := append(pol.SourceRegions(), pol.DestinationRegions()...)
	var keep []events.ImageEvent
	var rejected []backup.Item
	for _, ev := range evs {
		if err := events.CheckRegion(ev, regions); err != nil {
			log.Warn("event rejected", obs.KeyAction, "reject", obs.KeyResult, backup.ResultSkipped,
				"reason", err.Error(), obs.KeyImage, ev.ImageID, "event_region", ev.Region)
			rejected = append(rejected, backup.Item{Region: ev.Region, Image: ev.ImageID, Reason: err.Error()})
			continue
		}
		keep = append(keep, ev)
	}
	return keep, rejected
}

// outsideScope takes out the image events from regions other than the deployment's region
// scope (DR_REGION_SCOPE, set by s.receiver.yaml): each is rejected with its own record.
// An empty scope (the main stack) keeps every event.
func outsideScope(evs []events.ImageEvent, scope string, log *slog.Logger) ([]events.ImageEvent, []backup.Item) {
	var keep []events.ImageEvent
	var rejected []backup.Item
	for _, ev := range evs {
		if err := events.CheckScope(ev, scope); err != nil {
			log.Warn("event rejected", obs.KeyAction, "reject", obs.KeyResult, backup.ResultSkipped,
				"reason", err.Error(), obs.KeyImage, ev.ImageID, "event_region", ev.Region, "region_scope", scope)
			rejected = append(rejected, backup.Item{Region: ev.Region, Image: ev.ImageID, Reason: err.Error()})
			continue
		}
		keep = append(keep, ev)
	}
	return keep, rejected
}
