package backup

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// collectSnapshots is the level-triggered half of snapshot cleanup, run first by every
// cleanup: it lists the snapshots tagged as ours (TagManagedBy, TagPolicy) in every
// region and deletes those no image references any more, whoever left them (a run killed
// between DeleteImage and DeleteSnapshot, a DeleteSnapshot that failed, an image deleted
// by hand after its snapshots were claimed). A snapshot is deleted only with proof: our
// tags, no image of the inventory referencing it, and the image named by TagSnapshotOf
// gone (not merely re-tagged by hand). ECS itself refuses a snapshot still used by an
// image or a disk (SnapshotCreatedImage/Disk), which is recorded and left.
//
// It returns the region/id set of our tagged snapshots, so claimSnapshots tags only the
// others. inv must be complete (cleanup refuses to run otherwise).
func (r *run) collectSnapshots(ctx context.Context, inv *inventory, regions []string, c *collector) map[string]bool {
	tagged := map[string]bool{}
	// The regions' listings run in parallel (each region has its own API rate); what is
	// done with them stays one region after another.
	started := time.Now()
	plan := r.bucketPlan(ctx, regions, snapshotMarks) // by bucket where known complete
	lists := make([][]ecsx.Snapshot, len(regions))
	complete := make([]bool, len(regions))
	listErrs := make([]error, len(regions))
	var wg sync.WaitGroup
	for i, region := range regions {
		wg.Go(func() { lists[i], complete[i], listErrs[i] = r.listSnapshots(ctx, region, plan[region], inv) })
	}
	wg.Wait()
	for i, region := range regions {
		snaps, err := lists[i], listErrs[i]
		lists[i] = nil
		if err != nil {
			r.fail(ctx, c, "collect-snapshots", failure(Item{Region: region, Reason: "list our snapshots: " + err.Error()}, err), err, started)
			continue
		}
		if complete[i] {
			r.markBuckets(ctx, region, snapshotMarks)
		}
		referenced := map[string]bool{}
		inInventory := map[string]bool{}
		for _, im := range inv.images[region] {
			inInventory[im.ID] = true
			for _, s := range im.Snapshots {
				referenced[s] = true
			}
		}
		var orphans []ecsx.Snapshot
		owners := map[string]bool{}
		for _, s := range snaps {
			if !managedBy(r.pol, s.Tags) {
				continue // a lax server's filter: never act on what the tags do not prove
			}
			tagged[region+"/"+s.ID] = true
			if referenced[s.ID] {
				continue
			}
			orphans = append(orphans, s)
			if o := s.Tags[policy.TagSnapshotOf]; o != "" && !inInventory[o] {
				owners[o] = true
			}
		}
		if len(orphans) == 0 {
			continue
		}
		// The owner must be gone, not only out of our inventory (re-tagged by hand).
		alive := map[string]ecsx.Image{}
		ids := slices.Sorted(maps.Keys(owners))
		for len(ids) > 0 {
			n := min(len(ids), 100)
			imgs, err := r.ecs.DescribeImages(ctx, region, ecsx.ImageQuery{IDs: ids[:n], Statuses: ecsx.AllImageStatuses})
			if err != nil {
				r.fail(ctx, c, "collect-snapshots", failure(Item{Region: region, Reason: "look up snapshot owners: " + err.Error()}, err), err, started)
				orphans = nil
				break
			}
			for _, im := range imgs {
				alive[im.ID] = im
			}
			ids = ids[n:]
		}
		for _, s := range orphans {
			r.collectOne(ctx, region, s, alive, c)
		}
	}
	return tagged
}

func (r *run) collectOne(ctx context.Context, region string, s ecsx.Snapshot, alive map[string]ecsx.Image, c *collector) {
	owner := s.Tags[policy.TagSnapshotOf]
	it := Item{Region: region, Snapshot: s.ID, Image: owner}
	switch im, ok := alive[owner]; {
	case owner == "":
		it.Reason = "tagged as ours but without " + policy.TagSnapshotOf + " (tag removed by hand?): kept, delete it by hand if unused"
		r.recordAt(ctx, warn, "keep", ResultSkipped, it, nil, time.Time{})
		c.add("snapshot-left", it)
		return
	case ok && managedBy(r.pol, im.Tags):
		// Ours and alive, outside this run's inventory: another shard's image (a snapshot
		// claimed before snapshots carried their instance), or one made after the listing.
		// The former gets its image's instance: its own shard lists it from then on.
		it.Reason = "its image " + owner + " is alive and ours, outside this run's inventory: kept"
		r.recordAt(ctx, debug, "keep", ResultSkipped, it, nil, time.Time{})
		r.attributeSnapshot(ctx, region, s, im)
		return
	case ok:
		it.Reason = "its image still exists (" + im.Status + ") but is not this policy's any more (re-tagged by hand?): kept"
		r.recordAt(ctx, warn, "keep", ResultSkipped, it, nil, time.Time{})
		c.add("snapshot-left", it)
		return
	}
	if r.pol.DryRun {
		it.Reason = "would delete orphaned snapshot of deleted image " + owner
		r.record(ctx, "delete", ResultDryRun, it, nil, time.Time{})
		c.add("planned", it)
		return
	}
	started := time.Now()
	err := r.ecs.DeleteSnapshot(ctx, region, s.ID)
	switch code := ecsx.Code(err); {
	case err == nil || ecsx.IsNotFound(err):
		it.Reason = "orphaned snapshot of deleted image " + owner
		r.record(ctx, "delete", ResultOK, it, nil, started)
		c.add("snapshot-deleted", it)
	case code == "SnapshotCreatedImage" || code == "SnapshotCreatedDisk":
		it.Reason, it.ErrorCode = "snapshot still used by an image or disk that is not ours: kept", code
		r.recordAt(ctx, warn, "keep", ResultSkipped, it, nil, started)
		c.add("snapshot-left", it)
	default:
		it = failure(it, err)
		it.Reason = "orphaned snapshot not deleted, the next cleanup retries: " + it.Reason
		r.fail(ctx, c, "delete", it, err, started)
		c.add("snapshot-left", it)
	}
}

// claimAll tags the untagged snapshots of every managed image as ours, so an image
// deleted later by anyone (a run killed midway, an operator) leaves snapshots the next
// cleanup can prove ours. It returns the images whose snapshots could not be claimed:
// cleanup must not delete those.
func (r *run) claimAll(ctx context.Context, inv *inventory, tagged map[string]bool, c *collector) map[string]bool {
	var todo []ecsx.Image
	for _, im := range inv.all() {
		for _, s := range im.Snapshots {
			if !tagged[im.Region+"/"+s] {
				todo = append(todo, im)
				break
			}
		}
	}
	var unclaimed sync.Map
	each(ctx, r.conc, todo, func(ctx context.Context, im ecsx.Image) {
		if err := r.claimSnapshots(ctx, im, tagged); err != nil {
			unclaimed.Store(im.Region+"/"+im.ID, true)
			it := failure(Item{Region: im.Region, Image: im.ID, Instance: im.Tags[policy.TagSourceInstance], Reason: err.Error()}, err)
			r.fail(ctx, c, "claim-snapshots", it, err, time.Time{})
		}
	})
	out := map[string]bool{}
	unclaimed.Range(func(k, _ any) bool { out[k.(string)] = true; return true })
	return out
}
