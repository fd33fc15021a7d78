package ecs

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	sdkecs "github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

var t0 = time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)

var defaultCred = core.Credential{AccessKeyID: core.DefaultAccessKeyID, AccessKeySecret: core.DefaultAccessKeySecret}

// fixture is one emulator behind an httptest server, with an SDK client in cn-hangzhou.
type fixture struct {
	svc    *Service
	env    *core.Env
	addr   string
	url    string
	client *sdkecs.Client
	events *eventLog
}

func newFixture(t *testing.T, mutate func(*Seed)) *fixture {
	t.Helper()
	env := core.NewEnv(core.NewManualClock(t0), nil)
	env.Faults.Now = env.Clock.Now // QPS windows on the test clock, not wall time: deterministic
	seed := DefaultSeed()
	if mutate != nil {
		mutate(&seed)
	}
	svc, err := New(env, seed)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)
	f := &fixture{svc: svc, env: env, url: srv.URL, addr: strings.TrimPrefix(srv.URL, "http://"), events: &eventLog{}}
	t.Cleanup(env.Bus.Subscribe(f.events.add))
	f.client = f.newClient(t, "cn-hangzhou", defaultCred)
	return f
}

func (f *fixture) newClient(t *testing.T, region string, cred core.Credential) *sdkecs.Client {
	t.Helper()
	c, err := NewSDKClient(f.addr, region, cred)
	if err != nil {
		t.Fatalf("NewSDKClient: %v", err)
	}
	return c
}

type eventLog struct {
	mu  sync.Mutex
	evs []core.Event
}

func (l *eventLog) add(e core.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, e)
}

// states returns "region/image=state" in publication order for one image.
func (l *eventLog) states(imageID string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.evs {
		if e.Data["imageId"] == imageID {
			out = append(out, fmt.Sprintf("%s:%s", e.Region, e.Data["currentState"]))
		}
	}
	return out
}

// wantErr checks err against an expected ECS error; code "" means success.
func wantErr(t *testing.T, err error, status int, code string) *sdkerrors.ServerError {
	t.Helper()
	if code == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return nil
	}
	var se *sdkerrors.ServerError
	if !errors.As(err, &se) {
		t.Fatalf("want ServerError %d %s, got %v", status, code, err)
	}
	if se.HttpStatus() != status || se.ErrorCode() != code {
		t.Fatalf("want %d %s, got %d %s: %s", status, code, se.HttpStatus(), se.ErrorCode(), se.Message())
	}
	if se.RequestId() == "" {
		t.Fatalf("error without RequestId: %v", se)
	}
	return se
}

// createImage makes an image of instance in cn-hangzhou and returns its id.
func (f *fixture) createImage(t *testing.T, instanceID, name string, tags map[string]string) string {
	t.Helper()
	req := sdkecs.CreateCreateImageRequest()
	req.InstanceId, req.ImageName = instanceID, name
	var tl []sdkecs.CreateImageTag
	for k, v := range tags {
		tl = append(tl, sdkecs.CreateImageTag{Key: k, Value: v})
	}
	if tl != nil {
		req.Tag = &tl
	}
	resp, err := f.client.CreateImage(req)
	if err != nil {
		t.Fatalf("CreateImage %s: %v", instanceID, err)
	}
	return resp.ImageId
}

// availableImage creates an image and advances the clock until it is Available.
func (f *fixture) availableImage(t *testing.T, instanceID, name string) string {
	t.Helper()
	id := f.createImage(t, instanceID, name, nil)
	f.env.Clock.Advance(time.Hour)
	if st := f.image(t, "cn-hangzhou", id).Status; st != "Available" {
		t.Fatalf("image %s is %s after an hour", id, st)
	}
	return id
}

func (f *fixture) image(t *testing.T, region, id string) Image {
	t.Helper()
	for _, im := range f.svc.Images(region) {
		if im.ID == id {
			return im
		}
	}
	t.Fatalf("image %s not in %s", id, region)
	return Image{}
}

func (f *fixture) hasImage(region, id string) bool {
	for _, im := range f.svc.Images(region) {
		if im.ID == id {
			return true
		}
	}
	return false
}

// ---- v3 client signer, written from the ACS3-HMAC-SHA256 spec, independent of auth.go ----

// rfc3986 escapes everything but the unreserved characters A-Z a-z 0-9 - _ . ~.
func rfc3986(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

type v3Req struct {
	action  string
	query   map[string]string
	form    map[string]string // sent as an x-www-form-urlencoded body
	ak, sk  string
	token   string
	tamper  func(*http.Request) // applied after signing
	version string
	// nonce and date replace the fresh nonce and the current time when set.
	nonce, date string
}

func (f *fixture) doV3(t *testing.T, r v3Req) (*http.Response, string) {
	t.Helper()
	keys := make([]string, 0, len(r.query))
	for k := range r.query {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var qs []string
	for _, k := range keys {
		qs = append(qs, rfc3986(k)+"="+rfc3986(r.query[k]))
	}
	canonQuery := strings.Join(qs, "&")
	var body string
	if len(r.form) > 0 {
		v := url.Values{}
		for k, val := range r.form {
			v.Set(k, val)
		}
		body = v.Encode()
	}
	sum := sha256.Sum256([]byte(body))
	payload := hex.EncodeToString(sum[:])
	if r.version == "" {
		r.version = APIVersion
	}
	headers := map[string]string{
		"host":                  f.addr,
		"x-acs-action":          r.action,
		"x-acs-version":         r.version,
		"x-acs-date":            cmp.Or(r.date, time.Now().UTC().Format("2006-01-02T15:04:05Z")),
		"x-acs-signature-nonce": cmp.Or(r.nonce, core.RandomHex(16)),
		"x-acs-content-sha256":  payload,
	}
	if body != "" {
		headers["content-type"] = "application/x-www-form-urlencoded"
	}
	if r.token != "" {
		headers["x-acs-security-token"] = r.token
	}
	names := make([]string, 0, len(headers))
	for k := range headers {
		names = append(names, k)
	}
	sort.Strings(names)
	var ch strings.Builder
	for _, n := range names {
		ch.WriteString(n + ":" + strings.TrimSpace(headers[n]) + "\n")
	}
	signed := strings.Join(names, ";")
	canon := "POST\n/\n" + canonQuery + "\n" + ch.String() + "\n" + signed + "\n" + payload
	h := sha256.Sum256([]byte(canon))
	sts := "ACS3-HMAC-SHA256\n" + hex.EncodeToString(h[:])
	m := hmac.New(sha256.New, []byte(r.sk))
	m.Write([]byte(sts))
	sig := hex.EncodeToString(m.Sum(nil))

	u := f.url + "/"
	if canonQuery != "" {
		u += "?" + canonQuery
	}
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		if k != "host" {
			req.Header.Set(k, v)
		}
	}
	req.Header.Set("Authorization", fmt.Sprintf("ACS3-HMAC-SHA256 Credential=%s,SignedHeaders=%s,Signature=%s", r.ak, signed, sig))
	if r.tamper != nil {
		r.tamper(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("v3 request: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("v3 response: %v", err)
	}
	return resp, string(b)
}

func newServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
