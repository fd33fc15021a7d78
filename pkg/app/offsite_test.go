package app_test

import (
	"context"
	"errors"
	"hash/crc64"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fccontext"

	"github.com/ecsdr/ecs-image-dr/pkg/app"
	"github.com/ecsdr/ecs-image-dr/pkg/catalog"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/rds"
	"github.com/ecsdr/ecs-image-dr/pkg/offsite"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

const (
	rdsBucket = "it-rds-dr"
	drRegion  = "cn-shanghai"
	hzRegion  = "cn-hangzhou"
	partSize  = 4 << 20
)

// offsiteCloud is a local cloud with the offsite policy, its DR bucket and catalog bucket,
// and three DB instances: rm-local1 (local SSD, listed by id), rm-local2 (local SSD, tag
// dr=on) and rm-cloud1 (cloud disk, tag dr=on).
func offsiteCloud(t *testing.T, bucketRegion string) (*cloud, *policy.Policy) {
	t.Helper()
	doc, pol := loadPolicy(t, "offsite-policy.yaml")
	c := newCloud(t, cloudOptions{start: at(1, 1, 0), env: map[string]string{app.EnvPolicy: doc}})
	c.env[app.EnvRDSEndpoint] = c.srv.Addr()
	if err := c.srv.OSS.CreateBucket(rdsBucket, bucketRegion); err != nil {
		t.Fatal(err)
	}
	if err := c.srv.OSS.CreateBucket(pol.CatalogBucket(drRegion), drRegion); err != nil {
		t.Fatal(err)
	}
	for _, in := range []rds.Instance{
		{ID: "rm-local1", Region: hzRegion, Engine: "MySQL", EngineVersion: "8.0", StorageType: "local_ssd"},
		{ID: "rm-local2", Region: hzRegion, Engine: "MySQL", EngineVersion: "5.7", StorageType: "local_ssd", Tags: map[string]string{"dr": "on"}},
		{ID: "rm-cloud1", Region: hzRegion, Engine: "MySQL", EngineVersion: "8.0", StorageType: "cloud_essd", Tags: map[string]string{"dr": "on"}},
		{ID: "rm-nottagged", Region: hzRegion, Engine: "MySQL", EngineVersion: "8.0", StorageType: "local_ssd"},
	} {
		if err := c.srv.RDS.AddInstance(in); err != nil {
			t.Fatal(err)
		}
	}
	return c, pol
}

func (c *cloud) addBackup(instance string, end time.Time, size int64) rds.Backup {
	c.t.Helper()
	b, err := c.srv.RDS.AddBackup(rds.Backup{InstanceID: instance, Start: end.Add(-20 * time.Minute), End: end, Size: size})
	if err != nil {
		c.t.Fatal(err)
	}
	return b
}

func (c *cloud) offsiteRun(when time.Time) (*app.Result, error) {
	return c.invoke(app.RDSOffsite, timerPayload(when, "rds-offsite", "offsite"))
}

func (c *cloud) drStore() ossx.Multipart {
	c.t.Helper()
	cr := c.srv.Credential()
	s, err := ossx.NewMultipart(c.srv.URL(), cr.AccessKeyID, cr.AccessKeySecret, "")
	if err != nil {
		c.t.Fatal(err)
	}
	return s
}

func (c *cloud) manifests(instance string) []offsite.Manifest {
	c.t.Helper()
	ms, err := offsite.ReadManifests(context.Background(), c.drStore(), rdsBucket, "rds/"+hzRegion+"/"+instance+"/manifests/", nil)
	if err != nil {
		c.t.Fatal(err)
	}
	return ms
}

func TestOffsiteCopiesVerifiesRecordsLineageAndCatalogues(t *testing.T) {
	t.Parallel()
	c, pol := offsiteCloud(t, drRegion)
	b1 := c.addBackup("rm-local1", at(1, 0, 30), 9<<20+123)
	c.addBackup("rm-local2", at(1, 0, 40), 3<<20)
	c.addBackup("rm-cloud1", at(1, 0, 45), 50<<30) // a snapshot backup: no URL
	for i := range 3 {
		if _, err := c.srv.RDS.AddLogFile(rds.LogFile{InstanceID: "rm-local1", Begin: at(1, 0, 20).Add(time.Duration(i) * 10 * time.Minute),
			End: at(1, 0, 30).Add(time.Duration(i) * 10 * time.Minute), Size: 300 << 10}); err != nil {
			t.Fatal(err)
		}
	}
	res := c.mustInvoke("first run", app.RDSOffsite, timerPayload(at(1, 1, 0), "rds-offsite", "offsite"))
	sum := res.Offsite
	if sum == nil || sum.Instances != 3 {
		t.Fatalf("summary: %+v", sum)
	}
	if len(sum.Copied) != 5 || len(sum.Failed) != 0 {
		t.Fatalf("want 2 full backups and 3 log files copied, no failure: %+v", sum)
	}
	if len(sum.Uncovered) != 1 || sum.Uncovered[0].Instance != "rm-cloud1" || !strings.Contains(sum.Uncovered[0].Reason, "cross-region backup") {
		t.Fatalf("the cloud-disk instance must be recorded once with the recommendation: %+v", sum.Uncovered)
	}
	ms := c.manifests("rm-local1")
	var full *offsite.Manifest
	for i, m := range ms {
		if m.Kind == "full" {
			full = &ms[i]
		}
	}
	if len(ms) != 4 || full == nil || full.BackupID != b1.ID || full.Size != b1.Size {
		t.Fatalf("rm-local1 manifests: %+v", ms)
	}
	// The stored object: RDS's checksum, OSS's CRC, the bytes themselves, the lineage.
	info, err := c.srv.OSS.Stat(rdsBucket, full.Key)
	if err != nil {
		t.Fatal(err)
	}
	want := b1.Content().CRC64()
	if info.CRC64 != want || full.CRC64 != strconv.FormatUint(want, 10) || info.Size != b1.Size || info.Type != "Multipart" {
		t.Fatalf("object %+v, manifest crc %s, want crc %d", info, full.CRC64, want)
	}
	data, _ := c.srv.OSS.Object(rdsBucket, full.Key)
	if crc64.Checksum(data, crc64.MakeTable(crc64.ECMA)) != want {
		t.Fatal("the stored bytes do not have RDS's checksum")
	}
	for k, v := range map[string]string{"X-Oss-Meta-Rds-Instance": "rm-local1", "X-Oss-Meta-Rds-Backup-Id": b1.ID,
		"X-Oss-Meta-Rds-Backup-Time": at(1, 0, 30).UTC().Format(time.RFC3339), "X-Oss-Meta-Rds-Engine": "MySQL 8.0",
		"X-Oss-Meta-Rds-Method": "Physical", "X-Oss-Server-Side-Encryption": "KMS", "X-Oss-Server-Side-Encryption-Key-Id": "key-it-rds"} {
		if info.Headers[k] != v {
			t.Errorf("object header %s = %q, want %q", k, info.Headers[k], v)
		}
	}
	// The catalog: per DB instance the newest verified backup, its data time and RPO.
	entries, err := catalog.ReadDatabases(context.Background(), c.drStore(), pol.CatalogBucket(drRegion), pol.Name)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].InstanceID != "rm-local1" || entries[0].BackupID != b1.ID {
		t.Fatalf("catalog: %+v", entries)
	}
	e := entries[0]
	if !e.LogsUntil.Equal(at(1, 0, 50)) || e.RPOSeconds != int64(at(1, 1, 0).Sub(at(1, 0, 50))/time.Second) || e.Region != drRegion || e.SourceRegion != hzRegion {
		t.Fatalf("catalog entry: %+v", e)
	}
	// The records: the image functions' fields, action offsite, bytes and throughput.
	var okRecords int
	for _, rec := range c.stdout.JSONLines(t) {
		if rec["action"] == "offsite" && rec["result"] == "ok" {
			okRecords++
			for _, k := range []string{"region", "instance", "bytes", "duration_ms", "function", "request_id", "policy"} {
				if rec[k] == nil {
					t.Errorf("offsite record without %s: %v", k, rec)
				}
			}
		}
		for _, v := range rec {
			if s, ok := v.(string); ok && (strings.Contains(s, "Signature=") || strings.Contains(s, "Expires=")) {
				t.Fatalf("a record carries a download URL: %v", rec)
			}
		}
	}
	if okRecords != 5 {
		t.Fatalf("%d offsite ok records, want 5", okRecords)
	}
	// Level-triggered: a second run finds everything offsite and copies nothing.
	res = c.mustInvoke("second run", app.RDSOffsite, timerPayload(at(1, 2, 0), "rds-offsite", "offsite"))
	// (2 full backups, and the newest log: the log listing starts where the copies end)
	if len(res.Offsite.Copied) != 0 || res.Offsite.AlreadyOffsite != 3 || res.Offsite.Bytes != 0 {
		t.Fatalf("second run: %+v", res.Offsite)
	}
}

// killAfterParts runs rds-offsite and cancels it (a kill, from the copier's view) once the
// upload of key has at least n parts. It returns the parts stored when it was killed.
func (c *cloud) killAfterParts(when time.Time, n int) int {
	c.t.Helper()
	ctx, cancel := context.WithCancel(c.fcContext(app.RDSOffsite))
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := c.handler(app.RDSOffsite).Handle(ctx, timerPayload(when, "rds-offsite", "offsite"))
		done <- err
	}()
	for {
		select {
		case err := <-done:
			c.t.Fatalf("the run finished before it was killed: %v", err)
		case <-time.After(2 * time.Millisecond):
		}
		ups := c.srv.OSS.Uploads(rdsBucket)
		if len(ups) == 1 && ups[0].Parts >= n {
			cancel()
			<-done
			// A part whose request was in flight may still land server-side after the
			// client gave up: wait until the stored parts stop changing.
			for prev := -1; ; time.Sleep(50 * time.Millisecond) {
				n := c.srv.OSS.Uploads(rdsBucket)[0].Parts
				if n == prev {
					return n
				}
				prev = n
			}
		}
	}
}

func TestOffsiteKilledRunResumesTheSameUpload(t *testing.T) {
	t.Parallel()
	c, _ := offsiteCloud(t, drRegion)
	c.srv.RDS.DeleteInstance("rm-local2")
	c.srv.RDS.DeleteInstance("rm-cloud1")
	const size = 96<<20 + 5
	b := c.addBackup("rm-local1", at(1, 0, 30), size)
	parts := c.killAfterParts(at(1, 1, 0), 5)
	up := c.srv.OSS.Uploads(rdsBucket)[0]
	if parts < 5 || parts >= 25 || up.Bytes != int64(parts)*partSize {
		t.Fatalf("after the kill: %+v", up)
	}
	before := len(c.srv.RDS.DownloadOffsets(b.ID))
	res := c.mustInvoke("resumed run", app.RDSOffsite, timerPayload(at(1, 1, 10), "rds-offsite", "offsite"))
	if len(res.Offsite.Copied) != 1 {
		t.Fatalf("resumed run: %+v", res.Offsite)
	}
	// Only the missing parts were sent, the download restarted at the first missing byte,
	// and the object is the one upload (no new Initiate).
	if want := int64(size) - int64(parts)*partSize; res.Offsite.Bytes != want {
		t.Fatalf("resumed run sent %d bytes, want %d (parts already stored: %d)", res.Offsite.Bytes, want, parts)
	}
	if got := c.srv.RDS.DownloadOffsets(b.ID)[before:]; len(got) != 1 || got[0] != int64(parts)*partSize {
		t.Fatalf("resumed run's downloads start at %v, want one at %d", got, int64(parts)*partSize)
	}
	if ups := c.srv.OSS.Uploads(rdsBucket); len(ups) != 0 {
		t.Fatalf("uploads left: %+v", ups)
	}
	m := c.manifests("rm-local1")
	if len(m) != 1 || m[0].CRC64 != strconv.FormatUint(b.Content().CRC64(), 10) {
		t.Fatalf("manifest: %+v", m)
	}
}

func TestOffsiteCorruptedDownloadIsDetectedAndRetried(t *testing.T) {
	t.Parallel()
	c, _ := offsiteCloud(t, drRegion)
	c.srv.RDS.DeleteInstance("rm-local2")
	c.srv.RDS.DeleteInstance("rm-cloud1")
	b := c.addBackup("rm-local1", at(1, 0, 30), 40<<20)
	// A whole-file stream: the run's own CRC catches it before Complete; the upload is
	// aborted and the second attempt succeeds.
	c.srv.RDS.CorruptDownloads(b.ID, 1)
	res := c.mustInvoke("corrupt stream", app.RDSOffsite, timerPayload(at(1, 1, 0), "rds-offsite", "offsite"))
	if len(res.Offsite.Copied) != 1 || c.retries(t, "ChecksumMismatch") != 1 {
		t.Fatalf("corrupt stream: %+v", res.Offsite)
	}
	if ms := c.manifests("rm-local1"); len(ms) != 1 || ms[0].CRC64 != strconv.FormatUint(b.Content().CRC64(), 10) {
		t.Fatalf("manifest after the retry: %+v", ms)
	}
	// A resumed upload: the run cannot hash what an earlier run sent, so OSS's CRC of the
	// completed object is what catches it; the object is deleted and copied again.
	b2 := c.addBackup("rm-local1", at(1, 12, 0), 40<<20)
	c.killAfterParts(at(1, 12, 30), 2)
	c.srv.RDS.CorruptDownloads(b2.ID, 1)
	res = c.mustInvoke("corrupt resumed", app.RDSOffsite, timerPayload(at(1, 12, 40), "rds-offsite", "offsite"))
	if len(res.Offsite.Copied) != 1 || c.retries(t, "VerifyFailed") != 1 {
		t.Fatalf("corrupt resumed: %+v", res.Offsite)
	}
	info, err := c.srv.OSS.Stat(rdsBucket, c.manifests("rm-local1")[1].Key)
	if err != nil || info.CRC64 != b2.Content().CRC64() {
		t.Fatalf("object after the retry: %+v %v", info, err)
	}
}

// retries counts the "offsite retry" records with error_code code.
func (c *cloud) retries(t *testing.T, code string) int {
	n := 0
	for _, rec := range c.stdout.JSONLines(t) {
		if rec["action"] == "offsite" && rec["result"] == "retry" && rec["error_code"] == code {
			n++
		}
	}
	return n
}

func TestOffsiteBadInput(t *testing.T) {
	t.Parallel()
	t.Run("bucket in the wrong region", func(t *testing.T) {
		t.Parallel()
		c, _ := offsiteCloud(t, hzRegion)
		c.addBackup("rm-local1", at(1, 0, 30), 1<<20)
		res, err := c.offsiteRun(at(1, 1, 0))
		if err == nil || !strings.Contains(err.Error(), "not in the DR region") || len(res.Offsite.Failed) != 1 {
			t.Fatalf("want a refusal: %v %+v", err, res.Offsite)
		}
		if keys := c.srv.OSS.Keys(rdsBucket); len(keys) != 0 || len(c.srv.OSS.Uploads(rdsBucket)) != 0 {
			t.Fatalf("wrote to the wrong bucket: %v", keys)
		}
	})
	t.Run("deleted instance, expired link, backup expired before its copy", func(t *testing.T) {
		t.Parallel()
		c, _ := offsiteCloud(t, drRegion)
		c.srv.RDS.DeleteInstance("rm-cloud1")
		c.srv.RDS.DeleteInstance("rm-local1") // listed by id in the policy
		b := c.addBackup("rm-local2", at(1, 0, 30), 2<<20)
		c.srv.RDS.ExpireDownloads(b.ID, 1)
		res := c.mustInvoke("expired link", app.RDSOffsite, timerPayload(at(1, 1, 0), "rds-offsite", "offsite"))
		if len(res.Offsite.Copied) != 1 || len(res.Offsite.Failed) != 1 || res.Offsite.Failed[0].Instance != "rm-local1" ||
			!strings.Contains(res.Offsite.Failed[0].Reason, "deleted") {
			t.Fatalf("want the copy done after a new URL, and the deleted instance recorded: %+v", res.Offsite)
		}
		// A backup that leaves RDS while its upload is half done: the upload is aborted,
		// no manifest, a clear record.
		b2 := c.addBackup("rm-local2", at(1, 12, 0), 40<<20)
		c.killAfterParts(at(1, 12, 30), 2)
		c.srv.RDS.ExpireBackup(b2.ID)
		res, err := c.offsiteRun(at(1, 13, 0))
		if err != nil {
			t.Fatal(err)
		}
		var gone *offsite.Item
		for i, f := range res.Offsite.Failed {
			if f.Backup == b2.ID {
				gone = &res.Offsite.Failed[i]
			}
		}
		if gone == nil || gone.ErrorCode != "BackupExpired" || gone.Retryable {
			t.Fatalf("want a BackupExpired record for %s: %+v", b2.ID, res.Offsite.Failed)
		}
		if ups := c.srv.OSS.Uploads(rdsBucket); len(ups) != 0 {
			t.Fatalf("the partial upload of an expired backup is left: %+v", ups)
		}
		if ms := c.manifests("rm-local2"); len(ms) != 1 {
			t.Fatalf("manifests: %+v", ms)
		}
	})
}

func TestOffsiteRetentionOverWeeks(t *testing.T) {
	t.Parallel()
	c, pol := offsiteCloud(t, drRegion)
	c.srv.RDS.DeleteInstance("rm-local2")
	c.srv.RDS.DeleteInstance("rm-cloud1")
	// A stray upload from some other run, never continued: aborted once older than a day.
	st := c.drStore()
	if _, err := st.Initiate(context.Background(), rdsBucket, "rds/cn-hangzhou/rm-local1/full/stray", ossx.InitOptions{}); err != nil {
		t.Fatal(err)
	}
	var last rds.Backup
	for day := 1; day <= 28; day++ {
		c.clock.AdvanceTo(at(day, 2, 0))
		last = c.addBackup("rm-local1", at(day, 1, 0), 1<<20+int64(day))
		if _, err := c.srv.RDS.AddLogFile(rds.LogFile{InstanceID: "rm-local1", Begin: at(day, 0, 0), End: at(day, 1, 30), Size: 64 << 10}); err != nil {
			t.Fatal(err)
		}
		res := c.mustInvoke("day "+strconv.Itoa(day), app.RDSOffsite, timerPayload(at(day, 2, 0), "rds-offsite", "offsite"))
		if len(res.Offsite.Failed) != 0 {
			t.Fatalf("day %d: %+v", day, res.Offsite.Failed)
		}
		// Each day copies that day's backup and log, nothing else: a backup retention
		// dropped offsite is never copied again.
		var kinds []string
		for _, it := range res.Offsite.Copied {
			kinds = append(kinds, it.Kind+"/"+it.Backup)
		}
		if len(kinds) != 2 || kinds[0] != "full/"+last.ID {
			t.Fatalf("day %d copied %v, want the day's full backup %s and its log", day, kinds, last.ID)
		}
		if day == 1 && len(c.srv.OSS.Uploads(rdsBucket)) != 1 {
			t.Fatal("the stray upload was aborted before it was a day old")
		}
		if day == 2 && len(c.srv.OSS.Uploads(rdsBucket)) != 0 {
			t.Fatal("the stray upload survived past a day")
		}
	}
	var fulls []time.Time
	oldestFull := time.Time{}
	for _, m := range c.manifests("rm-local1") {
		if m.Kind == "full" {
			fulls = append(fulls, m.DataTime)
			if oldestFull.IsZero() || m.BackupStart.Before(oldestFull) {
				oldestFull = m.BackupStart
			}
		}
	}
	// keepLast 3 (days 26-28) and weekly 2 (the newest of each of the last 2 ISO weeks:
	// Sunday Nov 22 and Saturday Nov 28, already counted).
	want := []time.Time{at(22, 1, 0), at(26, 1, 0), at(27, 1, 0), at(28, 1, 0)}
	if len(fulls) != len(want) {
		t.Fatalf("kept full backups %v, want %v", fulls, want)
	}
	for i := range want {
		if !fulls[i].Equal(want[i].UTC()) {
			t.Fatalf("kept full backups %v, want %v", fulls, want)
		}
	}
	for _, m := range c.manifests("rm-local1") {
		if m.Kind == "log" && m.DataTime.Before(oldestFull) {
			t.Fatalf("log %s ends before the oldest kept full backup starts (%s)", m.BackupID, oldestFull)
		}
	}
	// Every object under the instance has a manifest, and vice versa.
	keys := c.srv.OSS.Keys(rdsBucket)
	var data, mans int
	for _, k := range keys {
		if strings.Contains(k, "/manifests/") {
			mans++
		} else {
			data++
		}
	}
	if data != mans {
		t.Fatalf("%d data objects, %d manifests: %v", data, mans, keys)
	}
	entries, err := catalog.ReadDatabases(context.Background(), st, pol.CatalogBucket(drRegion), pol.Name)
	if err != nil || len(entries) != 1 || entries[0].BackupID != last.ID {
		t.Fatalf("catalog after 4 weeks: %+v %v", entries, err)
	}
}

var (
	_ = errors.New
	_ = io.EOF
	_ = fccontext.NewContext
	_ = core.DefaultAccountID
)
