package oss

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"hash/crc64"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

var crcTable = crc64.MakeTable(crc64.ECMA)

// storedHeaders are the standard headers OSS keeps with an object and returns on GET.
var storedHeaders = []string{"Cache-Control", "Content-Disposition", "Content-Encoding", "Expires"}

func newObject(data []byte, contentType string, headers map[string]string, now time.Time) *object {
	sum := md5.Sum(data)
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	return &object{data: data, etag: `"` + strings.ToUpper(hex.EncodeToString(sum[:])) + `"`,
		crc64: crc64.Checksum(data, crcTable), contentType: contentType,
		lastModified: clockTime(now), headers: headers}
}

// validateKey applies OSS's object naming rules: UTF-8, 1–1023 bytes, not starting with
// "/" or "\".
func validateKey(key string) (code, msg string) {
	switch {
	case key == "":
		return "InvalidObjectName", "The Object name can not be empty."
	case len(key) > 1023:
		return "InvalidObjectName", "The Length of Object name must be less than 1024."
	case !utf8.ValidString(key), key[0] == '/', key[0] == '\\':
		return "InvalidObjectName", "The specified object is not valid."
	}
	return "", ""
}

func keyError(key string) *apiError {
	if code, msg := validateKey(key); code != "" {
		return &apiError{Status: http.StatusBadRequest, Code: code, Message: msg, EC: "0016-00000005", Key: key}
	}
	return nil
}

// rejectConditionalWrite refuses If-Match / If-None-Match on writes: OSS has no
// conditional PUT (see the package comment); silently ignoring them would let a caller
// believe it had compare-and-swap.
func rejectConditionalWrite(r *http.Request) *apiError {
	for _, h := range []string{"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"} {
		if r.Header.Get(h) != "" {
			return &apiError{Status: http.StatusBadRequest, Code: "NotImplemented",
				Message: "A header you provided implies functionality that is not implemented.", EC: "0005-00000001", Header: h}
		}
	}
	return nil
}

func parseForbidOverwrite(r *http.Request) (bool, *apiError) {
	switch v := strings.ToLower(r.Header.Get("x-oss-forbid-overwrite")); v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	default:
		return false, errInvalidArgument("x-oss-forbid-overwrite must be true or false, got " + strconv.Quote(v) + ".")
	}
}

func errFileExists(key string) *apiError {
	return &apiError{Status: http.StatusConflict, Code: "FileAlreadyExists",
		Message: "The object you specified already exists and can not be overwritten.", EC: "0026-00000003", Key: key}
}

func requestHeaders(r *http.Request) map[string]string {
	out := map[string]string{}
	for k, v := range r.Header {
		if len(v) > 0 && strings.HasPrefix(strings.ToLower(k), "x-oss-meta-") {
			out[http.CanonicalHeaderKey(k)] = v[0]
		}
	}
	for _, k := range storedHeaders {
		if v := r.Header.Get(k); v != "" {
			out[k] = v
		}
	}
	return out
}

// checkStorageClass accepts "" (the bucket's class) and the classes OSS knows.
func checkStorageClass(class string) *apiError {
	switch class {
	case "", "Standard", "IA", "Archive", "ColdArchive", "DeepColdArchive":
		return nil
	}
	return &apiError{Status: http.StatusBadRequest, Code: "InvalidStorageClass",
		Message: "The storage class you specified is not valid.", EC: "0015-00000201"}
}

// checkWrite validates what PutObject and CopyObject share (target key, no conditional
// headers, x-oss-forbid-overwrite, x-oss-storage-class) and returns forbid-overwrite.
func checkWrite(req *request) (forbid bool, aerr *apiError) {
	if aerr := keyError(req.key); aerr != nil {
		return false, aerr
	}
	if aerr := rejectConditionalWrite(req.r); aerr != nil {
		return false, aerr
	}
	if forbid, aerr = parseForbidOverwrite(req.r); aerr != nil {
		return false, aerr
	}
	return forbid, checkStorageClass(req.r.Header.Get("x-oss-storage-class"))
}

func (s *Service) putObject(req *request) *apiError {
	r := req.r
	forbid, aerr := checkWrite(req)
	if aerr != nil {
		return aerr
	}
	s.mu.RLock()
	limit := s.maxObjectSize
	s.mu.RUnlock()
	tooLarge := &apiError{Status: http.StatusBadRequest, Code: "EntityTooLarge",
		Message: fmt.Sprintf("Your proposed upload exceeds the maximum allowed size (%d bytes).", limit), EC: "0016-00000004", Key: req.key}
	// Oversized bodies are drained (up to maxDrain) before the answer: the SDK reads its
	// progress counter while its transport is still sending, a data race (and a broken
	// pipe instead of EntityTooLarge) if the server answers mid-upload.
	const maxDrain = 64 << 20
	drain := func() { _, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxDrain)) }
	if r.ContentLength > limit {
		drain()
		return tooLarge
	}
	// The whole body is read and checked before the store is touched: a too large,
	// truncated or corrupted upload writes nothing.
	data, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return &apiError{Status: http.StatusBadRequest, Code: "IncompleteBody",
			Message: "You did not provide the number of bytes specified by the Content-Length HTTP header: " + err.Error(), EC: "0016-00000002"}
	}
	if int64(len(data)) > limit {
		drain()
		return tooLarge
	}
	sum := md5.Sum(data)
	if v := r.Header.Get("Content-MD5"); v != "" {
		want, err := base64.StdEncoding.DecodeString(v)
		if err != nil || !bytes.Equal(want, sum[:]) {
			return &apiError{Status: http.StatusBadRequest, Code: "InvalidDigest",
				Message: "The Content-MD5 you specified did not match what we received.", EC: "0016-00000003", Key: req.key}
		}
	}
	obj := newObject(data, r.Header.Get("Content-Type"), requestHeaders(r), s.env.Clock.Now())

	s.mu.Lock()
	b, aerr := s.bucketFor(req, req.bucket)
	if aerr != nil {
		s.mu.Unlock()
		return aerr
	}
	if _, exists := b.objects[req.key]; exists && forbid {
		s.mu.Unlock()
		return errFileExists(req.key)
	}
	b.set(req.key, obj)
	s.mu.Unlock()

	h := req.w.Header()
	h.Set("ETag", obj.etag)
	h.Set("Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
	// The SDK compares this with the CRC it computed while sending: it must be exact.
	h.Set("x-oss-hash-crc64ecma", strconv.FormatUint(obj.crc64, 10))
	h.Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusOK)
	return nil
}

// parseCopySource reads "x-oss-copy-source: /bucket/key" where the SDK QueryEscape'd
// the key (space as "+", "/" as %2F).
func parseCopySource(v string) (bucketName, key string, aerr *apiError) {
	v, _, _ = strings.Cut(v, "?versionId=") // no versioning: any version is the current one
	rest, ok := strings.CutPrefix(v, "/")
	if !ok {
		return "", "", errInvalidArgument("x-oss-copy-source must be /bucket/object.")
	}
	bucketName, escaped, ok := strings.Cut(rest, "/")
	if !ok || escaped == "" {
		return "", "", errInvalidArgument("x-oss-copy-source must be /bucket/object.")
	}
	if !bucketNameRE.MatchString(bucketName) {
		return "", "", errInvalidBucketName(bucketName)
	}
	key, err := url.QueryUnescape(escaped)
	if err != nil {
		return "", "", errInvalidArgument("x-oss-copy-source object is not correctly escaped: " + err.Error())
	}
	if aerr := keyError(key); aerr != nil {
		return "", "", aerr
	}
	return bucketName, key, nil
}

func (s *Service) copyObject(req *request) *apiError {
	r := req.r
	forbid, aerr := checkWrite(req)
	if aerr != nil {
		return aerr
	}
	srcBucket, srcKey, aerr := parseCopySource(r.Header.Get("x-oss-copy-source"))
	if aerr != nil {
		return aerr
	}
	directive := r.Header.Get("x-oss-metadata-directive")
	if directive != "" && directive != "COPY" && directive != "REPLACE" {
		return errInvalidArgument("x-oss-metadata-directive must be COPY or REPLACE, got " + strconv.Quote(directive) + ".")
	}
	if n, _ := io.Copy(io.Discard, io.LimitReader(r.Body, 1)); n > 0 {
		return errInvalidArgument("CopyObject takes no request body.")
	}
	now := s.env.Clock.Now()

	s.mu.Lock()
	sb, aerr := s.bucketFor(req, srcBucket)
	if aerr != nil {
		s.mu.Unlock()
		return aerr
	}
	src, ok := sb.objects[srcKey]
	if !ok {
		s.mu.Unlock()
		return errNoSuchKey(srcKey)
	}
	if aerr := checkConditions(src, r.Header.Get("x-oss-copy-source-if-match"), r.Header.Get("x-oss-copy-source-if-none-match"),
		r.Header.Get("x-oss-copy-source-if-modified-since"), r.Header.Get("x-oss-copy-source-if-unmodified-since"), "x-oss-copy-source-"); aerr != nil {
		s.mu.Unlock()
		return aerr
	}
	db, aerr := s.bucketFor(req, req.bucket)
	if aerr != nil {
		s.mu.Unlock()
		return aerr
	}
	if _, exists := db.objects[req.key]; exists && forbid {
		s.mu.Unlock()
		return errFileExists(req.key)
	}
	// Stored data is never mutated in place, so the copy can share it.
	dst := *src
	dst.lastModified = clockTime(now)
	if directive == "REPLACE" {
		dst.headers = requestHeaders(r)
		dst.contentType = r.Header.Get("Content-Type")
		if dst.contentType == "" {
			dst.contentType = "application/octet-stream"
		}
	}
	db.set(req.key, &dst)
	s.mu.Unlock()

	s.writeXML(req, http.StatusOK, struct {
		XMLName      xml.Name `xml:"CopyObjectResult"`
		LastModified string   `xml:"LastModified"`
		ETag         string   `xml:"ETag"`
	}{LastModified: dst.lastModified.Format(ossTime), ETag: dst.etag})
	return nil
}

func etagMatches(list, etag string) bool {
	for _, v := range strings.Split(list, ",") {
		v = strings.TrimSpace(v)
		if v == "*" || strings.EqualFold(strings.Trim(v, `"`), strings.Trim(etag, `"`)) {
			return true
		}
	}
	return false
}

// checkConditions evaluates RFC 7232 preconditions in their specified order: If-Match
// (412), else If-Unmodified-Since (412); then If-None-Match (304), else If-Modified-Since
// (304). Unparsable dates are ignored, as HTTP requires.
func checkConditions(o *object, ifMatch, ifNoneMatch, ifModSince, ifUnmodSince, headerPrefix string) *apiError {
	notModified := &apiError{Status: http.StatusNotModified, statusOnly: true,
		extraHeaders: map[string]string{"ETag": o.etag, "Last-Modified": o.lastModified.Format(http.TimeFormat)}}
	if ifMatch != "" {
		if !etagMatches(ifMatch, o.etag) {
			return errPrecondition(headerPrefix + "If-Match")
		}
	} else if t, err := http.ParseTime(ifUnmodSince); ifUnmodSince != "" && err == nil && o.lastModified.After(t) {
		return errPrecondition(headerPrefix + "If-Unmodified-Since")
	}
	if ifNoneMatch != "" {
		if etagMatches(ifNoneMatch, o.etag) {
			return notModified
		}
	} else if t, err := http.ParseTime(ifModSince); ifModSince != "" && err == nil && !o.lastModified.After(t) {
		return notModified
	}
	return nil
}

// parseRange understands a single "bytes=a-b", "bytes=a-" or "bytes=-n". ok is false for
// anything else; satisfiable is false when the range lies outside the object.
func parseRange(v string, size int64) (start, end int64, ok, satisfiable bool) {
	spec, found := strings.CutPrefix(v, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false, false
	}
	a, b, found := strings.Cut(spec, "-")
	if !found {
		return 0, 0, false, false
	}
	var err error
	switch {
	case a == "" && b == "":
		return 0, 0, false, false
	case a == "":
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, false, false
		}
		if n == 0 || size == 0 {
			return 0, 0, true, false
		}
		start = max(size-n, 0)
		return start, size - 1, true, true
	default:
		if start, err = strconv.ParseInt(a, 10, 64); err != nil || start < 0 {
			return 0, 0, false, false
		}
		end = size - 1
		if b != "" {
			if end, err = strconv.ParseInt(b, 10, 64); err != nil || end < start {
				return 0, 0, false, false
			}
			end = min(end, size-1)
		}
		if start >= size {
			return 0, 0, true, false
		}
		return start, end, true, true
	}
}

func (s *Service) getObject(req *request, action string) *apiError {
	r := req.r
	if aerr := keyError(req.key); aerr != nil {
		return aerr
	}
	s.mu.RLock()
	b, aerr := s.bucketFor(req, req.bucket)
	if aerr != nil {
		s.mu.RUnlock()
		return aerr
	}
	o, ok := b.objects[req.key]
	s.mu.RUnlock()
	if !ok {
		return errNoSuchKey(req.key)
	}
	// o is immutable from here on: writers replace the pointer, never the content.
	if aerr := checkConditions(o, r.Header.Get("If-Match"), r.Header.Get("If-None-Match"),
		r.Header.Get("If-Modified-Since"), r.Header.Get("If-Unmodified-Since"), ""); aerr != nil {
		return aerr
	}
	h := req.w.Header()
	h.Set("ETag", o.etag)
	h.Set("Last-Modified", o.lastModified.Format(http.TimeFormat))
	if action == "GetObjectMeta" {
		h.Set("Content-Length", strconv.FormatInt(o.length(), 10))
		req.w.WriteHeader(http.StatusOK)
		return nil
	}
	for k, v := range o.headers {
		h.Set(k, v)
	}
	h.Set("Content-Type", o.contentType)
	h.Set("Accept-Ranges", "bytes")
	h.Set("x-oss-object-type", o.objectType())
	h.Set("x-oss-storage-class", "Standard")
	// Always the CRC of the whole object, as OSS does; the SDK skips its check for ranges.
	h.Set("x-oss-hash-crc64ecma", strconv.FormatUint(o.crc64, 10))
	if action == "GetObject" {
		q := r.URL.Query()
		for _, p := range [][2]string{{"response-content-type", "Content-Type"}, {"response-content-language", "Content-Language"},
			{"response-expires", "Expires"}, {"response-cache-control", "Cache-Control"},
			{"response-content-disposition", "Content-Disposition"}, {"response-content-encoding", "Content-Encoding"}} {
			if v := q.Get(p[0]); v != "" {
				h.Set(p[1], v)
			}
		}
	}
	size := o.length()
	start, end, status := int64(0), size-1, http.StatusOK
	if rv := r.Header.Get("Range"); rv != "" && action == "GetObject" {
		rs, re, ok, satisfiable := parseRange(rv, size)
		standard := strings.EqualFold(r.Header.Get("x-oss-range-behavior"), "standard")
		switch {
		case ok && satisfiable:
			start, end, status = rs, re, http.StatusPartialContent
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, size))
		case standard && ok:
			// Without x-oss-range-behavior: standard, OSS ignores a range it cannot serve
			// and returns the whole object with 200.
			return &apiError{Status: http.StatusRequestedRangeNotSatisfiable, Code: "InvalidRange",
				Message: "The requested range cannot be satisfied.", EC: "0026-00000004",
				extraHeaders: map[string]string{"Content-Range": fmt.Sprintf("bytes */%d", size)}}
		}
	}
	h.Set("Content-Length", strconv.FormatInt(end-start+1, 10))
	if r.Method == http.MethodHead || size == 0 {
		req.w.WriteHeader(status)
		return nil
	}
	body, err := o.body(start, end)
	if err != nil {
		return &apiError{Status: http.StatusInternalServerError, Code: "InternalError", Message: "read object: " + err.Error()}
	}
	defer body.Close()
	req.w.WriteHeader(status)
	_, _ = io.Copy(req.w, body)
	return nil
}

func (s *Service) deleteObject(req *request) *apiError {
	if aerr := keyError(req.key); aerr != nil {
		return aerr
	}
	s.mu.Lock()
	b, aerr := s.bucketFor(req, req.bucket)
	if aerr != nil {
		s.mu.Unlock()
		return aerr
	}
	b.remove(req.key)
	s.mu.Unlock()
	req.w.WriteHeader(http.StatusNoContent)
	return nil
}

// escapeURL is OSS's encoding-type=url escaping; the SDK reverses it with QueryUnescape.
func escapeURL(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }

func (s *Service) deleteObjects(req *request) *apiError {
	r := req.r
	encoding := r.URL.Query().Get("encoding-type")
	if encoding != "" && encoding != "url" {
		return errInvalidArgument("encoding-type must be url, got " + strconv.Quote(encoding) + ".")
	}
	const maxBody = 2 << 20
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return errInvalidArgument("read request body: " + err.Error())
	}
	if len(body) > maxBody {
		return errMalformedXML("request body larger than 2 MiB")
	}
	md5hdr := r.Header.Get("Content-MD5")
	if md5hdr == "" {
		return &apiError{Status: http.StatusBadRequest, Code: "MissingArgument",
			Message: "Missing Some Required Arguments: Content-MD5 is required for DeleteMultipleObjects.", EC: "0016-00000502"}
	}
	sum := md5.Sum(body)
	if want, err := base64.StdEncoding.DecodeString(md5hdr); err != nil || !bytes.Equal(want, sum[:]) {
		return &apiError{Status: http.StatusBadRequest, Code: "InvalidDigest",
			Message: "The Content-MD5 you specified did not match what we received.", EC: "0016-00000003"}
	}
	var in struct {
		XMLName xml.Name `xml:"Delete"`
		Quiet   bool     `xml:"Quiet"`
		Objects []struct {
			Key string `xml:"Key"`
		} `xml:"Object"`
	}
	if err := xml.Unmarshal(body, &in); err != nil {
		return errMalformedXML(err.Error())
	}
	if len(in.Objects) == 0 || len(in.Objects) > 1000 {
		return errMalformedXML(fmt.Sprintf("a Delete request names 1 to 1000 objects, got %d", len(in.Objects)))
	}
	for _, o := range in.Objects {
		if aerr := keyError(o.Key); aerr != nil {
			return aerr
		}
	}
	s.mu.Lock()
	b, aerr := s.bucketFor(req, req.bucket)
	if aerr != nil {
		s.mu.Unlock()
		return aerr
	}
	for _, o := range in.Objects {
		b.remove(o.Key)
	}
	s.mu.Unlock()

	type deleted struct {
		Key string `xml:"Key"`
	}
	out := struct {
		XMLName      xml.Name  `xml:"DeleteResult"`
		EncodingType string    `xml:"EncodingType,omitempty"`
		Deleted      []deleted `xml:"Deleted"`
	}{EncodingType: encoding}
	if !in.Quiet {
		for _, o := range in.Objects {
			k := o.Key
			if encoding == "url" {
				k = escapeURL(k)
			}
			out.Deleted = append(out.Deleted, deleted{Key: k})
		}
	}
	s.writeXML(req, http.StatusOK, out)
	return nil
}
