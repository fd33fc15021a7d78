package ecs

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

// FuzzRequestParsing: whatever RPC parameters arrive (query or form), the service answers
// with a status and a body in ECS's error format, and never panics. Signatures are not
// enforced here so the fuzzer reaches the actions' own parameter parsing.
func FuzzRequestParsing(f *testing.F) {
	for _, s := range []string{
		"Action=DescribeImages&RegionId=cn-hangzhou&Status=Creating,Available&PageSize=100",
		"Action=CreateImage&RegionId=cn-hangzhou&InstanceId=i-hz-web-1&ImageName=x&ClientToken=t&Tag.1.Key=a&Tag.1.Value=b",
		"Action=CopyImage&RegionId=cn-hangzhou&ImageId=m-1&DestinationRegionId=cn-beijing&Encrypted=true",
		"Action=DeleteImage&RegionId=cn-hangzhou&ImageId=m-1&Force=maybe",
		"Action=TagResources&RegionId=cn-hangzhou&ResourceType=image&ResourceId.1=m-1&Tag.999999999999.Key=k",
		"Action=DescribeInstances&RegionId=cn-hangzhou&InstanceIds=[\"i-1\"&PageNumber=-1",
		"Action=RunInstances&RegionId=cn-hangzhou&Amount=100000&ImageId=m-x",
		"Action=%zz&RegionId=",
	} {
		f.Add(s, true)
	}
	env := core.NewEnv(core.NewManualClock(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)), nil)
	env.StrictSignatures = false
	svc, err := New(env, DefaultSeed())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, params string, form bool) {
		common := "AccessKeyId=" + core.DefaultAccessKeyID + "&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&SignatureNonce=n&Timestamp=2026-11-01T00%3A00%3A00Z&Version=2014-05-26&Format=JSON&Signature=x&"
		var req *http.Request
		if form {
			req = httptest.NewRequest(http.MethodPost, "/", strings.NewReader(common+params))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req = httptest.NewRequest(http.MethodGet, "/", nil)
			req.URL.RawQuery = common + params
		}
		rec := httptest.NewRecorder()
		svc.ServeHTTP(rec, req)
		if rec.Code < 200 || rec.Code > 599 {
			t.Fatalf("status %d", rec.Code)
		}
		body := rec.Body.String()
		if body == "" {
			t.Fatalf("status %d with an empty body", rec.Code)
		}
		if rec.Code >= 400 && !strings.Contains(body, "Code") {
			t.Fatalf("error %d without an ECS error code: %s", rec.Code, body)
		}
	})
}
