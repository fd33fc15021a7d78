package sls

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

// stringToSign rebuilds the AuthV1 string to sign of aliyun-log-go-sdk signature.go:
//
//	VERB \n CONTENT-MD5 \n CONTENT-TYPE \n DATE \n CanonicalizedHeaders \n CanonicalizedResource
//
// CanonicalizedHeaders are every x-log-* and x-acs-* header, lower-cased, trimmed, sorted,
// "name:value" joined by "\n". CanonicalizedResource is the escaped path, then "?" and the
// sorted query with decoded values. Quirk kept on purpose: the SDK writes every value of a
// repeated key as "k=v" with no separator between them.
func stringToSign(r *http.Request) string {
	var keys []string
	vals := map[string]string{}
	for k, v := range r.Header {
		l := strings.TrimSpace(strings.ToLower(k))
		if strings.HasPrefix(l, "x-log-") || strings.HasPrefix(l, "x-acs-") {
			keys = append(keys, l)
			if len(v) > 0 {
				vals[l] = strings.TrimSpace(v[0])
			}
		}
	}
	slices.Sort(keys)
	var hb strings.Builder
	for i, k := range keys {
		if i > 0 {
			hb.WriteByte('\n')
		}
		hb.WriteString(k + ":" + vals[k])
	}
	res := r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		q, _ := url.ParseQuery(r.URL.RawQuery)
		qk := make([]string, 0, len(q))
		for k := range q {
			qk = append(qk, k)
		}
		slices.Sort(qk)
		var rb strings.Builder
		for i, k := range qk {
			if i > 0 {
				rb.WriteByte('&')
			}
			for _, v := range q[k] {
				rb.WriteString(k + "=" + v)
			}
		}
		res += "?" + rb.String()
	}
	return r.Method + "\n" +
		r.Header.Get("Content-MD5") + "\n" +
		r.Header.Get("Content-Type") + "\n" +
		r.Header.Get("Date") + "\n" +
		hb.String() + "\n" +
		res
}

// sign is base64(HMAC-SHA1(secret, stringToSign)); unlike the RPC signature, the key has
// no trailing "&".
func sign(secret, sts string) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(sts))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// authenticate checks an AuthV1 request: header shape, credential (with the STS token from
// x-acs-security-token), Content-MD5 against the body, and the signature. With
// env.StrictSignatures false, a signature mismatch is logged and the request served.
// The Date header is compared with the wall clock, never the simulated one (the SDK
// stamps wall time; the simulated clock is what the product sees): more than
// core.MaxSkew away is RequestTimeExpired.
func (s *Service) authenticate(r *http.Request, body []byte) (core.Credential, *apiError) {
	auth := r.Header.Get("Authorization")
	if strings.HasPrefix(auth, "SLS4-HMAC-SHA256") {
		return core.Credential{}, errf(401, "Unauthorized", "AuthV4 signatures are not supported by the local SLS; use AuthV1 (the SDK default)")
	}
	ak, sig, ok := strings.Cut(strings.TrimPrefix(auth, "LOG "), ":")
	if !strings.HasPrefix(auth, "LOG ") || !ok || ak == "" || sig == "" {
		return core.Credential{}, errf(401, "Unauthorized", "missing or malformed Authorization header; want \"LOG <AccessKeyId>:<signature>\"")
	}
	if r.Header.Get("Date") == "" {
		return core.Credential{}, errf(400, "MissingDate", "the Date header is required")
	}
	if d, err := http.ParseTime(r.Header.Get("Date")); err != nil {
		return core.Credential{}, errf(400, "InvalidDate", "the Date header %q is not an HTTP date", r.Header.Get("Date"))
	} else if s.env.Nonces != nil && s.env.Nonces.Skewed(d) {
		return core.Credential{}, errf(400, "RequestTimeExpired", "Request time %s has been expired while server time is %s", r.Header.Get("Date"), s.env.Nonces.Now().UTC().Format(http.TimeFormat))
	}
	if r.Header.Get("x-log-apiversion") == "" {
		return core.Credential{}, errf(400, "MissingAPIVersion", "the x-log-apiversion header is required")
	}
	switch m := r.Header.Get("x-log-signaturemethod"); m {
	case "hmac-sha1":
	case "":
		return core.Credential{}, errf(400, "MissingSignatureMethod", "the x-log-signaturemethod header is required")
	default:
		return core.Credential{}, errf(400, "InvalidSignatureMethod", "signature method %q is not supported; want hmac-sha1", m)
	}
	token := r.Header.Get("x-acs-security-token")
	cred, err := s.env.Creds.Lookup(ak, token)
	switch {
	case errors.Is(err, core.ErrUnknownAccessKey):
		return cred, errf(401, "Unauthorized", "AccessKeyId not found: %s", ak)
	case errors.Is(err, core.ErrTokenExpired):
		return cred, errf(401, "Unauthorized", "The security token you provided has expired.")
	case errors.Is(err, core.ErrTokenMismatch):
		return cred, errf(401, "Unauthorized", "The security token you provided is invalid.")
	case err != nil:
		return cred, errf(401, "Unauthorized", "credential lookup: %v", err)
	}
	if md := r.Header.Get("Content-MD5"); md != "" && len(body) > 0 {
		if got := fmt.Sprintf("%X", md5.Sum(body)); !strings.EqualFold(got, md) {
			return cred, errf(400, "InvalidContentMD5", "Content-MD5 %s does not match the body (%s)", md, got)
		}
	}
	sts := stringToSign(r)
	want := sign(cred.AccessKeySecret, sts)
	if !hmac.Equal([]byte(want), []byte(sig)) {
		if s.env.StrictSignatures {
			return cred, errf(401, "SignatureNotMatch", "signature %s not match; the server string to sign is %q", sig, sts)
		}
		s.env.Log.Warn("sls: signature mismatch ignored (permissive mode)", "access_key_id", ak, "path", r.URL.Path)
	}
	return cred, nil
}
