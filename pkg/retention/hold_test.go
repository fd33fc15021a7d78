package retention

import (
	"testing"

	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// A held image is kept whatever the rule and status; the same image unheld is deleted; an
// image used by a launch template is kept with what uses it in the reason.
func TestPlanHoldAndUsers(t *testing.T) {
	t.Parallel()
	now := ts("2026-11-23T00:00:00Z")
	pol := testPolicy("UTC", policy.RetentionRule{KeepLast: 1})
	held := func(im *Image) { im.Held = true }
	usedBy := func(im *Image) { im.InUse, im.UsedBy = true, "launch template lt-1 (x) version 2" }
	images := []Image{
		img("m-new", "2026-11-22T00:00:00Z"),
		img("m-old", "2026-11-10T00:00:00Z"),
		img("m-old-held", "2026-11-09T00:00:00Z", held),
		img("m-failed-held", "2026-11-08T00:00:00Z", held, status(StatusCreateFailed)),
		img("m-lt", "2026-11-07T00:00:00Z", usedBy),
	}
	want := map[string]string{
		"m-new":         "+" + newest + "; keepLast 1 (#1)",
		"m-old":         "-older than all rules",
		"m-old-held":    "+held (ecs-dr:hold=true)",
		"m-failed-held": "+held (ecs-dr:hold=true)",
		"m-lt":          "+in use by launch template lt-1 (x) version 2",
	}
	for _, d := range PlanCleanup(images, pol, now).Decisions {
		if got := summary(d); got != want[d.Image.ID] {
			t.Errorf("%s: %s, want %s", d.Image.ID, got, want[d.Image.ID])
		}
	}
}
