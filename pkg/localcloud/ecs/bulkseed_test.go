package ecs

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	sdkecs "github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
)

func TestSeedImagesThroughSDK(t *testing.T) {
	f := newFixture(t, func(s *Seed) { s.ImageQuota = 1 << 20 })
	srcIDs, err := f.svc.SeedImages("cn-hangzhou", 300, func(i int) FleetImage {
		return FleetImage{Name: fmt.Sprintf("dr-src-%03d", i), CreationTime: t0.Add(-time.Duration(i) * time.Hour),
			DataGiB: []int{100}, SourceInstanceID: "i-hz-web-1",
			Tags: map[string]string{"managed": "yes", "role": "source", "slot": fmt.Sprintf("s%d", i%3)}}
	})
	if err != nil || len(srcIDs) != 300 {
		t.Fatalf("SeedImages sources: %d ids, %v", len(srcIDs), err)
	}
	copyIDs, err := f.svc.SeedImages("cn-shanghai", 300, func(i int) FleetImage {
		return FleetImage{ID: fmt.Sprintf("m-copy%04d", i), CreationTime: t0.Add(-time.Duration(i) * time.Hour),
			CopySourceRegion: "cn-hangzhou", CopySourceImageID: srcIDs[i], Status: []string{"Available", "CreateFailed"}[i%2],
			Tags: map[string]string{"managed": "yes", "role": "copy"}, SnapshotTags: map[string]string{"managed": "yes"}}
	})
	if err != nil || copyIDs[7] != "m-copy0007" {
		t.Fatalf("SeedImages copies: %v, %v", copyIDs[:8], err)
	}
	if n := len(f.events.evs); n != 0 {
		t.Fatalf("bulk seeding published %d events, want none", n)
	}

	// The wire sees them: the tag filter, the order (newest first), paging, disks.
	req := sdkecs.CreateDescribeImagesRequest()
	req.Tag = &[]sdkecs.DescribeImagesTag{{Key: "managed", Value: "yes"}, {Key: "slot", Value: "s1"}}
	req.PageSize = requests.NewInteger(50)
	req.PageNumber = requests.NewInteger(2)
	resp, err := f.client.DescribeImages(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.TotalCount != 100 || len(resp.Images.Image) != 50 || resp.Images.Image[0].ImageId != srcIDs[151] {
		t.Fatalf("page 2 of slot s1: total %d, %d images, first %s; want 100, 50, %s", resp.TotalCount, len(resp.Images.Image), resp.Images.Image[0].ImageId, srcIDs[151])
	}
	if m := resp.Images.Image[0].DiskDeviceMappings.DiskDeviceMapping; len(m) != 2 || m[1].Size != "100" {
		t.Fatalf("disk mappings of a seeded image: %+v", m)
	}

	// Copies carry their lineage on their snapshots; failed copies have failed snapshots.
	snaps := f.svc.Snapshots("cn-shanghai")
	if len(snaps) != 300 {
		t.Fatalf("%d snapshots in cn-shanghai, want 300", len(snaps))
	}
	src := map[string]bool{}
	for _, s := range f.svc.Snapshots("cn-hangzhou") {
		src[s.ID] = true
	}
	failed := 0
	for _, s := range snaps {
		if !src[s.SourceSnapshotID] || s.SourceRegionID != "cn-hangzhou" || s.Tags["managed"] != "yes" {
			t.Fatalf("copy snapshot %+v does not name its source", s)
		}
		if s.Status == "failed" {
			failed++
		}
	}
	if failed != 150 {
		t.Fatalf("%d failed snapshots, want 150 (one per CreateFailed copy)", failed)
	}
	sreq := sdkecs.CreateDescribeSnapshotsRequest()
	sreq.RegionId = "cn-shanghai"
	sreq.Tag = &[]sdkecs.DescribeSnapshotsTag{{Key: "managed", Value: "yes"}}
	sreq.Status = "accomplished"
	sresp, err := f.client.DescribeSnapshots(sreq)
	if err != nil || sresp.TotalCount != 150 {
		t.Fatalf("DescribeSnapshots accomplished: %v, total %d, want 150", err, sresp.TotalCount)
	}

	// A seeded image behaves like any other: DeleteImage, then its snapshots are free.
	del := sdkecs.CreateDeleteImageRequest()
	del.RegionId, del.ImageId = "cn-shanghai", copyIDs[0]
	if _, err := f.client.DeleteImage(del); err != nil {
		t.Fatalf("DeleteImage of a seeded copy: %v", err)
	}
}

func TestSeedImagesRefusesBadInputWhole(t *testing.T) {
	f := newFixture(t, nil)
	before := len(f.svc.Images("cn-hangzhou"))
	cases := map[string]func(i int) FleetImage{
		"status":      func(i int) FleetImage { return FleetImage{Status: []string{"Available", "Creating"}[i%2]} },
		"duplicate":   func(i int) FleetImage { return FleetImage{ID: "m-same"} },
		"name":        func(i int) FleetImage { return FleetImage{Name: "dr-same"} },
		"tag":         func(i int) FleetImage { return FleetImage{Tags: map[string]string{"aliyun-x": "v"}} },
		"data disk":   func(i int) FleetImage { return FleetImage{DataGiB: []int{0}} },
		"copy region": func(i int) FleetImage { return FleetImage{CopySourceRegion: "nowhere-1", CopySourceImageID: "m-x"} },
	}
	for name, gen := range cases {
		if _, err := f.svc.SeedImages("cn-hangzhou", 4, gen); err == nil || !strings.Contains(err.Error(), "seed images") {
			t.Errorf("%s: err %v, want a seed images error", name, err)
		}
	}
	if _, err := f.svc.SeedImages("nowhere-1", 1, func(int) FleetImage { return FleetImage{} }); err == nil {
		t.Error("unknown region accepted")
	}
	if got := len(f.svc.Images("cn-hangzhou")); got != before {
		t.Fatalf("refused seeds left %d images, want %d", got, before)
	}
}

func TestSeedInstances(t *testing.T) {
	f := newFixture(t, nil)
	ids, err := f.svc.SeedInstances("cn-shanghai", 2000, func(i int) InstanceSeed {
		return InstanceSeed{ID: fmt.Sprintf("i-fleet%05d", i), Name: fmt.Sprintf("web-%d", i),
			Tags:  map[string]string{"backup": []string{"daily", "weekly"}[i%2]},
			Disks: []DiskSeed{{Type: "system", SizeGiB: 40}}}
	})
	if err != nil || len(ids) != 2000 {
		t.Fatalf("SeedInstances: %d, %v", len(ids), err)
	}
	c := f.newClient(t, "cn-shanghai", defaultCred)
	req := sdkecs.CreateDescribeInstancesRequest()
	req.Tag = &[]sdkecs.DescribeInstancesTag{{Key: "backup", Value: "weekly"}}
	req.PageSize = requests.NewInteger(100)
	req.PageNumber = requests.NewInteger(3)
	resp, err := c.DescribeInstances(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.TotalCount != 1000 || len(resp.Instances.Instance) != 100 || resp.Instances.Instance[0].InstanceId != "i-fleet00401" {
		t.Fatalf("weekly page 3: total %d, %d, first %s", resp.TotalCount, len(resp.Instances.Instance), resp.Instances.Instance[0].InstanceId)
	}
	ips := map[string]bool{}
	for _, in := range f.svc.Instances("cn-shanghai") {
		if in.PrivateIP == "" || ips[in.PrivateIP] {
			t.Fatalf("instance %s has address %q (empty or shared)", in.ID, in.PrivateIP)
		}
		ips[in.PrivateIP] = true
	}
	if _, err := f.svc.SeedInstances("cn-shanghai", 1, func(int) InstanceSeed {
		return InstanceSeed{ID: "i-fleet00001", Disks: []DiskSeed{{Type: "system", SizeGiB: 40}}}
	}); err == nil {
		t.Fatal("a duplicate instance id was accepted")
	}
	if _, err := f.svc.SeedInstances("cn-shanghai", 1, func(int) InstanceSeed { return InstanceSeed{ID: "i-nodisk"} }); err == nil {
		t.Fatal("an instance without disks was accepted")
	}
}
