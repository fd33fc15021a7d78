package sls_test

import (
	"fmt"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	sdk "github.com/aliyun/aliyun-log-go-sdk"
	"github.com/gogo/protobuf/proto"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	localsls "github.com/ecsdr/ecs-image-dr/pkg/localcloud/sls"
)

const (
	benchProject = "ecs-image-dr"
	benchGroup   = 1000 // records per PutLogs, about what one busy invocation flushes
)

var (
	benchStart   = time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	benchRegions = []string{"cn-hangzhou", "cn-shanghai", "cn-beijing", "cn-shenzhen", "ap-southeast-1"}
	benchActions = []string{"create", "copy", "delete", "skip"}
)

// benchRecord is the i-th record of the synthetic history: the keys pkg/backup writes,
// actions and regions cycling, every 7th call failed.
func benchRecord(i int) map[string]string {
	result := "ok"
	if i%7 == 6 {
		result = "failed"
	}
	return map[string]string{
		"level": "INFO", "msg": "image " + benchActions[i%4], "policy": "prod-web", "function": "cleanup",
		"action": benchActions[i%4], "region": benchRegions[i%5], "result": result,
		"instance": fmt.Sprintf("i-bp1bench%08d", i%100), "image": fmt.Sprintf("m-bp1bench%010d", i),
		"duration_ms": strconv.Itoa(40 + i%900), "requestId": fmt.Sprintf("1-6743a1b2-%024x", i),
	}
}

// benchQuery has 3 terms; benchMatches says whether record i matches it.
const benchQuery = "action: delete and result: ok and region: cn-shanghai"

func benchMatches(i int) bool { return i%4 == 2 && i%7 != 6 && i%5 == 1 }

// benchLogGroup holds records first..first+n-1, one a second from benchStart.
func benchLogGroup(first, n int) *sdk.LogGroup {
	lg := &sdk.LogGroup{Topic: proto.String("ecs-image-dr"), Source: proto.String("fc")}
	for i := first; i < first+n; i++ {
		l := &sdk.Log{Time: proto.Uint32(uint32(benchStart.Unix()) + uint32(i))}
		for k, v := range benchRecord(i) {
			l.Contents = append(l.Contents, &sdk.LogContent{Key: proto.String(k), Value: proto.String(v)})
		}
		lg.Logs = append(lg.Logs, l)
	}
	return lg
}

func benchSLS(b *testing.B) (*localsls.Service, sdk.ClientInterface) {
	b.Helper()
	env := core.NewEnv(core.NewManualClock(benchStart), nil)
	svc := localsls.New(env)
	svc.EnsureProject(benchProject, "cn-hangzhou")
	srv := httptest.NewServer(svc)
	b.Cleanup(srv.Close)
	return svc, localsls.NewSDKClient(srv.Listener.Addr().String(),
		core.Credential{AccessKeyID: core.DefaultAccessKeyID, AccessKeySecret: core.DefaultAccessKeySecret})
}

// BenchmarkPutLogs sends a 1,000-record LogGroup with the SDK's PutLogs (protobuf, lz4
// block, AuthV1 signature) and the local SLS decodes and stores it. Every 50 calls the
// logstore is recreated outside the timer, so the store does not grow without bound.
func BenchmarkPutLogs(b *testing.B) {
	const rotate = 50
	svc, client := benchSLS(b)
	reset := func() {
		_ = client.DeleteLogStore(benchProject, "bench") // absent the first time
		if err := client.CreateLogStore(benchProject, "bench", 7, 2, false, 0); err != nil {
			b.Fatalf("create logstore: %v", err)
		}
	}
	reset()
	lg := benchLogGroup(0, benchGroup)
	if err := client.PutLogs(benchProject, "bench", lg); err != nil {
		b.Fatalf("PutLogs: %v", err)
	}
	recs := svc.Logs(benchProject, "bench")
	if len(recs) != benchGroup {
		b.Fatalf("PutLogs stored %d records, want %d", len(recs), benchGroup)
	}
	if last, want := recs[benchGroup-1].Contents, benchRecord(benchGroup-1); last["image"] != want["image"] || last["region"] != want["region"] {
		b.Fatalf("last stored record %v, want %v", last, want)
	}
	n := 0
	for b.Loop() {
		if n++; n%rotate == 0 {
			b.StopTimer()
			reset()
			b.StartTimer()
		}
		if err := client.PutLogs(benchProject, "bench", lg); err != nil {
			b.Fatalf("PutLogs: %v", err)
		}
	}
	b.ReportMetric(float64(b.N*benchGroup)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkGetLogs runs a 3-term search over 50,000 records (one logstore, no index: the
// local SLS scans) through the SDK's GetLogs, first page of 100.
func BenchmarkGetLogs(b *testing.B) {
	const total = 50_000
	svc, client := benchSLS(b)
	if err := client.CreateLogStore(benchProject, "history", 30, 2, false, 0); err != nil {
		b.Fatalf("create logstore: %v", err)
	}
	for first := 0; first < total; first += benchGroup {
		if err := client.PutLogs(benchProject, "history", benchLogGroup(first, benchGroup)); err != nil {
			b.Fatalf("PutLogs records %d..: %v", first, err)
		}
	}
	if got := len(svc.Logs(benchProject, "history")); got != total {
		b.Fatalf("stored %d records, want %d", got, total)
	}
	want := 0
	for i := range total {
		if benchMatches(i) {
			want++
		}
	}
	from, to := benchStart.Unix(), benchStart.Unix()+total
	hist, err := client.GetHistograms(benchProject, "history", "", from, to, benchQuery)
	if err != nil {
		b.Fatalf("GetHistograms(%q): %v", benchQuery, err)
	}
	if hist.Count != int64(want) {
		b.Fatalf("GetHistograms(%q) counts %d matches, want %d", benchQuery, hist.Count, want)
	}
	resp, err := client.GetLogs(benchProject, "history", "", from, to, benchQuery, 100, 0, false)
	if err != nil {
		b.Fatalf("GetLogs: %v", err)
	}
	if len(resp.Logs) != 100 {
		b.Fatalf("GetLogs returned %d logs, want a full page of 100 (of %d matches)", len(resp.Logs), want)
	}
	for _, l := range resp.Logs {
		i, err := strconv.Atoi(l["__time__"])
		if err != nil || !benchMatches(i-int(from)) {
			b.Fatalf("GetLogs returned a record that does not match %q: %v", benchQuery, l)
		}
	}
	for b.Loop() {
		if resp, err = client.GetLogs(benchProject, "history", "", from, to, benchQuery, 100, 0, false); err != nil {
			b.Fatalf("GetLogs: %v", err)
		}
	}
	b.ReportMetric(float64(b.N*total)/b.Elapsed().Seconds(), "records-scanned/s")
	b.ReportMetric(float64(want), "matches")
}
