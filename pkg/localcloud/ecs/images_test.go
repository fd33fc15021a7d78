package ecs

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	sdkecs "github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
)

func describeImage(t *testing.T, c *sdkecs.Client, region, id string) *sdkecs.Image {
	t.Helper()
	req := sdkecs.CreateDescribeImagesRequest()
	req.RegionId, req.ImageId, req.Status = region, id, "Waiting,Creating,Available,CreateFailed"
	resp, err := c.DescribeImages(req)
	if err != nil {
		t.Fatalf("DescribeImages %s: %v", id, err)
	}
	if len(resp.Images.Image) != 1 {
		return nil
	}
	return &resp.Images.Image[0]
}

func pct(t *testing.T, p string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSuffix(p, "%"))
	if err != nil {
		t.Fatalf("progress %q: %v", p, err)
	}
	return n
}

func TestCreateImageLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	id := f.createImage(t, "i-hz-web-1", "web-1-20260301", map[string]string{"ecs-dr:policy": "p1"})

	// 40+100 GiB: 2m + 140×3s = 9m.
	im := describeImage(t, f.client, "cn-hangzhou", id)
	if im == nil || im.Status != "Creating" || im.Progress != "0%" || im.IsCopied || im.ImageOwnerAlias != "self" {
		t.Fatalf("fresh image: %+v", im)
	}
	if len(im.DiskDeviceMappings.DiskDeviceMapping) != 2 || im.Tags.Tag[0].TagKey != "ecs-dr:policy" || im.Size != 40 {
		t.Fatalf("mappings/tags/size: %+v", im)
	}
	// DescribeImages without Status hides it, like the real API.
	req := sdkecs.CreateDescribeImagesRequest()
	req.ImageId = id
	if resp, err := f.client.DescribeImages(req); err != nil || resp.TotalCount != 0 {
		t.Fatalf("default DescribeImages should hide a Creating image: %v %+v", err, resp)
	}

	last := 0
	for _, step := range []time.Duration{3 * time.Minute, 3 * time.Minute, 2 * time.Minute} {
		f.env.Clock.Advance(step)
		im = describeImage(t, f.client, "cn-hangzhou", id)
		p := pct(t, im.Progress)
		if im.Status != "Creating" || p <= last || p >= 100 {
			t.Fatalf("after +%v: status %s progress %d (previous %d)", step, im.Status, p, last)
		}
		last = p
	}
	snaps := f.svc.Snapshots("cn-hangzhou")
	for _, s := range snaps {
		if s.ImageID == id && (s.Status != "progressing" || s.Usage != "image") {
			t.Fatalf("snapshot while creating: %+v", s)
		}
	}
	f.env.Clock.Advance(time.Minute)
	im = describeImage(t, f.client, "cn-hangzhou", id)
	if im.Status != "Available" || im.Progress != "100%" {
		t.Fatalf("after 9m: %+v", im)
	}
	n := 0
	for _, s := range f.svc.Snapshots("cn-hangzhou") {
		if s.ImageID == id {
			n++
			if s.Status != "accomplished" || s.Progress != 100 {
				t.Errorf("snapshot after create: %+v", s)
			}
		}
	}
	if n != 2 {
		t.Errorf("want one snapshot per disk (2), got %d", n)
	}
	if got := f.events.states(id); !slices.Equal(got, []string{"cn-hangzhou:Creating", "cn-hangzhou:Available"}) {
		t.Errorf("events: %v", got)
	}
	f.events.mu.Lock()
	ev := f.events.evs[len(f.events.evs)-1]
	f.events.mu.Unlock()
	if ev.Source != "acs.ecs" || ev.Type != "Image:StateChange" || ev.Resource != "acs:ecs:cn-hangzhou:1234567890123456:image/"+id || !ev.Time.Equal(t0.Add(9*time.Minute)) {
		t.Errorf("event: %+v", ev)
	}
}

func TestCreateImageFailed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(s *Seed) { s.Instances[2].FailImages = true }) // i-hz-dev-1
	id := f.createImage(t, "i-hz-dev-1", "dev", nil)
	f.env.Clock.Advance(time.Hour)
	if im := describeImage(t, f.client, "cn-hangzhou", id); im.Status != "CreateFailed" {
		t.Fatalf("status %s, want CreateFailed", im.Status)
	}
	if got := f.events.states(id); !slices.Equal(got, []string{"cn-hangzhou:Creating", "cn-hangzhou:CreateFailed"}) {
		t.Errorf("events: %v", got)
	}
}

func TestCreateImageErrors(t *testing.T) {
	t.Parallel()
	tags := func(kv ...string) *[]sdkecs.CreateImageTag {
		var out []sdkecs.CreateImageTag
		for i := 0; i+1 < len(kv); i += 2 {
			out = append(out, sdkecs.CreateImageTag{Key: kv[i], Value: kv[i+1]})
		}
		return &out
	}
	tests := []struct {
		name       string
		setup      func(t *testing.T, f *fixture)
		req        func(r *sdkecs.CreateImageRequest)
		wantStatus int
		wantCode   string
	}{
		{"ok running", nil, func(r *sdkecs.CreateImageRequest) { r.InstanceId = "i-hz-web-1" }, 0, ""},
		{"ok stopped", nil, func(r *sdkecs.CreateImageRequest) { r.InstanceId = "i-hz-db-1" }, 0, ""},
		{"ok chinese name", nil, func(r *sdkecs.CreateImageRequest) { r.InstanceId, r.ImageName = "i-hz-web-1", "备份-1" }, 0, ""},
		{"name too short", nil, func(r *sdkecs.CreateImageRequest) { r.InstanceId, r.ImageName = "i-hz-web-1", "a" }, 400, "InvalidImageName.Malformed"},
		{"name starts with digit", nil, func(r *sdkecs.CreateImageRequest) { r.InstanceId, r.ImageName = "i-hz-web-1", "1abc" }, 400, "InvalidImageName.Malformed"},
		{"name with space", nil, func(r *sdkecs.CreateImageRequest) { r.InstanceId, r.ImageName = "i-hz-web-1", "a b" }, 400, "InvalidImageName.Malformed"},
		{"name aliyun prefix", nil, func(r *sdkecs.CreateImageRequest) { r.InstanceId, r.ImageName = "i-hz-web-1", "aliyun-x" }, 400, "InvalidImageName.Malformed"},
		{"name acs prefix", nil, func(r *sdkecs.CreateImageRequest) { r.InstanceId, r.ImageName = "i-hz-web-1", "acs:x" }, 400, "InvalidImageName.Malformed"},
		{"name too long", nil, func(r *sdkecs.CreateImageRequest) {
			r.InstanceId, r.ImageName = "i-hz-web-1", "a"+strings.Repeat("b", 128)
		}, 400, "InvalidImageName.Malformed"},
		{"bad description", nil, func(r *sdkecs.CreateImageRequest) { r.InstanceId, r.Description = "i-hz-web-1", "http://x" }, 400, "InvalidDescription.Malformed"},
		{"duplicate name", func(t *testing.T, f *fixture) { f.createImage(t, "i-hz-web-1", "taken", nil) },
			func(r *sdkecs.CreateImageRequest) { r.InstanceId, r.ImageName = "i-hz-db-1", "taken" }, 400, "InvalidImageName.Duplicated"},
		{"instance starting", func(t *testing.T, f *fixture) {
			if err := f.svc.SetInstanceStatus("cn-hangzhou", "i-hz-web-1", "Starting"); err != nil {
				t.Fatal(err)
			}
		}, func(r *sdkecs.CreateImageRequest) { r.InstanceId = "i-hz-web-1" }, 400, "IncorrectInstanceStatus"},
		{"locked", nil, func(r *sdkecs.CreateImageRequest) { r.InstanceId = "i-hz-locked-1" }, 400, "InstanceLockedForSecurity"},
		{"unknown instance", nil, func(r *sdkecs.CreateImageRequest) { r.InstanceId = "i-nope" }, 404, "InvalidInstanceId.NotFound"},
		{"instance in another region", nil, func(r *sdkecs.CreateImageRequest) { r.InstanceId = "i-sh-app-1" }, 404, "InvalidInstanceId.NotFound"},
		{"no source", nil, func(r *sdkecs.CreateImageRequest) {}, 400, "MissingParameter"},
		{"unknown snapshot", nil, func(r *sdkecs.CreateImageRequest) { r.SnapshotId = "s-nope" }, 404, "InvalidSnapshotId.NotFound"},
		{"tag key aliyun", nil, func(r *sdkecs.CreateImageRequest) { r.InstanceId, r.Tag = "i-hz-web-1", tags("aliyun:x", "v") }, 400, "InvalidTagKey.Malformed"},
		{"tag key acs", nil, func(r *sdkecs.CreateImageRequest) { r.InstanceId, r.Tag = "i-hz-web-1", tags("acs:x", "v") }, 400, "InvalidTagKey.Malformed"},
		{"tag value acs", nil, func(r *sdkecs.CreateImageRequest) { r.InstanceId, r.Tag = "i-hz-web-1", tags("k", "acs:v") }, 400, "InvalidTagValue.Malformed"},
		{"duplicate tag key", nil, func(r *sdkecs.CreateImageRequest) { r.InstanceId, r.Tag = "i-hz-web-1", tags("k", "1", "k", "2") }, 400, "Duplicate.TagKey"},
		{"client token too long", nil, func(r *sdkecs.CreateImageRequest) {
			r.InstanceId, r.ClientToken = "i-hz-web-1", strings.Repeat("x", 65)
		}, 400, "InvalidClientToken.ValueNotSupported"},
		{"quota", func(t *testing.T, f *fixture) {
			f.svc.SetImageQuota("cn-hangzhou", 2)
			f.createImage(t, "i-hz-web-1", "", nil)
			f.availableImage(t, "i-hz-web-1", "")
		}, func(r *sdkecs.CreateImageRequest) { r.InstanceId = "i-hz-web-1" }, 403, "QuotaExceed.Image"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, nil)
			if tc.setup != nil {
				tc.setup(t, f)
			}
			req := sdkecs.CreateCreateImageRequest()
			tc.req(req)
			before := len(f.svc.Images("cn-hangzhou"))
			resp, err := f.client.CreateImage(req)
			wantErr(t, err, tc.wantStatus, tc.wantCode)
			after := len(f.svc.Images("cn-hangzhou"))
			if tc.wantCode == "" && (!strings.HasPrefix(resp.ImageId, "m-") || after != before+1) {
				t.Fatalf("success made no image: %+v (%d -> %d)", resp, before, after)
			}
			if tc.wantCode != "" && after != before {
				t.Fatalf("a failed CreateImage changed the image count %d -> %d", before, after)
			}
		})
	}
}

func TestCreateImageFromSnapshot(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	src := f.availableImage(t, "i-hz-web-1", "src")
	snap := f.image(t, "cn-hangzhou", src).Disks[0].SnapshotID
	req := sdkecs.CreateCreateImageRequest()
	req.SnapshotId = snap
	resp, err := f.client.CreateImage(req)
	if err != nil {
		t.Fatal(err)
	}
	if im := f.image(t, "cn-hangzhou", resp.ImageId); im.SizeGiB != 40 || len(im.Disks) != 1 || im.Status != "Creating" {
		t.Fatalf("image from snapshot: %+v", im)
	}
}

func TestCreateImageClientToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	mk := func(name string) *sdkecs.CreateImageRequest {
		r := sdkecs.CreateCreateImageRequest()
		r.InstanceId, r.ImageName, r.ClientToken = "i-hz-web-1", name, "i-hz-web-1/20260301T0200"
		return r
	}
	first, err := f.client.CreateImage(mk("web-a"))
	if err != nil {
		t.Fatal(err)
	}
	// A retry (new nonce, new timestamp, same meaning) returns the same image, even later on.
	f.env.Clock.Advance(time.Hour)
	again, err := f.client.CreateImage(mk("web-a"))
	if err != nil || again.ImageId != first.ImageId {
		t.Fatalf("retry: %v, id %s want %s", err, again.ImageId, first.ImageId)
	}
	_, err = f.client.CreateImage(mk("web-b"))
	wantErr(t, err, 400, "IdempotenceParamNotMatch")
	if n := len(f.events.states(first.ImageId)); n != 2 { // Creating + Available, no second Creating
		t.Errorf("events for idempotent image: %v", f.events.states(first.ImageId))
	}
	custom := 0
	for _, im := range f.svc.Images("cn-hangzhou") {
		if im.OwnerAlias == "self" {
			custom++
		}
	}
	if custom != 1 {
		t.Errorf("want 1 custom image, got %d", custom)
	}
}

func TestDescribeImagesFilters(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.env.Clock.Advance(time.Minute) // newer than the seeded system image
	a := f.createImage(t, "i-hz-web-1", "web-a", map[string]string{"team": "x", "env": "prod"})
	f.env.Clock.Advance(time.Hour)
	b := f.createImage(t, "i-hz-db-1", "db-b", map[string]string{"team": "x", "env": "dev"})
	f.env.Clock.Advance(time.Hour)
	c := f.createImage(t, "i-hz-dev-1", "dev-c", nil) // stays Creating
	if _, err := f.svc.AddInstance("cn-hangzhou", InstanceSeed{ImageID: a, Disks: []DiskSeed{{Type: "system", SizeGiB: 40}}}); err != nil {
		t.Fatal(err)
	}
	snapA := f.image(t, "cn-hangzhou", a).Disks[1].SnapshotID

	tests := []struct {
		name string
		req  func(r *sdkecs.DescribeImagesRequest)
		want []string // ids in order; SystemImageID included where expected
	}{
		{"default is Available, newest first", func(r *sdkecs.DescribeImagesRequest) {}, []string{b, a, SystemImageID}},
		{"status Creating", func(r *sdkecs.DescribeImagesRequest) { r.Status = "Creating" }, []string{c}},
		{"status list", func(r *sdkecs.DescribeImagesRequest) { r.Status = "Creating,Available"; r.ImageOwnerAlias = "self" }, []string{c, b, a}},
		{"image id list", func(r *sdkecs.DescribeImagesRequest) { r.ImageId = a + "," + c }, []string{a}},
		{"unknown image id is empty", func(r *sdkecs.DescribeImagesRequest) { r.ImageId = "m-nope" }, nil},
		{"owner self", func(r *sdkecs.DescribeImagesRequest) { r.ImageOwnerAlias = "self" }, []string{b, a}},
		{"owner system", func(r *sdkecs.DescribeImagesRequest) { r.ImageOwnerAlias = "system" }, []string{SystemImageID}},
		{"name", func(r *sdkecs.DescribeImagesRequest) { r.ImageName = "db-b" }, []string{b}},
		{"snapshot", func(r *sdkecs.DescribeImagesRequest) { r.SnapshotId = snapA }, []string{a}},
		{"tag AND", func(r *sdkecs.DescribeImagesRequest) {
			r.Tag = &[]sdkecs.DescribeImagesTag{{Key: "team", Value: "x"}, {Key: "env", Value: "prod"}}
		}, []string{a}},
		{"tag key only", func(r *sdkecs.DescribeImagesRequest) { r.Tag = &[]sdkecs.DescribeImagesTag{{Key: "team"}} }, []string{b, a}},
		{"usage instance", func(r *sdkecs.DescribeImagesRequest) { r.Usage = "instance"; r.ImageOwnerAlias = "self" }, []string{a}},
		{"usage none", func(r *sdkecs.DescribeImagesRequest) { r.Usage = "none"; r.ImageOwnerAlias = "self" }, []string{b}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := sdkecs.CreateDescribeImagesRequest()
			tc.req(req)
			resp, err := f.newClient(t, "cn-hangzhou", defaultCred).DescribeImages(req)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, im := range resp.Images.Image {
				got = append(got, im.ImageId)
			}
			if !slices.Equal(got, tc.want) || resp.TotalCount != len(tc.want) || resp.RegionId != "cn-hangzhou" {
				t.Fatalf("got %v (total %d), want %v", got, resp.TotalCount, tc.want)
			}
		})
	}
}

func TestDescribeImagesPaging(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	want := map[string]bool{}
	for i := range 25 {
		want[f.createImage(t, "i-hz-web-1", fmt.Sprintf("img-%02d", i), nil)] = true
		f.env.Clock.Advance(time.Second) // distinct creation times
	}
	seen := map[string]bool{}
	for pageNo := 1; pageNo <= 3; pageNo++ {
		req := sdkecs.CreateDescribeImagesRequest()
		req.Status, req.ImageOwnerAlias = "Creating", "self"
		req.PageSize, req.PageNumber = requests.NewInteger(10), requests.NewInteger(pageNo)
		resp, err := f.client.DescribeImages(req)
		if err != nil {
			t.Fatal(err)
		}
		wantLen := []int{10, 10, 5}[pageNo-1]
		if len(resp.Images.Image) != wantLen || resp.TotalCount != 25 || resp.PageNumber != pageNo || resp.PageSize != 10 {
			t.Fatalf("page %d: %d items, total %d, page %d/%d", pageNo, len(resp.Images.Image), resp.TotalCount, resp.PageNumber, resp.PageSize)
		}
		for _, im := range resp.Images.Image {
			if seen[im.ImageId] || !want[im.ImageId] {
				t.Fatalf("page %d: duplicate or unknown %s", pageNo, im.ImageId)
			}
			seen[im.ImageId] = true
		}
	}
	if len(seen) != 25 {
		t.Fatalf("saw %d of 25", len(seen))
	}
	req := sdkecs.CreateDescribeImagesRequest()
	req.PageSize = requests.NewInteger(101)
	_, err := f.client.DescribeImages(req)
	se := wantErr(t, err, 400, "InvalidParameter")
	if !strings.Contains(se.Message(), "PageSize") {
		t.Errorf("message should name PageSize: %q", se.Message())
	}
}

func copyReq(src, dest, name string) *sdkecs.CopyImageRequest {
	r := sdkecs.CreateCopyImageRequest()
	r.ImageId, r.DestinationRegionId, r.DestinationImageName = src, dest, name
	return r
}

func TestCopyImageLifecycleAndQueue(t *testing.T) {
	t.Parallel()
	// Seven copies of one source into one region: the queue, not ImageCopyConflict.
	f := newFixture(t, func(s *Seed) { s.AllowConcurrentCopies = true })
	src := f.availableImage(t, "i-hz-web-1", "web") // 140 GiB: copy = 5m + 140×6s = 19m
	sh := f.newClient(t, "cn-shanghai", defaultCred)
	var copies []string
	for i := range 7 {
		r := copyReq(src, "cn-shanghai", fmt.Sprintf("web-copy-%d", i))
		r.Tag = &[]sdkecs.CopyImageTag{{Key: "ecs-dr:role", Value: "copy"}}
		resp, err := f.client.CopyImage(r)
		if err != nil {
			t.Fatalf("copy %d: %v", i, err)
		}
		copies = append(copies, resp.ImageId)
	}
	statuses := func() []string {
		var out []string
		for _, id := range copies {
			out = append(out, describeImage(t, sh, "cn-shanghai", id).Status)
		}
		return out
	}
	want := []string{"Creating", "Creating", "Creating", "Creating", "Creating", "Waiting", "Waiting"}
	if got := statuses(); !slices.Equal(got, want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	cp := describeImage(t, sh, "cn-shanghai", copies[0])
	if !cp.IsCopied || cp.Tags.Tag[0].TagValue != "copy" || len(cp.DiskDeviceMappings.DiskDeviceMapping) != 2 {
		t.Fatalf("copy: %+v", cp)
	}
	if describeImage(t, f.client, "cn-hangzhou", copies[0]) != nil {
		t.Fatal("a copy must not appear in the source region")
	}
	f.env.Clock.Advance(10 * time.Minute)
	if p := pct(t, describeImage(t, sh, "cn-shanghai", copies[0]).Progress); p < 40 || p > 60 {
		t.Fatalf("copy progress at 10/19 min: %d", p)
	}
	f.env.Clock.Advance(9 * time.Minute) // first five done, the two waiting start
	want = []string{"Available", "Available", "Available", "Available", "Available", "Creating", "Creating"}
	if got := statuses(); !slices.Equal(got, want) {
		t.Fatalf("after 19m: %v, want %v", got, want)
	}
	f.env.Clock.Advance(19 * time.Minute)
	if got := statuses(); slices.ContainsFunc(got, func(s string) bool { return s != "Available" }) {
		t.Fatalf("after 38m: %v", got)
	}
	for _, sn := range f.svc.Snapshots("cn-shanghai") {
		if sn.ImageID == copies[6] && (sn.Status != "accomplished" || sn.SourceRegionID != "cn-hangzhou" || sn.SourceSnapshotID == "") {
			t.Fatalf("copied snapshot: %+v", sn)
		}
	}
	if got := f.events.states(copies[6]); !slices.Equal(got, []string{"cn-shanghai:Waiting", "cn-shanghai:Creating", "cn-shanghai:Available"}) {
		t.Errorf("events of a queued copy: %v", got)
	}
	if im := f.image(t, "cn-hangzhou", src); im.Status != "Available" {
		t.Errorf("source changed: %+v", im)
	}
}

func TestCopyImageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		setup      func(t *testing.T, f *fixture) string // returns the source image id
		req        func(r *sdkecs.CopyImageRequest)
		wantStatus int
		wantCode   string
	}{
		{"ok encrypted", nil, func(r *sdkecs.CopyImageRequest) { r.Encrypted, r.KMSKeyId = requests.NewBoolean(true), "key-1" }, 0, ""},
		{"creating source", func(t *testing.T, f *fixture) string { return f.createImage(t, "i-hz-web-1", "", nil) },
			nil, 400, "IncorrectImageStatus"},
		{"same region", nil, func(r *sdkecs.CopyImageRequest) { r.DestinationRegionId = "cn-hangzhou" }, 403, "IncorrectDestinationRegion"},
		{"unknown destination", nil, func(r *sdkecs.CopyImageRequest) { r.DestinationRegionId = "mars-1" }, 400, "DestinationRegion.NotFound"},
		{"kms without encrypted", nil, func(r *sdkecs.CopyImageRequest) { r.KMSKeyId = "key-1" }, 400, "InvalidParameter.EncryptedIllegal"},
		{"unknown image", nil, func(r *sdkecs.CopyImageRequest) { r.ImageId = "m-nope" }, 404, "InvalidImageId.NotFound"},
		{"system image", nil, func(r *sdkecs.CopyImageRequest) { r.ImageId = SystemImageID }, 404, "InvalidImageId.NotFound"},
		{"bad name", nil, func(r *sdkecs.CopyImageRequest) { r.DestinationImageName = "-x" }, 400, "InvalidImageName.Malformed"},
		{"bad tag", nil, func(r *sdkecs.CopyImageRequest) { r.Tag = &[]sdkecs.CopyImageTag{{Key: "acs:x"}} }, 400, "InvalidTagKey.Malformed"},
		{"duplicate destination name", func(t *testing.T, f *fixture) string {
			src := f.availableImage(t, "i-hz-web-1", "src")
			if _, err := f.client.CopyImage(copyReq(src, "cn-shanghai", "dup")); err != nil {
				t.Fatal(err)
			}
			return src
		}, func(r *sdkecs.CopyImageRequest) { r.DestinationImageName = "dup" }, 400, "InvalidImageName.Duplicated"},
		{"destination quota", func(t *testing.T, f *fixture) string {
			f.svc.SetImageQuota("cn-shanghai", 0)
			return f.availableImage(t, "i-hz-web-1", "src")
		}, nil, 403, "QuotaExceed.Image"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, nil)
			var src string
			if tc.setup != nil {
				src = tc.setup(t, f)
			} else {
				src = f.availableImage(t, "i-hz-web-1", "src")
			}
			r := copyReq(src, "cn-shanghai", "")
			if tc.req != nil {
				tc.req(r)
			}
			before := len(f.svc.Images("cn-shanghai"))
			resp, err := f.client.CopyImage(r)
			wantErr(t, err, tc.wantStatus, tc.wantCode)
			if tc.wantCode == "" {
				if im := f.image(t, "cn-shanghai", resp.ImageId); !im.Encrypted || im.KMSKeyID != "key-1" {
					t.Fatalf("encrypted copy: %+v", im)
				}
			} else if after := len(f.svc.Images("cn-shanghai")); after != before {
				t.Fatalf("failed copy changed the destination: %d -> %d", before, after)
			}
		})
	}
}

func TestCancelCopyImage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(s *Seed) { s.CopyConcurrency, s.AllowConcurrentCopies = 1, true })
	src := f.availableImage(t, "i-hz-web-1", "src")
	sh := f.newClient(t, "cn-shanghai", defaultCred)
	var ids []string
	for range 3 {
		resp, err := f.client.CopyImage(copyReq(src, "cn-shanghai", ""))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, resp.ImageId)
	}
	cancel := func(c *sdkecs.Client, id string) error {
		r := sdkecs.CreateCancelCopyImageRequest()
		r.ImageId = id
		_, err := c.CancelCopyImage(r)
		return err
	}
	// Cancel the running copy: it goes with its snapshots and the next one starts.
	wantErr(t, cancel(sh, ids[0]), 0, "")
	if f.hasImage("cn-shanghai", ids[0]) {
		t.Fatal("cancelled copy still listed")
	}
	for _, sn := range f.svc.Snapshots("cn-shanghai") {
		if sn.ImageID == ids[0] {
			t.Fatalf("snapshot of cancelled copy survived: %+v", sn)
		}
	}
	if st := f.image(t, "cn-shanghai", ids[1]).Status; st != "Creating" {
		t.Fatalf("next copy should start when the slot frees, is %s", st)
	}
	// Cancel a waiting copy.
	wantErr(t, cancel(sh, ids[2]), 0, "")
	if got := f.events.states(ids[2]); !slices.Equal(got, []string{"cn-shanghai:Waiting", "cn-shanghai:Deleted"}) {
		t.Errorf("events of cancelled waiting copy: %v", got)
	}
	f.env.Clock.Advance(time.Hour)
	tests := []struct {
		name       string
		client     *sdkecs.Client
		id         string
		wantStatus int
		wantCode   string
	}{
		{"finished copy", sh, ids[1], 400, "IncorrectImageStatus"},
		{"not a copy", f.client, src, 400, "ImageCreatedNotFromCopy"},
		{"unknown", sh, "m-nope", 404, "InvalidImageId.NotFound"},
		{"copy id in source region", f.client, ids[1], 404, "InvalidImageId.NotFound"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, cancel(tc.client, tc.id), tc.wantStatus, tc.wantCode)
		})
	}
	if im := f.image(t, "cn-hangzhou", src); im.Status != "Available" {
		t.Errorf("source changed by cancel: %+v", im)
	}
}

func TestDeleteImage(t *testing.T) {
	t.Parallel()
	del := func(c *sdkecs.Client, id string, force bool) error {
		r := sdkecs.CreateDeleteImageRequest()
		r.ImageId = id
		if force {
			r.Force = requests.NewBoolean(true)
		}
		_, err := c.DeleteImage(r)
		return err
	}
	tests := []struct {
		name       string
		seed       func(*Seed)
		setup      func(t *testing.T, f *fixture) (client *sdkecs.Client, id string)
		force      bool
		wantStatus int
		wantCode   string
	}{
		{"available", nil, func(t *testing.T, f *fixture) (*sdkecs.Client, string) {
			return f.client, f.availableImage(t, "i-hz-web-1", "xx")
		}, false, 0, ""},
		{"in use", nil, func(t *testing.T, f *fixture) (*sdkecs.Client, string) {
			id := f.availableImage(t, "i-hz-web-1", "xx")
			if _, err := f.svc.AddInstance("cn-hangzhou", InstanceSeed{ImageID: id, Disks: []DiskSeed{{Type: "system", SizeGiB: 40}}}); err != nil {
				t.Fatal(err)
			}
			return f.client, id
		}, false, 403, "ImageUsingByInstance"},
		{"in use forced", nil, func(t *testing.T, f *fixture) (*sdkecs.Client, string) {
			id := f.availableImage(t, "i-hz-web-1", "xx")
			if _, err := f.svc.AddInstance("cn-hangzhou", InstanceSeed{ImageID: id, Disks: []DiskSeed{{Type: "system", SizeGiB: 40}}}); err != nil {
				t.Fatal(err)
			}
			return f.client, id
		}, true, 0, ""},
		{"creating", nil, func(t *testing.T, f *fixture) (*sdkecs.Client, string) {
			return f.client, f.createImage(t, "i-hz-web-1", "xx", nil)
		}, true, 403, "ImageIsCreating"},
		{"copying", nil, func(t *testing.T, f *fixture) (*sdkecs.Client, string) {
			src := f.availableImage(t, "i-hz-web-1", "xx")
			resp, err := f.client.CopyImage(copyReq(src, "cn-shanghai", ""))
			if err != nil {
				t.Fatal(err)
			}
			return f.newClient(t, "cn-shanghai", defaultCred), resp.ImageId
		}, true, 403, "OperationDenied.ImageCopying"},
		{"source of a running copy", nil, func(t *testing.T, f *fixture) (*sdkecs.Client, string) {
			src := f.availableImage(t, "i-hz-web-1", "xx")
			if _, err := f.client.CopyImage(copyReq(src, "cn-shanghai", "")); err != nil {
				t.Fatal(err)
			}
			return f.client, src
		}, false, 0, ""},
		{"failed image", func(s *Seed) { s.Instances[0].FailImages = true }, func(t *testing.T, f *fixture) (*sdkecs.Client, string) {
			id := f.createImage(t, "i-hz-web-1", "xx", nil)
			f.env.Clock.Advance(time.Hour)
			return f.client, id
		}, false, 0, ""},
		{"unknown", nil, func(t *testing.T, f *fixture) (*sdkecs.Client, string) { return f.client, "m-nope" }, false, 404, "InvalidImageId.NotFound"},
		{"unknown ignored by option", func(s *Seed) { s.IgnoreUnknownImageOnDelete = true },
			func(t *testing.T, f *fixture) (*sdkecs.Client, string) { return f.client, "m-nope" }, false, 0, ""},
		{"system image", nil, func(t *testing.T, f *fixture) (*sdkecs.Client, string) { return f.client, SystemImageID }, true, 404, "InvalidImageId.NotFound"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tc.seed)
			c, id := tc.setup(t, f)
			wantErr(t, del(c, id, tc.force), tc.wantStatus, tc.wantCode)
			if tc.wantCode != "" || id == "m-nope" {
				return
			}
			if f.hasImage("cn-hangzhou", id) {
				t.Fatal("deleted image still listed")
			}
			kept := 0
			for _, sn := range f.svc.Snapshots("cn-hangzhou") {
				if sn.SourceDiskID == "d-hz-web-1-sys" || sn.SourceDiskID == "d-hz-web-1-data" {
					kept++
					if sn.Usage != "none" || sn.ImageID != "" {
						t.Errorf("snapshot after image deletion: %+v", sn)
					}
				}
			}
			if kept != 2 {
				t.Errorf("snapshots should survive image deletion: %d left", kept)
			}
			if st := f.events.states(id); len(st) == 0 || st[len(st)-1] != "cn-hangzhou:Deleted" {
				t.Errorf("events: %v", st)
			}
		})
	}
}

func TestDeleteSnapshot(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	id := f.availableImage(t, "i-hz-dev-1", "xx")
	snap := f.image(t, "cn-hangzhou", id).Disks[0].SnapshotID
	del := func(sid string, force bool) error {
		r := sdkecs.CreateDeleteSnapshotRequest()
		r.SnapshotId = sid
		if force {
			r.Force = requests.NewBoolean(true)
		}
		_, err := f.client.DeleteSnapshot(r)
		return err
	}
	wantErr(t, del(snap, false), 403, "SnapshotCreatedImage")
	wantErr(t, del(snap, true), 403, "SnapshotCreatedImage") // Force does not override
	wantErr(t, del("", false), 400, "MissingParameter")
	wantErr(t, del("s-nope", false), 0, "") // unknown: ignored
	r := sdkecs.CreateDeleteImageRequest()
	r.ImageId = id
	if _, err := f.client.DeleteImage(r); err != nil {
		t.Fatal(err)
	}
	wantErr(t, del(snap, false), 0, "")
	for _, sn := range f.svc.Snapshots("cn-hangzhou") {
		if sn.ID == snap {
			t.Fatal("snapshot not deleted")
		}
	}
}

// A second copy of one source into one region while the first is in progress is refused
// with OperationDenied.ImageCopyConflict; another region, or the same one once the first
// copy is done, is fine.
func TestCopyImageConflict(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	src := f.availableImage(t, "i-hz-web-1", "src")
	if _, err := f.client.CopyImage(copyReq(src, "cn-shanghai", "c1")); err != nil {
		t.Fatal(err)
	}
	_, err := f.client.CopyImage(copyReq(src, "cn-shanghai", "c2"))
	wantErr(t, err, 400, "OperationDenied.ImageCopyConflict")
	if _, err := f.client.CopyImage(copyReq(src, "cn-beijing", "c3")); err != nil {
		t.Fatalf("a copy into another region: %v", err)
	}
	f.env.Clock.Advance(6 * time.Hour)
	if _, err := f.client.CopyImage(copyReq(src, "cn-shanghai", "c2")); err != nil {
		t.Fatalf("a copy once the first is Available: %v", err)
	}
}
