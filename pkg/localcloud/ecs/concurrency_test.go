package ecs

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	sdkecs "github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
)

// TestRegionsServeConcurrently copies both ways between two regions while listings,
// deletes and clock callbacks run in both (per-region locks, CopyImage taking two):
// under -race (make race) it checks the locking; here, that every copy lands and the
// counts add up.
func TestRegionsServeConcurrently(t *testing.T) {
	f := newFixture(t, func(s *Seed) { s.ImageQuota = 1 << 20; s.AllowConcurrentCopies = true; s.CopyConcurrency = 1000 })
	src := map[string][]string{}
	for _, region := range []string{"cn-hangzhou", "cn-shanghai"} {
		ids, err := f.svc.SeedImages(region, 400, func(i int) FleetImage {
			return FleetImage{CreationTime: t0.Add(-time.Duration(i) * time.Minute), Tags: map[string]string{"k": "v"}}
		})
		if err != nil {
			t.Fatal(err)
		}
		src[region] = ids
	}
	other := map[string]string{"cn-hangzhou": "cn-shanghai", "cn-shanghai": "cn-hangzhou"}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for region, ids := range src {
		// One SDK client per goroutine: the SDK's client is not safe for concurrent use.
		wg.Go(func() {
			c := f.newClient(t, region, defaultCred)
			for _, id := range ids[:40] {
				req := sdkecs.CreateCopyImageRequest()
				req.ImageId, req.DestinationRegionId = id, other[region]
				if _, err := c.CopyImage(req); err != nil {
					errs <- fmt.Errorf("CopyImage %s from %s: %w", id, region, err)
				}
			}
		})
		wg.Go(func() {
			c := f.newClient(t, region, defaultCred)
			for page := 1; page <= 20; page++ {
				req := sdkecs.CreateDescribeImagesRequest()
				req.Status = "Available,Waiting,Creating"
				req.Tag = &[]sdkecs.DescribeImagesTag{{Key: "k", Value: "v"}}
				req.PageSize, req.PageNumber = requests.NewInteger(50), requests.NewInteger(page)
				if _, err := c.DescribeImages(req); err != nil {
					errs <- fmt.Errorf("DescribeImages %s: %w", region, err)
				}
			}
		})
		wg.Go(func() {
			c := f.newClient(t, region, defaultCred)
			for _, id := range ids[300:340] {
				req := sdkecs.CreateDeleteImageRequest()
				req.ImageId = id
				if _, err := c.DeleteImage(req); err != nil {
					errs <- fmt.Errorf("DeleteImage %s: %w", id, err)
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			f.env.Clock.Advance(time.Minute)
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	f.env.Clock.Advance(time.Hour)
	for region := range src {
		copies := 0
		for _, im := range f.svc.Images(region) {
			if im.IsCopied && im.Status == "Available" {
				copies++
			}
		}
		if n := len(f.svc.Images(region)); copies != 40 || n != 1+400-40+40 {
			t.Errorf("%s: %d available copies of 40, %d images of %d", region, copies, n, 1+400-40+40)
		}
	}
}
