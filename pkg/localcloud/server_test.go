package localcloud

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	sdkecs "github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/eventbridge"
	lcoss "github.com/ecsdr/ecs-image-dr/pkg/localcloud/oss"
	lcsls "github.com/ecsdr/ecs-image-dr/pkg/localcloud/sls"
)

func startServer(t *testing.T) *Server {
	t.Helper()
	srv, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// One address serves the three SDKs: each request must reach its own service.
func TestOneEndpointServesECSSLSAndOSSThroughTheRealSDKs(t *testing.T) {
	t.Parallel()
	srv := startServer(t)

	// ECS
	ec, err := srv.ECSClient("cn-hangzhou")
	if err != nil {
		t.Fatal(err)
	}
	regions, err := ec.DescribeRegions(sdkecs.CreateDescribeRegionsRequest())
	if err != nil {
		t.Fatalf("ecs DescribeRegions: %v", err)
	}
	ids := map[string]bool{}
	for _, r := range regions.Regions.Region {
		ids[r.RegionId] = true
	}
	for _, want := range []string{"cn-hangzhou", "cn-shanghai", "cn-beijing"} {
		if !ids[want] {
			t.Errorf("seeded region %s missing from DescribeRegions: %v", want, ids)
		}
	}

	// SLS
	srv.SLS.EnsureProject("dr-logs", "cn-hangzhou")
	lc := lcsls.NewSDKClient(srv.Addr(), srv.Credential())
	if err := lc.CreateLogStore("dr-logs", "ecs-image-dr", 7, 1, false, 4); err != nil {
		t.Fatalf("sls CreateLogStore: %v", err)
	}
	stores, err := lc.ListLogStore("dr-logs")
	if err != nil || len(stores) != 1 || stores[0] != "ecs-image-dr" {
		t.Fatalf("sls ListLogStore: %v %v", stores, err)
	}
	if _, err := lc.ListLogStore("no-such-project"); err == nil || !strings.Contains(err.Error(), "ProjectNotExist") {
		t.Fatalf("sls unknown project: want ProjectNotExist, got %v", err)
	}

	// OSS
	if err := srv.OSS.CreateBucket("dr-catalog", "cn-shanghai"); err != nil {
		t.Fatal(err)
	}
	oc, err := lcoss.NewSDKClient(srv.Addr(), srv.Credential())
	if err != nil {
		t.Fatal(err)
	}
	b, err := oc.Bucket("dr-catalog")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.PutObject("a/b.json", bytes.NewReader([]byte(`{"x":1}`))); err != nil {
		t.Fatalf("oss PutObject: %v", err)
	}
	if got, ok := srv.OSS.Object("dr-catalog", "a/b.json"); !ok || string(got) != `{"x":1}` {
		t.Fatalf("oss object stored as %q %v", got, ok)
	}
}

func TestWrongSecretIsRefusedByEveryService(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	bad := core.Credential{AccessKeyID: core.DefaultAccessKeyID, AccessKeySecret: "wrong-secret", AccountID: core.DefaultAccountID}

	ec, err := NewECSClientFor(srv, "cn-hangzhou", bad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ec.DescribeRegions(sdkecs.CreateDescribeRegionsRequest()); err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Errorf("ecs with a wrong secret: want SignatureDoesNotMatch, got %v", err)
	}
	srv.SLS.EnsureProject("p1", "cn-hangzhou")
	lc := lcsls.NewSDKClient(srv.Addr(), bad)
	lc.SetRetryTimeout(time.Second)
	if _, err := lc.ListLogStore("p1"); err == nil || !strings.Contains(err.Error(), "SignatureNotMatch") {
		t.Errorf("sls with a wrong secret: want SignatureNotMatch, got %v", err)
	}
	if err := srv.OSS.CreateBucket("bkt1", "cn-hangzhou"); err != nil {
		t.Fatal(err)
	}
	oc, _ := lcoss.NewSDKClient(srv.Addr(), bad)
	b, _ := oc.Bucket("bkt1")
	if err := b.PutObject("k", bytes.NewReader([]byte("v"))); err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Errorf("oss with a wrong secret: want SignatureDoesNotMatch, got %v", err)
	}
	if _, ok := srv.OSS.Object("bkt1", "k"); ok {
		t.Error("oss stored an object from a badly signed request")
	}
}

func TestControlEndpoints(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	do := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL()+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	before := srv.Env.Clock.Now()
	if code, body := do("POST", "/_localcloud/clock/advance?by=90m", ""); code != 200 {
		t.Fatalf("advance: %d %s", code, body)
	}
	if got := srv.Env.Clock.Now().Sub(before); got != 90*time.Minute {
		t.Fatalf("clock advanced by %v, want 90m", got)
	}
	if code, _ := do("POST", "/_localcloud/clock/advance?by=soon", ""); code != 400 {
		t.Fatalf("bad duration: status %d, want 400", code)
	}
	if code, body := do("PUT", "/_localcloud/faults?service=ecs&action=DescribeRegions", `{"failNext":1,"errorStatus":503}`); code != 200 {
		t.Fatalf("set fault: %d %s", code, body)
	}
	ec, _ := srv.ECSClient("cn-hangzhou")
	_, err := ec.DescribeRegions(sdkecs.CreateDescribeRegionsRequest())
	var se *sdkerrors.ServerError
	if !errors.As(err, &se) || se.HttpStatus() != 503 || se.ErrorCode() != "ServiceUnavailable" {
		t.Fatalf("injected 503 not seen by the SDK: %v", err)
	}
	if _, err := ec.DescribeRegions(sdkecs.CreateDescribeRegionsRequest()); err != nil {
		t.Fatalf("after the one injected failure: %v", err)
	}
	req := sdkecs.CreateCreateImageRequest()
	req.InstanceId, req.ImageName = "i-hz-web-1", "control-check"
	created, err := ec.CreateImage(req)
	if err != nil {
		t.Fatal(err)
	}
	// The control view shows every status, unlike DescribeImages' default of Available.
	code, body := do("GET", "/_localcloud/ecs/images?region=cn-hangzhou", "")
	var imgs []struct{ ID, Status string }
	if code != 200 || json.Unmarshal([]byte(body), &imgs) != nil {
		t.Fatalf("images: %d %s", code, body)
	}
	found := false
	for _, im := range imgs {
		found = found || (im.ID == created.ImageId && im.Status == "Creating")
	}
	if !found {
		t.Fatalf("control view lacks the Creating image %s: %s", created.ImageId, body)
	}
	if code, body := do("PUT", "/_localcloud/eventbridge/delivery", `{"drop":1,"delay":"5ms","seed":3}`); code != 200 {
		t.Fatalf("set delivery: %d %s", code, body)
	}
	pat, err := eventbridge.CompilePattern(`{"source":["acs.ecs"]}`)
	if err != nil {
		t.Fatal(err)
	}
	delivered := 0
	if err := srv.Bridge.AddRule(eventbridge.Rule{Name: "r", Region: "cn-hangzhou", Pattern: pat,
		Target: func([]byte) error { delivered++; return nil }}); err != nil {
		t.Fatal(err)
	}
	srv.Bridge.Publish(eventbridge.CloudEvent{ID: "e1", Source: "acs.ecs", SpecVersion: "1.0", Type: "ecs:Image:StateChange",
		AliyunRegionID: "cn-hangzhou", AliyunAccountID: core.DefaultAccountID, Data: json.RawMessage(`{}`)})
	if !srv.Env.Tracker.WaitIdle(5 * time.Second) {
		t.Fatal("delivery did not finish")
	}
	if delivered != 0 {
		t.Fatalf("drop=1 set through the control endpoint, yet %d deliveries reached the target", delivered)
	}
	if code, _ := do("PUT", "/_localcloud/eventbridge/delivery", `{"drop":2}`); code != 400 {
		t.Fatalf("drop 2: status %d, want 400", code)
	}
	if code, _ := do("PUT", "/_localcloud/eventbridge/delivery", `{"dorp":1}`); code != 400 {
		t.Fatalf("unknown field: status %d, want 400", code)
	}
	if code, _ := do("GET", "/_localcloud/nope", ""); code != 404 {
		t.Fatalf("unknown control endpoint: %d", code)
	}
}

// The README's example, verbatim but for the address: the legacy constructor plus Domain.
func TestREADMEExampleWorks(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	client, err := sdkecs.NewClientWithAccessKey("cn-hangzhou", "LTAI5tLocalCloudTestKey", "LocalCloudTestSecret000000000000")
	if err != nil {
		t.Fatal(err)
	}
	client.Domain = srv.Addr()
	req := sdkecs.CreateCreateImageRequest()
	req.InstanceId, req.ImageName = "i-hz-web-1", "web-1-backup"
	resp, err := client.CreateImage(req)
	if err != nil {
		t.Fatalf("README example: %v", err)
	}
	srv.Env.Clock.Advance(time.Hour)
	d := sdkecs.CreateDescribeImagesRequest()
	d.ImageId = resp.ImageId
	out, err := client.DescribeImages(d)
	if err != nil || len(out.Images.Image) != 1 || out.Images.Image[0].Status != "Available" {
		t.Fatalf("image after an hour: %+v %v", out, err)
	}
}
