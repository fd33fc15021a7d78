package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/app"
	"github.com/ecsdr/ecs-image-dr/pkg/bootstrap"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// roleName is the functions' role, as scripts/bootstrap creates it.
const roleName = "ecs-image-dr-fc"

// policyParams are the names the functions are configured with now (c.env), as an
// operator would pass them to scripts/bootstrap.
func (c *cloud) policyParams() bootstrap.PolicyParams {
	p := bootstrap.PolicyParams{AccountID: core.DefaultAccountID,
		SLSProject: c.env[app.EnvSLSProject], SLSLogstore: c.env[app.EnvSLSLogstore]}
	if p.SLSLogstore == "" {
		p.SLSLogstore = "ecs-image-dr"
	}
	doc := c.env[app.EnvPolicy]
	if loc, ok := strings.CutPrefix(doc, "oss://"); ok {
		p.ConfigBucket, p.PolicyKey, _ = strings.Cut(loc, "/")
		b, _ := c.srv.OSS.Object(p.ConfigBucket, p.PolicyKey)
		doc = string(b)
	}
	if pol, err := policy.Parse([]byte(doc)); err == nil {
		for _, r := range pol.DestinationRegions() {
			p.CatalogBuckets = append(p.CatalogBuckets, pol.CatalogBucket(r))
		}
		if pol.RDS != nil {
			p.OffsiteBuckets = append(p.OffsiteBuckets, pol.RDS.Destination.Bucket)
			if r := pol.RDS.Destination.Region; r != "" {
				p.CatalogBuckets = append(p.CatalogBuckets, pol.CatalogBucket(r))
			}
		}
	}
	return p
}

// roleCreds makes sure the functions' role exists with the project's own policy
// (scripts/ram-policy.json rendered for the current configuration, as scripts/bootstrap
// does) and returns fresh STS credentials of that role: every call the function makes is
// then evaluated by the local RAM.
func (c *cloud) roleCreds(ttl time.Duration) core.Credential {
	c.t.Helper()
	doc, err := bootstrap.RenderPolicy(bootstrap.PolicyTemplate, c.policyParams())
	if err != nil {
		c.t.Fatal(err)
	}
	if c.editRAMPolicy != nil {
		doc = c.editRAMPolicy(doc)
	}
	rc, err := c.srv.RAMClient()
	if err != nil {
		c.t.Fatal(err)
	}
	cfg := bootstrap.Config{AccountID: core.DefaultAccountID, RoleName: roleName, PolicyName: roleName}
	if _, err := bootstrap.EnsureRole(rc, cfg, doc); err != nil {
		c.t.Fatalf("bootstrap role: %v", err)
	}
	cr, err := c.srv.Env.Creds.IssueRoleSTS(cfg.RoleARN(), ttl)
	if err != nil {
		c.t.Fatal(err)
	}
	return cr
}

// Issue 11 point 1: with the role's credentials, RAM refuses deleting an image without
// our tags even when the product's own ownership check is bypassed (the ECS adapter
// called directly), and allows it on an image tagged as ours.
func TestRAMRefusesDeletingAnImageWithoutOurTags(t *testing.T) {
	t.Parallel()
	doc, _ := loadPolicy(t, "cycle-policy.yaml")
	seed := cycleSeed()
	const ours = "m-itoursdeletable001"
	seed.Images = append(seed.Images, ecs.ImageSeed{ID: ours, Region: hz, Name: "ours", SizeGiB: 40,
		Tags: map[string]string{policy.TagManagedBy: policy.ManagedByValue, policy.TagPolicy: "it-cycle"}})
	c := newCloud(t, cloudOptions{seed: seed, env: map[string]string{app.EnvPolicy: doc}})
	cr := c.roleCreds(time.Hour)
	api, err := ecsx.NewSDK(ecsx.SDKConfig{Endpoint: c.srv.Addr(), Scheme: "HTTP",
		Credentials: func() (string, string, string) { return cr.AccessKeyID, cr.AccessKeySecret, cr.SecurityToken }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	err = api.DeleteImage(ctx, hz, manualImage, true)
	if ecsx.Code(err) != "Forbidden.RAM" || ecsx.IsRetryable(err) {
		t.Fatalf("DeleteImage of the untagged image: %v, want a permanent Forbidden.RAM", err)
	}
	for _, w := range []string{"ecs:DeleteImage", "acs:ecs:" + hz + ":" + core.DefaultAccountID + ":image/" + manualImage} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("refusal %q does not name %s", err, w)
		}
	}
	if !hasImage(c, hz, manualImage) {
		t.Fatal("the untagged image is gone")
	}
	// The same call on an image tagged as ours is allowed: the refusal was the tag condition.
	if err := api.DeleteImage(ctx, hz, ours, false); err != nil {
		t.Fatalf("DeleteImage of our image: %v", err)
	}
	if hasImage(c, hz, ours) {
		t.Fatal("our image was not deleted")
	}
	// OSS: a bucket the policy does not name is refused with OSS's AccessDenied.
	if err := c.srv.OSS.CreateBucket("not-a-catalog", hz); err != nil {
		t.Fatal(err)
	}
	st, err := ossx.New(c.srv.URL(), cr.AccessKeyID, cr.AccessKeySecret, cr.SecurityToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, "not-a-catalog", "x", []byte("x"), ossx.PutOptions{}); ossx.Code(err) != "AccessDenied" ||
		!strings.Contains(err.Error(), "oss:PutObject") {
		t.Errorf("Put to a bucket outside the policy: %v, want AccessDenied naming oss:PutObject", err)
	}
	// The account's own key is not restricted: the refusal came from the role's policy.
	root := c.srv.Credential()
	admin, _ := ecsx.NewSDK(ecsx.SDKConfig{Endpoint: c.srv.Addr(), Scheme: "HTTP",
		Credentials: func() (string, string, string) { return root.AccessKeyID, root.AccessKeySecret, "" }})
	if err := admin.DeleteImage(ctx, hz, manualImage, true); err != nil {
		t.Fatalf("DeleteImage with the account key: %v", err)
	}
}

// A role missing a permission: cleanup gets one clear record per refused image naming the
// action and the resource, deletes nothing (no snapshot of a kept image goes), and the
// invocation does not fail into FC's retries (a refusal is permanent).
func TestMissingPermissionIsOneClearRecordAndNoPartialDeletion(t *testing.T) {
	t.Parallel()
	doc, pol := loadPolicy(t, "cycle-policy.yaml")
	c := newCloud(t, cloudOptions{seed: cycleSeed(), env: map[string]string{app.EnvPolicy: doc}})
	for _, r := range pol.DestinationRegions() {
		if err := c.srv.OSS.CreateBucket(pol.CatalogBucket(r), r); err != nil {
			t.Fatal(err)
		}
	}
	for day := 1; day <= 3; day++ {
		c.clock.AdvanceTo(at(day, 2, 0))
		c.mustInvoke("create", app.CreateImage, timerPayload(at(day, 2, 0), "daily", "create"))
		c.settle(2*time.Hour, hz)
	}
	before := len(c.managed(hz, pol))
	snapsBefore := len(c.srv.ECS.Snapshots(hz))
	c.editRAMPolicy = func(b []byte) []byte {
		return []byte(strings.Replace(string(b), `,
        "ecs:DeleteImage"`, "", 1))
	}
	c.clock.AdvanceTo(at(3, 4, 0))
	res, err := c.invoke(app.Cleanup, timerPayload(at(3, 4, 0), "daily", "cleanup"))
	if res == nil || res.Cleanup == nil {
		t.Fatalf("cleanup: %v %+v", err, res)
	}
	if len(res.Cleanup.Failed) != 2 || len(res.Cleanup.Deleted) != 0 || len(res.Cleanup.SnapshotsDeleted) != 0 {
		t.Fatalf("cleanup: %d failed, %d deleted, %d snapshots deleted; want the 2 refused deletions and nothing deleted",
			len(res.Cleanup.Failed), len(res.Cleanup.Deleted), len(res.Cleanup.SnapshotsDeleted))
	}
	for _, it := range res.Cleanup.Failed {
		if it.ErrorCode != "Forbidden.RAM" || it.Retryable {
			t.Errorf("failed item %+v: want a permanent Forbidden.RAM", it)
		}
	}
	if n := len(c.managed(hz, pol)); n != before {
		t.Errorf("%d managed images left of %d", n, before)
	}
	if n := len(c.srv.ECS.Snapshots(hz)); n != snapsBefore {
		t.Errorf("%d snapshots left of %d", n, snapsBefore)
	}
	refused := 0
	for _, r := range c.stdout.JSONLines(t) {
		if r["error_code"] == "Forbidden.RAM" && r["action"] == "delete" {
			refused++
			if e, _ := r["error"].(string); !strings.Contains(e, "ecs:DeleteImage") || !strings.Contains(e, ":image/m-") {
				t.Errorf("refusal record does not name the action and resource: %v", r)
			}
		}
	}
	if refused != 2 {
		t.Errorf("%d refusal records on stdout, want one per refused image (2):\n%s", refused, c.stdout)
	}
}
