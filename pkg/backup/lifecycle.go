package backup

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// This file holds what the services share about an image's life: its attempts within a
// slot (a failed image is replaced, within a retry budget), its data time (the order of
// "newest"), and the snapshots it owns (tagged as ours before the image is deleted, so the
// next cleanup finds any that a killed run left behind).

// isFailed reports a terminal failure status: the image will never become Available.
func isFailed(status string) bool {
	return status == ecsx.StatusCreateFailed || status == ecsx.StatusUnAvailable
}

// attempts summarises the images of one (instance, slot) or of one (source image,
// destination): the images that are not failed (at most one, by construction), the
// failed ones in attempt order, and the highest attempt number seen (0 for none).
type attempts struct {
	live, failed []ecsx.Image
	last         int
}

func attemptsOf(imgs []ecsx.Image) attempts {
	var a attempts
	for _, im := range imgs {
		a.last = max(a.last, policy.Attempt(im.Tags))
		if isFailed(im.Status) {
			a.failed = append(a.failed, im)
		} else {
			a.live = append(a.live, im)
		}
	}
	slices.SortFunc(a.failed, func(x, y ecsx.Image) int { return policy.Attempt(x.Tags) - policy.Attempt(y.Tags) })
	return a
}

// exhausted: nothing is live and the budget is used up; the last failed attempt stays as
// the record of that until the slot is over.
func (a attempts) exhausted() bool { return len(a.live) == 0 && a.last >= policy.DefaultRetryBudget }

// next is the attempt number to make now, 0 when none (one is live, or the budget is spent).
func (a attempts) next() int {
	if len(a.live) > 0 || a.exhausted() {
		return 0
	}
	return a.last + 1
}

// isRecord reports whether im is the failed image that records a used-up budget.
func (a attempts) isRecord(im ecsx.Image) bool {
	return a.exhausted() && isFailed(im.Status) && policy.Attempt(im.Tags) == a.last
}

// dataTime is when an image's data was captured: its TagDataTime; for a copy without one
// (made before the tag existed) its source's creation time when known, else its slot's
// start; for a source its own creation time.
func (r *run) dataTime(im ecsx.Image, srcCreated map[string]time.Time) time.Time {
	if _, ok := im.Tags[policy.TagDataTime]; ok {
		return policy.DataTime(im.Tags, im.Created)
	}
	if im.Tags[policy.TagRole] == policy.RoleCopy {
		if t, ok := srcCreated[im.Tags[policy.TagSourceImage]]; ok {
			return t.UTC()
		}
		if t, err := r.pol.SlotTime(im.Tags[policy.TagSlot]); err == nil {
			return t.UTC()
		}
	}
	return im.Created.UTC()
}

// compareData orders two images by data age (-1: a holds older data than b).
func (r *run) compareData(a, b ecsx.Image, srcCreated map[string]time.Time) int {
	return r.pol.CompareData(r.dataTime(a, srcCreated), a.Tags[policy.TagSlot], a.ID,
		r.dataTime(b, srcCreated), b.Tags[policy.TagSlot], b.ID)
}

// sourceCreated maps source image ids to their creation time.
func sourceCreated(imgs []ecsx.Image) map[string]time.Time {
	out := map[string]time.Time{}
	for _, im := range imgs {
		if im.Tags[policy.TagRole] == policy.RoleSource {
			out[im.ID] = im.Created
		}
	}
	return out
}

// snapshotTags mark a snapshot as ours and name the image it was made for, and that
// image's source instance (the snapshot's shard, see snapshotInShard).
func (r *run) snapshotTags(im ecsx.Image) map[string]string {
	tags := map[string]string{policy.TagManagedBy: policy.ManagedByValue, policy.TagPolicy: r.pol.Name, policy.TagSnapshotOf: im.ID}
	if inst := im.Tags[policy.TagSourceInstance]; inst != "" {
		tags[policy.TagSourceInstance] = inst
		r.addBucket(tags, inst)
	}
	return tags
}

// claimSnapshots tags the snapshots of im as ours, skipping those in tagged (region/id; nil
// for none known). A snapshot already gone (deleted by hand) is skipped. It returns an
// error when some snapshot could not be tagged: the image must then not be deleted, or
// that snapshot would be left with no way to prove it ours.
func (r *run) claimSnapshots(ctx context.Context, im ecsx.Image, tagged map[string]bool) error {
	var todo []string
	for _, s := range im.Snapshots {
		if !tagged[im.Region+"/"+s] {
			todo = append(todo, s)
		}
	}
	if len(todo) == 0 || r.pol.DryRun {
		return nil
	}
	tags := r.snapshotTags(im)
	err := r.ecs.TagResources(ctx, im.Region, ecsx.ResourceSnapshot, todo, tags)
	if ecsx.IsNotFound(err) {
		// TagResources is all or nothing: tag them one by one, skipping the missing ones.
		err = nil
		for _, s := range todo {
			if e := r.ecs.TagResources(ctx, im.Region, ecsx.ResourceSnapshot, []string{s}, tags); e != nil && !ecsx.IsNotFound(e) {
				err = e
			}
		}
	}
	if err != nil {
		return fmt.Errorf("tag snapshots of %s as ours: %w", im.ID, err)
	}
	return nil
}

// claimSeen tags the snapshots of an image just seen Available; a failure is logged and
// left to the next cleanup, which claims every untagged snapshot of a managed image.
func (r *run) claimSeen(ctx context.Context, im ecsx.Image) {
	if err := r.claimSnapshots(ctx, im, nil); err != nil {
		r.recordAt(ctx, warn, "claim-snapshots", ResultSkipped, Item{Region: im.Region, Image: im.ID,
			Reason: "snapshots not tagged yet; the next cleanup tags them"}, err, time.Time{})
	}
}

// retireFailed handles one failed image (CreateFailed, UnAvailable): one failed record
// (counted by the alert, not retryable: a retry of the invocation cannot revive it), then
// its snapshots are tagged as ours, the image is deleted, and its snapshots deleted. A
// kill or an error anywhere leaves either the image (found again by the next run) or
// tagged snapshots (collected by the next cleanup).
func (r *run) retireFailed(ctx context.Context, im ecsx.Image, why string, c *collector) {
	it := Item{Region: im.Region, Instance: im.Tags[policy.TagSourceInstance], Image: im.ID,
		SourceImage: im.Tags[policy.TagSourceImage], ErrorCode: im.Status,
		Reason: fmt.Sprintf("image ended %s (attempt %d of slot %s); %s", im.Status, policy.Attempt(im.Tags), im.Tags[policy.TagSlot], why)}
	r.fail(ctx, c, "image-failed", it, nil, time.Time{})
	if r.pol.DryRun {
		return
	}
	r.deleteWithSnapshots(ctx, im, "failed image", c)
}

// deleteWithSnapshots claims, deletes an image, then its snapshots. Snapshot deletions
// that fail are left to the next cleanup (they are tagged as ours).
func (r *run) deleteWithSnapshots(ctx context.Context, im ecsx.Image, why string, c *collector) bool {
	started := time.Now()
	it := Item{Region: im.Region, Instance: im.Tags[policy.TagSourceInstance], Image: im.ID, SourceImage: im.Tags[policy.TagSourceImage], Reason: why}
	if err := r.claimSnapshots(ctx, im, nil); err != nil {
		it = failure(it, err)
		it.Reason = "image kept: " + err.Error()
		r.fail(ctx, c, "delete", it, err, started)
		return false
	}
	if err := r.ecs.DeleteImage(ctx, im.Region, im.ID, false); err != nil && !ecsx.IsNotFound(err) {
		r.fail(ctx, c, "delete", failure(it, err), err, started)
		return false
	}
	r.record(ctx, "delete", ResultOK, it, nil, started)
	for _, sid := range im.Snapshots {
		sit := Item{Region: im.Region, Instance: it.Instance, Image: im.ID, Snapshot: sid}
		err := r.ecs.DeleteSnapshot(ctx, im.Region, sid)
		switch {
		case err == nil || ecsx.IsNotFound(err):
			sit.Reason = "snapshot of deleted image"
			r.record(ctx, "delete", ResultOK, sit, nil, time.Time{})
		default:
			sit.Reason, sit.ErrorCode = "snapshot left (tagged as ours): the next cleanup deletes it", ecsx.Code(err)
			r.recordAt(ctx, warn, "delete", ResultSkipped, sit, err, time.Time{})
		}
	}
	return true
}
