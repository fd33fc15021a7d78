package backup

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/events"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// marked lists the images of region carrying the pending marker with value.
func marked(e *testEnv, region, value string) []string {
	var out []string
	for _, im := range e.fake.regionImages(region) {
		if im.Tags[policy.TagPending] == value {
			out = append(out, im.ID)
		}
	}
	return out
}

// totalCalls is every ECS call the fake has seen.
func totalCalls(f *fakeECS) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		n += c
	}
	return n
}

// ourTags counts an image's own tags (ecs-dr:*) within ReservedTagCount: the operator's
// hold and the shard bucket (set only where the policy leaves room, Policy.BucketTags)
// excluded.
func ourTags(tags map[string]string) int {
	n := 0
	for k := range tags {
		if strings.HasPrefix(k, "ecs-dr:") && k != policy.TagHold && k != policy.TagBucket {
			n++
		}
	}
	return n
}

func checkTagBudget(t *testing.T, e *testEnv) {
	t.Helper()
	for _, region := range []string{src, dstPlain, dstKMS} {
		for _, im := range e.fake.regionImages(region) {
			if n := ourTags(im.Tags); n > policy.ReservedTagCount {
				t.Errorf("%s/%s carries %d of our tags, over ReservedTagCount %d: %v", region, im.ID, n, policy.ReservedTagCount, im.Tags)
			}
		}
	}
}

// With every event lost, the pending run copies Available sources, writes the catalog
// entry of each copy once it is Available, and removes each marker when its work is done;
// then a run with nothing pending costs one list call per region.
func TestPendingFinishesWhatEventsMissed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	d := e.deps()
	if _, err := d.Create(ctx, t0); err != nil {
		t.Fatal(err)
	}
	if got := marked(e, src, policy.PendingCopy); len(got) != 2 {
		t.Fatalf("new source images marked pending copy: %v, want i-web1's and i-db1's", got)
	}
	// Still Creating: nothing to copy, the markers stay.
	sum, err := d.ReconcilePending(ctx)
	if err != nil || len(sum.Copied) != 0 || len(marked(e, src, policy.PendingCopy)) != 2 {
		t.Fatalf("pending run on Creating sources: copied %v err %v, markers %v", sum.Copied, err, marked(e, src, policy.PendingCopy))
	}
	e.fake.finishAll()
	sum, err = d.ReconcilePending(ctx)
	if err != nil || len(sum.Copied) != 4 {
		t.Fatalf("pending run: copied %+v err %v, want 2 images × 2 destinations", sum.Copied, err)
	}
	if got := marked(e, src, policy.PendingCopy); len(got) != 0 {
		t.Errorf("sources still marked after every destination got a copy: %v", got)
	}
	for _, region := range []string{dstPlain, dstKMS} {
		if got := marked(e, region, policy.PendingCatalog); len(got) != 2 {
			t.Errorf("%s: copies marked pending catalog: %v, want 2", region, got)
		}
	}
	// The copies are in progress: no catalog entry yet, no second copy.
	sum, err = d.ReconcilePending(ctx)
	if err != nil || len(sum.Copied) != 0 || len(e.cat.syncs) != 0 {
		t.Fatalf("pending run on copies in progress: copied %v, catalog writes %d, err %v", sum.Copied, len(e.cat.syncs), err)
	}
	e.advance(20 * time.Minute)
	e.fake.finishAll()
	sum, err = d.ReconcilePending(ctx)
	if err != nil || len(sum.CatalogSynced) != 2 {
		t.Fatalf("pending run on Available copies: synced %v err %v", sum.CatalogSynced, err)
	}
	if len(e.cat.syncs) != 4 {
		t.Errorf("catalog writes = %d, want one Put per copy (4)", len(e.cat.syncs))
	}
	for _, s := range e.cat.syncs {
		if len(s.Entries) != 1 || s.RemoveMissing || s.Entries[0].Role != policy.RoleCopy {
			t.Errorf("catalog write %+v, want one copy entry, upserted", s)
		}
		if _, ok := s.Entries[0].Tags[policy.TagPending]; ok {
			t.Errorf("catalog entry carries the work marker: %v", s.Entries[0].Tags)
		}
	}
	for _, region := range []string{src, dstPlain, dstKMS} {
		if got := append(marked(e, region, policy.PendingCopy), marked(e, region, policy.PendingCatalog)...); len(got) != 0 {
			t.Errorf("%s: markers left: %v", region, got)
		}
	}
	// As on the event path, the snapshots of the Available sources and copies it handled
	// are claimed as ours (left to cleanup, they took most of a cleanup shard's time).
	claimed := 0
	for _, region := range []string{src, dstPlain, dstKMS} {
		for _, im := range e.fake.regionImages(region) {
			for _, s := range im.Snapshots {
				e.fake.mu.Lock()
				tags := e.fake.snapTags[region+"/"+s]
				e.fake.mu.Unlock()
				if tags[policy.TagSnapshotOf] != im.ID || tags[policy.TagManagedBy] != policy.ManagedByValue {
					t.Errorf("%s/%s: snapshot %s of %s not claimed: %v", region, im.ID, s, im.Tags[policy.TagRole], tags)
				}
				claimed++
			}
		}
	}
	if claimed != 2*2+4 {
		t.Errorf("%d snapshots checked, want 8 (2 sources × 2, 4 copies × 1)", claimed)
	}
	before := totalCalls(e.fake)
	sum, err = d.ReconcilePending(ctx)
	if err != nil || len(sum.Copied)+len(sum.Failed)+len(sum.CatalogSynced) != 0 {
		t.Fatalf("idle pending run: %+v %v", sum, err)
	}
	if n := totalCalls(e.fake) - before; n != 3 {
		t.Errorf("idle pending run made %d ECS calls, want one per region (3)", n)
	}
	checkTagBudget(t, e)
}

// The cost of a run with nothing pending does not grow with the fleet.
func TestPendingIdleCostIsFlat(t *testing.T) {
	t.Parallel()
	cost := func(n int) int {
		e := newEnv(t, nil)
		for i := range n {
			e.fake.addImage(src, ecsx.Image{ID: fmt.Sprintf("m-old-%05d", i), Name: fmt.Sprintf("old-%05d", i), Status: ecsx.StatusAvailable, Created: t0.Add(-48 * time.Hour),
				Tags: e.pol.ManagedTags(map[string]string{policy.TagSourceInstance: fmt.Sprintf("i-%05d", i), policy.TagSlot: "20261122", policy.TagRole: policy.RoleSource})})
			e.fake.addImage(dstPlain, ecsx.Image{ID: fmt.Sprintf("m-cp-%05d", i), Name: fmt.Sprintf("cp-%05d", i), Status: ecsx.StatusAvailable, Created: t0.Add(-47 * time.Hour),
				Tags: e.pol.ManagedTags(map[string]string{policy.TagSourceInstance: fmt.Sprintf("i-%05d", i), policy.TagSlot: "20261122", policy.TagRole: policy.RoleCopy,
					policy.TagSourceImage: fmt.Sprintf("m-old-%05d", i), policy.TagSourceRegion: src})})
		}
		sum, err := e.deps().ReconcilePending(context.Background())
		if err != nil || len(sum.Copied) != 0 {
			t.Fatalf("n=%d: %+v %v", n, sum, err)
		}
		return totalCalls(e.fake)
	}
	small, large := cost(10), cost(2000)
	if small != 3 || large != small {
		t.Errorf("idle pending run: %d ECS calls at 10 images, %d at 2,000; want 3 (one per region) at both", small, large)
	}
}

// A copy that fails is deleted and copied again by the next pending run; a source that
// fails gets its next attempt; past the retry budget the last failed image stays as the
// record, unmarked, within the tag budget.
func TestPendingRetriesFailures(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(p *policy.Policy) { p.Sources[0].InstanceIDs = []string{"i-web1"}; p.Sources[0].Selectors = nil })
	ctx := context.Background()
	d := e.deps()
	srcImg := readySource(t, e)
	if sum, err := d.ReconcilePending(ctx); err != nil || len(sum.Copied) != 2 {
		t.Fatalf("first pending run: %+v %v", sum, err)
	}
	for attempt := 1; attempt <= policy.DefaultRetryBudget; attempt++ {
		cps := copiesOf(e, dstPlain, srcImg.ID)
		if len(cps) != 1 || cps[0].Tags[policy.TagAttempt] != fmt.Sprint(attempt) {
			t.Fatalf("attempt %d: copies in %s: %+v", attempt, dstPlain, cps)
		}
		e.fake.setStatus(dstPlain, cps[0].ID, ecsx.StatusCreateFailed)
		e.fake.finishAll()
		sum, err := d.ReconcilePending(ctx)
		if err != nil {
			t.Fatalf("attempt %d: %v", attempt, err)
		}
		if attempt < policy.DefaultRetryBudget {
			if len(sum.Copied) != 1 || sum.Copied[0].Region != dstPlain {
				t.Fatalf("attempt %d failed: copied %+v, want one new copy in %s", attempt, sum.Copied, dstPlain)
			}
			if _, ok := e.fake.image(dstPlain, cps[0].ID); ok {
				t.Errorf("failed copy %s not deleted", cps[0].ID)
			}
		}
	}
	last := copiesOf(e, dstPlain, srcImg.ID)
	if len(last) != 1 || !isFailed(last[0].Status) || last[0].Tags[policy.TagFailureRecorded] != "true" {
		t.Fatalf("after the budget: %+v, want the last failed copy kept as the record", last)
	}
	if _, ok := last[0].Tags[policy.TagPending]; ok {
		t.Errorf("the record of a used-up budget is still marked: %v", last[0].Tags)
	}
	if got := marked(e, dstPlain, policy.PendingCatalog); len(got) != 0 {
		t.Errorf("markers left in %s: %v", dstPlain, got)
	}

	// A failed source of the current slot: the pending run makes the next attempt.
	e2 := newEnv(t, func(p *policy.Policy) { p.Sources[0].InstanceIDs = []string{"i-web1"}; p.Sources[0].Selectors = nil })
	e2.fake.failImagesOf(src, "i-web1")
	d2 := e2.deps()
	if _, err := d2.Create(ctx, t0); err != nil {
		t.Fatal(err)
	}
	e2.fake.finishAll()
	if _, err := d2.ReconcilePending(ctx); err != nil {
		t.Fatal(err)
	}
	live, failed := slotImages(e2, "i-web1", e2.pol.Slot(t0))
	if len(live) != 1 || live[0].Tags[policy.TagAttempt] != "2" || live[0].Tags[policy.TagPending] != policy.PendingCopy || len(failed) != 0 {
		t.Fatalf("after a failed source: live %+v failed %+v, want attempt 2, marked, the failed one deleted", live, failed)
	}
	for range policy.DefaultRetryBudget {
		e2.fake.finishAll()
		if _, err := d2.ReconcilePending(ctx); err != nil {
			t.Fatal(err)
		}
	}
	live, failed = slotImages(e2, "i-web1", e2.pol.Slot(t0))
	if len(live) != 0 || len(failed) != 1 || failed[0].Tags[policy.TagFailureRecorded] != "true" {
		t.Fatalf("source budget used up: live %+v failed %+v", live, failed)
	}
	if got := marked(e2, src, policy.PendingCopy); len(got) != 0 {
		t.Errorf("markers left on failed sources: %v", got)
	}
	checkTagBudget(t, e)
	checkTagBudget(t, e2)
}

// killAfterCopies ends the run's context after n accepted CopyImage calls, as a kill
// would: the calls after it fail.
type killAfterCopies struct {
	ecsx.API
	n      int32
	cancel context.CancelFunc
}

func (k *killAfterCopies) CopyImage(ctx context.Context, region string, in ecsx.CopyImageInput) (string, error) {
	id, err := k.API.CopyImage(ctx, region, in)
	if err == nil && atomic.AddInt32(&k.n, -1) == 0 {
		k.cancel()
	}
	return id, err
}

// A run killed half-way leaves the markers of what it did not finish; the next run
// finishes it with no duplicate copy. A lost untag costs only a second look.
func TestPendingKilledRunIsFinishedByTheNext(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(p *policy.Policy) { p.Concurrency = 1 })
	readySource(t, e)
	ctx, cancel := context.WithCancel(context.Background())
	d := e.deps()
	d.ECS = &killAfterCopies{API: e.fake, n: 1, cancel: cancel}
	_, _ = d.ReconcilePending(ctx)
	if n := e.fake.count("CopyImage"); n != 1 {
		t.Fatalf("killed run made %d copies, want 1", n)
	}
	if got := marked(e, src, policy.PendingCopy); len(got) != 2 {
		t.Fatalf("after the kill, sources marked: %v, want both (neither is settled)", got)
	}
	// The next run's untag (one batch) is lost (one attempt, no retry).
	e.fake.failNext("UntagResources", ecsx.NewError("ServiceUnavailable", 503, "lost"))
	d = e.deps()
	d.Retry.Attempts = 1
	sum, err := d.ReconcilePending(context.Background())
	if err != nil || len(sum.Copied) != 3 {
		t.Fatalf("next run: copied %+v err %v, want the 3 copies the kill left", sum.Copied, err)
	}
	if got := marked(e, src, policy.PendingCopy); len(got) == 0 {
		t.Fatalf("the untag failures left no marker: the test does not test a lost untag")
	}
	before := e.fake.count("CopyImage")
	if _, err := d.ReconcilePending(context.Background()); err != nil {
		t.Fatal(err)
	}
	if e.fake.count("CopyImage") != before {
		t.Errorf("a left marker made a second copy")
	}
	if got := marked(e, src, policy.PendingCopy); len(got) != 0 {
		t.Errorf("markers left after a clean run: %v", got)
	}
	for _, region := range []string{dstPlain, dstKMS} {
		for _, im := range e.fake.regionImages(src) {
			if n := len(copiesOf(e, region, im.ID)); n != 1 {
				t.Errorf("%s: %d copies of %s, want 1", region, n, im.ID)
			}
		}
	}
}

// An older source still marked after newer data reached the destinations is not copied
// (order by data age), and its marker goes: it will never be copied.
func TestPendingNeverCopiesOlderAfterNewer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(p *policy.Policy) { p.Sources[0].InstanceIDs = []string{"i-web1"}; p.Sources[0].Selectors = nil })
	ctx := context.Background()
	d := e.deps()
	old := readySource(t, e)
	if _, err := d.Create(ctx, t0.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	e.fake.finishAll()
	var newer fakeImage
	for _, im := range sourceImages(e) {
		if im.ID != old.ID {
			newer = im
		}
	}
	// The newer image's event arrives; the older one's is lost.
	if _, err := d.HandleEvents(ctx, []events.ImageEvent{imageEvent("ev-new", src, newer.ID)}); err != nil {
		t.Fatal(err)
	}
	if got := marked(e, src, policy.PendingCopy); len(got) != 1 || got[0] != old.ID {
		t.Fatalf("after the newer image's event, marked: %v, want only the older %s", got, old.ID)
	}
	sum, err := d.ReconcilePending(ctx)
	if err != nil || len(sum.Copied) != 0 {
		t.Fatalf("pending run copied %+v (err %v): older data after newer", sum.Copied, err)
	}
	if got := marked(e, src, policy.PendingCopy); len(got) != 0 {
		t.Errorf("marker of an image that will never be copied left: %v", got)
	}
}

// The event path removes the markers too, and the daily Reconcile clears the ones left
// (its full inventory says what is settled).
func TestMarkersClearedByEventsAndReconcile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, func(p *policy.Policy) { p.Sources[0].InstanceIDs = []string{"i-web1"}; p.Sources[0].Selectors = nil })
	d := e.deps()
	srcImg := readySource(t, e)
	if _, err := d.HandleEvents(ctx, []events.ImageEvent{imageEvent("ev-1", src, srcImg.ID)}); err != nil {
		t.Fatal(err)
	}
	if got := marked(e, src, policy.PendingCopy); len(got) != 0 {
		t.Errorf("source still marked after its event copied it everywhere: %v", got)
	}
	e.fake.finishAll()
	cp := copiesOf(e, dstPlain, srcImg.ID)[0]
	if _, err := d.HandleEvents(ctx, []events.ImageEvent{imageEvent("ev-2", dstPlain, cp.ID)}); err != nil {
		t.Fatal(err)
	}
	if got := marked(e, dstPlain, policy.PendingCatalog); len(got) != 0 {
		t.Errorf("copy still marked after its event wrote the catalog: %v", got)
	}
	if got := marked(e, dstKMS, policy.PendingCatalog); len(got) != 1 {
		t.Errorf("the other copy (no event yet): marked %v, want 1", got)
	}

	// Reconcile: copies what is missing and clears every settled marker.
	e2 := newEnv(t, nil)
	d2 := e2.deps()
	readySource(t, e2)
	if _, err := d2.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if got := marked(e2, src, policy.PendingCopy); len(got) != 0 {
		t.Errorf("sources still marked after Reconcile copied them: %v", got)
	}
	e2.fake.finishAll()
	if _, err := d2.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	for _, region := range []string{dstPlain, dstKMS} {
		if got := marked(e2, region, policy.PendingCatalog); len(got) != 0 {
			t.Errorf("%s: copies still marked after Reconcile wrote the catalog: %v", region, got)
		}
	}
	before := totalCalls(e2.fake)
	if _, err := d2.ReconcilePending(ctx); err != nil {
		t.Fatal(err)
	}
	if n := totalCalls(e2.fake) - before; n != 3 {
		t.Errorf("pending run after Reconcile made %d calls, want 3 (nothing left)", n)
	}
}

// Past the invocation's soft deadline the pending run starts nothing and logs what it
// left; the markers carry it to the next run (no FC retry: the next tick is minutes away).
func TestPendingStopsAtSoftDeadline(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	readySource(t, e)
	ctx := WithSoftDeadline(context.Background(), t0.Add(-time.Second), e.clock)
	sum, err := e.deps().ReconcilePending(ctx)
	if err != nil || len(sum.Copied) != 0 {
		t.Fatalf("past the soft deadline: copied %+v err %v", sum.Copied, err)
	}
	if left := Remaining(ctx); left != nil {
		t.Errorf("the invocation's remaining work = %v, want none", left)
	}
	if !strings.Contains(e.logs.String(), "not started map[images to copy:2]") {
		t.Errorf("no record of the 2 images left:\n%s", e.logs)
	}
	if got := marked(e, src, policy.PendingCopy); len(got) != 2 {
		t.Errorf("markers = %v, want both kept for the next run", got)
	}
}

// A pending run stops starting work after PendingBudget even when the invocation has
// more time; what it left is logged, not reported as the invocation's remaining work (the
// next tick continues from the markers).
func TestPendingRunBudget(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	readySource(t, e)
	var calls atomic.Int32
	soft := func() time.Time { // the invocation's clock: 5 minutes pass per look
		return t0.Add(time.Duration(calls.Add(1)-1) * 5 * time.Minute)
	}
	ctx := WithSoftDeadline(context.Background(), t0.Add(time.Hour), soft)
	sum, err := e.deps().ReconcilePending(ctx)
	if err != nil || len(sum.Copied) != 0 {
		t.Fatalf("past the run budget: copied %+v err %v", sum.Copied, err)
	}
	if left := Remaining(ctx); left != nil {
		t.Errorf("the invocation's remaining work = %v, want none (the markers carry it)", left)
	}
	if n := len(e.records(map[string]string{"action": "pending", "result": "skipped"})); n == 0 ||
		!strings.Contains(e.logs.String(), "run budget reached") {
		t.Errorf("no record of the work left at the budget:\n%s", e.logs)
	}
	if got := marked(e, src, policy.PendingCopy); len(got) != 2 {
		t.Errorf("markers = %v, want both kept for the next run", got)
	}
	// Within the budget the same run copies everything.
	ctx = WithSoftDeadline(context.Background(), t0.Add(time.Hour), e.clock)
	if sum, err := e.deps().ReconcilePending(ctx); err != nil || len(sum.Copied) != 4 {
		t.Fatalf("within the budget: copied %d err %v, want 4", len(sum.Copied), err)
	}
}

// The tag-budget check fails when an image carries too many of our tags.
func TestTagBudgetCheckFails(t *testing.T) {
	t.Parallel()
	tags := map[string]string{}
	for i := range policy.ReservedTagCount + 1 {
		tags[fmt.Sprintf("ecs-dr:k%d", i)] = "v"
	}
	if ourTags(tags) <= policy.ReservedTagCount {
		t.Fatal("ourTags does not count past the budget")
	}
	held := maps.Clone(tags)
	delete(held, "ecs-dr:k0")
	held[policy.TagHold] = policy.HoldValue
	if ourTags(held) != policy.ReservedTagCount {
		t.Errorf("the operator's hold counted: %d", ourTags(held))
	}
}
