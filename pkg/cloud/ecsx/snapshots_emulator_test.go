package ecsx_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
)

// Snapshots through the official SDK: an image's snapshots are listed by id (over the
// 100-id chunk), tagged in batches over the 50-id TagResources limit, found by tag after
// the image is gone, and then deletable.
func TestEmulatorSnapshotTagsOutliveTheImage(t *testing.T) {
	t.Parallel()
	api, svc, env := newEmulated(t)
	ctx := context.Background()
	const region = "cn-shenzhen"
	var snaps []string
	var images []string
	for i := range 60 {
		id := fmt.Sprintf("i-snap-%02d", i)
		if _, err := svc.AddInstance(region, ecs.InstanceSeed{ID: id, Status: "Running",
			Disks: []ecs.DiskSeed{{Type: "system", SizeGiB: 20}, {Type: "data", SizeGiB: 10}}}); err != nil {
			t.Fatal(err)
		}
		im, err := api.CreateImage(ctx, region, ecsx.CreateImageInput{InstanceID: id, Name: "snap-" + id})
		if err != nil {
			t.Fatal(err)
		}
		images = append(images, im)
	}
	env.Clock.Advance(time.Hour)
	for i := 0; i < len(images); i += 100 {
		got, err := api.DescribeImages(ctx, region, ecsx.ImageQuery{IDs: images[i:min(i+100, len(images))], Statuses: ecsx.AllImageStatuses})
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range got {
			snaps = append(snaps, im.Snapshots...)
		}
	}
	if len(snaps) != 120 {
		t.Fatalf("snapshots of 60 two-disk images = %d, want 120", len(snaps))
	}
	byID, err := api.DescribeSnapshots(ctx, region, ecsx.SnapshotQuery{IDs: snaps})
	if err != nil || len(byID) != 120 {
		t.Fatalf("DescribeSnapshots by 120 ids: %d, %v", len(byID), err)
	}
	ours := map[string]string{"ecs-dr:managed-by": "ecs-image-dr", "ecs-dr:policy": "p"}
	if err := api.TagResources(ctx, region, ecsx.ResourceSnapshot, snaps[:70], ours); err != nil {
		t.Fatalf("TagResources 70 snapshots: %v", err)
	}
	tagged, err := api.DescribeSnapshots(ctx, region, ecsx.SnapshotQuery{Tags: ours})
	if err != nil || len(tagged) != 70 {
		t.Fatalf("by tag: %d, %v; want 70", len(tagged), err)
	}
	first, err := api.DescribeImages(ctx, region, ecsx.ImageQuery{IDs: images[:1], Statuses: ecsx.AllImageStatuses})
	if err != nil || len(first) != 1 || len(first[0].Snapshots) != 2 {
		t.Fatalf("image %s: %+v, %v", images[0], first, err)
	}
	if err := api.TagResources(ctx, region, ecsx.ResourceSnapshot, first[0].Snapshots, ours); err != nil {
		t.Fatal(err)
	}
	snaps = first[0].Snapshots
	if err := api.DeleteSnapshot(ctx, region, snaps[0]); ecsx.Code(err) != "SnapshotCreatedImage" {
		t.Errorf("delete a snapshot of a live image: %v, want SnapshotCreatedImage", err)
	}
	if err := api.DeleteImage(ctx, region, images[0], false); err != nil {
		t.Fatal(err)
	}
	tagged, _ = api.DescribeSnapshots(ctx, region, ecsx.SnapshotQuery{Tags: ours})
	found := 0
	for _, s := range tagged {
		if s.ID == snaps[0] || s.ID == snaps[1] {
			found++
		}
	}
	if found != 2 {
		t.Fatalf("after DeleteImage its 2 tagged snapshots must still be listed by tag, found %d", found)
	}
	if err := api.DeleteSnapshot(ctx, region, snaps[0]); err != nil {
		t.Errorf("delete an orphan: %v", err)
	}
	if err := api.TagResources(ctx, region, ecsx.ResourceSnapshot, []string{"s-missing"}, ours); !ecsx.IsNotFound(err) && ecsx.Code(err) != "InvalidResourceId.NotFound" {
		t.Errorf("tag a missing snapshot: %v", err)
	}
}
