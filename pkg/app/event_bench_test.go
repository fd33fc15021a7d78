package app_test

import (
	"context"
	"fmt"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fccontext"

	"github.com/ecsdr/ecs-image-dr/pkg/app"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

// BenchmarkCopyImageEvent is the cost of copy-image's image events on a warm instance: a
// source image's Available event (CopyImage to each DR region) and each copy's Available
// event (its catalog entry), through the real handler, the official SDKs and the local
// cloud on loopback, with SLS logging on. An op is one day of the cycle policy's fleet;
// the figures are per event. The local cloud serves in the same process, so time and
// allocations include its side of every call (the fleet day's "Image events" line is
// the function process alone). The create run and the clock moves between them are not
// timed. As on FC, the warm instance's credentials are the same from one invocation to
// the next until they rotate.
func BenchmarkCopyImageEvent(b *testing.B) {
	c := slsCloud(b, nil)
	sts := c.roleCreds(72 * time.Hour)
	fn := app.CopyImage
	h := c.handler(fn)
	seq := 0
	invoke := func(payload []byte) {
		seq++
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ctx = fccontext.NewContext(ctx, &fccontext.FcContext{
			RequestID: fmt.Sprintf("bench-%d", seq),
			Credentials: fccontext.Credentials{
				AccessKeyId: sts.AccessKeyID, AccessKeySecret: sts.AccessKeySecret, SecurityToken: sts.SecurityToken,
			},
			Function: fccontext.Function{Name: string(fn)}, Region: hz, AccountId: core.DefaultAccountID,
		})
		var res *app.Result
		var err error
		// The label tells the handler's side (its goroutines inherit it) from the local
		// cloud's in a CPU profile: -tagfocus side=function.
		pprof.Do(ctx, pprof.Labels("side", "function"), func(ctx context.Context) { res, err = h.Handle(ctx, payload) })
		if testing.Verbose() && res != nil && res.Copy != nil {
			b.Logf("%d: %+v", seq, *res.Copy)
		}
		if err != nil || res == nil || res.Copy == nil {
			b.Fatalf("copy event: %v %+v", err, res)
		}
	}
	events := 0
	b.ReportAllocs()
	b.ResetTimer()
	for day := 1; b.Loop(); day++ {
		b.StopTimer()
		start := time.Date(2026, 11, 1, 2, 0, 0, 0, shanghai).AddDate(0, 0, day-1)
		c.clock.AdvanceTo(start)
		if day%2 == 1 {
			sts = c.roleCreds(72 * time.Hour) // rotated before they expire, as FC does
		}
		c.mustInvoke("create", app.CreateImage, timerPayload(start, "daily", "create"))
		c.clock.AdvanceTo(start.Add(30 * time.Minute))
		srcEvents := c.takeEvents()
		if len(srcEvents) == 0 {
			b.Fatalf("day %d: no source image event", day)
		}
		b.StartTimer()
		for _, e := range srcEvents {
			invoke(eventPayload(b, e))
		}
		b.StopTimer()
		c.clock.AdvanceTo(start.Add(90 * time.Minute))
		copyEvents := c.takeEvents()
		if len(copyEvents) < len(srcEvents) {
			b.Fatalf("day %d: %d copy events for %d sources", day, len(copyEvents), len(srcEvents))
		}
		b.StartTimer()
		for _, e := range copyEvents {
			invoke(eventPayload(b, e))
		}
		events += len(srcEvents) + len(copyEvents)
		b.StopTimer()
		// Retention keeps the account's image count (and its quota) steady over any b.N.
		c.clock.AdvanceTo(start.Add(3 * time.Hour))
		c.mustInvoke("cleanup", app.Cleanup, timerPayload(start.Add(3*time.Hour), "daily", "cleanup"))
		c.takeEvents()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(events), "µs/event")
	b.ReportMetric(float64(events)/float64(b.N), "events/op")
	b.ReportMetric(0, "ns/op")
}
