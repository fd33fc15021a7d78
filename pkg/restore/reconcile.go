package restore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/catalog"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// The scheduled drill (the dr-drill function) is a reconcile loop, not a long call: a
// function invocation must end within FC's timeout and may die at any line, and a drill
// takes minutes. Every drill's state lives on its drill instance's tags (launch time, data
// time, expiry, the health command's invoke id), so each run (a timer every few minutes)
// looks at every drill instance and moves it one step:
//
//	booting (Pending/Starting)      -> wait
//	Running, health command not run -> RunCommand, tag the invoke id
//	health command running          -> wait
//	health command finished         -> record, delete
//	Running, no health command      -> record, delete
//	not Running after bootTimeout   -> record the failure, delete
//
// The verdict rests on evidence (ECS StartTime, Cloud Assistant's own timeout and times),
// never on how late the loop looked: a drill the loop reaches late (the end of the timer
// window) is verified late but judged right.
//
// RTO = boot (ECS StartTime − launch) + the health command's duration on the instance, so
// the loop's tick does not inflate it. Then the loop launches the drills that are due (rotation, perRun, maxConcurrent). A kill at any
// line leaves tags a later run reads again; a drill instance is only ever deleted after
// its outcome was decided, or when it expired.

// StepSummary is one dr-drill run.
type StepSummary struct {
	Region     string        `json:"region"`
	Finished   []DrillResult `json:"finished,omitempty"`
	Started    []string      `json:"started,omitempty"`    // source instances whose drill was launched
	InProgress []string      `json:"inProgress,omitempty"` // drill instances still booting or verifying
	Skipped    []string      `json:"skipped,omitempty"`
	Failed     []string      `json:"failed,omitempty"` // steps that could not be done (retried next run)
}

// Step advances every scheduled drill of the policy by one step and, when startNew, starts
// the drills that are due. err is for a run that could not look at the drills at all.
func (d Deps) Step(ctx context.Context, runID string, startNew bool) (StepSummary, error) {
	d, err := d.withDefaults()
	if err != nil {
		return StepSummary{}, err
	}
	dr := d.Policy.Drill
	if dr == nil {
		return StepSummary{}, fmt.Errorf("drill: policy %s has no drill section (drill.vSwitchId, drill.securityGroupIds)", d.Policy.Name)
	}
	region := d.Policy.DrillRegion()
	sum := StepSummary{Region: region}
	live, err := d.drillInstances(ctx, region)
	if err != nil {
		return sum, fmt.Errorf("drill: list drill instances in %s: %w", region, err)
	}
	busy := map[string]bool{} // source instances with a drill in flight
	alive := 0
	for _, in := range live {
		gone, err := d.stepOne(ctx, region, in, dr, &sum)
		if err != nil {
			sum.Failed = append(sum.Failed, in.ID+": "+err.Error())
			d.Log.Error("drill step failed", "action", "drill", "result", "failed", "region", region, "newInstance", in.ID, "error", err)
		}
		if !gone {
			alive++
			busy[in.Tags[TagRestoredFrom]] = true
		}
	}
	if !startNew {
		return sum, nil
	}
	cands := slices.Clone(dr.Instances)
	if len(cands) == 0 && d.Catalog != nil {
		idx, err := d.Catalog.Index(ctx, region)
		if err != nil {
			return sum, fmt.Errorf("drill: catalog of %s: %w", region, err)
		}
		for _, e := range idx {
			if e.Region == region && !slices.Contains(cands, e.InstanceID) {
				cands = append(cands, e.InstanceID)
			}
		}
	}
	cands = slices.DeleteFunc(cands, func(id string) bool { return busy[id] })
	var last map[string]catalog.DrillRecord
	if d.Catalog != nil {
		if last, err = d.Catalog.Drills(ctx, region); err != nil {
			d.Log.Warn("drill records partly unreadable", "action", "drill", "error", err)
		}
	}
	due := Due(cands, last, region, dr.IntervalOrDefault(), d.Now())
	room := min(dr.PerRunOrDefault(), dr.MaxConcurrentOrDefault()-alive)
	switch {
	case len(due) == 0:
		sum.Skipped = append(sum.Skipped, fmt.Sprintf("no instance is due (every candidate was drilled within %s or is being drilled)", dr.IntervalOrDefault()))
	case room <= 0:
		sum.Skipped = append(sum.Skipped, fmt.Sprintf("%d due instances wait: %d drill instances are alive (drill.maxConcurrent %d)", len(due), alive, dr.MaxConcurrentOrDefault()))
	case len(due) > room:
		sum.Skipped = append(sum.Skipped, fmt.Sprintf("%d more due instances wait for a later run (drill.perRun %d, drill.maxConcurrent %d)", len(due)-room, dr.PerRunOrDefault(), dr.MaxConcurrentOrDefault()))
	}
	for i, id := range due {
		if i >= room {
			break
		}
		d.startScheduled(ctx, region, id, fmt.Sprintf("%s-%d", runID, i), dr, &sum)
	}
	return sum, nil
}

// startScheduled launches one scheduled drill; a drill that cannot start is recorded as a
// failed drill (no copy, no mapping, no stock are findings an operator must see).
func (d Deps) startScheduled(ctx context.Context, region, id, runID string, dr *policy.Drill, sum *StepSummary) {
	start := d.Now()
	req := Request{InstanceID: id, Region: region, RunID: runID, drill: dr, scheduled: true, HealthCommand: dr.HealthCommand,
		HealthTimeout: dr.HealthTimeoutOrDefault(), BootTimeout: dr.BootTimeoutOrDefault()}
	p, err := d.prepare(ctx, req)
	if err == nil {
		var newID string
		if newID, err = d.startInstance(ctx, p); err == nil {
			sum.Started = append(sum.Started, id)
			d.Log.Info("drill started", "action", "drill-start", "result", "ok", "policy", d.Policy.Name, "instance", id, "region", region,
				"newInstance", newID, "image", p.Image.ID, "instanceType", p.InstanceType, "typeNote", p.TypeNote)
			return
		}
	}
	res := DrillResult{Result: Result{InstanceID: id, Region: region, StartedAt: start}, Reason: err.Error()}
	sum.Finished = append(sum.Finished, res)
	d.recordDrill(ctx, res)
}

// stepOne moves one drill instance; gone reports that it no longer exists.
func (d Deps) stepOne(ctx context.Context, region string, in ecsx.Instance, dr *policy.Drill, sum *StepSummary) (gone bool, err error) {
	now := d.Now()
	started, serr := time.Parse(time.RFC3339Nano, in.Tags[TagDrillStarted])
	exp, eerr := time.Parse(time.RFC3339, in.Tags[TagExpires])
	scheduled := in.Tags[TagDrillMode] == "scheduled"
	res := DrillResult{Result: Result{InstanceID: in.Tags[TagRestoredFrom], Region: region, ImageID: in.Tags[TagRestoreImage],
		NewInstance: in.ID, InstanceType: in.Config.InstanceType, StartedAt: started, Running: in.Status == ecsx.InstanceRunning}}
	if t, err := time.Parse(time.RFC3339, in.Tags[TagDataTime]); err == nil {
		res.DataTime = t
	}
	finish := func(reason string) (bool, error) {
		res.Reason = reason
		if err := d.deleteDrill(ctx, region, in.ID, false); err != nil {
			return false, fmt.Errorf("decided (%s) but not deleted: %w", cmpOr(reason, "verified"), err)
		}
		res.TornDown = true
		sum.Finished = append(sum.Finished, res)
		d.recordDrill(ctx, res)
		return true, nil
	}
	switch {
	case !scheduled || serr != nil || eerr != nil:
		// An interactive drill (drctl) is its operator's; a drill instance without readable
		// state is nobody's. Both are only removed once expired (or unreadable).
		if eerr == nil && now.Before(exp) {
			sum.InProgress = append(sum.InProgress, in.ID)
			return false, nil
		}
		if err := d.deleteDrill(ctx, region, in.ID, false); err != nil {
			return false, err
		}
		d.Log.Warn("leftover drill instance removed", "action", "drill-gc", "result", "ok", "region", region, "newInstance", in.ID,
			"instance", in.Tags[TagRestoredFrom], "drill", in.Tags[TagDrill])
		return true, nil
	case in.Status != ecsx.InstanceRunning && !now.Before(started.Add(dr.BootTimeoutOrDefault())):
		res.RTO = now.Sub(started)
		return finish(fmt.Sprintf("%v: %s after the %s boot timeout", ErrBootTimeout, cmpOr(in.Status, "unknown status"), dr.BootTimeoutOrDefault()))
	case in.Status == ecsx.InstanceStopped || in.Status == "Stopping":
		res.RTO = now.Sub(started)
		return finish("drill instance is " + in.Status + " instead of Running")
	case in.Status != ecsx.InstanceRunning:
		sum.InProgress = append(sum.InProgress, in.ID)
		return false, nil
	}
	// The RTO is what the restore takes, not when this loop happens to look: the boot is
	// ECS's StartTime − launch, the verification is the health command's own start-to-finish
	// on the instance. Without StartTime (an API that omits it) the loop's view is used.
	boot := now.Sub(started)
	if st := in.Config.StartedAt; !st.IsZero() && !st.Before(started) {
		boot = st.Sub(started)
	}
	if dr.HealthCommand == "" {
		res.RTO, res.Verified = boot, true
		return finish("")
	}
	invoke := in.Tags[TagDrillInvoke]
	if invoke == "" {
		inv, err := d.Compute.RunCommand(ctx, region, in.ID, dr.HealthCommand, dr.HealthTimeoutOrDefault())
		if err != nil {
			return false, fmt.Errorf("health command: %w", err)
		}
		if err := d.Compute.TagInstance(ctx, region, in.ID, map[string]string{TagDrillInvoke: inv}); err != nil {
			return false, fmt.Errorf("record health command %s: %w", inv, err)
		}
		sum.InProgress = append(sum.InProgress, in.ID)
		return false, nil
	}
	r, err := d.Compute.DescribeInvocation(ctx, region, invoke, in.ID)
	if err != nil {
		return false, fmt.Errorf("health command %s: %w", invoke, err)
	}
	if !r.Finished {
		sum.InProgress = append(sum.InProgress, in.ID)
		return false, nil
	}
	res.RTO, res.Health = now.Sub(started), strings.TrimSpace(r.Output)
	if !r.StartedAt.IsZero() && !r.FinishedAt.IsZero() && !r.FinishedAt.Before(r.StartedAt) {
		res.RTO = boot + r.FinishedAt.Sub(r.StartedAt)
	}
	if r.Status == "Success" && r.ExitCode == 0 {
		res.Verified = true
		return finish("")
	}
	return finish(fmt.Sprintf("%v: %s, exit code %d %s %s", ErrUnhealthy, r.Status, r.ExitCode, r.ErrorCode, firstLine(res.Health)))
}
