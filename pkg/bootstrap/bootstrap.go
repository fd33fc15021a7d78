package bootstrap

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ram"
	sls "github.com/aliyun/aliyun-log-go-sdk"
	"github.com/aliyun/aliyun-oss-go-sdk/oss"

	"github.com/ecsdr/ecs-image-dr/pkg/obs"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
	"github.com/ecsdr/ecs-image-dr/pkg/redact"
)

// TrustPolicy lets Function Compute assume the role (and nobody else).
const TrustPolicy = `{"Statement":[{"Action":"sts:AssumeRole","Effect":"Allow","Principal":{"Service":["fc.aliyuncs.com"]}}],"Version":"1"}`

// Config names what Bootstrap creates. Defaults gives unique names per account.
type Config struct {
	AccountID, Region string
	RoleName          string
	PolicyName        string
	// PolicyTemplate is scripts/ram-policy.json.
	PolicyTemplate []byte
	// DRPolicy is the DR policy document; its catalog buckets are created and granted.
	DRPolicy []byte
	// ConfigBucket/PolicyKey: where DRPolicy is uploaded (s.yaml's DR_POLICY points there).
	// An empty ConfigBucket means the policy is inline in s.yaml: nothing is uploaded and
	// the role gets no read on a config object.
	ConfigBucket, PolicyKey string
	SLSProject, SLSLogstore string
	// ActionPolicyID is the SLS alert action policy the alerts notify through (DingTalk
	// webhook, email or SMS); default obs.DefaultActionPolicy.
	ActionPolicyID string
}

// Defaults returns the names of a first deployment in account and region: the SLS
// project and the config bucket carry the account id, since SLS project names are unique
// per region and bucket names globally.
func Defaults(accountID, region string) Config {
	return Config{
		AccountID: accountID, Region: region,
		RoleName: "ecs-image-dr-fc", PolicyName: "ecs-image-dr-fc",
		ConfigBucket: "ecs-image-dr-config-" + accountID, PolicyKey: "policy.yaml",
		SLSProject: "ecs-image-dr-" + accountID, SLSLogstore: "ecs-image-dr",
	}
}

// Clients are official SDK clients signed with an administrator's credentials.
type Clients struct {
	RAM *ram.Client
	SLS sls.ClientInterface
	// OSS returns a client for region's endpoint (buckets are made where they serve).
	OSS func(region string) (*oss.Client, error)
}

// Step is one resource Bootstrap looked at and what it did (created, updated, exists).
type Step = obs.Step

// RoleARN is the ARN s.yaml's role names.
func (c Config) RoleARN() string { return fmt.Sprintf("acs:ram::%s:role/%s", c.AccountID, c.RoleName) }

// PolicyDocument renders the role's policy for c.
func (c Config) PolicyDocument() ([]byte, error) {
	p := PolicyParams{AccountID: c.AccountID, SLSProject: c.SLSProject, SLSLogstore: c.SLSLogstore}
	if c.ConfigBucket != "" {
		p.ConfigBucket, p.PolicyKey = c.ConfigBucket, c.PolicyKey
	}
	buckets, err := c.catalogBuckets()
	if err != nil {
		return nil, err
	}
	for _, b := range buckets {
		p.CatalogBuckets = append(p.CatalogBuckets, b.name)
	}
	if pol, err := policy.Parse(c.DRPolicy); err == nil && pol.RDS != nil {
		p.OffsiteBuckets = append(p.OffsiteBuckets, pol.RDS.Destination.Bucket)
	}
	return RenderPolicy(c.PolicyTemplate, p)
}

type regionBucket struct{ region, name string }

func (c Config) catalogBuckets() ([]regionBucket, error) {
	pol, err := policy.Parse(c.DRPolicy)
	if err != nil {
		return nil, fmt.Errorf("dr policy: %w", redact.Error(err))
	}
	var out []regionBucket
	for _, r := range pol.DestinationRegions() {
		out = append(out, regionBucket{r, pol.CatalogBucket(r)})
	}
	return out, nil
}

// Run brings the account to the configured state; a second run reports every step
// "exists" (or "updated" when the policy template or the DR policy changed). Order: RAM
// first (the role must exist before `s deploy`), then SLS (FC refuses a logConfig whose
// project or logstore is missing), then OSS.
func Run(cl Clients, c Config) ([]Step, error) {
	var steps []Step
	doc, err := c.PolicyDocument()
	if err != nil {
		return nil, err
	}
	s, err := EnsureRole(cl.RAM, c, doc)
	steps = append(steps, s...)
	if err != nil {
		return steps, err
	}
	s, err = obs.Provision(cl.SLS, obs.ProvisionConfig{Project: c.SLSProject, Logstore: c.SLSLogstore, Region: c.Region,
		CreateProject: true, ActionPolicyID: c.ActionPolicyID})
	steps = append(steps, s...)
	if err != nil {
		return steps, err
	}
	s, err = ensureBuckets(cl.OSS, c)
	steps = append(steps, s...)
	return steps, err
}

func ramCode(err error) string {
	var se *sdkerrors.ServerError
	if errors.As(err, &se) {
		return se.ErrorCode()
	}
	return ""
}

// EnsureRole creates the role, the custom policy (or a new default version when the
// document changed) and the attachment.
func EnsureRole(c *ram.Client, cfg Config, doc []byte) ([]Step, error) {
	var steps []Step
	gr := ram.CreateGetRoleRequest()
	gr.RoleName = cfg.RoleName
	if _, err := c.GetRole(gr); err == nil {
		steps = append(steps, Step{Kind: "ram role", Name: cfg.RoleName, Outcome: "exists"})
	} else if ramCode(err) == "EntityNotExist.Role" {
		cr := ram.CreateCreateRoleRequest()
		cr.RoleName, cr.AssumeRolePolicyDocument = cfg.RoleName, TrustPolicy
		cr.Description = "ECS image DR functions (Function Compute)"
		if _, err := c.CreateRole(cr); err != nil {
			return steps, fmt.Errorf("ram: create role %s: %w", cfg.RoleName, redact.Error(err))
		}
		steps = append(steps, Step{Kind: "ram role", Name: cfg.RoleName, Outcome: "created"})
	} else {
		return steps, fmt.Errorf("ram: get role %s: %w", cfg.RoleName, redact.Error(err))
	}

	gp := ram.CreateGetPolicyRequest()
	gp.PolicyName, gp.PolicyType = cfg.PolicyName, "Custom"
	have, err := c.GetPolicy(gp)
	switch {
	case err == nil && sameJSON(have.DefaultPolicyVersion.PolicyDocument, string(doc)):
		steps = append(steps, Step{Kind: "ram policy", Name: cfg.PolicyName, Outcome: "exists"})
	case err == nil:
		v := ram.CreateCreatePolicyVersionRequest()
		v.PolicyName, v.PolicyDocument = cfg.PolicyName, string(doc)
		v.SetAsDefault = requests.NewBoolean(true)
		v.RotateStrategy = "DeleteOldestNonDefaultVersionWhenLimitExceeded"
		if _, err := c.CreatePolicyVersion(v); err != nil {
			return steps, fmt.Errorf("ram: new version of policy %s: %w", cfg.PolicyName, redact.Error(err))
		}
		steps = append(steps, Step{Kind: "ram policy", Name: cfg.PolicyName, Outcome: "updated"})
	case ramCode(err) == "EntityNotExist.Policy":
		cp := ram.CreateCreatePolicyRequest()
		cp.PolicyName, cp.PolicyDocument = cfg.PolicyName, string(doc)
		cp.Description = "Least privilege of the ECS image DR functions (scripts/ram-policy.json)"
		if _, err := c.CreatePolicy(cp); err != nil {
			return steps, fmt.Errorf("ram: create policy %s: %w", cfg.PolicyName, redact.Error(err))
		}
		steps = append(steps, Step{Kind: "ram policy", Name: cfg.PolicyName, Outcome: "created"})
	default:
		return steps, fmt.Errorf("ram: get policy %s: %w", cfg.PolicyName, redact.Error(err))
	}

	lp := ram.CreateListPoliciesForRoleRequest()
	lp.RoleName = cfg.RoleName
	attached, err := c.ListPoliciesForRole(lp)
	if err != nil {
		return steps, fmt.Errorf("ram: list policies of role %s: %w", cfg.RoleName, redact.Error(err))
	}
	if slices.ContainsFunc(attached.Policies.Policy, func(p ram.Policy) bool { return p.PolicyName == cfg.PolicyName }) {
		steps = append(steps, Step{Kind: "ram attach", Name: cfg.PolicyName + " -> " + cfg.RoleName, Outcome: "exists"})
		return steps, nil
	}
	ap := ram.CreateAttachPolicyToRoleRequest()
	ap.PolicyName, ap.PolicyType, ap.RoleName = cfg.PolicyName, "Custom", cfg.RoleName
	if _, err := c.AttachPolicyToRole(ap); err != nil {
		return steps, fmt.Errorf("ram: attach policy %s to role %s: %w", cfg.PolicyName, cfg.RoleName, redact.Error(err))
	}
	steps = append(steps, Step{Kind: "ram attach", Name: cfg.PolicyName + " -> " + cfg.RoleName, Outcome: "created"})
	return steps, nil
}

func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return a == b
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return bytes.Equal(ja, jb)
}

// ensureBuckets creates the config bucket (in c.Region) and each catalog bucket (in its
// destination region), and uploads the DR policy when it changed.
func ensureBuckets(newClient func(string) (*oss.Client, error), c Config) ([]Step, error) {
	var steps []Step
	buckets, err := c.catalogBuckets()
	if err != nil {
		return nil, err
	}
	if c.ConfigBucket != "" {
		buckets = append([]regionBucket{{c.Region, c.ConfigBucket}}, buckets...)
	}
	for _, b := range buckets {
		cl, err := newClient(b.region)
		if err != nil {
			return steps, fmt.Errorf("oss: client for %s: %w", b.region, redact.Error(err))
		}
		ok, err := cl.IsBucketExist(b.name)
		if err != nil {
			return steps, fmt.Errorf("oss: look up bucket %s: %w", b.name, redact.Error(err))
		}
		if ok {
			steps = append(steps, Step{Kind: "bucket", Name: b.name, Outcome: "exists"})
			continue
		}
		if err := cl.CreateBucket(b.name, oss.ACL(oss.ACLPrivate)); err != nil {
			return steps, fmt.Errorf("oss: create bucket %s in %s: %w", b.name, b.region, redact.Error(err))
		}
		steps = append(steps, Step{Kind: "bucket", Name: b.name, Outcome: "created"})
	}
	if c.ConfigBucket == "" {
		return steps, nil
	}
	cl, err := newClient(c.Region)
	if err != nil {
		return steps, err
	}
	bk, err := cl.Bucket(c.ConfigBucket)
	if err != nil {
		return steps, err
	}
	name := "oss://" + c.ConfigBucket + "/" + c.PolicyKey
	if r, err := bk.GetObject(c.PolicyKey); err == nil {
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(r)
		r.Close()
		if bytes.Equal(buf.Bytes(), c.DRPolicy) {
			return append(steps, Step{Kind: "policy", Name: name, Outcome: "exists"}), nil
		}
	}
	if err := bk.PutObject(c.PolicyKey, bytes.NewReader(c.DRPolicy), oss.ContentType("application/yaml")); err != nil {
		return steps, fmt.Errorf("oss: upload %s: %w", name, redact.Error(err))
	}
	return append(steps, Step{Kind: "policy", Name: name, Outcome: "uploaded"}), nil
}
