package backup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/catalog"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/events"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// CopySummary is the outcome of HandleEvents or Reconcile.
type CopySummary struct {
	DryRun   bool   `json:"dryRun,omitempty"`
	Rejected []Item `json:"rejected"` // events refused by the filter (acknowledged)
	Copied   []Item `json:"copied"`   // CopyImage accepted: Image is the copy, SourceImage the source
	Planned  []Item `json:"planned"`  // dry run: would be copied
	Skipped  []Item `json:"skipped"`  // not ours, not Available, copy exists…
	Failed   []Item `json:"failed"`
	// CatalogSynced lists the destination regions whose catalog was written.
	CatalogSynced []string `json:"catalogSynced"`
	// Omitted counts the items left out of the lists above, by list (they are bounded).
	Omitted map[string]int `json:"omitted,omitempty"`
}

// HandleEvents acts on EventBridge image events. Events the filter refuses (foreign
// account, forged source, other types, bad ids) are logged as rejected and acknowledged.
// For an Available source image of this policy, it copies the image to every destination
// that has no copy yet; for an Available copy, it updates that destination's catalog.
//
// Errors: only retryable failures (throttling beyond the back-off, 5xx, transport) make
// it return an error, so FC retries; permanent ones (IncorrectImageStatus, quota…) are
// logged as failed and acknowledged, since a retry would fail the same way. Duplicate
// events, in one batch or across invocations, make no second copy.
func (d Deps) HandleEvents(ctx context.Context, evs []events.ImageEvent) (CopySummary, error) {
	r, err := d.start()
	if err != nil {
		return CopySummary{}, err
	}
	f := events.Filter{AccountID: d.AccountID, AcceptedTypes: d.AcceptedTypes}
	var c collector
	seen := map[string]bool{}
	var todo []events.ImageEvent
	for _, ev := range events.Dedupe(evs) {
		it := Item{Region: ev.Region, Image: ev.ImageID, Reason: "event " + ev.ID}
		if err := f.Check(ev); err != nil {
			it.Reason = err.Error()
			r.recordAt(ctx, warn, "reject", ResultSkipped, it, nil, time.Time{})
			c.add("rejected", it)
			continue
		}
		if ev.State != ecsx.StatusAvailable {
			it.Reason = "event state " + ev.State
			r.recordAt(ctx, debug, "skip", ResultSkipped, it, nil, time.Time{})
			c.add("skipped", it)
			continue
		}
		// Two events about one image in one batch (different ids) are one piece of work.
		if k := ev.Region + "/" + ev.ImageID; !seen[k] {
			seen[k] = true
			todo = append(todo, ev)
		}
	}
	syncRegions := map[string]bool{}
	var mu sync.Mutex
	each(ctx, r.conc, todo, func(ctx context.Context, ev events.ImageEvent) {
		if dest := r.handleImage(ctx, ev, &c); dest != "" {
			mu.Lock()
			syncRegions[dest] = true
			mu.Unlock()
		}
	})
	regions := make([]string, 0, len(syncRegions))
	for reg := range syncRegions {
		regions = append(regions, reg)
	}
	sort.Strings(regions)
	// Each Available copy was recorded on its own (recordCopy): no catalog-wide sync here.
	return r.copySummary(&c, regions), failedError("copy image", retryableOnly(c.get("failed")))
}

func (r *run) copySummary(c *collector, synced []string) CopySummary {
	return CopySummary{DryRun: r.pol.DryRun, Rejected: c.get("rejected"), Copied: c.get("copied"), Planned: c.get("planned"),
		Skipped: c.get("skipped"), Failed: c.get("failed"), CatalogSynced: synced, Omitted: c.omitted()}
}

// handleImage looks the event's image up and acts on it; it returns the destination
// region whose catalog needs a sync ("" for none).
func (r *run) handleImage(ctx context.Context, ev events.ImageEvent, c *collector) string {
	it := Item{Region: ev.Region, Image: ev.ImageID}
	started := time.Now()
	// The event is only a hint: what the image is comes from ECS (all statuses, so an
	// image deleted or failed since is seen as such, not as missing).
	imgs, err := r.ecs.DescribeImages(ctx, ev.Region, ecsx.ImageQuery{IDs: []string{ev.ImageID}, Statuses: ecsx.AllImageStatuses})
	if err != nil {
		r.fail(ctx, c, "copy", failure(it, err), err, started)
		return ""
	}
	i := slices.IndexFunc(imgs, func(im ecsx.Image) bool { return im.ID == ev.ImageID })
	if i < 0 {
		it.Reason = "image not found"
		r.record(ctx, "skip", ResultSkipped, it, nil, started)
		c.add("skipped", it)
		return ""
	}
	img := imgs[i]
	img.Region = ev.Region
	if !managedBy(r.pol, img.Tags) {
		it.Reason = "image not managed by this policy"
		r.recordAt(ctx, debug, "skip", ResultSkipped, it, nil, time.Time{})
		c.add("skipped", it)
		return ""
	}
	it.Instance = img.Tags[policy.TagSourceInstance]
	switch role := img.Tags[policy.TagRole]; {
	case role == policy.RoleSource && slices.Contains(r.pol.SourceRegions(), ev.Region):
		if img.Status != ecsx.StatusAvailable {
			// The event said Available but ECS does not (yet): retry later.
			it.Reason, it.Retryable = "event says Available, ECS says "+img.Status, true
			r.fail(ctx, c, "copy", it, nil, started)
			return ""
		}
		r.copyToDestinations(ctx, img, r.pol.Destinations, c)
		return ""
	case role == policy.RoleCopy && slices.Contains(r.pol.DestinationRegions(), ev.Region):
		if img.Status != ecsx.StatusAvailable {
			it.Reason = "copy is " + img.Status
			r.record(ctx, "skip", ResultSkipped, it, nil, started)
			c.add("skipped", it)
			return ""
		}
		if !r.recordCopy(ctx, img, c) {
			return ""
		}
		return ev.Region
	default:
		it.Reason = fmt.Sprintf("role %q in region %s is not one this policy acts on", role, ev.Region)
		r.record(ctx, "skip", ResultSkipped, it, nil, time.Time{})
		c.add("skipped", it)
		return ""
	}
}

// copyToDestinations copies an Available source image to every destination lacking a
// copy. Destinations are done one after another: ECS refuses concurrent copies of one
// image (OperationDenied.ImageCopyConflict) and limits copy tasks per region.
func (r *run) copyToDestinations(ctx context.Context, src ecsx.Image, dests []policy.Destination, c *collector) {
	for _, dest := range dests {
		if dest.Region == src.Region || ctx.Err() != nil {
			continue
		}
		r.copyOne(ctx, src, dest, c)
	}
}

func (r *run) copyOne(ctx context.Context, src ecsx.Image, dest policy.Destination, c *collector) {
	instance := src.Tags[policy.TagSourceInstance]
	it := Item{Region: dest.Region, Instance: instance, SourceImage: src.ID}
	started := time.Now()
	// The lineage tags are the idempotency key: CopyImage has no ClientToken in the SDK, so
	// a copy in any status (Creating, Waiting included) means "done or under way".
	existing, err := r.ecs.DescribeImages(ctx, dest.Region, ecsx.ImageQuery{Statuses: ecsx.AllImageStatuses,
		Tags: managedFilter(r.pol, map[string]string{policy.TagSourceImage: src.ID, policy.TagSourceRegion: src.Region})})
	if err != nil {
		r.fail(ctx, c, "copy", failure(it, err), err, started)
		return
	}
	for _, im := range existing {
		if managedBy(r.pol, im.Tags) && im.Tags[policy.TagSourceImage] == src.ID {
			it.Image, it.Reason = im.ID, "copy exists ("+im.Status+")"
			result := ResultSkipped
			if im.Status == ecsx.StatusCreateFailed || im.Status == ecsx.StatusUnAvailable {
				// Its name blocks a new copy; cleanup removes failed copies, then reconcile retries.
				it.Reason = "previous copy " + im.Status + "; cleanup removes it, reconcile copies again"
				result = ResultFailed
			}
			r.record(ctx, "skip", result, it, nil, time.Time{})
			c.add("skipped", it)
			return
		}
	}
	in := ecsx.CopyImageInput{
		ImageID:           src.ID,
		DestinationRegion: dest.Region,
		Name:              r.pol.CopyName(src.Name, dest.Region),
		Description:       fmt.Sprintf("ecs-image-dr policy %s: copy of %s from %s", r.pol.Name, src.ID, src.Region),
		Encrypted:         dest.Encrypted,
		KMSKeyID:          dest.KMSKeyID,
		Tags: r.pol.ManagedTags(map[string]string{
			policy.TagSourceImage:    src.ID,
			policy.TagSourceInstance: instance,
			policy.TagSourceRegion:   src.Region,
			policy.TagSlot:           src.Tags[policy.TagSlot],
			policy.TagRole:           policy.RoleCopy,
		}),
	}
	if r.pol.DryRun {
		it.Reason = "would copy as " + in.Name
		r.record(ctx, "copy", ResultDryRun, it, nil, time.Time{})
		c.add("planned", it)
		return
	}
	id, err := r.ecs.CopyImage(ctx, src.Region, in)
	if err != nil {
		it = failure(it, err)
		if code := ecsx.Code(err); code == "OperationDenied.ImageCopyConflict" || code == "OperationDenied.ImageCopying" {
			// Another invocation is copying this image right now; the retry finds its copy.
			it.Retryable = true
		}
		r.fail(ctx, c, "copy", it, err, started)
		return
	}
	it.Image = id
	r.record(ctx, "copy", ResultOK, it, nil, started)
	c.add("copied", it)
}

// Reconcile copies every Available source image of the policy that some destination
// lacks, through the same path as an event, so a lost or failed event is harmless. Only
// images newer than the newest copy of their instance in that destination are copied:
// older ones were copied before and removed there by retention, and must not come back.
// It then syncs every destination's catalog.
func (d Deps) Reconcile(ctx context.Context) (CopySummary, error) {
	r, err := d.start()
	if err != nil {
		return CopySummary{}, err
	}
	var c collector
	inv, err := r.inventory(ctx, policyRegions(r.pol))
	if err != nil {
		return CopySummary{DryRun: r.pol.DryRun}, fmt.Errorf("reconcile: %w", err)
	}
	// newest copied slot per destination and instance
	copied := map[string]string{}
	hasCopy := map[string]bool{} // dest + source image id
	for _, im := range inv.all() {
		if im.Tags[policy.TagRole] != policy.RoleCopy {
			continue
		}
		hasCopy[im.Region+"/"+im.Tags[policy.TagSourceImage]] = true
		if im.Status == ecsx.StatusCreateFailed || im.Status == ecsx.StatusUnAvailable {
			continue // a failed copy must not make its slot count as copied once cleanup removed it
		}
		k := im.Region + "/" + im.Tags[policy.TagSourceInstance]
		copied[k] = max(copied[k], im.Tags[policy.TagSlot])
	}
	type job struct {
		img   ecsx.Image
		dests []policy.Destination
	}
	var todo []job
	for _, region := range r.pol.SourceRegions() {
		for _, im := range inv.images[region] {
			if im.Tags[policy.TagRole] != policy.RoleSource || im.Status != ecsx.StatusAvailable {
				continue
			}
			j := job{img: im}
			for _, dest := range r.pol.Destinations {
				if dest.Region == region || hasCopy[dest.Region+"/"+im.ID] {
					continue
				}
				if newest := copied[dest.Region+"/"+im.Tags[policy.TagSourceInstance]]; newest != "" && newest >= im.Tags[policy.TagSlot] {
					continue
				}
				j.dests = append(j.dests, dest)
			}
			if len(j.dests) > 0 {
				todo = append(todo, j)
			}
		}
	}
	each(ctx, r.conc, todo, func(ctx context.Context, j job) {
		r.copyToDestinations(ctx, j.img, j.dests, &c)
	})
	synced := r.syncCatalogs(ctx, r.pol.DestinationRegions(), inv, false, &c)
	return r.copySummary(&c, synced), failedError("reconcile copy", retryableOnly(c.get("failed")))
}

// inventory is every managed image of the policy, per region, all statuses.
type inventory struct {
	images map[string][]ecsx.Image
}

func (inv *inventory) all() []ecsx.Image {
	var out []ecsx.Image
	for _, imgs := range inv.images {
		out = append(out, imgs...)
	}
	return out
}

func (r *run) inventory(ctx context.Context, regions []string) (*inventory, error) {
	inv := &inventory{images: map[string][]ecsx.Image{}}
	var errs []error
	for _, region := range regions {
		imgs, err := r.ecs.DescribeImages(ctx, region, ecsx.ImageQuery{Statuses: ecsx.AllImageStatuses, Tags: managedFilter(r.pol, nil)})
		if err != nil {
			errs = append(errs, fmt.Errorf("list images in %s: %w", region, err))
			continue
		}
		for _, im := range imgs {
			if managedBy(r.pol, im.Tags) {
				im.Region = region
				inv.images[region] = append(inv.images[region], im)
			}
		}
	}
	return inv, errors.Join(errs...)
}

// syncCatalogs writes the catalog of each destination region: the newest Available
// managed image per instance in every region of the policy. inv may be nil (it is then
// listed). Failures are logged and recorded (retryable), never fatal to the copies.
func (r *run) syncCatalogs(ctx context.Context, dests []string, inv *inventory, removeMissing bool, c *collector) []string {
	if r.Catalog == nil || len(dests) == 0 || r.pol.DryRun {
		return nil
	}
	if inv == nil {
		var err error
		if inv, err = r.inventory(ctx, policyRegions(r.pol)); err != nil {
			it := failure(Item{Region: dests[0], Reason: "catalog: " + err.Error()}, err)
			it.Retryable = true
			r.fail(ctx, c, "catalog", it, err, time.Time{})
			return nil
		}
	}
	entries := r.catalogEntries(inv)
	var synced []string
	for _, dest := range dests {
		started := time.Now()
		it := Item{Region: dest, Reason: fmt.Sprintf("%d entries", len(entries))}
		if err := r.Catalog.Sync(ctx, dest, r.pol.Name, entries, removeMissing); err != nil {
			it.Reason, it.Retryable = "catalog sync: "+err.Error(), true
			r.fail(ctx, c, "catalog", it, err, started)
			continue
		}
		r.record(ctx, "catalog", ResultOK, it, nil, started)
		synced = append(synced, dest)
	}
	return synced
}

// catalogEntries computes, from tags, the newest Available image per instance and region.
// RPOSeconds is UpdatedAt minus the creation time of the source image (the moment the
// protected data was captured), an upper bound of the RPO achieved.
func (r *run) catalogEntries(inv *inventory) []catalog.Entry {
	now := r.now().UTC()
	created := map[string]time.Time{} // source image id -> creation
	for _, im := range inv.all() {
		if im.Tags[policy.TagRole] == policy.RoleSource {
			created[im.ID] = im.Created
		}
	}
	newest := map[string]ecsx.Image{}
	for _, im := range inv.all() {
		inst := im.Tags[policy.TagSourceInstance]
		if im.Status != ecsx.StatusAvailable || inst == "" {
			continue
		}
		k := im.Region + "/" + inst
		if cur, ok := newest[k]; !ok || im.Created.After(cur.Created) || im.Created.Equal(cur.Created) && im.ID < cur.ID {
			newest[k] = im
		}
	}
	keys := make([]string, 0, len(newest))
	for k := range newest {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]catalog.Entry, 0, len(keys))
	for _, k := range keys {
		im := newest[k]
		e := catalog.Entry{Policy: r.pol.Name, InstanceID: im.Tags[policy.TagSourceInstance], Region: im.Region,
			ImageID: im.ID, ImageName: im.Name, Role: im.Tags[policy.TagRole], SourceImageID: im.Tags[policy.TagSourceImage],
			SourceRegion: im.Tags[policy.TagSourceRegion], Slot: im.Tags[policy.TagSlot], CreationTime: im.Created,
			SizeGiB: im.SizeGiB, Tags: im.Tags, UpdatedAt: now}
		srcCreated := im.Created
		if t, ok := created[e.SourceImageID]; ok {
			srcCreated = t
		}
		if e.Role == policy.RoleSource {
			e.SourceImageID = ""
		}
		e.DataTime = srcCreated
		e.RPOSeconds = int64(now.Sub(srcCreated) / time.Second)
		out = append(out, e)
	}
	return out
}
