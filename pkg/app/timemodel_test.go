package app_test

import (
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/app"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

// The one time model: a scenario whose back-off used to wait seconds of wall time (ECS
// throttling four times in a row: 0.5+1+2+4 = 7.5 s of back-off; SLS failing every flush,
// which the SLS SDK retries for its retry timeout) runs on the local cloud's simulated
// clock: the simulated clock moves by the back-off, the wall clock barely moves.
func TestThrottledScenarioTakesSimulatedNotWallTime(t *testing.T) {
	t.Parallel()
	c := slsCloud(t, nil)
	for _, fn := range []app.Function{app.CreateImage, app.CopyImage} {
		// Identity jitter: every back-off waits its full ceiling, so the total is exact.
		c.handler(fn).WithOptions(app.Options{Clock: c.clock, SLSRetryTimeout: 20 * time.Millisecond,
			Jitter: func(d time.Duration) time.Duration { return d }})
	}
	// Four throttled answers in a row to the first DescribeInstances: the retry loop's
	// fifth and last attempt succeeds after 7.5 s of back-off.
	c.srv.Env.Faults.Set("ecs", "DescribeInstances", core.FaultRule{FailNext: 4, ErrorStatus: 400, ErrorCode: "Throttling.User"})
	// One call per simulated second for CreateImage: the second instance waits for the
	// next window, which only opens if the back-off moves the simulated clock.
	c.srv.Env.Faults.Set("ecs", "CreateImage", core.FaultRule{QPS: 1})
	c.srv.Env.Faults.Set("sls", "PutLogs", core.FaultRule{ErrorRate: 1, ErrorStatus: 500})

	c.clock.AdvanceTo(at(1, 2, 0))
	simStart, wallStart := c.clock.Now(), time.Now()
	res := c.mustInvoke("create", app.CreateImage, timerPayload(at(1, 2, 0), "daily", "create"))
	wall, sim := time.Since(wallStart), c.clock.Now().Sub(simStart)

	if res.Create == nil || len(res.Create.Started) != 2 || len(res.Create.Failed) != 0 {
		t.Fatalf("create under throttling: %+v, want both instances started", res.Create)
	}
	const backoff = 7500*time.Millisecond + 500*time.Millisecond // DescribeInstances, then CreateImage's window
	if sim < backoff {
		t.Errorf("simulated clock moved %v, want at least the %v of back-off", sim, backoff)
	}
	if wall >= backoff {
		t.Errorf("the invocation took %v of wall time: the back-off waited on the wall clock", wall)
	}
	if n := len(c.srv.SLS.Logs(slsProject, slsLogstore)); n != 0 {
		t.Errorf("%d records reached SLS through a failing PutLogs", n)
	}
	t.Logf("back-off of %v simulated in %v of wall time", sim, wall)
}
