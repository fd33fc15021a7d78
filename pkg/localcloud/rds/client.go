package rds

import (
	"fmt"
	"regexp"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	sdkrds "github.com/aliyun/alibaba-cloud-sdk-go/services/rds"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

// Fill the SDK's lazily built endpoint map before goroutines exist (see ecs/client.go).
func init() { sdkrds.GetEndpointMap() }

// NewSDKClient returns an unmodified RDS SDK client aimed at addr ("127.0.0.1:port").
func NewSDKClient(addr, region string, cred core.Credential) (*sdkrds.Client, error) {
	if addr == "" || region == "" {
		return nil, fmt.Errorf("new rds sdk client: addr and region are required")
	}
	var c auth.Credential = credentials.NewAccessKeyCredential(cred.AccessKeyID, cred.AccessKeySecret)
	if cred.SecurityToken != "" {
		c = credentials.NewStsTokenCredential(cred.AccessKeyID, cred.AccessKeySecret, cred.SecurityToken)
	}
	client, err := sdkrds.NewClientWithOptions(region, sdk.NewConfig().WithScheme("HTTP"), c)
	if err != nil {
		return nil, fmt.Errorf("new rds sdk client for %s: %w", addr, err)
	}
	client.Domain = addr
	client.SetNoProxy("^" + regexp.QuoteMeta(addr) + "$")
	return client, nil
}
