package backup

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// memMarks is Marks in memory.
type memMarks struct {
	mu   sync.Mutex
	keys map[string]bool
	err  error // returned by Marked and Mark when set
}

func (m *memMarks) Marked(_ context.Context, pol, prefix string) (map[string]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	out := map[string]bool{}
	for k := range m.keys {
		if rest, ok := strings.CutPrefix(k, pol+"/"); ok && strings.HasPrefix(rest, prefix) {
			out[rest] = true
		}
	}
	return out, nil
}

func (m *memMarks) Mark(_ context.Context, pol, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	if m.keys == nil {
		m.keys = map[string]bool{}
	}
	m.keys[pol+"/"+key] = true
	return nil
}

// count is how many marks are set under prefix ("": all).
func (m *memMarks) count(prefix string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k := range m.keys {
		if _, rest, _ := strings.Cut(k, "/"); strings.HasPrefix(rest, prefix) {
			n++
		}
	}
	return n
}

// readCounter counts the managed images DescribeImages reads from the server (before a
// query's Keep), by whether the query named a shard bucket.
type readCounter struct {
	ecsx.API
	mu              sync.Mutex
	full, byBucket  int
	bucketQueries   int
	fullListings    int
	managedListings int
	// DescribeSnapshots of our claimed snapshots, by bucket or in full.
	snapBucketQueries, snapFullListings int
}

func (c *readCounter) DescribeImages(ctx context.Context, region string, q ecsx.ImageQuery) ([]ecsx.Image, error) {
	keep := q.Keep
	q.Keep = nil
	imgs, err := c.API.DescribeImages(ctx, region, q)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	// The inventory's listings: ours, all statuses, no id, slot or marker filter.
	if len(q.IDs) == 0 && q.Tags[policy.TagManagedBy] != "" && q.Tags[policy.TagSlot] == "" && q.Tags[policy.TagPending] == "" &&
		q.Tags[policy.TagSourceInstance] == "" {
		c.managedListings++
		if b := q.Tags[policy.TagBucket]; b != "" {
			c.bucketQueries++
			c.byBucket += len(imgs)
		} else {
			c.fullListings++
			c.full += len(imgs)
		}
	}
	c.mu.Unlock()
	if keep == nil {
		return imgs, nil
	}
	return slices.DeleteFunc(imgs, func(im ecsx.Image) bool { return !keep(im) }), nil
}

func (c *readCounter) DescribeSnapshots(ctx context.Context, region string, q ecsx.SnapshotQuery) ([]ecsx.Snapshot, error) {
	if len(q.IDs) == 0 && q.Tags[policy.TagManagedBy] != "" {
		c.mu.Lock()
		if q.Tags[policy.TagBucket] != "" {
			c.snapBucketQueries++
		} else {
			c.snapFullListings++
		}
		c.mu.Unlock()
	}
	return c.API.DescribeSnapshots(ctx, region, q)
}

func (c *readCounter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.full, c.byBucket, c.bucketQueries, c.fullListings, c.managedListings = 0, 0, 0, 0, 0
	c.snapBucketQueries, c.snapFullListings = 0, 0
}

// stripBuckets removes TagBucket from every image and snapshot, the images and claimed
// snapshots of a release before it; with instances, TagSourceInstance from the claimed
// snapshots too (claimed by an even older release).
func (f *fakeECS) stripBuckets(instances ...bool) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, tags := range f.snapTags {
		delete(tags, policy.TagBucket)
		if len(instances) > 0 && instances[0] {
			delete(tags, policy.TagSourceInstance)
		}
	}
	for _, imgs := range f.images {
		for _, im := range imgs {
			if _, ok := im.Tags[policy.TagBucket]; ok {
				delete(im.Tags, policy.TagBucket)
				n++
			}
		}
	}
	return n
}

// missingBuckets lists the managed images whose TagBucket is not their instance's bucket,
// and the snapshots claimed as ours without an instance or its bucket.
func (f *fakeECS) missingBuckets() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for id, tags := range f.snapTags {
		if tags[policy.TagManagedBy] == "" {
			continue
		}
		if inst := tags[policy.TagSourceInstance]; inst == "" || tags[policy.TagBucket] != policy.BucketOf(inst) {
			out = append(out, "snapshot "+id)
		}
	}
	for region, imgs := range f.images {
		for _, im := range imgs {
			inst := im.Tags[policy.TagSourceInstance]
			if im.Tags[policy.TagManagedBy] != "" && inst != "" && im.Tags[policy.TagBucket] != policy.BucketOf(inst) {
				out = append(out, region+"/"+im.ID)
			}
		}
	}
	return out
}

// shardDay is env.day with the env's ECS behind a readCounter and marks.
func (e *testEnv) withReads(marks *memMarks) *readCounter {
	rc := &readCounter{API: e.fake}
	e.ecsOverride = rc
	e.marks = marks
	return rc
}

// Images made before the bucket tag existed: the first sharded runs list each region in
// full, tag their shard's images and mark their buckets; from then on a shard reads only
// its buckets (a quarter of the pages for 4 shards) and the cloud it leaves is exactly the
// one an unsharded run leaves.
func TestShardBucketsMigrateThenListByTag(t *testing.T) {
	t.Parallel()
	whole, sharded := shardFleet(t, 40), shardFleet(t, 40)
	marks := &memMarks{}
	rc := sharded.withReads(marks)
	for range 2 { // history made by the release before: no bucket tags
		whole.day(t, 1)
		sharded.day(t, 1)
	}
	if n := sharded.fake.stripBuckets(true); n == 0 {
		t.Fatal("no image carried a bucket tag to strip")
	}
	marks.keys = nil // the unsharded days marked every bucket: the old release did not
	rc.reset()

	whole.day(t, 1)
	sharded.day(t, 4)
	// Each shard's first run (the reconcile) lists each of the 3 regions in full and marks
	// its buckets; its cleanup already lists by bucket.
	if rc.fullListings != 4*3 || rc.bucketQueries == 0 {
		t.Fatalf("first sharded day: %d full listings (want 12: one per shard and region), %d bucket queries", rc.fullListings, rc.bucketQueries)
	}
	if miss := sharded.fake.missingBuckets(); len(miss) != 0 {
		t.Fatalf("after the first sharded day %d images still lack their bucket tag: %v", len(miss), miss[:min(5, len(miss))])
	}
	if got, want := marks.count(bucketMarks), 3*policy.Buckets; got != want {
		t.Fatalf("%d image bucket marks, want %d (64 buckets x 3 regions)", got, want)
	}

	// Snapshots claimed without an instance are attributed by the shards owning their image
	// (shard 0 lists them all until none is left): all marked after the second day.
	rc.reset()
	whole.day(t, 1)
	sharded.day(t, 4)
	if got, want := marks.count(snapshotMarks), 3*policy.Buckets; got != want {
		t.Fatalf("%d snapshot bucket marks after two sharded days, want %d", got, want)
	}
	for day := range 3 {
		rc.reset()
		whole.day(t, 1)
		sharded.day(t, 4)
		if rc.fullListings != 0 || rc.bucketQueries == 0 || rc.snapFullListings != 0 || rc.snapBucketQueries == 0 {
			t.Fatalf("day %d: images %d full listings, %d bucket queries; snapshots %d full, %d by bucket: want bucket queries only",
				day, rc.fullListings, rc.bucketQueries, rc.snapFullListings, rc.snapBucketQueries)
		}
		wi, ws := whole.state()
		si, ss := sharded.state()
		if !slices.Equal(wi, si) || !maps.Equal(ws, ss) {
			t.Fatalf("day %d: the bucket listings left a different cloud\nunsharded: %d images %v\nsharded:   %d images %v", day, len(wi), ws, len(si), ss)
		}
	}
	// Each shard read its own images only: the pages it read hold no other shard's.
	rc.reset()
	d := sharded.deps()
	d.Shard = policy.Shard{Index: 2, Count: 4}
	if _, err := d.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	imgs, _ := sharded.state()
	if rc.byBucket == 0 || rc.byBucket*3 > len(imgs) {
		t.Fatalf("shard 2/4 read %d images by bucket of %d in the cloud; want about a quarter", rc.byBucket, len(imgs))
	}
}

// A mark is what lets a shard skip the full listing, so it must never be set while an
// image of the bucket lacks its tag: with marks set blindly over untagged history, the
// shards miss those images and the cloud they leave differs from an unsharded run's (the
// equality above fails). Marks that cannot be read fall back to full listings.
func TestShardBucketMarksMustBeTrue(t *testing.T) {
	t.Parallel()
	whole, sharded := shardFleet(t, 24), shardFleet(t, 24)
	marks := &memMarks{}
	sharded.withReads(marks)
	for range 3 {
		whole.day(t, 1)
		sharded.day(t, 1)
	}
	sharded.fake.stripBuckets() // history without tags, yet every bucket marked
	whole.day(t, 1)
	sharded.day(t, 4)
	wi, _ := whole.state()
	si, _ := sharded.state()
	if slices.Equal(wi, si) {
		t.Fatal("with false marks the shards still saw the untagged images: the equality check cannot catch a missed image")
	}

	// Unreadable marks: every region in full, and a record says so.
	e := shardFleet(t, 8)
	rc := e.withReads(&memMarks{err: errMarksDown})
	e.day(t, 1)
	rc.reset()
	d := e.deps()
	d.Shard = policy.Shard{Index: 0, Count: 2}
	if _, err := d.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rc.bucketQueries != 0 || rc.fullListings == 0 {
		t.Fatalf("marks unreadable: %d bucket queries, %d full listings", rc.bucketQueries, rc.fullListings)
	}
	if len(e.records(map[string]string{"action": "bucket-list", "result": ResultSkipped})) == 0 {
		t.Fatal("no record says the marks were unreadable")
	}
}

var errMarksDown = ecsx.NewError("InternalError", 500, "marks store down")

// A shard count that does not divide 64 cuts through buckets: it lists in full and marks
// nothing, yet tags what it sees.
func TestShardBucketsUnevenCount(t *testing.T) {
	t.Parallel()
	e := shardFleet(t, 12)
	marks := &memMarks{}
	rc := e.withReads(marks)
	e.day(t, 3)
	if rc.bucketQueries != 0 || marks.count("") != 0 {
		t.Fatalf("3 shards: %d bucket queries, %d marks; want none", rc.bucketQueries, marks.count(""))
	}
	e.fake.stripBuckets()
	e.fake.mu.Lock()
	for _, im := range e.fake.images[dstPlain] { // one tag edited by hand to a wrong bucket
		if inst := im.Tags[policy.TagSourceInstance]; inst != "" {
			im.Tags[policy.TagBucket] = policy.BucketOf(inst + "x")
			if im.Tags[policy.TagBucket] != policy.BucketOf(inst) {
				break
			}
		}
	}
	e.fake.mu.Unlock()
	e.day(t, 3)
	if miss := e.fake.missingBuckets(); len(miss) != 0 {
		t.Fatalf("%d images left without their bucket: %v", len(miss), miss)
	}
}

// A policy using all 10 of its tags leaves no room for the bucket tag: images stay within
// the ECS limit of 20 tags, nothing is tagged or marked, and shards list in full (and say
// why, once per run).
func TestShardBucketsNeedTagRoom(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(p *policy.Policy) {
		p.Tags = map[string]string{}
		for i := range policy.MaxImageTags - policy.ReservedTagCount {
			p.Tags[fmt.Sprintf("team-%d", i)] = "x"
		}
	})
	marks := &memMarks{}
	rc := e.withReads(marks)
	e.day(t, 2)
	e.day(t, 2)
	for _, region := range []string{src, dstPlain, dstKMS} {
		for _, im := range e.fake.regionImages(region) {
			if len(im.Tags) > policy.MaxImageTags {
				t.Errorf("%s/%s carries %d tags, over the ECS limit: %v", region, im.ID, len(im.Tags), im.Tags)
			}
			if _, ok := im.Tags[policy.TagBucket]; ok {
				t.Errorf("%s/%s carries %s with no room for it", region, im.ID, policy.TagBucket)
			}
		}
	}
	if rc.bucketQueries != 0 || marks.count("") != 0 {
		t.Fatalf("%d bucket queries, %d marks; want none", rc.bucketQueries, marks.count(""))
	}
	if len(e.records(map[string]string{"action": "bucket-list", "result": ResultSkipped})) == 0 {
		t.Fatal("no record says why the shards list in full")
	}
}

// A create run that finds the fleet already imaged this slot (a retry, a continuation)
// writes one summary record per region, not one per instance: those go to debug.
func TestCreateAgainSummarizesWhatIsDone(t *testing.T) {
	t.Parallel()
	e := shardFleet(t, 30)
	ctx := context.Background()
	if _, err := e.deps().Create(ctx, e.clock()); err != nil {
		t.Fatal(err)
	}
	e.logs.Reset()
	sum, err := e.deps().Create(ctx, e.clock())
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Started) != 0 || len(sum.Skipped) < 30 {
		t.Fatalf("second run started %d, skipped %d", len(sum.Started), len(sum.Skipped))
	}
	summaries := 0
	for _, rec := range e.records(map[string]string{"action": "skip", "level": "INFO"}) {
		switch reason := rec["reason"].(string); {
		case strings.Contains(reason, "instances already imaged for slot"):
			summaries++
		case strings.Contains(reason, "already exists"):
			t.Errorf("an instance already imaged recorded at info: %v", rec)
		}
	}
	if summaries != 1 {
		t.Fatalf("%d summaries of the instances already imaged, want one for region %s", summaries, src)
	}
	if n := len(e.records(map[string]string{"action": "skip", "level": "DEBUG"})); n < 30 {
		t.Fatalf("%d debug skip records, want one per instance", n)
	}
}

// stopAfterBuckets moves the soft deadline past once n bucket listings have been made.
type stopAfterBuckets struct {
	ecsx.API
	n    int
	seen atomic.Int32
	past *atomic.Bool
}

func (s *stopAfterBuckets) DescribeImages(ctx context.Context, region string, q ecsx.ImageQuery) ([]ecsx.Image, error) {
	if q.Tags[policy.TagBucket] != "" && int(s.seen.Add(1)) >= s.n {
		s.past.Store(true)
	}
	return s.API.DescribeImages(ctx, region, q)
}

// A shard past its soft deadline in the middle of listing its buckets stops listing: it
// neither judges on half a region nor runs into its timeout; nothing is deleted, the
// catalog is left, and the run says what it did not list (the FC retry lists again).
func TestShardListingStopsAtSoftDeadline(t *testing.T) {
	t.Parallel()
	e := shardFleet(t, 24)
	marks := &memMarks{}
	e.withReads(marks)
	for range 3 {
		e.day(t, 4)
	}
	if marks.count(bucketMarks) == 0 {
		t.Fatal("no bucket marked after three sharded days: the shard would list in full")
	}
	var past atomic.Bool
	d := e.deps()
	d.ECS = &stopAfterBuckets{API: e.fake, n: 2, past: &past}
	d.Shard = policy.Shard{Index: 1, Count: 4}
	syncs, deletes := len(e.cat.syncs), e.fake.count("DeleteImage")
	ctx := WithSoftDeadline(context.Background(), t0.Add(time.Hour), func() time.Time {
		if past.Load() {
			return t0.Add(2 * time.Hour)
		}
		return t0
	})
	_, err := d.Cleanup(ctx)
	if !errors.Is(err, ErrListingStopped) {
		t.Fatalf("Cleanup past its soft deadline while listing: err %v, want ErrListingStopped", err)
	}
	if left := Remaining(ctx); left["bucket listings"] == 0 {
		t.Errorf("remaining = %v, want the bucket listings not made", left)
	}
	if n := e.fake.count("DeleteImage") - deletes; n != 0 || len(e.cat.syncs) != syncs {
		t.Errorf("after a stopped listing: %d deletes, %d catalog syncs, want none", n, len(e.cat.syncs)-syncs)
	}
}
