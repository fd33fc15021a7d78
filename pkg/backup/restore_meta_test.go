package backup_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/backup"
	"github.com/ecsdr/ecs-image-dr/pkg/catalog"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

type specSink struct {
	mu   sync.Mutex
	puts map[string][]catalog.RestoreSpec // dest/source -> specs
}

func (s *specSink) PutRestoreSpecs(_ context.Context, dest, _, source string, specs []catalog.RestoreSpec) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.puts == nil {
		s.puts = map[string][]catalog.RestoreSpec{}
	}
	s.puts[dest+"/"+source] = specs
	return nil
}

// actionCounter counts ECS actions on the wire.
type actionCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *actionCounter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		c.mu.Lock()
		c.n[r.Form.Get("Action")]++
		c.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (c *actionCounter) get(a string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[a]
}

// The create run records what a restore needs, with batched describe calls: for 250
// protected instances it adds a handful of calls (disks by page, RAM roles by 100), never
// one per instance.
func TestCreateRecordsRestoreMetadata(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC)
	env := core.NewEnv(core.NewManualClock(start), nil)
	seed := ecs.DefaultSeed()
	for i := range 250 {
		seed.Instances = append(seed.Instances, ecs.InstanceSeed{ID: "i-fleet-" + strings.Repeat("0", 3-len(itoa(i))) + itoa(i), Region: "cn-shanghai",
			Tags: map[string]string{"backup": "daily"}, Disks: []ecs.DiskSeed{{Type: "system", SizeGiB: 40}, {Type: "data", SizeGiB: 50, Category: "cloud_ssd"}}})
		if i == 0 {
			seed.Instances[len(seed.Instances)-1].RAMRole = "WebRole"
			seed.Instances[len(seed.Instances)-1].KeyPairName = "ops"
		}
	}
	seed.ImageQuota = 1000
	svc, err := ecs.New(env, seed)
	if err != nil {
		t.Fatal(err)
	}
	calls := &actionCounter{n: map[string]int{}}
	srv := httptest.NewServer(calls.wrap(svc))
	t.Cleanup(srv.Close)
	api, err := ecsx.NewSDK(ecsx.SDKConfig{Endpoint: strings.TrimPrefix(srv.URL, "http://"), Scheme: "HTTP",
		Credentials: func() (string, string, string) { return core.DefaultAccessKeyID, core.DefaultAccessKeySecret, "" }})
	if err != nil {
		t.Fatal(err)
	}
	pol := &policy.Policy{
		Name: "prod-dr",
		Sources: []policy.Source{{Region: "cn-hangzhou", Selectors: []map[string]string{{"backup": "daily"}}},
			{Region: "cn-shanghai", Selectors: []map[string]string{{"backup": "daily"}}}},
		Destinations: []policy.Destination{{Region: "cn-beijing"}},
		Retention:    policy.Retention{Source: policy.RetentionRule{KeepLast: 1}, Destination: policy.RetentionRule{KeepLast: 1}},
	}
	pol.ApplyDefaults()
	if err := pol.Validate(); err != nil {
		t.Fatal(err)
	}
	sink := &specSink{}
	d := backup.Deps{ECS: api, Compute: api.(ecsx.Compute), RestoreMeta: sink, Policy: pol, Now: env.Clock.Now,
		Sleep: func(context.Context, time.Duration) error { return nil }}
	if _, err := d.Create(context.Background(), start); err != nil {
		t.Fatal(err)
	}
	hz := sink.puts["cn-beijing/cn-hangzhou"]
	var ids []string
	for _, s := range hz {
		ids = append(ids, s.InstanceID)
	}
	// Selected instances only (i-hz-dev-1 has no backup tag), the locked one included:
	// it is protected even if this slot could not image it.
	if want := []string{"i-hz-db-1", "i-hz-locked-1", "i-hz-web-1"}; !slices.Equal(ids, want) {
		t.Fatalf("specs for %v, want %v", ids, want)
	}
	web := hz[2]
	if web.InstanceType != "ecs.g7.large" || web.SourceZone != "cn-hangzhou-h" || web.VpcID != "vpc-cn-hangzhou" ||
		web.VSwitchID != "vsw-cn-hangzhou-h" || web.PrivateIP == "" || !slices.Equal(web.SecurityGroupIDs, []string{"sg-cn-hangzhou"}) ||
		web.HostName != "web-1" || web.CPU != 2 || web.MemoryMiB != 8192 || web.Tags["app"] != "web" || web.SourceRegion != "cn-hangzhou" {
		t.Fatalf("web spec %+v", web)
	}
	if want := []catalog.DiskSpec{{Type: "system", Device: "/dev/xvda", Category: "cloud_essd", SizeGiB: 40},
		{Type: "data", Device: "/dev/xvdb", Category: "cloud_essd", SizeGiB: 100}}; !slices.Equal(web.Disks, want) {
		t.Fatalf("web disks %+v, want %+v", web.Disks, want)
	}
	sh := sink.puts["cn-beijing/cn-shanghai"]
	if len(sh) != 251 {
		t.Fatalf("%d shanghai specs, want 251", len(sh))
	}
	first := sh[slices.IndexFunc(sh, func(s catalog.RestoreSpec) bool { return s.InstanceID == "i-fleet-000" })]
	if first.RAMRole != "WebRole" || first.KeyPairName != "ops" || len(first.Disks) != 2 || first.Disks[1].Category != "cloud_ssd" {
		t.Fatalf("fleet spec %+v", first)
	}
	// Budget: disks are listed by page (502 disks in Shanghai = 6 pages, 9 in Hangzhou =
	// 1 page) and RAM roles by 100 (3 + 1 calls): 11 calls for 254 instances.
	if got := calls.get("DescribeDisks"); got != 7 {
		t.Errorf("DescribeDisks calls %d, want 7", got)
	}
	if got := calls.get("DescribeInstanceRamRole"); got != 4 {
		t.Errorf("DescribeInstanceRamRole calls %d, want 4", got)
	}
}

// Past the soft deadline the create run does not start the restore-metadata wrap-up (a
// region-wide disk listing and a write per destination): it counts it as remaining.
func TestRestoreMetadataHonoursTheSoftDeadline(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC)
	env := core.NewEnv(core.NewManualClock(start), nil)
	svc, err := ecs.New(env, ecs.DefaultSeed())
	if err != nil {
		t.Fatal(err)
	}
	calls := &actionCounter{n: map[string]int{}}
	srv := httptest.NewServer(calls.wrap(svc))
	t.Cleanup(srv.Close)
	api, err := ecsx.NewSDK(ecsx.SDKConfig{Endpoint: strings.TrimPrefix(srv.URL, "http://"), Scheme: "HTTP",
		Credentials: func() (string, string, string) { return core.DefaultAccessKeyID, core.DefaultAccessKeySecret, "" }})
	if err != nil {
		t.Fatal(err)
	}
	pol := &policy.Policy{Name: "prod-dr", Sources: []policy.Source{{Region: "cn-hangzhou", Selectors: []map[string]string{{"backup": "daily"}}}},
		Destinations: []policy.Destination{{Region: "cn-beijing"}},
		Retention:    policy.Retention{Source: policy.RetentionRule{KeepLast: 1}, Destination: policy.RetentionRule{KeepLast: 1}}}
	pol.ApplyDefaults()
	if err := pol.Validate(); err != nil {
		t.Fatal(err)
	}
	sink := &specSink{}
	d := backup.Deps{ECS: api, Compute: api.(ecsx.Compute), RestoreMeta: sink, Policy: pol, Now: env.Clock.Now,
		Sleep: func(context.Context, time.Duration) error { return nil }}
	// The deadline passes once the instances have been listed.
	var n atomic.Int64
	now := func() time.Time {
		if n.Add(1) > 2 {
			return start.Add(time.Hour)
		}
		return start
	}
	ctx := backup.WithSoftDeadline(context.Background(), start.Add(time.Minute), now)
	if _, err := d.Create(ctx, start); err != nil {
		t.Fatal(err)
	}
	if len(sink.puts) != 0 || calls.get("DescribeDisks") != 0 {
		t.Fatalf("restore metadata gathered past the soft deadline: %d puts, %d DescribeDisks", len(sink.puts), calls.get("DescribeDisks"))
	}
	if left := backup.Remaining(ctx); left["restore metadata"] != 1 {
		t.Fatalf("remaining %v, want restore metadata: 1", left)
	}
}

func itoa(n int) string {
	s := ""
	for {
		s = string(rune('0'+n%10)) + s
		if n /= 10; n == 0 {
			return s
		}
	}
}
