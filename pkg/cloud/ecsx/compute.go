package ecsx

// The restore side of the ECS port: what rebuilding a server in the DR region needs
// (RunInstances, DeleteInstance, networks, stock, Cloud Assistant) and what the create run
// gathers about each instance so that a restore can rebuild it (disks, RAM roles). Every
// list call returns every page; the adapter is the same sdkAPI as API.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
)

// InstanceConfig is the configuration of an instance that DescribeInstances returns.
type InstanceConfig struct {
	Zone, InstanceType, OSType  string
	VpcID, VSwitchID, PrivateIP string
	SecurityGroupIDs            []string
	HostName, KeyPairName       string
	CPU, MemoryMiB              int
	// StartedAt is when the instance last became Running (zero while it boots).
	StartedAt time.Time
}

// Disk is one disk attached to an instance.
type Disk struct {
	ID, InstanceID, Type, Category, Device string
	SizeGiB                                int
}

// VSwitch is one vSwitch (subnet).
type VSwitch struct{ ID, VpcID, Zone, CIDR string }

// SecurityGroup is one security group.
type SecurityGroup struct{ ID, VpcID, Name string }

// InstanceType is one instance type with its size.
type InstanceType struct {
	Name, Family string
	CPU          int
	MemoryGiB    float64
}

// RunInstanceInput launches one instance (Amount 1).
type RunInstanceInput struct {
	ImageID, InstanceType, VSwitchID, PrivateIP string
	SecurityGroupIDs                            []string
	Name, HostName, KeyPairName, RAMRole        string
	SystemDiskCategory                          string
	SystemDiskGiB                               int
	DataDisks                                   []Disk // Device, Category, SizeGiB
	Tags                                        map[string]string
	// ClientToken makes a repeated call return the same instance.
	ClientToken string
}

// Invocation is the result of a Cloud Assistant command on one instance.
type Invocation struct {
	// Status: Running, Success, Failed, Timeout, Error, ... (InvocationStatus).
	Status               string
	Finished             bool
	ExitCode             int64
	Output               string
	ErrorCode, ErrorInfo string
	// StartedAt and FinishedAt: when the command started and ended on the instance (zero
	// while unknown or running).
	StartedAt, FinishedAt time.Time
}

// Compute is the restore-side ECS port. Errors follow the API contract (classifiable
// *Error values).
type Compute interface {
	// DescribeDisks returns every disk of the region (all pages: one call per 100 disks).
	DescribeDisks(ctx context.Context, region string) ([]Disk, error)
	// DescribeRAMRoles returns instance id -> RAM role name for ids (chunks of 100).
	DescribeRAMRoles(ctx context.Context, region string, ids []string) (map[string]string, error)
	RunInstance(ctx context.Context, region string, in RunInstanceInput) (string, error)
	// DeleteInstance fails with IncorrectInstanceStatus while the instance is Pending or
	// Starting; force deletes a Running one.
	DeleteInstance(ctx context.Context, region, id string, force bool) error
	DescribeVSwitches(ctx context.Context, region string) ([]VSwitch, error)
	DescribeSecurityGroups(ctx context.Context, region string) ([]SecurityGroup, error)
	// AvailableTypes returns, for zone, instance type -> has stock.
	AvailableTypes(ctx context.Context, region, zone string) (map[string]bool, error)
	DescribeInstanceTypes(ctx context.Context, region string) ([]InstanceType, error)
	RunCommand(ctx context.Context, region, instanceID, script string, timeout time.Duration) (string, error)
	DescribeInvocation(ctx context.Context, region, invokeID, instanceID string) (Invocation, error)
	// TagInstance adds tags to an instance (TagResources).
	TagInstance(ctx context.Context, region, id string, tags map[string]string) error
}

// NewCompute returns the Compute port over the official SDK (same configuration as NewSDK).
func NewCompute(cfg SDKConfig) (Compute, error) {
	api, err := NewSDK(cfg)
	if err != nil {
		return nil, err
	}
	return api.(*sdkAPI), nil
}

func (a *sdkAPI) DescribeDisks(ctx context.Context, region string) ([]Disk, error) {
	const op = "DescribeDisks"
	c, release, err := a.prepare(ctx, region)
	if err != nil {
		return nil, &Error{Op: op, Region: region, Err: err}
	}
	defer release()
	var out []Disk
	for page := 1; page <= pagesLimit; page++ {
		if err := ctx.Err(); err != nil {
			return nil, &Error{Op: op, Region: region, Err: err}
		}
		req := ecs.CreateDescribeDisksRequest()
		req.RegionId = region
		req.PageNumber, req.PageSize = requests.NewInteger(page), requests.NewInteger(100)
		resp, err := c.DescribeDisks(req)
		if err != nil {
			return nil, wrap(op, "", region, err)
		}
		for _, d := range resp.Disks.Disk {
			out = append(out, Disk{ID: d.DiskId, InstanceID: d.InstanceId, Type: d.Type, Category: d.Category, Device: d.Device, SizeGiB: d.Size})
		}
		if len(resp.Disks.Disk) == 0 || len(out) >= resp.TotalCount {
			return out, nil
		}
	}
	return nil, &Error{Op: op, Region: region, Err: fmt.Errorf("more than %d pages", pagesLimit)}
}

func (a *sdkAPI) DescribeRAMRoles(ctx context.Context, region string, ids []string) (map[string]string, error) {
	const op = "DescribeInstanceRamRole"
	out := map[string]string{}
	if len(ids) == 0 {
		return out, nil
	}
	c, release, err := a.prepare(ctx, region)
	if err != nil {
		return nil, &Error{Op: op, Region: region, Err: err}
	}
	defer release()
	for chunk := range slices.Chunk(ids, 100) {
		if err := ctx.Err(); err != nil {
			return nil, &Error{Op: op, Region: region, Err: err}
		}
		req := ecs.CreateDescribeInstanceRamRoleRequest()
		req.RegionId = region
		b, _ := json.Marshal(chunk)
		req.InstanceIds = string(b)
		req.PageSize = requests.NewInteger(100)
		resp, err := c.DescribeInstanceRamRole(req)
		if err != nil {
			return nil, wrap(op, "", region, err)
		}
		for _, s := range resp.InstanceRamRoleSets.InstanceRamRoleSet {
			out[s.InstanceId] = s.RamRoleName
		}
	}
	return out, nil
}

func (a *sdkAPI) RunInstance(ctx context.Context, region string, in RunInstanceInput) (string, error) {
	const op = "RunInstances"
	if err := checkTags(in.Tags); err != nil {
		return "", &Error{Op: op, Region: region, Err: err}
	}
	c, release, err := a.prepare(ctx, region)
	if err != nil {
		return "", &Error{Op: op, Region: region, Err: err}
	}
	defer release()
	req := ecs.CreateRunInstancesRequest()
	req.RegionId = region
	req.ImageId, req.InstanceType, req.VSwitchId, req.PrivateIpAddress = in.ImageID, in.InstanceType, in.VSwitchID, in.PrivateIP
	req.SecurityGroupIds = &in.SecurityGroupIDs
	req.InstanceName, req.HostName, req.KeyPairName, req.RamRoleName = in.Name, in.HostName, in.KeyPairName, in.RAMRole
	req.SystemDiskCategory = in.SystemDiskCategory
	if in.SystemDiskGiB > 0 {
		req.SystemDiskSize = strconv.Itoa(in.SystemDiskGiB)
	}
	if len(in.DataDisks) > 0 {
		dd := make([]ecs.RunInstancesDataDisk, 0, len(in.DataDisks))
		for _, d := range in.DataDisks {
			x := ecs.RunInstancesDataDisk{Device: d.Device, Category: d.Category}
			if d.SizeGiB > 0 {
				x.Size = strconv.Itoa(d.SizeGiB)
			}
			dd = append(dd, x)
		}
		req.DataDisk = &dd
	}
	req.Tag = sdkTags(in.Tags, func(k, v string) ecs.RunInstancesTag { return ecs.RunInstancesTag{Key: k, Value: v} })
	req.Amount = requests.NewInteger(1)
	req.ClientToken = in.ClientToken
	resp, err := c.RunInstances(req)
	if err != nil {
		return "", wrap(op, in.ImageID, region, err)
	}
	if len(resp.InstanceIdSets.InstanceIdSet) != 1 {
		return "", &Error{Op: op, Resource: in.ImageID, Region: region, Err: fmt.Errorf("got %d instance ids, want 1", len(resp.InstanceIdSets.InstanceIdSet))}
	}
	return resp.InstanceIdSets.InstanceIdSet[0], nil
}

func (a *sdkAPI) DeleteInstance(ctx context.Context, region, id string, force bool) error {
	const op = "DeleteInstance"
	c, release, err := a.prepare(ctx, region)
	if err != nil {
		return &Error{Op: op, Resource: id, Region: region, Err: err}
	}
	defer release()
	req := ecs.CreateDeleteInstanceRequest()
	req.RegionId, req.InstanceId, req.Force = region, id, requests.NewBoolean(force)
	_, err = c.DeleteInstance(req)
	return wrap(op, id, region, err)
}

func (a *sdkAPI) DescribeVSwitches(ctx context.Context, region string) ([]VSwitch, error) {
	const op = "DescribeVSwitches"
	c, release, err := a.prepare(ctx, region)
	if err != nil {
		return nil, &Error{Op: op, Region: region, Err: err}
	}
	defer release()
	var out []VSwitch
	for page := 1; page <= pagesLimit; page++ {
		req := ecs.CreateDescribeVSwitchesRequest()
		req.RegionId = region
		req.PageNumber, req.PageSize = requests.NewInteger(page), requests.NewInteger(50)
		resp, err := c.DescribeVSwitches(req)
		if err != nil {
			return nil, wrap(op, "", region, err)
		}
		for _, v := range resp.VSwitches.VSwitch {
			out = append(out, VSwitch{ID: v.VSwitchId, VpcID: v.VpcId, Zone: v.ZoneId, CIDR: v.CidrBlock})
		}
		if len(resp.VSwitches.VSwitch) == 0 || len(out) >= resp.TotalCount {
			return out, nil
		}
	}
	return nil, &Error{Op: op, Region: region, Err: fmt.Errorf("more than %d pages", pagesLimit)}
}

func (a *sdkAPI) DescribeSecurityGroups(ctx context.Context, region string) ([]SecurityGroup, error) {
	const op = "DescribeSecurityGroups"
	c, release, err := a.prepare(ctx, region)
	if err != nil {
		return nil, &Error{Op: op, Region: region, Err: err}
	}
	defer release()
	var out []SecurityGroup
	for page := 1; page <= pagesLimit; page++ {
		req := ecs.CreateDescribeSecurityGroupsRequest()
		req.RegionId = region
		req.PageNumber, req.PageSize = requests.NewInteger(page), requests.NewInteger(50)
		resp, err := c.DescribeSecurityGroups(req)
		if err != nil {
			return nil, wrap(op, "", region, err)
		}
		for _, g := range resp.SecurityGroups.SecurityGroup {
			out = append(out, SecurityGroup{ID: g.SecurityGroupId, VpcID: g.VpcId, Name: g.SecurityGroupName})
		}
		if len(resp.SecurityGroups.SecurityGroup) == 0 || len(out) >= resp.TotalCount {
			return out, nil
		}
	}
	return nil, &Error{Op: op, Region: region, Err: fmt.Errorf("more than %d pages", pagesLimit)}
}

func (a *sdkAPI) AvailableTypes(ctx context.Context, region, zone string) (map[string]bool, error) {
	const op = "DescribeAvailableResource"
	c, release, err := a.prepare(ctx, region)
	if err != nil {
		return nil, &Error{Op: op, Region: region, Err: err}
	}
	defer release()
	req := ecs.CreateDescribeAvailableResourceRequest()
	req.RegionId, req.DestinationResource, req.ZoneId = region, "InstanceType", zone
	resp, err := c.DescribeAvailableResource(req)
	if err != nil {
		return nil, wrap(op, zone, region, err)
	}
	out := map[string]bool{}
	for _, z := range resp.AvailableZones.AvailableZone {
		for _, r := range z.AvailableResources.AvailableResource {
			for _, s := range r.SupportedResources.SupportedResource {
				out[s.Value] = out[s.Value] || s.Status == "Available"
			}
		}
	}
	return out, nil
}

func (a *sdkAPI) DescribeInstanceTypes(ctx context.Context, region string) ([]InstanceType, error) {
	const op = "DescribeInstanceTypes"
	c, release, err := a.prepare(ctx, region)
	if err != nil {
		return nil, &Error{Op: op, Region: region, Err: err}
	}
	defer release()
	var out []InstanceType
	token := ""
	for page := 1; page <= pagesLimit; page++ {
		req := ecs.CreateDescribeInstanceTypesRequest()
		req.RegionId, req.NextToken = region, token
		resp, err := c.DescribeInstanceTypes(req)
		if err != nil {
			return nil, wrap(op, "", region, err)
		}
		for _, t := range resp.InstanceTypes.InstanceType {
			out = append(out, InstanceType{Name: t.InstanceTypeId, Family: t.InstanceTypeFamily, CPU: t.CpuCoreCount, MemoryGiB: t.MemorySize})
		}
		if token = resp.NextToken; token == "" {
			return out, nil
		}
	}
	return nil, &Error{Op: op, Region: region, Err: fmt.Errorf("more than %d pages", pagesLimit)}
}

func (a *sdkAPI) RunCommand(ctx context.Context, region, instanceID, script string, timeout time.Duration) (string, error) {
	const op = "RunCommand"
	c, release, err := a.prepare(ctx, region)
	if err != nil {
		return "", &Error{Op: op, Resource: instanceID, Region: region, Err: err}
	}
	defer release()
	req := ecs.CreateRunCommandRequest()
	req.RegionId, req.Type = region, "RunShellScript"
	req.CommandContent, req.ContentEncoding = base64.StdEncoding.EncodeToString([]byte(script)), "Base64"
	req.InstanceId = &[]string{instanceID}
	req.Timeout = requests.NewInteger(max(10, int(timeout/time.Second)))
	req.Name = "ecs-dr-health"
	resp, err := c.RunCommand(req)
	if err != nil {
		return "", wrap(op, instanceID, region, err)
	}
	return resp.InvokeId, nil
}

func (a *sdkAPI) DescribeInvocation(ctx context.Context, region, invokeID, instanceID string) (Invocation, error) {
	const op = "DescribeInvocationResults"
	c, release, err := a.prepare(ctx, region)
	if err != nil {
		return Invocation{}, &Error{Op: op, Resource: invokeID, Region: region, Err: err}
	}
	defer release()
	req := ecs.CreateDescribeInvocationResultsRequest()
	req.RegionId, req.InvokeId, req.InstanceId = region, invokeID, instanceID
	resp, err := c.DescribeInvocationResults(req)
	if err != nil {
		return Invocation{}, wrap(op, invokeID, region, err)
	}
	rs := resp.Invocation.InvocationResults.InvocationResult
	if len(rs) == 0 {
		return Invocation{}, &Error{Op: op, Resource: invokeID, Region: region, Code: "InvalidInvokeId.NotFound", Err: fmt.Errorf("no result for instance %s", instanceID)}
	}
	r := rs[0]
	out := Invocation{Status: r.InvocationStatus, ExitCode: r.ExitCode, ErrorCode: r.ErrorCode, ErrorInfo: r.ErrorInfo}
	out.Finished = r.InvokeRecordStatus == "Finished" || r.InvokeRecordStatus == "Failed" || r.InvokeRecordStatus == "Stopped"
	if r.StartTime != "" {
		if t, err := parseTime(r.StartTime); err == nil {
			out.StartedAt = t
		}
	}
	if r.FinishedTime != "" {
		if t, err := parseTime(r.FinishedTime); err == nil {
			out.FinishedAt = t
		}
	}
	if b, err := base64.StdEncoding.DecodeString(r.Output); err == nil {
		out.Output = string(b)
	} else {
		out.Output = r.Output
	}
	return out, nil
}

func (a *sdkAPI) TagInstance(ctx context.Context, region, id string, tags map[string]string) error {
	const op = "TagResources"
	if err := checkTags(tags); err != nil {
		return &Error{Op: op, Resource: id, Region: region, Err: err}
	}
	c, release, err := a.prepare(ctx, region)
	if err != nil {
		return &Error{Op: op, Resource: id, Region: region, Err: err}
	}
	defer release()
	req := ecs.CreateTagResourcesRequest()
	req.RegionId, req.ResourceType, req.ResourceId = region, "instance", &[]string{id}
	req.Tag = sdkTags(tags, func(k, v string) ecs.TagResourcesTag { return ecs.TagResourcesTag{Key: k, Value: v} })
	_, err = c.TagResources(req)
	return wrap(op, id, region, err)
}
