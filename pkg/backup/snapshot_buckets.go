package backup

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// Snapshots claimed as ours carry the bucket of their image's instance too (snapshotTags),
// so a shard lists its claimed snapshots by bucket like its images (buckets.go), with
// their own marks (snapshotMarks). Snapshots claimed before they carried an instance have
// no bucket to compute: shard 0 looks after them (snapshotInShard) and keeps listing the
// region in full until none is left, each either attributed to its image's instance or
// collected as an orphan.

// listSnapshots lists the snapshots claimed as ours of the run's shard in region: by
// bucket when buckets is set, otherwise in full, tagging those of the shard that lack
// their bucket (attributing an instance-less one to the instance of its image when this
// run's inventory holds that image). complete reports that the full listing left nothing
// of the shard without its bucket, so its buckets may be marked once the run is done.
func (r *run) listSnapshots(ctx context.Context, region string, buckets []string, inv *inventory) (snaps []ecsx.Snapshot, complete bool, err error) {
	if buckets != nil {
		for _, b := range buckets {
			got, err := r.ecs.DescribeSnapshots(ctx, region, ecsx.SnapshotQuery{
				Tags: managedFilter(r.pol, map[string]string{policy.TagBucket: b}), Keep: r.snapshotInShard})
			if err != nil {
				return nil, false, fmt.Errorf("bucket %s: %w", b, err)
			}
			snaps = append(snaps, got...)
		}
		return snaps, false, nil
	}
	snaps, err = r.ecs.DescribeSnapshots(ctx, region, ecsx.SnapshotQuery{Tags: managedFilter(r.pol, nil), Keep: r.snapshotInShard})
	if err != nil {
		return nil, false, err
	}
	if r.pol.DryRun || !r.pol.BucketTags() {
		return snaps, false, nil
	}
	owners := map[string]string{} // image id -> its instance, for this shard's images
	for _, im := range inv.images[region] {
		owners[im.ID] = im.Tags[policy.TagSourceInstance]
	}
	todo := map[string][]string{}      // bucket -> snapshot ids (instance known)
	attribute := map[string][]string{} // instance -> instance-less snapshot ids
	complete = true
	for _, s := range snaps {
		if !managedBy(r.pol, s.Tags) {
			continue
		}
		inst := s.Tags[policy.TagSourceInstance]
		switch {
		case inst != "":
			if b := policy.BucketOf(inst); s.Tags[policy.TagBucket] != b {
				todo[b] = append(todo[b], s.ID)
			}
		case owners[s.Tags[policy.TagSnapshotOf]] != "":
			attribute[owners[s.Tags[policy.TagSnapshotOf]]] = append(attribute[owners[s.Tags[policy.TagSnapshotOf]]], s.ID)
		default:
			complete = false // shard 0: its image is another shard's, or gone (collectOne)
		}
	}
	tagged := 0
	tag := func(ids []string, tags map[string]string) bool {
		if _, past := pastSoft(ctx); past {
			return false
		}
		n, err := r.tagEach(ctx, region, ecsx.ResourceSnapshot, ids, tags)
		tagged += n
		if err != nil {
			it := failure(Item{Region: region, Reason: fmt.Sprintf("shard buckets: tag %d snapshots with their bucket", len(ids))}, err)
			r.record(ctx, "bucket-tag", ResultFailed, it, err, time.Time{})
			return false
		}
		return true
	}
	ok := true // tagging goes on until a failure or the soft deadline
	for _, b := range slices.Sorted(maps.Keys(todo)) {
		if ok = tag(todo[b], map[string]string{policy.TagBucket: b}); !ok {
			break
		}
	}
	for _, inst := range slices.Sorted(maps.Keys(attribute)) {
		if !ok {
			break
		}
		ok = tag(attribute[inst], map[string]string{policy.TagSourceInstance: inst, policy.TagBucket: policy.BucketOf(inst)})
	}
	complete = complete && ok
	if tagged > 0 {
		r.record(ctx, "bucket-tag", ResultOK, Item{Region: region,
			Reason: fmt.Sprintf("tagged %d snapshots claimed before %s existed with their shard bucket", tagged, policy.TagBucket)}, nil, time.Time{})
	}
	return snaps, complete, nil
}

// attributeSnapshot tags an instance-less snapshot of ours with the instance (and bucket)
// of its image, alive and ours in another shard: from then on that shard lists it.
func (r *run) attributeSnapshot(ctx context.Context, region string, s ecsx.Snapshot, owner ecsx.Image) {
	inst := owner.Tags[policy.TagSourceInstance]
	if inst == "" || s.Tags[policy.TagSourceInstance] != "" || r.pol.DryRun {
		return
	}
	tags := map[string]string{policy.TagSourceInstance: inst}
	r.addBucket(tags, inst)
	if _, err := r.tagEach(ctx, region, ecsx.ResourceSnapshot, []string{s.ID}, tags); err != nil {
		r.recordAt(ctx, warn, "bucket-tag", ResultSkipped, Item{Region: region, Snapshot: s.ID, Image: owner.ID,
			Reason: "snapshot not attributed to its image's instance yet; the next cleanup retries"}, err, time.Time{})
	}
}
