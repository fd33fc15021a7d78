package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/catalog"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	localoss "github.com/ecsdr/ecs-image-dr/pkg/localcloud/oss"
)

func TestRunPrintsTheCatalog(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	svc := localoss.New(core.NewEnv(core.NewManualClock(t0), nil))
	srv := httptest.NewServer(svc)
	defer srv.Close()
	if err := svc.CreateBucket("prod-dr-catalog-cn-shanghai", "cn-shanghai"); err != nil {
		t.Fatal(err)
	}
	store, err := ossx.New(srv.URL, core.DefaultAccessKeyID, core.DefaultAccessKeySecret, "")
	if err != nil {
		t.Fatal(err)
	}
	e := catalog.Entry{InstanceID: "i-web", Region: "cn-shanghai", ImageID: "m-copy1", Role: "copy",
		CreationTime: t0, SizeGiB: 40, RPOSeconds: 3600}
	if err := catalog.NewWriter(store, "prod-dr-catalog-cn-shanghai", nil).Sync(context.Background(), "prod", []catalog.Entry{e}, false); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_ID": core.DefaultAccessKeyID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": core.DefaultAccessKeySecret}
	now := func() time.Time { return t0.Add(26 * time.Hour) }

	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantOut string
		wantErr string
	}{
		{"prints", []string{"-endpoint", srv.URL, "-bucket", "prod-dr-catalog-cn-shanghai", "-policy", "prod"}, env,
			"i-web     cn-shanghai  m-copy1  2024-05-01 00:00Z  40 GiB  copy  1h00m  1d02h", ""},
		{"missing flag", []string{"-endpoint", srv.URL, "-policy", "prod"}, env, "", "-bucket is required"},
		{"missing credentials", []string{"-endpoint", srv.URL, "-bucket", "b-b-b", "-policy", "prod"}, nil, "", "ALIBABA_CLOUD_ACCESS_KEY_ID"},
		{"missing bucket", []string{"-endpoint", srv.URL, "-bucket", "no-such-bucket", "-policy", "prod"}, env, "", "NoSuchBucket"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tc.args, func(k string) string { return tc.env[k] }, &out, &errOut, now)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Fatalf("output:\n%s\nwant a line %q", out.String(), tc.wantOut)
			}
		})
	}
}
