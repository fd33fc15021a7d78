package localcloud

import (
	"net/http"
	"strings"
	"testing"
	"time"

	slssdk "github.com/aliyun/aliyun-log-go-sdk"
	osssdk "github.com/aliyun/aliyun-oss-go-sdk/oss"

	lcsls "github.com/ecsdr/ecs-image-dr/pkg/localcloud/sls"
)

// staleDate sends every request with a Date an hour before the wall clock.
type staleDate struct{ next http.RoundTripper }

func (s staleDate) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Date", time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat))
	return s.next.RoundTrip(r)
}

// Issue 11 point 8: SLS and OSS refuse a Date more than 15 minutes from the wall clock
// (the simulated clock of the local cloud plays no part), and accept a current one.
func TestSLSAndOSSRefuseStaleDates(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	srv.SLS.EnsureProject("dates", "cn-hangzhou")
	cred := srv.Credential()

	sc := slssdk.CreateNormalInterfaceV2("http://"+lcsls.SDKEndpoint, slssdk.NewStaticCredentialsProvider(cred.AccessKeyID, cred.AccessKeySecret, ""))
	hc := lcsls.DialClient(srv.Addr())
	sc.SetHTTPClient(&http.Client{Transport: staleDate{hc.Transport}})
	_, err := sc.ListLogStore("dates")
	if err == nil || !strings.Contains(err.Error(), "RequestTimeExpired") {
		t.Errorf("SLS with a stale Date: %v, want RequestTimeExpired", err)
	}
	if _, err := lcsls.NewSDKClient(srv.Addr(), cred).ListLogStore("dates"); err != nil {
		t.Errorf("SLS with a current Date: %v", err)
	}

	oc, err := osssdk.New(srv.URL(), cred.AccessKeyID, cred.AccessKeySecret, osssdk.HTTPClient(&http.Client{Transport: staleDate{http.DefaultTransport}}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = oc.ListBuckets()
	if se, ok := err.(osssdk.ServiceError); !ok || se.Code != "RequestTimeTooSkewed" || se.StatusCode != 403 {
		t.Errorf("OSS with a stale Date: %v, want 403 RequestTimeTooSkewed", err)
	}
	ok, err := osssdk.New(srv.URL(), cred.AccessKeyID, cred.AccessKeySecret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ok.ListBuckets(); err != nil {
		t.Errorf("OSS with a current Date: %v", err)
	}
}
