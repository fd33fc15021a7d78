package ecsx

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	lcecs "github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
)

// benchImages is a DR region's listing at fleet scale: a shard's cleanup or reconcile
// lists every managed image of the region (the server cannot filter by shard).
const benchImages = 20000

// replayECS serves DescribeImages pages the local ECS rendered once, by page number, so
// the benchmark measures the client (the SDK's request signing, HTTP, decoding and the
// adapter's conversion), not the emulator.
type replayECS struct {
	svc    http.Handler
	mu     sync.Mutex
	pages  map[string][]byte
	replay bool
}

type recorder struct {
	http.ResponseWriter
	buf bytes.Buffer
}

func (r *recorder) Write(p []byte) (int, error) { r.buf.Write(p); return r.ResponseWriter.Write(p) }

func (s *replayECS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	page := r.Form.Get("PageNumber")
	s.mu.Lock()
	body, replay := s.pages[page], s.replay
	s.mu.Unlock()
	if replay {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
		return
	}
	rec := &recorder{ResponseWriter: w}
	s.svc.ServeHTTP(rec, r)
	s.mu.Lock()
	s.pages[page] = rec.buf.Bytes()
	s.mu.Unlock()
}

func benchListing(b *testing.B) (*sdkAPI, string) {
	b.Helper()
	env := core.NewEnv(core.NewManualClock(time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC)), nil)
	seed := lcecs.DefaultSeed()
	seed.ImageQuota = 1 << 30
	svc, err := lcecs.New(env, seed)
	if err != nil {
		b.Fatal(err)
	}
	const region = "cn-beijing"
	t0 := env.Clock.Now()
	if _, err := svc.SeedImages(region, benchImages, func(i int) lcecs.FleetImage {
		inst := fmt.Sprintf("i-bench%06d", i/7)
		slot := t0.Add(-time.Duration(i%7) * 24 * time.Hour).Format("20060102T1504")
		return lcecs.FleetImage{Name: fmt.Sprintf("dr-%s-%s", inst, slot), CreationTime: t0.Add(-time.Duration(i) * time.Minute),
			DataGiB: []int{100}, Tags: map[string]string{
				"ecs-dr:managed-by": "ecs-image-dr", "ecs-dr:policy": "bench", "ecs-dr:role": "copy",
				"ecs-dr:source-instance": inst, "ecs-dr:source-region": "cn-hangzhou", "ecs-dr:slot": slot,
				"ecs-dr:source-image": fmt.Sprintf("m-src%06d", i), "ecs-dr:attempt": "1",
				"ecs-dr:data-time": t0.Add(-time.Duration(i) * time.Minute).Format(time.RFC3339)}}
	}); err != nil {
		b.Fatal(err)
	}
	rs := &replayECS{svc: svc, pages: map[string][]byte{}}
	srv := httptest.NewServer(rs)
	b.Cleanup(srv.Close)
	api, err := NewSDK(SDKConfig{Endpoint: strings.TrimPrefix(srv.URL, "http://"), Scheme: "HTTP",
		Credentials: func() (string, string, string) { return core.DefaultAccessKeyID, core.DefaultAccessKeySecret, "" }})
	if err != nil {
		b.Fatal(err)
	}
	a := api.(*sdkAPI)
	got, err := a.DescribeImages(context.Background(), region, ImageQuery{Statuses: AllImageStatuses}) // records the pages
	if err != nil || len(got) != benchImages {
		b.Fatalf("recording: %d images, %v", len(got), err)
	}
	rs.mu.Lock()
	rs.replay = true
	rs.mu.Unlock()
	return a, region
}

// BenchmarkListImages lists 20,000 images (200 pages) through the adapter: "slim" is
// DescribeImages as shipped (slim.go), "generated" the same pages decoded into the SDK's
// generated response types and converted as the adapter did before (the reference of
// TestSlimDecodeMatchesSDK). ns/op is one whole listing; see B/op and allocs/op.
func BenchmarkListImages(b *testing.B) {
	a, region := benchListing(b)
	ctx := context.Background()
	b.Run("slim", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			got, err := a.DescribeImages(ctx, region, ImageQuery{Statuses: AllImageStatuses})
			if err != nil || len(got) != benchImages {
				b.Fatalf("%d images, %v", len(got), err)
			}
		}
	})
	b.Run("generated", func(b *testing.B) {
		b.ReportAllocs()
		c, release, err := a.acquire(region)
		if err != nil {
			b.Fatal(err)
		}
		defer release()
		defer reportCPU(b)()
		for b.Loop() {
			var out []Image
			for page := 1; len(out) < benchImages; page++ {
				out = append(out, sdkImagesPage(b, c, region, page)...)
			}
		}
	})
}

// reportCPU adds the process's CPU time per listing (user+system, every goroutine: the
// client, its GC and the replay server) as cpu-ms/op: on a loaded machine ns/op is wall
// time shared with other processes, CPU time is not.
func reportCPU(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64((cpu()-start).Milliseconds())/float64(b.N), "cpu-ms/op")
		}
	}
}
