package app_test

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/app"
	"github.com/ecsdr/ecs-image-dr/pkg/backup"
	"github.com/ecsdr/ecs-image-dr/pkg/catalog"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

const (
	hz, bj, sz = "cn-hangzhou", "cn-beijing", "cn-shenzhen"
	web, db    = "i-hz-web-1", "i-hz-db-1"
	// manualImage was made by hand: no tags, cleanup must never touch it.
	manualImage = "m-itmanualgolden0001"
	// otherPolicyImage carries our tag keys but another policy's name: not ours either.
	otherPolicyImage = "m-itotherpolicy0001"
	kmsKey           = "key-it-beijing-0001"
	days             = 5
	dropDay          = 3 // EventBridge loses every event: reconcile alone makes the copies
	dupDay           = 2 // EventBridge delivers every event twice
)

// cycleSeed is the default account plus an instance the exclude rule must skip and two
// images cleanup must leave alone.
func cycleSeed() *ecs.Seed {
	seed := ecs.DefaultSeed()
	seed.Instances = append(seed.Instances, ecs.InstanceSeed{ID: "i-hz-dev-2", Region: hz, Name: "dev-2",
		Tags: map[string]string{"backup": "daily", "env": "dev"}, Disks: []ecs.DiskSeed{{Type: "system", SizeGiB: 20}}})
	seed.Images = append(seed.Images,
		ecs.ImageSeed{ID: manualImage, Region: hz, Name: "golden-manual", OwnerAlias: "self", SizeGiB: 40},
		ecs.ImageSeed{ID: otherPolicyImage, Region: bj, Name: "other-policy-copy", OwnerAlias: "self", SizeGiB: 40,
			Tags: map[string]string{policy.TagManagedBy: policy.ManagedByValue, policy.TagPolicy: "other-policy",
				policy.TagRole: policy.RoleCopy, policy.TagSourceInstance: web, policy.TagSlot: "20261001"}})
	return &seed
}

func slotOf(day int) string { return fmt.Sprintf("202611%02d", day) }

// Five simulated days of the three functions, called the way FC calls them (timer payloads
// and EventBridge CloudEvents), with the events of one day lost, those of another delivered
// twice, and a source image put into use. The end state must be exact.
func TestMultiDayCycleThroughTheHandlers(t *testing.T) {
	t.Parallel()
	doc, pol := loadPolicy(t, "cycle-policy.yaml")
	c := newCloud(t, cloudOptions{seed: cycleSeed(), env: map[string]string{app.EnvPolicy: doc}})
	for _, r := range pol.DestinationRegions() {
		if err := c.srv.OSS.CreateBucket(pol.CatalogBucket(r), r); err != nil {
			t.Fatal(err)
		}
	}
	regions := []string{hz, bj, sz}
	var inUse string // web-1's day-1 source image, launched from on day 2

	for day := 1; day <= days; day++ {
		slot := slotOf(day)
		c.clock.AdvanceTo(at(day, 2, 0))
		res := c.mustInvoke(fmt.Sprintf("day %d create", day), app.CreateImage, timerPayload(at(day, 2, 0), "daily", "create"))
		if res.Kind != "timer" || res.Create == nil || res.Policy != pol.Name {
			t.Fatalf("day %d create: result %+v", day, res)
		}
		if got := res.Create.Slot; got != slot {
			t.Fatalf("day %d create: slot %s, want %s (02:00 Shanghai)", day, got, slot)
		}
		if got := instancesOf(res.Create.Started); !slices.Equal(got, []string{db, web}) {
			t.Fatalf("day %d create: started %v, want [%s %s]", day, got, db, web)
		}
		if got := instancesOf(res.Create.Skipped); !slices.Equal(got, []string{"i-hz-locked-1"}) {
			t.Errorf("day %d create: skipped %v, want only the locked instance (dev ones are not selected)", day, got)
		}

		// Both source images are Available by 02:29 (db-1: 2m + 540 GiB × 3s).
		c.clock.AdvanceTo(at(day, 2, 30))
		copied := 0
		for _, res := range c.deliver(day, day == dropDay, day == dupDay) {
			copied += len(res.Copy.Copied)
		}
		if want := map[bool]int{true: 0, false: 4}[day == dropDay]; copied != want {
			t.Errorf("day %d: source events started %d copies, want %d", day, copied, want)
		}

		c.clock.AdvanceTo(at(day, 3, 30))
		rec := c.mustInvoke(fmt.Sprintf("day %d reconcile", day), app.CopyImage, timerPayload(at(day, 3, 30), "reconcile", "reconcile"))
		if rec.Copy == nil {
			t.Fatalf("day %d reconcile: result %+v", day, rec)
		}
		if want := map[bool]int{true: 4, false: 0}[day == dropDay]; len(rec.Copy.Copied) != want {
			t.Errorf("day %d reconcile: copied %+v, want %d copies", day, rec.Copy.Copied, want)
		}
		if len(rec.Copy.Failed) > 0 {
			t.Errorf("day %d reconcile: failed %+v", day, rec.Copy.Failed)
		}

		// Copies take up to 5m + 540 GiB × 6s = 59m.
		c.settle(3*time.Hour, regions...)
		for _, res := range c.deliver(day, day == dropDay, day == dupDay) {
			if len(res.Copy.CatalogSynced) != 1 {
				t.Errorf("day %d: a copy's Available event synced catalogs %v, want its region", day, res.Copy.CatalogSynced)
			}
		}

		c.clock.AdvanceTo(at(day, 5, 0))
		cl := c.mustInvoke(fmt.Sprintf("day %d cleanup", day), app.Cleanup, timerPayload(at(day, 5, 0), "daily", "cleanup"))
		if cl.Cleanup == nil {
			t.Fatalf("day %d cleanup: result %+v", day, cl)
		}
		if len(cl.Cleanup.Failed) > 0 || len(cl.Cleanup.SnapshotsLeft) > 0 {
			t.Errorf("day %d cleanup: failed %+v, snapshots left %+v", day, cl.Cleanup.Failed, cl.Cleanup.SnapshotsLeft)
		}
		if !slices.Equal(cl.Cleanup.CatalogSynced, []string{bj, sz}) {
			t.Errorf("day %d cleanup: catalogs synced %v", day, cl.Cleanup.CatalogSynced)
		}
		if day == days && inUse != "" {
			it, ok := findImage(cl.Cleanup.Kept, inUse)
			if !ok || !strings.Contains(it.Reason, "in use") {
				t.Errorf("day %d cleanup: in-use image %s kept as %+v (found %v), want reason \"in use\"", day, inUse, it, ok)
			}
		}
		c.checkSnapshots(fmt.Sprintf("day %d", day), append(regions, "cn-shanghai", "ap-southeast-1"))
		c.checkCatalog(fmt.Sprintf("day %d", day), pol, slot)

		if day == 2 {
			// Someone launches an instance from web-1's day-1 image: from now on it is in use
			// and must outlive keepLast 2.
			c.clock.AdvanceTo(at(day, 12, 0))
			for _, im := range c.managed(hz, pol) {
				if im.Tags[policy.TagSourceInstance] == web && im.Tags[policy.TagSlot] == slotOf(1) {
					inUse = im.ID
				}
			}
			if inUse == "" {
				t.Fatal("no day-1 source image of web-1 to launch from")
			}
			if _, err := c.srv.ECS.AddInstance(hz, ecs.InstanceSeed{Name: "restored-web", ImageID: inUse,
				Disks: []ecs.DiskSeed{{Type: "system", SizeGiB: 40}}}); err != nil {
				t.Fatal(err)
			}
		}
	}

	// The exact set of managed images: slots per instance per region.
	want := map[string]map[string][]string{
		hz: {web: {slotOf(1), slotOf(4), slotOf(5)}, db: {slotOf(4), slotOf(5)}},
		bj: {web: {slotOf(3), slotOf(4), slotOf(5)}, db: {slotOf(3), slotOf(4), slotOf(5)}},
		sz: {web: {slotOf(3), slotOf(4), slotOf(5)}, db: {slotOf(3), slotOf(4), slotOf(5)}},
	}
	got := map[string]map[string][]string{}
	for _, r := range append(regions, "cn-shanghai", "ap-southeast-1") {
		for _, im := range c.managed(r, pol) {
			if im.Status != "Available" {
				t.Errorf("%s: image %s is %s at the end", r, im.ID, im.Status)
			}
			if got[r] == nil {
				got[r] = map[string][]string{}
			}
			inst := im.Tags[policy.TagSourceInstance]
			got[r][inst] = append(got[r][inst], im.Tags[policy.TagSlot])
			switch {
			case r == bj && (!im.Encrypted || im.KMSKeyID != kmsKey):
				t.Errorf("%s: copy %s encrypted=%v kms=%q, want encrypted with %s", r, im.ID, im.Encrypted, im.KMSKeyID, kmsKey)
			case r == sz && im.Encrypted:
				t.Errorf("%s: copy %s is encrypted; the destination does not ask for it", r, im.ID)
			}
		}
	}
	for _, byInst := range got {
		for _, slots := range byInst {
			slices.Sort(slots)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("managed images at the end (region → instance → slots):\n got %v\nwant %v", got, want)
	}

	for region, id := range map[string]string{hz: manualImage, bj: otherPolicyImage} {
		if !slices.ContainsFunc(c.srv.ECS.Images(region), func(im ecs.Image) bool { return im.ID == id && im.Status == "Available" }) {
			t.Errorf("%s: image %s not managed by this policy was removed", region, id)
		}
	}
}

// deliver hands the pending image events to the copy-image handler, one invocation per
// event as EventBridge does (twice each when dup; none when drop).
func (c *cloud) deliver(day int, drop, dup bool) []*app.Result {
	c.t.Helper()
	evs := c.takeEvents()
	if drop {
		return nil
	}
	var out []*app.Result
	for _, e := range evs {
		times := 1
		if dup {
			times = 2
		}
		for range times {
			res := c.mustInvoke(fmt.Sprintf("day %d event %s %s", day, e.Region, e.Data["imageId"]), app.CopyImage, eventPayload(c.t, e))
			if res.Kind != "image-events" || res.Copy == nil {
				c.t.Fatalf("day %d: event result %+v", day, res)
			}
			if len(res.Copy.Failed) > 0 || len(res.Copy.Rejected) > 0 {
				c.t.Errorf("day %d: event %s: failed %+v rejected %+v", day, e.ID, res.Copy.Failed, res.Copy.Rejected)
			}
			out = append(out, res)
		}
	}
	return out
}

// checkSnapshots: every image's snapshots exist, and every snapshot belongs to an image
// that exists. The emulator clears ImageID when an image is deleted, so an orphan shows as
// a snapshot no image lists; every snapshot here is an image's (the seed has no others).
func (c *cloud) checkSnapshots(when string, regions []string) {
	c.t.Helper()
	for _, r := range regions {
		images := map[string]bool{}
		referenced := map[string]string{}
		for _, im := range c.srv.ECS.Images(r) {
			images[im.ID] = true
			for _, d := range im.Disks {
				referenced[d.SnapshotID] = im.ID
			}
		}
		have := map[string]bool{}
		for _, sn := range c.srv.ECS.Snapshots(r) {
			have[sn.ID] = true
			if sn.ImageID != "" && !images[sn.ImageID] {
				c.t.Errorf("%s: %s: snapshot %s names image %s, which does not exist", when, r, sn.ID, sn.ImageID)
			}
			if _, ok := referenced[sn.ID]; !ok {
				c.t.Errorf("%s: %s: snapshot %s is orphaned (no image uses it; usage %q)", when, r, sn.ID, sn.Usage)
			}
		}
		for sid, img := range referenced {
			if !have[sid] {
				c.t.Errorf("%s: %s: image %s lists snapshot %s, which does not exist", when, r, img, sid)
			}
		}
	}
}

// checkCatalog: the catalog in every destination names, for each instance and region of
// the policy, the newest image, of slot.
func (c *cloud) checkCatalog(when string, pol *policy.Policy, slot string) {
	c.t.Helper()
	store, err := ossx.New(c.srv.URL(), core.DefaultAccessKeyID, core.DefaultAccessKeySecret, "")
	if err != nil {
		c.t.Fatal(err)
	}
	newest := map[string]string{} // region/instance -> id of the image of slot
	for _, r := range []string{hz, bj, sz} {
		for _, im := range c.managed(r, pol) {
			if im.Tags[policy.TagSlot] == slot && im.Status == "Available" {
				newest[r+"/"+im.Tags[policy.TagSourceInstance]] = im.ID
			}
		}
	}
	if len(newest) != 6 {
		c.t.Fatalf("%s: images of slot %s: %v, want web-1 and db-1 in 3 regions", when, slot, newest)
	}
	for _, dest := range pol.DestinationRegions() {
		entries, err := catalog.Read(context.Background(), store, pol.CatalogBucket(dest), pol.Name)
		if err != nil {
			c.t.Fatalf("%s: read catalog in %s: %v", when, dest, err)
		}
		got := map[string]string{}
		for _, e := range entries {
			got[e.Region+"/"+e.InstanceID] = e.ImageID
			wantRole := policy.RoleCopy
			if e.Region == hz {
				wantRole = policy.RoleSource
			}
			if e.Slot != slot || e.Role != wantRole {
				c.t.Errorf("%s: catalog in %s: entry %s/%s is slot %s role %s, want %s %s", when, dest, e.Region, e.InstanceID, e.Slot, e.Role, slot, wantRole)
			}
		}
		if !maps.Equal(got, newest) {
			c.t.Errorf("%s: catalog in %s:\n got %v\nwant %v", when, dest, got, newest)
		}
	}
}

func instancesOf(items []backup.Item) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.Instance)
	}
	slices.Sort(out)
	return out
}

func findImage(items []backup.Item, id string) (backup.Item, bool) {
	for _, it := range items {
		if it.Image == id {
			return it, true
		}
	}
	return backup.Item{}, false
}
