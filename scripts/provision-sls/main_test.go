package main

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	localsls "github.com/ecsdr/ecs-image-dr/pkg/localcloud/sls"
)

func TestRunTwiceAgainstLocalCloud(t *testing.T) {
	t.Parallel()
	env := core.NewEnv(core.NewManualClock(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)), nil)
	svc := localsls.New(env)
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)
	getenv := func(k string) string {
		return map[string]string{
			"ALIBABA_CLOUD_ACCESS_KEY_ID":     core.DefaultAccessKeyID,
			"ALIBABA_CLOUD_ACCESS_KEY_SECRET": core.DefaultAccessKeySecret,
		}[k]
	}
	args := []string{"-local", srv.Listener.Addr().String(), "-project", "dr-logs", "-create-project"}

	var first bytes.Buffer
	if err := run(args, getenv, &first); err != nil {
		t.Fatalf("first run: %v\n%s", err, first.String())
	}
	if got := strings.Count(first.String(), "created"); got != 7 {
		t.Fatalf("first run created %d resources, want 7 (three alerts):\n%s", got, first.String())
	}
	var second bytes.Buffer
	if err := run(args, getenv, &second); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if strings.Contains(second.String(), "created") || strings.Count(second.String(), "exists") != 7 {
		t.Fatalf("second run should change nothing:\n%s", second.String())
	}
	if len(svc.Logs("dr-logs", "ecs-image-dr")) != 0 {
		t.Fatal("provisioning wrote logs")
	}
}

func TestRunRequiresCredentialsAndProject(t *testing.T) {
	t.Parallel()
	none := func(string) string { return "" }
	if err := run([]string{"-project", "p"}, none, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "ALIBABA_CLOUD_ACCESS_KEY_ID") {
		t.Fatalf("no credentials: %v", err)
	}
	if err := run(nil, none, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "-project") {
		t.Fatalf("no project: %v", err)
	}
}
