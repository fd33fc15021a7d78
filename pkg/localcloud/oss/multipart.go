package oss

import (
	"bytes"
	"cmp"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	sdkoss "github.com/aliyun/aliyun-oss-go-sdk/oss"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

// Multipart upload (InitiateMultipartUpload, UploadPart, ListParts, ListMultipartUploads,
// CompleteMultipartUpload, AbortMultipartUpload), as OSS documents it:
//   - part numbers 1..10000, each part at most 5 GiB, every part but the last at least
//     100 KiB (EntityTooSmall on Complete);
//   - UploadPart answers ETag (quoted upper-hex MD5 of the part) and x-oss-hash-crc64ecma
//     (the part's CRC-64, which the SDK checks); ListParts reports HashCrc64ecma per part;
//   - the completed object's CRC-64 is the CRC of the whole content, computed from the
//     parts' CRCs by CRC-64 combination (what OSS does: it never re-reads the object), and
//     its ETag is "<upper-hex MD5 of the concatenated binary part MD5s>-<N>", type
//     Multipart; an upload that is completed or aborted is gone (NoSuchUpload);
//   - the upload's metadata (Content-Type, x-oss-meta-*, server-side encryption) is given
//     at Initiate and lands on the object at Complete; x-oss-forbid-overwrite works on
//     Complete.
//
// Parts are spooled to files in a temporary directory as they arrive (MD5 and CRC-64
// computed on the way), and a completed object is the list of its part files, never
// assembled in memory: a multi-GB object costs disk, not RAM. Close removes the files.

const (
	maxPartNumber = 10000
	maxPartSize   = 5 << 30
	minPartSize   = 100 << 10
)

type segment struct {
	path string
	size int64
}

type part struct {
	number       int
	seg          segment
	etag         string // quoted upper-hex MD5
	md5          [16]byte
	crc          uint64
	lastModified time.Time
}

type upload struct {
	id, bucket, key string
	initiated       time.Time
	contentType     string
	headers         map[string]string
	parts           map[int]*part
}

// spool returns the directory part files go to, creating it on first use.
func (s *Service) spool() (string, error) {
	s.spoolMu.Lock()
	defer s.spoolMu.Unlock()
	if s.spoolDir == "" {
		dir, err := os.MkdirTemp("", "localcloud-oss-")
		if err != nil {
			return "", err
		}
		s.spoolDir = dir
	}
	return s.spoolDir, nil
}

// Close removes the spooled part files of every upload and multipart object.
func (s *Service) Close() error {
	s.spoolMu.Lock()
	defer s.spoolMu.Unlock()
	if s.spoolDir == "" {
		return nil
	}
	err := os.RemoveAll(s.spoolDir)
	s.spoolDir = ""
	return err
}

// multipartAction names the multipart call of a request on an object (or a bucket, for
// ListMultipartUploads), or "".
func multipartAction(req *request) string {
	q := req.r.URL.Query()
	m := req.r.Method
	if !req.hasKey || req.key == "" {
		if m == http.MethodGet && q.Has("uploads") {
			return "ListMultipartUploads"
		}
		return ""
	}
	switch {
	case m == http.MethodPost && q.Has("uploads"):
		return "InitiateMultipartUpload"
	case m == http.MethodPut && q.Has("uploadId") && q.Has("partNumber"):
		if req.r.Header.Get("x-oss-copy-source") != "" {
			return "" // UploadPartCopy is not emulated
		}
		return "UploadPart"
	case m == http.MethodGet && q.Has("uploadId"):
		return "ListParts"
	case m == http.MethodPost && q.Has("uploadId"):
		return "CompleteMultipartUpload"
	case m == http.MethodDelete && q.Has("uploadId"):
		return "AbortMultipartUpload"
	}
	return ""
}

func (s *Service) serveMultipart(req *request, action string) *apiError {
	switch action {
	case "InitiateMultipartUpload":
		return s.initiateMultipart(req)
	case "UploadPart":
		return s.uploadPart(req)
	case "ListParts":
		return s.listParts(req)
	case "CompleteMultipartUpload":
		return s.completeMultipart(req)
	case "AbortMultipartUpload":
		return s.abortMultipart(req)
	case "ListMultipartUploads":
		return s.listMultipartUploads(req)
	}
	return &apiError{Status: http.StatusNotImplemented, Code: "NotImplemented", Message: action + " is not implemented by the local OSS"}
}

func errNoSuchUpload(id string) *apiError {
	return &apiError{Status: http.StatusNotFound, Code: "NoSuchUpload",
		Message: "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.", EC: "0042-00000002", Key: id}
}

// sseHeaders validates and returns the server-side encryption headers of an Initiate.
func sseHeaders(r *http.Request) (map[string]string, *apiError) {
	out := map[string]string{}
	sse := r.Header.Get("x-oss-server-side-encryption")
	switch sse {
	case "":
	case "AES256", "KMS", "SM4":
		out["X-Oss-Server-Side-Encryption"] = sse
	default:
		return nil, errInvalidArgument("x-oss-server-side-encryption must be AES256, KMS or SM4, got " + strconv.Quote(sse) + ".")
	}
	if id := r.Header.Get("x-oss-server-side-encryption-key-id"); id != "" {
		if sse != "KMS" {
			return nil, errInvalidArgument("x-oss-server-side-encryption-key-id is only valid with x-oss-server-side-encryption: KMS.")
		}
		out["X-Oss-Server-Side-Encryption-Key-Id"] = id
	}
	return out, nil
}

func (s *Service) initiateMultipart(req *request) *apiError {
	if aerr := keyError(req.key); aerr != nil {
		return aerr
	}
	if aerr := checkStorageClass(req.r.Header.Get("x-oss-storage-class")); aerr != nil {
		return aerr
	}
	sse, aerr := sseHeaders(req.r)
	if aerr != nil {
		return aerr
	}
	headers := requestHeaders(req.r)
	for k, v := range sse {
		headers[k] = v
	}
	u := &upload{id: strings.ToUpper(core.RandomHex(16)), bucket: req.bucket, key: req.key, initiated: clockTime(s.env.Clock.Now()),
		contentType: req.r.Header.Get("Content-Type"), headers: headers, parts: map[int]*part{}}
	s.mu.Lock()
	if _, aerr := s.bucketFor(req, req.bucket); aerr != nil {
		s.mu.Unlock()
		return aerr
	}
	s.uploads[u.id] = u
	s.mu.Unlock()
	s.writeXML(req, http.StatusOK, struct {
		XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
		Bucket   string   `xml:"Bucket"`
		Key      string   `xml:"Key"`
		UploadID string   `xml:"UploadId"`
	}{Bucket: req.bucket, Key: req.key, UploadID: u.id})
	return nil
}

// uploadFor returns the upload named by ?uploadId= for this bucket and key. Callers hold s.mu.
func (s *Service) uploadFor(req *request) (*upload, *apiError) {
	if _, aerr := s.bucketFor(req, req.bucket); aerr != nil {
		return nil, aerr
	}
	id := req.r.URL.Query().Get("uploadId")
	u := s.uploads[id]
	if u == nil || u.bucket != req.bucket || u.key != req.key {
		return nil, errNoSuchUpload(id)
	}
	return u, nil
}

func (s *Service) uploadPart(req *request) *apiError {
	r := req.r
	n, err := strconv.Atoi(r.URL.Query().Get("partNumber"))
	if err != nil || n < 1 || n > maxPartNumber {
		return errInvalidArgument(fmt.Sprintf("Part number must be an integer between 1 and %d, got %q.", maxPartNumber, r.URL.Query().Get("partNumber")))
	}
	if r.ContentLength > maxPartSize {
		return &apiError{Status: http.StatusBadRequest, Code: "EntityTooLarge",
			Message: "Your proposed upload exceeds the maximum allowed size.", EC: "0042-00000101"}
	}
	s.mu.RLock()
	_, aerr := s.uploadFor(req)
	s.mu.RUnlock()
	if aerr != nil {
		return aerr
	}
	dir, err := s.spool()
	if err != nil {
		return &apiError{Status: http.StatusInternalServerError, Code: "InternalError", Message: "spool: " + err.Error()}
	}
	f, err := os.CreateTemp(dir, "part-*")
	if err != nil {
		return &apiError{Status: http.StatusInternalServerError, Code: "InternalError", Message: "spool: " + err.Error()}
	}
	path := f.Name()
	keep := false
	defer func() {
		if !keep {
			_ = os.Remove(path)
		}
	}()
	md := md5.New()
	crc := crc64.New(crcTable)
	size, err := io.Copy(io.MultiWriter(f, md, crc), io.LimitReader(r.Body, maxPartSize+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil || (r.ContentLength >= 0 && size != r.ContentLength) {
		return &apiError{Status: http.StatusBadRequest, Code: "IncompleteBody",
			Message: "You did not provide the number of bytes specified by the Content-Length HTTP header.", EC: "0042-00000102"}
	}
	if size > maxPartSize {
		return &apiError{Status: http.StatusBadRequest, Code: "EntityTooLarge", Message: "Your proposed upload exceeds the maximum allowed size.", EC: "0042-00000101"}
	}
	var sum [16]byte
	copy(sum[:], md.Sum(nil))
	if v := r.Header.Get("Content-MD5"); v != "" {
		want, err := base64.StdEncoding.DecodeString(v)
		if err != nil || !bytes.Equal(want, sum[:]) {
			return &apiError{Status: http.StatusBadRequest, Code: "InvalidDigest",
				Message: "The Content-MD5 you specified did not match what we received.", EC: "0042-00000103"}
		}
	}
	p := &part{number: n, seg: segment{path: path, size: size}, md5: sum,
		etag: `"` + strings.ToUpper(hex.EncodeToString(sum[:])) + `"`, crc: crc.Sum64(), lastModified: clockTime(s.env.Clock.Now())}
	s.mu.Lock()
	u, aerr := s.uploadFor(req) // aborted or completed meanwhile?
	if aerr != nil {
		s.mu.Unlock()
		return aerr
	}
	old := u.parts[n]
	u.parts[n] = p
	keep = true
	s.mu.Unlock()
	if old != nil {
		_ = os.Remove(old.seg.path)
	}
	h := req.w.Header()
	h.Set("ETag", p.etag)
	h.Set("Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
	h.Set("x-oss-hash-crc64ecma", strconv.FormatUint(p.crc, 10))
	h.Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusOK)
	return nil
}

type partXML struct {
	PartNumber    int    `xml:"PartNumber"`
	LastModified  string `xml:"LastModified"`
	ETag          string `xml:"ETag"`
	HashCrc64ecma uint64 `xml:"HashCrc64ecma"`
	Size          int64  `xml:"Size"`
}

func (s *Service) listParts(req *request) *apiError {
	q := req.r.URL.Query()
	maxParts, aerr := parseMaxKeys(q.Get("max-parts"), 1000, 1000)
	if aerr != nil {
		return aerr
	}
	marker := 0
	if v := q.Get("part-number-marker"); v != "" {
		var err error
		if marker, err = strconv.Atoi(v); err != nil || marker < 0 {
			return errInvalidArgument("part-number-marker must be a non-negative integer.")
		}
	}
	s.mu.RLock()
	u, aerr := s.uploadFor(req)
	if aerr != nil {
		s.mu.RUnlock()
		return aerr
	}
	var ps []partXML
	for _, p := range u.parts {
		if p.number > marker {
			ps = append(ps, partXML{PartNumber: p.number, LastModified: p.lastModified.Format(ossTime), ETag: p.etag, HashCrc64ecma: p.crc, Size: p.seg.size})
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(ps, func(a, b partXML) int { return cmp.Compare(a.PartNumber, b.PartNumber) })
	truncated := len(ps) > maxParts
	next := 0
	if truncated {
		ps = ps[:maxParts]
		next = ps[len(ps)-1].PartNumber
	}
	key := req.key
	if q.Get("encoding-type") == "url" {
		key = escapeURL(key)
	}
	s.writeXML(req, http.StatusOK, struct {
		XMLName              xml.Name  `xml:"ListPartsResult"`
		Bucket               string    `xml:"Bucket"`
		EncodingType         string    `xml:"EncodingType,omitempty"`
		Key                  string    `xml:"Key"`
		UploadID             string    `xml:"UploadId"`
		PartNumberMarker     int       `xml:"PartNumberMarker"`
		NextPartNumberMarker int       `xml:"NextPartNumberMarker"`
		MaxParts             int       `xml:"MaxParts"`
		IsTruncated          bool      `xml:"IsTruncated"`
		Parts                []partXML `xml:"Part"`
	}{Bucket: req.bucket, EncodingType: q.Get("encoding-type"), Key: key, UploadID: u.id, PartNumberMarker: marker,
		NextPartNumberMarker: next, MaxParts: maxParts, IsTruncated: truncated, Parts: ps})
	return nil
}

func (s *Service) completeMultipart(req *request) *apiError {
	r := req.r
	forbid, aerr := parseForbidOverwrite(r)
	if aerr != nil {
		return aerr
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 2<<20))
	if err != nil {
		return errInvalidArgument("read request body: " + err.Error())
	}
	var in struct {
		XMLName xml.Name `xml:"CompleteMultipartUpload"`
		Parts   []struct {
			PartNumber int    `xml:"PartNumber"`
			ETag       string `xml:"ETag"`
		} `xml:"Part"`
	}
	if err := xml.Unmarshal(body, &in); err != nil {
		return errMalformedXML(err.Error())
	}
	if len(in.Parts) == 0 {
		return errMalformedXML("a CompleteMultipartUpload names at least one part")
	}
	s.mu.Lock()
	u, aerr := s.uploadFor(req)
	if aerr != nil {
		s.mu.Unlock()
		return aerr
	}
	b := s.buckets[req.bucket]
	var (
		segs  []segment
		crc   uint64
		size  int64
		md5s  []byte
		used  = map[int]bool{}
		prev  = 0
		fault *apiError
	)
	for i, ip := range in.Parts {
		p := u.parts[ip.PartNumber]
		switch {
		case ip.PartNumber <= prev:
			fault = &apiError{Status: http.StatusBadRequest, Code: "InvalidPartOrder",
				Message: "The list of parts was not in ascending order. Parts must be ordered by part number.", EC: "0042-00000204"}
		case p == nil || !strings.EqualFold(strings.Trim(ip.ETag, `"`), strings.Trim(p.etag, `"`)):
			fault = &apiError{Status: http.StatusBadRequest, Code: "InvalidPart",
				Message: "One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag.", EC: "0042-00000205"}
		case i < len(in.Parts)-1 && p.seg.size < minPartSize:
			fault = &apiError{Status: http.StatusBadRequest, Code: "EntityTooSmall",
				Message: "Your proposed upload is smaller than the minimum allowed size.", EC: "0042-00000206"}
		}
		if fault != nil {
			break
		}
		prev = ip.PartNumber
		used[p.number] = true
		segs = append(segs, p.seg)
		crc = sdkoss.CRC64Combine(crc, p.crc, uint64(p.seg.size))
		size += p.seg.size
		md5s = append(md5s, p.md5[:]...)
	}
	if fault == nil {
		if _, exists := b.objects[req.key]; exists && forbid {
			fault = errFileExists(req.key)
		}
	}
	if fault != nil {
		s.mu.Unlock()
		return fault
	}
	sum := md5.Sum(md5s)
	obj := &object{segments: segs, size: size, multipart: true, crc64: crc,
		etag:        fmt.Sprintf(`"%s-%d"`, strings.ToUpper(hex.EncodeToString(sum[:])), len(segs)),
		contentType: cmp.Or(u.contentType, "application/octet-stream"), lastModified: clockTime(s.env.Clock.Now()), headers: u.headers}
	b.set(req.key, obj)
	delete(s.uploads, u.id)
	var unused []string
	for n, p := range u.parts {
		if !used[n] {
			unused = append(unused, p.seg.path)
		}
	}
	s.mu.Unlock()
	for _, p := range unused {
		_ = os.Remove(p)
	}
	req.w.Header().Set("x-oss-hash-crc64ecma", strconv.FormatUint(crc, 10))
	s.writeXML(req, http.StatusOK, struct {
		XMLName  xml.Name `xml:"CompleteMultipartUploadResult"`
		Location string   `xml:"Location"`
		Bucket   string   `xml:"Bucket"`
		Key      string   `xml:"Key"`
		ETag     string   `xml:"ETag"`
	}{Location: "http://" + req.r.Host + "/" + req.bucket + "/" + escapeURL(req.key), Bucket: req.bucket, Key: req.key, ETag: obj.etag})
	return nil
}

func (s *Service) abortMultipart(req *request) *apiError {
	s.mu.Lock()
	u, aerr := s.uploadFor(req)
	if aerr != nil {
		s.mu.Unlock()
		return aerr
	}
	delete(s.uploads, u.id)
	s.mu.Unlock()
	for _, p := range u.parts {
		_ = os.Remove(p.seg.path)
	}
	req.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) listMultipartUploads(req *request) *apiError {
	q := req.r.URL.Query()
	if q.Get("delimiter") != "" {
		return &apiError{Status: http.StatusNotImplemented, Code: "NotImplemented", Message: "ListMultipartUploads with a delimiter is not implemented by the local OSS."}
	}
	maxUploads, aerr := parseMaxKeys(q.Get("max-uploads"), 1000, 1000)
	if aerr != nil {
		return aerr
	}
	prefix, keyMarker, idMarker := q.Get("prefix"), q.Get("key-marker"), q.Get("upload-id-marker")
	type item struct {
		key, id   string
		initiated time.Time
	}
	s.mu.RLock()
	if _, aerr := s.bucketFor(req, req.bucket); aerr != nil {
		s.mu.RUnlock()
		return aerr
	}
	var items []item
	for _, u := range s.uploads {
		if u.bucket != req.bucket || !strings.HasPrefix(u.key, prefix) {
			continue
		}
		if keyMarker != "" && (u.key < keyMarker || (u.key == keyMarker && (idMarker == "" || u.id <= idMarker))) {
			continue
		}
		items = append(items, item{u.key, u.id, u.initiated})
	}
	s.mu.RUnlock()
	slices.SortFunc(items, func(a, b item) int { return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.id, b.id)) })
	truncated := len(items) > maxUploads
	var nextKey, nextID string
	if truncated {
		items = items[:maxUploads]
		nextKey, nextID = items[len(items)-1].key, items[len(items)-1].id
	}
	esc := func(v string) string {
		if q.Get("encoding-type") == "url" {
			return escapeURL(v)
		}
		return v
	}
	type uploadXML struct {
		Key          string `xml:"Key"`
		UploadID     string `xml:"UploadId"`
		Initiated    string `xml:"Initiated"`
		StorageClass string `xml:"StorageClass"`
	}
	out := struct {
		XMLName            xml.Name    `xml:"ListMultipartUploadsResult"`
		Bucket             string      `xml:"Bucket"`
		EncodingType       string      `xml:"EncodingType,omitempty"`
		KeyMarker          string      `xml:"KeyMarker"`
		UploadIDMarker     string      `xml:"UploadIdMarker"`
		NextKeyMarker      string      `xml:"NextKeyMarker"`
		NextUploadIDMarker string      `xml:"NextUploadIdMarker"`
		Delimiter          string      `xml:"Delimiter"`
		Prefix             string      `xml:"Prefix"`
		MaxUploads         int         `xml:"MaxUploads"`
		IsTruncated        bool        `xml:"IsTruncated"`
		Uploads            []uploadXML `xml:"Upload"`
	}{Bucket: req.bucket, EncodingType: q.Get("encoding-type"), KeyMarker: esc(keyMarker), UploadIDMarker: idMarker,
		NextKeyMarker: esc(nextKey), NextUploadIDMarker: nextID, Prefix: esc(prefix), MaxUploads: maxUploads, IsTruncated: truncated}
	for _, it := range items {
		out.Uploads = append(out.Uploads, uploadXML{Key: esc(it.key), UploadID: it.id, Initiated: it.initiated.Format(ossTime), StorageClass: "Standard"})
	}
	s.writeXML(req, http.StatusOK, out)
	return nil
}

// ---- objects made of spooled segments ----

func (o *object) length() int64 {
	if o.multipart {
		return o.size
	}
	return int64(len(o.data))
}

func (o *object) objectType() string {
	if o.multipart {
		return "Multipart"
	}
	return "Normal"
}

// body returns the bytes [start, end] (inclusive) of the object.
func (o *object) body(start, end int64) (io.ReadCloser, error) {
	if !o.multipart {
		return io.NopCloser(bytes.NewReader(o.data[start : end+1])), nil
	}
	var readers []io.Reader
	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			_ = f.Close()
		}
	}
	off := int64(0)
	for _, sg := range o.segments {
		segStart, segEnd := off, off+sg.size-1
		off += sg.size
		if segEnd < start || segStart > end || sg.size == 0 {
			continue
		}
		f, err := os.Open(sg.path)
		if err != nil {
			closeAll()
			return nil, err
		}
		files = append(files, f)
		from := max(start, segStart) - segStart
		to := min(end, segEnd) - segStart
		readers = append(readers, io.NewSectionReader(f, from, to-from+1))
	}
	return &multiCloser{Reader: io.MultiReader(readers...), close: closeAll}, nil
}

type multiCloser struct {
	io.Reader
	close func()
}

func (m *multiCloser) Close() error { m.close(); return nil }

// readAll returns the whole object (inspection only).
func (o *object) readAll() ([]byte, error) {
	if o.length() == 0 {
		return []byte{}, nil
	}
	rc, err := o.body(0, o.length()-1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// MultipartUpload is an upload in progress (inspection).
type MultipartUpload struct {
	Bucket, Key, UploadID string
	Initiated             time.Time
	Parts                 int
	Bytes                 int64
}

// Uploads lists the multipart uploads in progress in bucket, by key.
func (s *Service) Uploads(bucketName string) []MultipartUpload {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []MultipartUpload
	for _, u := range s.uploads {
		if u.bucket != bucketName {
			continue
		}
		m := MultipartUpload{Bucket: u.bucket, Key: u.key, UploadID: u.id, Initiated: u.initiated, Parts: len(u.parts)}
		for _, p := range u.parts {
			m.Bytes += p.seg.size
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b MultipartUpload) int {
		return cmp.Or(cmp.Compare(a.Key, b.Key), cmp.Compare(a.UploadID, b.UploadID))
	})
	return out
}

// ObjectInfo is what the local OSS stores about an object besides its bytes (inspection).
type ObjectInfo struct {
	Size    int64
	CRC64   uint64
	ETag    string
	Type    string
	Headers map[string]string
}

// Stat returns an object's size, CRC and headers without reading it.
func (s *Service) Stat(bucketName, key string) (ObjectInfo, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, ok := s.buckets[bucketName]
	if !ok {
		return ObjectInfo{}, ErrNoSuchBucket
	}
	o, ok := b.objects[key]
	if !ok {
		return ObjectInfo{}, errors.New("no such key")
	}
	h := map[string]string{}
	for k, v := range o.headers {
		h[k] = v
	}
	return ObjectInfo{Size: o.length(), CRC64: o.crc64, ETag: o.etag, Type: o.objectType(), Headers: h}, nil
}
