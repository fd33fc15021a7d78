package ecsx

import (
	"context"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	lcecs "github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
)

// The reference conversions: the adapter's decoding before slim.go, from the SDK's
// generated response types.

func fullTagMap(tags []ecs.Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[t.TagKey] = t.TagValue
	}
	return m
}

func fullImage(im ecs.Image, region string) (Image, error) {
	img := Image{ID: im.ImageId, Name: im.ImageName, Region: region, Status: im.Status, Progress: im.Progress,
		SizeGiB: im.Size, Tags: fullTagMap(im.Tags.Tag), IsCopied: im.IsCopied}
	if im.CreationTime != "" {
		t, err := parseTime(im.CreationTime)
		if err != nil {
			return Image{}, err
		}
		img.Created = t
	}
	for _, m := range im.DiskDeviceMappings.DiskDeviceMapping {
		if m.SnapshotId != "" {
			img.Snapshots = append(img.Snapshots, m.SnapshotId)
		}
	}
	return img, nil
}

func fullInstance(in ecs.Instance, region string) Instance {
	inst := Instance{ID: in.InstanceId, Name: in.InstanceName, Region: in.RegionId, Status: in.Status,
		ImageID: in.ImageId, Tags: fullTagMap(in.Tags.Tag)}
	if inst.Region == "" {
		inst.Region = region
	}
	for _, l := range in.OperationLocks.LockReason {
		inst.Locked = true
		inst.LockReasons = append(inst.LockReasons, l.LockReason)
	}
	c := InstanceConfig{Zone: in.ZoneId, InstanceType: in.InstanceType, OSType: in.OSType,
		VpcID: in.VpcAttributes.VpcId, VSwitchID: in.VpcAttributes.VSwitchId,
		SecurityGroupIDs: slices.Clone(in.SecurityGroupIds.SecurityGroupId), HostName: in.HostName, KeyPairName: in.KeyPairName,
		CPU: in.Cpu, MemoryMiB: in.Memory}
	if in.StartTime != "" {
		if t, err := parseTime(in.StartTime); err == nil {
			c.StartedAt = t
		}
	}
	if ips := in.VpcAttributes.PrivateIpAddress.IpAddress; len(ips) > 0 {
		c.PrivateIP = ips[0]
	}
	inst.Config = c
	return inst
}

// slimEnv is the adapter on a local ECS holding instances (one locked), images with tags
// and snapshots in two regions (one a copy), and tagged snapshots.
func slimEnv(t *testing.T) (*sdkAPI, string, string) {
	t.Helper()
	env := core.NewEnv(core.NewManualClock(time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC)), nil)
	svc, err := lcecs.New(env, lcecs.DefaultSeed())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)
	api, err := NewSDK(SDKConfig{Endpoint: strings.TrimPrefix(srv.URL, "http://"), Scheme: "HTTP",
		Credentials: func() (string, string, string) { return core.DefaultAccessKeyID, core.DefaultAccessKeySecret, "" }})
	if err != nil {
		t.Fatal(err)
	}
	const region, dest = "cn-hangzhou", "cn-beijing"
	ctx := context.Background()
	for i, id := range []string{"i-slim-1", "i-slim-2", "i-slim-3"} {
		in := lcecs.InstanceSeed{ID: id, Name: "web-" + id, Tags: map[string]string{"app": "web", "n": id},
			Disks: []lcecs.DiskSeed{{Type: "system", SizeGiB: 20}, {Type: "data", SizeGiB: 10}},
			InstanceNet: lcecs.InstanceNet{VpcID: "vpc-" + region, VSwitchID: "vsw-" + region + "-a", PrivateIP: "172.16.0.1" + string(rune('0'+i)),
				SecurityGroupIDs: []string{"sg-" + region, "sg-extra"}, HostName: "host-" + id, KeyPairName: "kp-ops"}}
		if i == 1 {
			in.LockReason = "security"
		}
		if _, err := svc.AddInstance(region, in); err != nil {
			t.Fatal(err)
		}
	}
	var made []string
	for _, id := range []string{"i-slim-1", "i-slim-3"} {
		img, err := api.CreateImage(ctx, region, CreateImageInput{InstanceID: id, Name: "dr-" + id,
			Tags: map[string]string{"ecs-dr:role": "source", "ecs-dr:source-instance": id}})
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, img)
	}
	env.Clock.Advance(2 * time.Hour)
	if _, err := api.CopyImage(ctx, region, CopyImageInput{ImageID: made[0], DestinationRegion: dest, Name: "dr-copy",
		Tags: map[string]string{"ecs-dr:role": "copy", "ecs-dr:source-image": made[0]}}); err != nil {
		t.Fatal(err)
	}
	// made[1] stays listed while the copy is in flight (Creating, a progress below 100%).
	env.Clock.Advance(time.Minute)
	imgs, err := api.DescribeImages(ctx, region, ImageQuery{IDs: made, Statuses: AllImageStatuses})
	if err != nil {
		t.Fatal(err)
	}
	var snaps []string
	for _, im := range imgs {
		snaps = append(snaps, im.Snapshots...)
	}
	if err := api.TagResources(ctx, region, ResourceSnapshot, snaps, map[string]string{"ecs-dr:managed": "yes"}); err != nil {
		t.Fatal(err)
	}
	return api.(*sdkAPI), region, dest
}

// The slim responses decode the emulator's pages exactly as the SDK's generated types do,
// for every field the adapter reads, and each of those fields is set in some item (so a
// field renamed on one side cannot read as empty on both and pass).
func TestSlimDecodeMatchesSDK(t *testing.T) {
	t.Parallel()
	a, region, dest := slimEnv(t)
	ctx := context.Background()
	c, release, err := a.acquire(region)
	if err != nil {
		t.Fatal(err)
	}
	defer release()

	t.Run("DescribeImages", func(t *testing.T) {
		var got, want []Image
		for _, r := range []string{region, dest} {
			want = append(want, sdkImagesPage(t, c, r, 1)...)
			g, err := a.DescribeImages(ctx, r, ImageQuery{Statuses: AllImageStatuses})
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, g...)
		}
		compareDecoded(t, got, want)
	})
	t.Run("DescribeInstances", func(t *testing.T) {
		req := ecs.CreateDescribeInstancesRequest()
		req.RegionId = region
		req.PageSize = requests.NewInteger(100)
		resp, err := c.DescribeInstances(req)
		if err != nil {
			t.Fatal(err)
		}
		var want []Instance
		for _, in := range resp.Instances.Instance {
			want = append(want, fullInstance(in, region))
		}
		got, err := a.DescribeInstances(ctx, region, InstanceQuery{})
		if err != nil {
			t.Fatal(err)
		}
		compareDecoded(t, got, want)
	})
	t.Run("DescribeSnapshots", func(t *testing.T) {
		req := ecs.CreateDescribeSnapshotsRequest()
		req.RegionId = region
		req.PageSize = requests.NewInteger(100)
		resp, err := c.DescribeSnapshots(req)
		if err != nil {
			t.Fatal(err)
		}
		var want []Snapshot
		for _, s := range resp.Snapshots.Snapshot {
			want = append(want, Snapshot{ID: s.SnapshotId, Region: region, Status: s.Status, Tags: fullTagMap(s.Tags.Tag)})
		}
		got, err := a.DescribeSnapshots(ctx, region, SnapshotQuery{})
		if err != nil {
			t.Fatal(err)
		}
		compareDecoded(t, got, want)
	})
}

// sdkImagesPage is one page (100) of the region's images through the SDK's generated
// types, converted as the adapter did before the slim decode: the reference it must match.
func sdkImagesPage(tb testing.TB, c *ecs.Client, region string, page int) []Image {
	tb.Helper()
	req := ecs.CreateDescribeImagesRequest()
	req.RegionId, req.ImageOwnerAlias, req.Status = region, "self", strings.Join(AllImageStatuses, ",")
	req.PageNumber, req.PageSize = requests.NewInteger(page), requests.NewInteger(100)
	resp, err := c.DescribeImages(req)
	if err != nil {
		tb.Fatal(err)
	}
	out := make([]Image, 0, len(resp.Images.Image))
	for _, im := range resp.Images.Image {
		img, err := fullImage(im, region)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, img)
	}
	return out
}

// compareDecoded requires equal decodings and every leaf field set in at least one item.
func compareDecoded[T any](t *testing.T, got, want []T) {
	t.Helper()
	if len(want) == 0 {
		t.Fatal("the SDK decoded nothing: no page to compare")
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("slim decode differs from the SDK's:\n got  %+v\n want %+v", got, want)
	}
	if unset := unsetFields(got); len(unset) > 0 {
		t.Errorf("fields empty in every item (renamed on the wire or in the slim type?): %v", unset)
	}
}

// unsetFields names the leaf fields of T that are the zero value in every item.
func unsetFields[T any](items []T) []string {
	set := map[string]bool{}
	var walk func(prefix string, v reflect.Value)
	walk = func(prefix string, v reflect.Value) {
		if v.Kind() == reflect.Struct && v.Type() != reflect.TypeFor[time.Time]() {
			for i := range v.NumField() {
				walk(prefix+v.Type().Field(i).Name+".", v.Field(i))
			}
			return
		}
		name := strings.TrimSuffix(prefix, ".")
		if _, ok := set[name]; !ok {
			set[name] = false
		}
		if !v.IsZero() && (v.Kind() != reflect.Slice && v.Kind() != reflect.Map || v.Len() > 0) {
			set[name] = true
		}
	}
	for _, it := range items {
		walk("", reflect.ValueOf(it))
	}
	var out []string
	for k, ok := range set {
		if !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
