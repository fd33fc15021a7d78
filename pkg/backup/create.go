package backup

import (
	"context"
	"fmt"
	"slices"
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
// Errors: a run with failures returns an error naming them (FC retries the invocation;
// the retry skips what this run created). Instances that cannot be imaged (status, lock)
// are skipped, not failed: a retry would not help.
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
		wg.Go(func() { r.createRegion(ctx, src, sum.Slot, &c) })
	}
	wg.Wait()
	sum.Started, sum.Planned, sum.Skipped, sum.Failed = c.get("started"), c.get("planned"), c.get("skipped"), c.get("failed")
	sum.Omitted = c.omitted()
	return sum, failedError("create image", sum.Failed)
}

func (r *run) createRegion(ctx context.Context, src policy.Source, slot string, c *collector) {
	region := src.Region
	started := time.Now()
	var q ecsx.InstanceQuery
	if len(src.Selectors) == 0 {
		// Only explicit ids: ask for those (in chunks of 100) instead of listing the region.
		q.IDs = src.InstanceIDs
	}
	instances, err := r.ecs.DescribeInstances(ctx, region, q)
	if err != nil {
		r.fail(ctx, c, "create", failure(Item{Region: region, Reason: "list instances: " + err.Error()}, err), err, started)
		return
	}
	// One lookup per region finds every image already made for this slot.
	existing, err := r.ecs.DescribeImages(ctx, region, ecsx.ImageQuery{Statuses: ecsx.AllImageStatuses,
		Tags: managedFilter(r.pol, map[string]string{policy.TagSlot: slot, policy.TagRole: policy.RoleSource})})
	if err != nil {
		r.fail(ctx, c, "create", failure(Item{Region: region, Reason: "list images of slot " + slot + ": " + err.Error()}, err), err, started)
		return
	}
	bySlot := map[string]ecsx.Image{}
	for _, im := range existing {
		// The tag filter is the server's; check again so a lax server cannot make us skip.
		if managedBy(r.pol, im.Tags) && im.Tags[policy.TagSlot] == slot {
			bySlot[im.Tags[policy.TagSourceInstance]] = im
		}
	}

	seen := map[string]bool{}
	var todo []ecsx.Instance
	for _, in := range instances {
		seen[in.ID] = true
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
			if im, ok := bySlot[in.ID]; ok {
				it.Image, it.Reason = im.ID, "already exists for slot "+slot+" ("+im.Status+")"
			} else {
				todo = append(todo, in)
				continue
			}
		}
		r.record(ctx, "skip", ResultSkipped, it, nil, time.Time{})
		c.add("skipped", it)
	}
	// Listed ids the region does not have: a configuration problem, not worth a retry.
	for _, id := range src.InstanceIDs {
		if !seen[id] && !slices.Contains(src.Exclude.InstanceIDs, id) {
			it := Item{Region: region, Instance: id, Reason: "listed instance not found in region"}
			r.recordAt(ctx, warn, "skip", ResultSkipped, it, nil, time.Time{})
			c.add("skipped", it)
		}
	}

	each(ctx, r.conc, todo, func(ctx context.Context, in ecsx.Instance) {
		r.createOne(ctx, region, slot, in, c)
	})
	r.gatherRestore(ctx, region, instances)
}

func (r *run) createOne(ctx context.Context, region, slot string, in ecsx.Instance, c *collector) {
	it := Item{Region: region, Instance: in.ID}
	input := ecsx.CreateImageInput{
		InstanceID:  in.ID,
		Name:        r.pol.ImageName(in.ID, in.Name, region, slot),
		Description: fmt.Sprintf("ecs-image-dr policy %s: instance %s, slot %s", r.pol.Name, in.ID, slot),
		ClientToken: r.pol.ClientToken(in.ID, slot),
		Tags: r.pol.ManagedTags(map[string]string{
			policy.TagSourceInstance: in.ID,
			policy.TagSlot:           slot,
			policy.TagRole:           policy.RoleSource,
			policy.TagSourceRegion:   region,
		}),
	}
	if r.pol.DryRun {
		it.Reason = "would create " + input.Name
		r.record(ctx, "create", ResultDryRun, it, nil, time.Time{})
		c.add("planned", it)
		return
	}
	started := time.Now()
	id, err := r.ecs.CreateImage(ctx, region, input)
	switch {
	case err == nil:
		it.Image = id
		r.record(ctx, "create", ResultOK, it, nil, started)
		c.add("started", it)
	case ecsx.Code(err) == "IncorrectInstanceStatus" || ecsx.Code(err) == "InstanceLockedForSecurity" || ecsx.IsNotFound(err):
		// The instance changed since DescribeInstances; the next slot will try again.
		it.Reason, it.ErrorCode = "instance cannot be imaged now", ecsx.Code(err)
		r.record(ctx, "create", ResultSkipped, it, err, started)
		c.add("skipped", it)
	default:
		r.fail(ctx, c, "create", failure(it, err), err, started)
	}
}
