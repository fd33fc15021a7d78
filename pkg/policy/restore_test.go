package policy

import (
	"testing"
	"time"
)

const restoreYAML = validYAML + `
rpoTarget: 26h
networkMap:
  cn-shanghai:
    vSwitches: {vsw-hz-h: vsw-sh-b}
    securityGroups: {sg-hz-web: sg-sh-web}
drill:
  region: cn-shanghai
  vSwitchId: vsw-drill-b
  securityGroupIds: [sg-drill]
  healthCommand: curl -fsS localhost/healthz
  perRun: 2
  maxConcurrent: 3
  interval: 168h
`

func TestRestoreSectionParses(t *testing.T) {
	t.Parallel()
	p := mustParse(t, restoreYAML)
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if p.RPO() != 26*time.Hour || p.NetworkMap["cn-shanghai"].VSwitches["vsw-hz-h"] != "vsw-sh-b" || p.DrillRegion() != "cn-shanghai" ||
		p.Drill.IntervalOrDefault() != 168*time.Hour || p.Drill.PerRunOrDefault() != 2 || p.Drill.HealthTimeoutOrDefault() != DefaultHealthTimeout {
		t.Fatalf("parsed %+v %+v", p.NetworkMap, p.Drill)
	}
	var none *Drill
	if none.MaxConcurrentOrDefault() != DefaultDrillMaxConcurrent || none.BootTimeoutOrDefault() != DefaultBootTimeout {
		t.Fatal("nil drill defaults")
	}
}

func TestRestoreSectionProblems(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		mutate func(p *Policy)
		want   string
	}{
		{"rpo not duration", func(p *Policy) { p.RPOTarget = "daily" }, `rpoTarget: "daily" is not a Go duration such as "26h"`},
		{"rpo under slot", func(p *Policy) { p.RPOTarget = "12h" }, `rpoTarget: 12h0m0s is shorter than the slot interval 24h0m0s: it would be missed between every two slots`},
		{"map not destination", func(p *Policy) { p.NetworkMap["cn-beijing"] = NetworkMap{} }, `networkMap.cn-beijing: "cn-beijing" is not a destination region of the policy`},
		{"map bad vswitch", func(p *Policy) { p.NetworkMap["cn-shanghai"].VSwitches["vsw-hz-h"] = "sg-x" }, `networkMap.cn-shanghai.vSwitches.vsw-hz-h: want vsw-… mapped to vsw-…, got "vsw-hz-h": "sg-x"`},
		{"drill region", func(p *Policy) { p.Drill.Region = "cn-hangzhou" }, `drill.region: "cn-hangzhou" is not a destination region of the policy`},
		{"drill no vswitch", func(p *Policy) { p.Drill.VSwitchID = "" }, `drill.vSwitchId: required: the isolated drill vSwitch (vsw-…), got ""`},
		{"drill no groups", func(p *Policy) { p.Drill.SecurityGroupIDs = nil }, `drill.securityGroupIds: required: at least one security group of the drill network`},
		{"drill per run over cap", func(p *Policy) { p.Drill.PerRun = 4 }, `drill.perRun: 4 is over drill.maxConcurrent (3)`},
		{"drill interval", func(p *Policy) { p.Drill.Interval = "-1h" }, `drill.interval: "-1h" is not a positive Go duration`},
		{"drill instance", func(p *Policy) { p.Drill.Instances = []string{"web-1"} }, `drill.instanceIds[0]: "web-1" is not an instance id (i-…)`},
		{"drill type", func(p *Policy) { p.Drill.AllowedInstanceTypes = []string{"g7.large"} }, `drill.allowedInstanceTypes[0]: want an instance type such as ecs.g7.large, got "g7.large"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := mustParse(t, restoreYAML)
			tc.mutate(p)
			got := problemSet(t, p.Validate())
			if !got[tc.want] || len(got) != 1 {
				t.Errorf("want exactly %q, got %v", tc.want, got)
			}
		})
	}
}
