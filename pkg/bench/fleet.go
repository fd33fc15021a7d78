// Package bench measures the product at fleet scale on the local cloud (make bench): the
// services over the real SDK adapter against the ECS emulator, with emulated latency and
// per-action QPS limits on the simulated clock. It reports figures next to their targets
// and never asserts them (the unit tests assert behaviour, not speed).
//
// The product's function binaries never import this package.
package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/backup"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// The bench's account: 5 source regions, 2 DR regions.
var (
	SourceRegions = []string{"cn-hangzhou", "cn-shanghai", "cn-shenzhen", "cn-qingdao", "cn-chengdu"}
	DRRegions     = []string{"cn-beijing", "ap-southeast-1"}
)

// Limits of the emulated account (per action, account-wide: the local cloud's QPS window
// counts every region together) and the emulated latency of every call.
type Limits struct {
	CreateImageQPS int           // the physical limit the targets are measured against
	CopyImageQPS   int           // high enough not to be the bottleneck of the pipeline
	DescribeQPS    int           // DescribeInstances and DescribeImages
	Latency        time.Duration // per call, simulated
}

// DefaultBenchLimits is what the issue measured with: CreateImage at 20 calls/s.
var DefaultBenchLimits = Limits{CreateImageQPS: 20, CopyImageQPS: 100, DescribeQPS: 400, Latency: 40 * time.Millisecond}

// diskGiB is every instance's system disk; with the emulator's default timing an image
// takes 2 min + 3 s/GiB to build.
const diskGiB = 40

// BuildTime is how long one image takes to build in the emulator (all equal here).
func BuildTime() time.Duration { return 2*time.Minute + diskGiB*3*time.Second }

// call is one ECS request as the server saw it.
type call struct {
	action    string
	at        time.Time // simulated time of the answer
	status    int
	throttled bool
	imageID   string // CopyImage: the source image
	dest      string // CopyImage: the destination region
}

// fleet is one emulated account with n protected instances spread over the source regions.
type fleet struct {
	env      *core.Env
	svc      *ecs.Service
	srv      *httptest.Server
	n        int
	v        *vclock // nil: not on virtual time
	mu       sync.Mutex
	calls    []call
	copiesOK atomic.Int64 // accepted CopyImage calls
}

// counter counts the requests one adapter sent, by action (throttled ones included).
type counter struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *counter) add(action string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int{}
	}
	c.m[action]++
}

func (c *counter) get() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.m {
		out[k] = v
	}
	return out
}

var benchStart = time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC) // 02:00 Asia/Shanghai

// newFleet builds the account on clock (a real-time clock at some speed, or a manual one).
func newFleet(clock *core.Clock, v *vclock, n int, lim Limits) (*fleet, error) {
	env := core.NewEnv(clock, nil)
	seed := ecs.DefaultSeed()
	seed.Instances = nil
	have := map[string]bool{}
	for _, r := range seed.Regions {
		have[r.ID] = true
	}
	for _, r := range append(slices.Clone(SourceRegions), DRRegions...) {
		if !have[r] {
			seed.Regions = append(seed.Regions, ecs.RegionSeed{ID: r, LocalName: r})
			seed.Images = append(seed.Images, ecs.ImageSeed{ID: ecs.SystemImageID, Region: r, Name: "Alibaba Cloud Linux",
				OwnerAlias: "system", SizeGiB: 20, OSType: "linux"})
		}
	}
	seed.ImageQuota = 1 << 30
	seed.CopyConcurrency = 1 << 20 // copies are accepted and measured; their duration is not ours
	for i := range n {
		region := SourceRegions[i%len(SourceRegions)]
		seed.Instances = append(seed.Instances, ecs.InstanceSeed{
			ID: fmt.Sprintf("i-bench%06d", i), Region: region, Name: fmt.Sprintf("web-%d", i), Status: "Running",
			Tags:  map[string]string{"app": "web", "backup": "daily"},
			Disks: []ecs.DiskSeed{{Type: "system", SizeGiB: diskGiB}},
		})
	}
	svc, err := ecs.New(env, seed)
	if err != nil {
		return nil, fmt.Errorf("bench: ecs seed: %w", err)
	}
	f := &fleet{env: env, svc: svc, n: n, v: v}
	// On virtual time the latency is slept by the client (fleet.api's Pace): the
	// emulator's own latency sleep would move the shared manual clock once per call.
	lat := lim.Latency
	if v != nil {
		lat = 0
	}
	env.Faults.Set("ecs", "CreateImage", core.FaultRule{QPS: lim.CreateImageQPS, Latency: lat})
	env.Faults.Set("ecs", "CopyImage", core.FaultRule{QPS: lim.CopyImageQPS, Latency: lat})
	env.Faults.Set("ecs", "DescribeImages", core.FaultRule{QPS: lim.DescribeQPS, Latency: lat})
	env.Faults.Set("ecs", "DescribeInstances", core.FaultRule{QPS: lim.DescribeQPS, Latency: lat})
	env.Faults.Set("ecs", "*", core.FaultRule{Latency: lat})
	f.srv = httptest.NewServer(f.count(svc))
	return f, nil
}

func (f *fleet) close() { f.srv.Close() }

// count records every request's action, outcome and simulated time.
func (f *fleet) count(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.v != nil {
			f.v.begin()
			defer f.v.end()
		}
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		q := r.URL.Query()
		get := func(k string) string {
			if v := q.Get(k); v != "" {
				return v
			}
			return form.Get(k)
		}
		rec := &recorder{ResponseWriter: w, status: 200}
		next.ServeHTTP(rec, r)
		c := call{action: get("Action"), at: f.env.Clock.Now(), status: rec.status,
			throttled: rec.status >= 400 && bytes.Contains(rec.head, []byte("Throttling"))}
		if c.action == "CopyImage" {
			c.imageID, c.dest = get("ImageId"), get("DestinationRegionId")
		}
		if c.action == "CopyImage" && c.status == 200 {
			f.copiesOK.Add(1)
		}
		f.mu.Lock()
		f.calls = append(f.calls, c)
		f.mu.Unlock()
	})
}

type recorder struct {
	http.ResponseWriter
	status int
	head   []byte
}

func (r *recorder) WriteHeader(s int) { r.status = s; r.ResponseWriter.WriteHeader(s) }
func (r *recorder) Write(b []byte) (int, error) {
	if len(r.head) < 256 {
		r.head = append(r.head, b[:min(len(b), 256-len(r.head))]...)
	}
	return r.ResponseWriter.Write(b)
}

// snapshot returns the calls so far.
func (f *fleet) snapshot() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fleet) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
}

// clk is the time source and the one way to wait of a run.
type clk interface {
	Now() time.Time
	Sleep(ctx context.Context, d time.Duration) error
}

// api is the SDK adapter on the fleet, paced like the functions are (app.Handler), with
// the emulated latency slept on c before each request.
func (f *fleet) api(pol *policy.Policy, c clk, latency time.Duration, lim *ecsx.Limiter, n *counter) (ecsx.API, error) {
	pace := func(ctx context.Context, region, action string) error {
		n.add(action)
		return c.Sleep(ctx, max(lim.Reserve(region, action), 0)+latency) // one wait: pacing, then latency
	}
	api, err := ecsx.NewSDK(ecsx.SDKConfig{Endpoint: strings.TrimPrefix(f.srv.URL, "http://"), Scheme: "HTTP",
		Credentials: func() (string, string, string) { return core.DefaultAccessKeyID, core.DefaultAccessKeySecret, "" },
		Pace:        pace, Timeout: time.Minute})
	return api, err
}

// benchPolicy protects every instance of the fleet, copies to both DR regions.
func benchPolicy(conc int, rates map[string]float64) (*policy.Policy, error) {
	p := &policy.Policy{Name: "bench", Timezone: "Asia/Shanghai", Concurrency: conc, RateLimits: rates,
		Retention: policy.Retention{Source: policy.RetentionRule{KeepLast: 7}, Destination: policy.RetentionRule{KeepLast: 7}}}
	for _, r := range SourceRegions {
		p.Sources = append(p.Sources, policy.Source{Region: r, Selectors: []map[string]string{{"backup": "daily"}}})
	}
	for _, r := range DRRegions {
		p.Destinations = append(p.Destinations, policy.Destination{Region: r})
	}
	p.ApplyDefaults()
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("bench policy: %w", err)
	}
	return p, nil
}

// deps are the services as the functions build them, on the fleet's clock.
func deps(api ecsx.API, pol *policy.Policy, c clk, now time.Time, cat backup.Catalog) backup.Deps {
	return backup.Deps{ECS: api, Policy: pol, Log: slog.New(slog.DiscardHandler), Now: func() time.Time { return now },
		Sleep: c.Sleep, Retry: ecsx.RetryConfig{Now: c.Now}, Catalog: cat}
}

// withTimeout is a context for one simulated invocation (wall-bounded as a safety net).
func withTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
