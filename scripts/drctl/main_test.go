package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/backup"
	"github.com/ecsdr/ecs-image-dr/pkg/catalog"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
	"github.com/ecsdr/ecs-image-dr/pkg/restore"
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
`

// world: a local cloud with a day of backups of the default seed's Hangzhou instances.
func world(t *testing.T) (*localcloud.Server, *core.Clock) {
	t.Helper()
	clock := core.NewManualClock(time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC))
	seed := ecs.DefaultSeed()
	srv, err := localcloud.New(localcloud.Options{Clock: clock, Seed: &seed})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	for n, cidr := range map[string]string{"dr": "10.20.0.0/16", "drill": "10.99.0.0/16"} {
		if err := srv.ECS.AddNetwork("cn-beijing", n, cidr); err != nil {
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
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", cred.AccessKeyID)
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", cred.AccessKeySecret)
	t.Setenv("ALIBABA_CLOUD_SECURITY_TOKEN", "")
	api, err := ecsx.NewSDK(ecsx.SDKConfig{Endpoint: srv.Addr(), Scheme: "HTTP",
		Credentials: func() (string, string, string) { return cred.AccessKeyID, cred.AccessKeySecret, "" }})
	if err != nil {
		t.Fatal(err)
	}
	cat := restore.OSSCatalog{Policy: pol, Store: func(string) (ossx.Store, error) {
		return ossx.New(srv.URL(), cred.AccessKeyID, cred.AccessKeySecret, "")
	}}
	d := backup.Deps{ECS: api, Compute: api.(ecsx.Compute), RestoreMeta: cat, Catalog: cat, Policy: pol, Now: clock.Now,
		Sleep: func(context.Context, time.Duration) error { return nil }}
	ctx := context.Background()
	if _, err := d.Create(ctx, clock.Now()); err != nil && !strings.Contains(err.Error(), "InstanceLockedForSecurity") {
		t.Fatal(err)
	}
	for range 3 {
		clock.Advance(time.Hour)
		if _, err := d.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return srv, clock
}

// drctl runs the CLI; a goroutine moves the manual clock while it waits.
func drctl(t *testing.T, srv *localcloud.Server, clock *core.Clock, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errw bytes.Buffer
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
				clock.Advance(5 * time.Second)
			}
		}
	}()
	code := run(append([]string{"--localcloud", srv.URL(), "--policy", testPolicy, "--tz", "UTC"}, args...), strings.NewReader(stdin), &out, &errw)
	close(done)
	wg.Wait()
	return code, out.String(), errw.String()
}

func TestStatusRestoreDrill(t *testing.T) {
	srv, clock := world(t)

	code, out, errs := drctl(t, srv, clock, "", "status")
	// i-hz-locked-1 has no copy: a missed target, exit 2.
	if code != 2 || !strings.Contains(out, "i-hz-locked-1 in cn-beijing: missing copy") || !strings.Contains(out, "i-hz-web-1     cn-beijing") {
		t.Fatalf("status: %d\n%s\n%s", code, out, errs)
	}
	code, out, _ = drctl(t, srv, clock, "", "status", "--json")
	if code != 2 || !strings.Contains(out, `"missed": 1`) {
		t.Fatalf("status --json: %d %s", code, out)
	}

	// Without --yes, anything but "yes" launches nothing.
	before := len(srv.ECS.Instances("cn-beijing"))
	code, out, _ = drctl(t, srv, clock, "no\n", "restore", "--instance", "i-hz-web-1")
	if code != 1 || !strings.Contains(out, "not launched") || len(srv.ECS.Instances("cn-beijing")) != before {
		t.Fatalf("unconfirmed restore: %d %s", code, out)
	}
	code, out, errs = drctl(t, srv, clock, "yes\n", "restore", "--instance", "i-hz-web-1")
	// RTO: 60s of boot plus however far the test's goroutine moved the clock between polls.
	if code != 0 || !strings.Contains(out, "restored i-hz-web-1 as i-") || !strings.Contains(out, "Running, RTO 1m") ||
		!strings.Contains(errs, "Starting") {
		t.Fatalf("restore: %d\n%s\n%s", code, out, errs)
	}
	code, _, errs = drctl(t, srv, clock, "", "restore", "--instance", "i-hz-web-1", "--yes")
	if code != 1 || !strings.Contains(errs, "a restored copy already exists") {
		t.Fatalf("duplicate: %d %s", code, errs)
	}
	code, _, errs = drctl(t, srv, clock, "", "restore", "--instance", "i-hz-locked-1", "--yes")
	if code != 1 || !strings.Contains(errs, "no restorable copy") || !strings.Contains(errs, "nothing was launched") {
		t.Fatalf("no copy: %d %s", code, errs)
	}

	code, out, errs = drctl(t, srv, clock, "", "drill", "--instance", "i-hz-db-1")
	if code != 0 || !strings.Contains(out, "drill of i-hz-db-1 in cn-beijing verified") || !strings.Contains(out, "torn down") {
		t.Fatalf("drill: %d\n%s\n%s", code, out, errs)
	}
	for _, in := range srv.ECS.Instances("cn-beijing") {
		if in.Tags[restore.TagDrill] != "" {
			t.Fatalf("drill instance left: %s", in.ID)
		}
	}
	code, out, _ = drctl(t, srv, clock, "", "plan")
	if code != 0 || !strings.Contains(out, "create (") || !strings.Contains(out, "cleanup:") {
		t.Fatalf("plan: %d %s", code, out)
	}
	code, out, _ = drctl(t, srv, clock, "", "gc")
	if code != 0 || !strings.Contains(out, "0 found") {
		t.Fatalf("gc: %d %s", code, out)
	}
}

func TestBadInvocations(t *testing.T) {
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "")
	var out, errw bytes.Buffer
	if code := run([]string{"--policy", testPolicy, "status"}, strings.NewReader(""), &out, &errw); code != 1 || !strings.Contains(errw.String(), "no credentials") {
		t.Fatalf("no credentials: %d %s", code, errw.String())
	}
	errw.Reset()
	if code := run(nil, strings.NewReader(""), &out, &errw); code != 1 || !strings.Contains(errw.String(), "usage: drctl") {
		t.Fatalf("no command: %d %s", code, errw.String())
	}
}

// TestStatusDatabases: drctl status lists each DB instance's newest offsite backup; one
// whose data is older than rpoTarget is a missed target (counted in the exit code), a fresh
// one is not.
func TestStatusDatabases(t *testing.T) {
	srv, clock := world(t)
	pol := testPolicy + `rds:
  sources:
    - region: cn-hangzhou
      instanceIds: [rm-bp1old1, rm-bp1new1]
  destination:
    region: cn-beijing
    bucket: prod-rds-offsite
  retention: {keepLast: 3}
`
	parsed, err := policy.Parse([]byte(pol))
	if err != nil {
		t.Fatal(err)
	}
	cred := srv.Credential()
	s, err := ossx.New(srv.URL(), cred.AccessKeyID, cred.AccessKeySecret, "")
	if err != nil {
		t.Fatal(err)
	}
	put := func(id, backup string, data time.Time) {
		e := catalog.DatabaseEntry{InstanceID: id, Region: "cn-beijing", SourceRegion: "cn-hangzhou", Engine: "MySQL",
			BackupID: backup, Method: "Physical", Bucket: "prod-rds-offsite", Key: "rds/" + id + "/" + backup + ".tar.gz",
			Size: 1, CRC64: "1", DataTime: data, CopiedAt: data.Add(time.Hour), RPOSeconds: 3600}
		if _, err := catalog.NewWriter(s, parsed.CatalogBucket("cn-beijing"), nil).PutDatabase(context.Background(), parsed.Name, e); err != nil {
			t.Fatal(err)
		}
	}
	now := clock.Now()
	put("rm-bp1new1", "b-2", now.Add(-2*time.Hour))
	status := func(args ...string) (int, string) {
		var out, errw bytes.Buffer
		code := run(append([]string{"--localcloud", srv.URL(), "--policy", pol, "--tz", "UTC", "status"}, args...), strings.NewReader(""), &out, &errw)
		return code, out.String() + errw.String()
	}
	// Baseline: i-hz-locked-1 has no copy (missed 1, exit 2); the fresh DB misses nothing.
	code, out := status("--json")
	if code != 2 || !strings.Contains(out, `"missed": 1`) || !strings.Contains(out, `"kind": "database"`) ||
		!strings.Contains(out, `"backupId": "b-2"`) {
		t.Fatalf("fresh db: %d %s", code, out)
	}
	put("rm-bp1old1", "b-1", now.Add(-30*time.Hour))
	code, out = status("--json")
	if code != 2 || !strings.Contains(out, `"missed": 2`) {
		t.Fatalf("stale db --json: %d %s", code, out)
	}
	code, out = status()
	if code != 2 || !strings.Contains(out, "rm-bp1old1 in cn-beijing: stale: newest offsite backup's data is 30h00m old") ||
		!strings.Contains(out, "NEWEST OFFSITE BACKUP") || !strings.Contains(out, "2 of 5 pairs miss the target") {
		t.Fatalf("stale db: %d\n%s", code, out)
	}
}
