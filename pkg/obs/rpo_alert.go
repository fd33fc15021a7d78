package obs

import (
	"fmt"

	sls "github.com/aliyun/aliyun-log-go-sdk"
)

// RPOAlertConfig is the alert of the RPO monitor (pkg/restore MonitorRPO, run by the
// dr-drill function's rpo timer): any record with action: rpo and result: breach in the
// last 2 hours (an instance whose newest restorable copy in a DR region is missing or
// older than the policy's rpoTarget), through the same built-in notification policy as
// the failed-operations alert. Failed drills log result: failed and so reach that one.
func RPOAlertConfig(project, logstore, region, name, dashboard string) *sls.Alert {
	return &sls.Alert{
		Name:        name,
		DisplayName: "ECS image DR: RPO target missed",
		Description: "Fires when the RPO monitor finds a protected instance whose newest DR copy is missing or older than rpoTarget",
		Schedule:    &sls.Schedule{Type: sls.ScheduleTypeFixedRate, Interval: "15m"},
		Configuration: &sls.AlertConfiguration{
			Version: "2.0", Type: "default", Dashboard: dashboard,
			QueryList: []*sls.AlertQuery{{
				Query: fmt.Sprintf("%s: rpo and %s: breach | select count(distinct %s) as instances", KeyAction, KeyResult, KeyInstance),
				Start: "-2h", End: "now", TimeSpanType: "Custom",
				StoreType: sls.StoreTypeLog, Store: logstore, Project: project, Region: region,
				PowerSqlMode: sls.PowerSqlModeAuto,
			}},
			GroupConfiguration: sls.GroupConfiguration{Type: sls.GroupTypeNoGroup},
			SeverityConfigurations: []*sls.SeverityConfiguration{{
				Severity:      sls.Critical,
				EvalCondition: sls.ConditionConfiguration{Condition: "instances > 0"},
			}},
			Threshold: 1,
			Labels:    []*sls.Tag{{Key: "product", Value: "ecs-image-dr"}},
			Annotations: []*sls.Tag{
				{Key: "title", Value: "ECS image DR: ${instances} instances miss the RPO target"},
				{Key: "desc", Value: "Query " + logstore + " for action: rpo and result: breach, or run drctl status, to see which instances and regions."},
			},
			AutoAnnotation:      true,
			SendResolved:        true,
			PolicyConfiguration: sls.PolicyConfiguration{AlertPolicyId: "sls.builtin.dynamic", ActionPolicyId: DefaultActionPolicy, RepeatInterval: "1h"},
		},
	}
}
