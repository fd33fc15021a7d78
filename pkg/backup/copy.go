package backup

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
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
// that has no copy yet (nor a copy of newer data); for an Available copy, it updates that
// destination's catalog. A source that ended CreateFailed/UnAvailable is recorded as
// failed, replaced by the next attempt when its slot is the current one (within the retry
// budget) and deleted; a failed copy is deleted and copied again.
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
		if ev.State != ecsx.StatusAvailable && !isFailed(ev.State) {
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
		switch {
		case isFailed(img.Status):
			r.reviveSource(ctx, ev.Region, it.Instance, img.Tags[policy.TagSlot], c)
			return ""
		case img.Status != ecsx.StatusAvailable:
			if isFailed(ev.State) { // ECS disagrees with a failure event: nothing to do now
				it.Reason = "event says " + ev.State + ", ECS says " + img.Status
				r.record(ctx, "skip", ResultSkipped, it, nil, started)
				c.add("skipped", it)
				return ""
			}
			// The event said Available but ECS does not (yet): retry later.
			it.Reason, it.Retryable = "event says Available, ECS says "+img.Status, true
			r.fail(ctx, c, "copy", it, nil, started)
			return ""
		}
		r.claimSeen(ctx, img)
		if r.copyToDestinations(ctx, img, r.pol.Destinations, c) {
			r.clearMarker(ctx, img, c)
		}
		return ""
	case role == policy.RoleCopy && slices.Contains(r.pol.DestinationRegions(), ev.Region):
		if isFailed(img.Status) {
			r.recopy(ctx, img, c)
			return ""
		}
		if img.Status == ecsx.StatusAvailable {
			r.claimSeen(ctx, img)
		}
		if img.Status != ecsx.StatusAvailable {
			it.Reason = "copy is " + img.Status
			r.record(ctx, "skip", ResultSkipped, it, nil, started)
			c.add("skipped", it)
			return ""
		}
		if !r.recordCopy(ctx, img, c) {
			return ""
		}
		r.clearMarker(ctx, img, c)
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
// image (OperationDenied.ImageCopyConflict) and limits copy tasks per region. It reports
// whether every destination is settled (see copyOne): the source's pending marker may go.
func (r *run) copyToDestinations(ctx context.Context, src ecsx.Image, dests []policy.Destination, c *collector) bool {
	settled := true
	for _, dest := range dests {
		if dest.Region == src.Region {
			continue
		}
		if ctx.Err() != nil {
			settled = false
			continue
		}
		settled = r.copyOne(ctx, src, dest, c) && settled
	}
	return settled
}

// copyOne copies src to dest unless a copy exists or dest holds newer data. It reports
// whether dest is settled for src: a copy was accepted or exists, newer data is there, or
// the copy budget is used up (it will never be copied there). A failure, a quota stop or
// a dry run leave it unsettled, so a later run tries again.
func (r *run) copyOne(ctx context.Context, src ecsx.Image, dest policy.Destination, c *collector) bool {
	instance := src.Tags[policy.TagSourceInstance]
	it := Item{Region: dest.Region, Instance: instance, SourceImage: src.ID}
	started := time.Now()
	if code := r.copyBlocked(dest.Region); code != "" {
		it.Reason, it.ErrorCode = "not tried: the destination's image quota is exceeded (see the failed record)", code
		r.recordAt(ctx, debug, "copy", ResultSkipped, it, nil, time.Time{})
		c.add("skipped", it)
		return false
	}
	// The lineage tags are the idempotency key: CopyImage has no ClientToken in the SDK, so
	// a copy in any status (Creating, Waiting included) means "done or under way". All the
	// instance's copies in the destination are listed: they also say whether newer data is
	// already there.
	existing, err := r.ecs.DescribeImages(ctx, dest.Region, ecsx.ImageQuery{Statuses: ecsx.AllImageStatuses,
		Tags: managedFilter(r.pol, map[string]string{policy.TagSourceInstance: instance, policy.TagSourceRegion: src.Region})})
	if err != nil {
		r.fail(ctx, c, "copy", failure(it, err), err, started)
		return false
	}
	var mine []ecsx.Image
	var newer *ecsx.Image
	srcCreated := map[string]time.Time{src.ID: src.Created}
	for _, im := range existing {
		if !managedBy(r.pol, im.Tags) || im.Tags[policy.TagRole] != policy.RoleCopy {
			continue
		}
		im.Region = dest.Region
		switch {
		case im.Tags[policy.TagSourceImage] == src.ID:
			mine = append(mine, im)
		case !isFailed(im.Status) && r.compareData(im, src, srcCreated) > 0:
			if newer == nil || r.compareData(im, *newer, srcCreated) > 0 {
				cp := im
				newer = &cp
			}
		}
	}
	st := attemptsOf(mine)
	switch {
	case len(st.live) > 0:
		it.Image, it.Reason = st.live[0].ID, "copy exists ("+st.live[0].Status+")"
		r.record(ctx, "skip", ResultSkipped, it, nil, time.Time{})
		c.add("skipped", it)
		for _, f := range st.failed {
			r.retireFailed(ctx, f, "replaced by "+st.live[0].ID, c)
		}
		return true
	case newer != nil:
		// A delayed event or a retried invocation must not bring older data after newer.
		it.Reason = fmt.Sprintf("older than what is already copied: %s holds data from %s",
			newer.ID, r.dataTime(*newer, srcCreated).Format(time.RFC3339))
		r.record(ctx, "skip", ResultSkipped, it, nil, time.Time{})
		c.add("skipped", it)
		for _, f := range st.failed {
			r.retireFailed(ctx, f, "newer data is already copied; not retried", c)
		}
		return true
	}
	n := st.next()
	if n == 0 {
		r.recordExhausted(ctx, st, c)
		return true
	}
	in := ecsx.CopyImageInput{
		ImageID:           src.ID,
		DestinationRegion: dest.Region,
		Name:              policy.AttemptName(r.pol.CopyName(src.Name, dest.Region), n),
		Description:       fmt.Sprintf("ecs-image-dr policy %s: copy of %s from %s, attempt %d", r.pol.Name, src.ID, src.Region, n),
		Encrypted:         dest.Encrypted,
		KMSKeyID:          dest.KMSKeyID,
		Tags: r.pol.ManagedTags(map[string]string{
			policy.TagSourceImage:    src.ID,
			policy.TagSourceInstance: instance,
			policy.TagSourceRegion:   src.Region,
			policy.TagSlot:           src.Tags[policy.TagSlot],
			policy.TagRole:           policy.RoleCopy,
			policy.TagAttempt:        strconv.Itoa(n),
			policy.TagDataTime:       r.dataTime(src, nil).Format(time.RFC3339),
			policy.TagPending:        policy.PendingCatalog, // until its catalog entry is written
		}),
	}
	r.addBucket(in.Tags, instance)
	if r.pol.DryRun {
		it.Reason = "would copy as " + in.Name
		r.record(ctx, "copy", ResultDryRun, it, nil, time.Time{})
		c.add("planned", it)
		return false
	}
	id, err := r.ecs.CopyImage(ctx, src.Region, in)
	if ecsx.IsDuplicateName(err) {
		// A copy whose CopyImage answer was lost (timeout, kill) but which ECS made: adopt
		// it when its lineage tags prove it is the copy of this very source.
		id, err = r.adoptByName(ctx, dest.Region, in.Name, map[string]string{policy.TagSourceImage: src.ID, policy.TagRole: policy.RoleCopy}, err)
		if err == nil {
			it.Reason = "adopted the existing copy named " + in.Name
		}
	}
	if err != nil {
		it = failure(it, err)
		switch code := ecsx.Code(err); {
		case code == "OperationDenied.ImageCopyConflict" || code == "OperationDenied.ImageCopying":
			// Another invocation is copying this image right now; the retry finds its copy.
			it.Retryable = true
		case ecsx.IsQuotaExceeded(err):
			if !r.blockCopies(dest.Region, code) {
				it.Reason = "not copied: the destination's image quota is exceeded (see the failed record)"
				r.recordAt(ctx, debug, "copy", ResultSkipped, it, err, started)
				c.add("skipped", it)
				return false
			}
			it.Reason = "image quota exceeded in " + dest.Region + ": no further copies there this run: " + err.Error()
		}
		r.fail(ctx, c, "copy", it, err, started)
		return false
	}
	it.Image = id
	r.record(ctx, "copy", ResultOK, it, nil, started)
	c.add("copied", it)
	for _, f := range st.failed {
		r.retireFailed(ctx, f, fmt.Sprintf("replaced by attempt %d (%s)", n, id), c)
	}
	return true
}

// recopy handles a copy that ended failed: when its source is still Available it is
// copied again (copyOne replaces and deletes the failed copy, within the retry budget);
// otherwise the failed copy is only recorded and deleted.
func (r *run) recopy(ctx context.Context, failed ecsx.Image, c *collector) {
	srcID, srcRegion := failed.Tags[policy.TagSourceImage], failed.Tags[policy.TagSourceRegion]
	dest, ok := r.destination(failed.Region)
	if srcID != "" && srcRegion != "" && ok {
		imgs, err := r.ecs.DescribeImages(ctx, srcRegion, ecsx.ImageQuery{IDs: []string{srcID}, Statuses: ecsx.AllImageStatuses})
		if err != nil {
			r.fail(ctx, c, "copy", failure(Item{Region: failed.Region, Image: failed.ID, SourceImage: srcID}, err), err, time.Time{})
			return
		}
		for _, src := range imgs {
			if src.ID == srcID && src.Status == ecsx.StatusAvailable && managedBy(r.pol, src.Tags) {
				src.Region = srcRegion
				r.copyOne(ctx, src, dest, c)
				return
			}
		}
	}
	r.retireFailed(ctx, failed, "its source is gone or not Available; not copied again", c)
}

func (r *run) destination(region string) (policy.Destination, bool) {
	for _, d := range r.pol.Destinations {
		if d.Region == region {
			return d, true
		}
	}
	return policy.Destination{}, false
}

// reviveSource handles a source image of (instance, slot) that ended failed: in the current
// slot the next attempt is made (within the budget) and the failed ones deleted; for a
// slot that is over they are only recorded and deleted (the next slot makes a new image).
func (r *run) reviveSource(ctx context.Context, region, instance, slot string, c *collector) {
	it := Item{Region: region, Instance: instance}
	imgs, err := r.ecs.DescribeImages(ctx, region, ecsx.ImageQuery{Statuses: ecsx.AllImageStatuses,
		Tags: managedFilter(r.pol, map[string]string{policy.TagSourceInstance: instance, policy.TagSlot: slot, policy.TagRole: policy.RoleSource})})
	if err != nil {
		r.fail(ctx, c, "create", failure(it, err), err, time.Time{})
		return
	}
	var mine []ecsx.Image
	for _, im := range imgs {
		if managedBy(r.pol, im.Tags) && im.Tags[policy.TagSourceInstance] == instance && im.Tags[policy.TagSlot] == slot {
			im.Region = region
			mine = append(mine, im)
		}
	}
	st := attemptsOf(mine)
	if len(st.live) > 0 || slot != r.pol.Slot(r.now()) {
		why := "slot " + slot + " is over; the next slot makes a new image"
		if len(st.live) > 0 {
			why = "replaced by " + st.live[0].ID
		}
		for _, f := range st.failed {
			r.retireFailed(ctx, f, why, c)
		}
		return
	}
	if st.next() == 0 {
		r.recordExhausted(ctx, st, c)
		return
	}
	insts, err := r.ecs.DescribeInstances(ctx, region, ecsx.InstanceQuery{IDs: []string{instance}})
	if err != nil {
		r.fail(ctx, c, "create", failure(it, err), err, time.Time{})
		return
	}
	i := slices.IndexFunc(insts, func(in ecsx.Instance) bool { return in.ID == instance })
	var why string
	switch {
	case i < 0:
		why = "instance not found; not retried"
	case insts[i].Status != ecsx.InstanceRunning && insts[i].Status != ecsx.InstanceStopped:
		why = "instance status " + insts[i].Status + "; not retried"
	case insts[i].Locked:
		why = "instance locked; not retried"
	default:
		if ok, reason := r.pol.Selects(region, instance, insts[i].Tags); !ok {
			why = "instance no longer selected (" + reason + "); not retried"
		}
	}
	if why != "" {
		for _, f := range st.failed {
			r.retireFailed(ctx, f, why, c)
		}
		return
	}
	r.createOne(ctx, region, slot, insts[i], st, &quotaGate{}, c)
}

// Reconcile copies every Available source image of the policy that some destination
// lacks, through the same path as an event, so a lost or failed event is harmless. Only
// images holding newer data than the newest copy of their instance in that destination
// are copied (older ones were copied before and removed there by retention, and must not
// come back); a destination with no copy of an instance gets only its newest image
// (Policy.BackfillLimit). Failed copies are deleted and copied again in the same pass;
// failed sources of the current slot get their next attempt. A region that cannot be
// listed degrades only itself: it is recorded as failed (retryable) and the others go on.
// It then syncs the catalog of every destination that was listed.
func (d Deps) Reconcile(ctx context.Context) (CopySummary, error) {
	r, err := d.start()
	if err != nil {
		return CopySummary{}, err
	}
	var c collector
	inv, _ := r.inventory(ctx, policyRegions(r.pol))
	for _, region := range policyRegions(r.pol) {
		if err := inv.failed[region]; err != nil {
			it := failure(Item{Region: region, Reason: "region skipped this run: " + err.Error()}, err)
			r.fail(ctx, &c, "reconcile", it, err, time.Time{})
		}
	}
	all := inv.all()
	srcCreated := sourceCreated(all)
	newest := map[string]ecsx.Image{} // dest/instance -> copy holding the newest data
	hasCopy := map[string]bool{}      // dest/source image id: a copy that is not failed
	for _, im := range all {
		if im.Tags[policy.TagRole] != policy.RoleCopy || isFailed(im.Status) {
			continue // a failed copy is retried by copyOne and never counts as copied
		}
		hasCopy[im.Region+"/"+im.Tags[policy.TagSourceImage]] = true
		k := im.Region + "/" + im.Tags[policy.TagSourceInstance]
		if cur, ok := newest[k]; !ok || r.compareData(im, cur, srcCreated) > 0 {
			newest[k] = im
		}
	}
	// Available sources per region and instance, newest data first; failed sources of
	// the current slot, per instance.
	type key struct{ region, instance string }
	sources := map[key][]ecsx.Image{}
	failedSlots := map[key]map[string]bool{}
	for _, region := range r.pol.SourceRegions() {
		for _, im := range inv.images[region] {
			if im.Tags[policy.TagRole] != policy.RoleSource {
				continue
			}
			k := key{region, im.Tags[policy.TagSourceInstance]}
			switch {
			case im.Status == ecsx.StatusAvailable:
				sources[k] = append(sources[k], im)
			case isFailed(im.Status):
				if failedSlots[k] == nil {
					failedSlots[k] = map[string]bool{}
				}
				failedSlots[k][im.Tags[policy.TagSlot]] = true
			}
		}
	}
	type job struct {
		img   ecsx.Image
		dests []policy.Destination
		clear bool // remove its pending marker once every destination is settled
	}
	var clearMu sync.Mutex
	stale := map[string][]ecsx.Image{} // region -> images whose pending marker can go
	markDone := func(im ecsx.Image) {
		clearMu.Lock()
		stale[im.Region] = append(stale[im.Region], im)
		clearMu.Unlock()
	}
	// One work item per instance: its images are copied one after another, oldest data
	// first, so a backfill of several images is not refused by the "older than what is
	// already copied" guard because its newest image happened to finish first.
	var todo [][]job
	for _, k := range slices.SortedFunc(maps.Keys(sources), func(a, b key) int {
		return cmp.Or(cmp.Compare(a.region, b.region), cmp.Compare(a.instance, b.instance))
	}) {
		imgs := sources[k]
		slices.SortFunc(imgs, func(a, b ecsx.Image) int { return r.compareData(b, a, srcCreated) })
		var jobs []job
		for rank, im := range imgs {
			_, marked := im.Tags[policy.TagPending]
			j := job{img: im, clear: marked}
			for _, dest := range r.pol.Destinations {
				if inv.failed[dest.Region] != nil {
					j.clear = false // not known: the next run decides
					continue
				}
				if dest.Region == k.region || hasCopy[dest.Region+"/"+im.ID] {
					continue
				}
				if nw, ok := newest[dest.Region+"/"+k.instance]; ok {
					if r.compareData(nw, im, srcCreated) >= 0 {
						continue // that destination already holds newer (or the same) data
					}
				} else if !r.backfills(dest.Region, rank, im) {
					continue
				}
				j.dests = append(j.dests, dest)
			}
			switch {
			case len(j.dests) > 0:
				jobs = append(jobs, j)
			case j.clear:
				// Every destination holds it or newer data, or will never get it (backfill).
				markDone(im)
			}
		}
		if len(jobs) > 0 {
			slices.Reverse(jobs)
			todo = append(todo, jobs)
		}
	}
	each(ctx, r.conc, todo, func(ctx context.Context, jobs []job) {
		for _, j := range jobs {
			if r.copyToDestinations(ctx, j.img, j.dests, &c) && j.clear {
				markDone(j.img)
			}
		}
	})
	for _, k := range slices.SortedFunc(maps.Keys(failedSlots), func(a, b key) int {
		return cmp.Or(cmp.Compare(a.region, b.region), cmp.Compare(a.instance, b.instance))
	}) {
		for _, slot := range slices.Sorted(maps.Keys(failedSlots[k])) {
			r.reviveSource(ctx, k.region, k.instance, slot, &c)
		}
	}
	var dests []string
	for _, dest := range r.pol.DestinationRegions() {
		if inv.failed[dest] == nil {
			dests = append(dests, dest)
		}
	}
	synced := r.syncCatalogs(ctx, dests, inv, false, &c)
	// Stale markers: copies whose catalog was just written in full.
	for _, dest := range synced {
		for _, im := range inv.images[dest] {
			if im.Tags[policy.TagPending] == policy.PendingCatalog && im.Tags[policy.TagRole] == policy.RoleCopy && im.Status == ecsx.StatusAvailable {
				stale[dest] = append(stale[dest], im)
			}
		}
	}
	for _, region := range slices.Sorted(maps.Keys(stale)) {
		r.clearMarkers(ctx, region, stale[region], &c)
	}
	return r.copySummary(&c, synced), failedError("reconcile copy", retryableOnly(c.get("failed")))
}

// backfills reports whether the rank-th newest source image (0 = newest) of an instance
// goes to a destination that has no copy of that instance yet: within the destination's
// BackfillLimit, and for a keepDays-only rule not older than keepDays.
func (r *run) backfills(dest string, rank int, im ecsx.Image) bool {
	if rank >= r.pol.BackfillLimit(dest) {
		return false
	}
	if rank == 0 {
		return true
	}
	rule, _ := r.pol.RuleFor(dest)
	if rule.KeepLast+rule.Daily+rule.Weekly+rule.Monthly == 0 && rule.KeepDays > 0 {
		return r.dataTime(im, nil).After(r.now().Add(-time.Duration(rule.KeepDays) * 24 * time.Hour))
	}
	return true
}

// inventory is every managed image of the policy (of the run's shard), per region, all
// statuses; failed holds the regions that could not be listed.
type inventory struct {
	images map[string][]ecsx.Image
	failed map[string]error
}

func (inv *inventory) all() []ecsx.Image {
	var out []ecsx.Image
	for _, imgs := range inv.images {
		out = append(out, imgs...)
	}
	return out
}

func (r *run) inventory(ctx context.Context, regions []string) (*inventory, error) {
	inv := &inventory{images: map[string][]ecsx.Image{}, failed: map[string]error{}}
	// Regions are listed in parallel: each has its own API rate (and client-side bucket),
	// so a shard's run waits for its largest region, not for the sum of them all.
	// A shard lists only its buckets where they are known complete (buckets.go).
	plan := r.bucketPlan(ctx, regions, bucketMarks)
	imgs := make([][]ecsx.Image, len(regions))
	errs := make([]error, len(regions))
	var wg sync.WaitGroup
	for i, region := range regions {
		wg.Go(func() { imgs[i], errs[i] = r.listRegion(ctx, region, plan[region]) })
	}
	wg.Wait()
	for i, region := range regions {
		if errs[i] != nil {
			errs[i] = fmt.Errorf("list images in %s: %w", region, errs[i])
			inv.failed[region] = errs[i]
			continue
		}
		for _, im := range imgs[i] {
			if managedBy(r.pol, im.Tags) {
				im.Region = region
				inv.images[region] = append(inv.images[region], im)
			}
		}
		imgs[i] = nil
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
	for i, dest := range dests {
		// A sync lists the whole catalog and may write many entries: past the soft
		// deadline it is left to the next run (the FC retry, or the next timer), which
		// rebuilds it from the cloud as well; started here it could outlast the margin.
		if sd, past := pastSoft(ctx); past {
			sd.notStarted("catalog syncs", len(dests)-i)
			break
		}
		started := time.Now()
		it := Item{Region: dest, Reason: fmt.Sprintf("%d entries", len(entries))}
		var remove catalog.Scope
		if removeMissing {
			remove = r.Shard.Contains // the whole fleet, or this run's shard only
		}
		if err := r.Catalog.Sync(ctx, dest, r.pol.Name, entries, remove); err != nil {
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
	created := sourceCreated(inv.all()) // source image id -> creation
	newest := map[string]ecsx.Image{}
	for _, im := range inv.all() {
		inst := im.Tags[policy.TagSourceInstance]
		if im.Status != ecsx.StatusAvailable || inst == "" {
			continue
		}
		k := im.Region + "/" + inst
		// Newest data, never the copy that finished last.
		if cur, ok := newest[k]; !ok || r.compareData(im, cur, created) > 0 {
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
			SizeGiB: im.SizeGiB, Tags: withoutMarker(im.Tags), UpdatedAt: now}
		srcCreated := r.dataTime(im, created)
		if e.Role == policy.RoleSource {
			e.SourceImageID = ""
		}
		e.DataTime = srcCreated
		e.RPOSeconds = int64(now.Sub(srcCreated) / time.Second)
		out = append(out, e)
	}
	return out
}

// copyBlocked returns the quota error code that stopped copies to dest in this run ("").
func (r *run) copyBlocked(dest string) string {
	if v, ok := r.copyQuota.Load(dest); ok {
		return v.(string)
	}
	return ""
}

// blockCopies stops copies to dest; it reports whether this call was the first.
func (r *run) blockCopies(dest, code string) bool {
	_, loaded := r.copyQuota.LoadOrStore(dest, code)
	return !loaded
}
