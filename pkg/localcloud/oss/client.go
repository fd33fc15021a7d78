package oss

import (
	"fmt"
	"strings"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

// NewSDKClient returns an unmodified aliyun-oss-go-sdk client aimed at the local OSS at
// addr ("127.0.0.1:port", or a URL "http://127.0.0.1:port"), signing with cred (and its
// STS token, if any). Path-style addressing is forced so a hostname such as
// "localhost:port" works too (the SDK picks path style by itself only for an IP).
func NewSDKClient(addr string, cred core.Credential) (*oss.Client, error) {
	endpoint := addr
	if !strings.HasPrefix(endpoint, "http://") && !strings.HasPrefix(endpoint, "https://") {
		endpoint = "http://" + endpoint
	}
	opts := []oss.ClientOption{oss.ForcePathStyle(true), oss.Timeout(10, 60)}
	if cred.SecurityToken != "" {
		opts = append(opts, oss.SecurityToken(cred.SecurityToken))
	}
	c, err := oss.New(endpoint, cred.AccessKeyID, cred.AccessKeySecret, opts...)
	if err != nil {
		return nil, fmt.Errorf("oss client for %s: %w", endpoint, err)
	}
	return c, nil
}
