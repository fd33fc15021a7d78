package ecs

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	sdkecs "github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
)

// recorder keeps the last request the SDK sent (URL and headers).
type recorder struct {
	mu   sync.Mutex
	last *http.Request
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.last = req.Clone(req.Context())
	r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

func send(t *testing.T, method, u string, h http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Issue 11 point 8: the gateway refuses a replayed signature v1 request
// (SignatureNonceUsed) and one whose Timestamp is more than 15 minutes from the wall
// clock (InvalidTimeStamp.Expired), whatever the simulated clock says.
func TestGatewayRefusesReplayAndStaleTimestampV1(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	rec := &recorder{}
	c := f.newClient(t, "cn-hangzhou", defaultCred)
	c.SetTransport(rec)
	if _, err := c.DescribeRegions(sdkecs.CreateDescribeRegionsRequest()); err != nil {
		t.Fatalf("first call: %v", err)
	}
	// The simulated clock is far from the wall clock: the check must not use it.
	if d := time.Since(f.env.Clock.Now()); d < time.Hour && d > -time.Hour {
		t.Fatalf("test assumes the simulated clock (%v) is far from the wall clock", f.env.Clock.Now())
	}
	status, body := send(t, rec.last.Method, rec.last.URL.String(), rec.last.Header)
	if status != 400 || !strings.Contains(body, `"SignatureNonceUsed"`) {
		t.Errorf("replayed request: %d %s, want 400 SignatureNonceUsed", status, body)
	}

	// The same request, re-signed with a fresh nonce but a Timestamp 20 minutes old.
	q, _ := url.ParseQuery(rec.last.URL.RawQuery)
	for _, tc := range []struct {
		name string
		ts   time.Time
		want string
	}{
		{"20 minutes old", time.Now().Add(-20 * time.Minute), "InvalidTimeStamp.Expired"},
		{"20 minutes ahead", time.Now().Add(20 * time.Minute), "InvalidTimeStamp.Expired"},
		{"10 minutes old", time.Now().Add(-10 * time.Minute), ""},
	} {
		q.Set("Timestamp", tc.ts.UTC().Format("2006-01-02T15:04:05Z"))
		q.Set("SignatureNonce", strings.ReplaceAll(tc.name, " ", "-")+time.Now().Format("150405.000000000"))
		q.Set("Signature", signV1(defaultCred.AccessKeySecret, stringToSignV1(http.MethodPost, q)))
		u := *rec.last.URL
		u.RawQuery = q.Encode()
		status, body := send(t, http.MethodPost, u.String(), rec.last.Header)
		switch {
		case tc.want == "" && status != 200:
			t.Errorf("%s: %d %s, want 200", tc.name, status, body)
		case tc.want != "" && (status != 400 || !strings.Contains(body, tc.want)):
			t.Errorf("%s: %d %s, want 400 %s", tc.name, status, body, tc.want)
		}
	}
}

// The same for signature v3 (x-acs-signature-nonce, x-acs-date).
func TestGatewayRefusesReplayAndStaleTimestampV3(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	r := v3Req{action: "DescribeRegions", ak: defaultCred.AccessKeyID, sk: defaultCred.AccessKeySecret, nonce: "nonce-v3-" + time.Now().Format("150405.000000000")}
	if resp, body := f.doV3(t, r); resp.StatusCode != 200 {
		t.Fatalf("first call: %d %s", resp.StatusCode, body)
	}
	if resp, body := f.doV3(t, r); resp.StatusCode != 400 || !strings.Contains(body, "SignatureNonceUsed") {
		t.Errorf("replay: %d %s, want 400 SignatureNonceUsed", resp.StatusCode, body)
	}
	r.nonce, r.date = "", time.Now().Add(-time.Hour).UTC().Format("2006-01-02T15:04:05Z")
	if resp, body := f.doV3(t, r); resp.StatusCode != 400 || !strings.Contains(body, "InvalidTimeStamp.Expired") {
		t.Errorf("an hour old: %d %s, want 400 InvalidTimeStamp.Expired", resp.StatusCode, body)
	}
}
