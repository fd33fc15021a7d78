package backup

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/catalog"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// shardFleet is a test env with n selected instances (and the default fixture's) and no
// history yet.
func shardFleet(t *testing.T, n int) *testEnv {
	t.Helper()
	e := newEnv(t, func(p *policy.Policy) {
		p.Retention = policy.Retention{Source: policy.RetentionRule{KeepLast: 2}, Destination: policy.RetentionRule{KeepLast: 3}}
	})
	for i := range n {
		e.fake.addInstance(src, ecsx.Instance{ID: fmt.Sprintf("i-shard%03d", i), Status: "Running", Tags: map[string]string{"backup": "daily"}})
	}
	return e
}

// day runs one day of the pipeline, each service once per shard of count (1: unsharded):
// create, settle, reconcile (the copies), settle, cleanup. It returns the cleanup
// summaries and the created/copied items.
func (e *testEnv) day(t *testing.T, count int) (started, copied []Item, cleanups []CleanupSummary) {
	t.Helper()
	ctx := context.Background()
	for k := range count {
		d := e.deps()
		d.Shard = policy.Shard{Index: k, Count: count}
		sum, err := d.Create(ctx, e.clock())
		if err != nil {
			t.Fatalf("create %s: %v", d.Shard, err)
		}
		started = append(started, sum.Started...)
	}
	e.fake.finishAll()
	for k := range count {
		d := e.deps()
		d.Shard = policy.Shard{Index: k, Count: count}
		sum, err := d.Reconcile(ctx)
		if err != nil {
			t.Fatalf("reconcile %s: %v", d.Shard, err)
		}
		copied = append(copied, sum.Copied...)
	}
	e.fake.finishAll()
	for k := range count {
		d := e.deps()
		d.Shard = policy.Shard{Index: k, Count: count}
		sum, err := d.Cleanup(ctx)
		if err != nil {
			t.Fatalf("cleanup %s: %v\n%s", d.Shard, err, strings.Join(sum.Plan, "\n"))
		}
		for _, list := range [][]Item{sum.Kept, sum.Deleted, sum.Failed} {
			for _, it := range list {
				if it.Instance != "" && !d.Shard.Contains(it.Instance) {
					t.Errorf("cleanup of shard %s judged %s (%s), an instance of another shard", d.Shard, it.Image, it.Instance)
				}
			}
		}
		cleanups = append(cleanups, sum)
	}
	e.advance(24 * time.Hour)
	return started, copied, cleanups
}

// state is what the cloud holds, by lineage rather than by id (ids differ between envs):
// region/role/instance/slot per image, and the number of snapshots per region.
func (e *testEnv) state() (images []string, snapshots map[string]int) {
	snapshots = map[string]int{}
	for _, region := range []string{src, dstPlain, dstKMS} {
		for _, im := range e.fake.regionImages(region) {
			images = append(images, strings.Join([]string{region, im.Tags[policy.TagRole], im.Tags[policy.TagSourceInstance],
				im.Tags[policy.TagSlot], im.Status}, "/"))
		}
		snapshots[region] = len(e.fake.snapshotIDs(region))
	}
	slices.Sort(images)
	return images, snapshots
}

// The shards of a count together do exactly what one run over the whole fleet does,
// day after day: every instance imaged once per slot, copied once per destination, and
// the same images (and snapshots) left after retention; no run judges an instance of
// another shard.
func TestShardedRunsEqualOneRun(t *testing.T) {
	t.Parallel()
	whole, sharded := shardFleet(t, 40), shardFleet(t, 40)
	for day := range 6 {
		s1, c1, _ := whole.day(t, 1)
		s4, c4, _ := sharded.day(t, 4)
		if a, b := slices.Sorted(slices.Values(instancesOf(s1))), slices.Sorted(slices.Values(instancesOf(s4))); !slices.Equal(a, b) {
			t.Fatalf("day %d: created for %v unsharded, %v by 4 shards", day, a, b)
		}
		if len(s1) < 40 || len(c1) != len(c4) {
			t.Fatalf("day %d: %d created, copies %d unsharded vs %d sharded", day, len(s1), len(c1), len(c4))
		}
		wi, ws := whole.state()
		si, ss := sharded.state()
		if !slices.Equal(wi, si) || !maps.Equal(ws, ss) {
			t.Fatalf("day %d: the shards left a different cloud\nunsharded: %d images %v\nsharded:   %d images %v", day, len(wi), ws, len(si), ss)
		}
	}
	imgs, snaps := sharded.state()
	// Retention holds: per instance 2 sources and 3 copies per destination (6 days made).
	if len(imgs) != 42*(2+3+3) || snaps[src] == 0 {
		t.Fatalf("after 6 days: %d images (want %d), snapshots %v", len(imgs), 42*8, snaps)
	}
}

// A shard's cleanup rebuilds only its part of the catalog: the sync says which instances
// it speaks for, and that scope is exactly the shard.
func TestShardCleanupSyncsItsScopeOnly(t *testing.T) {
	t.Parallel()
	e := shardFleet(t, 20)
	e.day(t, 1)
	d := e.deps()
	d.Shard = policy.Shard{Index: 1, Count: 4}
	if _, err := d.Cleanup(context.Background()); err != nil {
		t.Fatal(err)
	}
	s, ok := e.cat.last(dstPlain)
	if !ok || s.Remove == nil {
		t.Fatalf("cleanup did not sync %s with a removal scope", dstPlain)
	}
	for i := range 20 {
		id := fmt.Sprintf("i-shard%03d", i)
		if s.Remove(id) != d.Shard.Contains(id) {
			t.Errorf("scope(%s) = %v, but the shard contains it: %v", id, s.Remove(id), d.Shard.Contains(id))
		}
	}
	for _, en := range s.Entries {
		if !d.Shard.Contains(en.InstanceID) {
			t.Errorf("shard %s synced an entry of %s, another shard's instance", d.Shard, en.InstanceID)
		}
	}
	var _ catalog.Scope = s.Remove
}

// A snapshot claimed before snapshots carried their instance (no TagSourceInstance) is
// judged by shard 0 only; one whose image is alive and ours, outside the run's inventory,
// is kept quietly (no "re-tagged by hand" warning).
func TestShardSnapshotsWithoutInstanceTag(t *testing.T) {
	t.Parallel()
	e := shardFleet(t, 8)
	e.day(t, 1)
	// An orphan from before: image gone, snapshot tagged the old way.
	e.fake.mu.Lock()
	e.fake.snapshots[src]["s-old"] = true
	e.fake.snapTags[src+"/s-old"] = map[string]string{policy.TagManagedBy: policy.ManagedByValue, policy.TagPolicy: e.pol.Name, policy.TagSnapshotOf: "m-long-gone"}
	e.fake.mu.Unlock()
	for k := 1; k < 4; k++ {
		d := e.deps()
		d.Shard = policy.Shard{Index: k, Count: 4}
		if _, err := d.Cleanup(context.Background()); err != nil {
			t.Fatal(err)
		}
		if !e.fake.hasSnapshot(src, "s-old") {
			t.Fatalf("shard %s deleted a snapshot without an instance tag (shard 0's)", d.Shard)
		}
	}
	d := e.deps()
	d.Shard = policy.Shard{Index: 0, Count: 4}
	if _, err := d.Cleanup(context.Background()); err != nil {
		t.Fatal(err)
	}
	if e.fake.hasSnapshot(src, "s-old") {
		t.Fatal("shard 0 did not collect the orphan without an instance tag")
	}
	if n := len(e.records(map[string]string{"level": "WARN", "action": "keep"})); n != 0 {
		t.Errorf("%d keep warnings: images of other shards were taken for re-tagged ones", n)
	}
}
