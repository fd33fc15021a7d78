package offsite_test

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/rdsx"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/rds"
	"github.com/ecsdr/ecs-image-dr/pkg/offsite"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

const pol = `
name: deadline
sources: [{region: cn-hangzhou, instanceIds: [i-x]}]
destinations: [{region: cn-shanghai}]
retention: {source: {keepLast: 1}, destination: {keepLast: 1}}
rds:
  sources: [{region: cn-hangzhou, instanceIds: [rm-dead1]}]
  destination: {region: cn-shanghai, bucket: deadline-rds-dr}
  retention: {keepLast: 2}
  partSizeMiB: 1
`

// ticking advances a fake wall clock by one minute after every part uploaded.
type ticking struct {
	ossx.Multipart
	mu  sync.Mutex
	now time.Time
}

func (t *ticking) UploadPart(ctx context.Context, bucket, key, id string, n int, r io.Reader, size int64) (ossx.Part, error) {
	p, err := t.Multipart.UploadPart(ctx, bucket, key, id, n, r, size)
	t.mu.Lock()
	t.now = t.now.Add(time.Minute)
	t.mu.Unlock()
	return p, err
}

func (t *ticking) clock() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.now
}

// TestDeadlineStopsCleanlyAndTheNextRunContinues: with a deadline 10 minutes away and a
// 2-minute margin, a run uploads 8 parts (a minute each), reports the file in progress
// and writes no manifest; the next run continues the same upload from part 9.
func TestDeadlineStopsCleanlyAndTheNextRunContinues(t *testing.T) {
	t.Parallel()
	srv, err := localcloud.New(localcloud.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	if err := srv.OSS.CreateBucket("deadline-rds-dr", "cn-shanghai"); err != nil {
		t.Fatal(err)
	}
	if err := srv.RDS.AddInstance(rds.Instance{ID: "rm-dead1", Region: "cn-hangzhou", Engine: "PostgreSQL", EngineVersion: "16.0"}); err != nil {
		t.Fatal(err)
	}
	now := srv.Env.Clock.Now()
	const size = 20<<20 + 3
	b, err := srv.RDS.AddBackup(rds.Backup{InstanceID: "rm-dead1", Start: now.Add(-time.Hour), End: now.Add(-50 * time.Minute), Size: size})
	if err != nil {
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
	tick := &ticking{Multipart: store, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	d := offsite.Deps{RDS: rc, Store: tick, Policy: p, Now: srv.Env.Clock.Now, Clock: tick.clock,
		Deadline: tick.clock().Add(10 * time.Minute), Margin: 2 * time.Minute}
	sum, err := d.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Copied) != 0 || len(sum.InProgress) != 1 || sum.Bytes != 8<<20 {
		t.Fatalf("first run: %+v", sum)
	}
	ups := srv.OSS.Uploads("deadline-rds-dr")
	if len(ups) != 1 || ups[0].Parts != 8 {
		t.Fatalf("uploads after the deadline: %+v", ups)
	}
	if keys := srv.OSS.Keys("deadline-rds-dr"); len(keys) != 0 {
		t.Fatalf("a run stopped by its deadline left objects: %v", keys)
	}
	d.Deadline = time.Time{}
	sum, err = d.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Copied) != 1 || sum.Bytes != size-8<<20 {
		t.Fatalf("second run: %+v", sum)
	}
	if got := srv.RDS.DownloadOffsets(b.ID); got[len(got)-1] != 8<<20 {
		t.Fatalf("the second run's download started at %d, want %d", got[len(got)-1], 8<<20)
	}
	info, err := srv.OSS.Stat("deadline-rds-dr", sum.Copied[0].Key)
	if err != nil || info.CRC64 != b.Content().CRC64() {
		t.Fatalf("object: %+v %v", info, err)
	}
}
