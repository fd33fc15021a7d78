package sls

import (
	"context"
	"net"
	"net/http"
	"time"

	sdk "github.com/aliyun/aliyun-log-go-sdk"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

// SDKEndpoint is the endpoint NewSDKClient gives the SDK. Its name never resolves: the
// SDK puts the project in front of it (http://proj.sls.local/...) and DialClient's
// dialer ignores the host anyway; only Host, and therefore the project, comes from it.
const SDKEndpoint = "sls.local"

// DialClient returns an *http.Client whose dialer always dials addr (host:port), for the
// SDK's SetHTTPClient or ProducerConfig.HTTPClient: the SDK puts the project in the URL
// host, which does not resolve to a local server. It uses no proxy from the environment.
func DialClient(addr string) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return d.DialContext(ctx, network, addr)
			},
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     30 * time.Second,
		},
		Timeout: 30 * time.Second,
	}
}

// NewSDKClient returns the unmodified aliyun-log-go-sdk client wired to the local SLS at
// addr, signing with cred (its SecurityToken too, for STS). The SDK's retry timeout (90 s
// by default, which 5xx faults would wait out) is cut to 5 s; call SetRetryTimeout to change it.
func NewSDKClient(addr string, cred core.Credential) sdk.ClientInterface {
	c := sdk.CreateNormalInterfaceV2("http://"+SDKEndpoint,
		sdk.NewStaticCredentialsProvider(cred.AccessKeyID, cred.AccessKeySecret, cred.SecurityToken))
	c.SetHTTPClient(DialClient(addr))
	c.SetRetryTimeout(5 * time.Second)
	return c
}
