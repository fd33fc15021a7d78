package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdkecs "github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/fc-runtime-go-sdk/fccontext"

	"github.com/ecsdr/ecs-image-dr/pkg/app"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	lcecs "github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
	"github.com/ecsdr/ecs-image-dr/pkg/redact"
)

// breakingProxy stands between the functions and the local cloud's ECS endpoint: while
// reset is set, it drops every ECS connection without an answer, so the SDK returns a
// transport error (*url.Error) that prints the signed request URL.
type breakingProxy struct {
	srv   *httptest.Server
	reset atomic.Bool
}

func newBreakingProxy(t *testing.T, target string) *breakingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &breakingProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.reset.Load() {
			hj, ok := w.(http.Hijacker)
			if !ok {
				t.Error("proxy: no hijacker")
				return
			}
			conn, _, err := hj.Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *breakingProxy) addr() string { return strings.TrimPrefix(p.srv.URL, "http://") }

// leakScanner finds credentials in text: the values of every credential handed out, and
// signed-request parameters with a value other than the redaction mask.
type leakScanner struct {
	values []string
}

var signedParam = regexp.MustCompile(`(?i)\b(Signature|SecurityToken|AccessKeyId|x-acs-security-token|x-oss-security-token)(=|%3D|":")([^&\s"\\]*)`)

func (s *leakScanner) add(cr fccontext.Credentials) {
	s.values = append(s.values, cr.AccessKeyId, cr.AccessKeySecret, cr.SecurityToken)
}

// leaks returns what text gives away (nil: nothing).
func (s *leakScanner) leaks(text string) []string {
	var out []string
	for _, v := range s.values {
		for _, form := range []string{v, url.QueryEscape(v)} {
			if form != "" && strings.Contains(text, form) {
				out = append(out, "credential value "+form[:min(8, len(form))]+"…")
			}
		}
	}
	for _, m := range signedParam.FindAllStringSubmatch(text, -1) {
		if m[3] != "" && m[3] != redact.Mask {
			out = append(out, "signed parameter "+m[1])
		}
	}
	return out
}

// Issue 11 point 5: transport errors, throttling, service failures and refused signatures,
// driven through every function, leave no AccessKeyId, secret, token or signature in any
// SLS record, stdout line, function result or returned error.
func TestNoCredentialInAnyRecord(t *testing.T) {
	t.Parallel()
	c := slsCloud(t, nil)
	proxy := newBreakingProxy(t, c.srv.URL())
	c.env[app.EnvECSEndpoint] = proxy.addr()
	scan := &leakScanner{}

	var outputs []string // results and errors returned to FC
	timeout := 30 * time.Second
	invoke := func(what string, fn app.Function, payload []byte, mutate func(*fccontext.Credentials)) (*app.Result, error) {
		t.Helper()
		sts := c.roleCreds(72 * time.Hour)
		cr := fccontext.Credentials{AccessKeyId: sts.AccessKeyID, AccessKeySecret: sts.AccessKeySecret, SecurityToken: sts.SecurityToken}
		scan.add(cr)
		if mutate != nil {
			mutate(&cr)
			scan.add(cr)
		}
		// The retry loop backs off in wall time: a short deadline ends it (issue 9 moves the
		// sleeps onto the simulated clock).
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		c.seq++
		ctx = fccontext.NewContext(ctx, &fccontext.FcContext{
			RequestID: requestID(fn, c.seq), Credentials: cr, Function: fccontext.Function{Name: string(fn)},
			Region: hz, AccountId: core.DefaultAccountID,
		})
		res, err := c.handler(fn).Handle(ctx, payload)
		b, _ := json.Marshal(res)
		outputs = append(outputs, what+" result: "+string(b))
		if err != nil {
			outputs = append(outputs, what+" error: "+err.Error())
		}
		return res, err
	}

	// A healthy cycle first, for an image event to replay in the failure phases.
	c.clock.AdvanceTo(at(1, 2, 0))
	if _, err := invoke("healthy create", app.CreateImage, timerPayload(at(1, 2, 0), "daily", "create"), nil); err != nil {
		t.Fatal(err)
	}
	c.clock.AdvanceTo(at(1, 2, 30))
	evs := c.takeEvents()
	if len(evs) == 0 {
		t.Fatal("no image event")
	}
	event := eventPayload(t, evs[0])

	all := func(phase string, mutate func(*fccontext.Credentials)) (failed int) {
		for _, call := range []struct {
			fn      app.Function
			payload []byte
		}{
			{app.CreateImage, timerPayload(at(2, 2, 0), "daily", "create")},
			{app.CopyImage, event},
			{app.CopyImage, timerPayload(at(2, 3, 30), "reconcile", "reconcile")},
			{app.Cleanup, timerPayload(at(2, 4, 0), "daily", "cleanup")},
		} {
			res, err := invoke(phase, call.fn, call.payload, mutate)
			b, _ := json.Marshal(res)
			if err != nil || strings.Contains(string(b), `"reason"`) || strings.Contains(string(b), `failed`) {
				failed++
			}
		}
		return failed
	}
	phases := []struct {
		name   string
		setup  func()
		mutate func(*fccontext.Credentials)
	}{
		{name: "ecs transport errors", setup: func() { proxy.reset.Store(true); timeout = 1200 * time.Millisecond }},
		{name: "ecs throttling", setup: func() {
			proxy.reset.Store(false)
			c.srv.Env.Faults.Set("ecs", "*", core.FaultRule{ErrorRate: 1, ErrorStatus: 400, ErrorCode: "Throttling.User"})
		}},
		{name: "ecs, oss and sls failures", setup: func() {
			timeout = 30 * time.Second
			c.srv.Env.Faults.Clear()
			c.srv.Env.Faults.Set("ecs", "CopyImage", core.FaultRule{ErrorRate: 1, ErrorStatus: 403, ErrorCode: "QuotaExceed.Image"})
			c.srv.Env.Faults.Set("oss", "*", core.FaultRule{ErrorRate: 1, ErrorStatus: 403, ErrorCode: "AccessDenied"})
			c.srv.Env.Faults.Set("sls", "PutLogs", core.FaultRule{FailNext: 2, ErrorStatus: 401, ErrorCode: "Unauthorized"})
		}},
		// The gateways echo the string to sign (AccessKeyId and SecurityToken in it).
		{name: "refused signatures", setup: func() { c.srv.Env.Faults.Clear() },
			mutate: func(cr *fccontext.Credentials) { cr.AccessKeySecret = "wrong" + cr.AccessKeySecret }},
	}
	for _, ph := range phases {
		ph.setup()
		if n := all(ph.name, ph.mutate); n == 0 {
			t.Errorf("%s: no invocation failed: the phase tests nothing", ph.name)
		}
	}

	texts := map[string][]string{"stdout": strings.Split(c.stdout.String(), "\n"), "function output": outputs}
	for _, r := range c.srv.SLS.Logs(slsProject, slsLogstore) {
		b, _ := json.Marshal(r)
		texts["sls"] = append(texts["sls"], string(b))
	}
	if len(texts["sls"]) == 0 || len(texts["stdout"]) < 20 {
		t.Fatalf("too little to scan: %d sls records, %d stdout lines", len(texts["sls"]), len(texts["stdout"]))
	}
	// The phases must have produced the errors whose text used to carry credentials.
	joined := strings.Join(texts["stdout"], "\n")
	for _, want := range []string{"EOF", "Throttling.User", "SignatureDoesNotMatch", "AccessDenied"} {
		if !strings.Contains(joined, want) {
			t.Errorf("stdout never shows %q: the phase did not run as meant", want)
		}
	}
	for where, lines := range texts {
		for _, l := range lines {
			if leaks := scan.leaks(l); len(leaks) > 0 {
				t.Errorf("%s leaks %v: %s", where, leaks, l)
			}
		}
	}
}

// The scanner above finds what the unredacted SDK errors give away, and redact removes it:
// the check can fail.
func TestLeakScannerCatchesRawSDKErrors(t *testing.T) {
	t.Parallel()
	c := newCloud(t, cloudOptions{})
	proxy := newBreakingProxy(t, c.srv.URL())
	proxy.reset.Store(true)
	sts := c.srv.Env.Creds.IssueSTS(core.DefaultAccountID, time.Hour)
	scan := &leakScanner{}
	scan.add(fccontext.Credentials{AccessKeyId: sts.AccessKeyID, AccessKeySecret: sts.AccessKeySecret, SecurityToken: sts.SecurityToken})

	client, err := lcecs.NewSDKClient(proxy.addr(), hz, sts)
	if err != nil {
		t.Fatal(err)
	}
	_, rawTransport := client.DescribeImages(sdkecs.CreateDescribeImagesRequest())
	proxy.reset.Store(false)
	bad := sts
	bad.AccessKeySecret = "wrong-secret"
	client, err = lcecs.NewSDKClient(proxy.addr(), hz, bad)
	if err != nil {
		t.Fatal(err)
	}
	_, rawSignature := client.DescribeImages(sdkecs.CreateDescribeImagesRequest())

	for name, raw := range map[string]error{"transport": rawTransport, "signature": rawSignature} {
		if raw == nil {
			t.Fatalf("%s: the call succeeded", name)
		}
		if leaks := scan.leaks(raw.Error()); len(leaks) == 0 {
			t.Errorf("%s: the scanner finds nothing in the raw SDK error: %s", name, raw)
		}
		clean := redact.Error(raw).Error()
		if leaks := scan.leaks(clean); len(leaks) > 0 {
			t.Errorf("%s: redacted error still leaks %v: %s", name, leaks, clean)
		}
	}
}
