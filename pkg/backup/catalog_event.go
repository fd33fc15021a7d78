package backup

import (
	"context"
	"slices"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/catalog"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// recordCopy writes the catalog entry of one copy that became Available: one small object
// in its region's catalog, whatever the fleet's size (no inventory listing). The data time
// (and so the RPO) comes from the source image, looked up by id in its region (one
// DescribeImages); a source already gone leaves the copy's own creation time, an upper
// bound of the data's age. It reports whether the entry was recorded; a failure is
// recorded as retryable so the event is retried.
func (r *run) recordCopy(ctx context.Context, img ecsx.Image, c *collector) bool {
	if r.Catalog == nil || r.pol.DryRun {
		return false
	}
	started := time.Now()
	now := r.now().UTC()
	e := catalog.Entry{Policy: r.pol.Name, InstanceID: img.Tags[policy.TagSourceInstance], Region: img.Region,
		ImageID: img.ID, ImageName: img.Name, Role: policy.RoleCopy, SourceImageID: img.Tags[policy.TagSourceImage],
		SourceRegion: img.Tags[policy.TagSourceRegion], Slot: img.Tags[policy.TagSlot], CreationTime: img.Created,
		SizeGiB: img.SizeGiB, Tags: withoutMarker(img.Tags), UpdatedAt: now}
	dataTime := img.Created
	if _, ok := img.Tags[policy.TagDataTime]; ok {
		dataTime = r.dataTime(img, nil) // the lineage tag carries the source's creation time
	} else if e.SourceImageID != "" && e.SourceRegion != "" {
		srcs, err := r.ecs.DescribeImages(ctx, e.SourceRegion, ecsx.ImageQuery{IDs: []string{e.SourceImageID}, Statuses: ecsx.AllImageStatuses})
		if err != nil {
			it := failure(Item{Region: img.Region, Instance: e.InstanceID, Image: img.ID, SourceImage: e.SourceImageID}, err)
			it.Reason = "catalog: look up source image: " + it.Reason
			r.fail(ctx, c, "catalog", it, err, started)
			return false
		}
		if i := slices.IndexFunc(srcs, func(im ecsx.Image) bool { return im.ID == e.SourceImageID }); i >= 0 && !srcs[i].Created.IsZero() {
			dataTime = srcs[i].Created
		}
	}
	e.DataTime = dataTime
	e.RPOSeconds = int64(now.Sub(dataTime) / time.Second)
	it := Item{Region: img.Region, Instance: e.InstanceID, Image: img.ID, SourceImage: e.SourceImageID, Reason: "catalog entry"}
	if err := r.Catalog.Put(ctx, img.Region, r.pol.Name, e); err != nil {
		it.Reason, it.Retryable = "catalog put: "+err.Error(), true
		r.fail(ctx, c, "catalog", it, err, started)
		return false
	}
	r.record(ctx, "catalog", ResultOK, it, nil, started)
	return true
}
