// Package oss is the local cloud's Object Storage Service: an in-memory OSS that speaks the
// real REST protocol (path-style /bucket/key, auth v1, XML bodies and errors) so the
// unmodified aliyun-oss-go-sdk runs against it.
//
// What is emulated, and the wire quirks it keeps (see wire-protocols.md §4):
//
//   - Buckets: ListBuckets, PutBucket, GetBucketInfo, GetBucketLocation, DeleteBucket.
//     A bucket's region is the service's default region (SetDefaultRegion) unless the
//     CreateBucketConfiguration body carries a LocationConstraint ("oss-cn-shanghai"); the
//     admin CreateBucket sets it directly. Real OSS takes the region from the endpoint;
//     one local endpoint serves every region, so it cannot.
//
//   - Objects: PutObject, GetObject (Range → 206), HeadObject, HEAD ?objectMeta,
//     CopyObject, DeleteObject (204 even when missing), DeleteObjects (POST ?delete),
//     ListObjects (v1) and ListObjectsV2 with encoding-type=url.
//
//   - Conditions: x-oss-forbid-overwrite on Put/Copy (409 FileAlreadyExists); If-Match,
//     If-None-Match, If-Modified-Since, If-Unmodified-Since on GET/HEAD (412 / 304);
//     x-oss-copy-source-if-match / -if-none-match on Copy. PutObject with If-Match or
//     If-None-Match is refused with NotImplemented: real OSS has no conditional PUT (its
//     S3-compatible API answers "NotImplemented … A header you provided implies
//     functionality that is not implemented"), so code must not rely on it; use
//     x-oss-forbid-overwrite, the only atomic write condition OSS offers.
//
//   - Faults: env.Faults.Check("oss", action) with action one of ListBuckets, PutBucket,
//     DeleteBucket, GetBucketInfo, GetBucketLocation, ListObjects, ListObjectsV2,
//     PutObject, CopyObject, GetObject, HeadObject, GetObjectMeta, DeleteObject,
//     DeleteObjects. Throttling answers 503 ServiceUnavailable; injected errors use the
//     rule's status and code (default 503 ServiceUnavailable / 500 InternalError).
//
//   - Every mutation validates the whole request (names, headers, body size, digest)
//     before it touches the store, so bad input writes nothing.
//
//   - Multipart upload (multipart.go): Initiate, UploadPart, ListParts,
//     ListMultipartUploads, Complete, Abort; parts spooled to disk, never whole in memory.
//
// Not emulated: UploadPartCopy, append, ACLs, versioning, presigned URLs, auth v2/v4,
// the 15-minute Date skew check (the simulated clock may be years away from the SDK's
// wall-clock Date).
package oss

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

// DefaultMaxObjectSize is the PutObject size limit of real OSS (5 GiB).
const DefaultMaxObjectSize int64 = 5 << 30

// DefaultRegion is the region of buckets created without one.
const DefaultRegion = "cn-hangzhou"

// Service is the in-memory OSS. It is an http.Handler; mount it at the root of its own
// listener (not under an http.ServeMux: the mux cleans paths such as "/b//k" and would
// redirect keys the SDK sends verbatim).
type Service struct {
	env *core.Env

	mu            sync.RWMutex
	buckets       map[string]*bucket
	maxObjectSize int64
	defaultRegion string
	uploads       map[string]*upload // multipart uploads in progress, by upload id

	spoolMu  sync.Mutex
	spoolDir string // part files of uploads and multipart objects (multipart.go)
}

type bucket struct {
	name         string
	region       string // "cn-hangzhou", without the "oss-" prefix
	owner        string // account id
	created      time.Time
	storageClass string
	objects      map[string]*object
	// keys are the objects' keys in order, kept with objects (set, remove): a list page
	// is a binary search and a walk, not a sort of the bucket (a catalog of 60,000
	// entries is listed by every shard run).
	keys []string
}

// set stores obj under key (s.mu held for writing).
func (b *bucket) set(key string, obj *object) {
	if _, ok := b.objects[key]; !ok {
		i := sort.SearchStrings(b.keys, key)
		b.keys = slices.Insert(b.keys, i, key)
	}
	b.objects[key] = obj
}

// remove deletes key (s.mu held for writing); a missing key is no error.
func (b *bucket) remove(key string) {
	if _, ok := b.objects[key]; !ok {
		return
	}
	delete(b.objects, key)
	if i := sort.SearchStrings(b.keys, key); i < len(b.keys) && b.keys[i] == key {
		b.keys = slices.Delete(b.keys, i, i+1)
	}
}

type object struct {
	data []byte
	// A multipart object's bytes are its parts' spooled files, in order (multipart.go).
	segments     []segment
	size         int64
	multipart    bool
	etag         string // quoted upper-hex MD5, as OSS returns it
	crc64        uint64
	contentType  string
	lastModified time.Time
	// headers holds the user metadata (x-oss-meta-*) and the standard headers OSS
	// stores with an object (Cache-Control, Content-Disposition, Content-Encoding,
	// Expires), canonical header names.
	headers map[string]string
}

// New returns an empty OSS built on env.
func New(env *core.Env) *Service {
	return &Service{
		env:           env,
		buckets:       map[string]*bucket{},
		uploads:       map[string]*upload{},
		maxObjectSize: DefaultMaxObjectSize,
		defaultRegion: DefaultRegion,
	}
}

// SetMaxObjectSize sets the largest body PutObject accepts (EntityTooLarge above it).
func (s *Service) SetMaxObjectSize(n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxObjectSize = n
}

// SetDefaultRegion sets the region of buckets created through the API without a
// LocationConstraint ("cn-shanghai" or "oss-cn-shanghai").
func (s *Service) SetDefaultRegion(region string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.defaultRegion = strings.TrimPrefix(region, "oss-")
}

var bucketNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)

// ErrInvalidBucketName and ErrBucketExists are returned by the admin CreateBucket.
var (
	ErrInvalidBucketName = errors.New("invalid bucket name")
	ErrBucketExists      = errors.New("bucket already exists")
	ErrNoSuchBucket      = errors.New("no such bucket")
)

// CreateBucket creates a bucket owned by the default account in region (seed/admin; no
// auth, no faults).
func (s *Service) CreateBucket(name, region string) error {
	if !bucketNameRE.MatchString(name) {
		return fmt.Errorf("create bucket %q: %w", name, ErrInvalidBucketName)
	}
	region = strings.TrimPrefix(region, "oss-")
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.buckets[name]; ok {
		return fmt.Errorf("create bucket %q: %w", name, ErrBucketExists)
	}
	if region == "" {
		region = s.defaultRegion
	}
	s.buckets[name] = &bucket{name: name, region: region, owner: core.DefaultAccountID,
		created: s.env.Clock.Now(), storageClass: "Standard", objects: map[string]*object{}}
	return nil
}

// PutObject stores data under bucket/key (seed/admin; no auth, no faults).
func (s *Service) PutObject(bucketName, key string, data []byte) error {
	if code, msg := validateKey(key); code != "" {
		return fmt.Errorf("put %s/%s: %s: %s", bucketName, key, code, msg)
	}
	// Stored data is shared, never mutated (see copyObject): keep the caller's slice out.
	obj := newObject(bytes.Clone(data), "application/octet-stream", nil, s.env.Clock.Now())
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.buckets[bucketName]
	if !ok {
		return fmt.Errorf("put %s/%s: %w", bucketName, key, ErrNoSuchBucket)
	}
	b.set(key, obj)
	return nil
}

// Object returns a copy of the stored object's content (inspection).
func (s *Service) Object(bucketName, key string) ([]byte, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, ok := s.buckets[bucketName]
	if !ok {
		return nil, false
	}
	o, ok := b.objects[key]
	if !ok {
		return nil, false
	}
	data, err := o.readAll()
	return data, err == nil
}

// Keys lists the keys of a bucket in order (inspection).
func (s *Service) Keys(bucketName string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, ok := s.buckets[bucketName]
	if !ok {
		return nil
	}
	keys := make([]string, 0, len(b.objects))
	for k := range b.objects {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// request is one parsed API call.
type request struct {
	w      http.ResponseWriter
	r      *http.Request
	id     string
	bucket string
	key    string
	hasKey bool // the path had a "/" after the bucket (GET /b/ lists, GET /b/k gets)
	cred   core.Credential
}

// ServeHTTP routes path-style requests: "/" (service), "/bucket[/]" and "/bucket/key".
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := &request{w: w, r: r, id: core.NewRequestID()}
	h := w.Header()
	h.Set("x-oss-request-id", req.id)
	h.Set("Server", "AliyunOSS")
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))

	// r.URL.Path is already unescaped: the SDK sends the key QueryEscape'd with "/" as
	// %2F, so everything after the bucket's slash is the key, slashes included.
	p := strings.TrimPrefix(r.URL.Path, "/")
	req.bucket, req.key, req.hasKey = strings.Cut(p, "/")
	if req.bucket != "" && !bucketNameRE.MatchString(req.bucket) {
		s.fail(req, errInvalidBucketName(req.bucket))
		return
	}
	action := multipartAction(req)
	if action == "" {
		action = s.action(req)
	}
	if action == "" {
		s.fail(req, &apiError{Status: http.StatusNotImplemented, Code: "NotImplemented",
			Message: fmt.Sprintf("%s %s is not implemented by the local OSS", r.Method, r.URL.RequestURI())})
		return
	}
	cred, aerr := s.authenticate(req)
	if aerr != nil {
		s.fail(req, aerr)
		return
	}
	req.cred = cred
	if aerr := s.authorize(req, action); aerr != nil { // RAM (ramauth.go)
		s.fail(req, aerr)
		return
	}
	if ferr := s.fault(req, action); ferr != nil {
		s.fail(req, ferr)
		return
	}
	var err *apiError
	switch action {
	case "ListBuckets":
		err = s.listBuckets(req)
	case "PutBucket":
		err = s.putBucket(req)
	case "DeleteBucket":
		err = s.deleteBucket(req)
	case "GetBucketInfo":
		err = s.getBucketInfo(req)
	case "GetBucketLocation":
		err = s.getBucketLocation(req)
	case "ListObjects", "ListObjectsV2":
		err = s.listObjects(req, action == "ListObjectsV2")
	case "DeleteObjects":
		err = s.deleteObjects(req)
	case "PutObject":
		err = s.putObject(req)
	case "CopyObject":
		err = s.copyObject(req)
	case "GetObject", "HeadObject", "GetObjectMeta":
		err = s.getObject(req, action)
	case "DeleteObject":
		err = s.deleteObject(req)
	default:
		err = s.serveMultipart(req, action)
	}
	if err != nil {
		s.fail(req, err)
	}
}

// action names the API call (the fault-injection action name) or "" if unsupported.
func (s *Service) action(req *request) string {
	q := req.r.URL.Query()
	m := req.r.Method
	switch {
	case req.bucket == "":
		if m == http.MethodGet && len(q) == len(onlyKnown(q, "prefix", "marker", "max-keys")) {
			return "ListBuckets"
		}
	case !req.hasKey || req.key == "":
		switch {
		case m == http.MethodPut && len(q) == 0:
			return "PutBucket"
		case m == http.MethodDelete && len(q) == 0:
			return "DeleteBucket"
		case m == http.MethodGet && q.Has("bucketInfo"):
			return "GetBucketInfo"
		case m == http.MethodGet && q.Has("location"):
			return "GetBucketLocation"
		case m == http.MethodPost && q.Has("delete"):
			return "DeleteObjects"
		case m == http.MethodGet && len(q) == len(onlyKnown(q, "list-type", "prefix", "delimiter",
			"max-keys", "continuation-token", "start-after", "fetch-owner", "encoding-type", "marker")):
			if q.Get("list-type") == "2" {
				return "ListObjectsV2"
			}
			return "ListObjects"
		}
	default:
		switch m {
		case http.MethodPut:
			if len(q) != 0 {
				return ""
			}
			if req.r.Header.Get("x-oss-copy-source") != "" {
				return "CopyObject"
			}
			return "PutObject"
		case http.MethodGet:
			if len(q) == len(onlyKnown(q, "response-content-type", "response-content-language",
				"response-expires", "response-cache-control", "response-content-disposition",
				"response-content-encoding")) {
				return "GetObject"
			}
		case http.MethodHead:
			if q.Has("objectMeta") {
				return "GetObjectMeta"
			}
			if len(q) == 0 {
				return "HeadObject"
			}
		case http.MethodDelete:
			if len(q) == 0 {
				return "DeleteObject"
			}
		}
	}
	return ""
}

func onlyKnown(q map[string][]string, names ...string) []string {
	var out []string
	for _, n := range names {
		if _, ok := q[n]; ok {
			out = append(out, n)
		}
	}
	return out
}

// fault applies the injected fault for action, if any.
func (s *Service) fault(req *request, action string) *apiError {
	f := s.env.Faults.Check("oss", action)
	if f.Latency > 0 {
		_ = s.env.Clock.Sleep(req.r.Context(), f.Latency) // simulated time: the one time model
	}
	switch f.Kind {
	case core.FaultThrottle:
		// OSS signals request-rate limiting with 503 (no separate throttling code the SDK
		// knows of); clients must treat it as retryable.
		return &apiError{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable",
			Message: "Please reduce your request rate.", EC: "0002-00000503"}
	case core.FaultError:
		code := f.Code
		if code == "" {
			code = "InternalError"
			if f.Status == http.StatusServiceUnavailable {
				code = "ServiceUnavailable"
			}
		}
		return &apiError{Status: f.Status, Code: code, Message: "injected fault", EC: "0002-00000500"}
	}
	return nil
}

// bucketFor returns the bucket the caller may use, or NoSuchBucket / AccessDenied.
// Callers hold s.mu.
func (s *Service) bucketFor(req *request, name string) (*bucket, *apiError) {
	b, ok := s.buckets[name]
	if !ok {
		return nil, errNoSuchBucket(name)
	}
	if b.owner != req.cred.AccountID {
		return nil, &apiError{Status: http.StatusForbidden, Code: "AccessDenied",
			Message: "You have no right to access this object because of bucket acl.", EC: "0003-00000001", BucketName: name}
	}
	return b, nil
}
