package ecs_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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

const (
	benchRegion  = "cn-hangzhou"
	benchImages  = 2000 // images in benchRegion
	benchPolicy  = "prod-web"
	benchPerPage = 100
)

var benchT0 = time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC)

// benchSeed is the default seed plus benchImages custom images in cn-hangzhou: half
// source images of policy prod-web (100 instances × 10 days), half images of another
// policy, so a tag filter has to look at every image and keeps 1,000.
func benchSeed() ecs.Seed {
	seed := ecs.DefaultSeed()
	seed.RegionImageQuota = map[string]int{benchRegion: 1 << 30}
	for i := range benchImages {
		pol := benchPolicy
		if i%2 == 1 {
			pol = "other"
		}
		inst, day := fmt.Sprintf("i-bp1bench%08d", i/2%100), i/200
		created := benchT0.AddDate(0, 0, -day)
		slot := created.Format("20060102")
		seed.Images = append(seed.Images, ecs.ImageSeed{
			ID: fmt.Sprintf("m-bench%06d", i), Region: benchRegion, Name: fmt.Sprintf("dr-%s-%s-%s", pol, inst, slot),
			CreationTime: created, SourceInstanceID: inst,
			Tags: map[string]string{policy.TagManagedBy: policy.ManagedByValue, policy.TagPolicy: pol,
				policy.TagSourceInstance: inst, policy.TagSlot: slot, policy.TagRole: policy.RoleSource,
				policy.TagSourceRegion: benchRegion, "owner": "platform-team"},
		})
	}
	return seed
}

// benchServer starts the emulator behind an httptest server. capture, when set, sees a
// copy of every request before the emulator does.
func benchServer(b *testing.B, capture func(*http.Request, []byte)) (*ecs.Service, *core.Env, string) {
	b.Helper()
	env := core.NewEnv(core.NewManualClock(benchT0), nil)
	svc, err := ecs.New(env, benchSeed())
	if err != nil {
		b.Fatalf("new ecs service: %v", err)
	}
	h := http.Handler(svc)
	if capture != nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			capture(r, body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			svc.ServeHTTP(w, r)
		})
	}
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	return svc, env, strings.TrimPrefix(srv.URL, "http://")
}

func benchClient(b *testing.B, addr string) *sdkecs.Client {
	b.Helper()
	c, err := ecs.NewSDKClient(addr, benchRegion, core.Credential{AccessKeyID: core.DefaultAccessKeyID, AccessKeySecret: core.DefaultAccessKeySecret})
	if err != nil {
		b.Fatalf("new sdk client: %v", err)
	}
	return c
}

// describeManaged is the cleanup/create lookup: the policy's source images, in any
// settled status, 100 a page.
func describeManaged(page int) *sdkecs.DescribeImagesRequest {
	req := sdkecs.CreateDescribeImagesRequest()
	req.ImageOwnerAlias = "self"
	req.Status = "Creating,Waiting,Available,CreateFailed,UnAvailable,Deprecated"
	req.PageSize = requests.NewInteger(benchPerPage)
	req.PageNumber = requests.NewInteger(page)
	req.Tag = &[]sdkecs.DescribeImagesTag{
		{Key: policy.TagManagedBy, Value: policy.ManagedByValue},
		{Key: policy.TagPolicy, Value: benchPolicy},
		{Key: policy.TagRole, Value: policy.RoleSource},
	}
	return req
}

func checkPage(b *testing.B, resp *sdkecs.DescribeImagesResponse) {
	b.Helper()
	if resp.TotalCount != benchImages/2 || len(resp.Images.Image) != benchPerPage {
		b.Fatalf("DescribeImages: total %d, page of %d; want %d, %d", resp.TotalCount, len(resp.Images.Image), benchImages/2, benchPerPage)
	}
	for _, im := range resp.Images.Image {
		for _, t := range im.Tags.Tag {
			if t.TagKey == policy.TagPolicy && t.TagValue != benchPolicy {
				b.Fatalf("DescribeImages returned %s of policy %q", im.ImageId, t.TagValue)
			}
		}
	}
}

// BenchmarkDescribeImages pages through the 1,000 images of one policy among 2,000 in the
// region (3 tag filters, 100 a page) with the real SDK over loopback HTTP: signing,
// transport, the emulator's filter and sort, JSON both ways.
func BenchmarkDescribeImages(b *testing.B) {
	_, _, addr := benchServer(b, nil)
	client := benchClient(b, addr)
	resp, err := client.DescribeImages(describeManaged(1))
	if err != nil {
		b.Fatalf("DescribeImages: %v", err)
	}
	checkPage(b, resp)
	page := 0
	for b.Loop() {
		page = page%(benchImages/2/benchPerPage) + 1
		if _, err = client.DescribeImages(describeManaged(page)); err != nil {
			b.Fatalf("DescribeImages page %d: %v", page, err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkDescribeImagesHandler replays one signed SDK DescribeImages request straight
// into Service.ServeHTTP (no client, no sockets): the emulator's share of the above.
// The env's nonce check is turned off: replaying one request is the point here.
func BenchmarkDescribeImagesHandler(b *testing.B) {
	var (
		mu       sync.Mutex
		captured *http.Request
		body     []byte
	)
	svc, env, addr := benchServer(b, func(r *http.Request, bd []byte) {
		mu.Lock()
		defer mu.Unlock()
		captured, body = r.Clone(r.Context()), bd
	})
	env.Nonces = nil
	if _, err := benchClient(b, addr).DescribeImages(describeManaged(1)); err != nil {
		b.Fatalf("DescribeImages: %v", err)
	}
	mu.Lock()
	method, target, header := captured.Method, captured.URL.RequestURI(), captured.Header.Clone()
	mu.Unlock()
	serve := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, target, bytes.NewReader(body))
		req.Header = header
		rec := httptest.NewRecorder()
		svc.ServeHTTP(rec, req)
		return rec
	}
	rec := serve()
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), fmt.Sprintf(`"TotalCount":%d`, benchImages/2)) {
		b.Fatalf("replayed DescribeImages: %d %.300s", rec.Code, rec.Body.String())
	}
	for b.Loop() {
		rec = serve()
	}
	if rec.Code != http.StatusOK {
		b.Fatalf("replayed DescribeImages: %d %.300s", rec.Code, rec.Body.String())
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkCreateImage is CreateImage of a 2-disk instance as the create service sends it
// (name, description, ClientToken, the 7 policy tags) into the region holding 2,000
// images, through the SDK. Each call is a new slot, so every call makes an image (and
// two snapshots and an armed clock timer; the clock never advances here).
func BenchmarkCreateImage(b *testing.B) {
	svc, _, addr := benchServer(b, nil)
	client := benchClient(b, addr)
	before := len(svc.Images(benchRegion))
	n := 0
	create := func() (string, error) {
		n++
		slot := fmt.Sprintf("bench%07d", n)
		req := sdkecs.CreateCreateImageRequest()
		req.InstanceId = "i-hz-web-1"
		req.ImageName = "dr-i-hz-web-1-" + slot
		req.Description = "ecs-image-dr policy prod-web: instance i-hz-web-1, slot " + slot
		req.ClientToken = "dr-" + slot
		req.Tag = &[]sdkecs.CreateImageTag{
			{Key: policy.TagManagedBy, Value: policy.ManagedByValue}, {Key: policy.TagPolicy, Value: benchPolicy},
			{Key: policy.TagSourceInstance, Value: "i-hz-web-1"}, {Key: policy.TagSlot, Value: slot},
			{Key: policy.TagRole, Value: policy.RoleSource}, {Key: policy.TagSourceRegion, Value: benchRegion},
			{Key: "owner", Value: "platform-team"},
		}
		resp, err := client.CreateImage(req)
		if err != nil {
			return "", err
		}
		return resp.ImageId, nil
	}
	id, err := create()
	if err != nil || !strings.HasPrefix(id, "m-") {
		b.Fatalf("CreateImage: id %q, %v", id, err)
	}
	for b.Loop() {
		if id, err = create(); err != nil {
			b.Fatalf("CreateImage %d: %v", n, err)
		}
	}
	if got := len(svc.Images(benchRegion)); got != before+n {
		b.Fatalf("region holds %d images after %d CreateImage calls, want %d", got, n, before+n)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
