package oss

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"strconv"
)

// apiError is an OSS error response. The SDK decodes it into oss.ServiceError
// {StatusCode, Code, Message, RequestID, HostID, Ec}.
type apiError struct {
	Status  int
	Code    string
	Message string
	// EC is OSS's fine-grained error code (x-oss-ec and <EC>). Only NoSuchKey's value is
	// known to match the real service; the others are stable placeholders.
	EC string
	// Optional elements real OSS adds for some codes.
	BucketName     string
	Key            string
	Header         string
	StringToSign   string
	SignatureGiven string
	OSSAccessKeyID string
	extraHeaders   map[string]string
	statusOnly     bool // 304: no body, no x-oss-err
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

type errorXML struct {
	XMLName           xml.Name `xml:"Error"`
	Code              string   `xml:"Code"`
	Message           string   `xml:"Message"`
	RequestID         string   `xml:"RequestId"`
	HostID            string   `xml:"HostId"`
	BucketName        string   `xml:"BucketName,omitempty"`
	Key               string   `xml:"Key,omitempty"`
	Header            string   `xml:"Header,omitempty"`
	OSSAccessKeyID    string   `xml:"OSSAccessKeyId,omitempty"`
	SignatureProvided string   `xml:"SignatureProvided,omitempty"`
	StringToSign      string   `xml:"StringToSign,omitempty"`
	EC                string   `xml:"EC"`
}

// fail writes e in OSS's format. HEAD responses carry no body, so the XML travels
// base64-encoded in x-oss-err, which the SDK decodes (with x-oss-ec as the fallback).
func (s *Service) fail(req *request, e *apiError) {
	h := req.w.Header()
	for k, v := range e.extraHeaders {
		h.Set(k, v)
	}
	if e.statusOnly {
		req.w.WriteHeader(e.Status)
		return
	}
	host := req.r.Host
	if req.bucket != "" {
		host = req.bucket + "." + host
	}
	doc := errorXML{Code: e.Code, Message: e.Message, RequestID: req.id, HostID: host,
		BucketName: e.BucketName, Key: e.Key, Header: e.Header, OSSAccessKeyID: e.OSSAccessKeyID,
		SignatureProvided: e.SignatureGiven, StringToSign: e.StringToSign, EC: e.EC}
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	_ = enc.Encode(doc) // a struct of strings always encodes
	buf.WriteByte('\n')
	if e.EC != "" {
		h.Set("x-oss-ec", e.EC)
	}
	s.env.Log.Debug("oss error", "request_id", req.id, "method", req.r.Method, "path", req.r.URL.Path,
		"status", e.Status, "code", e.Code, "message", e.Message)
	if req.r.Method == http.MethodHead {
		h.Set("x-oss-err", base64.StdEncoding.EncodeToString(buf.Bytes()))
		req.w.WriteHeader(e.Status)
		return
	}
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	req.w.WriteHeader(e.Status)
	_, _ = req.w.Write(buf.Bytes())
}

func errNoSuchBucket(name string) *apiError {
	return &apiError{Status: http.StatusNotFound, Code: "NoSuchBucket",
		Message: "The specified bucket does not exist.", EC: "0015-00000101", BucketName: name}
}

func errNoSuchKey(key string) *apiError {
	return &apiError{Status: http.StatusNotFound, Code: "NoSuchKey",
		Message: "The specified key does not exist.", EC: "0026-00000001", Key: key}
}

func errInvalidBucketName(name string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "InvalidBucketName",
		Message: "The specified bucket is not valid.", EC: "0015-00000001", BucketName: name}
}

func errInvalidArgument(msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "InvalidArgument", Message: msg, EC: "0017-00000001"}
}

func errPrecondition(header string) *apiError {
	return &apiError{Status: http.StatusPreconditionFailed, Code: "PreconditionFailed",
		Message: "At least one of the pre-conditions you specified did not hold.", EC: "0026-00000002", Header: header}
}

func errMalformedXML(msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "MalformedXML",
		Message: "The XML you provided was not well-formed or did not validate against our published schema: " + msg, EC: "0016-00000401"}
}
