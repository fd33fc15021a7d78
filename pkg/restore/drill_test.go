package restore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/restore"
)

func (w *world) drillInstances() []string {
	var out []string
	for id, in := range w.instances("cn-beijing") {
		if in.Tags[restore.TagDrill] != "" {
			out = append(out, id)
		}
	}
	return out
}

func TestDrillVerifiesMeasuresAndTearsDown(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	ctx := context.Background()
	res, err := w.deps.Drill(ctx, "i-hz-web-1", "drill-1")
	if err != nil {
		t.Fatal(err)
	}
	// 60s to Running, then the health command takes 10s (polled every 5s).
	if !res.Verified || !res.TornDown || res.RTO != 70*time.Second || res.Health != "ok" || res.VSwitchID != "vsw-drill-a" {
		t.Fatalf("drill %+v", res)
	}
	if left := w.drillInstances(); len(left) != 0 {
		t.Fatalf("drill instances left: %v", left)
	}
	recs, err := w.deps.Catalog.Drills(ctx, "cn-beijing")
	if err != nil || !recs["i-hz-web-1/cn-beijing"].Verified || recs["i-hz-web-1/cn-beijing"].RTOSeconds != 70 {
		t.Fatalf("drill record %+v %v", recs, err)
	}
	if !strings.Contains(w.log.String(), `"action":"drill","result":"ok"`) {
		t.Fatalf("no drill record in the log: %s", w.log.String())
	}
}

func TestFailedDrillStillTearsDown(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	res, err := w.deps.Drill(context.Background(), "i-hz-db-1", "drill-2") // the health rule fails for non-web instances
	if err != nil {
		t.Fatal(err)
	}
	if res.Verified || !res.TornDown || !strings.Contains(res.Reason, "exit code 7") || !strings.Contains(res.Reason, "Failed to connect") {
		t.Fatalf("failed drill %+v", res)
	}
	if left := w.drillInstances(); len(left) != 0 {
		t.Fatalf("drill instances left: %v", left)
	}
	if !strings.Contains(w.log.String(), `"action":"drill","result":"failed"`) {
		t.Fatalf("no failed drill record: %s", w.log.String())
	}
}

// An operator interrupts a drill while the instance boots: the drill waits until ECS
// lets it delete the instance (not while Pending/Starting), then deletes it.
func TestInterruptedDrillLeavesNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	d := w.deps
	d.Progress = func(s string) {
		if strings.Contains(s, "Pending") {
			cancel() // Ctrl-C while the instance is Pending
		}
	}
	res, err := d.Drill(ctx, "i-hz-web-1", "drill-3")
	if err != nil {
		t.Fatal(err)
	}
	if res.Verified || !res.TornDown || res.NewInstance == "" || !strings.Contains(res.Reason, "context canceled") {
		t.Fatalf("interrupted drill %+v", res)
	}
	if left := w.drillInstances(); len(left) != 0 {
		t.Fatalf("drill instances left: %v", left)
	}
}

// The dr-drill function is a reconcile loop: each run moves every drill one step on the
// simulated clock; a leftover of a killed interactive drill is kept while it may still be
// running and removed once expired.
func TestScheduledDrillSteps(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	ctx := context.Background()
	leftover := w.launchDrillLeftover(t, "i-hz-db-1")

	step := func(name string, startNew bool) restore.StepSummary {
		t.Helper()
		sum, err := w.deps.Step(ctx, name, startNew)
		if err != nil || len(sum.Failed) > 0 {
			t.Fatalf("%s: %+v %v", name, sum, err)
		}
		return sum
	}
	sum := step("run-1", true)
	// db-1 was drilled (the killed drill recorded its failure): web-1, never drilled, starts.
	if len(sum.Started) != 1 || sum.Started[0] != "i-hz-web-1" || len(sum.InProgress) != 1 || sum.InProgress[0] != leftover {
		t.Fatalf("run-1 %+v", sum)
	}
	launched := w.clock.Now()
	w.clock.Advance(30 * time.Second)
	if sum := step("run-2", true); len(sum.InProgress) != 2 || len(sum.Started) != 0 || len(sum.Finished) != 0 {
		t.Fatalf("run-2 (booting, nothing new due) %+v", sum)
	}
	w.clock.Advance(60 * time.Second)
	step("run-3", false) // Running: the health command starts
	w.clock.Advance(10 * time.Second)
	sum = step("run-4", false)
	if len(sum.Finished) != 1 || !sum.Finished[0].Verified || !sum.Finished[0].TornDown || sum.Finished[0].Health != "ok" {
		t.Fatalf("run-4 %+v", sum)
	}
	// RTO: boot 60s (StartTime − launch) + the 10s health command; not the 100s the
	// loop took to see it all.
	if got := sum.Finished[0].RTO; got != 70*time.Second || w.clock.Now().Sub(launched) != 100*time.Second {
		t.Fatalf("rto %s", got)
	}
	recs, err := w.deps.Catalog.Drills(ctx, "cn-beijing")
	if err != nil || !recs["i-hz-web-1/cn-beijing"].Verified || recs["i-hz-web-1/cn-beijing"].RTOSeconds != 70 {
		t.Fatalf("records %+v %v", recs, err)
	}
	w.clock.Advance(time.Hour)
	sum = step("run-5", true)
	if len(sum.Started) != 0 || len(sum.Skipped) != 1 || !strings.Contains(sum.Skipped[0], "no instance is due") {
		t.Fatalf("run-5 %+v", sum)
	}
	if left := w.drillInstances(); len(left) != 0 {
		t.Fatalf("drill instances left after expiry: %v", left)
	}
}

func TestScheduledDrillFailures(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	ctx := context.Background()
	d := w.deps
	pol := *w.pol
	dr := *pol.Drill
	dr.PerRun = 2
	pol.Drill = &dr
	d.Policy = &pol
	if sum, err := d.Step(ctx, "f-1", true); err != nil || len(sum.Started) != 2 {
		t.Fatalf("start: %+v %v", sum, err)
	}
	w.clock.Advance(time.Minute)
	// web-1's drill instance stops (someone stopped it); db-1's health command fails.
	for id, in := range w.instances("cn-beijing") {
		if in.Tags[restore.TagRestoredFrom] == "i-hz-web-1" {
			if err := w.srv.ECS.SetInstanceStatus("cn-beijing", id, "Stopped"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := d.Step(ctx, "f-2", false); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(10 * time.Second)
	sum, err := d.Step(ctx, "f-3", false)
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, f := range sum.Finished {
		reasons = append(reasons, f.InstanceID+": "+f.Reason)
	}
	all := strings.Join(reasons, "\n")
	if !strings.Contains(all, "exit code 7") || len(w.drillInstances()) != 0 {
		t.Fatalf("finished %v; left %v", reasons, w.drillInstances())
	}
	recs, _ := d.Catalog.Drills(ctx, "cn-beijing")
	if recs["i-hz-web-1/cn-beijing"].Verified || recs["i-hz-db-1/cn-beijing"].Verified ||
		!strings.Contains(recs["i-hz-web-1/cn-beijing"].Reason, "Stopped instead of Running") {
		t.Fatalf("records %+v", recs)
	}
	if n := strings.Count(w.log.String(), `"action":"drill","result":"failed"`); n != 2 {
		t.Fatalf("%d failed drill records, want 2", n)
	}
}

func TestDrillCap(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	w.launchDrillLeftover(t, "i-hz-db-1")
	w.launchDrillLeftover(t, "i-hz-db-1")
	_, err := w.deps.Drill(context.Background(), "i-hz-web-1", "capped")
	if err == nil || !strings.Contains(err.Error(), "2 drill instances are alive in cn-beijing (drill.maxConcurrent 2)") {
		t.Fatalf("cap: %v", err)
	}
	if got := len(w.drillInstances()); got != 2 {
		t.Fatalf("%d drill instances, want the 2 leftovers", got)
	}
}

// launchDrillLeftover runs a drill that is interrupted while booting and whose teardown
// cannot wait (as if the process were killed): the drill instance stays, tagged to expire
// 35 minutes after launch (boot 15m + health 5m timeouts + 15m).
func (w *world) launchDrillLeftover(t *testing.T, instance string) string {
	t.Helper()
	d := w.deps
	ctx, cancel := context.WithCancel(context.Background())
	d.Sleep = func(context.Context, time.Duration) error { cancel(); return context.Canceled }
	res, err := d.Drill(ctx, instance, "leftover-"+time.Now().Format("150405.000000000"))
	if err != nil || res.NewInstance == "" || res.TornDown {
		t.Fatalf("leftover drill: %+v %v", res, err)
	}
	return res.NewInstance
}

func TestStatusAndRPOMonitor(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	ctx := context.Background()
	st, err := w.deps.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]restore.PairStatus{}
	for _, p := range st.Pairs {
		got[p.InstanceID] = p
	}
	if len(st.Pairs) != 3 || got["i-hz-web-1"].State != restore.StateOK || got["i-hz-locked-1"].State != restore.StateMissing ||
		got["i-hz-web-1"].Age() != 3*time.Hour || st.Missed != 1 || st.Worst.InstanceID != "i-hz-locked-1" {
		t.Fatalf("status %+v", st)
	}
	// A day and a half without backups: both copies are stale.
	w.clock.Advance(24 * time.Hour)
	st, err = w.deps.MonitorRPO(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Missed != 3 || !strings.Contains(strings.Join(st.Pairs[0].Problems, ";"), "stale: data is 27h00m old, over the 26h00m target") {
		t.Fatalf("stale status %+v", st.Pairs)
	}
	recs := 0
	for _, line := range strings.Split(w.log.String(), "\n") {
		if strings.Contains(line, `"action":"rpo","result":"breach"`) {
			recs++
		}
	}
	if recs != 3 || !strings.Contains(w.log.String(), `"action":"rpo-worst"`) {
		t.Fatalf("%d breach records; log %s", recs, w.log.String())
	}
}
