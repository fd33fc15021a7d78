package ossx

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	localoss "github.com/ecsdr/ecs-image-dr/pkg/localcloud/oss"
)

type fixture struct {
	env *core.Env
	svc *localoss.Service
	url string
}

func newFixture(t *testing.T, wrap func(http.Handler) http.Handler) *fixture {
	t.Helper()
	env := core.NewEnv(core.NewManualClock(time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)), nil)
	svc := localoss.New(env)
	var h http.Handler = svc
	if wrap != nil {
		h = wrap(svc)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	if err := svc.CreateBucket("bkt", "cn-shanghai"); err != nil {
		t.Fatal(err)
	}
	return &fixture{env: env, svc: svc, url: srv.URL}
}

func (f *fixture) store(t *testing.T) Store {
	t.Helper()
	s, err := New(f.url, core.DefaultAccessKeyID, core.DefaultAccessKeySecret, "")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStoreRoundTrip(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	s := f.store(t)
	ctx := context.Background()
	key := "policies/prod policy+v1%.yaml"
	etag, err := s.Put(ctx, "bkt", key, []byte("name: prod\n"), PutOptions{ContentType: "application/yaml"})
	if err != nil {
		t.Fatal(err)
	}
	data, getTag, err := s.Get(ctx, "bkt", key)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != "name: prod\n" || getTag != etag || !strings.HasPrefix(etag, `"`) {
		t.Fatalf("Get = %q %s, Put etag %s", data, getTag, etag)
	}
	got, err := GetURL(ctx, s, "oss://bkt/"+key)
	if err != nil || string(got) != "name: prod\n" {
		t.Fatalf("GetURL = %q, %v", got, err)
	}

	if _, err := s.Put(ctx, "bkt", key, []byte("other"), PutOptions{ForbidOverwrite: true}); !errors.Is(err, ErrAlreadyExists) || Code(err) != "FileAlreadyExists" {
		t.Fatalf("forbid overwrite: err = %v (code %q)", err, Code(err))
	}
	if _, err := s.Put(ctx, "bkt", "fresh", []byte("x"), PutOptions{ForbidOverwrite: true}); err != nil {
		t.Fatalf("create-only put of a new key: %v", err)
	}

	if err := s.Delete(ctx, "bkt", key); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "bkt", key); err != nil {
		t.Fatalf("deleting a missing key must succeed: %v", err)
	}
	_, _, err = s.Get(ctx, "bkt", key)
	if !errors.Is(err, ErrNotFound) || Code(err) != "NoSuchKey" || !strings.Contains(err.Error(), key) {
		t.Fatalf("missing key: err = %v", err)
	}
	var se oss.ServiceError
	if !errors.As(err, &se) || se.StatusCode != 404 {
		t.Fatalf("ServiceError not kept in chain: %v", err)
	}
	for name, call := range map[string]func() error{
		"get":    func() error { _, _, err := s.Get(ctx, "missing-bucket", "k"); return err },
		"put":    func() error { _, err := s.Put(ctx, "missing-bucket", "k", nil, PutOptions{}); return err },
		"list":   func() error { _, err := s.List(ctx, "missing-bucket", ""); return err },
		"delete": func() error { return s.Delete(ctx, "missing-bucket", "k") },
	} {
		if err := call(); !errors.Is(err, ErrNotFound) || Code(err) != "NoSuchBucket" {
			t.Errorf("%s in missing bucket: err = %v", name, err)
		}
	}
}

// seedKeys puts n objects named by format (one %d) into bkt, each holding its key, and
// returns the keys in order.
func seedKeys(t *testing.T, f *fixture, format string, n int) []string {
	t.Helper()
	keys := make([]string, 0, n)
	for i := range n {
		k := fmt.Sprintf(format, i)
		keys = append(keys, k)
		if err := f.svc.PutObject("bkt", k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func TestListFollowsAllPages(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	want := seedKeys(t, f, "cat/p/%04d +%%.json", 2100)
	if err := f.svc.PutObject("bkt", "other/x", nil); err != nil {
		t.Fatal(err)
	}
	sort.Strings(want)
	infos, err := f.store(t).List(context.Background(), "bkt", "cat/")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, in := range infos {
		got = append(got, in.Key)
		if in.Size != int64(len(in.Key)) || in.ETag == "" || in.LastModified.IsZero() {
			t.Fatalf("info %+v", in)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("List returned %d keys, want %d (first %q)", len(got), len(want), got[:min(3, len(got))])
	}
}

func TestGetURLRejectsBadLocations(t *testing.T) {
	t.Parallel()
	s := newFixture(t, nil).store(t)
	for _, loc := range []string{"", "bkt/key", "s3://bkt/key", "oss://", "oss://bkt", "oss://bkt/", "oss:///key"} {
		if _, err := GetURL(context.Background(), s, loc); err == nil || !strings.Contains(err.Error(), "oss://bucket/key") {
			t.Errorf("GetURL(%q) err = %v", loc, err)
		}
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ ep, ak, sk string }{{"", "a", "b"}, {"http://127.0.0.1:1", "", "b"}, {"http://127.0.0.1:1", "a", ""}} {
		if _, err := New(tc.ep, tc.ak, tc.sk, ""); err == nil {
			t.Errorf("New(%q, %q, %q) accepted", tc.ep, tc.ak, tc.sk)
		}
	}
}

func TestSTSCredentials(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	cred := f.env.Creds.IssueSTS(core.DefaultAccountID, time.Hour)
	s, err := New(f.url, cred.AccessKeyID, cred.AccessKeySecret, cred.SecurityToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(context.Background(), "bkt", "k", []byte("v"), PutOptions{}); err != nil {
		t.Fatalf("STS put: %v", err)
	}
	bad, _ := New(f.url, cred.AccessKeyID, cred.AccessKeySecret, "CAIS-wrong")
	if _, err := bad.Put(context.Background(), "bkt", "k", []byte("w"), PutOptions{}); Code(err) != "InvalidAccessKeyId" || IsRetryable(err) {
		t.Fatalf("wrong token: err = %v, retryable %v", err, IsRetryable(err))
	}
}

// A server that lies about the CRC must not get its corrupted body accepted.
func TestGetVerifiesCRC(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet {
				w = &crcLiar{ResponseWriter: w}
			}
			h.ServeHTTP(w, r)
		})
	})
	if err := f.svc.PutObject("bkt", "k", []byte("payload")); err != nil {
		t.Fatal(err)
	}
	_, _, err := f.store(t).Get(context.Background(), "bkt", "k")
	if err == nil || !strings.Contains(err.Error(), "crc64 mismatch") || !IsRetryable(err) {
		t.Fatalf("err = %v", err)
	}
}

type crcLiar struct{ http.ResponseWriter }

func (c *crcLiar) WriteHeader(status int) {
	c.Header().Set("x-oss-hash-crc64ecma", "12345")
	c.ResponseWriter.WriteHeader(status)
}

func TestIsRetryable(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	s := f.store(t)
	f.env.Faults.Set("oss", "GetObject", core.FaultRule{FailNext: 1})
	_, _, injected := s.Get(context.Background(), "bkt", "anything")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, cancelled := s.Get(ctx, "bkt", "anything")

	_, _, notFound := s.Get(context.Background(), "bkt", "anything")

	// Without these, a Get that wrongly succeeded would give a nil error, which is "not
	// retryable" too, and the rows below would pass for the wrong reason.
	if injected == nil || !errors.Is(cancelled, context.Canceled) || !errors.Is(notFound, ErrNotFound) {
		t.Fatalf("setup: injected %v, cancelled %v, not found %v", injected, cancelled, notFound)
	}

	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"injected 503 through the SDK", injected, true},
		{"not found", notFound, false},
		{"cancelled context", cancelled, false},
		{"500", oss.ServiceError{StatusCode: 500, Code: "InternalError"}, true},
		{"429", oss.ServiceError{StatusCode: 429, Code: "TooManyRequests"}, true},
		{"403", oss.ServiceError{StatusCode: 403, Code: "AccessDenied"}, false},
		{"409 conflict", fmt.Errorf("wrap: %w", classify(oss.ServiceError{StatusCode: 409, Code: "FileAlreadyExists"})), false},
		{"timeout", &timeoutErr{}, true},
		{"plain", errors.New("boom"), false},
	}
	for _, tc := range tests {
		if got := IsRetryable(tc.err); got != tc.want {
			t.Errorf("%s: IsRetryable(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// listOnly hides the client's ListEach: Each falls back to List.
type listOnly struct{ Store }

// Each visits every key in order page by page through the client, and through List for a
// store without ListEach; an error from fn stops the listing and is returned.
func TestEachPagesAndStops(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	want := seedKeys(t, f, "cat/e/%04d.json", 1500)
	s := f.store(t)
	for name, st := range map[string]Store{"client": s, "List only": listOnly{s}} {
		var got []string
		if err := Each(context.Background(), st, "bkt", "cat/", func(o ObjectInfo) error { got = append(got, o.Key); return nil }); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: %d keys, want %d in order", name, len(got), len(want))
		}
		stop := errors.New("enough")
		n := 0
		if err := Each(context.Background(), st, "bkt", "cat/", func(ObjectInfo) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
			t.Errorf("%s: fn's error: got %v after %d keys, want it after 1", name, err, n)
		}
	}
}
