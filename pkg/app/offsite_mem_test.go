package app_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fccontext"

	"github.com/ecsdr/ecs-image-dr/pkg/app"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/rds"
)

// memPolicy copies one DB instance's backups with 16 MiB parts.
const memPolicy = `
name: it-mem
sources: [{region: cn-hangzhou, instanceIds: [i-unused]}]
destinations: [{region: cn-shanghai}]
retention: {source: {keepLast: 1}, destination: {keepLast: 1}}
rds:
  sources: [{region: cn-hangzhou, instanceIds: [rm-big1]}]
  destination: {region: cn-shanghai, bucket: it-mem-rds-dr}
  retention: {keepLast: 2}
  partSizeMiB: 16
`

// bigCopy is one rds-offsite invocation, through the handler, of a backup of size bytes
// on a fresh local cloud (in this process). It returns the wall time of the invocation,
// the peak Go heap in use and the process's peak RSS (VmHWM) over the invocation: both
// cover the copier and the local cloud serving it, so they bound the copier's own use.
type copyFigures struct {
	wall             time.Duration
	peakHeap, vmHWM  uint64
	bytes, sentBytes int64
}

func bigCopy(tb testing.TB, size int64) copyFigures {
	tb.Helper()
	srv, err := localcloud.New(localcloud.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		tb.Fatal(err)
	}
	defer srv.Close()
	if err := srv.OSS.CreateBucket("it-mem-rds-dr", "cn-shanghai"); err != nil {
		tb.Fatal(err)
	}
	if err := srv.RDS.AddInstance(rds.Instance{ID: "rm-big1", Region: "cn-hangzhou", Engine: "MySQL", EngineVersion: "8.0"}); err != nil {
		tb.Fatal(err)
	}
	now := srv.Env.Clock.Now()
	b, err := srv.RDS.AddBackup(rds.Backup{InstanceID: "rm-big1", Start: now.Add(-2 * time.Hour), End: now.Add(-time.Hour), Size: size})
	if err != nil {
		tb.Fatal(err)
	}
	b.Content().CRC64() // the checksum is computed once, before the measured run
	env := map[string]string{app.EnvPolicy: memPolicy, app.EnvECSEndpoint: srv.Addr(), app.EnvECSScheme: "HTTP",
		app.EnvOSSEndpoint: srv.URL(), app.EnvSLSEndpoint: srv.Addr(), app.EnvRDSEndpoint: srv.Addr()}
	h := app.New(app.RDSOffsite, func(k string) string { return env[k] }, io.Discard)
	sts := srv.Env.Creds.IssueSTS(core.DefaultAccountID, 72*time.Hour)
	ctx := fccontext.NewContext(context.Background(), &fccontext.FcContext{RequestID: "mem-1",
		Credentials: fccontext.Credentials{AccessKeyId: sts.AccessKeyID, AccessKeySecret: sts.AccessKeySecret, SecurityToken: sts.SecurityToken},
		Region:      "cn-hangzhou", AccountId: core.DefaultAccountID})

	runtime.GC()
	var peak uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	start := time.Now()
	res, err := h.Handle(ctx, timerPayload(now, "rds-offsite", "offsite"))
	wall := time.Since(start)
	close(stop)
	wg.Wait()
	if err != nil || res.Offsite == nil || len(res.Offsite.Copied) != 1 {
		tb.Fatalf("copy of %d bytes: %v %+v", size, err, res)
	}
	info, err := srv.OSS.Stat("it-mem-rds-dr", res.Offsite.Copied[0].Key)
	if err != nil || info.Size != size || info.CRC64 != b.Content().CRC64() {
		tb.Fatalf("stored object %+v %v, want %d bytes with crc %d", info, err, size, b.Content().CRC64())
	}
	return copyFigures{wall: wall, peakHeap: peak, vmHWM: vmHWM(), bytes: size, sentBytes: res.Offsite.Bytes}
}

// vmHWM is the process's peak resident set (Linux /proc/self/status), 0 elsewhere.
func vmHWM() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n << 10
		}
	}
	return 0
}

// BenchmarkOffsiteCopy copies a 2 GiB backup (OFFSITE_BENCH_MIB overrides) from the
// local RDS to the local OSS through the rds-offsite handler and reports MB/s, the peak
// heap and the peak RSS of the process (copier + local cloud).
func BenchmarkOffsiteCopy(b *testing.B) {
	size := int64(2 << 30)
	if v, err := strconv.ParseInt(os.Getenv("OFFSITE_BENCH_MIB"), 10, 64); err == nil && v > 0 {
		size = v << 20
	}
	b.SetBytes(size)
	var last copyFigures
	for b.Loop() {
		last = bigCopy(b, size)
	}
	b.ReportMetric(float64(last.peakHeap)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(last.vmHWM)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(size)/(1<<20)/last.wall.Seconds(), "copy-MiB/s")
	fmt.Fprintf(os.Stderr, "offsite: %d MiB in %s (%.0f MiB/s), peak heap %d MiB, peak RSS %d MiB (process: copier + local cloud)\n",
		size>>20, last.wall.Round(time.Millisecond), float64(size)/(1<<20)/last.wall.Seconds(), last.peakHeap>>20, last.vmHWM>>20)
}
