package main

import (
	"strings"
	"testing"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud"
	"github.com/ecsdr/ecs-image-dr/pkg/testutil"
)

// The README's bootstrap command, against the local cloud: everything created, then a
// second run finds everything.
func TestBootstrapAgainstTheLocalCloud(t *testing.T) {
	t.Parallel()
	srv, err := localcloud.New(localcloud.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	cr := srv.Credential()
	env := map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_ID": cr.AccessKeyID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": cr.AccessKeySecret}
	args := []string{"-local", srv.Addr(), "-account", cr.AccountID, "-policy", "../../events/policy.example.yaml"}
	for run, want := range []string{"created", "exists"} {
		out := &testutil.Buffer{}
		if err := run_(args, env, out); err != nil {
			t.Fatalf("run %d: %v\n%s", run+1, err, out)
		}
		for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			if strings.HasPrefix(line, "role ") {
				continue
			}
			if !strings.Contains(line, want) && !(want == "created" && strings.Contains(line, "uploaded")) {
				t.Errorf("run %d: %q, want %s", run+1, line, want)
			}
		}
	}
	if !srv.RAM.HasRole("ecs-image-dr-fc") {
		t.Error("no role")
	}
	out := &testutil.Buffer{}
	if err := run_(append(args, "-print-policy"), nil, out); err != nil || !strings.Contains(out.String(), "ecs-image-dr-config-"+cr.AccountID+"/policy.yaml") {
		t.Errorf("-print-policy: %v\n%s", err, out)
	}
}

func run_(args []string, env map[string]string, out *testutil.Buffer) error {
	return run(args, func(k string) string { return env[k] }, out)
}
