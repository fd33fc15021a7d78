package app

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/ecsdr/ecs-image-dr/pkg/backup"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
	"github.com/ecsdr/ecs-image-dr/pkg/events"
	"github.com/ecsdr/ecs-image-dr/pkg/restore"
)

// RPOSummary is what the RPO monitor returns (the per-pair records go to SLS).
type RPOSummary struct {
	Pairs    int                 `json:"pairs"`
	Missed   int                 `json:"missed"`
	Worst    *restore.PairStatus `json:"worst,omitempty"`
	Warnings []string            `json:"warnings,omitempty"`
}

// drill serves the dr-drill function: the timer payload's action picks the drill step
// ("drill", the default) or the RPO monitor ("rpo").
func (h *Handler) drill(ctx context.Context, res *Result, deps backup.Deps, timer *events.TimerEvent, requestID string,
	store func(region string) (ossx.Store, error)) (*Result, error) {
	if deps.Compute == nil {
		return res, fmt.Errorf("dr-drill: the ECS adapter has no restore-side port")
	}
	action := "drill"
	if timer != nil && strings.TrimSpace(timer.Payload) != "" {
		var p struct {
			Action string `json:"action"`
		}
		if err := json.Unmarshal([]byte(timer.Payload), &p); err != nil {
			return res, fmt.Errorf("dr-drill: timer payload %q is not {\"action\":\"drill\"|\"rpo\"}: %v", timer.Payload, err)
		}
		action = strings.TrimSpace(p.Action)
	}
	rd := restore.Deps{ECS: deps.ECS, Compute: deps.Compute, Policy: deps.Policy, Log: deps.Log,
		// Now is the invocation's time (the timer's due time, as for the other functions):
		// a drill step does not wait, so one instant is its whole view.
		Catalog: restore.OSSCatalog{Policy: deps.Policy, Store: store}, Now: deps.Now, Sleep: h.opts.Clock.Sleep,
		Retry: deps.Retry}
	switch action {
	case "rpo":
		st, err := rd.MonitorRPO(ctx)
		res.RPO = &RPOSummary{Pairs: len(st.Pairs), Missed: st.Missed, Worst: st.Worst, Warnings: st.Warnings}
		return res, err
	case "drill", "":
		if deps.Policy.Drill == nil {
			res.Note = "the policy has no drill section: nothing to drill"
			deps.Log.Warn("no drill section", "action", "drill", "result", backup.ResultSkipped, "reason", res.Note)
			return res, nil
		}
		runID := requestID
		if runID == "" {
			runID = fmt.Sprintf("run-%d", h.opts.Clock.Now().UnixNano())
		}
		if timer != nil && !timer.TriggerTime.IsZero() {
			runID = "drill-" + timer.TriggerTime.UTC().Format("20060102T150405") // a retried timer reuses its ClientTokens
		}
		sum, err := rd.Step(ctx, runID, true)
		res.Drill = &sum
		if err == nil && len(sum.Failed) > 0 {
			err = fmt.Errorf("dr-drill: %d steps failed (retried by the next run): %s", len(sum.Failed), strings.Join(sum.Failed, "; "))
		}
		return res, err
	}
	return res, fmt.Errorf("dr-drill: unknown action %q (want drill or rpo)", action)
}
