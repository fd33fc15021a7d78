package catalog

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
)

// A scoped sync removes the missing entries of the instances it speaks for and leaves
// the others alone: the shards of a fleet rebuild one catalog independently.
func TestSyncScopeRemovesOnlyInScope(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := f.writer(nil)
	ctx := context.Background()
	all := []Entry{ent("i-a", "cn-shanghai", "m-a1", t0), ent("i-b", "cn-shanghai", "m-b1", t0), ent("i-c", "cn-shanghai", "m-c1", t0)}
	if err := w.Sync(ctx, "prod", all, true); err != nil {
		t.Fatal(err)
	}
	// The shard holding i-a and i-b: i-a's image is gone (pruned), i-b's is still there.
	shard := func(inst string) bool { return inst == "i-a" || inst == "i-b" }
	if err := w.SyncScope(ctx, "prod", []Entry{ent("i-b", "cn-shanghai", "m-b1", t0)}, shard); err != nil {
		t.Fatal(err)
	}
	got := ids(mustRead(t, f, "prod"))
	want := []string{"i-b/cn-shanghai=m-b1", "i-c/cn-shanghai=m-c1"}
	if !slices.Equal(got, want) {
		t.Fatalf("after the shard's sync: %v, want %v (i-a removed, i-c another shard's, kept)", got, want)
	}
	// nil scope: upsert only.
	if err := w.SyncScope(ctx, "prod", nil, nil); err != nil {
		t.Fatal(err)
	}
	if got := ids(mustRead(t, f, "prod")); !slices.Equal(got, want) {
		t.Fatalf("a sync without scope removed entries: %v", got)
	}
	// Everything: the given entries are the whole catalog.
	if err := w.SyncScope(ctx, "prod", []Entry{ent("i-c", "cn-shanghai", "m-c1", t0)}, Everything); err != nil {
		t.Fatal(err)
	}
	if got := ids(mustRead(t, f, "prod")); !slices.Equal(got, []string{"i-c/cn-shanghai=m-c1"}) {
		t.Fatalf("a full-scope sync left %v", got)
	}
}

// A scoped sync holds and tidies only the groups it speaks for: a superseded object of
// another shard's instance is left to that shard (the listing's refs of the other
// seven-eighths of a fleet are not kept in memory).
func TestSyncScopeLeavesOtherShardsSuperseded(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := f.writer(nil)
	ctx := context.Background()
	all := []Entry{ent("i-a", "cn-shanghai", "m-a1", t0), ent("i-c", "cn-shanghai", "m-c1", t0)}
	if err := w.Sync(ctx, "prod", all, true); err != nil {
		t.Fatal(err)
	}
	// A Put killed before deleting its loser leaves two objects of i-c.
	old := ent("i-c", "cn-shanghai", "m-c0", t0.Add(-24*time.Hour))
	r := refOf(old)
	body, err := encodeImage("prod", old)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Put(ctx, bkt, objectKey("prod", KindImage, r), body, ossx.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	before := len(f.objects("prod"))
	shardA := func(inst string) bool { return inst == "i-a" }
	if err := w.SyncScope(ctx, "prod", []Entry{ent("i-a", "cn-shanghai", "m-a1", t0)}, shardA); err != nil {
		t.Fatal(err)
	}
	if got := len(f.objects("prod")); got != before {
		t.Fatalf("i-a's shard sync: %d objects, want %d (i-c's superseded object is another shard's)", got, before)
	}
	shardC := func(inst string) bool { return inst == "i-c" }
	if err := w.SyncScope(ctx, "prod", []Entry{ent("i-c", "cn-shanghai", "m-c1", t0)}, shardC); err != nil {
		t.Fatal(err)
	}
	if got := len(f.objects("prod")); got != before-1 {
		t.Fatalf("i-c's shard sync: %d objects, want %d (its superseded object deleted)", got, before-1)
	}
	if got := ids(mustRead(t, f, "prod")); !slices.Equal(got, []string{"i-a/cn-shanghai=m-a1", "i-c/cn-shanghai=m-c1"}) {
		t.Fatalf("catalog %v", got)
	}
}
