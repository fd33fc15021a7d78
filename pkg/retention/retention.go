// Package retention plans which managed images to keep and which to delete. Planning is a
// pure function of (images, policy, now): no I/O, no clock.
//
// Rules are a union: an image is kept when any rule or protection keeps it. They are
// evaluated per instance and region, with calendar tiers in the policy timezone, and
// every rule ranks and ages images by their data time (Image.DataTime: when the data was
// captured, a copy's source creation), never by when a copy finished:
//   - keepLast N: the N newest Available images;
//   - keepDays D: images whose data is less than D×24h older than now (an image exactly
//     D×24h old is not kept);
//   - daily/weekly/monthly N: the newest Available image of each of the last N days, ISO
//     weeks or months that have an Available image (restic semantics: periods without an
//     image do not use up the count, so a stopped schedule never ages everything out).
//
// Protections, whatever the rule says: the newest Available image of an instance in a
// region, the last failed attempt of the current slot (Image.RetryRecord: it holds the
// retry count), an image on hold (policy.TagHold), an image in use (by an instance, a launch
// template version or a scaling configuration), an image still Creating or Waiting, and the
// source of a copy still Creating or Waiting in any region (CopyImage needs its source
// until the copy is done). Failed images (CreateFailed, UnAvailable) and Deprecated ones
// are garbage unless protected, and never count as Available. Images that are not Managed,
// or live in a region the policy does not name, are never deleted. An image in an unknown
// status is kept: deleting what we do not understand is the one mistake cleanup cannot
// undo.
package retention

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// ECS image statuses (DescribeImages Status).
const (
	StatusCreating     = "Creating"
	StatusWaiting      = "Waiting"
	StatusAvailable    = "Available"
	StatusCreateFailed = "CreateFailed"
	StatusUnAvailable  = "UnAvailable"
	StatusDeprecated   = "Deprecated"
)

// Image is what the planner needs to know about one image.
type Image struct {
	ID, Region, InstanceID, Name string
	// Status is the ECS status: Creating, Waiting, Available, CreateFailed, UnAvailable,
	// Deprecated.
	Status  string
	Created time.Time
	// Role is policy.RoleSource or policy.RoleCopy.
	Role string
	// SourceImageID and SourceRegion are the lineage of a copy.
	SourceImageID, SourceRegion string
	// Managed: the image carries TagManagedBy=ManagedByValue and TagPolicy=<this policy>.
	Managed bool
	// InUse: something uses it: an instance, a launch template version or a scaling
	// configuration (the caller lists them); UsedBy says what, for the reason.
	InUse  bool
	UsedBy string
	// Held: an operator tagged it policy.TagHold=policy.HoldValue; kept whatever the rule.
	Held        bool
	SnapshotIDs []string
	// DataTime is when the image's data was captured (a copy: its source's creation time);
	// every rule ranks and ages images by it, never by when a copy finished. Zero means
	// Created.
	DataTime time.Time
	// Slot is the image's schedule slot, the tie-break between equal data times (compared
	// through the policy's slot ordering, never as strings).
	Slot string
	// RetryRecord: a failed image that is the retry state of the current slot (its last
	// attempt, nothing live replaced it yet); kept until its slot is over.
	RetryRecord bool
}

// data is the time the rules use.
func (im Image) data() time.Time {
	if im.DataTime.IsZero() {
		return im.Created
	}
	return im.DataTime
}

// Decision is the verdict on one image. Reasons are human-readable: for a kept image every
// protection and rule that keeps it ("newest Available in region", "keepLast 3 (#2)",
// "daily 2026-11-20", "in use by an instance", "still Creating", "source of a copy in
// progress", "not managed", "region not in policy"); for a deleted one why ("failed
// image", "deprecated", "older than all rules").
type Decision struct {
	Image   Image
	Delete  bool
	Reasons []string
}

func (d Decision) String() string {
	verb := "keep"
	if d.Delete {
		verb = "delete"
	}
	return fmt.Sprintf("%s %s (%s %s %s %s): %v", verb, d.Image.ID, d.Image.Region, d.Image.InstanceID,
		d.Image.Status, d.Image.data().UTC().Format(time.RFC3339), d.Reasons)
}

// Plan holds one decision per input image, ordered by region, instance, data time
// (newest first), slot and image id.
type Plan struct {
	Decisions []Decision
}

// Deletes are the decisions to delete, in plan order.
func (p Plan) Deletes() []Decision {
	return p.filter(true)
}

// Keeps are the decisions to keep, in plan order.
func (p Plan) Keeps() []Decision {
	return p.filter(false)
}

func (p Plan) filter(del bool) []Decision {
	var out []Decision
	for _, d := range p.Decisions {
		if d.Delete == del {
			out = append(out, d)
		}
	}
	return out
}

// PlanCleanup decides, for every image, whether cleanup deletes it. Images are ranked by
// data time (Image.DataTime, else Created), then slot (policy.CompareSlots), then id, the
// smaller id counting as the newer, so the plan is the same on every run. A nil policy
// deletes nothing.
func PlanCleanup(images []Image, pol *policy.Policy, now time.Time) Plan {
	loc := time.UTC
	if pol != nil {
		loc = pol.Location()
	}
	copying := map[string]bool{} // source image ids with a copy still in progress
	for _, im := range images {
		if im.SourceImageID != "" && pending(im.Status) {
			copying[im.SourceImageID] = true
		}
	}
	sorted := slices.Clone(images)
	slotOrder := func(a, b string) int { return cmp.Compare(a, b) }
	if pol != nil {
		slotOrder = pol.CompareSlots
	}
	slices.SortStableFunc(sorted, func(a, b Image) int {
		return cmp.Or(
			cmp.Compare(a.Region, b.Region),
			cmp.Compare(a.InstanceID, b.InstanceID),
			b.data().Compare(a.data()),
			slotOrder(b.Slot, a.Slot),
			cmp.Compare(a.ID, b.ID),
		)
	})
	plan := Plan{Decisions: make([]Decision, 0, len(sorted))}
	for start := 0; start < len(sorted); {
		end := start + 1
		for end < len(sorted) && sorted[end].Region == sorted[start].Region && sorted[end].InstanceID == sorted[start].InstanceID {
			end++
		}
		plan.Decisions = append(plan.Decisions, decideGroup(sorted[start:end], pol, loc, now, copying)...)
		start = end
	}
	return plan
}

// decideGroup decides the images of one instance in one region, sorted newest first.
func decideGroup(group []Image, pol *policy.Policy, loc *time.Location, now time.Time, copying map[string]bool) []Decision {
	var (
		rule  policy.RetentionRule
		known bool
	)
	if pol != nil {
		rule, known = pol.RuleFor(group[0].Region)
	}
	ruleReasons := make([][]string, len(group))
	if known {
		var avail []int // managed Available images, newest first
		for i, im := range group {
			if im.Managed && im.Status == StatusAvailable {
				avail = append(avail, i)
			}
		}
		keep := func(i int, reason string) { ruleReasons[i] = append(ruleReasons[i], reason) }
		if len(avail) > 0 {
			keep(avail[0], "newest Available in region")
		}
		for k, i := range avail {
			if k >= rule.KeepLast {
				break
			}
			keep(i, fmt.Sprintf("keepLast %d (#%d)", rule.KeepLast, k+1))
		}
		if rule.KeepDays > 0 {
			cutoff := now.Add(-time.Duration(rule.KeepDays) * 24 * time.Hour)
			for _, i := range avail {
				if group[i].data().After(cutoff) {
					keep(i, fmt.Sprintf("keepDays %d", rule.KeepDays))
				}
			}
		}
		tier(group, avail, loc, rule.Daily, "daily", func(t time.Time) string { return t.Format("2006-01-02") }, keep)
		tier(group, avail, loc, rule.Weekly, "weekly", func(t time.Time) string {
			y, w := t.ISOWeek()
			return fmt.Sprintf("%04d-W%02d", y, w)
		}, keep)
		tier(group, avail, loc, rule.Monthly, "monthly", func(t time.Time) string { return t.Format("2006-01") }, keep)
	}

	out := make([]Decision, 0, len(group))
	for i, im := range group {
		d := Decision{Image: im}
		switch {
		case !im.Managed:
			d.Reasons = []string{"not managed"}
		case !known:
			d.Reasons = []string{"region not in policy"}
		default:
			if im.Held {
				d.Reasons = append(d.Reasons, "held ("+policy.TagHold+"="+policy.HoldValue+")")
			}
			if im.InUse {
				d.Reasons = append(d.Reasons, "in use by "+cmp.Or(im.UsedBy, "an instance"))
			}
			if pending(im.Status) {
				d.Reasons = append(d.Reasons, "still "+im.Status)
			}
			if copying[im.ID] {
				d.Reasons = append(d.Reasons, "source of a copy in progress")
			}
			if im.RetryRecord {
				d.Reasons = append(d.Reasons, "retry state of the current slot")
			}
			d.Reasons = append(d.Reasons, ruleReasons[i]...)
			if len(d.Reasons) > 0 {
				break
			}
			switch im.Status {
			case StatusCreateFailed, StatusUnAvailable:
				d.Delete, d.Reasons = true, []string{"failed image"}
			case StatusDeprecated:
				d.Delete, d.Reasons = true, []string{"deprecated"}
			case StatusAvailable:
				d.Delete, d.Reasons = true, []string{"older than all rules"}
			default:
				d.Reasons = []string{fmt.Sprintf("unknown status %q", im.Status)}
			}
		}
		out = append(out, d)
	}
	return out
}

// tier keeps the newest image of each of the last n periods that have one. avail is
// sorted newest first, so the images of one period are contiguous and the first one seen
// is its newest.
func tier(group []Image, avail []int, loc *time.Location, n int, label string, period func(time.Time) string, keep func(int, string)) {
	if n <= 0 {
		return
	}
	last, seen := "", 0
	for _, i := range avail {
		p := period(group[i].data().In(loc))
		if p == last {
			continue
		}
		if seen++; seen > n {
			return
		}
		last = p
		keep(i, label+" "+p)
	}
}

func pending(status string) bool { return status == StatusCreating || status == StatusWaiting }
