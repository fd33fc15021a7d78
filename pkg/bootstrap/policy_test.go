package bootstrap_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/ecsdr/ecs-image-dr/pkg/bootstrap"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ram"
	"github.com/ecsdr/ecs-image-dr/pkg/offsite"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
	"github.com/ecsdr/ecs-image-dr/pkg/sconfig"
)

const account = "1234567890123456"

// codeActions maps every method of the product's cloud ports to the RAM actions it needs.
// The test derives the method list from the ports themselves: a method added to ecsx.API
// or ossx.Store without a row here fails TestPolicyGrantsExactlyWhatTheCodeCalls, which
// says what to add (here and to scripts/ram-policy.json).
var codeActions = map[string][]string{
	"ecsx.DescribeInstances": {"ecs:DescribeInstances"},
	"ecsx.DescribeImages":    {"ecs:DescribeImages"},
	"ecsx.CreateImage":       {"ecs:CreateImage"},
	"ecsx.CopyImage":         {"ecs:CopyImage"},
	"ecsx.DeleteImage":       {"ecs:DeleteImage"},
	"ecsx.DeleteSnapshot":    {"ecs:DeleteSnapshot"},
	"ecsx.DescribeSnapshots": {"ecs:DescribeSnapshots"},
	"ecsx.TagResources":      {"ecs:TagResources"},   // our images; snapshots of our images, with our tag only
	"ecsx.UntagResources":    {"ecs:UntagResources"}, // our images only (work markers)
	"ossx.Get":               {"oss:GetObject"},
	"ossx.Put":               {"oss:PutObject"},
	"ossx.List":              {"oss:ListObjects"},
	"ossx.Delete":            {"oss:DeleteObject"},
	"ossx.BucketRegion":      {"oss:GetBucketLocation"},
	"ossx.Initiate":          {"oss:PutObject"},
	"ossx.UploadPart":        {"oss:PutObject"},
	"ossx.Complete":          {"oss:PutObject"},
	"ossx.ListParts":         {"oss:ListParts"},
	"ossx.ListUploads":       {"oss:ListMultipartUploads"},
	"ossx.Abort":             {"oss:AbortMultipartUpload"},
	"ossx.Head":              {"oss:GetObject"},
	"ossx.Open":              {"oss:GetObject"},
	"ecsx.ImageUses":         {"ecs:DescribeLaunchTemplates", "ecs:DescribeLaunchTemplateVersions", "ess:DescribeScalingConfigurations"},
	"ecsx.DescribeDisks":     {"ecs:DescribeDisks"},
	"ecsx.DescribeRAMRoles":  {"ecs:DescribeInstanceRamRole"},
	// The rest of ecsx.Compute serves restores and drills (pkg/restore): drctl runs them with
	// an operator's credentials, the dr-drill function with the role.
	"ecsx.RunInstance": {"ecs:RunInstances"}, "ecsx.DeleteInstance": {"ecs:DeleteInstance"},
	"ecsx.DescribeVSwitches": {"ecs:DescribeVSwitches"}, "ecsx.DescribeSecurityGroups": {"ecs:DescribeSecurityGroups"},
	"ecsx.AvailableTypes": {"ecs:DescribeAvailableResource"}, "ecsx.DescribeInstanceTypes": {"ecs:DescribeInstanceTypes"},
	"ecsx.RunCommand": {"ecs:RunCommand"}, "ecsx.DescribeInvocation": {"ecs:DescribeInvocationResults"},
	"ecsx.TagInstance":  {"ecs:TagResources"}, // drill instances (state tags)
	"offsite.Instances": {"rds:DescribeDBInstances"},
	"offsite.Backups":   {"rds:DescribeBackups"},
	"offsite.LogFiles":  {"rds:DescribeBinlogFiles"},
	"offsite.Open":      nil, // a presigned download URL: no RAM action
	// pkg/obs's SLS sink (PutLogs), when DR_SLS_PROJECT is set.
	"obs.PutLogs": {"log:PostLogStoreLogs"},
}

func portMethods() []string {
	var out []string
	for prefix, t := range map[string]reflect.Type{
		"ecsx":         reflect.TypeFor[ecsx.API](),
		"ecsx.Compute": reflect.TypeFor[ecsx.Compute](),
		"ecsx.Users":   reflect.TypeFor[ecsx.ImageUsers](),
		"ossx":         reflect.TypeFor[ossx.Store](),
		"ossx.Multi":   reflect.TypeFor[ossx.Multipart](),
		"offsite":      reflect.TypeFor[offsite.RDS](),
	} {
		prefix, _, _ = strings.Cut(prefix, ".")
		for i := range t.NumMethod() {
			if m := prefix + "." + t.Method(i).Name; !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	return append(out, "obs.PutLogs")
}

func templateActions(t *testing.T, doc []byte) (actions []string, condKeys []string) {
	t.Helper()
	d, err := ram.ParseDocument(string(doc))
	if err != nil {
		t.Fatalf("policy: %v", err)
	}
	for _, s := range d.Statement {
		if s.Effect != "Allow" {
			continue
		}
		for _, a := range s.Action {
			if strings.ContainsAny(a, "*?") {
				t.Errorf("action %q: wildcards grant what the code does not call", a)
			}
			if !slices.Contains(actions, a) {
				actions = append(actions, a)
			}
		}
		for _, keys := range s.Condition {
			for k := range keys {
				condKeys = append(condKeys, k)
			}
		}
	}
	sort.Strings(actions)
	return actions, condKeys
}

// Issue 11 point 2: the policy grants exactly the actions the code calls, and only
// Alibaba Cloud condition keys.
func TestPolicyGrantsExactlyWhatTheCodeCalls(t *testing.T) {
	t.Parallel()
	var want []string
	for _, m := range portMethods() {
		acts, ok := codeActions[m]
		if !ok {
			t.Errorf("port method %s has no RAM action: add it to codeActions and grant it in scripts/ram-policy.json "+
				"(and pkg/bootstrap/ram-policy.json), on the narrowest resource", m)
			continue
		}
		for _, a := range acts {
			if !slices.Contains(want, a) {
				want = append(want, a)
			}
		}
	}
	sort.Strings(want)
	got, keys := templateActions(t, bootstrap.PolicyTemplate)
	for _, a := range got {
		if !slices.Contains(want, a) {
			t.Errorf("the policy grants %s, which no port method calls: remove it", a)
		}
	}
	for _, a := range want {
		if !slices.Contains(got, a) {
			t.Errorf("the code calls %s, which the policy does not grant", a)
		}
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "acs:") && !strings.HasPrefix(k, "ecs:tag/") && !strings.HasPrefix(k, "oss:") && !strings.HasPrefix(k, "log:") {
			t.Errorf("condition key %q is not an Alibaba Cloud key (e.g. kms:ViaService is AWS's)", k)
		}
	}
}

// scripts/ram-policy.json, which operators read, is the template the code embeds.
func TestScriptsPolicyIsTheTemplate(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "..", "scripts", "ram-policy.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, bootstrap.PolicyTemplate) {
		t.Fatal("scripts/ram-policy.json and pkg/bootstrap/ram-policy.json differ: keep them identical")
	}
}

// Issue 11 point 2: the policy bootstrap renders for the default s.yaml and the README's
// example policy covers every resource they point at, and only with our tags for deletion
// and copy. The first-deploy failure (a DR_POLICY object the role cannot read) cannot
// come back unnoticed.
func TestPolicyCoversWhatSYamlAndTheExamplePointAt(t *testing.T) {
	t.Parallel()
	p, err := sconfig.Load(filepath.Join("..", "..", "s.yaml"), map[string]string{}, map[string]string{"AccountID": account})
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile(filepath.Join("..", "..", "events", "policy.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Parse(example)
	if err != nil {
		t.Fatal(err)
	}
	cfg := bootstrap.Defaults(account, p.Functions[0].Region)
	cfg.PolicyTemplate, cfg.DRPolicy = bootstrap.PolicyTemplate, example
	docText, err := cfg.PolicyDocument()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := ram.ParseDocument(string(docText))
	if err != nil {
		t.Fatal(err)
	}
	docs := []*ram.Document{doc}
	allowed := func(action, resource string, keys map[string][]string) bool {
		return ram.Evaluate(docs, action, resource, keys) == ram.Allow
	}
	ours := map[string][]string{"ecs:tag/" + policy.TagManagedBy: {policy.ManagedByValue}}
	ourRequest := map[string][]string{"acs:RequestTag/" + policy.TagManagedBy: {policy.ManagedByValue}}

	for _, f := range p.Functions {
		loc := strings.ReplaceAll(f.Env["DR_POLICY"], "{account}", account)
		bucket, key, ok := strings.Cut(strings.TrimPrefix(loc, "oss://"), "/")
		if !ok || !strings.HasPrefix(loc, "oss://") {
			t.Fatalf("%s: default DR_POLICY %q is not an oss:// location", f.Name, loc)
		}
		if bucket != cfg.ConfigBucket || key != cfg.PolicyKey {
			t.Errorf("%s: DR_POLICY %s is not where bootstrap uploads the policy (%s/%s)", f.Name, loc, cfg.ConfigBucket, cfg.PolicyKey)
		}
		if !allowed("oss:GetObject", "acs:oss:*:"+account+":"+bucket+"/"+key, nil) {
			t.Errorf("%s: the role cannot read its policy %s", f.Name, loc)
		}
		if allowed("oss:PutObject", "acs:oss:*:"+account+":"+bucket+"/"+key, nil) {
			t.Errorf("%s: the role may overwrite its own policy", f.Name)
		}
		if f.Role != cfg.RoleARN() {
			t.Errorf("%s: role %s, bootstrap creates %s", f.Name, f.Role, cfg.RoleARN())
		}
	}
	if got := p.Functions[0].LogProject; got != cfg.SLSProject {
		t.Errorf("s.yaml logConfig project %q, bootstrap creates %q", got, cfg.SLSProject)
	}
	slsARN := "acs:log:" + cfg.Region + ":" + account + ":project/" + cfg.SLSProject + "/logstore/" + cfg.SLSLogstore
	if !allowed("log:PostLogStoreLogs", slsARN, nil) {
		t.Errorf("the sink cannot write %s", slsARN)
	}
	if allowed("log:PostLogStoreLogs", "acs:log:"+cfg.Region+":"+account+":project/"+cfg.SLSProject+"/logstore/other", nil) {
		t.Error("the role may write any logstore of the project")
	}
	for _, r := range pol.DestinationRegions() {
		b := pol.CatalogBucket(r)
		for _, a := range []string{"oss:GetObject", "oss:PutObject", "oss:DeleteObject"} {
			if !allowed(a, "acs:oss:*:"+account+":"+b+"/"+pol.Name+"/x.json", nil) {
				t.Errorf("%s denied on catalog bucket %s", a, b)
			}
		}
		if !allowed("oss:ListObjects", "acs:oss:*:"+account+":"+b, nil) {
			t.Errorf("oss:ListObjects denied on catalog bucket %s", b)
		}
	}
	if allowed("oss:GetObject", "acs:oss:*:"+account+":someone-elses-bucket/x", nil) {
		t.Error("the role may read any bucket")
	}
	img := "acs:ecs:cn-hangzhou:" + account + ":image/m-1"
	for _, a := range []string{"ecs:DeleteImage", "ecs:CopyImage"} {
		if !allowed(a, img, ours) {
			t.Errorf("%s denied on an image tagged as ours", a)
		}
		if allowed(a, img, nil) || allowed(a, img, map[string][]string{"ecs:tag/" + policy.TagManagedBy: {"someone"}}) {
			t.Errorf("%s allowed on an image not tagged as ours", a)
		}
	}
	inst := "acs:ecs:cn-hangzhou:" + account + ":instance/i-1"
	if !allowed("ecs:CreateImage", inst, ourRequest) || allowed("ecs:CreateImage", inst, nil) {
		t.Error("CreateImage must be allowed exactly when the new image is tagged as ours")
	}
	b, _ := json.Marshal(doc)
	if len(b) > 6144 {
		t.Errorf("rendered policy is %d bytes; RAM's custom policy limit is 6144", len(b))
	}
}
