package ecs_test

import (
	"fmt"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	sdkecs "github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// Fleet-scale figures (issue 10): a DR region holding scaleImages copies of a
// 20,000-instance fleet (daily/weekly/monthly retention), listed the way cleanup and
// reconcile list it: the policy's managed-tag filter, every status, 100 a page.
const scaleImages = 100_000

// scaleSeed puts n managed copies of policy prod-web in each of regions, 5 per source
// instance (20,000 instances), one day apart.
func scaleSeed(n int, regions ...string) ecs.Seed {
	seed := ecs.DefaultSeed()
	seed.RegionImageQuota = map[string]int{}
	for _, region := range regions {
		seed.RegionImageQuota[region] = 1 << 30
		for i := range n {
			inst, day := fmt.Sprintf("i-fleet%06d", i%20000), i/20000
			slot := benchT0.AddDate(0, 0, -day).Format("20060102")
			seed.Images = append(seed.Images, ecs.ImageSeed{
				ID: fmt.Sprintf("m-%s-%07d", region, i), Region: region, Name: fmt.Sprintf("dr-%s-%s", inst, slot),
				CreationTime: benchT0.AddDate(0, 0, -day).Add(time.Duration(i%20000) * time.Millisecond), SourceInstanceID: inst,
				Tags: map[string]string{policy.TagManagedBy: policy.ManagedByValue, policy.TagPolicy: benchPolicy,
					policy.TagSourceInstance: inst, policy.TagSlot: slot, policy.TagRole: policy.RoleCopy,
					policy.TagSourceRegion: "cn-hangzhou", policy.TagSourceImage: fmt.Sprintf("m-src%07d", i)},
			})
		}
	}
	return seed
}

func scaleServer(b *testing.B, seed ecs.Seed) (*ecs.Service, string) {
	b.Helper()
	env := core.NewEnv(core.NewManualClock(benchT0), nil)
	svc, err := ecs.New(env, seed)
	if err != nil {
		b.Fatalf("new ecs service: %v", err)
	}
	srv := httptestServer(b, svc)
	return svc, srv
}

func managedCopies(region string, page int) *sdkecs.DescribeImagesRequest {
	req := sdkecs.CreateDescribeImagesRequest()
	req.RegionId = region
	req.Status = "Creating,Waiting,Available,CreateFailed,UnAvailable,Deprecated"
	req.PageSize = requests.NewInteger(benchPerPage)
	req.PageNumber = requests.NewInteger(page)
	req.Tag = &[]sdkecs.DescribeImagesTag{
		{Key: policy.TagManagedBy, Value: policy.ManagedByValue},
		{Key: policy.TagPolicy, Value: benchPolicy},
	}
	return req
}

// listAll pages through the managed copies of region and returns how many it saw.
func listAll(b *testing.B, client *sdkecs.Client, region string) int {
	seen, total := 0, -1
	for page := 1; total < 0 || (page-1)*benchPerPage < total; page++ {
		resp, err := client.DescribeImages(managedCopies(region, page))
		if err != nil {
			b.Errorf("DescribeImages %s page %d: %v", region, page, err)
			return seen
		}
		total = resp.TotalCount
		seen += len(resp.Images.Image)
	}
	return seen
}

// BenchmarkScaleDescribeImagesPage is one page (the 500th) of the managed-tag listing of a
// region holding 100,000 images, through the SDK over loopback.
func BenchmarkScaleDescribeImagesPage(b *testing.B) {
	_, addr := scaleServer(b, scaleSeed(scaleImages, "cn-shanghai"))
	client := benchClient(b, addr)
	req := managedCopies("cn-shanghai", 500)
	resp, err := client.DescribeImages(req)
	if err != nil || resp.TotalCount != scaleImages || len(resp.Images.Image) != benchPerPage {
		b.Fatalf("DescribeImages: %v (total %d, page %d)", err, resp.TotalCount, len(resp.Images.Image))
	}
	for b.Loop() {
		if _, err := client.DescribeImages(managedCopies("cn-shanghai", 500)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScaleListAllImages lists all 100,000 managed images of a region, 100 a page.
func BenchmarkScaleListAllImages(b *testing.B) {
	_, addr := scaleServer(b, scaleSeed(scaleImages, "cn-shanghai"))
	client := benchClient(b, addr)
	for b.Loop() {
		if n := listAll(b, client, "cn-shanghai"); n != scaleImages {
			b.Fatalf("listed %d images, want %d", n, scaleImages)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/listing")
}

// BenchmarkScaleListTwoRegions lists 100,000 images in each of two regions at once.
func BenchmarkScaleListTwoRegions(b *testing.B) {
	_, addr := scaleServer(b, scaleSeed(scaleImages, "cn-shanghai", "cn-beijing"))
	for b.Loop() {
		var wg sync.WaitGroup
		for _, region := range []string{"cn-shanghai", "cn-beijing"} {
			client := benchClient(b, addr) // the SDK client is not safe for concurrent use
			wg.Go(func() {
				if n := listAll(b, client, region); n != scaleImages {
					b.Errorf("listed %d images in %s, want %d", n, region, scaleImages)
				}
			})
		}
		wg.Wait()
	}
}

func httptestServer(b *testing.B, svc *ecs.Service) string {
	srv := httptest.NewServer(svc)
	b.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// fleetCopy is a DR copy as the product leaves it: 8 tags, a system and a data disk.
func fleetCopy(i int) ecs.FleetImage {
	inst, day := fmt.Sprintf("i-fleet%06d", i%20000), i/20000
	slot := benchT0.AddDate(0, 0, -day).Format("20060102")
	return ecs.FleetImage{Name: fmt.Sprintf("dr-%s-%s-%d", inst, slot, i), SourceInstanceID: inst,
		CreationTime: benchT0.AddDate(0, 0, -day).Add(time.Duration(i%20000) * time.Millisecond), DataGiB: []int{100},
		CopySourceRegion: "cn-hangzhou", CopySourceImageID: fmt.Sprintf("m-src%07d", i),
		Tags: map[string]string{policy.TagManagedBy: policy.ManagedByValue, policy.TagPolicy: benchPolicy,
			policy.TagSourceInstance: inst, policy.TagSlot: slot, policy.TagRole: policy.RoleCopy,
			policy.TagSourceRegion: "cn-hangzhou", policy.TagSourceImage: fmt.Sprintf("m-src%07d", i), "owner": "platform-team"},
		SnapshotTags: map[string]string{policy.TagManagedBy: policy.ManagedByValue, policy.TagPolicy: benchPolicy},
	}
}

// BenchmarkScaleSeedImages bulk-seeds 100,000 copies (200,000 snapshots) into a region
// and reports the time and the heap each image costs with its snapshots and indexes.
func BenchmarkScaleSeedImages(b *testing.B) {
	var perImage float64
	for b.Loop() {
		b.StopTimer()
		env := core.NewEnv(core.NewManualClock(benchT0), nil)
		seed := ecs.DefaultSeed()
		seed.ImageQuota = 1 << 30
		svc, err := ecs.New(env, seed)
		if err != nil {
			b.Fatal(err)
		}
		before := heapInUse()
		b.StartTimer()
		if _, err := svc.SeedImages("cn-beijing", scaleImages, fleetCopy); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		perImage = float64(heapInUse()-before) / scaleImages
		runtime.KeepAlive(svc)
		b.StartTimer()
	}
	b.ReportMetric(perImage, "heapB/image")
}

func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
