package ossx

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"
)

// Multipart is the large-object side of the OSS port, for copies that do not fit in
// memory (rds-offsite): multipart uploads that survive the process (found again with
// ListUploads/ListParts and continued), object metadata and ranged reads. Errors follow
// Store's contract (ErrNotFound, Code, IsRetryable).
type Multipart interface {
	Store
	// BucketRegion is the bucket's region id ("cn-shanghai", without "oss-").
	BucketRegion(ctx context.Context, bucket string) (string, error)
	// Initiate starts an upload; the options land on the object at Complete.
	Initiate(ctx context.Context, bucket, key string, opts InitOptions) (uploadID string, err error)
	// UploadPart sends exactly size bytes of r as part n (1..10000). The SDK checks the
	// part's CRC-64 against OSS's answer.
	UploadPart(ctx context.Context, bucket, key, uploadID string, n int, r io.Reader, size int64) (Part, error)
	// ListParts lists the parts uploaded so far, by number (ErrNotFound: no such upload).
	ListParts(ctx context.Context, bucket, key, uploadID string) ([]Part, error)
	// ListUploads lists the uploads in progress under prefix, by key and upload id.
	ListUploads(ctx context.Context, bucket, prefix string) ([]Upload, error)
	// Complete assembles the parts (by number) into the object.
	Complete(ctx context.Context, bucket, key, uploadID string, parts []Part) error
	// Abort drops an upload and its parts (ErrNotFound when already gone).
	Abort(ctx context.Context, bucket, key, uploadID string) error
	// Head returns an object's size, CRC-64 and metadata (ErrNotFound).
	Head(ctx context.Context, bucket, key string) (Meta, error)
	// Open reads an object from offset.
	Open(ctx context.Context, bucket, key string, offset int64) (io.ReadCloser, error)
}

// InitOptions are an upload's object settings.
type InitOptions struct {
	ContentType string
	// Metadata becomes x-oss-meta-<key> (keys lower-case letters, digits and '-').
	Metadata map[string]string
	// SSE is AES256, KMS or SM4 ("" for none); KMSKeyID only with KMS.
	SSE, KMSKeyID string
}

// Upload is a multipart upload in progress.
type Upload struct {
	Key, UploadID string
	Initiated     time.Time
}

// Part is one uploaded part.
type Part struct {
	Number int
	ETag   string
	Size   int64
}

// Meta is what HEAD says about an object.
type Meta struct {
	Size         int64
	CRC64        uint64
	HasCRC       bool
	ETag         string
	LastModified time.Time
	// Metadata: the x-oss-meta-* headers, keys lower-case without the prefix.
	Metadata map[string]string
	SSE      string
}

// NewMultipart is New with the Multipart side.
func NewMultipart(endpoint, ak, secret, token string) (Multipart, error) {
	s, err := New(endpoint, ak, secret, token)
	if err != nil {
		return nil, err
	}
	return s.(*client), nil
}

func (s *client) BucketRegion(ctx context.Context, bucket string) (string, error) {
	loc, err := s.c.GetBucketLocation(bucket, oss.WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("oss: bucket location %s: %w", bucket, classify(err))
	}
	return strings.TrimPrefix(loc, "oss-"), nil
}

func (s *client) Initiate(ctx context.Context, bucket, key string, opts InitOptions) (string, error) {
	b, err := s.bucket(bucket)
	if err != nil {
		return "", err
	}
	o := []oss.Option{oss.WithContext(ctx)}
	if opts.ContentType != "" {
		o = append(o, oss.ContentType(opts.ContentType))
	}
	keys := make([]string, 0, len(opts.Metadata))
	for k := range opts.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		o = append(o, oss.Meta(k, opts.Metadata[k]))
	}
	if opts.SSE != "" {
		o = append(o, oss.ServerSideEncryption(opts.SSE))
	}
	if opts.KMSKeyID != "" {
		o = append(o, oss.ServerSideEncryptionKeyID(opts.KMSKeyID))
	}
	imur, err := b.InitiateMultipartUpload(key, o...)
	if err != nil {
		return "", fmt.Errorf("oss: initiate upload %s/%s: %w", bucket, key, classify(err))
	}
	return imur.UploadID, nil
}

func imur(bucket, key, uploadID string) oss.InitiateMultipartUploadResult {
	return oss.InitiateMultipartUploadResult{Bucket: bucket, Key: key, UploadID: uploadID}
}

func (s *client) UploadPart(ctx context.Context, bucket, key, uploadID string, n int, r io.Reader, size int64) (Part, error) {
	b, err := s.bucket(bucket)
	if err != nil {
		return Part{}, err
	}
	p, err := b.UploadPart(imur(bucket, key, uploadID), r, size, n, oss.WithContext(ctx))
	if err != nil {
		return Part{}, fmt.Errorf("oss: upload part %d of %s/%s: %w", n, bucket, key, classify(err))
	}
	return Part{Number: p.PartNumber, ETag: p.ETag, Size: size}, nil
}

func (s *client) ListParts(ctx context.Context, bucket, key, uploadID string) ([]Part, error) {
	b, err := s.bucket(bucket)
	if err != nil {
		return nil, err
	}
	var out []Part
	marker := 0
	for {
		res, err := b.ListUploadedParts(imur(bucket, key, uploadID), oss.WithContext(ctx), oss.MaxParts(1000), oss.PartNumberMarker(marker))
		if err != nil {
			return nil, fmt.Errorf("oss: list parts of %s/%s: %w", bucket, key, classifyUpload(err))
		}
		for _, p := range res.UploadedParts {
			out = append(out, Part{Number: p.PartNumber, ETag: p.ETag, Size: int64(p.Size)})
		}
		next, _ := strconv.Atoi(res.NextPartNumberMarker)
		if !res.IsTruncated || next <= marker {
			return out, nil
		}
		marker = next
	}
}

func (s *client) ListUploads(ctx context.Context, bucket, prefix string) ([]Upload, error) {
	b, err := s.bucket(bucket)
	if err != nil {
		return nil, err
	}
	var out []Upload
	keyMarker, idMarker := "", ""
	for {
		res, err := b.ListMultipartUploads(oss.WithContext(ctx), oss.Prefix(prefix), oss.MaxUploads(1000), oss.KeyMarker(keyMarker), oss.UploadIDMarker(idMarker))
		if err != nil {
			return nil, fmt.Errorf("oss: list uploads %s/%s: %w", bucket, prefix, classify(err))
		}
		for _, u := range res.Uploads {
			out = append(out, Upload{Key: u.Key, UploadID: u.UploadID, Initiated: u.Initiated})
		}
		if !res.IsTruncated || (res.NextKeyMarker == keyMarker && res.NextUploadIDMarker == idMarker) {
			return out, nil
		}
		keyMarker, idMarker = res.NextKeyMarker, res.NextUploadIDMarker
	}
}

func (s *client) Complete(ctx context.Context, bucket, key, uploadID string, parts []Part) error {
	b, err := s.bucket(bucket)
	if err != nil {
		return err
	}
	ps := make([]oss.UploadPart, len(parts))
	for i, p := range parts {
		ps[i] = oss.UploadPart{PartNumber: p.Number, ETag: p.ETag}
	}
	if _, err := b.CompleteMultipartUpload(imur(bucket, key, uploadID), ps, oss.WithContext(ctx)); err != nil {
		return fmt.Errorf("oss: complete upload of %s/%s: %w", bucket, key, classifyUpload(err))
	}
	return nil
}

func (s *client) Abort(ctx context.Context, bucket, key, uploadID string) error {
	b, err := s.bucket(bucket)
	if err != nil {
		return err
	}
	if err := b.AbortMultipartUpload(imur(bucket, key, uploadID), oss.WithContext(ctx)); err != nil {
		return fmt.Errorf("oss: abort upload of %s/%s: %w", bucket, key, classifyUpload(err))
	}
	return nil
}

func (s *client) Head(ctx context.Context, bucket, key string) (Meta, error) {
	b, err := s.bucket(bucket)
	if err != nil {
		return Meta{}, err
	}
	h, err := b.GetObjectDetailedMeta(key, oss.WithContext(ctx))
	if err != nil {
		return Meta{}, fmt.Errorf("oss: head %s/%s: %w", bucket, key, classify(err))
	}
	return metaOf(h), nil
}

func metaOf(h http.Header) Meta {
	m := Meta{ETag: h.Get("ETag"), SSE: h.Get("X-Oss-Server-Side-Encryption"), Metadata: map[string]string{}}
	m.Size, _ = strconv.ParseInt(h.Get("Content-Length"), 10, 64)
	if v := h.Get("X-Oss-Hash-Crc64ecma"); v != "" {
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			m.CRC64, m.HasCRC = n, true
		}
	}
	m.LastModified, _ = http.ParseTime(h.Get("Last-Modified"))
	for k, v := range h {
		if rest, ok := strings.CutPrefix(strings.ToLower(k), "x-oss-meta-"); ok && len(v) > 0 {
			m.Metadata[rest] = v[0]
		}
	}
	return m
}

func (s *client) Open(ctx context.Context, bucket, key string, offset int64) (io.ReadCloser, error) {
	b, err := s.bucket(bucket)
	if err != nil {
		return nil, err
	}
	o := []oss.Option{oss.WithContext(ctx)}
	if offset > 0 {
		o = append(o, oss.NormalizedRange(strconv.FormatInt(offset, 10)+"-"))
	}
	rc, err := b.GetObject(key, o...)
	if err != nil {
		return nil, fmt.Errorf("oss: get %s/%s: %w", bucket, key, classify(err))
	}
	return rc, nil
}

// classifyUpload is classify with NoSuchUpload as ErrNotFound.
func classifyUpload(err error) error {
	if Code(err) == "NoSuchUpload" {
		return &classifiedError{sentinel: ErrNotFound, err: err}
	}
	return classify(err)
}
