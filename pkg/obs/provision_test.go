package obs_test

import (
	"reflect"
	"strings"
	"testing"

	sdk "github.com/aliyun/aliyun-log-go-sdk"

	localsls "github.com/ecsdr/ecs-image-dr/pkg/localcloud/sls"
	"github.com/ecsdr/ecs-image-dr/pkg/obs"
)

func outcomes(steps []obs.Step) []string {
	var out []string
	for _, s := range steps {
		out = append(out, s.Kind+":"+s.Outcome)
	}
	return out
}

func TestProvisionIdempotent(t *testing.T) {
	t.Parallel()
	l := newLocalSLS(t) // project and logstore ecs-image-dr exist; no index, dashboard, alert
	c := localsls.NewSDKClient(l.addr, cred())
	cfg := obs.ProvisionConfig{Project: proj, Logstore: "dr-ops", Region: "cn-hangzhou"}

	steps, err := obs.Provision(c, cfg)
	if err != nil {
		t.Fatalf("first run: %v", err)
	}
	want := []string{"project:exists", "logstore:created", "index:created", "dashboard:created", "alert:created", "alert:created", "alert:created"}
	if got := outcomes(steps); !reflect.DeepEqual(got, want) {
		t.Fatalf("first run = %v, want %v", got, want)
	}
	steps, err = obs.Provision(c, cfg)
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	want = []string{"project:exists", "logstore:exists", "index:exists", "dashboard:exists", "alert:exists", "alert:exists", "alert:exists"}
	if got := outcomes(steps); !reflect.DeepEqual(got, want) {
		t.Fatalf("second run = %v, want %v", got, want)
	}

	ls, err := c.GetLogStore(proj, "dr-ops")
	if err != nil || ls.TTL != 90 || ls.ShardCount != 2 {
		t.Fatalf("logstore: %+v, %v", ls, err)
	}
	idx, err := c.GetIndex(proj, "dr-ops")
	if err != nil {
		t.Fatalf("get index: %v", err)
	}
	for _, k := range []string{obs.KeyFunction, obs.KeyRequestID, obs.KeyPolicy, obs.KeyAction, obs.KeyRegion, obs.KeyInstance,
		obs.KeyImage, obs.KeySourceImage, obs.KeyResult, obs.KeyErrorCode, obs.ContentTime, obs.ContentLevel, obs.ContentMsg} {
		if got := idx.Keys[k]; got.Type != "text" || !got.DocValue {
			t.Fatalf("index key %s = %+v, want text with doc values", k, got)
		}
	}
	if idx.Keys[obs.KeyDuration].Type != "long" || idx.Line == nil {
		t.Fatalf("index: duration_ms %+v, line %+v", idx.Keys[obs.KeyDuration], idx.Line)
	}
	d, err := c.GetDashboard(proj, "dr-ops-overview")
	if err != nil || len(d.ChartList) != 5 {
		t.Fatalf("dashboard: %+v, %v", d, err)
	}
	for _, ch := range d.ChartList {
		if ch.Search.Logstore != "dr-ops" || !strings.Contains(ch.Search.Query, "|") {
			t.Fatalf("chart %q: %+v", ch.Title, ch.Search)
		}
	}
	a, err := c.GetAlert(proj, "dr-ops-backup-failed")
	if err != nil || !a.IsEnabled() || a.Configuration.QueryList[0].Query != obs.FailedQuery ||
		a.Configuration.QueryList[0].Store != "dr-ops" || a.Configuration.SeverityConfigurations[0].EvalCondition.Condition != "failed > 0" {
		t.Fatalf("alert: %+v, %v", a, err)
	}
	r, err := c.GetAlert(proj, "dr-ops-rpo-missed")
	if err != nil || !r.IsEnabled() || r.Configuration.QueryList[0].Query != "action: rpo and result: breach | select count(distinct instance) as instances" ||
		r.Configuration.SeverityConfigurations[0].EvalCondition.Condition != "instances > 0" ||
		r.Configuration.PolicyConfiguration.ActionPolicyId != obs.DefaultActionPolicy {
		t.Fatalf("rpo alert: %+v, %v", r, err)
	}
	// Issue 11 point 6: grouped by function, region and error code; both alerts notify a
	// person through the action policy (the RPO alert too, checked above).
	if g := a.Configuration.GroupConfiguration; g.Type != "custom" || strings.Join(g.Fields, ",") != "function,region,error_code" ||
		a.Configuration.PolicyConfiguration.ActionPolicyId != obs.DefaultActionPolicy {
		t.Errorf("failed alert grouping %+v, policy %+v", g, a.Configuration.PolicyConfiguration)
	}
	hb, err := c.GetAlert(proj, "dr-ops-heartbeat-missing")
	if err != nil || hb.Configuration.QueryList[0].Query != obs.HeartbeatQuery || hb.Configuration.QueryList[0].Start != "-26h" ||
		hb.Configuration.PolicyConfiguration.ActionPolicyId != obs.DefaultActionPolicy {
		t.Errorf("heartbeat alert: %+v, %v", hb, err)
	}
}

func TestProvisionMergesIndex(t *testing.T) {
	t.Parallel()
	l := newLocalSLS(t)
	c := localsls.NewSDKClient(l.addr, cred())
	custom := sdk.Index{Keys: map[string]sdk.IndexKey{
		"custom":        {Type: "text", Token: []string{" "}},
		obs.KeyDuration: {Type: "text"}, // wrong type: fixed
	}}
	if err := c.CreateIndex(proj, store, custom); err != nil {
		t.Fatal(err)
	}
	steps, err := obs.Provision(c, obs.ProvisionConfig{Project: proj, Logstore: store, Region: "cn-hangzhou"})
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomes(steps)[2]; got != "index:updated" {
		t.Fatalf("index step = %s", got)
	}
	idx, err := c.GetIndex(proj, store)
	if err != nil || idx.Keys["custom"].Type != "text" || idx.Keys[obs.KeyDuration].Type != "long" || idx.Keys[obs.KeyResult].Type != "text" {
		t.Fatalf("merged index: %+v, %v", idx, err)
	}
}

func TestProvisionProject(t *testing.T) {
	t.Parallel()
	l := newLocalSLS(t)
	c := localsls.NewSDKClient(l.addr, cred())
	cfg := obs.ProvisionConfig{Project: "fresh-project", Logstore: store, Region: "cn-hangzhou"}
	if _, err := obs.Provision(c, cfg); err == nil || !strings.Contains(err.Error(), "fresh-project does not exist") {
		t.Fatalf("missing project: %v", err)
	}
	cfg.CreateProject = true
	steps, err := obs.Provision(c, cfg)
	if err != nil || outcomes(steps)[0] != "project:created" {
		t.Fatalf("create project: %v, %v", steps, err)
	}
	if _, err := obs.Provision(c, obs.ProvisionConfig{}); err == nil || !strings.Contains(err.Error(), "project is required") {
		t.Fatalf("empty config: %v", err)
	}
}
