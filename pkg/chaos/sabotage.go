package chaos

import (
	sdkecs "github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
)

// The operator's hand: sabotage goes through the official ECS SDK with the account's
// long-term key, so the audit tells it apart from the functions (STS keys).

func newDeleteImage(im ecs.Image) *sdkecs.DeleteImageRequest {
	req := sdkecs.CreateDeleteImageRequest()
	req.Scheme = "http"
	req.RegionId = im.RegionID
	req.ImageId = im.ID
	return req
}

func tagImage(api *sdkecs.Client, im ecs.Image, tags map[string]string) error {
	req := sdkecs.CreateTagResourcesRequest()
	req.Scheme = "http"
	req.RegionId = im.RegionID
	req.ResourceType = "image"
	req.ResourceId = &[]string{im.ID}
	var ts []sdkecs.TagResourcesTag
	for k, v := range tags {
		ts = append(ts, sdkecs.TagResourcesTag{Key: k, Value: v})
	}
	req.Tag = &ts
	_, err := api.TagResources(req)
	return err
}

func untagImage(api *sdkecs.Client, im ecs.Image, keys ...string) error {
	req := sdkecs.CreateUntagResourcesRequest()
	req.Scheme = "http"
	req.RegionId = im.RegionID
	req.ResourceType = "image"
	req.ResourceId = &[]string{im.ID}
	req.TagKey = &keys
	_, err := api.UntagResources(req)
	return err
}

func deleteSnapshot(api *sdkecs.Client, sn ecs.Snapshot) error {
	req := sdkecs.CreateDeleteSnapshotRequest()
	req.Scheme = "http"
	req.RegionId = sn.RegionID
	req.SnapshotId = sn.ID
	_, err := api.DeleteSnapshot(req)
	return err
}
