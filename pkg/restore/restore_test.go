package restore_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/backup"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
	"github.com/ecsdr/ecs-image-dr/pkg/restore"
	"github.com/ecsdr/ecs-image-dr/pkg/testutil"
)

const testPolicy = `
name: prod-dr
sources:
  - region: cn-hangzhou
    selectors: [{backup: daily}]
destinations:
  - region: cn-beijing
retention:
  source: {keepLast: 2}
  destination: {keepLast: 3}
rpoTarget: 26h
networkMap:
  cn-beijing:
    vSwitches: {vsw-cn-hangzhou-h: vsw-dr-a, vsw-cn-hangzhou-i: vsw-dr-b}
    securityGroups: {sg-cn-hangzhou: sg-dr}
drill:
  vSwitchId: vsw-drill-a
  securityGroupIds: [sg-drill]
  healthCommand: curl -fsS localhost/healthz
  maxConcurrent: 2
  perRun: 1
`

var start = time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC)

// world is a local cloud with one day of backups made: i-hz-web-1, i-hz-db-1 and
// i-hz-locked-1 are protected; web and db have an Available copy in cn-beijing, the
// locked one (CreateImage refused) has none.
type world struct {
	srv   *localcloud.Server
	clock *core.Clock
	pol   *policy.Policy
	deps  restore.Deps
	bdeps backup.Deps
	log   *testutil.Buffer
	lines []string
	mu    sync.Mutex
}

func newWorld(t *testing.T, mutate func(*ecs.Seed)) *world {
	t.Helper()
	clock := core.NewManualClock(start)
	seed := ecs.DefaultSeed()
	seed.Compute.Commands = []ecs.CommandRule{
		{Contains: "healthz", InstanceTags: map[string]string{"app": "web"}, ExitCode: 0, Output: "ok", Duration: ecs.Duration(10 * time.Second)},
		{Contains: "healthz", ExitCode: 7, Output: "curl: (7) Failed to connect to localhost port 80"},
	}
	if mutate != nil {
		mutate(&seed)
	}
	srv, err := localcloud.New(localcloud.Options{Clock: clock, Seed: &seed})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	for _, n := range []string{"dr", "drill"} {
		if err := srv.ECS.AddNetwork("cn-beijing", n, map[string]string{"dr": "10.20.0.0/16", "drill": "10.99.0.0/16"}[n]); err != nil {
			t.Fatal(err)
		}
	}
	pol, err := policy.Parse([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.OSS.CreateBucket(pol.CatalogBucket("cn-beijing"), "cn-beijing"); err != nil {
		t.Fatal(err)
	}
	cred := srv.Credential()
	api, err := ecsx.NewSDK(ecsx.SDKConfig{Endpoint: srv.Addr(), Scheme: "HTTP",
		Credentials: func() (string, string, string) { return cred.AccessKeyID, cred.AccessKeySecret, "" }})
	if err != nil {
		t.Fatal(err)
	}
	cat := restore.OSSCatalog{Policy: pol, Store: func(string) (ossx.Store, error) {
		return ossx.New(srv.URL(), cred.AccessKeyID, cred.AccessKeySecret, "")
	}}
	w := &world{srv: srv, clock: clock, pol: pol, log: &testutil.Buffer{}}
	// Sleep advances the simulated clock: the RTO is measured on it.
	sleep := func(ctx context.Context, d time.Duration) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		clock.Advance(d)
		return nil
	}
	w.deps = restore.Deps{ECS: api, Compute: api.(ecsx.Compute), Catalog: cat, Policy: pol, Now: clock.Now, Sleep: sleep,
		Log: slog.New(slog.NewJSONHandler(w.log, nil)), Progress: func(s string) { w.mu.Lock(); w.lines = append(w.lines, s); w.mu.Unlock() }}
	w.bdeps = backup.Deps{ECS: api, Compute: api.(ecsx.Compute), RestoreMeta: cat, Catalog: cat, Policy: pol, Now: clock.Now,
		Sleep: func(context.Context, time.Duration) error { return nil }}
	w.backupDay(t)
	return w
}

// backupDay runs create, then reconcile until the copies are Available and cataloged.
func (w *world) backupDay(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if _, err := w.bdeps.Create(ctx, w.clock.Now()); err != nil && !strings.Contains(err.Error(), "InstanceLockedForSecurity") {
		t.Fatalf("create: %v", err)
	}
	for range 3 {
		w.clock.Advance(time.Hour)
		if _, err := w.bdeps.Reconcile(ctx); err != nil {
			t.Fatalf("reconcile: %v", err)
		}
	}
}

func (w *world) instances(region string) map[string]ecs.Instance {
	out := map[string]ecs.Instance{}
	for _, in := range w.srv.ECS.Instances(region) {
		out[in.ID] = in
	}
	return out
}

func TestRestoreRebuildsTheServer(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	ctx := context.Background()
	p, err := w.deps.Prepare(ctx, restore.Request{InstanceID: "i-hz-web-1", RunID: "op-1"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Region != "cn-beijing" || p.VSwitchID != "vsw-dr-a" || p.Zone != "cn-beijing-a" || p.InstanceType != "ecs.g7.large" ||
		p.TypeNote != "" || len(p.Groups) != 1 || p.Groups[0] != "sg-dr" {
		t.Fatalf("plan %+v", p)
	}
	before := len(w.instances("cn-beijing"))
	t0 := w.clock.Now()
	res, err := w.deps.Restore(ctx, p, t0)
	if err != nil {
		t.Fatal(err)
	}
	// Pending 15s + Starting 45s, polled every 5s: Running is seen at exactly 60s.
	if !res.Running || !res.Verified || res.RTO != 60*time.Second || res.NewInstance == "" {
		t.Fatalf("result %+v", res)
	}
	in := w.instances("cn-beijing")[res.NewInstance]
	if len(w.instances("cn-beijing")) != before+1 || in.Status != "Running" || in.ImageID != p.Image.ID ||
		in.VSwitchID != "vsw-dr-a" || in.SecurityGroupIDs[0] != "sg-dr" || in.HostName != "web-1" || in.InstanceType != "ecs.g7.large" ||
		in.Tags["app"] != "web" || in.Tags[restore.TagRestoredFrom] != "i-hz-web-1" || len(in.Disks) != 2 || in.Disks[1].SizeGiB != 100 {
		t.Fatalf("restored instance %+v", in)
	}
	// A second restore of the same server is refused, and launches nothing.
	_, err = w.deps.Restore(ctx, p, w.clock.Now())
	if !errors.Is(err, restore.ErrDuplicate) || !strings.Contains(err.Error(), res.NewInstance) {
		t.Fatalf("duplicate: %v", err)
	}
	p.AllowDuplicate, p.RunID = true, "op-2"
	if _, err := w.deps.Restore(ctx, p, w.clock.Now()); err != nil {
		t.Fatalf("allowed duplicate: %v", err)
	}
	if got := len(w.instances("cn-beijing")); got != before+2 {
		t.Fatalf("%d instances, want %d", got, before+2)
	}
}

func TestRestoreBadInput(t *testing.T) {
	t.Parallel()
	w := newWorld(t, func(s *ecs.Seed) { s.Compute.SoldOut = []string{"cn-beijing/cn-beijing-b/ecs.g7.large"} })
	ctx := context.Background()
	before := len(w.instances("cn-beijing"))

	_, err := w.deps.Prepare(ctx, restore.Request{InstanceID: "i-hz-locked-1", RunID: "op"})
	if !errors.Is(err, restore.ErrNoCopy) || !strings.Contains(err.Error(), "nothing was launched") {
		t.Errorf("no copy: %v", err)
	}
	_, err = w.deps.Prepare(ctx, restore.Request{InstanceID: "i-hz-web-1", RunID: "op", At: start.Add(-time.Hour)})
	if !errors.Is(err, restore.ErrNoCopy) {
		t.Errorf("no copy that old: %v", err)
	}
	_, err = w.deps.Prepare(ctx, restore.Request{InstanceID: "i-hz-web-1", RunID: "op", Region: "cn-shanghai"})
	if err == nil || !strings.Contains(err.Error(), "not a DR region") {
		t.Errorf("not a DR region: %v", err)
	}

	// A source network the map does not cover.
	unmapped := *w.pol
	unmapped.NetworkMap = map[string]policy.NetworkMap{"cn-beijing": {VSwitches: map[string]string{"vsw-cn-hangzhou-i": "vsw-dr-b"}}}
	d := w.deps
	d.Policy = &unmapped
	_, err = d.Prepare(ctx, restore.Request{InstanceID: "i-hz-web-1", RunID: "op"})
	if !errors.Is(err, restore.ErrNoMapping) || !strings.Contains(err.Error(), "networkMap.cn-beijing.vSwitches.vsw-cn-hangzhou-h") ||
		!strings.Contains(err.Error(), "networkMap.cn-beijing.securityGroups.sg-cn-hangzhou") {
		t.Errorf("missing mapping: %v", err)
	}

	// Out of stock: db-1 (zone i) maps to vsw-dr-b in cn-beijing-b where g7.large is
	// sold out: the closest type with the same size is used, and the plan says so.
	p, err := w.deps.Prepare(ctx, restore.Request{InstanceID: "i-hz-db-1", RunID: "op"})
	if err != nil {
		t.Fatal(err)
	}
	if p.InstanceType != "ecs.g6.large" || !strings.Contains(p.TypeNote, "ecs.g7.large has no stock in cn-beijing-b; using the closest available type ecs.g6.large (2 vCPU, 8 GiB)") {
		t.Fatalf("closest type: %s %q", p.InstanceType, p.TypeNote)
	}
	// The stock runs out between plan and launch: a clear error naming the alternative.
	if err := w.srv.ECS.SetSoldOut("cn-beijing", "cn-beijing-b", "ecs.g6.large", true); err != nil {
		t.Fatal(err)
	}
	_, err = w.deps.Restore(ctx, p, w.clock.Now())
	if !errors.Is(err, restore.ErrNoStock) || !strings.Contains(err.Error(), "OperationDenied.NoStock") || !strings.Contains(err.Error(), "--instance-type ecs.g8i.large") {
		t.Fatalf("sold out at launch: %v", err)
	}
	if got := len(w.instances("cn-beijing")); got != before {
		t.Fatalf("bad input left %d instances, want %d", got, before)
	}
}

func TestClosest(t *testing.T) {
	t.Parallel()
	types := []ecsx.InstanceType{
		{Name: "ecs.g7.large", Family: "ecs.g7", CPU: 2, MemoryGiB: 8}, {Name: "ecs.g7.xlarge", Family: "ecs.g7", CPU: 4, MemoryGiB: 16},
		{Name: "ecs.g6.large", Family: "ecs.g6", CPU: 2, MemoryGiB: 8}, {Name: "ecs.c7.large", Family: "ecs.c7", CPU: 2, MemoryGiB: 4},
		{Name: "ecs.r7.large", Family: "ecs.r7", CPU: 2, MemoryGiB: 16},
	}
	all := func(string) bool { return true }
	for _, tc := range []struct {
		want   string
		usable func(string) bool
		got    string
	}{
		{"ecs.g7.large", all, "ecs.g6.large"},                                                                        // same size first
		{"ecs.g7.large", func(t string) bool { return t != "ecs.g6.large" }, "ecs.r7.large"},                         // then the smallest larger
		{"ecs.g7.large", func(t string) bool { return t == "ecs.c7.large" }, "ecs.c7.large"},                         // then a smaller one
		{"ecs.g7.xlarge", func(t string) bool { return t != "ecs.g7.xlarge" }, "ecs.r7.large"},                       // no larger: largest smaller by distance
		{"ecs.zz.large", func(t string) bool { return t == "ecs.g7.xlarge" || t == "ecs.g6.large" }, "ecs.g6.large"}, // unknown: cpu/mem given
	} {
		got, ok := restore.Closest(tc.want, 2, 8, types, tc.usable)
		if !ok || got.Name != tc.got {
			t.Errorf("Closest(%s) = %s, want %s", tc.want, got.Name, tc.got)
		}
	}
	if _, ok := restore.Closest("ecs.g7.large", 2, 8, types, func(string) bool { return false }); ok {
		t.Error("Closest found a type where none is usable")
	}
}
