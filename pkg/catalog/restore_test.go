package catalog

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
)

func spec(id, itype string) RestoreSpec {
	return RestoreSpec{InstanceID: id, InstanceType: itype, SourceRegion: "cn-hangzhou", SourceZone: "cn-hangzhou-h",
		VSwitchID: "vsw-a", SecurityGroupIDs: []string{"sg-a"}, CapturedAt: t0,
		Disks: []DiskSpec{{Type: "system", Device: "/dev/xvda", Category: "cloud_essd", SizeGiB: 40}}}
}

func TestRestoreSpecsMergeAndWriteOnlyChanges(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	put := func(region string, specs ...RestoreSpec) bool {
		t.Helper()
		wrote, err := PutRestoreSpecs(ctx, f.store, bkt, "prod-dr", region, specs)
		if err != nil {
			t.Fatal(err)
		}
		return wrote
	}
	if !put("cn-hangzhou", spec("i-1", "ecs.g7.large"), spec("i-2", "ecs.c7.large")) {
		t.Fatal("first write did not write")
	}
	later := spec("i-1", "ecs.g7.large")
	later.CapturedAt = t0.Add(24 * time.Hour)
	if put("cn-hangzhou", later) {
		t.Fatal("an unchanged configuration (only CapturedAt differs) was written again")
	}
	changed := spec("i-1", "ecs.g7.xlarge")
	changed.CapturedAt = t0.Add(48 * time.Hour)
	if !put("cn-hangzhou", changed) {
		t.Fatal("a changed configuration was not written")
	}
	sh := spec("i-3", "ecs.r7.large")
	sh.SourceRegion = "cn-shanghai"
	put("cn-shanghai", sh)

	got, err := ReadRestoreSpecs(ctx, f.store, bkt, "prod-dr")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got["i-1"].InstanceType != "ecs.g7.xlarge" || !got["i-1"].CapturedAt.Equal(t0.Add(48*time.Hour)) ||
		got["i-2"].InstanceType != "ecs.c7.large" || got["i-3"].SourceRegion != "cn-shanghai" {
		t.Fatalf("read %+v", got)
	}
}

func TestRestoreSpecsCorruptObject(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	if _, err := PutRestoreSpecs(ctx, f.store, bkt, "prod-dr", "cn-hangzhou", []RestoreSpec{spec("i-1", "ecs.g7.large")}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Put(ctx, bkt, restoreKey("prod-dr", "cn-shanghai"), []byte("{not json"), ossx.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := ReadRestoreSpecs(ctx, f.store, bkt, "prod-dr")
	if err == nil || !strings.Contains(err.Error(), "corrupt restore metadata restore/prod-dr/cn-shanghai.json") {
		t.Fatalf("want a corrupt-object error naming the key, got %v", err)
	}
	if len(got) != 1 || got["i-1"].InstanceType != "ecs.g7.large" {
		t.Fatalf("the readable object must still be returned: %+v", got)
	}
	// A write over the corrupt object rebuilds it.
	if _, err := PutRestoreSpecs(ctx, f.store, bkt, "prod-dr", "cn-shanghai", []RestoreSpec{spec("i-9", "ecs.g7.large")}); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadRestoreSpecs(ctx, f.store, bkt, "prod-dr"); err != nil || len(got) != 2 {
		t.Fatalf("after rebuild: %v %v", got, err)
	}
	if _, err := PutRestoreSpecs(ctx, f.store, bkt, "bad name!", "cn-hangzhou", nil); err == nil {
		t.Fatal("an invalid policy name was accepted")
	}
}
