package ecs

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

const v3Algorithm = "ACS3-HMAC-SHA256"

// percentEncode is the RFC 3986 encoding both signature versions use: url.QueryEscape
// with "+"→"%20", "*"→"%2A" and "%7E"→"~".
func percentEncode(s string) string {
	s = url.QueryEscape(s)
	s = strings.ReplaceAll(s, "+", "%20")
	s = strings.ReplaceAll(s, "*", "%2A")
	return strings.ReplaceAll(s, "%7E", "~")
}

// canonicalQuery sorts params by key and joins percent-encoded k=v pairs with "&"; empty
// values stay ("SignatureType=" is signed by the v1 SDK). skip names a key left out.
func canonicalQuery(params url.Values, skip string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != skip {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		vs := params[k]
		if len(vs) == 0 {
			vs = []string{""}
		}
		for _, v := range vs {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(percentEncode(k))
			b.WriteByte('=')
			b.WriteString(percentEncode(v))
		}
	}
	return b.String()
}

// stringToSignV1 is the RPC v1 string to sign: METHOD&%2F&percentEncode(canonical query).
func stringToSignV1(method string, params url.Values) string {
	return method + "&%2F&" + percentEncode(canonicalQuery(params, "Signature"))
}

// signV1 returns base64(HMAC-SHA1(secret+"&", stringToSign)).
func signV1(secret, stringToSign string) string {
	m := hmac.New(sha1.New, []byte(secret+"&"))
	m.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// lookup maps the credential store's answer to the gateway's errors.
func (s *Service) lookup(ak, token string) (core.Credential, *apiError) {
	cr, err := s.env.Creds.Lookup(ak, token)
	switch {
	case err == nil:
		return cr, nil
	case errors.Is(err, core.ErrUnknownAccessKey):
		return cr, errf(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
	case errors.Is(err, core.ErrTokenExpired):
		return cr, errf(400, "InvalidSecurityToken.Expired", "Specified SecurityToken is expired.")
	case errors.Is(err, core.ErrTokenMismatch) && token == "":
		return cr, errf(400, "MissingSecurityToken", "SecurityToken is mandatory for this access key.")
	default:
		return cr, errf(400, "InvalidSecurityToken.MismatchWithAccessKey", "Specified SecurityToken mismatch with the AccessKey.")
	}
}

func (s *Service) verifyV1(method string, params url.Values, q *request) *apiError {
	sig, ak := params.Get("Signature"), params.Get("AccessKeyId")
	if sig == "" || ak == "" {
		return errf(400, "IncompleteSignature", "The request signature does not conform to Aliyun standards: Signature and AccessKeyId are required.")
	}
	if m := params.Get("SignatureMethod"); m != "HMAC-SHA1" {
		return errf(400, "InvalidSignatureMethod", "Specified signature method %q is not supported, use HMAC-SHA1.", m)
	}
	cr, aerr := s.lookup(ak, params.Get("SecurityToken"))
	if aerr != nil {
		return aerr
	}
	if cr.AccountID != "" {
		q.account = cr.AccountID
	}
	q.cred = cr
	if aerr := s.checkReplay(ak, params.Get("Timestamp"), params.Get("SignatureNonce")); aerr != nil {
		return aerr
	}
	sts := stringToSignV1(method, params)
	if !hmac.Equal([]byte(signV1(cr.AccessKeySecret, sts)), []byte(sig)) {
		// The SDK compares the text after "server string to sign is:" with its own.
		return errf(400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation. server string to sign is:%s", sts)
	}
	return s.useNonce(ak, params.Get("SignatureNonce"))
}

// v3Auth is the parsed Authorization header:
// "ACS3-HMAC-SHA256 Credential=<ak>,SignedHeaders=<h1;h2>,Signature=<hex>".
type v3Auth struct {
	credential, signature string
	signedHeaders         []string
}

func parseV3Auth(h string) (v3Auth, bool) {
	rest, ok := strings.CutPrefix(h, v3Algorithm+" ")
	if !ok {
		return v3Auth{}, false
	}
	var a v3Auth
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return v3Auth{}, false
		}
		switch k {
		case "Credential":
			a.credential = v
		case "SignedHeaders":
			a.signedHeaders = strings.Split(v, ";")
		case "Signature":
			a.signature = v
		}
	}
	return a, a.credential != "" && a.signature != "" && len(a.signedHeaders) > 0
}

// canonicalRequestV3 builds the ACS3 canonical request:
// METHOD\nURI\nCanonicalQuery\nCanonicalHeaders\nSignedHeaders\nHexSHA256(body), where
// CanonicalHeaders is "name:trimmed value\n" per signed header (lower-case, sorted).
// headerValue returns a header's value, with "host" answered from the request line.
func canonicalRequestV3(method, uri string, query url.Values, signed []string, headerValue func(string) string, payloadHash string) string {
	names := make([]string, len(signed))
	for i, n := range signed {
		names[i] = strings.ToLower(strings.TrimSpace(n))
	}
	slices.Sort(names)
	var hb strings.Builder
	for _, n := range names {
		hb.WriteString(n)
		hb.WriteByte(':')
		hb.WriteString(strings.TrimSpace(headerValue(n)))
		hb.WriteByte('\n')
	}
	if uri == "" {
		uri = "/"
	}
	return strings.Join([]string{method, uri, canonicalQuery(query, ""), hb.String(), strings.Join(names, ";"), payloadHash}, "\n")
}

// stringToSignV3 is "ACS3-HMAC-SHA256\n" + hex(SHA256(canonical request)).
func stringToSignV3(canonicalRequest string) string {
	h := sha256.Sum256([]byte(canonicalRequest))
	return v3Algorithm + "\n" + hex.EncodeToString(h[:])
}

// signV3 returns hex(HMAC-SHA256(secret, stringToSign)) in lower case.
func signV3(secret, stringToSign string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(stringToSign))
	return hex.EncodeToString(m.Sum(nil))
}

// verifyV3 checks an ACS3-HMAC-SHA256 request. Parameters may sit in the query (signed in
// the canonical query) or the form body (signed through the payload hash).
func (s *Service) verifyV3(r *http.Request, query url.Values, body []byte, q *request) *apiError {
	a, ok := parseV3Auth(r.Header.Get("Authorization"))
	if !ok {
		return errf(400, "IncompleteSignature", "The Authorization header is malformed: want %s Credential=...,SignedHeaders=...,Signature=...", v3Algorithm)
	}
	for _, h := range []string{"x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256", "x-acs-action", "x-acs-version"} {
		if r.Header.Get(h) == "" {
			return errf(400, "MissingParameter", "The required header %q is not supplied.", h)
		}
	}
	signed := map[string]bool{}
	for _, h := range a.signedHeaders {
		signed[strings.ToLower(h)] = true
	}
	// Every x-acs-* header sent must be signed, or a proxy could change the action.
	for name := range r.Header {
		if n := strings.ToLower(name); strings.HasPrefix(n, "x-acs-") && !signed[n] {
			return errf(400, "IncompleteSignature", "The header %q must be listed in SignedHeaders.", n)
		}
	}
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if got := r.Header.Get("x-acs-content-sha256"); !strings.EqualFold(got, payloadHash) {
		return errf(400, "SignatureDoesNotMatch", "The x-acs-content-sha256 header %q does not match the body's SHA-256.", got)
	}
	cr, aerr := s.lookup(a.credential, r.Header.Get("x-acs-security-token"))
	if aerr != nil {
		return aerr
	}
	if cr.AccountID != "" {
		q.account = cr.AccountID
	}
	q.cred = cr
	hv := func(n string) string {
		if n == "host" {
			return r.Host
		}
		return strings.Join(r.Header.Values(n), ",")
	}
	if aerr := s.checkReplay(a.credential, r.Header.Get("x-acs-date"), r.Header.Get("x-acs-signature-nonce")); aerr != nil {
		return aerr
	}
	creq := canonicalRequestV3(r.Method, r.URL.EscapedPath(), query, a.signedHeaders, hv, payloadHash)
	sts := stringToSignV3(creq)
	if !hmac.Equal([]byte(signV3(cr.AccessKeySecret, sts)), []byte(strings.ToLower(a.signature))) {
		return errf(400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation. server string to sign is:%s", sts)
	}
	return s.useNonce(a.credential, r.Header.Get("x-acs-signature-nonce"))
}

// checkReplay refuses a request whose timestamp is more than core.MaxSkew from the wall
// clock (InvalidTimeStamp.Expired) or that carries no nonce. It reads real time: the SDK
// stamps wall time, and the simulated clock is only what the product sees.
func (s *Service) checkReplay(ak, timestamp, nonce string) *apiError {
	if s.env.Nonces == nil {
		return nil
	}
	if nonce == "" {
		return errf(400, "MissingSignatureNonce", "SignatureNonce is mandatory for this action.")
	}
	t, err := time.Parse("2006-01-02T15:04:05Z", timestamp)
	if err != nil {
		return errf(400, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted: %q.", timestamp)
	}
	if s.env.Nonces.Skewed(t) {
		return errf(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired: %s (more than %v from the server time).", timestamp, core.MaxSkew)
	}
	return nil
}

// useNonce records the nonce of a verified request; a nonce seen within the window is a
// replay (SignatureNonceUsed).
func (s *Service) useNonce(ak, nonce string) *apiError {
	if s.env.Nonces != nil && !s.env.Nonces.Use(ak, nonce) {
		return errf(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
	}
	return nil
}
