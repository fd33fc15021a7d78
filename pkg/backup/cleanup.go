package backup

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
	"github.com/ecsdr/ecs-image-dr/pkg/retention"
)

// CleanupSummary is the outcome of one Cleanup run.
type CleanupSummary struct {
	DryRun  bool   `json:"dryRun,omitempty"`
	Kept    []Item `json:"kept"`    // Reason: every rule or protection that keeps it
	Deleted []Item `json:"deleted"` // image gone (or already gone)
	Planned []Item `json:"planned"` // dry run: would be deleted
	Failed  []Item `json:"failed"`
	// SnapshotsDeleted are "region/snapshot-id" of snapshots of deleted images.
	SnapshotsDeleted []string `json:"snapshotsDeleted"`
	// SnapshotsLeft are snapshots not deleted (still referenced, or the delete failed);
	// each is also logged with its id so an operator can remove it.
	SnapshotsLeft []Item   `json:"snapshotsLeft"`
	Plan          []string `json:"-"` // the plan as text, one decision per line
	CatalogSynced []string `json:"catalogSynced"`
	// Omitted counts the items left out of the lists above, by list (they are bounded).
	Omitted map[string]int `json:"omitted,omitempty"`
}

// Cleanup applies the retention rules in every region of the policy. It only ever
// considers images tagged as made by this policy; it lists them in every region (all
// statuses), marks those used by an instance, asks retention.PlanCleanup, and deletes the
// planned images with bounded concurrency, then their snapshots.
//
// Safety, on top of the planner's own protections: an image that is not Available or
// failed is never deleted, nor one whose copy is in progress anywhere, nor one an instance
// uses (DeleteImage is never forced; ImageUsingByInstance means "keep, in use"). An image
// already gone counts as deleted. Snapshots are deleted only after their image is gone and
// when no remaining image references them; SnapshotCreatedImage leaves the snapshot.
// DryRun logs the exact plan and changes nothing. Before any delete, every destination's
// catalog is rewritten (removeMissing) from the images the plan keeps.
//
// Snapshots are garbage-collected level-triggered: every run first deletes the snapshots
// tagged as ours that no image references any more (collectSnapshots), then tags the
// untagged snapshots of every managed image as ours (claimAll). An image whose snapshots
// could not be tagged is not deleted, so a run killed at any line, or a DeleteSnapshot
// that fails, leaves only snapshots the next run finds and deletes.
//
// Retention ranks images by data time (a copy's TagDataTime, its source's creation), not
// by when a copy finished. A failed image is deleted with a failed record, except the last
// failed attempt of the current slot, which holds the retry count until the slot is over.
func (d Deps) Cleanup(ctx context.Context) (CleanupSummary, error) {
	r, err := d.start()
	if err != nil {
		return CleanupSummary{}, err
	}
	sum := CleanupSummary{DryRun: r.pol.DryRun}
	var c collector
	regions := policyRegions(r.pol)
	inv, err := r.inventory(ctx, regions)
	if err != nil {
		// Planning on a partial inventory could delete a source whose copy we did not see.
		return sum, fmt.Errorf("cleanup: %w", err)
	}
	inUse, usersUnknown := r.imageUses(ctx, regions, &c)

	tagged := r.collectSnapshots(ctx, inv, regions, &c)
	unclaimed := r.claimAll(ctx, inv, tagged, &c)

	all := inv.all()
	srcCreated := sourceCreated(all)
	retryRecord := r.retryRecords(all)
	var images []retention.Image
	copying := map[string]bool{} // source ids with a copy not yet Available
	for _, im := range all {
		role := im.Tags[policy.TagRole]
		srcID := im.Tags[policy.TagSourceImage]
		if role == policy.RoleCopy && (im.Status == ecsx.StatusCreating || im.Status == ecsx.StatusWaiting) {
			copying[srcID] = true
		}
		images = append(images, retention.Image{ID: im.ID, Region: im.Region, InstanceID: im.Tags[policy.TagSourceInstance],
			Name: im.Name, Status: im.Status, Created: im.Created, Role: role, SourceImageID: srcID,
			SourceRegion: im.Tags[policy.TagSourceRegion], Managed: managedBy(r.pol, im.Tags),
			InUse: inUse[im.Region+"/"+im.ID] != "", UsedBy: inUse[im.Region+"/"+im.ID],
			Held: im.Tags[policy.TagHold] == policy.HoldValue, SnapshotIDs: im.Snapshots,
			DataTime: r.dataTime(im, srcCreated), Slot: im.Tags[policy.TagSlot], RetryRecord: retryRecord[im.Region+"/"+im.ID]})
	}
	plan := retention.PlanCleanup(images, r.pol, r.now())
	for _, dec := range plan.Decisions {
		sum.Plan = append(sum.Plan, dec.String())
	}

	var deletes []retention.Decision
	for _, dec := range plan.Decisions {
		im := dec.Image
		it := Item{Region: im.Region, Instance: im.InstanceID, Image: im.ID, SourceImage: im.SourceImageID, Reason: strings.Join(dec.Reasons, "; ")}
		if dec.Delete {
			// Belt and braces: the planner protects these too, but a planner bug must not
			// cost a restorable or in-flight image.
			switch {
			case !im.Managed:
				it.Reason = "refused: not managed"
			case im.Held:
				it.Reason = "refused: held (" + policy.TagHold + "=" + policy.HoldValue + ")"
			case im.InUse:
				it.Reason = "refused: in use by " + im.UsedBy
			case usersUnknown[im.Region] != nil:
				it.Reason = "refused: the users of images in " + im.Region + " could not be listed: " + usersUnknown[im.Region].Error()
			case im.Status == ecsx.StatusCreating || im.Status == ecsx.StatusWaiting:
				it.Reason = "refused: still " + im.Status
			case copying[im.ID]:
				it.Reason = "refused: source of a copy in progress"
			case unclaimed[im.Region+"/"+im.ID]:
				it.Reason = "refused: its snapshots could not be tagged as ours (see the claim-snapshots record)"
			default:
				deletes = append(deletes, dec)
				continue
			}
		}
		// Debug: keeps grow with the fleet; one summary record per region and instance
		// group follows (keepsummary.go).
		r.recordAt(ctx, debug, "keep", ResultOK, it, nil, time.Time{})
		c.addKept(it, keptSourceRegion(im))
	}

	// The images to delete (kept whole for deleteOne), and the snapshots of every image
	// that stays: those must survive.
	doomed := make(map[string]ecsx.Image, len(deletes))
	for _, dec := range deletes {
		doomed[dec.Image.Region+"/"+dec.Image.ID] = ecsx.Image{}
	}
	referenced := map[string]bool{}
	for region, imgs := range inv.images {
		kept := imgs[:0]
		for _, im := range imgs {
			k := region + "/" + im.ID
			if _, ok := doomed[k]; ok {
				doomed[k] = im
				continue
			}
			for _, s := range im.Snapshots {
				referenced[region+"/"+s] = true
			}
			kept = append(kept, im)
		}
		inv.images[region] = kept
	}

	// The catalog is rebuilt first, from the images the plan keeps: it never points at an
	// image this run may delete, and the sync (which lists the whole catalog) runs while the
	// invocation has time, not in the soft deadline's margin after the deletes; a run
	// stopped at its deadline, or killed, has its catalog already written. An image whose
	// delete then fails is not the newest of its instance (the planner keeps that one), so
	// the catalog is the same as after the deletes; if it were, the next sync adds it back.
	// It reads the filtered inventory, not a copy: the sync's peak holds one inventory.
	sum.CatalogSynced = r.syncCatalogs(ctx, r.pol.DestinationRegions(), inv, true, &c)

	each(ctx, r.conc, deletes, func(ctx context.Context, dec retention.Decision) {
		r.deleteOne(ctx, dec, doomed[dec.Image.Region+"/"+dec.Image.ID], referenced, &c)
	})
	sum.Kept, sum.Deleted, sum.Planned = c.get("kept"), c.get("deleted"), c.get("planned")
	sum.SnapshotsLeft = c.get("snapshot-left")
	for _, it := range c.get("snapshot-deleted") {
		sum.SnapshotsDeleted = append(sum.SnapshotsDeleted, it.Region+"/"+it.Snapshot)
	}

	sum.Failed = c.get("failed")
	sum.Omitted = c.omitted()
	r.summarizeKept(ctx, &c)
	return sum, failedError("cleanup", retryableOnly(sum.Failed))
}

// deleteOne deletes one planned image and then its snapshots.
func (r *run) deleteOne(ctx context.Context, dec retention.Decision, img ecsx.Image, referenced map[string]bool, c *collector) {
	im := dec.Image
	it := Item{Region: im.Region, Instance: im.InstanceID, Image: im.ID, SourceImage: im.SourceImageID, Reason: strings.Join(dec.Reasons, "; ")}
	if isFailed(im.Status) && img.Tags[policy.TagFailureRecorded] != "true" {
		// A failed image is a lost backup: say so once, whoever deletes it.
		fit := it
		fit.ErrorCode, fit.Reason = im.Status, fmt.Sprintf("image ended %s (attempt %d of slot %s); deleted by cleanup", im.Status, policy.Attempt(img.Tags), img.Tags[policy.TagSlot])
		r.fail(ctx, c, "image-failed", fit, nil, time.Time{})
	}
	if r.pol.DryRun {
		it.Reason = fmt.Sprintf("would delete (%s); snapshots %s", strings.Join(dec.Reasons, "; "), strings.Join(im.SnapshotIDs, ","))
		r.record(ctx, "delete", ResultDryRun, it, nil, time.Time{})
		c.add("planned", it)
		return
	}
	started := time.Now()
	err := r.ecs.DeleteImage(ctx, im.Region, im.ID, false) // never Force: in-use images stay
	switch {
	case err == nil:
		r.record(ctx, "delete", ResultOK, it, nil, started)
	case ecsx.IsNotFound(err):
		it.Reason = "already gone"
		r.record(ctx, "delete", ResultOK, it, nil, started)
	case ecsx.Code(err) == "ImageUsingByInstance":
		it.Reason, it.ErrorCode = "in use by an instance", ecsx.Code(err)
		r.record(ctx, "keep", ResultSkipped, it, nil, started)
		c.addKept(it, keptSourceRegion(im))
		return
	default:
		r.fail(ctx, c, "delete", failure(it, err), err, started)
		return
	}
	c.add("deleted", it)
	// After the image: ECS refuses to delete a snapshot an image references.
	for _, sid := range im.SnapshotIDs {
		sit := Item{Region: im.Region, Instance: im.InstanceID, Image: im.ID, Snapshot: sid}
		if referenced[im.Region+"/"+sid] {
			sit.Reason = "snapshot still referenced by a kept image"
			r.record(ctx, "keep", ResultSkipped, sit, nil, time.Time{})
			c.add("snapshot-left", sit)
			continue
		}
		started := time.Now()
		err := r.ecs.DeleteSnapshot(ctx, im.Region, sid)
		switch {
		case err == nil || ecsx.IsNotFound(err):
			sit.Reason = "snapshot of deleted image"
			r.record(ctx, "delete", ResultOK, sit, nil, started)
			c.add("snapshot-deleted", sit)
		case ecsx.Code(err) == "SnapshotCreatedImage":
			sit.Reason, sit.ErrorCode = "snapshot still used by another image", ecsx.Code(err)
			r.record(ctx, "keep", ResultSkipped, sit, nil, started)
			c.add("snapshot-left", sit)
		default:
			// Tagged as ours before the image went: the next cleanup collects it.
			sit.ErrorCode = ecsx.Code(err)
			sit.Reason = "snapshot left (tagged as ours), the next cleanup deletes it: " + err.Error()
			r.recordAt(ctx, warn, "delete", ResultSkipped, sit, err, started)
			c.add("snapshot-left", sit)
		}
	}
}

// retryRecords are the failed images cleanup keeps: the last failed attempt of an
// (instance, slot) of the current slot, or of a (source image, destination) whose source
// slot is the current one, when nothing live replaced it. It holds the attempt count the
// retry budget is counted from; once the slot is over it is deleted like any failed image.
func (r *run) retryRecords(all []ecsx.Image) map[string]bool {
	current := r.pol.Slot(r.now())
	groups := map[string][]ecsx.Image{}
	for _, im := range all {
		if im.Tags[policy.TagSlot] != current {
			continue
		}
		k := im.Region + "/" + im.Tags[policy.TagSourceInstance] + "/" + current
		if im.Tags[policy.TagRole] == policy.RoleCopy {
			k = im.Region + "/copy/" + im.Tags[policy.TagSourceImage]
		}
		groups[k] = append(groups[k], im)
	}
	out := map[string]bool{}
	for _, imgs := range groups {
		st := attemptsOf(imgs)
		if len(st.live) > 0 || len(st.failed) == 0 {
			continue
		}
		last := st.failed[len(st.failed)-1]
		out[last.Region+"/"+last.ID] = true
	}
	return out
}
