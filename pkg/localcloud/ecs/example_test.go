package ecs_test

import (
	"fmt"
	"log"
	"net/http/httptest"
	"strings"
	"time"

	sdkecs "github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
)

// The unmodified SDK talks to the emulator; time is a manual clock, so a 9-minute image
// build takes one Advance call.
func Example() {
	env := core.NewEnv(core.NewManualClock(time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)), nil)
	svc, err := ecs.New(env, ecs.DefaultSeed())
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(svc)
	defer srv.Close()

	client, err := ecs.NewSDKClient(strings.TrimPrefix(srv.URL, "http://"), "cn-hangzhou",
		core.Credential{AccessKeyID: core.DefaultAccessKeyID, AccessKeySecret: core.DefaultAccessKeySecret})
	if err != nil {
		log.Fatal(err)
	}
	create := sdkecs.CreateCreateImageRequest()
	create.InstanceId, create.ImageName = "i-hz-web-1", "web-1-backup"
	created, err := client.CreateImage(create)
	if err != nil {
		log.Fatal(err)
	}

	env.Clock.Advance(15 * time.Minute) // 2m + 3s/GiB × 140 GiB = 9m

	describe := sdkecs.CreateDescribeImagesRequest()
	describe.ImageId = created.ImageId
	out, err := client.DescribeImages(describe)
	if err != nil {
		log.Fatal(err)
	}
	im := out.Images.Image[0]
	fmt.Println(im.ImageName, im.Status, im.Progress, len(im.DiskDeviceMappings.DiskDeviceMapping))
	// Output: web-1-backup Available 100% 2
}
