package ecs

import (
	"fmt"
	"regexp"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	sdkecs "github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

// The SDK fills its global endpoint map lazily, without a lock, on the first client
// construction; filling it here, before any goroutine exists, makes later constructions
// read-only on it (the race detector caught parallel tests constructing clients).
func init() { sdkecs.GetEndpointMap() }

// NewSDKClient returns a real alibaba-cloud-sdk-go ECS client pointed at addr
// ("127.0.0.1:port", no scheme), speaking plain HTTP and signing with cred (an STS
// credential when cred.SecurityToken is set). The client's default region is region.
// Environment proxies are bypassed for addr (the SDK honours HTTP_PROXY otherwise).
func NewSDKClient(addr, region string, cred core.Credential) (*sdkecs.Client, error) {
	if addr == "" || region == "" {
		return nil, fmt.Errorf("new ecs sdk client: addr and region are required")
	}
	var c auth.Credential = credentials.NewAccessKeyCredential(cred.AccessKeyID, cred.AccessKeySecret)
	if cred.SecurityToken != "" {
		c = credentials.NewStsTokenCredential(cred.AccessKeyID, cred.AccessKeySecret, cred.SecurityToken)
	}
	client, err := sdkecs.NewClientWithOptions(region, sdk.NewConfig().WithScheme("HTTP"), c)
	if err != nil {
		return nil, fmt.Errorf("new ecs sdk client for %s: %w", addr, err)
	}
	client.Domain = addr
	// The SDK matches each NO_PROXY entry as a regular expression against the host.
	client.SetNoProxy("^" + regexp.QuoteMeta(addr) + "$")
	return client, nil
}
