package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/app"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// shardTimer is a timer event whose configured payload is payload (verbatim).
func shardTimer(t *testing.T, payload string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]string{"triggerTime": at(1, 2, 0).UTC().Format("2006-01-02T15:04:05Z"),
		"triggerName": "shard", "payload": payload})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Two create-image timers, one per shard of 2, image every protected instance once
// between them, through the handlers on the local cloud; the result names the shard.
func TestShardTimersSplitTheFleet(t *testing.T) {
	t.Parallel()
	doc, pol := loadPolicy(t, "cycle-policy.yaml")
	// Enough protected instances that both shards hold some (web-1 and db-1 alone both
	// fall in shard 0, and a shard that ignored its slice would then still pass).
	seed := cycleSeed()
	protected := []string{db, web}
	for i := range 8 {
		id := fmt.Sprintf("i-hz-shard-%d", i)
		seed.Instances = append(seed.Instances, ecs.InstanceSeed{ID: id, Region: hz, Name: id,
			Tags: map[string]string{"backup": "daily"}, Disks: []ecs.DiskSeed{{Type: "system", SizeGiB: 20}}})
		protected = append(protected, id)
	}
	slices.Sort(protected)
	c := newCloud(t, cloudOptions{seed: seed, env: map[string]string{app.EnvPolicy: doc}})
	c.clock.AdvanceTo(at(1, 2, 0))
	var all []string
	for _, shard := range []string{"0/2", "1/2"} {
		res := c.mustInvoke("create "+shard, app.CreateImage, shardTimer(t, `{"action":"create","shard":"`+shard+`"}`))
		if res.Shard != shard || res.Create == nil {
			t.Fatalf("create %s: result %+v", shard, res)
		}
		s, _ := policy.ParseShard(shard)
		var want []string
		for _, id := range protected {
			if s.Contains(id) {
				want = append(want, id)
			}
		}
		if got := instancesOf(res.Create.Started); len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("shard %s imaged %v, want exactly its instances %v (and some)", shard, got, want)
		}
		for _, it := range res.Create.Started {
			if !s.Contains(it.Instance) {
				t.Errorf("shard %s imaged %s, another shard's instance", shard, it.Instance)
			}
			all = append(all, it.Instance)
		}
	}
	slices.Sort(all)
	if !slices.Equal(all, protected) {
		t.Fatalf("the two shards imaged %v, want each of %v once", all, protected)
	}
	if n := len(c.managed(hz, pol)); n != len(protected) {
		t.Fatalf("%d managed images in %s, want %d", n, hz, len(protected))
	}
}

// A timer payload is configuration: a broken one fails the invocation (the failed-runs
// alert fires) with a record that names the problem, before any work.
func TestBrokenTimerPayloadFailsLoudly(t *testing.T) {
	t.Parallel()
	doc, pol := loadPolicy(t, "cycle-policy.yaml")
	c := newCloud(t, cloudOptions{seed: cycleSeed(), env: map[string]string{app.EnvPolicy: doc}})
	c.clock.AdvanceTo(at(1, 2, 0))
	for _, tc := range []struct {
		fn      app.Function
		payload string
		want    string
	}{
		{app.Cleanup, `{"action":"cleanup","shards":"0/2"}`, `unknown field "shards"`},
		{app.Cleanup, `{"action":"cleanup","shard":"2/2"}`, "k must be 0..1"},
		{app.Cleanup, `{"action":"cleanup","regions":["cn-hangzhou"]}`, "regions is for create-image only"},
		{app.CreateImage, `{"action":"create","mode":"pending"}`, "for copy-image's reconcile only"},
		{app.CopyImage, `{"action":"reconcile","mode":"pending","shard":"0/4"}`, "takes no shard"},
		{app.CreateImage, `{"action":"create","regions":["xx-nowhere-1"]}`, "not a source region of policy"},
		{app.CreateImage, `{"action":"create"`, "timer payload"},
	} {
		res, err := c.invoke(tc.fn, shardTimer(t, tc.payload))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: error %v, want one containing %q", tc.fn, tc.payload, err, tc.want)
		}
		if res != nil && (res.Create != nil || res.Cleanup != nil || res.Copy != nil) {
			t.Errorf("%s %s: work was done: %+v", tc.fn, tc.payload, res)
		}
	}
	if n := len(c.managed(hz, pol)); n != 0 {
		t.Fatalf("a refused payload created %d images", n)
	}
	if got := strings.Count(c.stdout.String(), `"msg":"timer payload invalid"`); got != 7 {
		t.Errorf("%d 'timer payload invalid' records, want 7", got)
	}
}

// Shard buckets through the handler and the local cloud: the images of the product carry
// their instance's bucket, and a sharded deep reconcile that lists every region in full
// marks its buckets in the DR catalog bucket (state/<policy>/bucket-tags/), so later
// shard runs list by tag. A shard's cleanup then keeps and deletes exactly as before.
func TestShardRunsMarkTheirBuckets(t *testing.T) {
	t.Parallel()
	doc, pol := loadPolicy(t, "cycle-policy.yaml")
	seed := cycleSeed()
	for i := range 6 {
		id := fmt.Sprintf("i-hz-bucket-%d", i)
		seed.Instances = append(seed.Instances, ecs.InstanceSeed{ID: id, Region: hz, Name: id,
			Tags: map[string]string{"backup": "daily"}, Disks: []ecs.DiskSeed{{Type: "system", SizeGiB: 20}}})
	}
	c := newCloud(t, cloudOptions{seed: seed, env: map[string]string{app.EnvPolicy: doc}})
	for _, r := range pol.DestinationRegions() {
		if err := c.srv.OSS.CreateBucket(pol.CatalogBucket(r), r); err != nil {
			t.Fatal(err)
		}
	}
	c.clock.AdvanceTo(at(1, 2, 0))
	c.mustInvoke("create", app.CreateImage, shardTimer(t, `{"action":"create"}`))
	c.settle(time.Hour, hz)
	for _, shard := range []string{"0/2", "1/2"} {
		c.mustInvoke("reconcile "+shard, app.CopyImage, shardTimer(t, `{"action":"reconcile","shard":"`+shard+`"}`))
	}
	c.settle(2*time.Hour, hz, bj, sz)
	n := 0
	for _, r := range []string{hz, bj, sz} {
		for _, im := range c.managed(r, pol) {
			n++
			if inst := im.Tags[policy.TagSourceInstance]; im.Tags[policy.TagBucket] != policy.BucketOf(inst) {
				t.Errorf("%s/%s of %s carries bucket %q, want %q", r, im.ID, inst, im.Tags[policy.TagBucket], policy.BucketOf(inst))
			}
		}
	}
	if n < 3*8 {
		t.Fatalf("only %d managed images after create and reconcile", n)
	}
	objs, err := c.drStore().List(context.Background(), pol.CatalogBucket(bj), "state/"+pol.Name+"/bucket-tags/")
	if err != nil {
		t.Fatal(err)
	}
	perRegion := map[string]int{}
	for _, o := range objs {
		rest := strings.TrimPrefix(o.Key, "state/"+pol.Name+"/bucket-tags/")
		region, _, _ := strings.Cut(rest, "/")
		perRegion[region]++
	}
	for _, r := range []string{hz, bj, sz} {
		if perRegion[r] != policy.Buckets {
			t.Errorf("%s: %d bucket marks, want all %d (two shards of 2 listed it in full)", r, perRegion[r], policy.Buckets)
		}
	}
	for _, shard := range []string{"0/2", "1/2"} {
		res := c.mustInvoke("cleanup "+shard, app.Cleanup, shardTimer(t, `{"action":"cleanup","shard":"`+shard+`"}`))
		if res.Cleanup == nil || len(res.Cleanup.Failed) != 0 {
			t.Fatalf("cleanup %s: %+v", shard, res.Cleanup)
		}
	}
	if got := len(c.managed(hz, pol)); got < 8 {
		t.Fatalf("cleanup by bucket left %d source images in %s, want today's 8", got, hz)
	}
}
