package ecs

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	sdkecs "github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

func TestDescribeRegions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	resp, err := f.client.DescribeRegions(sdkecs.CreateDescribeRegionsRequest())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range resp.Regions.Region {
		ids = append(ids, r.RegionId)
		if r.RegionEndpoint != "ecs."+r.RegionId+".aliyuncs.com" || r.LocalName == "" || r.Status != "available" {
			t.Errorf("region %+v", r)
		}
	}
	if want := []string{"cn-hangzhou", "cn-shanghai", "cn-beijing", "cn-shenzhen", "ap-southeast-1"}; !slices.Equal(ids, want) {
		t.Fatalf("regions %v, want %v", ids, want)
	}
}

func TestDescribeInstances(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	tests := []struct {
		name       string
		req        func(r *sdkecs.DescribeInstancesRequest)
		want       []string
		wantStatus int
		wantCode   string
	}{
		{"all in region", func(r *sdkecs.DescribeInstancesRequest) {}, []string{"i-hz-db-1", "i-hz-dev-1", "i-hz-locked-1", "i-hz-web-1"}, 0, ""},
		{"other region", func(r *sdkecs.DescribeInstancesRequest) { r.RegionId = "cn-beijing" }, []string{"i-bj-batch-1"}, 0, ""},
		{"ids", func(r *sdkecs.DescribeInstancesRequest) { r.InstanceIds = `["i-hz-web-1","i-hz-db-1","i-sh-app-1"]` }, []string{"i-hz-db-1", "i-hz-web-1"}, 0, ""},
		{"status", func(r *sdkecs.DescribeInstancesRequest) { r.Status = "Stopped" }, []string{"i-hz-db-1"}, 0, ""},
		{"tags AND", func(r *sdkecs.DescribeInstancesRequest) {
			r.Tag = &[]sdkecs.DescribeInstancesTag{{Key: "backup", Value: "daily"}, {Key: "app", Value: "web"}}
		}, []string{"i-hz-web-1"}, 0, ""},
		{"tag key only", func(r *sdkecs.DescribeInstancesRequest) { r.Tag = &[]sdkecs.DescribeInstancesTag{{Key: "backup"}} },
			[]string{"i-hz-db-1", "i-hz-locked-1", "i-hz-web-1"}, 0, ""},
		{"name wildcard", func(r *sdkecs.DescribeInstancesRequest) { r.InstanceName = "d*" }, []string{"i-hz-db-1", "i-hz-dev-1"}, 0, ""},
		{"malformed ids", func(r *sdkecs.DescribeInstancesRequest) { r.InstanceIds = "i-hz-web-1" }, nil, 400, "InvalidInstanceIds.Malformed"},
		{"page size over max", func(r *sdkecs.DescribeInstancesRequest) { r.PageSize = requests.NewInteger(101) }, nil, 400, "InvalidParameter"},
		{"page number zero", func(r *sdkecs.DescribeInstancesRequest) { r.PageNumber = requests.NewInteger(0) }, nil, 400, "InvalidParameter"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := sdkecs.CreateDescribeInstancesRequest()
			tc.req(req)
			resp, err := f.newClient(t, "cn-hangzhou", defaultCred).DescribeInstances(req)
			wantErr(t, err, tc.wantStatus, tc.wantCode)
			if tc.wantCode != "" {
				return
			}
			var got []string
			for _, in := range resp.Instances.Instance {
				got = append(got, in.InstanceId)
			}
			if !slices.Equal(got, tc.want) || resp.TotalCount != len(tc.want) {
				t.Fatalf("got %v (total %d), want %v", got, resp.TotalCount, tc.want)
			}
		})
	}
	// Field shapes.
	req := sdkecs.CreateDescribeInstancesRequest()
	req.InstanceIds = `["i-hz-locked-1"]`
	resp, err := f.client.DescribeInstances(req)
	if err != nil {
		t.Fatal(err)
	}
	in := resp.Instances.Instance[0]
	if in.Status != "Running" || in.ImageId != SystemImageID || in.ZoneId != "cn-hangzhou-h" || in.RegionId != "cn-hangzhou" ||
		len(in.OperationLocks.LockReason) != 1 || in.OperationLocks.LockReason[0].LockReason != "security" || in.Tags.Tag[0].TagKey != "backup" {
		t.Fatalf("instance fields: %+v", in)
	}
}

func TestDescribeInstancesPaging(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	for i := range 21 {
		if _, err := f.svc.AddInstance("cn-shenzhen", InstanceSeed{ID: fmt.Sprintf("i-sz-%02d", i), Disks: []DiskSeed{{Type: "system", SizeGiB: 20}}}); err != nil {
			t.Fatal(err)
		}
	}
	c := f.newClient(t, "cn-shenzhen", defaultCred)
	t.Run("page numbers", func(t *testing.T) {
		var got []string
		for p := 1; p <= 3; p++ {
			req := sdkecs.CreateDescribeInstancesRequest()
			req.PageSize, req.PageNumber = requests.NewInteger(10), requests.NewInteger(p)
			resp, err := c.DescribeInstances(req)
			if err != nil || resp.TotalCount != 21 || resp.PageNumber != p {
				t.Fatalf("page %d: %v %+v", p, err, resp)
			}
			for _, in := range resp.Instances.Instance {
				got = append(got, in.InstanceId)
			}
		}
		if len(got) != 21 || got[0] != "i-sz-00" || got[20] != "i-sz-20" || len(slices.Compact(slices.Clone(got))) != 21 {
			t.Fatalf("pages: %v", got)
		}
	})
	t.Run("next token", func(t *testing.T) {
		var got []string
		token, calls := "", 0
		for {
			req := sdkecs.CreateDescribeInstancesRequest()
			req.MaxResults, req.NextToken = requests.NewInteger(8), token
			resp, err := c.DescribeInstances(req)
			if err != nil {
				t.Fatal(err)
			}
			calls++
			for _, in := range resp.Instances.Instance {
				got = append(got, in.InstanceId)
			}
			if token = resp.NextToken; token == "" {
				break
			}
			if calls > 5 {
				t.Fatal("paging does not end")
			}
		}
		if calls != 3 || len(got) != 21 || len(slices.Compact(slices.Clone(got))) != 21 {
			t.Fatalf("%d calls, %d items: %v", calls, len(got), got)
		}
	})
}

func TestDescribeSnapshots(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	web := f.availableImage(t, "i-hz-web-1", "web") // 2 snapshots, accomplished
	f.createImage(t, "i-hz-db-1", "db", nil)        // 2 snapshots, progressing
	webSnaps := f.image(t, "cn-hangzhou", web).Disks
	ids := fmt.Sprintf(`["%s","%s"]`, webSnaps[0].SnapshotID, webSnaps[1].SnapshotID)
	tests := []struct {
		name string
		req  func(r *sdkecs.DescribeSnapshotsRequest)
		want int
	}{
		{"all", func(r *sdkecs.DescribeSnapshotsRequest) {}, 4},
		{"ids", func(r *sdkecs.DescribeSnapshotsRequest) { r.SnapshotIds = ids }, 2},
		{"instance", func(r *sdkecs.DescribeSnapshotsRequest) { r.InstanceId = "i-hz-db-1" }, 2},
		{"disk", func(r *sdkecs.DescribeSnapshotsRequest) { r.DiskId = "d-hz-web-1-data" }, 1},
		{"progressing", func(r *sdkecs.DescribeSnapshotsRequest) { r.Status = "progressing" }, 2},
		{"all status", func(r *sdkecs.DescribeSnapshotsRequest) { r.Status = "all" }, 4},
		{"usage image", func(r *sdkecs.DescribeSnapshotsRequest) { r.Usage = "image" }, 4},
		{"usage none", func(r *sdkecs.DescribeSnapshotsRequest) { r.Usage = "none" }, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := sdkecs.CreateDescribeSnapshotsRequest()
			tc.req(req)
			resp, err := f.newClient(t, "cn-hangzhou", defaultCred).DescribeSnapshots(req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.TotalCount != tc.want || len(resp.Snapshots.Snapshot) != tc.want {
				t.Fatalf("got %d (total %d), want %d", len(resp.Snapshots.Snapshot), resp.TotalCount, tc.want)
			}
		})
	}
	req := sdkecs.CreateDescribeSnapshotsRequest()
	req.DiskId = "d-hz-web-1-data"
	resp, err := f.client.DescribeSnapshots(req)
	if err != nil {
		t.Fatal(err)
	}
	s := resp.Snapshots.Snapshot[0]
	if s.Status != "accomplished" || s.Progress != "100%" || s.SourceDiskSize != "100" || s.SourceDiskType != "data" || s.Usage != "image" || s.RegionId != "cn-hangzhou" {
		t.Fatalf("snapshot fields: %+v", s)
	}
	// Token paging over the four snapshots.
	page := sdkecs.CreateDescribeSnapshotsRequest()
	page.MaxResults = requests.NewInteger(3)
	first, err := f.client.DescribeSnapshots(page)
	if err != nil || len(first.Snapshots.Snapshot) != 3 || first.NextToken == "" {
		t.Fatalf("first page: %v %+v", err, first)
	}
	page.NextToken = first.NextToken
	second, err := f.client.DescribeSnapshots(page)
	if err != nil || len(second.Snapshots.Snapshot) != 1 || second.NextToken != "" {
		t.Fatalf("second page: %v %+v", err, second)
	}
}

func TestTags(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	img := f.availableImage(t, "i-hz-web-1", "web")
	tag := func(typ string, ids []string, kv ...string) error {
		r := sdkecs.CreateTagResourcesRequest()
		r.ResourceType, r.ResourceId = typ, &ids
		var tl []sdkecs.TagResourcesTag
		for i := 0; i+1 < len(kv); i += 2 {
			tl = append(tl, sdkecs.TagResourcesTag{Key: kv[i], Value: kv[i+1]})
		}
		r.Tag = &tl
		_, err := f.client.TagResources(r)
		return err
	}
	tests := []struct {
		name       string
		typ        string
		ids        []string
		kv         []string
		wantStatus int
		wantCode   string
	}{
		{"image", "image", []string{img}, []string{"ecs-dr:slot", "20260301", "owner", "ops"}, 0, ""},
		{"instances", "instance", []string{"i-hz-web-1", "i-hz-db-1"}, []string{"owner", "ops"}, 0, ""},
		{"unknown resource", "image", []string{img, "m-nope"}, []string{"k", "v"}, 404, "InvalidResourceId.NotFound"},
		{"missing type", "", []string{img}, []string{"k", "v"}, 400, "MissingParameter"},
		{"bad type", "vpc", []string{img}, []string{"k", "v"}, 400, "InvalidResourceType.NotSupported"},
		{"no tags", "image", []string{img}, nil, 400, "MissingParameter"},
		{"no ids", "image", nil, []string{"k", "v"}, 400, "MissingParameter"},
		{"bad key", "image", []string{img}, []string{"aliyun-x", "v"}, 400, "InvalidTagKey.Malformed"},
		{"duplicate key", "image", []string{img}, []string{"k", "1", "k", "2"}, 400, "Duplicate.TagKey"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, tag(tc.typ, tc.ids, tc.kv...), tc.wantStatus, tc.wantCode)
		})
	}
	if got := f.image(t, "cn-hangzhou", img).Tags; got["ecs-dr:slot"] != "20260301" || got["owner"] != "ops" || got["k"] != "" || len(got) != 2 {
		t.Fatalf("image tags after TagResources: %v (failed calls must change nothing)", got)
	}

	list := func(r *sdkecs.ListTagResourcesRequest) []string {
		t.Helper()
		resp, err := f.client.ListTagResources(r)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, tr := range resp.TagResources.TagResource {
			out = append(out, tr.ResourceId+":"+tr.TagKey+"="+tr.TagValue)
		}
		return out
	}
	r := sdkecs.CreateListTagResourcesRequest()
	r.ResourceType, r.Tag = "instance", &[]sdkecs.ListTagResourcesTag{{Key: "owner", Value: "ops"}}
	if got := list(r); len(got) != 8 || !slices.Contains(got, "i-hz-db-1:owner=ops") || !slices.Contains(got, "i-hz-web-1:app=web") {
		t.Fatalf("by tag: %v", got)
	}
	r = sdkecs.CreateListTagResourcesRequest()
	r.ResourceType, r.TagFilter = "instance", &[]sdkecs.ListTagResourcesTagFilter{{TagKey: "app", TagValues: &[]string{"db", "api"}}}
	if got := list(r); len(got) != 4 || !strings.HasPrefix(got[0], "i-hz-db-1:") {
		t.Fatalf("by tag filter: %v", got)
	}
	r = sdkecs.CreateListTagResourcesRequest()
	r.ResourceType = "image"
	_, err := f.client.ListTagResources(r)
	wantErr(t, err, 400, "MissingParameter")

	u := sdkecs.CreateUntagResourcesRequest()
	u.ResourceType, u.ResourceId, u.TagKey = "image", &[]string{img}, &[]string{"owner"}
	if _, err := f.client.UntagResources(u); err != nil {
		t.Fatal(err)
	}
	if got := f.image(t, "cn-hangzhou", img).Tags; len(got) != 1 || got["ecs-dr:slot"] == "" {
		t.Fatalf("after untag owner: %v", got)
	}
	u = sdkecs.CreateUntagResourcesRequest()
	u.ResourceType, u.ResourceId, u.All = "image", &[]string{img}, requests.NewBoolean(true)
	if _, err := f.client.UntagResources(u); err != nil {
		t.Fatal(err)
	}
	if got := f.image(t, "cn-hangzhou", img).Tags; len(got) != 0 {
		t.Fatalf("after untag all: %v", got)
	}
}

func TestListTagResourcesPaging(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	for i := range 30 {
		tags := map[string]string{"ecs-dr:managed-by": "ecs-image-dr", "n": fmt.Sprint(i)}
		f.createImage(t, "i-hz-web-1", fmt.Sprintf("img-%02d", i), tags)
	}
	seen := map[string]bool{}
	token, pages := "", 0
	for {
		r := sdkecs.CreateListTagResourcesRequest()
		r.ResourceType, r.NextToken = "image", token
		r.Tag = &[]sdkecs.ListTagResourcesTag{{Key: "ecs-dr:managed-by", Value: "ecs-image-dr"}}
		resp, err := f.client.ListTagResources(r)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, tr := range resp.TagResources.TagResource {
			k := tr.ResourceId + "/" + tr.TagKey
			if seen[k] || tr.ResourceType != "image" {
				t.Fatalf("duplicate or mistyped row %+v", tr)
			}
			seen[k] = true
		}
		if token = resp.NextToken; token == "" || pages > 5 {
			break
		}
	}
	if pages != 2 || len(seen) != 60 { // 30 images × 2 tags, 50 rows a page
		t.Fatalf("%d pages, %d rows", pages, len(seen))
	}
}

func TestSeed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		path    string
		wantErr []string // substrings, all required
	}{
		{"testdata seed", filepath.Join("testdata", "seed.json"), nil},
		{"missing file", filepath.Join(dir, "nope.json"), []string{"no such file"}},
		{"not json", write("bad.json", "{"), []string{"unexpected EOF"}},
		{"unknown field", write("unknown.json", `{"regions":[{"id":"r1"}],"instancez":[]}`), []string{"instancez"}},
		{"bad duration", write("dur.json", `{"regions":[{"id":"r1"}],"timing":{"createBase":"soon"}}`), []string{"soon"}},
		{"no regions", write("empty.json", `{}`), []string{"regions: at least one region"}},
		{"two objects", write("two.json", `{"regions":[{"id":"r1"}]} {"regions":[{"id":"r2"}]}`), []string{"data after the seed object"}},
		{"stray brace", write("brace.json", `{"regions":[{"id":"r1"}]}}`), []string{"data after the seed object"}},
		{"inconsistent", write("incons.json", `{"regions":[{"id":"r1"},{"id":"r1"}],
			"instances":[{"id":"i-1","region":"r2","status":"Sleeping","disks":[{"type":"root","sizeGiB":0}]}],
			"images":[{"id":"m-1","region":"r1","status":"Creating"}],"copyConcurrency":-1,"throttleStatus":503}`),
			[]string{`regions[1].id: duplicate region "r1"`, `instances[0].region: unknown region "r2"`, `instances[0].status`,
				`instances[0].disks[0].type`, `instances[0].disks[0].sizeGiB`, `instances[0].disks: want exactly one system disk`,
				`images[0].status`, "copyConcurrency", "throttleStatus"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := LoadSeed(tc.path)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if len(s.Regions) != 2 || len(s.Instances) != 2 || s.ImageQuota != 10 || s.Timing.CreateBase != Duration(time.Minute) {
					t.Fatalf("seed: %+v", s)
				}
				return
			}
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestSeededImagesAndTiming(t *testing.T) {
	t.Parallel()
	s, err := LoadSeed(filepath.Join("testdata", "seed.json"))
	if err != nil {
		t.Fatal(err)
	}
	env := core.NewEnv(core.NewManualClock(t0), nil)
	svc, err := New(env, s)
	if err != nil {
		t.Fatal(err)
	}
	imgs := svc.Images("eu-central-1")
	if len(imgs) != 1 || imgs[0].ID != "m-seeded-1" || imgs[0].Tags["ecs-dr:managed-by"] != "ecs-image-dr" || len(imgs[0].Disks) != 1 {
		t.Fatalf("seeded images: %+v", imgs)
	}
	if sn := svc.Snapshots("eu-central-1"); len(sn) != 1 || sn[0].ImageID != "m-seeded-1" {
		t.Fatalf("seeded image snapshot: %+v", sn)
	}
	// timing: createBase 1m + 10s/GiB over 20 GiB = 4m20s.
	srv := newFixtureFromService(t, env, svc)
	c := srv.newClient(t, "eu-central-1", defaultCred)
	req := sdkecs.CreateCreateImageRequest()
	req.InstanceId = "i-eu-1"
	resp, err := c.CreateImage(req)
	if err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(4*time.Minute + 19*time.Second)
	if st := srv.image(t, "eu-central-1", resp.ImageId).Status; st != "Creating" {
		t.Fatalf("at 4m19s: %s", st)
	}
	env.Clock.Advance(time.Second)
	if st := srv.image(t, "eu-central-1", resp.ImageId).Status; st != "Available" {
		t.Fatalf("at 4m20s: %s", st)
	}
	// Quota 10 counts the seeded custom image.
	for i := range 8 {
		req := sdkecs.CreateCreateImageRequest()
		req.InstanceId = "i-eu-1"
		if _, err := c.CreateImage(req); err != nil {
			t.Fatalf("image %d: %v", i+2, err)
		}
	}
	req = sdkecs.CreateCreateImageRequest()
	req.InstanceId = "i-eu-1"
	_, err = c.CreateImage(req)
	wantErr(t, err, 403, "QuotaExceed.Image")
}

func newFixtureFromService(t *testing.T, env *core.Env, svc *Service) *fixture {
	t.Helper()
	f := &fixture{svc: svc, env: env, events: &eventLog{}}
	srv := newServer(t, svc)
	f.url, f.addr = srv, strings.TrimPrefix(srv, "http://")
	return f
}

func TestAdmin(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	if err := f.svc.SetInstanceStatus("cn-hangzhou", "i-hz-web-1", "Asleep"); err == nil {
		t.Error("unknown status accepted")
	}
	if err := f.svc.SetInstanceStatus("cn-hangzhou", "i-nope", "Running"); err == nil {
		t.Error("unknown instance accepted")
	}
	if err := f.svc.SetInstanceStatus("mars-1", "i-hz-web-1", "Running"); err == nil {
		t.Error("unknown region accepted")
	}
	if _, err := f.svc.AddInstance("cn-hangzhou", InstanceSeed{ImageID: "m-nope", Disks: []DiskSeed{{Type: "system", SizeGiB: 1}}}); err == nil {
		t.Error("instance from unknown image accepted")
	}
	if _, err := f.svc.AddInstance("cn-hangzhou", InstanceSeed{}); err == nil {
		t.Error("instance without disks accepted")
	}
	if _, err := f.svc.AddInstance("cn-hangzhou", InstanceSeed{ID: "i-hz-web-1", Disks: []DiskSeed{{Type: "system", SizeGiB: 1}}}); err == nil {
		t.Error("duplicate instance accepted")
	}
	// Returned copies do not alias the service's state.
	ins := f.svc.Instances("cn-hangzhou")
	ins[0].Tags["mutated"] = "yes"
	if f.svc.Instances("cn-hangzhou")[0].Tags["mutated"] != "" {
		t.Error("Instances returned live state")
	}
	if f.svc.Images("mars-1") != nil || f.svc.Snapshots("mars-1") != nil || f.svc.Instances("mars-1") != nil {
		t.Error("unknown region should give nil")
	}
}

// TestConcurrentCalls runs creates, copies and describes from many goroutines while the
// clock advances; run with -race.
func TestConcurrentCalls(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(s *Seed) { s.ImageQuota, s.AllowConcurrentCopies = 1000, true })
	src := f.availableImage(t, "i-hz-web-1", "src")
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 8 {
		wg.Add(1)
		c := f.newClient(t, "cn-hangzhou", defaultCred) // one client per goroutine
		go func() {
			defer wg.Done()
			for j := range 5 {
				req := sdkecs.CreateCreateImageRequest()
				req.InstanceId, req.ClientToken = "i-hz-web-1", fmt.Sprintf("tok-%d-%d", i, j%3) // some retries
				if _, err := c.CreateImage(req); err != nil {
					errs <- err
				}
				if _, err := c.CopyImage(copyReq(src, "cn-beijing", "")); err != nil {
					errs <- err
				}
				if _, err := c.DescribeImages(sdkecs.CreateDescribeImagesRequest()); err != nil {
					errs <- err
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			default:
				f.env.Clock.Advance(time.Minute)
			}
		}
	}()
	wg.Wait()
	close(done)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	custom := 0
	for _, im := range f.svc.Images("cn-hangzhou") {
		if im.OwnerAlias == "self" {
			custom++
		}
	}
	if custom != 1+8*3 { // the source + 3 distinct tokens per goroutine
		t.Errorf("custom images %d, want %d", custom, 1+8*3)
	}
	if n := len(f.svc.Images("cn-beijing")); n != 1+40 {
		t.Errorf("beijing images %d, want 41", n)
	}
}
