package ecsx

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
)

const (
	testAK     = "LTAI-test-ak"
	testSecret = "test-secret"
	testToken  = "sts-token-1"
)

// fakeECS is a tiny ECS RPC endpoint: it verifies the v1 signature, records the query of
// every call and answers with handler results rendered from the SDK's own response structs.
type fakeECS struct {
	t       *testing.T
	mu      sync.Mutex
	calls   []url.Values
	handler func(q url.Values) (status int, body any)
}

func (f *fakeECS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	q := r.Form
	f.mu.Lock()
	f.calls = append(f.calls, q)
	f.mu.Unlock()
	if got, want := q.Get("Signature"), sign(r.Method, q, testSecret); got != want {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"Code":"SignatureDoesNotMatch","Message":"bad signature","RequestId":"r-sig"}`)
		return
	}
	status, body := f.handler(q)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if s, ok := body.(string); ok {
		fmt.Fprint(w, s)
		return
	}
	_ = json.NewEncoder(w).Encode(body)
}

func (f *fakeECS) actions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, q := range f.calls {
		out = append(out, q.Get("Action"))
	}
	return out
}

func (f *fakeECS) last() url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[len(f.calls)-1]
}

// sign is RPC signature v1 as the server computes it (wire-protocols.md §1).
func sign(method string, q url.Values, secret string) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		if k != "Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	enc := func(s string) string {
		s = url.QueryEscape(s)
		return strings.NewReplacer("+", "%20", "*", "%2A", "%7E", "~").Replace(s)
	}
	pairs := make([]string, 0, len(keys))
	for _, k := range keys {
		pairs = append(pairs, enc(k)+"="+enc(q.Get(k)))
	}
	sts := method + "&%2F&" + enc(strings.Join(pairs, "&"))
	m := hmac.New(sha1.New, []byte(secret+"&"))
	m.Write([]byte(sts))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func newTestSDK(t *testing.T, handler func(q url.Values) (int, any)) (API, *fakeECS) {
	t.Helper()
	f := &fakeECS{t: t, handler: handler}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	api, err := NewSDK(SDKConfig{
		Endpoint:    strings.TrimPrefix(srv.URL, "http://"),
		Scheme:      "HTTP",
		Credentials: func() (string, string, string) { return testAK, testSecret, testToken },
		Timeout:     5 * time.Second,
	})
	if err != nil {
		t.Fatalf("NewSDK: %v", err)
	}
	return api, f
}

func atoiOr(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return def
}

func TestSDKDescribeImagesPagesAndParses(t *testing.T) {
	t.Parallel()
	const total = 250
	api, f := newTestSDK(t, func(q url.Values) (int, any) {
		page, size := atoiOr(q.Get("PageNumber"), 1), atoiOr(q.Get("PageSize"), 10)
		resp := ecs.DescribeImagesResponse{RequestId: "r1", TotalCount: total, PageNumber: page, PageSize: size, RegionId: q.Get("RegionId")}
		for i := (page - 1) * size; i < min(page*size, total); i++ {
			im := ecs.Image{ImageId: fmt.Sprintf("m-%03d", i), ImageName: fmt.Sprintf("img-%d", i), Status: "Available",
				Progress: "100%", Size: 40, CreationTime: "2026-01-02T03:04:05Z", IsCopied: i%2 == 1}
			im.Tags.Tag = []ecs.Tag{{TagKey: "k", TagValue: strconv.Itoa(i)}}
			im.DiskDeviceMappings.DiskDeviceMapping = []ecs.DiskDeviceMapping{{SnapshotId: fmt.Sprintf("s-%03d", i)}, {SnapshotId: ""}}
			resp.Images.Image = append(resp.Images.Image, im)
		}
		return 200, resp
	})
	imgs, err := api.DescribeImages(context.Background(), "cn-hangzhou", ImageQuery{
		Statuses: AllImageStatuses, Tags: map[string]string{"b": "2", "a": "1 *~"}})
	if err != nil {
		t.Fatalf("DescribeImages: %v", err)
	}
	if len(imgs) != total {
		t.Fatalf("got %d images, want %d (all pages)", len(imgs), total)
	}
	if got := len(f.actions()); got != 3 {
		t.Errorf("requests = %d, want 3 pages of 100", got)
	}
	im := imgs[201]
	want := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if im.ID != "m-201" || im.Region != "cn-hangzhou" || im.SizeGiB != 40 || !im.Created.Equal(want) || !im.IsCopied ||
		im.Tags["k"] != "201" || len(im.Snapshots) != 1 || im.Snapshots[0] != "s-201" || im.Progress != "100%" {
		t.Errorf("image parsed wrong: %+v", im)
	}
	q := f.last()
	for k, v := range map[string]string{
		"Action": "DescribeImages", "RegionId": "cn-hangzhou", "ImageOwnerAlias": "self", "PageSize": "100", "PageNumber": "3",
		"Status": strings.Join(AllImageStatuses, ","), "Tag.1.Key": "a", "Tag.1.Value": "1 *~", "Tag.2.Key": "b",
		"AccessKeyId": testAK, "SecurityToken": testToken,
	} {
		if q.Get(k) != v {
			t.Errorf("query %s = %q, want %q", k, q.Get(k), v)
		}
	}
}

func TestSDKDescribeInstancesChunksIDsAndPages(t *testing.T) {
	t.Parallel()
	api, f := newTestSDK(t, func(q url.Values) (int, any) {
		var ids []string
		if err := json.Unmarshal([]byte(q.Get("InstanceIds")), &ids); err != nil {
			return 400, `{"Code":"InvalidParameter","Message":"InstanceIds"}`
		}
		// The server pages by 60 whatever PageSize says: the client must follow TotalCount.
		page, size := atoiOr(q.Get("PageNumber"), 1), 60
		resp := ecs.DescribeInstancesResponse{RequestId: "r", TotalCount: len(ids), PageNumber: page, PageSize: size}
		for i := (page - 1) * size; i < min(page*size, len(ids)); i++ {
			in := ecs.Instance{InstanceId: ids[i], InstanceName: "n-" + ids[i], Status: "Running", ImageId: "m-base", RegionId: q.Get("RegionId")}
			if ids[i] == "i-007" {
				in.OperationLocks.LockReason = []ecs.LockReason{{LockReason: "security"}}
			}
			in.Tags.Tag = []ecs.Tag{{TagKey: "env", TagValue: "prod"}}
			resp.Instances.Instance = append(resp.Instances.Instance, in)
		}
		return 200, resp
	})
	var ids []string
	for i := range 150 {
		ids = append(ids, fmt.Sprintf("i-%03d", i))
	}
	got, err := api.DescribeInstances(context.Background(), "cn-shanghai", InstanceQuery{IDs: ids})
	if err != nil {
		t.Fatalf("DescribeInstances: %v", err)
	}
	if len(got) != 150 {
		t.Fatalf("got %d instances, want 150", len(got))
	}
	// chunk 1: 100 ids = 2 pages of 60; chunk 2: 50 ids = 1 page.
	if n := len(f.actions()); n != 3 {
		t.Errorf("requests = %d, want 3", n)
	}
	if in := got[7]; !in.Locked || len(in.LockReasons) != 1 || in.LockReasons[0] != "security" || in.Tags["env"] != "prod" ||
		in.Region != "cn-shanghai" || in.ImageID != "m-base" || in.Name != "n-i-007" {
		t.Errorf("instance parsed wrong: %+v", in)
	}
	if got[8].Locked {
		t.Errorf("i-008 reported locked")
	}
}

func TestSDKCreateAndCopyImageSendParams(t *testing.T) {
	t.Parallel()
	api, f := newTestSDK(t, func(q url.Values) (int, any) {
		return 200, ecs.CreateImageResponse{RequestId: "r", ImageId: "m-new-" + q.Get("Action")}
	})
	ctx := context.Background()
	id, err := api.CreateImage(ctx, "cn-hangzhou", CreateImageInput{InstanceID: "i-1", Name: "dr-i-1", ClientToken: "tok-1",
		Tags: map[string]string{"ecs-dr:policy": "p", "ecs-dr:managed-by": "ecs-image-dr"}})
	if err != nil || id != "m-new-CreateImage" {
		t.Fatalf("CreateImage = %q, %v", id, err)
	}
	q := f.last()
	for k, v := range map[string]string{"InstanceId": "i-1", "ImageName": "dr-i-1", "ClientToken": "tok-1",
		"Tag.1.Key": "ecs-dr:managed-by", "Tag.2.Key": "ecs-dr:policy", "Tag.2.Value": "p"} {
		if q.Get(k) != v {
			t.Errorf("CreateImage query %s = %q, want %q", k, q.Get(k), v)
		}
	}
	tests := []struct {
		name             string
		in               CopyImageInput
		encrypted, kmsID string
	}{
		{"plain", CopyImageInput{ImageID: "m-1", DestinationRegion: "cn-beijing", Name: "c"}, "", ""},
		{"encrypted with key", CopyImageInput{ImageID: "m-1", DestinationRegion: "cn-beijing", Name: "c", Encrypted: true, KMSKeyID: "key-1"}, "true", "key-1"},
		{"key ignored unless encrypted", CopyImageInput{ImageID: "m-1", DestinationRegion: "cn-beijing", Name: "c", KMSKeyID: "key-1"}, "", ""},
	}
	for _, tc := range tests {
		id, err := api.CopyImage(ctx, "cn-hangzhou", tc.in)
		if err != nil || id != "m-new-CopyImage" {
			t.Fatalf("%s: CopyImage = %q, %v", tc.name, id, err)
		}
		q := f.last()
		if q.Get("DestinationRegionId") != "cn-beijing" || q.Get("RegionId") != "cn-hangzhou" || q.Get("ImageId") != "m-1" ||
			q.Get("DestinationImageName") != "c" || q.Get("Encrypted") != tc.encrypted || q.Get("KMSKeyId") != tc.kmsID {
			t.Errorf("%s: CopyImage query = %v", tc.name, q)
		}
	}
}

func TestSDKErrorsAreClassified(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                           string
		status                         int
		body                           string
		code                           string
		throttled, notFound, retryable bool
	}{
		{"throttling", 400, `{"Code":"Throttling.User","Message":"Request was denied due to user flow control.","RequestId":"r"}`, "Throttling.User", true, false, true},
		{"not found", 404, `{"Code":"InvalidImageId.NotFound","Message":"x","RequestId":"r"}`, "InvalidImageId.NotFound", false, true, false},
		{"unavailable", 503, `{"Code":"ServiceUnavailable","Message":"x","RequestId":"r"}`, "ServiceUnavailable", false, false, true},
		{"internal", 500, `{"Code":"InternalError","Message":"x","RequestId":"r"}`, "InternalError", false, false, true},
		{"bad gateway, no json", 502, `<html>bad gateway</html>`, "", false, false, true},
		{"quota", 403, `{"Code":"QuotaExceed.Image","Message":"The Image Quota exceeds.","RequestId":"r"}`, "QuotaExceed.Image", false, false, false},
		{"in use", 403, `{"Code":"ImageUsingByInstance","Message":"x","RequestId":"r"}`, "ImageUsingByInstance", false, false, false},
		{"instance status", 400, `{"Code":"IncorrectInstanceStatus","Message":"x","RequestId":"r"}`, "IncorrectInstanceStatus", false, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			api, _ := newTestSDK(t, func(url.Values) (int, any) { return tc.status, tc.body })
			err := api.DeleteImage(context.Background(), "cn-hangzhou", "m-1", false)
			if err == nil {
				t.Fatal("DeleteImage succeeded, want error")
			}
			if !strings.HasPrefix(err.Error(), "ecs: DeleteImage m-1 in cn-hangzhou: ") {
				t.Errorf("error lacks call context: %v", err)
			}
			if Code(err) != tc.code || IsThrottled(err) != tc.throttled || IsNotFound(err) != tc.notFound || IsRetryable(err) != tc.retryable {
				t.Errorf("Code=%q throttled=%v notFound=%v retryable=%v, want %q %v %v %v", Code(err), IsThrottled(err),
					IsNotFound(err), IsRetryable(err), tc.code, tc.throttled, tc.notFound, tc.retryable)
			}
		})
	}
}

func TestSDKBadCredentialsAndSignature(t *testing.T) {
	t.Parallel()
	f := &fakeECS{t: t, handler: func(url.Values) (int, any) { return 200, `{"RequestId":"r"}` }}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	if _, err := NewSDK(SDKConfig{Endpoint: srv.URL}); err == nil {
		t.Error("NewSDK without credentials succeeded")
	}
	if _, err := NewSDK(SDKConfig{Endpoint: "x", Scheme: "ftp", Credentials: func() (string, string, string) { return "a", "b", "" }}); err == nil {
		t.Error("NewSDK with scheme ftp succeeded")
	}
	// Endpoint as a URL: scheme comes from it.
	wrong, err := NewSDK(SDKConfig{Endpoint: srv.URL, Credentials: func() (string, string, string) { return testAK, "wrong", "" }})
	if err != nil {
		t.Fatal(err)
	}
	err = wrong.DeleteSnapshot(context.Background(), "cn-hangzhou", "s-1")
	if Code(err) != "SignatureDoesNotMatch" || IsRetryable(err) {
		t.Errorf("wrong secret: err = %v (code %q), want non-retryable SignatureDoesNotMatch", err, Code(err))
	}
	empty, _ := NewSDK(SDKConfig{Endpoint: srv.URL, Credentials: func() (string, string, string) { return "", "", "" }})
	if err := empty.DeleteSnapshot(context.Background(), "cn-hangzhou", "s-1"); err == nil || !strings.Contains(err.Error(), "empty access key") {
		t.Errorf("empty credentials: err = %v", err)
	}
	good, _ := NewSDK(SDKConfig{Endpoint: srv.URL, Credentials: func() (string, string, string) { return testAK, testSecret, "" }})
	if err := good.DeleteSnapshot(context.Background(), "cn-hangzhou", "s-1"); err != nil {
		t.Errorf("DeleteSnapshot: %v", err)
	}
	if q := f.last(); q.Get("SnapshotId") != "s-1" || q.Has("SecurityToken") {
		t.Errorf("DeleteSnapshot query = %v", q)
	}
}

func TestSDKTransportErrorIsRetryable(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close() // nothing listens any more: connection refused
	api, err := NewSDK(SDKConfig{Endpoint: addr, Credentials: func() (string, string, string) { return testAK, testSecret, "" }})
	if err != nil {
		t.Fatal(err)
	}
	_, err = api.DescribeImages(context.Background(), "cn-hangzhou", ImageQuery{IDs: []string{"m-1"}})
	if err == nil || !IsRetryable(err) || Code(err) != "" {
		t.Errorf("connection refused: err = %v retryable=%v code=%q, want retryable without code", err, IsRetryable(err), Code(err))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := api.DescribeImages(ctx, "cn-hangzhou", ImageQuery{}); err == nil || IsRetryable(err) {
		t.Errorf("cancelled context: err = %v, want non-retryable error", err)
	}
}

// An SDK client is not safe for concurrent use; the adapter checks clients out per call.
// Run with -race to see the difference.
func TestSDKConcurrentCalls(t *testing.T) {
	t.Parallel()
	api, f := newTestSDK(t, func(q url.Values) (int, any) {
		return 200, ecs.CreateImageResponse{RequestId: "r", ImageId: "m-" + q.Get("InstanceId")}
	})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := api.CreateImage(context.Background(), "cn-hangzhou", CreateImageInput{InstanceID: fmt.Sprintf("i%d", i), Name: "n"})
			if err == nil && id != fmt.Sprintf("m-i%d", i) {
				err = fmt.Errorf("instance i%d got image %s", i, id)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := len(f.actions()); n != 16 {
		t.Errorf("requests = %d, want 16", n)
	}
}
