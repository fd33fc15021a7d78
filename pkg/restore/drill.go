package restore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/catalog"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// DrillResult is one drill: the restore into the drill network, its verification and its
// teardown.
type DrillResult struct {
	Result
	// Reason says why the drill failed ("" when Verified).
	Reason   string `json:"reason,omitempty"`
	TornDown bool   `json:"tornDown"`
	// TeardownError is set when the drill instance could not be removed now (the next
	// drill run's garbage collection removes it).
	TeardownError string `json:"teardownError,omitempty"`
}

// teardownBudget bounds the teardown of one drill instance, also after the caller's
// context ended (an interrupted drill still cleans up).
const teardownBudget = 20 * time.Minute

// Drill restores instanceID into the policy's drill network, verifies it (Running, then the
// health command if the policy has one), records the result and the RTO, and tears the
// instance down whatever happened. err is for a drill that could not be attempted or
// recorded; a drill that ran and failed verification has a nil err and Verified false.
func (d Deps) Drill(ctx context.Context, instanceID, runID string) (DrillResult, error) {
	d, err := d.withDefaults()
	if err != nil {
		return DrillResult{}, err
	}
	dr := d.Policy.Drill
	if dr == nil {
		return DrillResult{}, fmt.Errorf("drill %s: policy %s has no drill section (drill.vSwitchId, drill.securityGroupIds): nothing was launched", instanceID, d.Policy.Name)
	}
	region := d.Policy.DrillRegion()
	live, err := d.drillInstances(ctx, region)
	if err != nil {
		return DrillResult{}, fmt.Errorf("drill %s: list drill instances in %s: %w", instanceID, region, err)
	}
	if n, limit := len(live), dr.MaxConcurrentOrDefault(); n >= limit {
		return DrillResult{}, fmt.Errorf("drill %s: %d drill instances are alive in %s (drill.maxConcurrent %d): %s; nothing was launched",
			instanceID, n, region, limit, strings.Join(ids(live), ", "))
	}
	start := d.Now()
	req := Request{InstanceID: instanceID, Region: region, RunID: runID, drill: dr, HealthCommand: dr.HealthCommand,
		HealthTimeout: dr.HealthTimeoutOrDefault(), BootTimeout: dr.BootTimeoutOrDefault()}
	res := DrillResult{Result: Result{InstanceID: instanceID, Region: region, StartedAt: start}}
	p, err := d.prepare(ctx, req)
	if err != nil {
		res.Reason = err.Error()
		d.recordDrill(ctx, res)
		return res, nil
	}
	r, lerr := d.launch(ctx, p, start)
	res.Result = r
	if lerr != nil {
		res.Reason = lerr.Error()
	}
	if r.NewInstance == "" && lerr != nil {
		// The launch may have reached ECS before failing here (a lost response, an
		// interrupt): remove whatever carries this run's drill tag.
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), teardownBudget)
		if left, err := d.drillInstances(tctx, region); err == nil {
			for _, in := range left {
				if in.Tags[TagDrill] == runID {
					if err := d.teardown(tctx, region, in.ID); err != nil {
						res.TeardownError = err.Error()
					}
				}
			}
		}
		cancel()
	}
	if r.NewInstance != "" {
		// The teardown runs even when ctx has ended (an interrupted drill): it gets a
		// context of its own, bounded.
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), teardownBudget)
		err := d.teardown(tctx, region, r.NewInstance)
		cancel()
		if err != nil {
			res.TeardownError = err.Error()
			d.Progress(fmt.Sprintf("teardown of %s failed: %v (the next drill run removes it)", r.NewInstance, err))
		} else {
			res.TornDown = true
			d.Progress(fmt.Sprintf("drill instance %s deleted", r.NewInstance))
		}
	}
	d.recordDrill(ctx, res)
	return res, nil
}

func ids(ins []ecsx.Instance) []string {
	out := make([]string, len(ins))
	for i, in := range ins {
		out[i] = in.ID
	}
	return out
}

// recordDrill writes the drill's record: one log record (action drill) and the catalog's
// last-drill object of the instance.
func (d Deps) recordDrill(ctx context.Context, res DrillResult) {
	result := "ok"
	level := slogInfo
	if !res.Verified {
		result, level = "failed", slogError
	}
	d.Log.Log(ctx, level, "drill", "action", "drill", "result", result, "policy", d.Policy.Name, "instance", res.InstanceID,
		"region", res.Region, "image", res.ImageID, "newInstance", res.NewInstance, "instanceType", res.InstanceType,
		"rtoSeconds", res.RTO.Seconds(), "verified", res.Verified, "tornDown", res.TornDown || res.NewInstance == "",
		"reason", res.Reason, "typeNote", res.TypeNote, "dataTime", res.DataTime)
	if d.Catalog == nil {
		return
	}
	rec := catalog.DrillRecord{Policy: d.Policy.Name, InstanceID: res.InstanceID, Region: res.Region, ImageID: res.ImageID,
		DataTime: res.DataTime, StartedAt: res.StartedAt, RTOSeconds: res.RTO.Seconds(), Verified: res.Verified,
		Reason: res.Reason, InstanceType: res.InstanceType, TornDown: res.TornDown || res.NewInstance == ""}
	if err := d.Catalog.PutDrill(context.WithoutCancel(ctx), res.Region, rec); err != nil {
		d.Log.Error("drill record not written", "action", "drill", "result", "failed", "instance", res.InstanceID, "error", err)
	}
}

// drillInstances lists the policy's drill instances in region.
func (d Deps) drillInstances(ctx context.Context, region string) ([]ecsx.Instance, error) {
	ins, err := d.ECS.DescribeInstances(ctx, region, ecsx.InstanceQuery{Tags: map[string]string{
		policy.TagManagedBy: policy.ManagedByValue, policy.TagPolicy: d.Policy.Name}})
	if err != nil {
		return nil, err
	}
	var out []ecsx.Instance
	for _, in := range ins {
		// The server's filter is checked again: a lax filter must not make us delete more.
		if in.Tags[TagDrill] != "" && in.Tags[policy.TagPolicy] == d.Policy.Name && in.Tags[policy.TagManagedBy] == policy.ManagedByValue {
			out = append(out, in)
		}
	}
	return out, nil
}

// teardown deletes a drill instance: it waits while the instance is still booting (ECS
// refuses to delete Pending and Starting instances), then force-deletes it. An instance
// already gone is torn down.
func (d Deps) teardown(ctx context.Context, region, id string) error {
	return d.deleteDrill(ctx, region, id, true)
}

// deleteDrill is teardown; with wait false a booting instance is left for a later run
// (the dr-drill step never waits).
func (d Deps) deleteDrill(ctx context.Context, region, id string, wait bool) error {
	for {
		err := d.Compute.DeleteInstance(ctx, region, id, true)
		switch {
		case err == nil, ecsx.IsNotFound(err):
			return nil
		case ecsx.Code(err) != "IncorrectInstanceStatus":
			return fmt.Errorf("delete %s: %w", id, err)
		case !wait:
			return fmt.Errorf("delete %s: still booting, a later run deletes it: %w", id, err)
		}
		if serr := d.Sleep(ctx, d.Poll); serr != nil {
			return fmt.Errorf("delete %s: still booting when the teardown budget ended: %w", id, err)
		}
	}
}

// GCResult lists what a garbage collection found and removed.
type GCResult struct {
	Region  string   `json:"region"`
	Found   []string `json:"found,omitempty"`
	Removed []string `json:"removed,omitempty"`
	Kept    []string `json:"kept,omitempty"` // not expired yet (a drill may be running)
	Failed  []string `json:"failed,omitempty"`
}

// GC removes the policy's drill instances in the drill region whose expiry (tag
// TagExpires, set at launch to boot + health timeouts + 15 minutes) has passed, or that
// carry no readable expiry: whatever killed the run that launched them, nothing stays.
func (d Deps) GC(ctx context.Context) (GCResult, error) {
	d, err := d.withDefaults()
	if err != nil {
		return GCResult{}, err
	}
	region := d.Policy.DrillRegion()
	res := GCResult{Region: region}
	live, err := d.drillInstances(ctx, region)
	if err != nil {
		return res, fmt.Errorf("drill gc: list drill instances in %s: %w", region, err)
	}
	now := d.Now()
	var errs []error
	for _, in := range live {
		res.Found = append(res.Found, in.ID)
		exp, perr := time.Parse(time.RFC3339, in.Tags[TagExpires])
		if perr == nil && now.Before(exp) {
			res.Kept = append(res.Kept, in.ID)
			continue
		}
		if err := d.teardown(ctx, region, in.ID); err != nil {
			res.Failed = append(res.Failed, in.ID)
			errs = append(errs, err)
			d.Log.Error("drill instance not removed", "action", "drill-gc", "result", "failed", "region", region, "newInstance", in.ID, "error", err)
			continue
		}
		res.Removed = append(res.Removed, in.ID)
		d.Log.Warn("leftover drill instance removed", "action", "drill-gc", "result", "ok", "region", region, "newInstance", in.ID,
			"instance", in.Tags[TagRestoredFrom], "drill", in.Tags[TagDrill])
	}
	return res, errors.Join(errs...)
}

// Due orders the drill candidates: never drilled first, then the oldest last drill;
// instances drilled within interval are left out.
func Due(cands []string, last map[string]catalog.DrillRecord, region string, interval time.Duration, now time.Time) []string {
	var due []string
	for _, id := range cands {
		r, ok := last[id+"/"+region]
		if !ok || now.Sub(r.StartedAt) >= interval {
			due = append(due, id)
		}
	}
	slices.SortStableFunc(due, func(a, b string) int {
		ra, oka := last[a+"/"+region]
		rb, okb := last[b+"/"+region]
		switch {
		case !oka && okb:
			return -1
		case oka && !okb:
			return 1
		case oka && okb && !ra.StartedAt.Equal(rb.StartedAt):
			return ra.StartedAt.Compare(rb.StartedAt)
		}
		return strings.Compare(a, b)
	})
	return due
}
