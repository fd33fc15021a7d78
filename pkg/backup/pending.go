package backup

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// Frequent, cheap reconcile. Work that is not finished is marked on the image itself
// (policy.TagPending), so finding it costs one listing per region whatever the fleet's
// size: CreateImage tags every new source image pending=copy, CopyImage tags every copy
// pending=catalog. The copy path (an event, the pending run or the daily Reconcile)
// removes the marker once nothing is left to do: for a source, when every destination is
// settled (it holds a copy, or newer data, or the copy will never be made); for a copy,
// once its catalog entry is written. The marker is only a hint that work may remain: what
// to do is always decided from ECS, so a marker left behind (a killed run, a lost untag)
// costs one more look, and a marker lost (removed by hand) is covered by the daily
// Reconcile.

// ReconcilePending finishes the work the markers point at: per source region one
// DescribeImages of the policy's images marked pending=copy (all statuses), per
// destination region one of those marked pending=catalog, and then, through the same
// paths as an event:
//   - a copy that is Available gets its catalog entry (one small Put) and loses its
//     marker; a failed copy is deleted and copied again (within the retry budget); a copy
//     in progress is left for the next run;
//   - an Available source is copied to every destination lacking a copy, oldest data
//     first per instance, under the data-age guard (never older data after newer), and
//     loses its marker once every destination is settled; a failed source of the current
//     slot gets its next attempt; a source in progress is left for the next run.
//
// When nothing is pending it makes exactly one ECS call per region of the policy. It is
// deadline-aware like the other services, and more: it starts no new image past
// PendingBudget from its start (or the invocation's soft deadline, if earlier), so runs of
// a 5-minute timer do not overlap; what it left is logged, not an error (an FC retry would
// only overlap the next tick), since the markers carry it to the next run.
// Errors: like Reconcile, only retryable failures make it return an error.
func (d Deps) ReconcilePending(ctx context.Context) (CopySummary, error) {
	r, err := d.start()
	if err != nil {
		return CopySummary{}, err
	}
	if sd, ok := ctx.Value(softKey{}).(*softDeadline); ok {
		// A soft deadline of its own, on the invocation's clock; it shadows the
		// invocation's, so what it leaves is not the invocation's remaining work.
		at := sd.now().Add(PendingBudget)
		if sd.at.Before(at) {
			at = sd.at
		}
		ctx = WithSoftDeadline(ctx, at, sd.now)
		defer func() {
			if left := Remaining(ctx); len(left) > 0 {
				r.recordAt(ctx, warn, "pending", ResultSkipped, Item{Reason: fmt.Sprintf("run budget reached: not started %v; "+
					"their markers carry them to the next run", left)}, nil, time.Time{})
			}
		}()
	}
	var c collector
	sources := r.pendingImages(ctx, r.pol.SourceRegions(), policy.PendingCopy, &c)
	copies := r.pendingImages(ctx, r.pol.DestinationRegions(), policy.PendingCatalog, &c)
	// Settled markers are removed 50 at a time (one UntagResources per batch and region),
	// as batches fill and at the end: a run killed before a batch went out only costs
	// the next run one more look at those images.
	done := &markerBatch{r: r, c: &c, byRegion: map[string][]ecsx.Image{}}

	// Copies first: recopying a failed copy and copying its source in the same pass would
	// race (ECS refuses concurrent copies of one image).
	var mu sync.Mutex
	synced := map[string]bool{}
	// Region by region in parallel (each has its own rate budget), r.conc at a time in each.
	eachRegion(ctx, r.conc, copies, func(im ecsx.Image) string { return im.Region }, func(ctx context.Context, im ecsx.Image) {
		if r.settleCopy(ctx, im, done, &c) {
			mu.Lock()
			synced[im.Region] = true
			mu.Unlock()
		}
	})

	// Sources: one work item per instance and region, so its images go oldest data first.
	groups := map[[2]string][]ecsx.Image{}
	for _, im := range sources {
		k := [2]string{im.Region, im.Tags[policy.TagSourceInstance]}
		groups[k] = append(groups[k], im)
	}
	var todo []pendingGroup
	for _, k := range slices.SortedFunc(maps.Keys(groups), func(a, b [2]string) int {
		return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1]))
	}) {
		todo = append(todo, pendingGroup{region: k[0], instance: k[1], images: groups[k]})
	}
	eachRegion(ctx, r.conc, todo, func(g pendingGroup) string { return g.region },
		func(ctx context.Context, g pendingGroup) { r.settleSources(ctx, g, done, &c) })
	done.flush(ctx)

	return r.copySummary(&c, slices.Sorted(maps.Keys(synced))), failedError("pending copy", retryableOnly(c.get("failed")))
}

// PendingBudget bounds one pending run: past it no new image is started (the copy-image
// timer runs it every 5 minutes, so one run never overlaps the next).
const PendingBudget = 4 * time.Minute

// pendingGroup is the marked source images of one instance in one region.
type pendingGroup struct {
	region, instance string
	images           []ecsx.Image
}

// pendingImages lists the policy's images marked TagPending=value in each region (all
// statuses). A region that cannot be listed is recorded as failed (retryable); the
// others go on.
func (r *run) pendingImages(ctx context.Context, regions []string, value string, c *collector) []ecsx.Image {
	var out []ecsx.Image
	for _, region := range regions {
		started := time.Now()
		imgs, err := r.ecs.DescribeImages(ctx, region, ecsx.ImageQuery{Statuses: ecsx.AllImageStatuses,
			Tags: managedFilter(r.pol, map[string]string{policy.TagPending: value})})
		if err != nil {
			it := failure(Item{Region: region}, err)
			it.Reason = "list images pending " + value + ": " + it.Reason
			r.fail(ctx, c, "pending", it, err, started)
			continue
		}
		n := 0
		for _, im := range imgs {
			// The tag filter is the server's; check again so a lax server cannot widen it.
			if managedBy(r.pol, im.Tags) && im.Tags[policy.TagPending] == value {
				im.Region = region
				out = append(out, im)
				n++
			}
		}
		r.recordAt(ctx, debug, "pending", ResultOK, Item{Region: region, Reason: fmt.Sprintf("%d images pending %s", n, value)}, nil, started)
	}
	return out
}

// settleCopy acts on one copy marked pending=catalog; it reports whether its catalog
// entry was written.
func (r *run) settleCopy(ctx context.Context, im ecsx.Image, done *markerBatch, c *collector) bool {
	it := Item{Region: im.Region, Instance: im.Tags[policy.TagSourceInstance], Image: im.ID, SourceImage: im.Tags[policy.TagSourceImage]}
	switch {
	case im.Tags[policy.TagRole] != policy.RoleCopy || !slices.Contains(r.pol.DestinationRegions(), im.Region):
		it.Reason = "marked pending catalog but not a copy in a destination of the policy; marker removed"
		r.recordAt(ctx, warn, "pending", ResultSkipped, it, nil, time.Time{})
		c.add("skipped", it)
		r.clearMarker(ctx, im, c)
		return false
	case isFailed(im.Status):
		r.recopy(ctx, im, c) // deletes it (copied again when its source is Available) or keeps the record unmarked
		return false
	case im.Status == ecsx.StatusAvailable:
		// Its snapshots are claimed as ours here, as on the event path (one TagResources): at
		// 20,000 instances most copies come this way, and left to the next cleanup their
		// claims took most of each cleanup shard's 600 s (a failure is left to cleanup).
		r.claimSeen(ctx, im)
		if r.Catalog == nil {
			done.add(ctx, im) // no catalog to write
			return false
		}
		if !r.recordCopy(ctx, im, c) {
			return false // failed (recorded as retryable) or dry run: the marker stays
		}
		done.add(ctx, im)
		return true
	}
	it.Reason = "copy is " + im.Status + "; the next run looks again"
	r.recordAt(ctx, debug, "pending", ResultSkipped, it, nil, time.Time{})
	c.add("skipped", it)
	return false
}

// settleSources acts on the marked source images of one instance: oldest data first.
func (r *run) settleSources(ctx context.Context, g pendingGroup, done *markerBatch, c *collector) {
	imgs := slices.Clone(g.images)
	slices.SortFunc(imgs, func(a, b ecsx.Image) int { return r.compareData(a, b, nil) })
	revived := map[string]bool{}
	for _, im := range imgs {
		if ctx.Err() != nil {
			return
		}
		it := Item{Region: im.Region, Instance: g.instance, Image: im.ID}
		switch {
		case im.Tags[policy.TagRole] != policy.RoleSource:
			it.Reason = "marked pending copy but not a source image; marker removed"
			r.recordAt(ctx, warn, "pending", ResultSkipped, it, nil, time.Time{})
			c.add("skipped", it)
			r.clearMarker(ctx, im, c)
		case isFailed(im.Status):
			// The next attempt of the current slot (marked itself), or the failed ones
			// deleted; the last failed one of a used-up budget stays unmarked.
			if slot := im.Tags[policy.TagSlot]; !revived[slot] {
				revived[slot] = true
				r.reviveSource(ctx, im.Region, g.instance, slot, c)
			}
		case im.Status == ecsx.StatusAvailable:
			r.claimSeen(ctx, im) // as on the event path (see settleCopy)
			if r.copyToDestinations(ctx, im, r.pol.Destinations, c) {
				done.add(ctx, im)
			}
		case im.Status == ecsx.StatusCreating || im.Status == ecsx.StatusWaiting:
			it.Reason = "source is " + im.Status + "; the next run looks again"
			r.recordAt(ctx, debug, "pending", ResultSkipped, it, nil, time.Time{})
			c.add("skipped", it)
		default:
			it.Reason = "source is " + im.Status + ": it will not be copied; marker removed"
			r.record(ctx, "pending", ResultSkipped, it, nil, time.Time{})
			c.add("skipped", it)
			r.clearMarker(ctx, im, c)
		}
	}
}

// clearMarker removes the pending marker of an image that has one (one UntagResources);
// it reports whether the image is now unmarked. An image already gone counts as done. A
// failure only costs the next run one more look, so it is logged, not failed.
func (r *run) clearMarker(ctx context.Context, im ecsx.Image, c *collector) bool {
	if _, ok := im.Tags[policy.TagPending]; !ok {
		return true
	}
	if r.pol.DryRun {
		return false
	}
	started := time.Now()
	it := Item{Region: im.Region, Instance: im.Tags[policy.TagSourceInstance], Image: im.ID, SourceImage: im.Tags[policy.TagSourceImage]}
	err := r.ecs.UntagResources(ctx, im.Region, ecsx.ResourceImage, []string{im.ID}, []string{policy.TagPending})
	if err != nil && !ecsx.IsNotFound(err) {
		it.Reason, it.ErrorCode = "pending marker left; the next run looks again", ecsx.Code(err)
		r.recordAt(ctx, warn, "pending", ResultSkipped, it, err, started)
		return false
	}
	it.Reason = "pending " + im.Tags[policy.TagPending] + " done: marker removed"
	r.recordAt(ctx, debug, "pending", ResultOK, it, nil, started)
	return true
}

// clearMarkers removes the pending marker of many images of one region (UntagResources
// takes 50 at a time, all or nothing: a batch refused because one image is gone is done
// one by one). Failures are logged: the next run looks again.
func (r *run) clearMarkers(ctx context.Context, region string, imgs []ecsx.Image, c *collector) int {
	if r.pol.DryRun || len(imgs) == 0 {
		return 0
	}
	done := 0
	for start := 0; start < len(imgs); start += 50 {
		batch := imgs[start:min(start+50, len(imgs))]
		ids := make([]string, len(batch))
		for i, im := range batch {
			ids[i] = im.ID
		}
		err := r.ecs.UntagResources(ctx, region, ecsx.ResourceImage, ids, []string{policy.TagPending})
		switch {
		case err == nil:
			done += len(batch)
		case ecsx.IsNotFound(err):
			for _, im := range batch {
				if r.clearMarker(ctx, im, c) {
					done++
				}
			}
		default:
			r.recordAt(ctx, warn, "pending", ResultSkipped, Item{Region: region, ErrorCode: ecsx.Code(err),
				Reason: fmt.Sprintf("%d pending markers left; the next run looks again", len(batch))}, err, time.Time{})
		}
	}
	if done > 0 {
		r.record(ctx, "pending", ResultOK, Item{Region: region, Reason: fmt.Sprintf("%d pending markers removed: their work is done", done)}, nil, time.Time{})
	}
	return done
}

// markerBatch collects the images whose marker can go and removes the markers 50 at a
// time per region.
type markerBatch struct {
	r        *run
	c        *collector
	mu       sync.Mutex
	byRegion map[string][]ecsx.Image
}

func (b *markerBatch) add(ctx context.Context, im ecsx.Image) {
	b.mu.Lock()
	b.byRegion[im.Region] = append(b.byRegion[im.Region], im)
	var full []ecsx.Image
	if len(b.byRegion[im.Region]) >= 50 {
		full, b.byRegion[im.Region] = b.byRegion[im.Region], nil
	}
	b.mu.Unlock()
	if full != nil {
		b.r.clearMarkers(ctx, im.Region, full, b.c)
	}
}

func (b *markerBatch) flush(ctx context.Context) {
	b.mu.Lock()
	all := b.byRegion
	b.byRegion = map[string][]ecsx.Image{}
	b.mu.Unlock()
	for _, region := range slices.Sorted(maps.Keys(all)) {
		b.r.clearMarkers(ctx, region, all[region], b.c)
	}
}

// withoutMarker returns tags without the pending marker (the catalog records what an
// image is, not the work that was pending on it).
func withoutMarker(tags map[string]string) map[string]string {
	if _, ok := tags[policy.TagPending]; !ok {
		return tags
	}
	out := maps.Clone(tags)
	delete(out, policy.TagPending)
	return out
}
