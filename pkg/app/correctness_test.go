package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/app"
	"github.com/ecsdr/ecs-image-dr/pkg/backup"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// correctnessCloud is the cycle policy on the default seed, with catalog buckets.
func correctnessCloud(t *testing.T, doc string, pol *policy.Policy) *cloud {
	t.Helper()
	c := newCloud(t, cloudOptions{seed: cycleSeed(), env: map[string]string{app.EnvPolicy: doc}})
	for _, r := range pol.DestinationRegions() {
		if err := c.srv.OSS.CreateBucket(pol.CatalogBucket(r), r); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// sourcesOf are the policy's source images of instance in slot, by status.
func (c *cloud) sourcesOf(pol *policy.Policy, instance, slot string) (live, failed int, attempts []string) {
	for _, im := range c.managed(hz, pol) {
		if im.Tags[policy.TagSourceInstance] != instance || im.Tags[policy.TagSlot] != slot || im.Tags[policy.TagRole] != policy.RoleSource {
			continue
		}
		attempts = append(attempts, im.Tags[policy.TagAttempt]+"/"+im.Status)
		if im.Status == "CreateFailed" || im.Status == "UnAvailable" {
			failed++
		} else {
			live++
		}
	}
	return live, failed, attempts
}

// An image that ends CreateFailed on the local cloud: its failure event reaches
// copy-image (the s.yaml pattern passes failure states), which records it as failed (in
// the function's log, which is what SLS receives), deletes it and makes the next attempt
// in the same slot; the new image is copied as usual and no snapshot is left behind.
func TestFailedImageIsRetriedThroughTheHandlers(t *testing.T) {
	t.Parallel()
	doc, pol := loadPolicy(t, "cycle-policy.yaml")
	c := correctnessCloud(t, doc, pol)
	if err := c.srv.ECS.FailNextImages(hz, web, 1); err != nil {
		t.Fatal(err)
	}
	now := at(1, 2, 0)
	c.clock.AdvanceTo(now)
	c.mustInvoke("create", app.CreateImage, timerPayload(now, "daily", "create"))
	c.settle(3*time.Hour, hz)
	if live, failed, at := c.sourcesOf(pol, web, slotOf(1)); live != 0 || failed != 1 {
		t.Fatalf("setup: web-1's image should have failed: %v", at)
	}
	var sawFailure bool
	for _, e := range c.takeEvents() {
		res := c.mustInvoke("event", app.CopyImage, eventPayload(t, e))
		if e.Data["currentState"] == "CreateFailed" {
			sawFailure = true
			if _, ok := findAction(res.Copy.Failed, func(it backup.Item) bool { return it.ErrorCode == "CreateFailed" && !it.Retryable }); !ok {
				t.Errorf("failure event result: failed %+v, want the failed image recorded", res.Copy.Failed)
			}
		}
	}
	if !sawFailure {
		t.Fatal("no CreateFailed event was delivered")
	}
	if live, failed, at := c.sourcesOf(pol, web, slotOf(1)); live != 1 || failed != 0 {
		t.Fatalf("after the failure event: %v, want one live second attempt and the failed one gone", at)
	}
	c.settle(3*time.Hour, hz)
	c.deliver(1, false, false)
	c.settle(6*time.Hour, hz, bj, sz)
	c.deliver(1, false, false)
	_, _, attempts := c.sourcesOf(pol, web, slotOf(1))
	if len(attempts) != 1 || attempts[0] != "2/Available" {
		t.Errorf("web-1's slot images: %v, want the second attempt Available", attempts)
	}
	for _, r := range []string{bj, sz} {
		n := 0
		for _, im := range c.managed(r, pol) {
			if im.Tags[policy.TagSourceInstance] == web {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: %d copies of web-1, want 1", r, n)
		}
	}
	c.checkSnapshots("after the retry", []string{hz, bj, sz})
	n := 0
	for _, m := range c.stdout.JSONLines(t) {
		if m["action"] == "image-failed" && m["result"] == "failed" && m["instance"] == web {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d image-failed records for web-1 in the function log, want 1", n)
	}
}

func findAction(items []backup.Item, pred func(backup.Item) bool) (backup.Item, bool) {
	for _, it := range items {
		if pred(it) {
			return it, true
		}
	}
	return backup.Item{}, false
}

// Cleanup whose DeleteSnapshot calls all fail (a kill between DeleteImage and
// DeleteSnapshot leaves the same state): the next cleanup deletes what was left.
func TestCleanupLeftoversCollectedThroughTheHandlers(t *testing.T) {
	t.Parallel()
	doc, pol := loadPolicy(t, "cycle-policy.yaml")
	c := correctnessCloud(t, doc, pol)
	for day := 1; day <= 4; day++ {
		now := at(day, 2, 0)
		c.clock.AdvanceTo(now)
		c.mustInvoke("create", app.CreateImage, timerPayload(now, "daily", "create"))
		c.settle(3*time.Hour, hz)
		c.deliver(day, false, false)
		c.settle(6*time.Hour, hz, bj, sz)
		c.deliver(day, false, false)
	}
	now := at(4, 4, 0)
	c.clock.AdvanceTo(now)
	c.srv.Env.Faults.Set("ecs", "DeleteSnapshot", core.FaultRule{FailNext: 1000, ErrorStatus: 500, ErrorCode: "InternalError"})
	res, _ := c.invoke(app.Cleanup, timerPayload(now, "daily", "cleanup"))
	if res == nil || res.Cleanup == nil || len(res.Cleanup.Deleted) == 0 || len(res.Cleanup.SnapshotsLeft) == 0 {
		t.Fatalf("setup: cleanup should delete images and leave their snapshots: %+v", res)
	}
	left := res.Cleanup.SnapshotsLeft
	c.srv.Env.Faults.Clear()
	res = c.mustInvoke("cleanup again", app.Cleanup, timerPayload(now, "daily", "cleanup"))
	deleted := map[string]bool{}
	for _, s := range res.Cleanup.SnapshotsDeleted {
		deleted[s] = true
	}
	for _, it := range left {
		if !deleted[it.Region+"/"+it.Snapshot] {
			t.Errorf("snapshot %s/%s left by the first run was not collected by the next (deleted %v)", it.Region, it.Snapshot, res.Cleanup.SnapshotsDeleted)
		}
	}
	c.checkSnapshots("after the second cleanup", []string{hz, bj, sz})
}

// A timer payload from the future (a manual run with a made-up date) acts now: the slot is
// the clock's, and the clamp is recorded.
func TestFutureTriggerTimeIsClampedThroughTheHandlers(t *testing.T) {
	t.Parallel()
	doc, pol := loadPolicy(t, "cycle-policy.yaml")
	c := correctnessCloud(t, doc, pol)
	now := at(3, 2, 0)
	c.clock.AdvanceTo(now)
	res := c.mustInvoke("create from the future", app.CreateImage, timerPayload(now.AddDate(1, 0, 0), "manual", "create"))
	if res.Create.Slot != slotOf(3) {
		t.Errorf("slot %s, want the clock's %s", res.Create.Slot, slotOf(3))
	}
	res = c.mustInvoke("run now", app.CreateImage, readGolden(t, "run-now.json"))
	if res.Create.Slot != slotOf(3) || len(res.Create.Started) != 0 {
		t.Errorf("run-now: slot %s started %d, want slot %s and nothing new", res.Create.Slot, len(res.Create.Started), slotOf(3))
	}
	n := 0
	for _, m := range c.stdout.JSONLines(t) {
		if m["msg"] == "payload time replaced by the clock" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d clamp records, want 2", n)
	}
}

// Quota: the first QuotaExceed stops creates in the region with one failed record, and the
// invocation is not failed (an FC retry cannot help).
func TestQuotaThroughTheHandlers(t *testing.T) {
	t.Parallel()
	doc, pol := loadPolicy(t, "cycle-policy.yaml")
	c := correctnessCloud(t, doc, pol)
	c.srv.ECS.SetImageQuota(hz, 0)
	now := at(1, 2, 0)
	c.clock.AdvanceTo(now)
	res, err := c.invoke(app.CreateImage, timerPayload(now, "daily", "create"))
	if err != nil {
		t.Fatalf("create: %v, want the quota recorded, not an invocation failure", err)
	}
	if len(res.Create.Failed) != 1 || !ecsx.IsQuotaExceeded(ecsx.NewError(res.Create.Failed[0].ErrorCode, 403, "")) {
		t.Errorf("failed %+v, want one quota record", res.Create.Failed)
	}
}

// A name taken by an image that is not ours: the create fails loudly for that instance
// (permanent, naming the image), nothing is adopted or deleted.
func TestDuplicatedNameNotOursThroughTheHandlers(t *testing.T) {
	t.Parallel()
	doc, pol := loadPolicy(t, "cycle-policy.yaml")
	c := correctnessCloud(t, doc, pol)
	now := at(1, 2, 0)
	c.clock.AdvanceTo(now)
	api, err := ecsx.NewSDK(ecsx.SDKConfig{Endpoint: c.srv.Addr(), Scheme: "HTTP",
		Credentials: func() (string, string, string) { return core.DefaultAccessKeyID, core.DefaultAccessKeySecret, "" }})
	if err != nil {
		t.Fatal(err)
	}
	name := pol.ImageName(web, "web-1", hz, slotOf(1))
	squatter, err := api.CreateImage(context.Background(), hz, ecsx.CreateImageInput{InstanceID: web, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.invoke(app.CreateImage, timerPayload(now, "daily", "create"))
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	it, ok := findAction(res.Create.Failed, func(it backup.Item) bool { return it.Instance == web })
	if !ok || it.ErrorCode != "InvalidImageName.Duplicated" || it.Retryable || !strings.Contains(it.Reason, squatter) {
		t.Errorf("web-1: %+v, want a permanent duplicated-name failure naming %s", it, squatter)
	}
	if live, _, _ := c.sourcesOf(pol, web, slotOf(1)); live != 0 {
		t.Errorf("an image was adopted or made for web-1 despite the foreign name holder")
	}
}

// Events delivered out of order: the older day's Available event arrives after the newer
// day's copy exists; the older image is not copied over it.
func TestOlderEventAfterNewerCopyThroughTheHandlers(t *testing.T) {
	t.Parallel()
	doc, pol := loadPolicy(t, "cycle-policy.yaml")
	c := correctnessCloud(t, doc, pol)
	now := at(1, 2, 0)
	c.clock.AdvanceTo(now)
	c.mustInvoke("create day 1", app.CreateImage, timerPayload(now, "daily", "create"))
	c.settle(3*time.Hour, hz)
	day1 := c.takeEvents() // held back: delivered late
	now = at(2, 2, 0)
	c.clock.AdvanceTo(now)
	c.mustInvoke("create day 2", app.CreateImage, timerPayload(now, "daily", "create"))
	c.settle(3*time.Hour, hz)
	c.deliver(2, false, false)
	c.settle(6*time.Hour, hz, bj, sz)
	c.deliver(2, false, false)
	for _, e := range day1 {
		res := c.mustInvoke("late event", app.CopyImage, eventPayload(t, e))
		if len(res.Copy.Copied) != 0 {
			t.Errorf("late day-1 event copied %+v over day 2's copies", res.Copy.Copied)
		}
	}
	for _, r := range []string{bj, sz} {
		for _, im := range c.managed(r, pol) {
			if im.Tags[policy.TagSlot] == slotOf(1) {
				t.Errorf("%s: copy %s of day 1 made after day 2's", r, im.ID)
			}
		}
	}
}
