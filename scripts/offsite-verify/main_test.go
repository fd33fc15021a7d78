package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/rdsx"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/rds"
	"github.com/ecsdr/ecs-image-dr/pkg/offsite"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
	"github.com/ecsdr/ecs-image-dr/pkg/testutil"
)

const pol = `
name: verify
sources: [{region: cn-hangzhou, instanceIds: [i-x]}]
destinations: [{region: cn-shanghai}]
retention: {source: {keepLast: 1}, destination: {keepLast: 1}}
rds:
  sources: [{region: cn-hangzhou, instanceIds: [rm-verify1]}]
  destination: {region: cn-shanghai, bucket: verify-rds-dr}
  retention: {keepLast: 2}
  partSizeMiB: 1
`

// TestVerifyReadsBackAndCatchesDamage copies a backup with the offsite engine on the local
// cloud, verifies it with the command, then damages the stored object and checks that the
// command fails.
func TestVerifyReadsBackAndCatchesDamage(t *testing.T) {
	t.Parallel()
	srv, err := localcloud.New(localcloud.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	if err := srv.OSS.CreateBucket("verify-rds-dr", "cn-shanghai"); err != nil {
		t.Fatal(err)
	}
	if err := srv.RDS.AddInstance(rds.Instance{ID: "rm-verify1", Region: "cn-hangzhou", Engine: "MySQL", EngineVersion: "8.0"}); err != nil {
		t.Fatal(err)
	}
	now := srv.Env.Clock.Now()
	if _, err := srv.RDS.AddBackup(rds.Backup{InstanceID: "rm-verify1", Start: now.Add(-time.Hour), End: now.Add(-50 * time.Minute), Size: 3<<20 + 1}); err != nil {
		t.Fatal(err)
	}
	p, err := policy.Parse([]byte(pol))
	if err != nil {
		t.Fatal(err)
	}
	cred := srv.Credential()
	store, err := ossx.NewMultipart(srv.URL(), cred.AccessKeyID, cred.AccessKeySecret, "")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rdsx.New(rdsx.Config{Endpoint: srv.Addr(), Scheme: "HTTP", Credentials: func() (string, string, string) {
		return cred.AccessKeyID, cred.AccessKeySecret, ""
	}})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := offsite.Deps{RDS: rc, Store: store, Policy: p, Now: srv.Env.Clock.Now}.Run(context.Background())
	if err != nil || len(sum.Copied) != 1 {
		t.Fatalf("copy: %+v %v", sum, err)
	}
	env := map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_ID": cred.AccessKeyID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": cred.AccessKeySecret}
	args := []string{"-endpoint", srv.URL(), "-region", "cn-shanghai", "-bucket", "verify-rds-dr"}
	out := &testutil.Buffer{}
	if err := run(context.Background(), args, func(k string) string { return env[k] }, out); err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	if !strings.HasPrefix(out.String(), "ok   rm-verify1 full ") {
		t.Fatalf("output: %s", out)
	}
	// Damage: the object replaced by other bytes of the same size.
	key := sum.Copied[0].Key
	if err := srv.OSS.PutObject("verify-rds-dr", key, make([]byte, 3<<20+1)); err != nil {
		t.Fatal(err)
	}
	out = &testutil.Buffer{}
	err = run(context.Background(), args, func(k string) string { return env[k] }, out)
	if !errors.Is(err, errUnverified) || !strings.Contains(out.String(), "FAIL rm-verify1") || !strings.Contains(out.String(), "crc64") {
		t.Fatalf("damaged copy: err %v, output %s", err, out)
	}
}
