package chaos

import (
	"fmt"
	"sort"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// The checker's own model of ownership, protection and retention, written from the
// policy's documentation (pkg/policy RetentionRule), not from pkg/retention:
//
//   - an image is ours when it carries managed-by=ecs-image-dr and policy=<name>;
//   - rules are a union, per (instance, region), over the Available images ordered by data
//     age (a copy's data age is its source image's creation time);
//   - keepLast N: the N newest; keepDays D: data younger than D×24h; daily/weekly/monthly
//     N: the newest image of each of the last N days / ISO weeks / months that have one, in
//     the policy timezone;
//   - protected whatever the rules say: the newest Available image, an image in use, a
//     held one (ecs-dr:hold=true), one still Creating or Waiting, and the source of a copy
//     in progress.

func ours(im ecs.Image, pol string) bool {
	return im.Tags[policy.TagManagedBy] == policy.ManagedByValue && im.Tags[policy.TagPolicy] == pol
}

func held(im ecs.Image) bool { return im.Tags[TagHold] == policy.HoldValue }

func inProgress(im ecs.Image) bool { return im.Status == "Creating" || im.Status == "Waiting" }

func failed(im ecs.Image) bool { return im.Status == "CreateFailed" || im.Status == "UnAvailable" }

// dataTime is when the image's data was captured: the creation of the source image.
func dataTime(im ecs.Image, seen map[string]ecs.Image) time.Time {
	if im.Tags[policy.TagRole] == policy.RoleCopy {
		for _, id := range []string{im.Tags[policy.TagSourceImage], im.CopySourceImageID} {
			if src, ok := seen[id]; ok && id != "" {
				return src.CreationTime
			}
		}
	}
	return im.CreationTime
}

// keptByRule returns, for the Available images of one (instance, region), the ids the
// rule keeps at now, with why.
func keptByRule(imgs []ecs.Image, rule Rule, now time.Time, loc *time.Location, seen map[string]ecs.Image) map[string]string {
	sorted := append([]ecs.Image(nil), imgs...)
	sort.SliceStable(sorted, func(i, j int) bool {
		di, dj := dataTime(sorted[i], seen), dataTime(sorted[j], seen)
		if !di.Equal(dj) {
			return di.After(dj)
		}
		return sorted[i].ID > sorted[j].ID
	})
	keep := map[string]string{}
	for i, im := range sorted {
		if i < rule.KeepLast {
			keep[im.ID] = "keepLast"
		}
		if i == 0 {
			keep[im.ID] = "newest"
		}
		if rule.KeepDays > 0 && now.Sub(dataTime(im, seen)) < time.Duration(rule.KeepDays)*24*time.Hour {
			keep[im.ID] = "keepDays"
		}
	}
	tier := func(n int, period func(time.Time) string, why string) {
		if n <= 0 {
			return
		}
		seenPeriods := map[string]bool{}
		for _, im := range sorted { // newest first: the first of each period is its newest
			p := period(dataTime(im, seen).In(loc))
			if seenPeriods[p] {
				continue
			}
			if len(seenPeriods) == n {
				break
			}
			seenPeriods[p] = true
			keep[im.ID] = why
		}
	}
	tier(rule.Daily, func(t time.Time) string { return t.Format("2006-01-02") }, "daily")
	tier(rule.Weekly, func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%dW%02d", y, w) }, "weekly")
	tier(rule.Monthly, func(t time.Time) string { return t.Format("2006-01") }, "monthly")
	return keep
}

// protection says why an image must not be deleted whatever the rules say ("" if none).
// all is every image of every region (copies in progress protect their source).
func protection(im ecs.Image, pol string, policyRegions map[string]bool, inUse map[string]bool, all []ecs.Image) string {
	switch {
	case !ours(im, pol):
		return "not managed by this policy"
	case !policyRegions[im.RegionID]:
		return "region not in the policy"
	case held(im):
		return "held (" + TagHold + "=" + policy.HoldValue + ")"
	case inUse[im.RegionID+"/"+im.ID]:
		return "in use by an instance"
	case inProgress(im):
		return "still " + im.Status + " (mid-copy or mid-create)"
	}
	for _, c := range all {
		if inProgress(c) && (c.CopySourceImageID == im.ID || c.Tags[policy.TagSourceImage] == im.ID) && c.ID != im.ID {
			return "source of a copy in progress (" + c.ID + ")"
		}
	}
	return ""
}

// groupKey is (region, instance) of one of our images.
func groupKey(im ecs.Image) string { return im.RegionID + "/" + im.Tags[policy.TagSourceInstance] }
