package localcloud_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sdkram "github.com/aliyun/alibaba-cloud-sdk-go/services/ram"

	"github.com/ecsdr/ecs-image-dr/pkg/bootstrap"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	lcsls "github.com/ecsdr/ecs-image-dr/pkg/localcloud/sls"
	"github.com/ecsdr/ecs-image-dr/pkg/obs"
)

// Issue 11 point 3: bootstrap (official RAM, SLS and OSS SDKs) creates everything a first
// `s deploy` needs on an empty account, a second run changes nothing, and a changed
// template becomes a new default policy version.
func TestBootstrapIsIdempotent(t *testing.T) {
	t.Parallel()
	srv, err := localcloud.New(localcloud.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	example, err := os.ReadFile(filepath.Join("..", "..", "events", "policy.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := bootstrap.Defaults(core.DefaultAccountID, "cn-hangzhou")
	cfg.PolicyTemplate, cfg.DRPolicy = bootstrap.PolicyTemplate, example

	outcomes := func(steps []bootstrap.Step) map[string]string {
		m := map[string]string{}
		for _, s := range steps {
			m[s.Kind+" "+s.Name] = s.Outcome
		}
		return m
	}
	first, err := srv.Bootstrap(cfg)
	if err != nil {
		t.Fatalf("first run: %v", err)
	}
	for k, o := range outcomes(first) {
		if o != "created" && o != "uploaded" {
			t.Errorf("first run: %s %s, want created", k, o)
		}
	}
	for _, want := range []string{"ram role ecs-image-dr-fc", "ram policy ecs-image-dr-fc", "project " + cfg.SLSProject,
		"logstore " + cfg.SLSLogstore, "bucket " + cfg.ConfigBucket, "policy oss://" + cfg.ConfigBucket + "/policy.yaml"} {
		if _, ok := outcomes(first)[want]; !ok {
			t.Errorf("first run has no step %q: %v", want, first)
		}
	}
	if !srv.RAM.HasRole(cfg.RoleName) {
		t.Fatal("no role")
	}
	if b, ok := srv.OSS.Object(cfg.ConfigBucket, cfg.PolicyKey); !ok || string(b) != string(example) {
		t.Error("the policy was not uploaded")
	}
	second, err := srv.Bootstrap(cfg)
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	for k, o := range outcomes(second) {
		if o != "exists" {
			t.Errorf("second run: %s %s, want exists", k, o)
		}
	}
	cfg.PolicyTemplate = []byte(strings.Replace(string(bootstrap.PolicyTemplate), `"ecs:DeleteSnapshot"`, `"ecs:DeleteSnapshot", "ecs:DescribeSnapshots"`, 1))
	third, err := srv.Bootstrap(cfg)
	if err != nil {
		t.Fatalf("third run: %v", err)
	}
	if o := outcomes(third)["ram policy ecs-image-dr-fc"]; o != "updated" {
		t.Errorf("changed template: policy %s, want updated", o)
	}

	// The RAM API answers like the real one through the SDK.
	rc, err := srv.RAMClient()
	if err != nil {
		t.Fatal(err)
	}
	cr := sdkram.CreateCreateRoleRequest()
	cr.RoleName, cr.AssumeRolePolicyDocument = cfg.RoleName, bootstrap.TrustPolicy
	if _, err := rc.CreateRole(cr); ecsx.Code(err) != "EntityAlreadyExists.Role" {
		t.Errorf("CreateRole twice: %v", err)
	}
	gp := sdkram.CreateGetPolicyRequest()
	gp.PolicyName, gp.PolicyType = cfg.PolicyName, "Custom"
	got, err := rc.GetPolicy(gp)
	if err != nil || got.Policy.DefaultVersion != "v2" || !strings.Contains(got.DefaultPolicyVersion.PolicyDocument, "DescribeSnapshots") {
		t.Errorf("GetPolicy: %v %+v", err, got)
	}
	bad := sdkram.CreateCreatePolicyRequest()
	bad.PolicyName, bad.PolicyDocument = "bad", `{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringEqualz":{"kms:ViaService":"x"}}}]}`
	if _, err := rc.CreatePolicy(bad); ecsx.Code(err) != "MalformedPolicyDocument" {
		t.Errorf("CreatePolicy with an unknown operator: %v", err)
	}

	// The role's credentials are evaluated: SLS refuses a logstore the policy does not name.
	sts, err := srv.Env.Creds.IssueRoleSTS(cfg.RoleARN(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, err = obs.Provision(lcsls.NewSDKClient(srv.Addr(), sts), obs.ProvisionConfig{Project: cfg.SLSProject, Logstore: "other", Region: "cn-hangzhou"})
	if err == nil || !strings.Contains(err.Error(), "Unauthorized") {
		t.Errorf("the role provisioned a logstore: %v", err)
	}
}
