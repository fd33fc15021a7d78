package ecs

// Internal on purpose: verifyV1 is not exported, and the point is its cost alone.

import (
	"bytes"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	sdkecs "github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

// benchSignedParams sends one DescribeImages (3 tag filters, as the services send it)
// through the real SDK and returns the method and merged parameters the emulator saw.
func benchSignedParams(b *testing.B) (string, url.Values) {
	b.Helper()
	env := core.NewEnv(core.NewManualClock(time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC)), nil)
	svc, err := New(env, DefaultSeed())
	if err != nil {
		b.Fatalf("new ecs service: %v", err)
	}
	var (
		mu     sync.Mutex
		method string
		params url.Values
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		p, _ := url.ParseQuery(r.URL.RawQuery)
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
			form, _ := url.ParseQuery(string(body))
			for k, v := range form {
				p[k] = v
			}
		}
		mu.Lock()
		method, params = r.Method, p
		mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		svc.ServeHTTP(w, r)
	}))
	defer srv.Close()
	client, err := NewSDKClient(strings.TrimPrefix(srv.URL, "http://"), "cn-hangzhou",
		core.Credential{AccessKeyID: core.DefaultAccessKeyID, AccessKeySecret: core.DefaultAccessKeySecret})
	if err != nil {
		b.Fatalf("new sdk client: %v", err)
	}
	req := sdkecs.CreateDescribeImagesRequest()
	req.ImageOwnerAlias, req.PageSize = "self", requests.NewInteger(100)
	req.Tag = &[]sdkecs.DescribeImagesTag{{Key: "ecs-dr:managed-by", Value: "ecs-image-dr"},
		{Key: "ecs-dr:policy", Value: "prod-web"}, {Key: "ecs-dr:role", Value: "source"}}
	if _, err := client.DescribeImages(req); err != nil {
		b.Fatalf("DescribeImages: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	return method, params
}

// BenchmarkVerifySignatureV1 is the RPC v1 signature check of one real SDK request:
// credential lookup, canonical query (sort, percent-encode), HMAC-SHA1, base64.
func BenchmarkVerifySignatureV1(b *testing.B) {
	method, params := benchSignedParams(b)
	env := core.NewEnv(core.NewManualClock(time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC)), nil)
	env.Nonces = nil // the same signed request is verified b.N times: no replay check here
	s, err := New(env, DefaultSeed())
	if err != nil {
		b.Fatalf("new ecs service: %v", err)
	}
	q := &request{params: params, account: core.DefaultAccountID}
	if aerr := s.verifyV1(method, params, q); aerr != nil {
		b.Fatalf("verify the SDK's own signature: %v", aerr)
	}
	tampered := url.Values{}
	for k, v := range params {
		tampered[k] = v
	}
	tampered.Set("PageSize", "99")
	if aerr := s.verifyV1(method, tampered, q); aerr == nil || aerr.Code != "SignatureDoesNotMatch" {
		b.Fatalf("a tampered request verified: %v", aerr)
	}
	b.ReportMetric(float64(len(params)), "params")
	var aerr *apiError
	for b.Loop() {
		aerr = s.verifyV1(method, params, q)
	}
	if aerr != nil {
		b.Fatal(aerr)
	}
}
