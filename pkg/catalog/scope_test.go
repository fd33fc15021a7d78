package catalog

import (
	"context"
	"slices"
	"testing"
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
