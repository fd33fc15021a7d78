package demo

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/bootstrap"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/eventbridge"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/fc"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
	"github.com/ecsdr/ecs-image-dr/pkg/sconfig"
)

const fnReceiver = "ecs-image-dr-receiver"

// TestReceiverInSecondSourceRegion deploys s.yaml into cn-hangzhou and s.receiver.yaml
// into cn-shanghai (the demo policy's second source region), as the README's deploy
// section does, runs the day's create timer and stops at 02:25, before any reconcile timer:
// every cn-shanghai image reaches cn-beijing and cn-shenzhen through the receiver's own
// regional EventBridge rule, and no timer is deployed twice across the two stacks.
func TestReceiverInSecondSourceRegion(t *testing.T) {
	sfile := projectS(t)
	dir := filepath.Dir(sfile)
	rs, err := os.ReadFile(filepath.Join("..", "..", "s.receiver.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rfile := filepath.Join(dir, "s.receiver.yaml")
	if err := os.WriteFile(rfile, rs, 0o644); err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Parse([]byte(demoPolicy))
	if err != nil {
		t.Fatal(err)
	}
	clock := core.NewManualClock(Start)
	seed := ecs.DefaultSeed()
	srv, err := localcloud.New(localcloud.Options{Clock: clock, Seed: &seed,
		FunctionOutput: fc.Options{CredentialTTL: 72 * time.Hour}, Delivery: eventbridge.Delivery{Seed: 7}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	d := &driver{srv: srv, pol: pol, deleted: map[string]string{}, seedSnapshots: map[string]bool{}}
	if err := d.provision(); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"DR_POLICY": demoPolicy, "DR_ECS_ENDPOINT": srv.Addr(), "DR_ECS_SCHEME": "HTTP",
		"DR_OSS_ENDPOINT": srv.URL(), "DR_SLS_ENDPOINT": srv.Addr(), "DR_RDS_ENDPOINT": srv.Addr(),
		"DR_SLS_LOGSTORE": slsLogstore,
	}
	maps.Copy(env, restoreEnv)
	cfg := map[string]string{"AccountID": core.DefaultAccountID}
	mainP, err := sconfig.Load(sfile, env, cfg)
	if err != nil {
		t.Fatal(err)
	}
	renv := maps.Clone(env)
	renv["REGION"] = "cn-shanghai"
	recvP, err := sconfig.Load(rfile, renv, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sconfig.Load(rfile, env, cfg); err == nil {
		t.Error("s.receiver.yaml loaded without REGION: a receiver must name its region")
	}
	for _, p := range []*sconfig.Project{mainP, recvP} {
		if err := srv.EnsureRoles(p, bootstrap.PolicyTemplate, env); err != nil {
			t.Fatal(err)
		}
		if err := srv.Deploy(p, dir, env); err != nil {
			t.Fatal(err)
		}
	}

	// No timer twice: the receiver stack has none, and across both stacks every
	// (function, trigger) pair is distinct and all are the main stack's.
	mainTimers := 0
	for _, f := range mainP.Functions {
		for _, tr := range f.Triggers {
			if tr.Type == "timer" {
				mainTimers++
			}
		}
	}
	if len(recvP.Functions) != 1 || recvP.Functions[0].Name != fnReceiver || recvP.Functions[0].Region != "cn-shanghai" {
		t.Fatalf("receiver stack: %+v, want only %s in cn-shanghai", recvP.Functions, fnReceiver)
	}
	rf := recvP.Functions[0]
	if len(rf.Triggers) != 1 || rf.Triggers[0].Type != "eventbridge" {
		t.Errorf("receiver triggers %+v, want one eventbridge trigger and no timer", rf.Triggers)
	}
	if rf.Env["DR_REGION_SCOPE"] != "cn-shanghai" {
		t.Errorf("receiver DR_REGION_SCOPE = %q, want cn-shanghai", rf.Env["DR_REGION_SCOPE"])
	}
	if got := len(srv.Timers.Triggers()); got != mainTimers || mainTimers == 0 {
		t.Errorf("%d timers deployed across both stacks, want the main stack's %d", got, mainTimers)
	}

	// Run to 02:25 of day 1: create at 02:00, copies on events only (the reconcile shards
	// run from 05:20; the pending timer, which would copy what events miss, is off: the
	// receiver must do it).
	if !srv.Timers.Remove(fnCopy, "pending") {
		t.Fatal("no pending timer on copy-image")
	}
	end := DayAt(1, 2, 25)
	for {
		if !srv.Env.Tracker.WaitIdle(3 * time.Minute) {
			t.Fatal("the local cloud did not go idle")
		}
		next, ok := clock.NextDue()
		if !ok || next.After(end) {
			break
		}
		clock.AdvanceTo(next)
	}
	srv.Env.Tracker.WaitIdle(time.Minute)

	var recv, rejected int
	for _, inv := range srv.FC.Invocations() {
		if inv.Function == fnReceiver {
			if inv.Source != "eventbridge:image-ready" || inv.Status != fc.StatusOK {
				t.Errorf("receiver invocation %s %s: %s", inv.Source, inv.Status, inv.Response)
			}
			recv++
			if strings.Contains(string(inv.Response), "outside this deployment's region scope") {
				rejected++
			}
		}
		if strings.HasPrefix(inv.Source, "timer:") && inv.Function != fnCreate && !strings.HasPrefix(inv.Function, "ecs-image-dr-dr-drill") && inv.Function != fnOffsite {
			t.Errorf("unexpected timer run before 02:25: %s %s", inv.Function, inv.Source)
		}
	}
	if recv == 0 {
		t.Fatal("the cn-shanghai receiver was never invoked")
	}
	if rejected != 0 {
		t.Errorf("%d receiver invocations rejected events of their own region", rejected)
	}
	var sources []string
	for _, im := range srv.ECS.Images("cn-shanghai") {
		if im.SourceInstanceID != "" && im.Status == "Available" {
			sources = append(sources, im.ID)
		}
	}
	if len(sources) == 0 {
		t.Fatal("no cn-shanghai image was created")
	}
	for _, dst := range pol.DestinationRegions() {
		copied := map[string]bool{}
		for _, im := range srv.ECS.Images(dst) {
			if im.IsCopied && im.CopySourceRegion == "cn-shanghai" {
				copied[im.CopySourceImageID] = true
			}
		}
		for _, id := range sources {
			if !copied[id] {
				t.Errorf("cn-shanghai image %s not copied to %s before the reconcile timer", id, dst)
			}
		}
	}
	t.Logf("receiver invocations %d, cn-shanghai images %d, timers %d", recv, len(sources), mainTimers)
	_ = json.Valid
}
