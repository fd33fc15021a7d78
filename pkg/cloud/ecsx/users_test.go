package ecsx_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	sdkecs "github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	sdkess "github.com/aliyun/alibaba-cloud-sdk-go/services/ess"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ess"
)

// The SDK ImageUsers against the local cloud: instances, every version of every launch
// template (beyond one page of templates and of versions) and every scaling configuration
// (beyond one page), through the official ECS and ESS SDKs; a failure of any listing is an
// error, never a shorter list.
func TestSDKUsersOnLocalCloud(t *testing.T) {
	t.Parallel()
	srv, err := localcloud.New(localcloud.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	const region = "cn-hangzhou"
	ec, err := srv.ECSClient(region)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ess.NewSDKClient(srv.Addr(), region, srv.Credential())
	if err != nil {
		t.Fatal(err)
	}
	// 51 templates; the last has 23 versions and only version 22 names m-lt.
	for i := range 51 {
		req := sdkecs.CreateCreateLaunchTemplateRequest()
		req.LaunchTemplateName, req.ImageId = fmt.Sprintf("t%02d", i), ecs.SystemImageID
		if _, err := ec.CreateLaunchTemplate(req); err != nil {
			t.Fatal(err)
		}
	}
	for v := 2; v <= 23; v++ {
		req := sdkecs.CreateCreateLaunchTemplateVersionRequest()
		req.LaunchTemplateName, req.ImageId = "t50", ecs.SystemImageID
		if v == 22 {
			req.ImageId = "m-lt"
		}
		if _, err := ec.CreateLaunchTemplateVersion(req); err != nil {
			t.Fatal(err)
		}
	}
	g := sdkess.CreateCreateScalingGroupRequest()
	g.MinSize, g.MaxSize = requests.NewInteger(0), requests.NewInteger(1)
	gr, err := sc.CreateScalingGroup(g)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.ECS.AddInstance(region, ecs.InstanceSeed{ID: "i-x", Disks: []ecs.DiskSeed{{Type: "system", SizeGiB: 20}}}); err != nil {
		t.Fatal(err)
	}
	ci := sdkecs.CreateCreateImageRequest()
	ci.InstanceId, ci.ImageName = "i-x", "for-scaling"
	cir, err := ec.CreateImage(ci)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 52 {
		req := sdkess.CreateCreateScalingConfigurationRequest()
		req.ScalingGroupId, req.InstanceType, req.ImageId = gr.ScalingGroupId, "ecs.g7.large", ecs.SystemImageID
		if i == 51 {
			req.ImageId = cir.ImageId
		}
		if _, err := sc.CreateScalingConfiguration(req); err != nil {
			t.Fatal(err)
		}
	}

	users, err := ecsx.NewSDKUsers(ecsx.SDKConfig{Endpoint: srv.Addr(), Scheme: "HTTP",
		Credentials: func() (string, string, string) { return core.DefaultAccessKeyID, core.DefaultAccessKeySecret, "" }}, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	uses, err := users.ImageUses(ctx, region)
	if err != nil {
		t.Fatal(err)
	}
	by := map[string][]string{}
	for _, u := range uses {
		by[u.ImageID] = append(by[u.ImageID], u.User)
	}
	if u := by["m-lt"]; len(u) != 1 || !strings.Contains(u[0], "launch template") || !strings.Contains(u[0], "(t50) version 22") {
		t.Errorf("m-lt users: %q, want launch template t50 version 22", u)
	}
	if u := by[cir.ImageId]; len(u) != 1 || !strings.HasPrefix(u[0], "scaling configuration asc-") || !strings.Contains(u[0], gr.ScalingGroupId) {
		t.Errorf("%s users: %q, want one scaling configuration", cir.ImageId, u)
	}
	// The system image: 51 templates' v1 + 21 more versions of t50, 51 configurations,
	// and every seeded instance of the region launched from it.
	var insts, lts, cfgs int
	for _, u := range by[ecs.SystemImageID] {
		switch {
		case strings.HasPrefix(u, "instance "):
			insts++
		case strings.HasPrefix(u, "launch template "):
			lts++
		case strings.HasPrefix(u, "scaling configuration "):
			cfgs++
		}
	}
	if lts != 51+21 || cfgs != 51 || insts != len(srv.ECS.Instances(region)) {
		t.Errorf("system image users: %d template versions (want 72), %d configurations (want 51), %d instances (want %d)",
			lts, cfgs, insts, len(srv.ECS.Instances(region)))
	}

	// Any listing failing fails the whole answer.
	for _, f := range []struct{ svc, action string }{{"ecs", "DescribeInstances"}, {"ecs", "DescribeLaunchTemplates"},
		{"ecs", "DescribeLaunchTemplateVersions"}, {"ess", "DescribeScalingConfigurations"}} {
		srv.Env.Faults.Set(f.svc, f.action, core.FaultRule{FailNext: 1, ErrorStatus: 503})
		uses, err := users.ImageUses(ctx, region)
		if err == nil || uses != nil || !ecsx.IsRetryable(err) || !strings.Contains(err.Error(), f.action) {
			t.Errorf("%s failing: %d uses, err %v; want a retryable error naming it", f.action, len(uses), err)
		}
		srv.Env.Faults.Clear()
	}
	// With retry, one 503 is absorbed.
	srv.Env.Faults.Set("ess", "DescribeScalingConfigurations", core.FaultRule{FailNext: 1, ErrorStatus: 503})
	retried := ecsx.WithUsersRetry(users, ecsx.RetryConfig{Sleep: func(context.Context, time.Duration) error { return nil }})
	if again, err := retried.ImageUses(ctx, region); err != nil || len(again) != len(uses) {
		t.Errorf("with retry: %d uses, %v; want %d", len(again), err, len(uses))
	}
}
