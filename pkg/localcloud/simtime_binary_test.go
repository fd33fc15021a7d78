package localcloud_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/bootstrap"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/fc"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
	"github.com/ecsdr/ecs-image-dr/pkg/sconfig"
	"github.com/ecsdr/ecs-image-dr/pkg/testutil"
)

// The product's "stop at deadline − margin" on the scaled simulated clock, through the
// real create-image binary: 300 instances to image at one CreateImage per simulated
// second (the policy's rate limit) cannot be done in a 60 s timeout. The process runs
// on the local cloud's clock (DR_SIMULATED_CLOCK, 10x: the 60 s take 6 wall seconds),
// so it stops starting work at its soft deadline (60 s − 15 s), records what remains
// and returns a retryable error before FC's timeout would kill it.
//
// The speed is the model's one distortion: the process's own work (CPU, loopback round
// trips) takes wall time, which counts S times in simulated time. At 10x a 10 ms request
// is 100 simulated ms, and the 15 s margin is 1.5 wall seconds for the run's wrap-up; at
// 100x it would be 150 ms, less than this run's restore-metadata listing takes on a busy
// machine.
func TestProductStopsAtItsSoftDeadlineOnTheScaledClock(t *testing.T) {
	t.Parallel()
	const speed, fleet = 10, 300
	sfile := buildCreateImage(t)
	// 12:00 in Shanghai: no timer of s.yaml is due (they are not deployed either).
	start := time.Date(2026, 3, 2, 4, 0, 0, 0, time.UTC)
	clock := core.NewRealtimeClock(start, speed)
	t.Cleanup(clock.Close)
	def := ecs.DefaultSeed()
	seed := ecs.Seed{Regions: def.Regions, Images: def.Images, ImageQuota: 10 * fleet}
	for i := range fleet {
		seed.Instances = append(seed.Instances, ecs.InstanceSeed{
			ID: fmt.Sprintf("i-simtime%05d", i), Region: "cn-hangzhou", Name: fmt.Sprintf("web-%d", i), Status: "Running",
			Tags: map[string]string{"backup": "daily"}, Disks: []ecs.DiskSeed{{Type: "system", SizeGiB: 20}},
		})
	}
	out := &testutil.Buffer{}
	srv, err := localcloud.New(localcloud.Options{Clock: clock, Seed: &seed, FunctionOutput: fc.Options{Stdout: out}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })

	env := map[string]string{
		"DR_ECS_ENDPOINT": srv.Addr(), "DR_ECS_SCHEME": "HTTP", "DR_OSS_ENDPOINT": srv.URL(),
		"DR_SLS_ENDPOINT": srv.Addr(), "DR_RDS_ENDPOINT": srv.Addr(),
		"DR_POLICY": `name: simtime
timezone: Asia/Shanghai
sources:
  - region: cn-hangzhou
    selectors:
      - backup: daily
destinations:
  - region: cn-beijing
retention:
  source: {keepLast: 3}
  destination: {keepLast: 3}
rateLimits:
  CreateImage: 1
`,
	}
	pol, err := policy.Parse([]byte(env["DR_POLICY"]))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.OSS.CreateBucket(pol.CatalogBucket("cn-beijing"), "cn-beijing"); err != nil {
		t.Fatal(err)
	}
	p, err := sconfig.Load(sfile, env, map[string]string{"AccountID": srv.Credential().AccountID})
	if err != nil {
		t.Fatal(err)
	}
	var fns []sconfig.Function
	for _, f := range p.Functions {
		if f.Resource == "create-image" {
			f.Triggers, f.LogProject, f.LogLogstore = nil, "", "" // invoked by hand; stdout only
			fns = append(fns, f)
		}
	}
	if len(fns) != 1 || fns[0].Timeout != 600*time.Second {
		t.Fatalf("s.yaml: want create-image with its 600 s timeout, got %+v", fns)
	}
	fns[0].Timeout = 60 * time.Second // 6 wall seconds at 10x (600 s would take 60)
	p.Functions = fns
	if err := srv.EnsureRoles(p, bootstrap.PolicyTemplate, env); err != nil {
		t.Fatal(err)
	}
	if err := srv.Deploy(p, filepath.Dir(sfile), env); err != nil {
		t.Fatal(err)
	}

	payload, _ := json.Marshal(map[string]string{
		"triggerTime": clock.Now().Format(time.RFC3339), "triggerName": "daily", "payload": `{"action":"create"}`,
	})
	wall := time.Now()
	inv, err := srv.FC.Invoke(context.Background(), fns[0].Name, payload)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("create-image: %s after %v simulated (%v wall, %v with the cold start), peak RSS %d KiB of %d MB",
		inv.Status, inv.SimDuration.Round(time.Second), inv.WallDuration.Round(time.Millisecond),
		time.Since(wall).Round(time.Millisecond), inv.PeakRSSKiB, inv.MemoryMB)
	if !strings.Contains(out.String(), "simulated clock on") {
		t.Errorf("the binary did not report the simulated clock:\n%s", tail(out.String()))
	}
	// Stopped by itself, before FC's timeout, with the remainder recorded.
	if inv.Status != fc.StatusError || !strings.Contains(inv.ErrorMessage, "stopped before starting") {
		t.Fatalf("status %s (%s: %s), want the product's retryable 'work remains' error; output:\n%s",
			inv.Status, inv.ErrorType, inv.ErrorMessage, tail(out.String()))
	}
	if !strings.Contains(out.String(), "soft deadline reached") {
		t.Errorf("no 'soft deadline reached' record:\n%s", tail(out.String()))
	}
	// The soft deadline is 45 s after the hand-over; the run stops there and has the
	// margin to record and return.
	if inv.SimDuration < 40*time.Second || inv.SimDuration >= inv.Timeout {
		t.Errorf("the run ended after %v of simulated time, want at its soft deadline (45 s of the %v)", inv.SimDuration, inv.Timeout)
	}
	if inv.WallDuration >= inv.Timeout/speed*2 {
		t.Errorf("600 simulated seconds at %dx took %v of wall time", speed, inv.WallDuration)
	}
	images := 0
	for _, im := range srv.ECS.Images("cn-hangzhou") {
		if strings.HasPrefix(im.SourceInstanceID, "i-simtime") {
			images++
		}
	}
	// One CreateImage per simulated second: about 45 started, far from all.
	if images < 20 || images >= fleet {
		t.Errorf("%d images started in the run, want the ~45 the rate allows before the soft deadline", images)
	}
}

func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-15):], "\n")
}

// buildCreateImage builds functions/create-image into a temp dist/ with s.yaml next to it.
func buildCreateImage(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "dist", "create-image", "main"), "./functions/create-image")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build create-image: %v\n%s", err, b)
	}
	s, err := os.ReadFile(filepath.Join(root, "s.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "s.yaml"), s, 0o644); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "s.yaml")
}
