package ecs

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	sdkecs "github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

func TestSignatureV1(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	sts := f.env.Creds.IssueSTS(core.DefaultAccountID, time.Hour)
	short := f.env.Creds.IssueSTS(core.DefaultAccountID, time.Minute)
	f.env.Clock.Advance(2 * time.Minute) // expires short, not sts

	tests := []struct {
		name       string
		cred       core.Credential
		wantStatus int
		wantCode   string
	}{
		{"access key", defaultCred, 0, ""},
		{"sts", sts, 0, ""},
		{"unknown key", core.Credential{AccessKeyID: "LTAInope", AccessKeySecret: "x"}, 404, "InvalidAccessKeyId.NotFound"},
		{"wrong secret", core.Credential{AccessKeyID: core.DefaultAccessKeyID, AccessKeySecret: "wrong"}, 400, "SignatureDoesNotMatch"},
		{"sts wrong token", core.Credential{AccessKeyID: sts.AccessKeyID, AccessKeySecret: sts.AccessKeySecret, SecurityToken: "CAISforged"}, 400, "InvalidSecurityToken.MismatchWithAccessKey"},
		{"sts key without token", core.Credential{AccessKeyID: sts.AccessKeyID, AccessKeySecret: sts.AccessKeySecret}, 400, "MissingSecurityToken"},
		{"sts expired", short, 400, "InvalidSecurityToken.Expired"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := f.newClient(t, "cn-hangzhou", tc.cred)
			// Tag values with space, '*' and '~' exercise the percent-encoding rules.
			req := sdkecs.CreateDescribeInstancesRequest()
			req.Tag = &[]sdkecs.DescribeInstancesTag{{Key: "app", Value: "web w*~"}}
			_, err := c.DescribeInstances(req)
			se := wantErr(t, err, tc.wantStatus, tc.wantCode)
			if tc.wantCode == "SignatureDoesNotMatch" {
				// The SDK compares our string to sign with its own: equal means the
				// canonicalisation matched byte for byte and only the secret differs.
				if !strings.Contains(se.Message(), "server string to sign is:POST&%2F&") {
					t.Errorf("message lacks the server string to sign: %q", se.Message())
				}
				if !strings.HasPrefix(se.Recommend(), "InvalidAccessKeySecret") {
					t.Errorf("SDK did not recognise an identical string to sign; recommend = %q", se.Recommend())
				}
			}
		})
	}
}

func TestSignatureV1Raw(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	tests := []struct {
		name, query string
		wantStatus  int
		wantCode    string
	}{
		{"no signature", "Action=DescribeRegions&Version=2014-05-26&RegionId=cn-hangzhou&AccessKeyId=" + core.DefaultAccessKeyID, 400, "IncompleteSignature"},
		{"no action", "Version=2014-05-26", 400, "MissingParameter"},
		{"bad method", "Action=DescribeRegions&Version=2014-05-26&AccessKeyId=" + core.DefaultAccessKeyID + "&Signature=x&SignatureMethod=HMAC-MD5", 400, "InvalidSignatureMethod"},
		{"malformed query", "Action=DescribeRegions&x=%zz", 400, "InvalidParameter"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, err := http.Post(f.url+"/?"+tc.query, "application/x-www-form-urlencoded", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body errorBody
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if resp.StatusCode != tc.wantStatus || body.Code != tc.wantCode || body.RequestId == "" || body.HostId == "" || body.Recommend == "" {
				t.Fatalf("got %d %+v, want %d %s", resp.StatusCode, body, tc.wantStatus, tc.wantCode)
			}
		})
	}
}

func TestSignaturePermissive(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.env.StrictSignatures = false
	c := f.newClient(t, "cn-hangzhou", core.Credential{AccessKeyID: core.DefaultAccessKeyID, AccessKeySecret: "wrong"})
	resp, err := c.DescribeRegions(sdkecs.CreateDescribeRegionsRequest())
	if err != nil || len(resp.Regions.Region) != 5 {
		t.Fatalf("permissive mode should serve a bad signature: %v %+v", err, resp)
	}
}

func TestSignatureV3(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	sts := f.env.Creds.IssueSTS(core.DefaultAccountID, time.Hour)
	ak, sk := core.DefaultAccessKeyID, core.DefaultAccessKeySecret
	q := map[string]string{"RegionId": "cn-hangzhou", "InstanceIds": `["i-hz-web-1"]`, "Tag.1.Key": "app", "Tag.1.Value": "web"}
	tests := []struct {
		name       string
		req        v3Req
		wantStatus int
		wantCode   string
	}{
		{"query params", v3Req{action: "DescribeInstances", query: q, ak: ak, sk: sk}, 200, ""},
		{"form body params", v3Req{action: "DescribeInstances", form: q, ak: ak, sk: sk}, 200, ""},
		{"sts", v3Req{action: "DescribeInstances", query: q, ak: sts.AccessKeyID, sk: sts.AccessKeySecret, token: sts.SecurityToken}, 200, ""},
		{"sts bad token", v3Req{action: "DescribeInstances", query: q, ak: sts.AccessKeyID, sk: sts.AccessKeySecret, token: "CAISx"}, 400, "InvalidSecurityToken.MismatchWithAccessKey"},
		{"wrong secret", v3Req{action: "DescribeInstances", query: q, ak: ak, sk: "wrong"}, 400, "SignatureDoesNotMatch"},
		{"unknown key", v3Req{action: "DescribeInstances", query: q, ak: "LTAInope", sk: sk}, 404, "InvalidAccessKeyId.NotFound"},
		{"tampered body", v3Req{action: "DescribeInstances", form: q, ak: ak, sk: sk, tamper: func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader("RegionId=cn-beijing"))
			r.ContentLength = int64(len("RegionId=cn-beijing"))
		}}, 400, "SignatureDoesNotMatch"},
		{"tampered query", v3Req{action: "DescribeInstances", query: q, ak: ak, sk: sk, tamper: func(r *http.Request) {
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "cn-hangzhou", "cn-beijing", 1)
		}}, 400, "SignatureDoesNotMatch"},
		{"unsigned acs header", v3Req{action: "DescribeInstances", query: q, ak: ak, sk: sk, tamper: func(r *http.Request) {
			r.Header.Set("x-acs-extra", "1")
		}}, 400, "IncompleteSignature"},
		{"missing date", v3Req{action: "DescribeInstances", query: q, ak: ak, sk: sk, tamper: func(r *http.Request) {
			r.Header.Del("x-acs-date")
		}}, 400, "MissingParameter"},
		{"malformed authorization", v3Req{action: "DescribeInstances", query: q, ak: ak, sk: sk, tamper: func(r *http.Request) {
			r.Header.Set("Authorization", "ACS3-HMAC-SHA256 garbage")
		}}, 400, "IncompleteSignature"},
		{"wrong version", v3Req{action: "DescribeInstances", query: q, ak: ak, sk: sk, version: "2016-03-14"}, 400, "InvalidVersion"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, body := f.doV3(t, tc.req)
			if tc.wantCode == "" {
				var out describeInstancesResponse
				if err := json.Unmarshal([]byte(body), &out); err != nil || resp.StatusCode != 200 {
					t.Fatalf("status %d body %s", resp.StatusCode, body)
				}
				if out.TotalCount != 1 || out.Instances.Instance[0].InstanceId != "i-hz-web-1" {
					t.Fatalf("filters in the v3 request were not applied: %s", body)
				}
				return
			}
			var eb errorBody
			if err := json.Unmarshal([]byte(body), &eb); err != nil {
				t.Fatalf("decode %q: %v", body, err)
			}
			if resp.StatusCode != tc.wantStatus || eb.Code != tc.wantCode {
				t.Fatalf("got %d %s (%s), want %d %s", resp.StatusCode, eb.Code, eb.Message, tc.wantStatus, tc.wantCode)
			}
		})
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		seed       func(*Seed)
		rule       core.FaultRule
		calls      int // the last call is checked
		wantStatus int
		wantCode   string
		wantMsg    string
	}{
		{"throttle", nil, core.FaultRule{QPS: 1}, 2, 400, "Throttling.User", "Request was denied due to user flow control."},
		{"throttle 429", func(s *Seed) { s.ThrottleStatus = 429 }, core.FaultRule{QPS: 1}, 2, 429, "Throttling.User", ""},
		{"within qps", nil, core.FaultRule{QPS: 2}, 2, 0, "", ""},
		{"503", nil, core.FaultRule{FailNext: 1}, 1, 503, "ServiceUnavailable", ""},
		{"500", nil, core.FaultRule{FailNext: 1, ErrorStatus: 500}, 1, 500, "InternalError", ""},
		{"custom code", nil, core.FaultRule{FailNext: 1, ErrorStatus: 502, ErrorCode: "Gateway.Busy"}, 1, 502, "Gateway.Busy", ""},
		{"fail next expires", nil, core.FaultRule{FailNext: 1}, 2, 0, "", ""},
		{"latency", nil, core.FaultRule{Latency: time.Millisecond}, 1, 0, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tc.seed)
			f.env.Faults.Set("ecs", "DescribeRegions", tc.rule)
			var err error
			for range tc.calls {
				_, err = f.client.DescribeRegions(sdkecs.CreateDescribeRegionsRequest())
			}
			se := wantErr(t, err, tc.wantStatus, tc.wantCode)
			if tc.wantMsg != "" && se.Message() != tc.wantMsg {
				t.Errorf("message %q, want %q", se.Message(), tc.wantMsg)
			}
			// Other actions are unaffected by a rule on DescribeRegions.
			_, err = f.client.DescribeInstances(sdkecs.CreateDescribeInstancesRequest())
			wantErr(t, err, 0, "")
		})
	}
}

func TestSDKRetriesInjected5xx(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.env.Faults.Set("ecs", "*", core.FaultRule{FailNext: 2})
	f.client.GetConfig().WithAutoRetry(true).WithMaxRetryTime(3)
	resp, err := f.client.DescribeRegions(sdkecs.CreateDescribeRegionsRequest())
	if err != nil || len(resp.Regions.Region) == 0 {
		t.Fatalf("SDK retry over two 503s: %v", err)
	}
}

func TestUnknownAndMalformed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	// One SDK client per goroutine: *sdk.Client is not goroutine-safe (every call rewrites
	// its http.Client timeout), so parallel subtests must not share f.client.
	common := func(t *testing.T, action string, params map[string]string) error {
		c := f.newClient(t, "cn-hangzhou", defaultCred)
		req := requests.NewCommonRequest()
		req.Method, req.Scheme, req.Domain, req.Version, req.ApiName, req.Product = "POST", "HTTP", f.addr, APIVersion, action, "Ecs"
		req.QueryParams["RegionId"] = "cn-hangzhou"
		for k, v := range params {
			req.QueryParams[k] = v
		}
		_, err := c.ProcessCommonRequest(req)
		return err
	}
	tests := []struct {
		name       string
		action     string
		params     map[string]string
		wantStatus int
		wantCode   string
	}{
		{"unknown action", "StartInstance", nil, 404, "InvalidAction.NotFound"},
		{"unknown region", "DescribeImages", map[string]string{"RegionId": "mars-1"}, 404, "InvalidRegionId.NotFound"},
		{"page number not int", "DescribeImages", map[string]string{"PageNumber": "abc"}, 400, "InvalidParameter"},
		{"page size over max", "DescribeImages", map[string]string{"PageSize": "101"}, 400, "InvalidParameter"},
		{"max results over max", "DescribeInstances", map[string]string{"MaxResults": "101"}, 400, "InvalidParameter"},
		{"bad next token", "DescribeInstances", map[string]string{"NextToken": "zzz"}, 400, "InvalidNextToken.Malformed"},
		{"bad bool", "DeleteImage", map[string]string{"ImageId": "m-x", "Force": "maybe"}, 400, "InvalidParameter"},
		{"tag index over 20", "DescribeImages", map[string]string{"Tag.21.Key": "k"}, 400, "InvalidParameter"},
		{"missing image id", "DeleteImage", nil, 400, "MissingParameter"},
		{"dry run", "DescribeImages", map[string]string{"DryRun": "true"}, 400, "DryRunOperation"},
		{"bad owner alias", "DescribeImages", map[string]string{"ImageOwnerAlias": "me"}, 400, "InvalidImageOwnerAlias.ValueNotSupported"},
		{"bad instance status", "DescribeInstances", map[string]string{"Status": "Flying"}, 400, "InvalidStatus.ValueNotSupported"},
		{"bad snapshot status", "DescribeSnapshots", map[string]string{"Status": "done"}, 400, "InvalidStatus.ValueNotSupported"},
		{"malformed snapshot ids", "DescribeSnapshots", map[string]string{"SnapshotIds": "s-1,s-2"}, 400, "InvalidSnapshotIds.Malformed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			se := wantErr(t, common(t, tc.action, tc.params), tc.wantStatus, tc.wantCode)
			if tc.name == "unknown action" && !strings.Contains(se.Message(), "StartInstance") {
				t.Errorf("message should name the action: %q", se.Message())
			}
		})
	}
}

// Not parallel: it edits the package's action table, which parallel tests only read
// after every sequential test has finished.
func TestPanicBecomesInternalError(t *testing.T) {
	f := newFixture(t, nil)
	actions["PanicForTest"] = func(*Service, *request) (any, *apiError) { panic("boom") }
	t.Cleanup(func() { delete(actions, "PanicForTest") })
	req := requests.NewCommonRequest()
	req.Method, req.Scheme, req.Domain, req.Version, req.ApiName, req.Product = "POST", "HTTP", f.addr, APIVersion, "PanicForTest", "Ecs"
	_, err := f.client.ProcessCommonRequest(req)
	wantErr(t, err, 500, "InternalError")
}

func TestNewRejectsBadInput(t *testing.T) {
	t.Parallel()
	if _, err := New(nil, DefaultSeed()); err == nil {
		t.Error("New(nil env) should fail")
	}
	env := core.NewEnv(core.NewManualClock(t0), slog.New(slog.DiscardHandler))
	if _, err := New(env, Seed{}); err == nil || !strings.Contains(err.Error(), "regions") {
		t.Errorf("New(empty seed) = %v, want a regions error", err)
	}
	if _, err := NewSDKClient("", "cn-hangzhou", defaultCred); err == nil {
		t.Error("NewSDKClient without addr should fail")
	}
}
