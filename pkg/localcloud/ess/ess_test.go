package ess_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	sdkecs "github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	sdkess "github.com/aliyun/alibaba-cloud-sdk-go/services/ess"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ess"
)

func wantErr(t *testing.T, err error, status int, code string) {
	t.Helper()
	var se *sdkerrors.ServerError
	if !errors.As(err, &se) || se.HttpStatus() != status || se.ErrorCode() != code || se.RequestId() == "" {
		t.Fatalf("want %d %s with a RequestId, got %v", status, code, err)
	}
}

func start(t *testing.T) (*localcloud.Server, *sdkess.Client, *sdkecs.Client) {
	t.Helper()
	srv, err := localcloud.New(localcloud.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	c, err := ess.NewSDKClient(srv.Addr(), "cn-hangzhou", srv.Credential())
	if err != nil {
		t.Fatal(err)
	}
	ec, err := srv.ECSClient("cn-hangzhou")
	if err != nil {
		t.Fatal(err)
	}
	return srv, c, ec
}

// ESS on the local cloud's one endpoint, through the official ESS SDK: groups,
// configurations paged beyond one page, filters, lifecycle, errors, signatures, faults;
// and ECS DeleteImage does not protect an image a configuration names.
func TestScalingConfigurationsThroughSDK(t *testing.T) {
	t.Parallel()
	srv, c, ec := start(t)

	g := sdkess.CreateCreateScalingGroupRequest()
	g.MinSize, g.MaxSize, g.ScalingGroupName = requests.NewInteger(0), requests.NewInteger(4), "web"
	gr, err := c.CreateScalingGroup(g)
	if err != nil || gr.ScalingGroupId == "" {
		t.Fatalf("CreateScalingGroup: %+v %v", gr, err)
	}
	noMax := sdkess.CreateCreateScalingGroupRequest()
	noMax.MinSize = requests.NewInteger(0)
	_, err = c.CreateScalingGroup(noMax)
	wantErr(t, err, 400, "MissingParameter")

	// A custom image to point configurations at.
	ci := sdkecs.CreateCreateImageRequest()
	ci.InstanceId, ci.ImageName = "i-hz-web-1", "scale-image"
	cir, err := ec.CreateImage(ci)
	if err != nil {
		t.Fatal(err)
	}
	img := cir.ImageId

	var ids []string
	for i := range 53 {
		req := sdkess.CreateCreateScalingConfigurationRequest()
		req.ScalingGroupId, req.InstanceType = gr.ScalingGroupId, "ecs.g7.large"
		req.ScalingConfigurationName = fmt.Sprintf("cfg-%02d", i)
		req.ImageId = ecs.SystemImageID
		if i == 52 {
			req.ImageId = img
		}
		resp, err := c.CreateScalingConfiguration(req)
		if err != nil || resp.ScalingConfigurationId == "" {
			t.Fatalf("CreateScalingConfiguration %d: %+v %v", i, resp, err)
		}
		ids = append(ids, resp.ScalingConfigurationId)
	}
	bad := sdkess.CreateCreateScalingConfigurationRequest()
	bad.ScalingGroupId, bad.InstanceType, bad.ImageId = gr.ScalingGroupId, "ecs.g7.large", "m-nope"
	_, err = c.CreateScalingConfiguration(bad)
	wantErr(t, err, 404, "InvalidImageId.NotFound")
	bad.ImageId, bad.ScalingGroupId = img, "asg-nope"
	_, err = c.CreateScalingConfiguration(bad)
	wantErr(t, err, 404, "InvalidScalingGroupId.NotFound")

	var got []sdkess.ScalingConfigurationInDescribeScalingConfigurations
	for page := 1; page <= 3; page++ {
		req := sdkess.CreateDescribeScalingConfigurationsRequest()
		req.PageNumber, req.PageSize = requests.NewInteger(page), requests.NewInteger(50)
		resp, err := c.DescribeScalingConfigurations(req)
		if err != nil || resp.TotalCount != 53 {
			t.Fatalf("page %d: %+v %v", page, resp, err)
		}
		got = append(got, resp.ScalingConfigurations.ScalingConfiguration...)
	}
	if len(got) != 53 || got[0].ScalingGroupId != gr.ScalingGroupId {
		t.Fatalf("paged %d configurations, want 53", len(got))
	}
	active, withImg := 0, 0
	for _, sc := range got {
		if sc.LifecycleState == "Active" {
			active++
		}
		if sc.ImageId == img {
			withImg++
		}
	}
	if active != 1 || withImg != 1 {
		t.Fatalf("%d active (want 1), %d naming the custom image (want 1)", active, withImg)
	}
	big := sdkess.CreateDescribeScalingConfigurationsRequest()
	big.PageSize = requests.NewInteger(51)
	_, err = c.DescribeScalingConfigurations(big)
	wantErr(t, err, 400, "InvalidParameter")
	byID := sdkess.CreateDescribeScalingConfigurationsRequest()
	byID.ScalingConfigurationId = &[]string{ids[52], "asc-unknown"}
	if resp, err := c.DescribeScalingConfigurations(byID); err != nil || resp.TotalCount != 1 || resp.ScalingConfigurations.ScalingConfiguration[0].ImageId != img {
		t.Fatalf("by id: %+v %v", resp, err)
	}
	// Names match Active configurations only (documented).
	byName := sdkess.CreateDescribeScalingConfigurationsRequest()
	byName.ScalingConfigurationName = &[]string{"cfg-00", "cfg-52"}
	if resp, err := c.DescribeScalingConfigurations(byName); err != nil || resp.TotalCount != 1 || resp.ScalingConfigurations.ScalingConfiguration[0].ScalingConfigurationName != "cfg-00" {
		t.Fatalf("by name: %+v %v", resp, err)
	}
	other, err := ess.NewSDKClient(srv.Addr(), "cn-shanghai", srv.Credential())
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := other.DescribeScalingConfigurations(sdkess.CreateDescribeScalingConfigurationsRequest()); err != nil || resp.TotalCount != 0 {
		t.Fatalf("cn-shanghai sees hangzhou's configurations: %+v %v", resp, err)
	}

	// Delete: Active refused, Inactive deleted, unknown 404.
	del := sdkess.CreateDeleteScalingConfigurationRequest()
	del.ScalingConfigurationId = ids[0]
	_, err = c.DeleteScalingConfiguration(del)
	wantErr(t, err, 403, "IncorrectScalingConfigurationLifecycleState")
	del.ScalingConfigurationId = ids[1]
	if _, err := c.DeleteScalingConfiguration(del); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteScalingConfiguration(del)
	wantErr(t, err, 404, "InvalidScalingConfigurationId.NotFound")
	if n := len(srv.ESS.ScalingConfigurations("cn-hangzhou")); n != 52 {
		t.Fatalf("%d configurations left, want 52", n)
	}

	// Signatures are checked like ECS's; faults apply under the service name "ess".
	wrong, err := ess.NewSDKClient(srv.Addr(), "cn-hangzhou", core.Credential{AccessKeyID: core.DefaultAccessKeyID, AccessKeySecret: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = wrong.DescribeScalingConfigurations(sdkess.CreateDescribeScalingConfigurationsRequest())
	wantErr(t, err, 400, "SignatureDoesNotMatch")
	srv.Env.Faults.Set("ess", "DescribeScalingConfigurations", core.FaultRule{FailNext: 1, ErrorStatus: 503})
	_, err = c.DescribeScalingConfigurations(sdkess.CreateDescribeScalingConfigurationsRequest())
	wantErr(t, err, 503, "ServiceUnavailable")
	// ECS on the same endpoint is unaffected by ESS's version routing.
	if _, err := ec.DescribeImages(sdkecs.CreateDescribeImagesRequest()); err != nil {
		t.Fatalf("ECS after ESS: %v", err)
	}

	// DeleteImage does not look at scaling configurations (documented behaviour): once
	// the image is Available it is deleted although cfg-52 names it.
	srv.Env.Clock.Advance(2 * time.Hour)
	di := sdkecs.CreateDeleteImageRequest()
	di.ImageId = img
	if _, err := ec.DeleteImage(di); err != nil {
		t.Fatalf("DeleteImage of a configuration's image: %v", err)
	}
}
