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

// A drill run killed before its teardown leaves an instance; the next scheduled run
// removes it once expired (and not before: a drill may still be running), then drills
// the instance that is due.
func TestScheduledRunCollectsLeftoversAndRotates(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	ctx := context.Background()
	id := w.launchDrillLeftover(t, "i-hz-db-1")

	sum, err := w.deps.RunScheduled(ctx, "run-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.GC.Kept) != 1 || sum.GC.Kept[0] != id {
		t.Fatalf("an unexpired drill instance must be kept: %+v", sum.GC)
	}
	// db-1 was drilled (the killed drill recorded its failure): web-1, never drilled,
	// comes first; 1 leftover + 1 new stays within maxConcurrent 2.
	if len(sum.Drills) != 1 || sum.Drills[0].InstanceID != "i-hz-web-1" || !sum.Drills[0].Verified {
		t.Fatalf("drills %+v skipped %v", sum.Drills, sum.Skipped)
	}
	w.clock.Advance(2 * time.Hour)
	sum, err = w.deps.RunScheduled(ctx, "run-2")
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.GC.Removed) != 1 || sum.GC.Removed[0] != id {
		t.Fatalf("the expired leftover must be removed: %+v", sum.GC)
	}
	if len(sum.Drills) != 0 || len(sum.Skipped) != 1 || !strings.Contains(sum.Skipped[0], "no instance is due") {
		t.Fatalf("nothing is due within the interval: %+v", sum)
	}
	if left := w.drillInstances(); len(left) != 0 {
		t.Fatalf("drill instances left: %v", left)
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
