package backup

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// CreateSummary is the outcome of one Create run. Every Item carries its region.
type CreateSummary struct {
	Slot    string `json:"slot"`
	DryRun  bool   `json:"dryRun,omitempty"`
	Started []Item `json:"started"` // CreateImage accepted (Image is the new id)
	Planned []Item `json:"planned"` // dry run: would be created
	Skipped []Item `json:"skipped"` // not selected, not imageable, already imaged this slot
	Failed  []Item `json:"failed"`
	// Omitted counts the items left out of the lists above, by list (they are bounded).
	Omitted map[string]int `json:"omitted,omitempty"`
}

// Create images every protected instance of every source region for the slot of trigger.
//
// Idempotency: an instance gets at most one image per slot. Before CreateImage the
// services look for a managed image of that instance and slot in any status (the
// ClientToken alone is not enough: ECS forgets tokens after a while), and CreateImage
// carries ClientToken = policy.ClientToken(instance, slot) for two runs racing.
//
// Failed images: an image of the slot that ended CreateFailed/UnAvailable is recorded as
// failed and replaced by the next attempt (new name and token, TagAttempt), then deleted
// with its snapshots; after policy.DefaultRetryBudget attempts the last failed one stays
// as the record of the slot (one failed record) and nothing is tried until the next slot.
//
// Errors: only retryable failures (throttling past the back-off, 5xx, timeouts) make the
// run return an error, so FC retries it and the retry skips what this run created.
// Permanent ones (quota, a name taken by an image that is not ours…) are recorded as
// failed and acknowledged. The first QuotaExceed in a region stops further creates there
// for the run (one failed record; the other instances are skipped). Instances that cannot
// be imaged (status, lock) are skipped, not failed: a retry would not help.
func (d Deps) Create(ctx context.Context, trigger time.Time) (CreateSummary, error) {
	r, err := d.start()
	if err != nil {
		return CreateSummary{}, err
	}
	sum := CreateSummary{Slot: r.pol.Slot(trigger), DryRun: r.pol.DryRun}
	var c collector
	// Source regions run in parallel: each has its own flow-control budget (and its own
	// client-side token buckets), so one region's tail does not hold up the others.
	var wg sync.WaitGroup
	for _, src := range r.pol.Sources {
		if len(r.Regions) > 0 && !slices.Contains(r.Regions, src.Region) {
			continue // another run's region (timer payload "regions")
		}
		wg.Go(func() { r.createRegion(ctx, src, sum.Slot, &c) })
	}
	wg.Wait()
	sum.Started, sum.Planned, sum.Skipped, sum.Failed = c.get("started"), c.get("planned"), c.get("skipped"), c.get("failed")
	sum.Omitted = c.omitted()
	return sum, failedError("create image", retryableOnly(sum.Failed))
}

func (r *run) createRegion(ctx context.Context, src policy.Source, slot string, c *collector) {
	region := src.Region
	started := time.Now()
	var q ecsx.InstanceQuery
	if len(src.Selectors) == 0 {
		// Only explicit ids: ask for those (in chunks of 100) instead of listing the region.
		for _, id := range src.InstanceIDs {
			if r.Shard.Contains(id) {
				q.IDs = append(q.IDs, id)
			}
		}
		if len(q.IDs) == 0 {
			return // none of this region's listed instances is in the run's shard
		}
	}
	instances, err := r.ecs.DescribeInstances(ctx, region, q)
	if err != nil {
		r.fail(ctx, c, "create", failure(Item{Region: region, Reason: "list instances: " + err.Error()}, err), err, started)
		return
	}
	// One lookup per region finds every image already made for this slot.
	existing, err := r.ecs.DescribeImages(ctx, region, ecsx.ImageQuery{Statuses: ecsx.AllImageStatuses,
		Tags: managedFilter(r.pol, map[string]string{policy.TagSlot: slot, policy.TagRole: policy.RoleSource}), Keep: r.imageInShard})
	if err != nil {
		r.fail(ctx, c, "create", failure(Item{Region: region, Reason: "list images of slot " + slot + ": " + err.Error()}, err), err, started)
		return
	}
	bySlot := map[string][]ecsx.Image{}
	for _, im := range existing {
		// The tag filter is the server's; check again so a lax server cannot make us skip.
		if managedBy(r.pol, im.Tags) && im.Tags[policy.TagSlot] == slot {
			im.Region = region
			inst := im.Tags[policy.TagSourceInstance]
			bySlot[inst] = append(bySlot[inst], im)
		}
	}

	seen := map[string]bool{}
	// A job points at its instance: a copy of every Instance would double the region's
	// listing in memory (≈2 MB at 5,000 instances).
	type job struct {
		in *ecsx.Instance
		st attempts
	}
	var todo []job
	imaged := 0 // already imaged this slot: debug each, one summary record
	for i, in := range instances {
		seen[in.ID] = true
		if !r.Shard.Contains(in.ID) {
			continue // another shard's instance
		}
		it := Item{Region: region, Instance: in.ID}
		ok, why := r.pol.Selects(region, in.ID, in.Tags)
		switch {
		case !ok:
			it.Reason = why
			// Debug: unselected instances are the common case in a shared region.
			r.recordAt(ctx, debug, "skip", ResultSkipped, it, nil, time.Time{})
			continue
		case in.Status != ecsx.InstanceRunning && in.Status != ecsx.InstanceStopped:
			it.Reason = "instance status " + in.Status + " (CreateImage needs Running or Stopped)"
		case in.Locked:
			it.Reason = fmt.Sprintf("instance locked %v", in.LockReasons)
		default:
			st := attemptsOf(bySlot[in.ID])
			if len(st.live) == 0 {
				todo = append(todo, job{&instances[i], st})
				continue
			}
			it.Image, it.Reason = st.live[0].ID, "already exists for slot "+slot+" ("+st.live[0].Status+")"
			for _, f := range st.failed { // superseded attempts a killed run did not delete
				r.retireFailed(ctx, f, "replaced by "+st.live[0].ID, c)
			}
			// Debug: a run continuing after a deadline, or a retried one, finds most of the
			// fleet done; that is no decision, and one summary follows.
			imaged++
			r.recordAt(ctx, debug, "skip", ResultSkipped, it, nil, time.Time{})
			c.add("skipped", it)
			continue
		}
		r.record(ctx, "skip", ResultSkipped, it, nil, time.Time{})
		c.add("skipped", it)
	}
	if imaged > 0 {
		r.record(ctx, "skip", ResultSkipped, Item{Region: region,
			Reason: fmt.Sprintf("%d instances already imaged for slot %s", imaged, slot)}, nil, time.Time{})
	}
	// Listed ids the region does not have: a configuration problem, not worth a retry.
	for _, id := range src.InstanceIDs {
		if !seen[id] && !slices.Contains(src.Exclude.InstanceIDs, id) && r.Shard.Contains(id) {
			it := Item{Region: region, Instance: id, Reason: "listed instance not found in region"}
			r.recordAt(ctx, warn, "skip", ResultSkipped, it, nil, time.Time{})
			c.add("skipped", it)
		}
	}

	gate := &quotaGate{}
	each(ctx, r.conc, todo, func(ctx context.Context, j job) {
		r.createOne(ctx, region, slot, *j.in, j.st, gate, c)
	})
	r.gatherRestore(ctx, region, instances)
}

// quotaGate stops creates in a region after its first QuotaExceed: every further call
// would be refused the same way, and each would cost a call and a record.
type quotaGate struct {
	mu      sync.Mutex
	blocked string // the error code that blocked the region ("" when open)
}

// block closes the gate; it reports whether this call closed it (the one to record it).
func (g *quotaGate) block(code string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	first := g.blocked == ""
	g.blocked = code
	return first
}

func (g *quotaGate) closed() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.blocked
}

// createOne makes the next attempt of one instance's image for slot (st: the images the
// slot already has, none live), then deletes the failed attempts it replaces.
func (r *run) createOne(ctx context.Context, region, slot string, in ecsx.Instance, st attempts, gate *quotaGate, c *collector) {
	it := Item{Region: region, Instance: in.ID}
	n := st.next()
	if n == 0 {
		r.recordExhausted(ctx, st, c)
		return
	}
	if code := gate.closed(); code != "" {
		it.Reason, it.ErrorCode = "not tried: the region's image quota is exceeded (see the failed record)", code
		r.recordAt(ctx, debug, "create", ResultSkipped, it, nil, time.Time{})
		c.add("skipped", it)
		return
	}
	input := ecsx.CreateImageInput{
		InstanceID:  in.ID,
		Name:        policy.AttemptName(r.pol.ImageName(in.ID, in.Name, region, slot), n),
		Description: fmt.Sprintf("ecs-image-dr policy %s: instance %s, slot %s, attempt %d", r.pol.Name, in.ID, slot, n),
		ClientToken: r.pol.AttemptClientToken(in.ID, slot, n),
		Tags: r.pol.ManagedTags(map[string]string{
			policy.TagSourceInstance: in.ID,
			policy.TagSlot:           slot,
			policy.TagRole:           policy.RoleSource,
			policy.TagSourceRegion:   region,
			policy.TagAttempt:        strconv.Itoa(n),
			policy.TagPending:        policy.PendingCopy, // until every destination is settled
		}),
	}
	r.addBucket(input.Tags, in.ID)
	if r.pol.DryRun {
		it.Reason = "would create " + input.Name
		r.record(ctx, "create", ResultDryRun, it, nil, time.Time{})
		c.add("planned", it)
		return
	}
	started := time.Now()
	id, err := r.ecs.CreateImage(ctx, region, input)
	if ecsx.IsDuplicateName(err) {
		// Our names are deterministic: a run that died after CreateImage, or a racing one,
		// made it. Adopt it when its tags prove it is this very image; refuse otherwise.
		id, err = r.adoptByName(ctx, region, input.Name, map[string]string{policy.TagSourceInstance: in.ID, policy.TagSlot: slot,
			policy.TagRole: policy.RoleSource}, err)
		if err == nil {
			it.Reason = "adopted the existing image named " + input.Name
		}
	}
	switch {
	case err == nil:
		it.Image = id
		r.record(ctx, "create", ResultOK, it, nil, started)
		c.add("started", it)
		for _, f := range st.failed {
			r.retireFailed(ctx, f, fmt.Sprintf("replaced by attempt %d (%s)", n, id), c)
		}
	case ecsx.Code(err) == "IncorrectInstanceStatus" || ecsx.Code(err) == "InstanceLockedForSecurity" || ecsx.IsNotFound(err):
		// The instance changed since DescribeInstances; the next slot will try again.
		it.Reason, it.ErrorCode = "instance cannot be imaged now", ecsx.Code(err)
		r.record(ctx, "create", ResultSkipped, it, err, started)
		c.add("skipped", it)
	case ecsx.IsQuotaExceeded(err):
		if !gate.block(ecsx.Code(err)) {
			// Concurrent calls already in flight: the first one carries the record.
			it.Reason, it.ErrorCode = "not created: the region's image quota is exceeded (see the failed record)", ecsx.Code(err)
			r.recordAt(ctx, debug, "create", ResultSkipped, it, err, started)
			c.add("skipped", it)
			return
		}
		it = failure(it, err)
		it.Reason = "image quota exceeded in " + region + ": no further creates there this run; raise the quota or lower retention: " + err.Error()
		r.fail(ctx, c, "create", it, err, started)
	default:
		r.fail(ctx, c, "create", failure(it, err), err, started)
	}
}

// adoptByName looks up the image named name in region after InvalidImageName.Duplicated
// and returns its id when it is ours and carries every pair of want; otherwise a permanent
// error that says whose the name is.
func (r *run) adoptByName(ctx context.Context, region, name string, want map[string]string, dupErr error) (string, error) {
	imgs, err := r.ecs.DescribeImages(ctx, region, ecsx.ImageQuery{Name: name, Statuses: ecsx.AllImageStatuses})
	if err != nil {
		return "", fmt.Errorf("name %s taken, and looking it up failed: %w", name, err)
	}
	for _, im := range imgs {
		if im.Name != name {
			continue
		}
		if managedBy(r.pol, im.Tags) && hasAll(im.Tags, want) && !isFailed(im.Status) {
			return im.ID, nil
		}
		return "", &ecsx.Error{Op: "adopt", Resource: im.ID, Region: region, Code: ecsx.Code(dupErr),
			Err: fmt.Errorf("image name %s is taken by %s (%s), whose tags do not prove it is this policy's image for %v; rename or delete it", name, im.ID, im.Status, want)}
	}
	return "", fmt.Errorf("name %s reported taken but no image has it (yet): %w", name, dupErr)
}

func hasAll(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// recordExhausted writes the one failed record of a slot whose retry budget is used up
// (marked on the last failed image with TagFailureRecorded, so later runs stay quiet)
// and deletes the earlier failed attempts.
func (r *run) recordExhausted(ctx context.Context, st attempts, c *collector) {
	last := st.failed[len(st.failed)-1]
	for _, f := range st.failed[:len(st.failed)-1] {
		r.retireFailed(ctx, f, "an earlier attempt; the last one stays as the record of the slot", c)
	}
	it := Item{Region: last.Region, Instance: last.Tags[policy.TagSourceInstance], Image: last.ID,
		SourceImage: last.Tags[policy.TagSourceImage], ErrorCode: last.Status}
	if last.Tags[policy.TagFailureRecorded] == "true" {
		it.Reason = "retry budget used up for slot " + last.Tags[policy.TagSlot] + " (already recorded); next try in the next slot"
		r.recordAt(ctx, debug, "retry", ResultSkipped, it, nil, time.Time{})
		c.add("skipped", it)
		r.clearMarker(ctx, last, c) // nothing more will happen to it
		return
	}
	it.Reason = fmt.Sprintf("retry budget of %d attempts used up for slot %s: %s ended %s; no further attempt until the next slot",
		policy.DefaultRetryBudget, last.Tags[policy.TagSlot], last.ID, last.Status)
	r.fail(ctx, c, "retry", it, nil, time.Time{})
	if r.pol.DryRun {
		return
	}
	// The work marker goes first: an image never carries both (ReservedTagCount).
	if !r.clearMarker(ctx, last, c) {
		return // the record may repeat; the next run tries again
	}
	if err := r.ecs.TagResources(ctx, last.Region, ecsx.ResourceImage, []string{last.ID}, map[string]string{policy.TagFailureRecorded: "true"}); err != nil {
		r.recordAt(ctx, warn, "retry", ResultSkipped, Item{Region: last.Region, Image: last.ID, Reason: "could not mark the record as written; it may repeat"}, err, time.Time{})
	}
}
