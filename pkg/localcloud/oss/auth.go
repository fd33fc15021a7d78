package oss

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

// signedSubResources is the SDK's signKeyList (oss/conn.go, v3.0.2): only these query
// parameters enter the v1 CanonicalizedResource. list-type, prefix, max-keys and
// encoding-type are deliberately absent: the SDK does not sign them.
var signedSubResources = map[string]bool{}

func init() {
	for _, k := range []string{"acl", "uploads", "location", "cors",
		"logging", "website", "referer", "lifecycle",
		"delete", "append", "tagging", "objectMeta",
		"uploadId", "partNumber", "security-token",
		"position", "img", "style", "styleName",
		"replication", "replicationProgress",
		"replicationLocation", "cname", "bucketInfo",
		"comp", "qos", "live", "status", "vod",
		"startTime", "endTime", "symlink",
		"x-oss-process", "response-content-type", "x-oss-traffic-limit",
		"response-content-language", "response-expires",
		"response-cache-control", "response-content-disposition",
		"response-content-encoding", "udf", "udfName", "udfImage",
		"udfId", "udfImageDesc", "udfApplication",
		"udfApplicationLog", "restore", "callback", "callback-var", "qosInfo",
		"policy", "stat", "encryption", "versions", "versioning", "versionId", "requestPayment",
		"x-oss-request-payer", "sequential",
		"inventory", "inventoryId", "continuation-token", "asyncFetch",
		"worm", "wormId", "wormExtend", "withHashContext",
		"x-oss-enable-md5", "x-oss-enable-sha1", "x-oss-enable-sha256",
		"x-oss-hash-ctx", "x-oss-md5-ctx", "transferAcceleration",
		"regionList", "cloudboxes", "x-oss-ac-source-ip", "x-oss-ac-subnet-mask", "x-oss-ac-vpc-id", "x-oss-ac-forward-allow",
		"metaQuery", "resourceGroup", "rtc", "x-oss-async-process", "responseHeader",
	} {
		signedSubResources[k] = true
	}
}

// stringToSign rebuilds the v1 StringToSign of r:
//
//	VERB\nContent-MD5\nContent-Type\nDate\n + CanonicalizedOSSHeaders + CanonicalizedResource
//
// CanonicalizedOSSHeaders are the x-oss-* headers (security token included), lower-cased,
// sorted, "name:value\n", first value only (the SDK signs v[0]). The resource is
// "/bucket/key" with the key unescaped, or "/" without a bucket, then "?" and the sorted
// signed sub-resources ("k=v", or a bare "k" when the value is empty).
func stringToSign(r *http.Request, bucket, key string, hasKey bool) string {
	var names []string
	vals := map[string]string{}
	for k, v := range r.Header {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "x-oss-") && len(v) > 0 {
			names = append(names, lk)
			vals[lk] = v[0]
		}
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(r.Method + "\n")
	b.WriteString(r.Header.Get("Content-MD5") + "\n")
	b.WriteString(r.Header.Get("Content-Type") + "\n")
	b.WriteString(r.Header.Get("Date") + "\n")
	for _, n := range names {
		b.WriteString(n + ":" + vals[n] + "\n")
	}
	switch {
	case bucket == "":
		b.WriteString("/")
	default:
		b.WriteString("/" + bucket + "/")
		if hasKey {
			b.WriteString(key)
		}
	}
	var subs []string
	q := r.URL.Query()
	for k := range q {
		if signedSubResources[k] {
			subs = append(subs, k)
		}
	}
	sort.Strings(subs)
	for i, k := range subs {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(k)
		if v := q.Get(k); v != "" {
			b.WriteString("=" + v)
		}
	}
	return b.String()
}

func signV1(secret, sts string) string {
	h := hmac.New(sha1.New, []byte(secret))
	h.Write([]byte(sts))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// authenticate checks "Authorization: OSS ak:signature" and the STS token in
// x-oss-security-token, returning the caller's credential.
func (s *Service) authenticate(req *request) (core.Credential, *apiError) {
	auth := req.r.Header.Get("Authorization")
	if auth == "" {
		return core.Credential{}, &apiError{Status: http.StatusForbidden, Code: "AccessDenied",
			Message: "AccessDenied: anonymous access is not allowed by the local OSS.", EC: "0003-00000001"}
	}
	rest, ok := strings.CutPrefix(auth, "OSS ")
	if !ok {
		return core.Credential{}, errInvalidArgument("Authorization header is invalid: the local OSS accepts only signature v1 (\"OSS AccessKeyId:Signature\").")
	}
	ak, sig, ok := strings.Cut(rest, ":")
	if !ok || ak == "" || sig == "" {
		return core.Credential{}, errInvalidArgument("Authorization header is invalid. Expected OSS AccessKeyId:Signature.")
	}
	// The Date is checked against the wall clock (the SDK stamps wall time; the simulated
	// clock is what the product sees, not what the gateway checks).
	if d, err := http.ParseTime(req.r.Header.Get("Date")); err != nil || (s.env.Nonces != nil && s.env.Nonces.Skewed(d)) {
		return core.Credential{}, &apiError{Status: http.StatusForbidden, Code: "RequestTimeTooSkewed",
			Message: "The difference between the request time and the current time is too large.", EC: "0002-00000080"}
	}
	cred, err := s.env.Creds.Lookup(ak, req.r.Header.Get("x-oss-security-token"))
	switch {
	case errors.Is(err, core.ErrTokenExpired):
		return core.Credential{}, &apiError{Status: http.StatusForbidden, Code: "SecurityTokenExpired",
			Message: "The security token you provided has expired.", EC: "0002-00000042"}
	case errors.Is(err, core.ErrTokenMismatch):
		return core.Credential{}, &apiError{Status: http.StatusForbidden, Code: "InvalidAccessKeyId",
			Message: "The security token you provided is invalid.", EC: "0002-00000902", OSSAccessKeyID: ak}
	case err != nil:
		return core.Credential{}, &apiError{Status: http.StatusForbidden, Code: "InvalidAccessKeyId",
			Message: "The OSS Access Key Id you provided does not exist in our records.", EC: "0002-00000902", OSSAccessKeyID: ak}
	}
	sts := stringToSign(req.r, req.bucket, req.key, req.hasKey)
	want := signV1(cred.AccessKeySecret, sts)
	if !hmac.Equal([]byte(want), []byte(sig)) {
		if s.env.StrictSignatures {
			return core.Credential{}, &apiError{Status: http.StatusForbidden, Code: "SignatureDoesNotMatch",
				Message: "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
				EC:      "0002-00000040", OSSAccessKeyID: ak, SignatureGiven: sig, StringToSign: sts}
		}
		s.env.Log.Warn("oss signature mismatch served (non-strict)", "request_id", req.id, "access_key_id", ak, "string_to_sign", sts)
	}
	return cred, nil
}
