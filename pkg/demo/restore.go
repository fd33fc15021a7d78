package demo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
	"github.com/ecsdr/ecs-image-dr/pkg/restore"
)

// The restore side of the demo: the DR and drill networks of cn-beijing, the Cloud
// Assistant health results, the dr-drill schedules, and the finale (an operator's drill and
// restore through drctl's code, with their RTO, then drctl status).

// restoreEnv: the dr-drill schedules of the demo (drill steps every 10 minutes from 05:00
// to 05:50, the RPO monitor at 05:30), so ten days stay readable.
var restoreEnv = map[string]string{
	"DR_DRILL_CRON": "CRON_TZ=Asia/Shanghai 0 */10 5 * * *",
	"DR_RPO_CRON":   "CRON_TZ=Asia/Shanghai 0 30 5 * * *",
}

// seedRestore scripts the health command: web and db answer, the api server does not
// (its drill fails and is recorded, so the alert has something to say).
func seedRestore(seed *ecs.Seed) {
	seed.Compute.Commands = []ecs.CommandRule{
		{Contains: "healthz", InstanceTags: map[string]string{"app": "api"}, ExitCode: 7, Output: "curl: (7) Failed to connect to localhost port 80: Connection refused",
			Duration: ecs.Duration(3 * time.Second)},
		{Contains: "healthz", ExitCode: 0, Output: "ok", Duration: ecs.Duration(8 * time.Second)},
	}
}

// networks creates the DR network (vpc-dr) and the isolated drill network (vpc-drill)
// in cn-beijing, as an operator does once.
func (d *driver) networks() error {
	for name, cidr := range map[string]string{"dr": "10.20.0.0/16", "drill": "10.99.0.0/16"} {
		if err := d.srv.ECS.AddNetwork("cn-beijing", name, cidr); err != nil {
			return err
		}
	}
	return nil
}

// summarizeRestore is the timeline text of a dr-drill invocation (ok is false for other
// results).
func summarizeRestore(r result) (string, bool) {
	switch {
	case r.RPO != nil:
		s := fmt.Sprintf("rpo: %d pairs, %d over target", r.RPO.Pairs, r.RPO.Missed)
		if w := r.RPO.Worst; w != nil {
			s += fmt.Sprintf("; worst %s in %s (%s)", w.InstanceID, w.Region, strings.ReplaceAll(w.State, "ok", restore.FmtAge(w.Age())+" old"))
		}
		return s, true
	case r.Drill != nil:
		var parts []string
		if len(r.Drill.Started) > 0 {
			parts = append(parts, "launched drill of "+strings.Join(r.Drill.Started, ", "))
		}
		if n := len(r.Drill.InProgress); n > 0 {
			parts = append(parts, fmt.Sprintf("%d in progress", n))
		}
		for _, f := range r.Drill.Finished {
			if f.Verified {
				parts = append(parts, fmt.Sprintf("drill of %s verified, RTO %s, torn down", f.InstanceID, f.RTO.Round(time.Second)))
			} else {
				parts = append(parts, fmt.Sprintf("drill of %s FAILED (%s), torn down", f.InstanceID, firstLine(f.Reason, 90)))
			}
		}
		if len(parts) == 0 {
			parts = append(parts, "nothing due")
		}
		return "drill: " + strings.Join(parts, "; "), true
	}
	return "", false
}

func firstLine(s string, n int) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if r := []rune(s); len(r) > n {
		s = string(r[:n]) + "…"
	}
	return s
}

// finale runs, as the operator would with drctl, a drill of one instance and a restore of
// another in cn-beijing, then drctl status. Waits advance the simulated clock.
func (d *driver) finale(ctx context.Context, clock *core.Clock) string {
	var b strings.Builder
	say := func(head, text string) {
		for _, l := range wrap(head, text, width) {
			b.WriteString(l + "\n")
		}
	}
	cred := d.srv.Credential()
	api, err := ecsx.NewSDK(ecsx.SDKConfig{Endpoint: d.srv.Addr(), Scheme: "HTTP",
		Credentials: func() (string, string, string) { return cred.AccessKeyID, cred.AccessKeySecret, "" }})
	if err != nil {
		d.violate("finale: %v", err)
		return ""
	}
	deps := restore.Deps{ECS: api, Compute: api.(ecsx.Compute), Policy: d.pol, Now: clock.Now,
		Catalog: restore.OSSCatalog{Policy: d.pol, Store: func(string) (ossx.Store, error) {
			return ossx.New(d.srv.URL(), cred.AccessKeyID, cred.AccessKeySecret, "")
		}},
		Sleep: func(ctx context.Context, dt time.Duration) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			clock.Advance(dt)
			return nil
		},
		Progress: func(s string) { say("    "+clock.Now().In(shanghai).Format("15:04:05")+"  ", s) },
	}
	fmt.Fprintf(&b, "\n=== drctl drill --instance i-hz-web-1 (into the drill network of cn-beijing) ===\n")
	dr, err := deps.Drill(ctx, "i-hz-web-1", "demo-drill")
	switch {
	case err != nil:
		d.violate("finale drill: %v", err)
	case !dr.Verified || !dr.TornDown:
		d.violate("finale drill of i-hz-web-1 not verified or not torn down: %+v", dr)
	default:
		say("", fmt.Sprintf("drill of i-hz-web-1 verified from %s (data of %s): RTO %s, drill instance %s torn down",
			dr.ImageID, dr.DataTime.In(shanghai).Format("01-02 15:04"), dr.RTO.Round(time.Second), dr.NewInstance))
	}

	fmt.Fprintf(&b, "\n=== drctl restore --instance i-hz-db-1 --region cn-beijing --yes ===\n")
	p, err := deps.Prepare(ctx, restore.Request{InstanceID: "i-hz-db-1", Region: "cn-beijing", RunID: "demo-restore"})
	if err != nil {
		d.violate("finale restore plan: %v", err)
		return b.String()
	}
	say("plan: ", fmt.Sprintf("%s from %s (data of %s) as %s in %s (%s), groups %s, %d disks", p.InstanceID, p.Image.ID,
		p.DataTime.In(shanghai).Format("01-02 15:04"), p.InstanceType, p.VSwitchID, p.Zone, strings.Join(p.Groups, ","), len(p.Spec.Disks)))
	res, err := deps.Restore(ctx, p, clock.Now())
	if err != nil {
		d.violate("finale restore: %v", err)
		return b.String()
	}
	say("", fmt.Sprintf("restored i-hz-db-1 as %s in cn-beijing: Running, RTO %s", res.NewInstance, res.RTO.Round(time.Second)))
	if _, err := deps.Restore(ctx, p, clock.Now()); err == nil {
		d.violate("a second restore of i-hz-db-1 was not refused")
	} else {
		say("a second restore is refused: ", err.Error())
	}

	fmt.Fprintf(&b, "\n=== drctl status ===\n")
	st, err := deps.Status(ctx)
	if err != nil {
		d.violate("finale status: %v", err)
		return b.String()
	}
	restore.PrintStatus(&b, st, shanghai)
	return b.String()
}
