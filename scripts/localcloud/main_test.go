package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud"
	lcsls "github.com/ecsdr/ecs-image-dr/pkg/localcloud/sls"
	"github.com/ecsdr/ecs-image-dr/pkg/testutil"
)

func TestRunPrintsEndpointAndKeysAndServes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out := &testutil.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, out, "127.0.0.1:0", "", 60, "2026-11-01T00:00:00Z", false, "", slog.New(slog.DiscardHandler))
	}()
	var addr string
	re := regexp.MustCompile(`ECS endpoint: (127\.0\.0\.1:\d+)`)
	for i := 0; i < 200 && addr == ""; i++ {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
		}
		time.Sleep(10 * time.Millisecond)
	}
	if addr == "" {
		cancel()
		t.Fatalf("no ECS endpoint line in output:\n%s", out.String())
	}
	for _, want := range []string{"AccessKeyId: LTAI5tLocalCloudTestKey\n", "AccessKeySecret: ", "AccountId: "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	resp, err := http.Get("http://" + addr + "/_localcloud/health")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"ok": true`) {
		t.Fatalf("health: %d %s", resp.StatusCode, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestRunRefusesBadSeedAndStart(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "seed.json")
	if err := os.WriteFile(bad, []byte(`{"regions":[{"id":"cn-hangzhou"}],"instances":[{"id":"i-1","region":"nowhere","disks":[]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	if err := run(context.Background(), io.Discard, "127.0.0.1:0", bad, 1, "", false, "", log); err == nil || !strings.Contains(err.Error(), "-seed") {
		t.Errorf("bad seed: %v", err)
	}
	if err := run(context.Background(), io.Discard, "127.0.0.1:0", "", 1, "yesterday", false, "", log); err == nil || !strings.Contains(err.Error(), "-start") {
		t.Errorf("bad start: %v", err)
	}
}

// -s s.yaml: the project's functions and triggers are deployed from the environment, and
// what s deploy leaves to the operator (SLS logstore, catalog buckets) is provisioned.
func TestDeployProvisionsFromTheEnvironment(t *testing.T) {
	policyYAML, err := os.ReadFile("../../pkg/demo/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The binaries are started on first invoke, so the code directory may be empty here.
	dir := t.TempDir()
	sy, err := os.ReadFile("../../s.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range []string{"create-image", "copy-image", "cleanup", "rds-offsite", "dr-drill"} {
		if err := os.MkdirAll(filepath.Join(dir, "dist", fn), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "dist", fn, "main"), []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "s.yaml"), sy, 0o644); err != nil {
		t.Fatal(err)
	}
	srv, err := localcloud.New(localcloud.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	out := &testutil.Buffer{}
	env := map[string]string{"DR_POLICY": string(policyYAML), "DR_SLS_PROJECT": "dr-local"}
	if err := deploy(context.Background(), out, srv, filepath.Join(dir, "s.yaml"), env); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	if got := len(srv.FC.Functions()); got != 5 {
		t.Errorf("%d functions deployed, want 5", got)
	}
	if got := len(srv.Timers.Triggers()); got != 21 {
		t.Errorf("%d timer triggers, want 21 (create, 8 reconcile shards, pending, 8 cleanup shards, rds-offsite, drill, rpo)", got)
	}
	spec, ok := srv.FC.Function("ecs-image-dr-create-image")
	if !ok || spec.Env["DR_ECS_ENDPOINT"] != srv.Addr() || spec.Env["DR_SLS_PROJECT"] != "dr-local" || spec.Env["DR_POLICY"] != string(policyYAML) {
		t.Errorf("create-image env not resolved from the environment and the local endpoints: %v", spec.Env)
	}
	stores, err := lcsls.NewSDKClient(srv.Addr(), srv.Credential()).ListLogStore("dr-local")
	if err != nil || len(stores) != 1 || stores[0] != "ecs-image-dr" {
		t.Errorf("SLS logstore not provisioned: %v %v", stores, err)
	}
	for _, b := range []string{"demo-dr-catalog-cn-beijing", "demo-dr-catalog-cn-shenzhen"} {
		if err := srv.OSS.CreateBucket(b, "cn-beijing"); err == nil {
			t.Errorf("catalog bucket %s was not created", b)
		}
	}
}
