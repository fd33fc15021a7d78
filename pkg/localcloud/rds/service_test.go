package rds_test

import (
	"fmt"
	"hash/crc64"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	sdkrds "github.com/aliyun/alibaba-cloud-sdk-go/services/rds"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/rds"
)

var start = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

type bed struct {
	env  *core.Env
	svc  *rds.Service
	addr string
	c    *sdkrds.Client
}

func newBed(t *testing.T) *bed {
	t.Helper()
	env := core.NewEnv(core.NewManualClock(start), nil)
	env.StrictSignatures = true
	svc := rds.New(env)
	ts := httptest.NewServer(svc)
	t.Cleanup(ts.Close)
	addr := strings.TrimPrefix(ts.URL, "http://")
	c, err := rds.NewSDKClient(addr, "cn-hangzhou", core.Credential{AccessKeyID: core.DefaultAccessKeyID, AccessKeySecret: core.DefaultAccessKeySecret})
	if err != nil {
		t.Fatal(err)
	}
	b := &bed{env: env, svc: svc, addr: addr, c: c}
	for _, in := range []rds.Instance{
		{ID: "rm-local1", Region: "cn-hangzhou", Engine: "MySQL", EngineVersion: "8.0", StorageType: "local_ssd", Tags: map[string]string{"dr": "on"}},
		{ID: "rm-cloud1", Region: "cn-hangzhou", Engine: "MySQL", EngineVersion: "8.0", StorageType: "cloud_essd", Tags: map[string]string{"dr": "on"}},
		{ID: "rm-other", Region: "cn-hangzhou", Engine: "PostgreSQL", EngineVersion: "16.0", StorageType: "local_ssd"},
		{ID: "rm-sh", Region: "cn-shanghai", Engine: "MySQL", EngineVersion: "5.7", StorageType: "local_ssd", Tags: map[string]string{"dr": "on"}},
	} {
		if err := svc.AddInstance(in); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func code(err error) string {
	if se, ok := err.(*sdkerrors.ServerError); ok {
		return se.ErrorCode()
	}
	return fmt.Sprintf("not a server error: %v", err)
}

func TestDescribeDBInstancesFiltersByRegionIDsAndTags(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	req := sdkrds.CreateDescribeDBInstancesRequest()
	req.RegionId = "cn-hangzhou"
	req.Tags = `{"dr":"on"}`
	resp, err := b.c.DescribeDBInstances(req)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, in := range resp.Items.DBInstance {
		ids = append(ids, in.DBInstanceId+"/"+in.DBInstanceStorageType)
	}
	if got := strings.Join(ids, ","); got != "rm-cloud1/cloud_essd,rm-local1/local_ssd" {
		t.Fatalf("tag filter: got %s", got)
	}
	req = sdkrds.CreateDescribeDBInstancesRequest()
	req.RegionId = "cn-hangzhou"
	req.DBInstanceId = "rm-other,rm-sh"
	resp, err = b.c.DescribeDBInstances(req)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Items.DBInstance) != 1 || resp.Items.DBInstance[0].DBInstanceId != "rm-other" || resp.TotalRecordCount != 1 {
		t.Fatalf("id filter must keep only the region's instance: %+v", resp.Items.DBInstance)
	}
}

func TestBackupDownloadRangeChecksumAndKnobs(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	bk, err := b.svc.AddBackup(rds.Backup{InstanceID: "rm-local1", Start: start.Add(-time.Hour), End: start.Add(-30 * time.Minute), Size: 3<<20 + 17})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.AddBackup(rds.Backup{InstanceID: "rm-cloud1", Start: start.Add(-time.Hour), End: start.Add(-50 * time.Minute), Size: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	req := sdkrds.CreateDescribeBackupsRequest()
	req.RegionId = "cn-hangzhou"
	req.DBInstanceId = "rm-local1"
	resp, err := b.c.DescribeBackups(req)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Items.Backup) != 1 {
		t.Fatalf("want 1 backup, got %d", len(resp.Items.Backup))
	}
	got := resp.Items.Backup[0]
	if got.BackupId != bk.ID || got.BackupMethod != "Physical" || got.BackupSize != bk.Size || got.BackupDownloadURL == "" || got.Engine != "MySQL" {
		t.Fatalf("backup fields: %+v", got)
	}
	// The whole body, fetched in two ranges, has the size and CRC-64 DescribeBackups reports.
	h := crc64.New(crc64.MakeTable(crc64.ECMA))
	for _, rg := range []string{"bytes=0-1048575", "bytes=1048576-"} {
		r, _ := http.NewRequest(http.MethodGet, got.BackupDownloadURL, nil)
		r.Header.Set("Range", rg)
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != http.StatusPartialContent {
			t.Fatalf("range %s: status %d", rg, res.StatusCode)
		}
		if _, err := io.Copy(h, res.Body); err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	if strconv.FormatUint(h.Sum64(), 10) != got.Checksum {
		t.Fatalf("downloaded CRC-64 %d, DescribeBackups Checksum %s", h.Sum64(), got.Checksum)
	}
	fetch := func(u string) (int, []byte) {
		res, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, body
	}
	// Corrupt knob: same status and length, different bytes.
	b.svc.CorruptDownloads(bk.ID, 1)
	st, body := fetch(got.BackupDownloadURL)
	if st != 200 || int64(len(body)) != bk.Size || strconv.FormatUint(crc64.Checksum(body, crc64.MakeTable(crc64.ECMA)), 10) == got.Checksum {
		t.Fatalf("corrupted download: status %d, %d bytes, must not match the checksum", st, len(body))
	}
	// Forced expiry, then real expiry on the simulated clock.
	b.svc.ExpireDownloads(bk.ID, 1)
	if st, body := fetch(got.BackupDownloadURL); st != 403 || !strings.Contains(string(body), "Request has expired.") {
		t.Fatalf("forced expiry: %d %s", st, body)
	}
	if st, _ := fetch(got.BackupDownloadURL); st != 200 {
		t.Fatalf("after the forced expiry the URL works again until it really expires: %d", st)
	}
	b.env.Clock.Advance(rds.DefaultLinkTTL + time.Second)
	if st, body := fetch(got.BackupDownloadURL); st != 403 || !strings.Contains(string(body), "<Code>AccessDenied</Code>") {
		t.Fatalf("expired URL: %d %s", st, body)
	}
	// A tampered URL is refused.
	if st, _ := fetch(strings.Replace(got.BackupDownloadURL, "/backup/"+bk.ID, "/backup/1"+bk.ID, 1)); st != 403 {
		t.Fatalf("tampered URL: %d", st)
	}
	// A backup that left RDS: gone from DescribeBackups, and a fresh URL answers 404.
	resp, _ = b.c.DescribeBackups(req)
	fresh := resp.Items.Backup[0].BackupDownloadURL
	b.svc.ExpireBackup(bk.ID)
	if st, _ := fetch(fresh); st != 404 {
		t.Fatalf("expired backup: %d", st)
	}
	if resp, _ = b.c.DescribeBackups(req); len(resp.Items.Backup) != 0 {
		t.Fatal("an expired backup is still listed")
	}
	// Cloud-disk instance: snapshot backup, no URL, no checksum.
	req.DBInstanceId = "rm-cloud1"
	resp, err = b.c.DescribeBackups(req)
	if err != nil || len(resp.Items.Backup) != 1 {
		t.Fatal(err)
	}
	if s := resp.Items.Backup[0]; s.BackupMethod != "Snapshot" || s.BackupDownloadURL != "" {
		t.Fatalf("cloud-disk backup: %+v", s)
	}
	// A deleted instance is NotFound; so is one asked in the wrong region.
	b.svc.DeleteInstance("rm-cloud1")
	if _, err := b.c.DescribeBackups(req); code(err) != "InvalidDBInstanceId.NotFound" {
		t.Fatalf("deleted instance: %v", err)
	}
	req.DBInstanceId = "rm-sh"
	if _, err := b.c.DescribeBackups(req); code(err) != "InvalidDBInstanceId.NotFound" {
		t.Fatalf("wrong region: %v", err)
	}
}

func TestDescribeBinlogFilesAndSignature(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	for i := range 3 {
		if _, err := b.svc.AddLogFile(rds.LogFile{InstanceID: "rm-local1", Begin: start.Add(time.Duration(i) * time.Hour),
			End: start.Add(time.Duration(i+1) * time.Hour), Size: 100 << 10}); err != nil {
			t.Fatal(err)
		}
	}
	req := sdkrds.CreateDescribeBinlogFilesRequest()
	req.RegionId = "cn-hangzhou"
	req.DBInstanceId = "rm-local1"
	req.StartTime = start.Add(90 * time.Minute).Format("2006-01-02T15:04:05Z")
	req.EndTime = start.Add(5 * time.Hour).Format("2006-01-02T15:04:05Z")
	resp, err := b.c.DescribeBinlogFiles(req)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Items.BinLogFile) != 2 || resp.TotalFileSize != 200<<10 {
		t.Fatalf("want the 2 files overlapping the window: %+v", resp.Items.BinLogFile)
	}
	f := resp.Items.BinLogFile[0]
	res, err := http.Get(f.DownloadLink)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if strconv.FormatUint(crc64.Checksum(data, crc64.MakeTable(crc64.ECMA)), 10) != f.Checksum || f.LinkExpiredTime == "" {
		t.Fatalf("log file checksum/expiry: %+v", f)
	}
	// A client with a wrong secret is refused.
	bad, _ := rds.NewSDKClient(b.addr, "cn-hangzhou", core.Credential{AccessKeyID: core.DefaultAccessKeyID, AccessKeySecret: "wrong"})
	if _, err := bad.DescribeBinlogFiles(req); code(err) != "SignatureDoesNotMatch" {
		t.Fatalf("wrong secret: %v", err)
	}
}
