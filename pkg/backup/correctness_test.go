package backup

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/events"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

func (f *fakeECS) setStatus(region, id, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.images[region][id].Status = status
}

// slotImages are the source images of an instance in a slot.
func slotImages(e *testEnv, instance, slot string) (live, failed []fakeImage) {
	for _, im := range sourceImages(e) {
		if im.Tags[policy.TagSourceInstance] != instance || im.Tags[policy.TagSlot] != slot {
			continue
		}
		if isFailed(im.Status) {
			failed = append(failed, im)
		} else {
			live = append(live, im)
		}
	}
	return live, failed
}

func failedEvent(id, region, image string) events.ImageEvent {
	ev := imageEvent(id, region, image)
	ev.State = ecsx.StatusCreateFailed
	return ev
}

// A source image that ends CreateFailed is recorded as failed, deleted with its snapshots
// and re-created in the same slot under a new name and token, by whichever run sees it
// first (the failure event, a create retry, a reconcile), within a budget of 3 attempts;
// past it one failed record, no attempt until the next slot, and cleanup keeps the record
// until the slot is over. At no moment are there two non-failed images of the slot.
func TestFailedSourceIsRetriedWithinBudget(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(p *policy.Policy) { p.Sources[0].InstanceIDs = []string{"i-web1"}; p.Sources[0].Selectors = nil })
	d := e.deps()
	ctx := context.Background()
	slot := e.pol.Slot(t0)
	if _, err := d.Create(ctx, t0); err != nil {
		t.Fatal(err)
	}
	check := func(step string, wantAttempt int) fakeImage {
		t.Helper()
		live, _ := slotImages(e, "i-web1", slot)
		if len(live) != 1 {
			t.Fatalf("%s: %d non-failed images of the slot, want exactly 1", step, len(live))
		}
		if got := policy.Attempt(live[0].Tags); got != wantAttempt {
			t.Fatalf("%s: live image is attempt %d, want %d", step, got, wantAttempt)
		}
		return live[0]
	}
	first := check("create", 1)
	e.fake.setStatus(src, first.ID, ecsx.StatusCreateFailed)

	// 1. The failure event replaces it.
	sum, err := d.HandleEvents(ctx, []events.ImageEvent{failedEvent("ev-f1", src, first.ID)})
	if err != nil {
		t.Fatalf("failure event: %v", err)
	}
	second := check("after the failure event", 2)
	if second.Name == first.Name || !strings.HasSuffix(second.Name, "-r2") {
		t.Errorf("attempt 2 name %q, want a new name (first %q)", second.Name, first.Name)
	}
	if _, ok := e.fake.image(src, first.ID); ok {
		t.Errorf("failed image %s not deleted", first.ID)
	}
	for _, s := range first.Snapshots {
		if e.fake.hasSnapshot(src, s) {
			t.Errorf("snapshot %s of the failed image left", s)
		}
	}
	if f, ok := find(sum.Failed, func(it Item) bool { return it.Image == first.ID }); !ok || f.Retryable || f.ErrorCode != ecsx.StatusCreateFailed {
		t.Errorf("failed items %+v, want %s recorded as failed (not retryable)", sum.Failed, first.ID)
	}

	// 2. A create retry (the timer again, FC retry) replaces the second failure.
	e.fake.setStatus(src, second.ID, ecsx.StatusCreateFailed)
	if _, err := d.Create(ctx, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	third := check("after a create retry", 3)

	// 3. The third failure uses up the budget: reconcile records it once and stops.
	e.fake.setStatus(src, third.ID, ecsx.StatusCreateFailed)
	creates := e.fake.count("CreateImage")
	rsum, err := d.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if e.fake.count("CreateImage") != creates {
		t.Errorf("a 4th attempt was made past the budget")
	}
	if _, ok := find(rsum.Failed, func(it Item) bool { return it.Image == third.ID && strings.Contains(it.Reason, "budget") }); !ok {
		t.Errorf("reconcile failed = %+v, want the budget record for %s", rsum.Failed, third.ID)
	}
	if _, err := d.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Create(ctx, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := len(e.records(map[string]string{"action": "retry", "result": "failed"})); n != 1 {
		t.Errorf("%d budget records after three runs, want exactly 1", n)
	}
	if e.fake.count("CreateImage") != creates {
		t.Errorf("CreateImage called again in the same slot past the budget")
	}
	// Cleanup in the slot keeps the record (it holds the count); after the slot it goes.
	csum, err := d.Cleanup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := e.fake.image(src, third.ID); !ok {
		t.Fatalf("cleanup deleted the retry record of the current slot: %v", csum.Plan)
	}
	e.advance(24 * time.Hour)
	if _, err := d.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.fake.image(src, third.ID); ok {
		t.Errorf("the record of a past slot was kept")
	}
	// The next slot tries again from attempt 1.
	if _, err := d.Create(ctx, t0.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	live, _ := slotImages(e, "i-web1", e.pol.Slot(t0.Add(24*time.Hour)))
	if len(live) != 1 || policy.Attempt(live[0].Tags) != 1 {
		t.Errorf("next slot: %d live images, want one first attempt", len(live))
	}
}

// The budget check must be able to fail: with the attempts counted wrongly (no tag), a
// fourth attempt would be made.
func TestAttemptsNextCountsFromTags(t *testing.T) {
	t.Parallel()
	tagged := func(n int, status string) ecsx.Image {
		return ecsx.Image{ID: fmt.Sprint("m-", n), Status: status, Tags: map[string]string{policy.TagAttempt: fmt.Sprint(n)}}
	}
	cases := []struct {
		imgs []ecsx.Image
		next int
	}{
		{nil, 1},
		{[]ecsx.Image{tagged(1, ecsx.StatusCreateFailed)}, 2},
		{[]ecsx.Image{tagged(1, ecsx.StatusCreateFailed), tagged(2, ecsx.StatusCreateFailed), tagged(3, ecsx.StatusUnAvailable)}, 0},
		{[]ecsx.Image{tagged(1, ecsx.StatusCreateFailed), tagged(2, ecsx.StatusCreating)}, 0},
		{[]ecsx.Image{{ID: "m-untagged", Status: ecsx.StatusCreateFailed}}, 2},
	}
	for i, c := range cases {
		if got := attemptsOf(c.imgs).next(); got != c.next {
			t.Errorf("case %d: next = %d, want %d", i, got, c.next)
		}
	}
}

// Kill anywhere in cleanup, or a failing DeleteSnapshot: the next run collects whatever
// was left, because the snapshots were tagged as ours before their image was deleted.
// (This replaces the old "orphaned snapshot, delete it by hand" outcome.)
func TestCleanupLeftoversAreCollectedByTheNextRun(t *testing.T) {
	t.Parallel()
	t.Run("DeleteSnapshot fails", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, nil)
		cleanupFixture(t, e)
		e.fake.failIf["DeleteSnapshot"] = func(string, string) error { return ecsx.NewError("InternalError", 500, "x") }
		d := e.deps()
		d.Retry = ecsx.RetryConfig{Attempts: 1}
		sum, _ := d.Cleanup(context.Background())
		if !e.fake.hasSnapshot(src, "s-s1a") || len(sum.SnapshotsLeft) == 0 {
			t.Fatalf("setup: s-s1a should be left after failing deletes (left %+v)", sum.SnapshotsLeft)
		}
		delete(e.fake.failIf, "DeleteSnapshot")
		sum, err := d.Cleanup(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"s-s1a", "s-s1b"} {
			if e.fake.hasSnapshot(src, s) {
				t.Errorf("%s not collected by the next run (deleted %v)", s, sum.SnapshotsDeleted)
			}
		}
	})
	t.Run("killed between DeleteImage and DeleteSnapshot", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, nil)
		cleanupFixture(t, e)
		ctx, cancel := context.WithCancel(context.Background())
		e.fake.failIf["DeleteImage"] = func(region, id string) error {
			if id == "m-s1" {
				cancel() // the invocation dies right after this call is served
			}
			return nil
		}
		// Like the SDK adapter, a call on a dead context does not reach the cloud.
		e.fake.failIf["DeleteSnapshot"] = func(string, string) error { return ctx.Err() }
		_, _ = e.deps().Cleanup(ctx)
		if _, ok := e.fake.image(src, "m-s1"); ok {
			t.Fatal("setup: m-s1 should have been deleted before the kill")
		}
		if !e.fake.hasSnapshot(src, "s-s1a") {
			t.Fatalf("setup: the killed run should have left s-s1a")
		}
		delete(e.fake.failIf, "DeleteImage")
		delete(e.fake.failIf, "DeleteSnapshot")
		if _, err := e.deps().Cleanup(context.Background()); err != nil {
			t.Fatal(err)
		}
		if e.fake.hasSnapshot(src, "s-s1a") || e.fake.hasSnapshot(src, "s-s1b") {
			t.Errorf("snapshots of m-s1 survived the next run: %v", e.fake.snapshotIDs(src))
		}
	})
	t.Run("image deleted by hand after its snapshots were claimed", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, nil)
		cleanupFixture(t, e)
		if _, err := e.deps().Cleanup(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := e.fake.DeleteImage(context.Background(), dstPlain, "m-c5", false); err != nil { // by hand
			t.Fatal(err)
		}
		var c5snap string
		for _, s := range e.fake.snapshotIDs(dstPlain) {
			if e.fake.snapTags[dstPlain+"/"+s][policy.TagSnapshotOf] == "m-c5" {
				c5snap = s
			}
		}
		if c5snap == "" {
			t.Fatal("m-c5's snapshot was not claimed by the first cleanup")
		}
		if _, err := e.deps().Cleanup(context.Background()); err != nil {
			t.Fatal(err)
		}
		if e.fake.hasSnapshot(dstPlain, c5snap) {
			t.Errorf("orphan %s of an image deleted by hand survived", c5snap)
		}
	})
	t.Run("bad input: tag removed, image re-tagged by hand", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, nil)
		cleanupFixture(t, e)
		if _, err := e.deps().Cleanup(context.Background()); err != nil {
			t.Fatal(err)
		}
		e.fake.mu.Lock()
		// An operator takes m-s5 out of the policy (its snapshots stay tagged ours) and
		// strips the owner tag from one of m-s4's snapshots, then deletes m-s4 by hand.
		delete(e.fake.images[src]["m-s5"].Tags, policy.TagPolicy)
		var s4 string
		for k, tags := range e.fake.snapTags {
			if tags[policy.TagSnapshotOf] == "m-s4" {
				s4 = strings.TrimPrefix(k, src+"/")
				delete(tags, policy.TagSnapshotOf)
			}
		}
		delete(e.fake.images[src], "m-s4")
		e.fake.mu.Unlock()
		sum, err := e.deps().Cleanup(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if s4 == "" || !e.fake.hasSnapshot(src, s4) {
			t.Errorf("snapshot %q without owner tag was deleted (cannot prove it ours)", s4)
		}
		if _, ok := find(sum.SnapshotsLeft, func(it Item) bool { return it.Snapshot == s4 }); !ok {
			t.Errorf("no record of the kept snapshot %s: %+v", s4, sum.SnapshotsLeft)
		}
		for _, s := range e.fake.images[src]["m-s5"].Snapshots {
			if !e.fake.hasSnapshot(src, s) {
				t.Errorf("snapshot %s of the re-tagged m-s5 was deleted", s)
			}
		}
	})
}

// Copies that finish out of order (or in the same second) are ranked by the data they
// hold: keepLast 1 keeps the copy of the newest source, and the catalog points at it.
func TestOrderByDataAgeNotCopyTime(t *testing.T) {
	t.Parallel()
	for _, sameSecond := range []bool{false, true} {
		t.Run(fmt.Sprint("sameSecond=", sameSecond), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			day := 24 * time.Hour
			tags := func(role, slot string, extra ...string) map[string]string {
				m := e.pol.ManagedTags(map[string]string{policy.TagRole: role, policy.TagSourceInstance: "i-web1", policy.TagSlot: slot, policy.TagSourceRegion: src})
				for i := 0; i+1 < len(extra); i += 2 {
					m[extra[i]] = extra[i+1]
				}
				return m
			}
			oldData, newData := t0.Add(-2*day), t0.Add(-day)
			f := e.fake
			f.addImage(src, ecsx.Image{ID: "m-old", Name: "old", Status: "Available", Created: oldData, Tags: tags("source", e.pol.Slot(oldData))})
			f.addImage(src, ecsx.Image{ID: "m-new", Name: "new", Status: "Available", Created: newData, Tags: tags("source", e.pol.Slot(newData))})
			// The copy of the newer source finished first; the older one's copy (a retried
			// invocation) finished an hour later, or in the same second.
			newCopyAt, oldCopyAt := t0.Add(-2*time.Hour), t0.Add(-time.Hour)
			if sameSecond {
				oldCopyAt = newCopyAt
			}
			f.addImage(dstPlain, ecsx.Image{ID: "m-cz-new", Name: "cn", Status: "Available", IsCopied: true, Created: newCopyAt,
				Tags: tags("copy", e.pol.Slot(newData), policy.TagSourceImage, "m-new", policy.TagDataTime, newData.Format(time.RFC3339))})
			// The old copy has no data-time tag (made before it existed): its source's
			// creation time is used.
			f.addImage(dstPlain, ecsx.Image{ID: "m-ca-old", Name: "co", Status: "Available", IsCopied: true, Created: oldCopyAt,
				Tags: tags("copy", e.pol.Slot(oldData), policy.TagSourceImage, "m-old")})
			sum, err := e.deps().Cleanup(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := e.fake.image(dstPlain, "m-cz-new"); !ok {
				t.Fatalf("keepLast 1 deleted the copy of the newest data:\n%s", strings.Join(sum.Plan, "\n"))
			}
			if _, ok := e.fake.image(dstPlain, "m-ca-old"); ok {
				t.Errorf("the copy of older data was kept:\n%s", strings.Join(sum.Plan, "\n"))
			}
			last, ok := e.cat.last(dstPlain)
			if !ok {
				t.Fatal("no catalog sync")
			}
			for _, en := range last.Entries {
				if en.Region == dstPlain && en.InstanceID == "i-web1" && en.ImageID != "m-cz-new" {
					t.Errorf("catalog points at %s, want m-cz-new", en.ImageID)
				}
			}
		})
	}
}

// The event path refuses to copy a source older than what the destination holds.
func TestEventForOlderSourceIsNotCopied(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	day := 24 * time.Hour
	tags := e.pol.ManagedTags(map[string]string{policy.TagRole: policy.RoleSource, policy.TagSourceInstance: "i-web1",
		policy.TagSlot: e.pol.Slot(t0.Add(-2 * day)), policy.TagSourceRegion: src})
	e.fake.addImage(src, ecsx.Image{ID: "m-late", Name: "late", Status: "Available", Created: t0.Add(-2 * day), Tags: tags})
	for _, dest := range []string{dstPlain, dstKMS} {
		e.fake.addImage(dest, ecsx.Image{ID: "m-fresh-" + dest, Name: "fresh", Status: "Available", IsCopied: true, Created: t0.Add(-3 * day),
			Tags: e.pol.ManagedTags(map[string]string{policy.TagRole: policy.RoleCopy, policy.TagSourceInstance: "i-web1", policy.TagSourceRegion: src,
				policy.TagSourceImage: "m-gone", policy.TagSlot: e.pol.Slot(t0.Add(-day)), policy.TagDataTime: t0.Add(-day).Format(time.RFC3339)})})
	}
	sum, err := e.deps().HandleEvents(context.Background(), []events.ImageEvent{imageEvent("ev-late", src, "m-late")})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Copied) != 0 || e.fake.count("CopyImage") != 0 {
		t.Fatalf("copied %+v: a delayed event brought older data after newer", sum.Copied)
	}
	if _, ok := find(sum.Skipped, func(it Item) bool { return strings.Contains(it.Reason, "older than what is already copied") }); !ok {
		t.Errorf("skipped %+v, want the reason", sum.Skipped)
	}
}

// A destination with no copy of an instance gets only its newest image (or Backfill of
// them, capped by that destination's retention).
func TestBackfillIsBounded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		backfill, want int
	}{{0, 1}, {2, 2}, {10, 3}} {
		t.Run(fmt.Sprint("backfill=", tc.backfill), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(p *policy.Policy) {
				p.Destinations = []policy.Destination{{Region: dstPlain, Backfill: tc.backfill}}
				p.Retention.Destination = policy.RetentionRule{KeepLast: 3}
			})
			for i := range 6 {
				at := t0.Add(-time.Duration(6-i) * 24 * time.Hour)
				e.fake.addImage(src, ecsx.Image{ID: fmt.Sprintf("m-h%d", i), Name: fmt.Sprintf("h%d", i), Status: "Available", Created: at,
					Tags: e.pol.ManagedTags(map[string]string{policy.TagRole: policy.RoleSource, policy.TagSourceInstance: "i-web1",
						policy.TagSlot: e.pol.Slot(at), policy.TagSourceRegion: src})})
			}
			sum, err := e.deps().Reconcile(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(sum.Copied) != tc.want {
				t.Fatalf("copied %d (%+v), want %d", len(sum.Copied), sum.Copied, tc.want)
			}
			for i, it := range sum.Copied {
				_ = i
				if it.SourceImage < fmt.Sprintf("m-h%d", 6-tc.want) {
					t.Errorf("copied %s, want only the %d newest", it.SourceImage, tc.want)
				}
			}
		})
	}
}

// InvalidImageName.Duplicated: adopt when the tags prove the image ours, fail loudly
// (permanent, named) otherwise.
func TestDuplicatedNameAdoptsOnlyOurImage(t *testing.T) {
	t.Parallel()
	for _, ours := range []bool{true, false} {
		t.Run(fmt.Sprint("ours=", ours), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(p *policy.Policy) { p.Sources[0].InstanceIDs = []string{"i-web1"}; p.Sources[0].Selectors = nil })
			slot := e.pol.Slot(t0)
			name := e.pol.ImageName("i-web1", "web 1", src, slot)
			// A racing run (or a hand-made image) takes the name between our lookup and
			// our CreateImage.
			e.fake.failIf["CreateImage"] = func(region, _ string) error {
				tags := map[string]string{"team": "ops"}
				if ours {
					tags = e.pol.ManagedTags(map[string]string{policy.TagRole: policy.RoleSource, policy.TagSourceInstance: "i-web1",
						policy.TagSlot: slot, policy.TagSourceRegion: src})
				}
				e.fake.putLocked(region, &fakeImage{Image: ecsx.Image{ID: "m-racer", Name: name, Status: "Creating", Created: t0, Tags: tags}})
				return ecsx.NewError("InvalidImageName.Duplicated", 400, "The specified Image name has already been used.")
			}
			sum, err := e.deps().Create(context.Background(), t0)
			if err != nil {
				t.Fatalf("Create: %v (a duplicated name is never worth an FC retry)", err)
			}
			if ours {
				if len(sum.Started) != 1 || sum.Started[0].Image != "m-racer" || len(sum.Failed) != 0 {
					t.Errorf("started %+v failed %+v, want m-racer adopted", sum.Started, sum.Failed)
				}
				return
			}
			if len(sum.Failed) != 1 || sum.Failed[0].ErrorCode != "InvalidImageName.Duplicated" || sum.Failed[0].Retryable ||
				!strings.Contains(sum.Failed[0].Reason, "m-racer") {
				t.Errorf("failed %+v, want one permanent failure naming m-racer", sum.Failed)
			}
		})
	}
}

// The first QuotaExceed in a region stops creates there for the run: one failed record,
// the other instances skipped, and the invocation is not failed (a retry cannot help).
func TestQuotaStopsCreatesInRegion(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(p *policy.Policy) { p.Concurrency = 1 })
	e.fake.failIf["CreateImage"] = func(string, string) error {
		return ecsx.NewError("QuotaExceed.Image", 403, "The Image Quota exceeds.")
	}
	sum, err := e.deps().Create(context.Background(), t0)
	if err != nil {
		t.Fatalf("Create: %v, want no error for a permanent quota failure", err)
	}
	if n := e.fake.count("CreateImage"); n != 1 {
		t.Errorf("CreateImage calls = %d, want 1 (stop after the first quota error)", n)
	}
	if len(sum.Failed) != 1 || sum.Failed[0].ErrorCode != "QuotaExceed.Image" {
		t.Errorf("failed = %+v, want one quota record", sum.Failed)
	}
	if _, ok := find(sum.Skipped, func(it Item) bool { return it.ErrorCode == "QuotaExceed.Image" }); !ok {
		t.Errorf("skipped = %+v, want the other instance skipped for the quota", sum.Skipped)
	}
}

// Reconcile: a destination that cannot be listed degrades only itself.
func TestReconcileFailingRegionDegradesOnlyItself(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	srcImg := readySource(t, e)
	e.fake.failIf["DescribeImages"] = func(region, _ string) error {
		if region == dstKMS {
			return ecsx.NewError("ServiceUnavailable", 503, "x")
		}
		return nil
	}
	d := e.deps()
	d.Retry = ecsx.RetryConfig{Attempts: 1}
	sum, err := d.Reconcile(context.Background())
	if err == nil || !strings.Contains(err.Error(), dstKMS) {
		t.Errorf("err = %v, want a retryable error naming %s", err, dstKMS)
	}
	if len(copiesOf(e, dstPlain, srcImg.ID)) != 1 || len(copiesOf(e, dstKMS, srcImg.ID)) != 0 {
		t.Errorf("copied %+v: want the healthy destination served, the failing one left", sum.Copied)
	}
}

// A per-request read timeout on CopyImage is retryable (the invocation fails so FC
// retries), and the retry adopts the copy ECS made meanwhile instead of copying twice.
func TestCopyReadTimeoutIsRetriedWithoutDuplicate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	srcImg := readySource(t, e)
	timeout := &url.Error{Op: "Post", URL: "http://ecs.local/", Err: &net408{}}
	// The request reached ECS (the copy exists) but the answer timed out.
	e.fake.failIf["CopyImage"] = func(region, subject string) error {
		if !strings.HasSuffix(subject, ">"+dstPlain) {
			return nil
		}
		delete(e.fake.failIf, "CopyImage")
		e.fake.putLocked(dstPlain, &fakeImage{Image: ecsx.Image{ID: "m-lost-answer", Name: e.pol.CopyName(srcImg.Name, dstPlain),
			Status: "Creating", Created: t0, IsCopied: true, Tags: e.pol.ManagedTags(map[string]string{policy.TagRole: policy.RoleCopy,
				policy.TagSourceImage: srcImg.ID, policy.TagSourceInstance: "i-web1", policy.TagSourceRegion: src, policy.TagSlot: e.pol.Slot(t0)})}})
		return timeout
	}
	sum, err := e.deps().HandleEvents(context.Background(), []events.ImageEvent{imageEvent("ev-1", src, srcImg.ID)})
	if err == nil {
		t.Fatalf("a read timeout must fail the invocation so FC retries it (failed %+v)", sum.Failed)
	}
	if f, ok := find(sum.Failed, func(it Item) bool { return it.Region == dstPlain }); !ok || !f.Retryable {
		t.Errorf("failed %+v, want a retryable item for %s", sum.Failed, dstPlain)
	}
	if _, err := e.deps().HandleEvents(context.Background(), []events.ImageEvent{imageEvent("ev-1", src, srcImg.ID)}); err != nil {
		t.Fatal(err)
	}
	if n := len(copiesOf(e, dstPlain, srcImg.ID)); n != 1 {
		t.Errorf("%d copies in %s after the retry, want 1", n, dstPlain)
	}
}

type net408 struct{}

func (*net408) Error() string {
	return "net/http: request canceled (Client.Timeout exceeded while awaiting headers)"
}
func (*net408) Timeout() bool   { return true }
func (*net408) Temporary() bool { return true }

// CopyImage answers InvalidImageName.Duplicated for a copy ECS made although the answer to
// an earlier call was lost: the copy is adopted when its lineage tags prove it is the copy
// of this very source, and no second copy is made.
func TestCopyDuplicatedNameAdoptsOurCopy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(p *policy.Policy) { p.Destinations = []policy.Destination{{Region: dstPlain}} })
	srcImg := readySource(t, e)
	e.fake.failIf["CopyImage"] = func(_, subject string) error {
		e.fake.putLocked(dstPlain, &fakeImage{Image: ecsx.Image{ID: "m-made-anyway", Name: e.pol.CopyName(srcImg.Name, dstPlain),
			Status: "Creating", Created: t0, IsCopied: true, Tags: e.pol.ManagedTags(map[string]string{policy.TagRole: policy.RoleCopy,
				policy.TagSourceImage: srcImg.ID, policy.TagSourceInstance: "i-web1", policy.TagSourceRegion: src, policy.TagSlot: e.pol.Slot(t0)})}})
		return ecsx.NewError("InvalidImageName.Duplicated", 400, "The specified image name is already in use in the target region.")
	}
	sum, err := e.deps().HandleEvents(context.Background(), []events.ImageEvent{imageEvent("ev-1", src, srcImg.ID)})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Copied) != 1 || sum.Copied[0].Image != "m-made-anyway" || !strings.Contains(sum.Copied[0].Reason, "adopted") {
		t.Errorf("copied %+v failed %+v, want m-made-anyway adopted", sum.Copied, sum.Failed)
	}
	if n := len(copiesOf(e, dstPlain, srcImg.ID)); n != 1 {
		t.Errorf("%d copies, want 1", n)
	}
}
