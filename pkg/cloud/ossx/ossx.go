// Package ossx is the thin adapter over aliyun-oss-go-sdk that our functions use: whole
// small objects (the policy document, the DR catalog), listing and deletion, with one
// place that classifies OSS errors.
package ossx

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"

	"github.com/ecsdr/ecs-image-dr/pkg/redact"
)

// Store is the part of OSS we use.
//
// Error contract: a missing bucket or key is reported as an error that matches
// errors.Is(err, ErrNotFound); a refused x-oss-forbid-overwrite write matches
// ErrAlreadyExists. Every error keeps the SDK's oss.ServiceError in its chain
// (errors.As), so Code(err) gives the OSS error code. Nothing is retried here: the OSS
// SDK has no retryer for single requests, and the callers (FC invocations, the catalog's
// conflict loop) own retrying; IsRetryable tells them when it makes sense.
type Store interface {
	// Get returns the object's content and its ETag (quoted upper-hex MD5, as OSS sends
	// it). The content is verified against the CRC-64 OSS returns.
	Get(ctx context.Context, bucket, key string) (data []byte, etag string, err error)
	// Put writes the whole object and returns its new ETag. With ForbidOverwrite it
	// fails with ErrAlreadyExists if the key exists: OSS's only atomic write condition
	// (OSS has no If-Match on PUT).
	Put(ctx context.Context, bucket, key string, data []byte, opts PutOptions) (etag string, err error)
	// List returns every object under prefix, in key order, following all pages.
	List(ctx context.Context, bucket, prefix string) ([]ObjectInfo, error)
	// Delete removes the key; deleting a missing key succeeds (OSS answers 204).
	Delete(ctx context.Context, bucket, key string) error
}

// PutOptions tunes Put.
type PutOptions struct {
	// ContentType of the object; empty lets the SDK derive it from the key's extension.
	ContentType string
	// ForbidOverwrite makes the write create-only (x-oss-forbid-overwrite: true).
	// It has no effect on a bucket with versioning enabled (an OSS limitation).
	ForbidOverwrite bool
}

// ObjectInfo is one listed object.
type ObjectInfo struct {
	Key          string
	Size         int64
	ETag         string
	LastModified time.Time
}

// Classified errors; see Store.
var (
	ErrNotFound      = errors.New("oss: not found")
	ErrAlreadyExists = errors.New("oss: object already exists")
)

type client struct {
	c *oss.Client
}

// New returns a Store for endpoint: "http://127.0.0.1:port" for the local cloud (an IP
// makes the SDK use path-style /bucket/key; "localhost" is switched to path style too) or
// "https://oss-cn-shanghai.aliyuncs.com" for the real service. token is the STS security
// token ("" for long-term keys), as FC hands role credentials to each invocation.
func New(endpoint string, ak, secret, token string) (Store, error) {
	if endpoint == "" {
		return nil, errors.New("oss: endpoint is empty")
	}
	if ak == "" || secret == "" {
		return nil, errors.New("oss: access key id and secret are required")
	}
	opts := []oss.ClientOption{oss.Timeout(10, 60)}
	if token != "" {
		opts = append(opts, oss.SecurityToken(token))
	}
	if u, err := url.Parse(endpoint); err == nil && u.Hostname() == "localhost" {
		opts = append(opts, oss.ForcePathStyle(true))
	}
	c, err := oss.New(endpoint, ak, secret, opts...)
	if err != nil {
		return nil, fmt.Errorf("oss: client for %s: %w", endpoint, err)
	}
	return &client{c: c}, nil
}

func (s *client) bucket(name string) (*oss.Bucket, error) {
	b, err := s.c.Bucket(name)
	if err != nil {
		return nil, fmt.Errorf("oss: bucket %q: %w", name, err)
	}
	return b, nil
}

func (s *client) Get(ctx context.Context, bucket, key string) ([]byte, string, error) {
	b, err := s.bucket(bucket)
	if err != nil {
		return nil, "", err
	}
	res, err := b.DoGetObject(&oss.GetObjectRequest{ObjectKey: key}, []oss.Option{oss.WithContext(ctx)})
	if err != nil {
		return nil, "", fmt.Errorf("oss: get %s/%s: %w", bucket, key, classify(err))
	}
	defer res.Response.Close()
	data, err := io.ReadAll(res.Response)
	if err != nil {
		return nil, "", fmt.Errorf("oss: get %s/%s: read body: %w", bucket, key, err)
	}
	if res.ClientCRC != nil && res.ServerCRC != 0 && res.ClientCRC.Sum64() != res.ServerCRC {
		return nil, "", fmt.Errorf("oss: get %s/%s: %w", bucket, key, &crcError{client: res.ClientCRC.Sum64(), server: res.ServerCRC})
	}
	return data, res.Response.Headers.Get(oss.HTTPHeaderEtag), nil
}

func (s *client) Put(ctx context.Context, bucket, key string, data []byte, opts PutOptions) (string, error) {
	b, err := s.bucket(bucket)
	if err != nil {
		return "", err
	}
	sum := md5.Sum(data)
	o := []oss.Option{oss.WithContext(ctx), oss.ContentMD5(base64.StdEncoding.EncodeToString(sum[:]))}
	if opts.ContentType != "" {
		o = append(o, oss.ContentType(opts.ContentType))
	}
	if opts.ForbidOverwrite {
		o = append(o, oss.ForbidOverWrite(true))
	}
	resp, err := b.DoPutObject(&oss.PutObjectRequest{ObjectKey: key, Reader: bytes.NewReader(data)}, o)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return "", fmt.Errorf("oss: put %s/%s: %w", bucket, key, classify(err))
	}
	return resp.Headers.Get(oss.HTTPHeaderEtag), nil
}

func (s *client) List(ctx context.Context, bucket, prefix string) ([]ObjectInfo, error) {
	var out []ObjectInfo
	if err := s.ListEach(ctx, bucket, prefix, func(o ObjectInfo) error { out = append(out, o); return nil }); err != nil {
		return nil, err
	}
	return out, nil
}

// ListEach calls fn for every object under prefix, in key order, page by page (1,000
// keys a page), without holding the whole listing: a catalog of a 20,000-instance fleet
// is tens of thousands of keys, and its readers keep a small part of each (see Each).
// An error from fn ends the listing and is returned as it is.
func (s *client) ListEach(ctx context.Context, bucket, prefix string, fn func(ObjectInfo) error) error {
	b, err := s.bucket(bucket)
	if err != nil {
		return err
	}
	token := ""
	for {
		o := []oss.Option{oss.WithContext(ctx), oss.Prefix(prefix), oss.MaxKeys(1000)}
		if token != "" {
			o = append(o, oss.ContinuationToken(token))
		}
		r, err := b.ListObjectsV2(o...)
		if err != nil {
			return fmt.Errorf("oss: list %s/%s: %w", bucket, prefix, classify(err))
		}
		for _, obj := range r.Objects {
			if err := fn(ObjectInfo{Key: obj.Key, Size: obj.Size, ETag: obj.ETag, LastModified: obj.LastModified}); err != nil {
				return err
			}
		}
		if !r.IsTruncated {
			return nil
		}
		if r.NextContinuationToken == "" || r.NextContinuationToken == token {
			return fmt.Errorf("oss: list %s/%s: truncated page without a new continuation token", bucket, prefix)
		}
		token = r.NextContinuationToken
	}
}

// Each calls fn for every object under prefix: through the store's ListEach when it has
// one (the SDK client: page by page), else over its List.
func Each(ctx context.Context, s Store, bucket, prefix string, fn func(ObjectInfo) error) error {
	if l, ok := s.(interface {
		ListEach(ctx context.Context, bucket, prefix string, fn func(ObjectInfo) error) error
	}); ok {
		return l.ListEach(ctx, bucket, prefix, fn)
	}
	objs, err := s.List(ctx, bucket, prefix)
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := fn(o); err != nil {
			return err
		}
	}
	return nil
}

func (s *client) Delete(ctx context.Context, bucket, key string) error {
	b, err := s.bucket(bucket)
	if err != nil {
		return err
	}
	if err := b.DeleteObject(key, oss.WithContext(ctx)); err != nil {
		return fmt.Errorf("oss: delete %s/%s: %w", bucket, key, classify(err))
	}
	return nil
}

// GetURL reads an "oss://bucket/key" location (how a policy document in OSS is named).
// The key is taken literally: no percent-decoding, so keys with "%" or spaces work.
func GetURL(ctx context.Context, s Store, loc string) ([]byte, error) {
	rest, ok := strings.CutPrefix(loc, "oss://")
	if !ok {
		return nil, fmt.Errorf("oss: location %q: want oss://bucket/key", loc)
	}
	bucket, key, _ := strings.Cut(rest, "/")
	if bucket == "" || key == "" {
		return nil, fmt.Errorf("oss: location %q: want oss://bucket/key", loc)
	}
	data, _, err := s.Get(ctx, bucket, key)
	if err != nil {
		return nil, err
	}
	return data, nil
}

// classifiedError attaches one of our sentinels to an SDK error without hiding it.
type classifiedError struct {
	sentinel error
	err      error
}

func (e *classifiedError) Error() string   { return e.err.Error() }
func (e *classifiedError) Unwrap() []error { return []error{e.sentinel, e.err} }

// classify also strips credential-shaped content from the SDK's error (a transport
// error's URL, a presigned query), keeping the chain for Code and IsRetryable.
func classify(err error) error {
	err = redact.Error(err)
	switch Code(err) {
	case "NoSuchKey", "NoSuchBucket":
		return &classifiedError{sentinel: ErrNotFound, err: err}
	case "FileAlreadyExists":
		return &classifiedError{sentinel: ErrAlreadyExists, err: err}
	}
	return err
}

type crcError struct{ client, server uint64 }

func (e *crcError) Error() string {
	return fmt.Sprintf("crc64 mismatch: computed %d, server sent %d", e.client, e.server)
}

// Code returns the OSS error code in err's chain ("NoSuchKey", …) or "".
func Code(err error) string {
	var se oss.ServiceError
	if errors.As(err, &se) {
		return se.Code
	}
	return ""
}

// IsRetryable reports whether repeating the same request may succeed: OSS 5xx and
// request-rate errors, request timeouts, data corrupted in transit (CRC mismatch) and
// transport failures. A cancelled or expired context is final.
func IsRetryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var se oss.ServiceError
	if errors.As(err, &se) {
		switch se.Code {
		case "RequestTimeout", "SlowDown", "ServiceUnavailable", "InternalError":
			return true
		}
		return se.StatusCode >= 500 || se.StatusCode == 429
	}
	var ce *crcError
	var sdkCRC oss.CRCCheckError
	if errors.As(err, &ce) || errors.As(err, &sdkCRC) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}
