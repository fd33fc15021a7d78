package sls_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/aliyun/aliyun-log-go-sdk"
	"github.com/gogo/protobuf/proto"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	localsls "github.com/ecsdr/ecs-image-dr/pkg/localcloud/sls"
)

const project = "proj"

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// fixture is one local SLS behind an httptest server, with project "proj" seeded.
type fixture struct {
	env      *core.Env
	svc      *localsls.Service
	addr     string
	requests atomic.Int64 // every HTTP request the server saw
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	env := core.NewEnv(core.NewManualClock(t0), nil)
	env.Faults.Now = env.Clock.Now // QPS windows on the test clock, not wall time: deterministic
	f := &fixture{env: env, svc: localsls.New(env)}
	f.svc.EnsureProject(project, "cn-hangzhou")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		f.svc.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	f.addr = srv.Listener.Addr().String()
	return f
}

func defaultCred() core.Credential {
	return core.Credential{AccessKeyID: core.DefaultAccessKeyID, AccessKeySecret: core.DefaultAccessKeySecret}
}

func (f *fixture) client() sdk.ClientInterface { return localsls.NewSDKClient(f.addr, defaultCred()) }

// mustLogstore creates logstore name through the SDK.
func (f *fixture) mustLogstore(t *testing.T, name string) {
	t.Helper()
	if err := f.client().CreateLogStore(project, name, 7, 2, false, 0); err != nil {
		t.Fatalf("create logstore %s: %v", name, err)
	}
}

// slsError extracts the SDK's *sls.Error, failing the test when err is something else.
func slsError(t *testing.T, err error) *sdk.Error {
	t.Helper()
	if err == nil {
		t.Fatal("want an SLS error, got nil")
	}
	var e *sdk.Error
	if !errors.As(err, &e) {
		t.Fatalf("want *sls.Error, got %T: %v", err, err)
	}
	return e
}

func wantCode(t *testing.T, err error, status int32, code string) {
	t.Helper()
	e := slsError(t, err)
	if e.HTTPCode != status || e.Code != code {
		t.Fatalf("got %d %s (%s), want %d %s", e.HTTPCode, e.Code, e.Message, status, code)
	}
	if len(e.RequestID) != 24 {
		t.Fatalf("request id %q: want 24 characters from x-log-requestid", e.RequestID)
	}
}

// rawDo sends a request signed with the SDK's own AuthV1 signer, for bodies and headers
// the SDK would never produce. host is the project ("" for the default).
func (f *fixture) rawDo(t *testing.T, proj, method, uri string, headers map[string]string, body []byte) (int, string, http.Header) {
	t.Helper()
	if proj == "" {
		proj = project
	}
	h := map[string]string{
		"x-log-apiversion": "0.6.0",
		"Date":             time.Now().UTC().Format(http.TimeFormat),
	}
	for k, v := range headers {
		h[k] = v
	}
	if body != nil {
		if _, ok := h["Content-Type"]; !ok {
			h["Content-Type"] = "application/x-protobuf"
		}
	}
	if err := sdk.NewSignerV1(core.DefaultAccessKeyID, core.DefaultAccessKeySecret).Sign(method, uri, h, body); err != nil {
		t.Fatalf("sign: %v", err)
	}
	req, err := http.NewRequest(method, "http://"+proj+"."+localsls.SDKEndpoint+uri, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := localsls.DialClient(f.addr).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, uri, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// logGroup builds a LogGroup of logs, each a flat key/value list, at t0+i seconds.
func logGroup(topic, source string, logs ...[]string) *sdk.LogGroup {
	lg := &sdk.LogGroup{Topic: proto.String(topic), Source: proto.String(source)}
	for i, kv := range logs {
		l := &sdk.Log{Time: proto.Uint32(uint32(t0.Unix()) + uint32(i))}
		for j := 0; j+1 < len(kv); j += 2 {
			l.Contents = append(l.Contents, &sdk.LogContent{Key: proto.String(kv[j]), Value: proto.String(kv[j+1])})
		}
		lg.Logs = append(lg.Logs, l)
	}
	return lg
}

func rawGroup(t *testing.T, lg *sdk.LogGroup) []byte {
	t.Helper()
	b, err := proto.Marshal(lg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
