package ecs

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	sdkecs "github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
)

// runReq is a valid RunInstances request in cn-hangzhou's default network, zone h.
func runReq(imageID string) *sdkecs.RunInstancesRequest {
	req := sdkecs.CreateRunInstancesRequest()
	req.ImageId, req.InstanceType, req.VSwitchId = imageID, "ecs.g7.large", "vsw-cn-hangzhou-h"
	req.SecurityGroupIds = &[]string{"sg-cn-hangzhou"}
	req.Amount = requests.NewInteger(1)
	return req
}

func (f *fixture) instance(t *testing.T, id string) (Instance, bool) {
	t.Helper()
	for _, in := range f.svc.Instances("cn-hangzhou") {
		if in.ID == id {
			return in, true
		}
	}
	return Instance{}, false
}

func TestDescribeInstancesNetwork(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	req := sdkecs.CreateDescribeInstancesRequest()
	req.InstanceIds = `["i-hz-web-1"]`
	resp, err := f.client.DescribeInstances(req)
	if err != nil {
		t.Fatal(err)
	}
	in := resp.Instances.Instance[0]
	if in.VpcAttributes.VpcId != "vpc-cn-hangzhou" || in.VpcAttributes.VSwitchId != "vsw-cn-hangzhou-h" ||
		len(in.VpcAttributes.PrivateIpAddress.IpAddress) != 1 || !slices.Equal(in.SecurityGroupIds.SecurityGroupId, []string{"sg-cn-hangzhou"}) ||
		in.HostName != "web-1" || in.Cpu != 2 || in.Memory != 8192 {
		t.Fatalf("network of i-hz-web-1: %+v %+v %v host %q cpu %d mem %d", in.VpcAttributes, in.VpcAttributes.PrivateIpAddress,
			in.SecurityGroupIds.SecurityGroupId, in.HostName, in.Cpu, in.Memory)
	}
}

func TestRunInstancesLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	img := f.availableImage(t, "i-hz-web-1", "restore-src")
	req := runReq(img)
	req.PrivateIpAddress = "172.16.32.200"
	req.InstanceName, req.HostName, req.KeyPairName, req.RamRoleName = "web-1-restored", "web-1", "ops-key", "AppRole"
	req.SystemDiskCategory = "cloud_essd"
	req.DataDisk = &[]sdkecs.RunInstancesDataDisk{{Device: "/dev/xvdb", Category: "cloud_ssd"}}
	req.Tag = &[]sdkecs.RunInstancesTag{{Key: "ecs-dr:restored-from", Value: "i-hz-web-1"}}
	req.ClientToken = "restore-1"
	resp, err := f.client.RunInstances(req)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.InstanceIdSets.InstanceIdSet) != 1 {
		t.Fatalf("ids %v", resp.InstanceIdSets.InstanceIdSet)
	}
	id := resp.InstanceIdSets.InstanceIdSet[0]
	// The same token and parameters answer the same instance; other parameters are refused.
	again, err := f.client.RunInstances(req)
	if err != nil || !slices.Equal(again.InstanceIdSets.InstanceIdSet, resp.InstanceIdSets.InstanceIdSet) {
		t.Fatalf("replay: %v %v", again, err)
	}
	other := runReq(img)
	other.ClientToken = "restore-1"
	_, err = f.client.RunInstances(other)
	wantErr(t, err, 400, "IdempotenceParamNotMatch")

	in, _ := f.instance(t, id)
	if in.Status != "Pending" || in.PrivateIP != "172.16.32.200" || in.RAMRole != "AppRole" || in.KeyPairName != "ops-key" ||
		in.Tags["ecs-dr:restored-from"] != "i-hz-web-1" || len(in.Disks) != 2 || in.Disks[1].Category != "cloud_ssd" || in.Disks[1].SizeGiB != 100 {
		t.Fatalf("new instance %+v", in)
	}
	// Running instances cannot be deleted while they boot.
	del := sdkecs.CreateDeleteInstanceRequest()
	del.InstanceId, del.Force = id, requests.NewBoolean(true)
	_, err = f.client.DeleteInstance(del)
	wantErr(t, err, 403, "IncorrectInstanceStatus")

	f.env.Clock.Advance(15 * time.Second)
	if in, _ := f.instance(t, id); in.Status != "Starting" {
		t.Fatalf("after 15s: %s", in.Status)
	}
	f.env.Clock.Advance(45 * time.Second)
	if in, _ := f.instance(t, id); in.Status != "Running" {
		t.Fatalf("after 60s: %s", in.Status)
	}
	// The image is now in use.
	di := sdkecs.CreateDeleteImageRequest()
	di.ImageId = img
	_, err = f.client.DeleteImage(di)
	wantErr(t, err, 403, "ImageUsingByInstance")

	// RAM role and disks are described in batches.
	rr := sdkecs.CreateDescribeInstanceRamRoleRequest()
	rr.InstanceIds = `["` + id + `","i-hz-web-1"]`
	rresp, err := f.client.DescribeInstanceRamRole(rr)
	if err != nil || len(rresp.InstanceRamRoleSets.InstanceRamRoleSet) != 1 || rresp.InstanceRamRoleSets.InstanceRamRoleSet[0].RamRoleName != "AppRole" {
		t.Fatalf("ram roles %+v %v", rresp, err)
	}
	dd := sdkecs.CreateDescribeDisksRequest()
	dd.InstanceId = id
	dresp, err := f.client.DescribeDisks(dd)
	if err != nil || dresp.TotalCount != 2 || dresp.Disks.Disk[0].Device != "/dev/xvda" || dresp.Disks.Disk[0].Size != 40 || dresp.Disks.Disk[0].ImageId != img {
		t.Fatalf("disks %+v %v", dresp, err)
	}

	noForce := sdkecs.CreateDeleteInstancesRequest()
	noForce.InstanceId = &[]string{id}
	_, err = f.client.DeleteInstances(noForce)
	wantErr(t, err, 403, "IncorrectInstanceStatus")
	noForce.Force = requests.NewBoolean(true)
	if _, err := f.client.DeleteInstances(noForce); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.instance(t, id); ok {
		t.Fatal("instance still there after DeleteInstances")
	}
	_, err = f.client.DeleteInstances(noForce)
	wantErr(t, err, 404, "InvalidInstanceId.NotFound")
}

func TestRunInstancesErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(s *Seed) {
		s.Compute.SoldOut = []string{"cn-hangzhou/cn-hangzhou-h/ecs.g7.large"}
		s.Compute.InstanceQuota = 5 // four seeded instances in cn-hangzhou
	})
	if err := f.svc.AddNetwork("cn-hangzhou", "drill", "10.99.0.0/16"); err != nil {
		t.Fatal(err)
	}
	img := f.availableImage(t, "i-hz-web-1", "restore-src")
	tests := []struct {
		name   string
		mut    func(r *sdkecs.RunInstancesRequest)
		status int
		code   string
	}{
		{"no stock", func(r *sdkecs.RunInstancesRequest) {}, 403, "OperationDenied.NoStock"},
		{"unknown vswitch", func(r *sdkecs.RunInstancesRequest) { r.VSwitchId = "vsw-nope" }, 404, "InvalidVSwitchId.NotFound"},
		{"unknown group", func(r *sdkecs.RunInstancesRequest) { r.SecurityGroupIds = &[]string{"sg-nope"} }, 404, "InvalidSecurityGroupId.NotFound"},
		{"group of other vpc", func(r *sdkecs.RunInstancesRequest) { r.SecurityGroupIds = &[]string{"sg-drill"} }, 400, "InvalidSecurityGroupId.VPCMismatch"},
		{"unknown image", func(r *sdkecs.RunInstancesRequest) { r.ImageId = "m-nope" }, 404, "InvalidImageId.NotFound"},
		{"unknown type", func(r *sdkecs.RunInstancesRequest) { r.InstanceType = "ecs.zz9.huge" }, 400, "InvalidInstanceType.ValueNotSupported"},
		{"ip outside vswitch", func(r *sdkecs.RunInstancesRequest) { r.InstanceType, r.PrivateIpAddress = "ecs.g8i.large", "10.0.0.5" }, 400, "InvalidPrivateIpAddress.Mismatch"},
		{"small system disk", func(r *sdkecs.RunInstancesRequest) { r.InstanceType, r.SystemDiskSize = "ecs.g8i.large", "20" }, 400, "InvalidSystemDiskSize.LessThanImageSize"},
		{"quota", func(r *sdkecs.RunInstancesRequest) {
			r.InstanceType, r.Amount = "ecs.g8i.large", requests.NewInteger(2)
		}, 403, "QuotaExceed.ElasticQuota"},
		{"missing vswitch", func(r *sdkecs.RunInstancesRequest) { r.VSwitchId = "" }, 400, "MissingParameter"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := runReq(img)
			tc.mut(req)
			_, err := f.client.RunInstances(req)
			wantErr(t, err, tc.status, tc.code)
		})
	}
	// Another zone has stock, and the duplicate address is refused.
	req := runReq(img)
	req.VSwitchId, req.PrivateIpAddress = "vsw-cn-hangzhou-i", "172.16.48.50"
	if _, err := f.client.RunInstances(req); err != nil {
		t.Fatal(err)
	}
	req = runReq(img)
	req.VSwitchId, req.PrivateIpAddress = "vsw-cn-hangzhou-i", "172.16.48.50"
	_, err := f.client.RunInstances(req)
	wantErr(t, err, 400, "InvalidPrivateIpAddress.Duplicated")
}

func TestDescribeNetworksAndCapacity(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(s *Seed) { s.Compute.SoldOut = []string{"cn-beijing/cn-beijing-a/ecs.g7.large"} })
	bj := f.newClient(t, "cn-beijing", defaultCred)
	if err := f.svc.AddNetwork("cn-beijing", "dr", "10.20.0.0/16"); err != nil {
		t.Fatal(err)
	}
	vr := sdkecs.CreateDescribeVpcsRequest()
	vresp, err := bj.DescribeVpcs(vr)
	if err != nil || vresp.TotalCount != 2 || vresp.Vpcs.Vpc[0].VpcId != "vpc-cn-beijing" || !vresp.Vpcs.Vpc[0].IsDefault || vresp.Vpcs.Vpc[1].VpcId != "vpc-dr" {
		t.Fatalf("vpcs %+v %v", vresp, err)
	}
	sr := sdkecs.CreateDescribeVSwitchesRequest()
	sr.VpcId = "vpc-dr"
	sresp, err := bj.DescribeVSwitches(sr)
	if err != nil || sresp.TotalCount != 3 || sresp.VSwitches.VSwitch[0].VSwitchId != "vsw-dr-a" || sresp.VSwitches.VSwitch[0].CidrBlock != "10.20.0.0/24" {
		t.Fatalf("vswitches %+v %v", sresp, err)
	}
	gr := sdkecs.CreateDescribeSecurityGroupsRequest()
	gr.SecurityGroupIds = `["sg-dr"]`
	gresp, err := bj.DescribeSecurityGroups(gr)
	if err != nil || gresp.TotalCount != 1 || gresp.SecurityGroups.SecurityGroup[0].VpcId != "vpc-dr" {
		t.Fatalf("groups %+v %v", gresp, err)
	}
	ar := sdkecs.CreateDescribeAvailableResourceRequest()
	ar.DestinationResource, ar.InstanceType = "InstanceType", "ecs.g7.large"
	aresp, err := bj.DescribeAvailableResource(ar)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, z := range aresp.AvailableZones.AvailableZone {
		for _, r := range z.AvailableResources.AvailableResource {
			for _, s := range r.SupportedResources.SupportedResource {
				got[z.ZoneId] = s.Status + "/" + s.StatusCategory
			}
		}
	}
	if got["cn-beijing-a"] != "SoldOut/WithoutStock" || got["cn-beijing-b"] != "Available/WithStock" || got["cn-beijing-k"] != "Available/WithStock" {
		t.Fatalf("stock %v", got)
	}
	tr := sdkecs.CreateDescribeInstanceTypesRequest()
	tr.InstanceTypes = &[]string{"ecs.g7.large", "ecs.r7.xlarge"}
	tresp, err := bj.DescribeInstanceTypes(tr)
	if err != nil || len(tresp.InstanceTypes.InstanceType) != 2 || tresp.InstanceTypes.InstanceType[1].MemorySize != 32 {
		t.Fatalf("types %+v %v", tresp, err)
	}
	_, err = bj.DescribeAvailableResource(sdkecs.CreateDescribeAvailableResourceRequest())
	wantErr(t, err, 400, "MissingParameter")
}

func TestCloudAssistant(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(s *Seed) {
		s.Compute.Commands = []CommandRule{
			{Contains: "healthz", InstanceTags: map[string]string{"app": "web"}, ExitCode: 0, Output: "ok\n", Duration: Duration(8 * time.Second)},
			{Contains: "healthz", ExitCode: 7, Output: "connection refused\n"},
			{Contains: "sleep", Hang: true},
		}
	})
	run := func(id, cmd string) string {
		t.Helper()
		req := sdkecs.CreateRunCommandRequest()
		req.Type, req.CommandContent, req.ContentEncoding = "RunShellScript", base64.StdEncoding.EncodeToString([]byte(cmd)), "Base64"
		req.InstanceId = &[]string{id}
		req.Timeout = requests.NewInteger(30)
		resp, err := f.client.RunCommand(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.InvokeId
	}
	result := func(invoke string) sdkecs.InvocationResult {
		t.Helper()
		req := sdkecs.CreateDescribeInvocationResultsRequest()
		req.InvokeId = invoke
		resp, err := f.client.DescribeInvocationResults(req)
		if err != nil || len(resp.Invocation.InvocationResults.InvocationResult) != 1 {
			t.Fatalf("results %+v %v", resp, err)
		}
		return resp.Invocation.InvocationResults.InvocationResult[0]
	}
	okInv := run("i-hz-web-1", "curl -fsS localhost/healthz")
	badInv := run("i-hz-dev-1", "curl -fsS localhost/healthz")
	hangInv := run("i-hz-dev-1", "sleep 1000")
	if r := result(okInv); r.InvokeRecordStatus != "Running" {
		t.Fatalf("at 0s: %+v", r)
	}
	f.env.Clock.Advance(8 * time.Second)
	r := result(okInv)
	out, _ := base64.StdEncoding.DecodeString(r.Output)
	if r.InvocationStatus != "Success" || r.ExitCode != 0 || string(out) != "ok\n" {
		t.Fatalf("ok: %+v", r)
	}
	if r := result(badInv); r.InvocationStatus != "Failed" || r.ExitCode != 7 {
		t.Fatalf("bad: %+v", r)
	}
	if r := result(hangInv); r.InvocationStatus != "Running" {
		t.Fatalf("hang at 8s: %+v", r)
	}
	f.env.Clock.Advance(30 * time.Second)
	if r := result(hangInv); r.InvocationStatus != "Timeout" || r.ErrorCode != "InvocationTimeout" {
		t.Fatalf("hang at 38s: %+v", r)
	}
	// The agent answers only on Running instances.
	if err := f.svc.SetInstanceStatus("cn-hangzhou", "i-hz-dev-1", "Stopped"); err != nil {
		t.Fatal(err)
	}
	req := sdkecs.CreateRunCommandRequest()
	req.Type, req.CommandContent, req.InstanceId = "RunShellScript", "true", &[]string{"i-hz-dev-1"}
	_, err := f.client.RunCommand(req)
	wantErr(t, err, 400, "InvalidInstance.NotRunning")
}

func TestComputeSeedValidate(t *testing.T) {
	t.Parallel()
	s := DefaultSeed()
	s.Compute = ComputeSeed{
		VPCs:      []VPCSeed{{ID: "vpc-x", Region: "cn-nowhere", CIDR: "10.0.0.0/16"}},
		VSwitches: []VSwitchSeed{{ID: "vsw-x", Region: "cn-beijing", VpcID: "vpc-x", ZoneID: "cn-beijing-a", CIDR: "bad"}},
		SoldOut:   []string{"cn-beijing/ecs.g7.large"},
	}
	err := s.Validate()
	for _, want := range []string{"compute.vpcs[0].region", "compute.vSwitches[0].vpcId", "compute.vSwitches[0].cidr", "compute.soldOut[0]"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q in %v", want, err)
		}
	}
}
