package ecsx

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ess"
)

// ImageUse is one user of an image in a region.
type ImageUse struct {
	ImageID string
	// User names the user for records: "instance i-…", "launch template lt-… (name)
	// version 3", "scaling configuration asc-… (group asg-…)".
	User string
}

// ImageUsers lists what would break if an image of a region were deleted: instances
// launched from it, launch template versions and scaling configurations that name it.
// DeleteImage refuses only the first (ImageUsingByInstance); the others would silently
// fail their next launch or scale-out, which during a failover is the worst moment.
//
// ImageUses returns every use in region, or an error when any kind of user could not be
// listed completely: callers must then treat every image of the region as possibly in use.
// A scaling group that launches from a launch template (not a scaling configuration) is
// covered by that template's versions; every version counts, not only the default, since
// any of them can be launched by number. Scaling configurations count whatever their
// LifecycleState (an Inactive one can be made Active again).
type ImageUsers interface {
	ImageUses(ctx context.Context, region string) ([]ImageUse, error)
}

// InstanceUsers is the ImageUsers that knows instances only (through api). It is the
// fallback for callers that have no launch template or ESS access configured, e.g. the
// in-memory fakes of unit tests.
func InstanceUsers(api API) ImageUsers { return instanceUsers{api} }

type instanceUsers struct{ api API }

func (u instanceUsers) ImageUses(ctx context.Context, region string) ([]ImageUse, error) {
	ins, err := u.api.DescribeInstances(ctx, region, InstanceQuery{})
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	out := make([]ImageUse, 0, len(ins))
	for _, in := range ins {
		if in.ImageID != "" {
			out = append(out, ImageUse{ImageID: in.ImageID, User: "instance " + in.ID})
		}
	}
	return out, nil
}

// UsersFunc adapts a function to ImageUsers.
type UsersFunc func(ctx context.Context, region string) ([]ImageUse, error)

// ImageUses calls f.
func (f UsersFunc) ImageUses(ctx context.Context, region string) ([]ImageUse, error) {
	return f(ctx, region)
}

// JoinUsers lists the uses of every source; the first error fails the whole listing
// (an incomplete list must never look complete).
func JoinUsers(srcs ...ImageUsers) ImageUsers {
	return UsersFunc(func(ctx context.Context, region string) ([]ImageUse, error) {
		var out []ImageUse
		for _, s := range srcs {
			uses, err := s.ImageUses(ctx, region)
			if err != nil {
				return nil, err
			}
			out = append(out, uses...)
		}
		return out, nil
	})
}

// WithUsersRetry retries each listing of u with the back-off of WithRetry on retryable
// errors (throttling, 5xx, per-request timeouts): the listings are reads.
func WithUsersRetry(u ImageUsers, cfg RetryConfig) ImageUsers {
	r := WithRetry(nil, cfg).(*retryAPI)
	return UsersFunc(func(ctx context.Context, region string) (out []ImageUse, err error) {
		err = r.do(ctx, IsRetryable, func() (e error) { out, e = u.ImageUses(ctx, region); return })
		return out, err
	})
}

// Launch template and scaling configuration pages: both APIs cap PageSize at 50.
const usersPageSize = 50

// NewSDKUsers returns the ImageUsers over the official SDKs: instances (ECS
// DescribeInstances), every version of every launch template (ECS DescribeLaunchTemplates
// and DescribeLaunchTemplateVersions), and every scaling configuration (ESS
// DescribeScalingConfigurations), all paged to the end, each page paced by cfg.Pace. ESS is reached at essEndpoint
// ("host:port" or a URL), else at cfg.Endpoint when set (one private endpoint serving every
// RPC product, as the local cloud does), else at the SDK's public regional endpoint.
func NewSDKUsers(cfg SDKConfig, essEndpoint string) (ImageUsers, error) {
	api, err := NewSDK(cfg)
	if err != nil {
		return nil, err
	}
	a := api.(*sdkAPI)
	u := &sdkUsers{ecs: a, essScheme: a.scheme, essHost: a.host}
	if essEndpoint != "" {
		u.essHost = essEndpoint
		if strings.Contains(essEndpoint, "://") {
			scheme, host, ok := strings.Cut(essEndpoint, "://")
			if !ok || host == "" {
				return nil, fmt.Errorf("ess: sdk config: endpoint %q is not host:port or a URL", essEndpoint)
			}
			u.essScheme, u.essHost = strings.ToUpper(scheme), strings.TrimSuffix(host, "/")
		}
	}
	return JoinUsers(instanceUsers{api}, UsersFunc(u.launchTemplateUses), UsersFunc(u.scalingConfigurationUses)), nil
}

type sdkUsers struct {
	ecs                *sdkAPI
	essScheme, essHost string
}

func (u *sdkUsers) launchTemplateUses(ctx context.Context, region string) ([]ImageUse, error) {
	const op = "DescribeLaunchTemplates"
	c, release, err := u.ecs.prepare(ctx, region)
	if err != nil {
		return nil, &Error{Op: op, Region: region, Err: err}
	}
	defer release()
	var templates []ecs.LaunchTemplateSet
	for page := 1; ; page++ {
		if page > pagesLimit {
			return nil, &Error{Op: op, Region: region, Err: fmt.Errorf("more than %d pages", pagesLimit)}
		}
		if err := u.ecs.pace(ctx, region, op); err != nil {
			return nil, &Error{Op: op, Region: region, Err: err}
		}
		req := ecs.CreateDescribeLaunchTemplatesRequest()
		req.RegionId = region
		req.PageNumber = requests.NewInteger(page)
		req.PageSize = requests.NewInteger(usersPageSize)
		resp, err := c.DescribeLaunchTemplates(req)
		if err != nil {
			return nil, wrap(op, "", region, err)
		}
		templates = append(templates, resp.LaunchTemplateSets.LaunchTemplateSet...)
		if len(resp.LaunchTemplateSets.LaunchTemplateSet) == 0 || len(templates) >= resp.TotalCount {
			break
		}
	}
	var out []ImageUse
	for _, lt := range templates {
		uses, err := u.templateVersionUses(ctx, c, region, lt)
		if err != nil {
			return nil, err
		}
		out = append(out, uses...)
	}
	return out, nil
}

// templateVersionUses lists every version of one template with its data (DetailFlag):
// any version can be launched by id, not only the default one.
func (u *sdkUsers) templateVersionUses(ctx context.Context, c *ecs.Client, region string, lt ecs.LaunchTemplateSet) ([]ImageUse, error) {
	const op = "DescribeLaunchTemplateVersions"
	var out []ImageUse
	seen := 0
	for page := 1; ; page++ {
		if page > pagesLimit {
			return nil, &Error{Op: op, Resource: lt.LaunchTemplateId, Region: region, Err: fmt.Errorf("more than %d pages", pagesLimit)}
		}
		if err := u.ecs.pace(ctx, region, op); err != nil {
			return nil, &Error{Op: op, Resource: lt.LaunchTemplateId, Region: region, Err: err}
		}
		req := ecs.CreateDescribeLaunchTemplateVersionsRequest()
		req.RegionId = region
		req.LaunchTemplateId = lt.LaunchTemplateId
		req.DetailFlag = requests.NewBoolean(true)
		req.PageNumber = requests.NewInteger(page)
		req.PageSize = requests.NewInteger(usersPageSize)
		resp, err := c.DescribeLaunchTemplateVersions(req)
		if err != nil {
			w := wrap(op, lt.LaunchTemplateId, region, err)
			if IsNotFound(w) {
				return out, nil // deleted between the two calls: no longer a user
			}
			return nil, w
		}
		vs := resp.LaunchTemplateVersionSets.LaunchTemplateVersionSet
		seen += len(vs)
		for _, v := range vs {
			if id := v.LaunchTemplateData.ImageId; id != "" {
				out = append(out, ImageUse{ImageID: id, User: fmt.Sprintf("launch template %s (%s) version %s",
					lt.LaunchTemplateId, lt.LaunchTemplateName, strconv.FormatInt(v.VersionNumber, 10))})
			}
		}
		if len(vs) == 0 || seen >= resp.TotalCount {
			return out, nil
		}
	}
}

func (u *sdkUsers) essClient(region string) (*ess.Client, error) {
	cfg := sdk.NewConfig().WithScheme(u.essScheme)
	cfg.AutoRetry = false
	newClientMu.Lock()
	c, err := ess.NewClientWithOptions(region, cfg, funcProvider(u.ecs.cfg.Credentials))
	newClientMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("new ess client for %s: %w", region, err)
	}
	if u.essHost != "" {
		c.Domain = u.essHost
		c.SetNoProxy(regexp.QuoteMeta(hostOnly(u.essHost)))
	}
	if t := u.ecs.cfg.Timeout; t > 0 {
		c.SetConnectTimeout(t)
		c.SetReadTimeout(t)
	}
	c.SetTransport(sharedTransport(u.ecs.cfg.Timeout, u.essHost != ""))
	return c, nil
}

func (u *sdkUsers) scalingConfigurationUses(ctx context.Context, region string) ([]ImageUse, error) {
	const op = "DescribeScalingConfigurations"
	if err := ctx.Err(); err != nil {
		return nil, &Error{Op: op, Region: region, Err: err}
	}
	c, err := u.essClient(region)
	if err != nil {
		return nil, &Error{Op: op, Region: region, Err: err}
	}
	var out []ImageUse
	seen := 0
	for page := 1; page <= pagesLimit; page++ {
		if err := u.ecs.pace(ctx, region, op); err != nil { // the same limiter, keyed by action
			return nil, &Error{Op: op, Region: region, Err: err}
		}
		req := ess.CreateDescribeScalingConfigurationsRequest()
		req.RegionId = region
		req.PageNumber = requests.NewInteger(page)
		req.PageSize = requests.NewInteger(usersPageSize)
		resp, err := c.DescribeScalingConfigurations(req)
		if err != nil {
			return nil, wrap(op, "", region, err)
		}
		scs := resp.ScalingConfigurations.ScalingConfiguration
		seen += len(scs)
		for _, sc := range scs {
			if sc.ImageId != "" {
				out = append(out, ImageUse{ImageID: sc.ImageId, User: fmt.Sprintf("scaling configuration %s (group %s)",
					sc.ScalingConfigurationId, sc.ScalingGroupId)})
			}
		}
		if len(scs) == 0 || seen >= resp.TotalCount {
			return out, nil
		}
	}
	return nil, &Error{Op: op, Region: region, Err: fmt.Errorf("more than %d pages", pagesLimit)}
}
