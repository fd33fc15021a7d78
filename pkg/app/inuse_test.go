package app_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	sdkecs "github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	sdkess "github.com/aliyun/alibaba-cloud-sdk-go/services/ess"

	"github.com/ecsdr/ecs-image-dr/pkg/app"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ess"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

const inUsePolicy = `name: it-inuse
timezone: Asia/Shanghai
sources:
  - region: cn-hangzhou
    selectors:
      - backup: daily
destinations:
  - region: cn-beijing
retention:
  source:
    keepLast: 10
  destination:
    keepLast: 1
`

// inUseSeed: five days of web-1's source images in cn-hangzhou (m-src1..5) and their
// copies in cn-beijing (m-cp1..5), made by policy it-inuse; m-cp3 is on hold.
func inUseSeed() *ecs.Seed {
	seed := ecs.DefaultSeed()
	start := at(1, 0, 0)
	for d := 1; d <= 5; d++ {
		created := start.Add(-time.Duration(6-d) * 24 * time.Hour)
		slot := created.In(shanghai).Format("20060102")
		tags := func(role string) map[string]string {
			return map[string]string{policy.TagManagedBy: policy.ManagedByValue, policy.TagPolicy: "it-inuse",
				policy.TagRole: role, policy.TagSourceInstance: web, policy.TagSlot: slot, policy.TagSourceRegion: hz}
		}
		src := fmt.Sprintf("m-src%d", d)
		seed.Images = append(seed.Images, ecs.ImageSeed{ID: src, Region: hz, Name: "dr-src-" + slot, Tags: tags(policy.RoleSource),
			CreationTime: created})
		ct := tags(policy.RoleCopy)
		ct[policy.TagSourceImage] = src
		if d == 3 {
			ct[policy.TagHold] = policy.HoldValue
		}
		seed.Images = append(seed.Images, ecs.ImageSeed{ID: fmt.Sprintf("m-cp%d", d), Region: bj, Name: "dr-copy-" + slot,
			Tags: ct, CreationTime: created.Add(time.Hour)})
	}
	return &seed
}

// A failover points a launch template (m-cp1) and a scaling configuration (m-cp2) at DR
// copies, and an operator holds m-cp3. Cleanup through the handler, on the local cloud,
// keeps all three past keepLast 1 with the reason recorded, and deletes only m-cp4. Before
// that, while the scaling configurations cannot be listed, cleanup deletes nothing and
// says why.
func TestCleanupKeepsHeldAndTemplateAndScalingImages(t *testing.T) {
	t.Parallel()
	c := newCloud(t, cloudOptions{seed: inUseSeed(), env: map[string]string{app.EnvPolicy: inUsePolicy}})
	if err := c.srv.OSS.CreateBucket(mustPolicy(t).CatalogBucket(bj), bj); err != nil {
		t.Fatal(err)
	}
	ec, err := c.srv.ECSClient(bj)
	if err != nil {
		t.Fatal(err)
	}
	lt := sdkecs.CreateCreateLaunchTemplateRequest()
	lt.LaunchTemplateName, lt.ImageId = "failover-web", ecs.SystemImageID
	ltr, err := ec.CreateLaunchTemplate(lt)
	if err != nil {
		t.Fatal(err)
	}
	v2 := sdkecs.CreateCreateLaunchTemplateVersionRequest()
	v2.LaunchTemplateId, v2.ImageId = ltr.LaunchTemplateId, "m-cp1" // version 2: the DR copy
	if _, err := ec.CreateLaunchTemplateVersion(v2); err != nil {
		t.Fatal(err)
	}
	sc, err := ess.NewSDKClient(c.srv.Addr(), bj, c.srv.Credential())
	if err != nil {
		t.Fatal(err)
	}
	g := sdkess.CreateCreateScalingGroupRequest()
	g.MinSize, g.MaxSize = requests.NewInteger(0), requests.NewInteger(10)
	gr, err := sc.CreateScalingGroup(g)
	if err != nil {
		t.Fatal(err)
	}
	cfg := sdkess.CreateCreateScalingConfigurationRequest()
	cfg.ScalingGroupId, cfg.ImageId, cfg.InstanceType = gr.ScalingGroupId, "m-cp2", "ecs.g7.large"
	cfr, err := sc.CreateScalingConfiguration(cfg)
	if err != nil {
		t.Fatal(err)
	}

	// The function's role lacks ess:DescribeScalingConfigurations (a RAM policy not yet
	// updated): cleanup cannot know whether ESS uses an image, so it deletes nothing, and
	// says why in each region. The cause is permanent, so the invocation does not fail
	// (an FC retry cannot help); the failed records carry the alert.
	c.srv.Env.Faults.Set("ess", "DescribeScalingConfigurations", core.FaultRule{FailNext: 2, ErrorStatus: 403, ErrorCode: "Forbidden.RAM"})
	now := at(1, 5, 0)
	c.clock.AdvanceTo(now)
	res, err := c.invoke(app.Cleanup, timerPayload(now, "daily", "cleanup"))
	if err != nil || res == nil || res.Cleanup == nil {
		t.Fatalf("cleanup without ESS permission: %+v, %v; want a summary and no invocation error", res, err)
	}
	if len(res.Cleanup.Deleted) != 0 {
		t.Errorf("deleted %+v while scaling configurations were unknown", res.Cleanup.Deleted)
	}
	if it, ok := findImage(res.Cleanup.Kept, "m-cp4"); !ok || !strings.Contains(it.Reason, "could not be listed") {
		t.Errorf("m-cp4 kept as %+v, want the refusal", it)
	}
	if len(res.Cleanup.Failed) != 2 {
		t.Errorf("failed %+v, want one record per region", res.Cleanup.Failed)
	}
	for _, f := range res.Cleanup.Failed {
		if f.Retryable || f.ErrorCode != "Forbidden.RAM" || !strings.Contains(f.Reason, "DescribeScalingConfigurations") {
			t.Errorf("failed record %+v, want Forbidden.RAM naming DescribeScalingConfigurations", f)
		}
	}
	n := 0
	for _, m := range c.stdout.JSONLines(t) {
		if m["action"] == "list-users" && m["result"] == "failed" && m["region"] == bj {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d list-users failed records for %s in the function's log, want 1", n, bj)
	}
	for d := 1; d <= 5; d++ {
		if !hasImage(c, bj, fmt.Sprintf("m-cp%d", d)) {
			t.Fatalf("m-cp%d deleted while the scaling configurations were unknown", d)
		}
	}

	c.srv.Env.Faults.Clear()
	res = c.mustInvoke("cleanup", app.Cleanup, timerPayload(now, "daily", "cleanup"))
	if len(res.Cleanup.Failed) != 0 {
		t.Fatalf("failed: %+v", res.Cleanup.Failed)
	}
	want := map[string]string{
		"m-cp1": "in use by launch template " + ltr.LaunchTemplateId + " (failover-web) version 2",
		"m-cp2": "in use by scaling configuration " + cfr.ScalingConfigurationId + " (group " + gr.ScalingGroupId + ")",
		"m-cp3": "held (ecs-dr:hold=true)",
		"m-cp5": "newest Available in region",
	}
	for id, reason := range want {
		it, ok := findImage(res.Cleanup.Kept, id)
		if !ok || !strings.Contains(it.Reason, reason) {
			t.Errorf("%s kept as %+v (found %v), want reason %q", id, it, ok, reason)
		}
		if !hasImage(c, bj, id) {
			t.Errorf("%s is gone", id)
		}
	}
	if len(res.Cleanup.Deleted) != 1 || res.Cleanup.Deleted[0].Image != "m-cp4" || hasImage(c, bj, "m-cp4") {
		t.Errorf("deleted %+v, want exactly m-cp4", res.Cleanup.Deleted)
	}
}

func mustPolicy(t *testing.T) *policy.Policy {
	t.Helper()
	p, err := policy.Parse([]byte(inUsePolicy))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func hasImage(c *cloud, region, id string) bool {
	for _, im := range c.srv.ECS.Images(region) {
		if im.ID == id {
			return true
		}
	}
	return false
}
