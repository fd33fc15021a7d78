package ess

import (
	"fmt"
	"regexp"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	sdkess "github.com/aliyun/alibaba-cloud-sdk-go/services/ess"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

// The SDK fills its global endpoint map lazily and without a lock on the first client
// construction; filling it before any goroutine exists keeps parallel tests race-free.
func init() { sdkess.GetEndpointMap() }

// NewSDKClient returns a real alibaba-cloud-sdk-go ESS client pointed at addr
// ("127.0.0.1:port"), speaking plain HTTP and signing with cred.
func NewSDKClient(addr, region string, cred core.Credential) (*sdkess.Client, error) {
	if addr == "" || region == "" {
		return nil, fmt.Errorf("new ess sdk client: addr and region are required")
	}
	var c auth.Credential = credentials.NewAccessKeyCredential(cred.AccessKeyID, cred.AccessKeySecret)
	if cred.SecurityToken != "" {
		c = credentials.NewStsTokenCredential(cred.AccessKeyID, cred.AccessKeySecret, cred.SecurityToken)
	}
	client, err := sdkess.NewClientWithOptions(region, sdk.NewConfig().WithScheme("HTTP"), c)
	if err != nil {
		return nil, fmt.Errorf("new ess sdk client for %s: %w", addr, err)
	}
	client.Domain = addr
	client.SetNoProxy("^" + regexp.QuoteMeta(addr) + "$")
	return client, nil
}
