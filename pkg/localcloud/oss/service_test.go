package oss

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"hash/crc64"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

var t0 = time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC)

var defaultCred = core.Credential{AccessKeyID: core.DefaultAccessKeyID, AccessKeySecret: core.DefaultAccessKeySecret}

type fixture struct {
	env *core.Env
	svc *Service
	srv *httptest.Server
	c   *oss.Client
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	env := core.NewEnv(core.NewManualClock(t0), nil)
	svc := New(env)
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)
	c, err := NewSDKClient(srv.URL, defaultCred)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{env: env, svc: svc, srv: srv, c: c}
}

func (f *fixture) bucket(t *testing.T, name string) *oss.Bucket {
	t.Helper()
	if err := f.c.CreateBucket(name); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	b, err := f.c.Bucket(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (f *fixture) client(t *testing.T, cred core.Credential) *oss.Client {
	t.Helper()
	c, err := NewSDKClient(strings.TrimPrefix(f.srv.URL, "http://"), cred)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wantServiceError(t *testing.T, err error, status int, code string) oss.ServiceError {
	t.Helper()
	var se oss.ServiceError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v (%T), want ServiceError %d %s", err, err, status, code)
	}
	if se.StatusCode != status || se.Code != code {
		t.Fatalf("got %d %s (%q), want %d %s", se.StatusCode, se.Code, se.Message, status, code)
	}
	if se.RequestID == "" {
		t.Errorf("error %s has no request id", code)
	}
	return se
}

func etagOf(b []byte) string {
	s := md5.Sum(b)
	return `"` + strings.ToUpper(hex.EncodeToString(s[:])) + `"`
}

func TestBucketOperations(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if err := f.c.CreateBucket("dr-catalog"); err != nil {
		t.Fatal(err)
	}
	wantServiceError(t, f.c.CreateBucket("dr-catalog"), http.StatusConflict, "BucketAlreadyExists")
	if err := f.svc.CreateBucket("dr-sh", "cn-shanghai"); err != nil {
		t.Fatal(err)
	}
	wantServiceError(t, f.c.CreateBucket("dr-cold", oss.StorageClass("Glacier")), http.StatusBadRequest, "InvalidStorageClass")
	if err := f.c.CreateBucket("dr-ia", oss.StorageClass(oss.StorageIA)); err != nil {
		t.Fatal(err)
	}
	if info, err := f.c.GetBucketInfo("dr-ia"); err != nil || info.BucketInfo.StorageClass != "IA" {
		t.Fatalf("IA bucket: %+v, %v", info.BucketInfo, err)
	}
	if err := f.c.DeleteBucket("dr-ia"); err != nil {
		t.Fatal(err)
	}

	lr, err := f.c.ListBuckets()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range lr.Buckets {
		got = append(got, b.Name+"@"+b.Location+"/"+b.Region)
		if !b.CreationDate.Equal(t0) {
			t.Errorf("bucket %s created %v, want simulated %v", b.Name, b.CreationDate, t0)
		}
	}
	want := []string{"dr-catalog@oss-cn-hangzhou/cn-hangzhou", "dr-sh@oss-cn-shanghai/cn-shanghai"}
	if !slices.Equal(got, want) {
		t.Fatalf("ListBuckets = %v, want %v", got, want)
	}

	loc, err := f.c.GetBucketLocation("dr-sh")
	if err != nil || loc != "oss-cn-shanghai" {
		t.Fatalf("GetBucketLocation = %q, %v", loc, err)
	}
	info, err := f.c.GetBucketInfo("dr-catalog")
	if err != nil {
		t.Fatal(err)
	}
	if info.BucketInfo.Name != "dr-catalog" || info.BucketInfo.Location != "oss-cn-hangzhou" || info.BucketInfo.StorageClass != "Standard" {
		t.Fatalf("GetBucketInfo = %+v", info.BucketInfo)
	}
	_, err = f.c.GetBucketInfo("no-such-bucket")
	wantServiceError(t, err, http.StatusNotFound, "NoSuchBucket")

	b, _ := f.c.Bucket("dr-catalog")
	if err := b.PutObject("k", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	wantServiceError(t, f.c.DeleteBucket("dr-catalog"), http.StatusConflict, "BucketNotEmpty")
	if _, ok := f.svc.Object("dr-catalog", "k"); !ok {
		t.Fatal("failed DeleteBucket removed the object")
	}
	if err := b.DeleteObject("k"); err != nil {
		t.Fatal(err)
	}
	if err := f.c.DeleteBucket("dr-catalog"); err != nil {
		t.Fatal(err)
	}
	wantServiceError(t, f.c.DeleteBucket("dr-catalog"), http.StatusNotFound, "NoSuchBucket")

	// The SDK refuses bad bucket names itself, so ask over plain HTTP.
	resp, err := http.Get(f.srv.URL + "/Bad_Bucket/k")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "<Code>InvalidBucketName</Code>") {
		t.Fatalf("bad bucket name: %d %s", resp.StatusCode, body)
	}
}

func TestObjectRoundTrip(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.bucket(t, "objects")
	data := []byte("hello, disaster recovery")
	key := "dir/sub dir/a+b%c.json"
	if err := b.PutObject(key, bytes.NewReader(data), oss.Meta("Owner", "dr"), oss.CacheControl("no-cache")); err != nil {
		t.Fatal(err)
	}
	if got, ok := f.svc.Object("objects", key); !ok || !bytes.Equal(got, data) {
		t.Fatalf("stored %q, %v", got, ok)
	}

	res, err := b.DoGetObject(&oss.GetObjectRequest{ObjectKey: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Response)
	res.Response.Close()
	if !bytes.Equal(got, data) {
		t.Fatalf("GetObject = %q", got)
	}
	h := res.Response.Headers
	checks := map[string]string{
		"Etag":                 etagOf(data),
		"Content-Type":         "application/json", // the SDK derives it from the extension
		"X-Oss-Meta-Owner":     "dr",
		"Cache-Control":        "no-cache",
		"X-Oss-Object-Type":    "Normal",
		"Last-Modified":        t0.Format(http.TimeFormat),
		"X-Oss-Hash-Crc64ecma": strconv.FormatUint(crc64.Checksum(data, crc64.MakeTable(crc64.ECMA)), 10),
	}
	for k, v := range checks {
		if h.Get(k) != v {
			t.Errorf("GetObject header %s = %q, want %q", k, h.Get(k), v)
		}
	}
	if res.ClientCRC.Sum64() != res.ServerCRC {
		t.Errorf("client CRC %d != server CRC %d", res.ClientCRC.Sum64(), res.ServerCRC)
	}

	rr, err := b.DoGetObject(&oss.GetObjectRequest{ObjectKey: key}, []oss.Option{oss.Range(7, 11)})
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(rr.Response)
	rr.Response.Close()
	if rr.Response.StatusCode != http.StatusPartialContent || string(part) != "disas" ||
		rr.Response.Headers.Get("Content-Range") != "bytes 7-11/24" {
		t.Fatalf("range GET = %d %q %q", rr.Response.StatusCode, part, rr.Response.Headers.Get("Content-Range"))
	}

	meta, err := b.GetObjectDetailedMeta(key)
	if err != nil {
		t.Fatal(err)
	}
	if meta.Get("Content-Length") != "24" || meta.Get("Etag") != etagOf(data) || meta.Get("X-Oss-Meta-Owner") != "dr" {
		t.Fatalf("HeadObject headers = %v", meta)
	}
	short, err := b.GetObjectMeta(key)
	if err != nil {
		t.Fatal(err)
	}
	if short.Get("Content-Length") != "24" || short.Get("Etag") != etagOf(data) || short.Get("Last-Modified") == "" {
		t.Fatalf("GetObjectMeta headers = %v", short)
	}
	for k, want := range map[string]bool{key: true, "dir/missing": false} {
		ok, err := b.IsObjectExist(k)
		if err != nil || ok != want {
			t.Errorf("IsObjectExist(%q) = %v, %v, want %v", k, ok, err, want)
		}
	}

	// DeleteObject answers 204 whether or not the key exists.
	for i := 0; i < 2; i++ {
		if err := b.DeleteObject(key); err != nil {
			t.Fatalf("delete #%d: %v", i, err)
		}
	}
	if _, ok := f.svc.Object("objects", key); ok {
		t.Fatal("object still stored after delete")
	}
}

func TestConditionalReads(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.bucket(t, "cond")
	data := []byte("v1")
	if err := b.PutObject("k", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	etag := etagOf(data)
	before, after := t0.Add(-time.Hour), t0.Add(time.Hour)
	tests := []struct {
		name   string
		opts   []oss.Option
		status int // 0 = success
		code   string
	}{
		{"if-match hit", []oss.Option{oss.IfMatch(etag)}, 0, ""},
		{"if-match unquoted hit", []oss.Option{oss.IfMatch(strings.Trim(etag, `"`))}, 0, ""},
		{"if-match star", []oss.Option{oss.IfMatch("*")}, 0, ""},
		{"if-match miss", []oss.Option{oss.IfMatch(`"0123"`)}, http.StatusPreconditionFailed, "PreconditionFailed"},
		{"if-none-match miss", []oss.Option{oss.IfNoneMatch(`"0123"`)}, 0, ""},
		{"if-none-match hit", []oss.Option{oss.IfNoneMatch(etag)}, http.StatusNotModified, ""},
		{"if-modified-since older", []oss.Option{oss.IfModifiedSince(before)}, 0, ""},
		{"if-modified-since newer", []oss.Option{oss.IfModifiedSince(after)}, http.StatusNotModified, ""},
		{"if-unmodified-since newer", []oss.Option{oss.IfUnmodifiedSince(after)}, 0, ""},
		{"if-unmodified-since older", []oss.Option{oss.IfUnmodifiedSince(before)}, http.StatusPreconditionFailed, "PreconditionFailed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, method := range []string{"GET", "HEAD"} {
				var err error
				if method == "GET" {
					var rc io.ReadCloser
					rc, err = b.GetObject("k", tc.opts...)
					if err == nil {
						got, _ := io.ReadAll(rc)
						rc.Close()
						if !bytes.Equal(got, data) {
							t.Fatalf("GET body %q", got)
						}
					}
				} else {
					_, err = b.GetObjectDetailedMeta("k", tc.opts...)
				}
				switch {
				case tc.status == 0 && err != nil:
					t.Fatalf("%s: unexpected error %v", method, err)
				case tc.status == http.StatusNotModified:
					// The SDK turns 3xx into a plain error carrying the status.
					if err == nil || !strings.Contains(err.Error(), "304") {
						t.Fatalf("%s: err = %v, want 304", method, err)
					}
				case tc.status != 0:
					wantServiceError(t, err, tc.status, tc.code) // HEAD: decoded from x-oss-err
				}
			}
		})
	}
}

func TestWriteErrorsWriteNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.svc.SetMaxObjectSize(16)
	b := f.bucket(t, "guarded")
	original := []byte("original")
	if err := b.PutObject("exists", bytes.NewReader(original)); err != nil {
		t.Fatal(err)
	}
	wrongSecret := f.client(t, core.Credential{AccessKeyID: core.DefaultAccessKeyID, AccessKeySecret: "not-the-secret"})
	unknownKey := f.client(t, core.Credential{AccessKeyID: "LTAI-unknown", AccessKeySecret: "x"})
	sts := f.env.Creds.IssueSTS(core.DefaultAccountID, time.Hour)
	badToken := sts
	badToken.SecurityToken = "CAIS-forged"
	other := core.Credential{AccessKeyID: "LTAI-other-account", AccessKeySecret: "other-secret", AccountID: "999"}
	f.env.Creds.Add(other)

	put := func(c *oss.Client, bucketName, key string, body []byte, opts ...oss.Option) error {
		bk, err := c.Bucket(bucketName)
		if err != nil {
			return err
		}
		return bk.PutObject(key, bytes.NewReader(body), opts...)
	}
	tests := []struct {
		name   string
		call   func() error
		status int
		code   string
		key    string // must hold `want` afterwards (or be absent when want is nil)
		want   []byte
	}{
		{"wrong signature", func() error { return put(wrongSecret, "guarded", "exists", []byte("evil")) },
			403, "SignatureDoesNotMatch", "exists", original},
		{"unknown access key", func() error { return put(unknownKey, "guarded", "new", []byte("evil")) },
			403, "InvalidAccessKeyId", "new", nil},
		{"forged sts token", func() error { return put(f.client(t, badToken), "guarded", "new", []byte("evil")) },
			403, "InvalidAccessKeyId", "new", nil},
		{"other account's bucket", func() error { return put(f.client(t, other), "guarded", "exists", []byte("evil")) },
			403, "AccessDenied", "exists", original},
		{"missing bucket", func() error { return put(f.c, "no-such-bucket", "k", []byte("x")) },
			404, "NoSuchBucket", "", nil},
		{"key starts with slash", func() error { return put(f.c, "guarded", "/abs", []byte("x")) },
			400, "InvalidObjectName", "/abs", nil},
		{"key too long", func() error { return put(f.c, "guarded", strings.Repeat("k", 1024), []byte("x")) },
			400, "InvalidObjectName", strings.Repeat("k", 1024), nil},
		{"oversized body", func() error { return put(f.c, "guarded", "big", bytes.Repeat([]byte("x"), 17)) },
			400, "EntityTooLarge", "big", nil},
		{"oversized body, 2 MiB", func() error { return put(f.c, "guarded", "big", make([]byte, 2<<20)) },
			400, "EntityTooLarge", "big", nil},
		{"oversized overwrite", func() error { return put(f.c, "guarded", "exists", bytes.Repeat([]byte("x"), 17)) },
			400, "EntityTooLarge", "exists", original},
		{"forbid overwrite", func() error {
			return put(f.c, "guarded", "exists", []byte("second"), oss.ForbidOverWrite(true))
		}, 409, "FileAlreadyExists", "exists", original},
		{"put with if-match is not a CAS on OSS", func() error {
			return put(f.c, "guarded", "exists", []byte("second"), oss.IfMatch(etagOf(original)))
		}, 400, "NotImplemented", "exists", original},
		{"put with if-none-match", func() error {
			return put(f.c, "guarded", "fresh", []byte("second"), oss.IfNoneMatch("*"))
		}, 400, "NotImplemented", "fresh", nil},
		{"bad content-md5", func() error {
			return put(f.c, "guarded", "exists", []byte("second"), oss.ContentMD5("1B2M2Y8AsgTpgAmY7PhCfg=="))
		}, 400, "InvalidDigest", "exists", original},
		{"bad storage class", func() error {
			return put(f.c, "guarded", "exists", []byte("second"), oss.SetHeader("x-oss-storage-class", "Glacier"))
		}, 400, "InvalidStorageClass", "exists", original},
		{"copy with bad storage class", func() error {
			_, err := b.CopyObject("exists", "copied", oss.SetHeader("x-oss-storage-class", "Glacier"))
			return err
		}, 400, "InvalidStorageClass", "copied", nil},
		{"bad forbid-overwrite value", func() error {
			return put(f.c, "guarded", "exists", []byte("second"), oss.SetHeader("x-oss-forbid-overwrite", "maybe"))
		}, 400, "InvalidArgument", "exists", original},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantServiceError(t, tc.call(), tc.status, tc.code)
			if tc.key == "" {
				return
			}
			got, ok := f.svc.Object("guarded", tc.key)
			if tc.want == nil && ok {
				t.Fatalf("%q was written: %q", tc.key, got)
			}
			if tc.want != nil && !bytes.Equal(got, tc.want) {
				t.Fatalf("%q = %q, want %q", tc.key, got, tc.want)
			}
		})
	}

	t.Run("forbid overwrite creates when absent", func(t *testing.T) {
		if err := put(f.c, "guarded", "created", []byte("v"), oss.ForbidOverWrite(true)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("valid sts token", func(t *testing.T) {
		if err := put(f.client(t, sts), "guarded", "by-sts", []byte("v")); err != nil {
			t.Fatal(err)
		}
		f.env.Clock.Advance(2 * time.Hour)
		wantServiceError(t, put(f.client(t, sts), "guarded", "by-sts", []byte("w")), 403, "SecurityTokenExpired")
		if got, _ := f.svc.Object("guarded", "by-sts"); string(got) != "v" {
			t.Fatalf("expired token overwrote: %q", got)
		}
	})
	t.Run("missing key", func(t *testing.T) {
		_, err := b.GetObject("nope")
		se := wantServiceError(t, err, 404, "NoSuchKey")
		if se.Ec != "0026-00000001" {
			t.Errorf("EC = %q", se.Ec)
		}
		_, err = b.GetObjectDetailedMeta("nope")
		wantServiceError(t, err, 404, "NoSuchKey")
	})
	t.Run("anonymous", func(t *testing.T) {
		resp, err := http.Get(f.srv.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 || !strings.Contains(string(body), "<Code>AccessDenied</Code>") {
			t.Fatalf("anonymous: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("signature v4 is refused clearly", func(t *testing.T) {
		c, err := oss.New(f.srv.URL, defaultCred.AccessKeyID, defaultCred.AccessKeySecret, oss.AuthVersion(oss.AuthV4), oss.Region("cn-hangzhou"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.ListBuckets()
		wantServiceError(t, err, 400, "InvalidArgument")
	})
}

func TestNonStrictSignatures(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.env.StrictSignatures = false
	f.bucket(t, "lenient")
	c := f.client(t, core.Credential{AccessKeyID: core.DefaultAccessKeyID, AccessKeySecret: "wrong"})
	b, _ := c.Bucket("lenient")
	if err := b.PutObject("k", strings.NewReader("v")); err != nil {
		t.Fatalf("non-strict mode refused a bad signature: %v", err)
	}
}

func TestCopyObject(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.bucket(t, "copy")
	src := "src dir/a+b%c.txt"
	data := []byte("payload")
	if err := b.PutObject(src, bytes.NewReader(data), oss.Meta("A", "1")); err != nil {
		t.Fatal(err)
	}
	f.env.Clock.Advance(time.Minute)
	res, err := b.CopyObject(src, "dst/copy one.txt")
	if err != nil {
		t.Fatal(err)
	}
	if res.ETag != etagOf(data) || !res.LastModified.Equal(t0.Add(time.Minute)) {
		t.Fatalf("CopyObjectResult = %+v", res)
	}
	meta, err := b.GetObjectDetailedMeta("dst/copy one.txt")
	if err != nil {
		t.Fatal(err)
	}
	if meta.Get("X-Oss-Meta-A") != "1" {
		t.Errorf("COPY directive lost metadata: %v", meta)
	}
	if _, err := b.CopyObject(src, "dst/replaced", oss.MetadataDirective(oss.MetaReplace), oss.Meta("B", "2")); err != nil {
		t.Fatal(err)
	}
	meta, _ = b.GetObjectDetailedMeta("dst/replaced")
	if meta.Get("X-Oss-Meta-A") != "" || meta.Get("X-Oss-Meta-B") != "2" {
		t.Errorf("REPLACE directive metadata = %v", meta)
	}
	if got, _ := f.svc.Object("copy", "dst/replaced"); !bytes.Equal(got, data) {
		t.Fatalf("copied content %q", got)
	}

	if err := b.PutObject("dst/taken", strings.NewReader("mine")); err != nil {
		t.Fatal(err)
	}
	_, err = b.CopyObject(src, "dst/taken", oss.ForbidOverWrite(true))
	wantServiceError(t, err, 409, "FileAlreadyExists")
	_, err = b.CopyObject("missing", "dst/x")
	wantServiceError(t, err, 404, "NoSuchKey")
	_, err = b.CopyObject(src, "dst/y", oss.CopySourceIfMatch(`"DEADBEEF"`))
	wantServiceError(t, err, 412, "PreconditionFailed")
	if got, _ := f.svc.Object("copy", "dst/taken"); string(got) != "mine" {
		t.Fatalf("refused copy overwrote: %q", got)
	}
	for _, k := range []string{"dst/x", "dst/y"} {
		if _, ok := f.svc.Object("copy", k); ok {
			t.Errorf("refused copy created %s", k)
		}
	}
}

func TestDeleteObjects(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.bucket(t, "batch")
	keys := []string{"a/b c", "a/b+c", "a/100%", "<xml&>", "keep"}
	for _, k := range keys {
		if err := b.PutObject(k, strings.NewReader(k)); err != nil {
			t.Fatal(err)
		}
	}
	res, err := b.DeleteObjects([]string{"a/b c", "a/b+c", "a/100%", "<xml&>", "never-existed"})
	if err != nil {
		t.Fatal(err)
	}
	got := append([]string(nil), res.DeletedObjects...)
	sort.Strings(got)
	want := []string{"<xml&>", "a/100%", "a/b c", "a/b+c", "never-existed"}
	if !slices.Equal(got, want) {
		t.Fatalf("DeletedObjects = %q, want %q", got, want)
	}
	if left := f.svc.Keys("batch"); !slices.Equal(left, []string{"keep"}) {
		t.Fatalf("left %q", left)
	}
	quiet, err := b.DeleteObjects([]string{"keep"}, oss.DeleteObjectsQuiet(true))
	if err != nil || len(quiet.DeletedObjects) != 0 {
		t.Fatalf("quiet delete = %+v, %v", quiet, err)
	}
	if left := f.svc.Keys("batch"); len(left) != 0 {
		t.Fatalf("quiet delete left %q", left)
	}
}

func TestListObjectsPaging(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.bucket(t, "listing")
	keys := []string{
		"a/b c.txt", "a/b+c.txt", "a/100%.txt", "a/%2F literal", "a/d/e.txt", "a/d/f.txt",
		"a/x y/z", "a/ü/ß", "a+b/c", "b.txt", "a/plain",
	}
	for _, k := range keys {
		if err := b.PutObject(k, strings.NewReader(k)); err != nil {
			t.Fatal(err)
		}
	}
	all := append([]string(nil), keys...)
	sort.Strings(all)
	var underA []string
	for _, k := range all {
		if strings.HasPrefix(k, "a/") {
			underA = append(underA, k)
		}
	}

	listAll := func(t *testing.T, opts ...oss.Option) (keys, prefixes []string, pages int) {
		t.Helper()
		token := ""
		for {
			o := append([]oss.Option{}, opts...)
			if token != "" {
				o = append(o, oss.ContinuationToken(token))
			}
			r, err := b.ListObjectsV2(o...)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if r.MaxKeys == 0 {
				t.Fatal("MaxKeys missing")
			}
			for _, obj := range r.Objects {
				keys = append(keys, obj.Key)
				if obj.Size != int64(len(obj.Key)) || obj.ETag != etagOf([]byte(obj.Key)) {
					t.Errorf("object %q: size %d etag %s", obj.Key, obj.Size, obj.ETag)
				}
			}
			prefixes = append(prefixes, r.CommonPrefixes...)
			if !r.IsTruncated {
				return keys, prefixes, pages
			}
			if r.NextContinuationToken == "" {
				t.Fatal("truncated page without NextContinuationToken")
			}
			token = r.NextContinuationToken
		}
	}

	tests := []struct {
		name         string
		opts         []oss.Option
		wantKeys     []string
		wantPrefixes []string
		wantPages    int
	}{
		{"everything, 2 per page", []oss.Option{oss.MaxKeys(2)}, all, nil, 6},
		{"prefix a/, 3 per page", []oss.Option{oss.Prefix("a/"), oss.MaxKeys(3)}, underA, nil, 3},
		{"prefix a/ delimiter /", []oss.Option{oss.Prefix("a/"), oss.Delimiter("/"), oss.MaxKeys(1)},
			[]string{"a/%2F literal", "a/100%.txt", "a/b c.txt", "a/b+c.txt", "a/plain"},
			[]string{"a/d/", "a/x y/", "a/ü/"}, 8},
		{"root delimiter", []oss.Option{oss.Delimiter("/")}, []string{"b.txt"}, []string{"a+b/", "a/"}, 1},
		{"start-after", []oss.Option{oss.Prefix("a/"), oss.StartAfter("a/d/e.txt")},
			[]string{"a/d/f.txt", "a/plain", "a/x y/z", "a/ü/ß"}, nil, 1},
		{"prefix with special chars", []oss.Option{oss.Prefix("a/b+")}, []string{"a/b+c.txt"}, nil, 1},
		{"prefix with percent", []oss.Option{oss.Prefix("a/100%")}, []string{"a/100%.txt"}, nil, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gotKeys, gotPrefixes, pages := listAll(t, tc.opts...)
			if !slices.Equal(gotKeys, tc.wantKeys) {
				t.Errorf("keys = %q\nwant   %q", gotKeys, tc.wantKeys)
			}
			if !slices.Equal(gotPrefixes, tc.wantPrefixes) {
				t.Errorf("prefixes = %q, want %q", gotPrefixes, tc.wantPrefixes)
			}
			if pages != tc.wantPages {
				t.Errorf("pages = %d, want %d", pages, tc.wantPages)
			}
		})
	}

	t.Run("v1 marker paging", func(t *testing.T) {
		t.Parallel()
		var got []string
		marker := ""
		for {
			r, err := b.ListObjects(oss.Marker(marker), oss.MaxKeys(4))
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range r.Objects {
				got = append(got, o.Key)
			}
			if !r.IsTruncated {
				break
			}
			marker = r.NextMarker
		}
		if !slices.Equal(got, all) {
			t.Fatalf("v1 keys = %q", got)
		}
	})
	t.Run("bad arguments", func(t *testing.T) {
		t.Parallel()
		_, err := b.ListObjectsV2(oss.MaxKeys(5000))
		wantServiceError(t, err, 400, "InvalidArgument")
		_, err = b.ListObjectsV2(oss.ContinuationToken("!!not-a-token!!"))
		wantServiceError(t, err, 400, "InvalidArgument")
		nb, _ := f.c.Bucket("no-such-bucket")
		_, err = nb.ListObjectsV2()
		wantServiceError(t, err, 404, "NoSuchBucket")
	})
}

func TestFaultInjection(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.bucket(t, "faulty")
	if err := b.PutObject("k", strings.NewReader("v")); err != nil {
		t.Fatal(err)
	}
	f.env.Faults.Set("oss", "GetObject", core.FaultRule{FailNext: 1})
	_, err := b.GetObject("k")
	wantServiceError(t, err, 503, "ServiceUnavailable")
	rc, err := b.GetObject("k")
	if err != nil {
		t.Fatalf("fault did not clear: %v", err)
	}
	rc.Close()

	f.env.Faults.Set("oss", "PutObject", core.FaultRule{FailNext: 1, ErrorStatus: 500})
	wantServiceError(t, b.PutObject("k", strings.NewReader("w")), 500, "InternalError")
	if got, _ := f.svc.Object("faulty", "k"); string(got) != "v" {
		t.Fatalf("faulted put wrote %q", got)
	}

	f.env.Faults.Now = f.env.Clock.Now // QPS windows follow wall time; pin them to the test clock
	f.env.Faults.Set("oss", "HeadObject", core.FaultRule{QPS: 1})
	if _, err := b.GetObjectDetailedMeta("k"); err != nil {
		t.Fatal(err)
	}
	_, err = b.GetObjectDetailedMeta("k") // same simulated second
	wantServiceError(t, err, 503, "ServiceUnavailable")
	f.env.Clock.Advance(time.Second)
	if _, err := b.GetObjectDetailedMeta("k"); err != nil {
		t.Fatalf("throttle did not reset with the clock: %v", err)
	}
}

func TestAdminPutObjectCopiesData(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if err := f.svc.CreateBucket("seeded", ""); err != nil {
		t.Fatal(err)
	}
	data := []byte("policy v1")
	if err := f.svc.PutObject("seeded", "policy.json", data); err != nil {
		t.Fatal(err)
	}
	copy(data, "XXXXXX")
	if got, _ := f.svc.Object("seeded", "policy.json"); string(got) != "policy v1" {
		t.Fatalf("stored object changed with the caller's slice: %q", got)
	}
	b, _ := f.c.Bucket("seeded")
	meta, err := b.GetObjectDetailedMeta("policy.json")
	if err != nil || meta.Get("Etag") != etagOf([]byte("policy v1")) {
		t.Fatalf("etag %q, %v; want the etag of the stored content", meta.Get("Etag"), err)
	}
}
