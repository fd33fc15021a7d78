package sconfig

import (
	"maps"
	"testing"
)

// s.receiver.yaml copies the copy function's environment and event pattern from s.yaml
// (a YAML anchor cannot cross files): this keeps the two in step. The receiver differs
// only by DR_REGION_SCOPE, its region, and having no timer.
func TestReceiverMatchesMainCopyFunction(t *testing.T) {
	t.Parallel()
	env := map[string]string{"REGION": "cn-shanghai"}
	main, err := Load(repoSYaml, env, cfg)
	if err != nil {
		t.Fatal(err)
	}
	recv, err := Load("../../s.receiver.yaml", env, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var copyFn *Function
	for i := range main.Functions {
		if main.Functions[i].Resource == "copy-image" {
			copyFn = &main.Functions[i]
		}
	}
	if copyFn == nil || len(recv.Functions) != 1 {
		t.Fatalf("want s.yaml's copy-image and exactly one receiver function, got %v and %d", copyFn != nil, len(recv.Functions))
	}
	r := recv.Functions[0]
	if got := r.Env["DR_REGION_SCOPE"]; got != "cn-shanghai" {
		t.Errorf("receiver DR_REGION_SCOPE = %q, want its own region cn-shanghai", got)
	}
	renv := maps.Clone(r.Env)
	delete(renv, "DR_REGION_SCOPE")
	if !maps.Equal(renv, copyFn.Env) {
		t.Errorf("receiver environment drifted from s.yaml's copy-image:\n receiver %v\n main     %v", renv, copyFn.Env)
	}
	if r.Role != copyFn.Role || r.CodeDir != copyFn.CodeDir || r.Handler != copyFn.Handler || r.Runtime != copyFn.Runtime {
		t.Errorf("receiver role/code/handler/runtime drifted: %+v vs %+v", r, *copyFn)
	}
	var mainPattern string
	for _, tr := range copyFn.Triggers {
		if tr.Type == TriggerEventBridge {
			mainPattern = tr.Pattern
		}
	}
	for _, tr := range r.Triggers {
		if tr.Type != TriggerEventBridge {
			t.Errorf("receiver trigger %s is a %s: a receiver runs no timer", tr.Name, tr.Type)
		} else if tr.Pattern != mainPattern {
			t.Errorf("receiver event pattern drifted from s.yaml's:\n receiver %s\n main     %s", tr.Pattern, mainPattern)
		}
	}
}
