// Package redact keeps credentials out of every string the functions write: error
// messages, log records and the result returned to FC.
//
// Two layers, because each misses what the other catches:
//   - by shape (String, Error): URL query strings (the ECS SDK signs RPC requests into the
//     URL, so a transport error's *url.Error prints AccessKeyId, Signature and
//     SecurityToken), signed-request parameters written as key=value, Authorization header
//     values (LOG/OSS/ACS3 schemes) and the "server string to sign is:" tail of
//     SignatureDoesNotMatch messages;
//   - by value (Secrets): the invocation's current AccessKeyId, secret and token, in their
//     raw and URL-encoded forms, wherever they appear.
package redact

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
)

// Mask replaces what was removed.
const Mask = "[REDACTED]"

var (
	// An http(s) URL with a query string: the query goes, the path stays.
	urlQuery = regexp.MustCompile(`(?i)\b(https?://[^\s"'<>?]*)\?[^\s"'<>]*`)
	// key=value or key: value of a credential parameter or header. The key must be followed
	// by = or :, so error codes such as SignatureDoesNotMatch are left alone.
	param = regexp.MustCompile(`(?i)\b(AccessKeyId|AccessKeySecret|Signature|SecurityToken|Security-Token|` +
		`x-acs-security-token|x-oss-security-token|x-acs-signature-nonce|SignatureNonce|Credential|` +
		`OSSAccessKeyId|x-oss-credential|x-oss-signature)("?\s*[=:]\s*"?)[^\s&"',;<>]+`)
	// Authorization header values: "LOG ak:sig", "OSS ak:sig", "ACS3-HMAC-SHA256 Credential=...".
	authz = regexp.MustCompile(`(?i)\b(LOG|OSS|OSS2|OSS4-HMAC-SHA256|ACS3-HMAC-SHA256)\s+[A-Za-z0-9._+/=-]+:[A-Za-z0-9+/=_-]+`)
	// The ECS gateway echoes the whole string to sign (every parameter, the token among
	// them) after this marker; OSS does the same in <StringToSign>.
	stringToSign = regexp.MustCompile(`(?is)(server string to sign is:|<StringToSign>|StringToSign["']?\s*[:=]).*`)
)

// String returns s without credential-shaped content.
func String(s string) string {
	if s == "" || !mayCarry(s) {
		return s
	}
	return byShape(s)
}

// byShape applies the four patterns.
func byShape(s string) string {
	s = stringToSign.ReplaceAllString(s, "${1}"+Mask)
	s = urlQuery.ReplaceAllString(s, "${1}")
	s = authz.ReplaceAllString(s, "${1} "+Mask)
	s = param.ReplaceAllString(s, "${1}${2}"+Mask)
	return s
}

// mayCarry is a cheap test that s cannot match any of the patterns, so the records of an
// invocation (image ids, regions, counts) skip the four regular expressions. Each pattern
// needs a marker (case-insensitive): stringToSign "sign"; urlQuery "http" and '?';
// authz ':' and "log", "oss" or "acs3"; param '=' or ':' and "accesskey", "sign",
// "token" or "credential". Non-ASCII text takes the full path: (?i) also folds the
// Kelvin sign to k and the long s to s.
func mayCarry(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	if containsFold(s, "sign") {
		return true
	}
	if strings.IndexByte(s, '?') >= 0 && containsFold(s, "http") {
		return true
	}
	if !strings.ContainsAny(s, ":=") {
		return false
	}
	for _, marker := range [...]string{"log", "oss", "acs3", "accesskey", "token", "credential"} {
		if containsFold(s, marker) {
			return true
		}
	}
	return false
}

// containsFold reports whether ASCII s contains lower (lower case), ignoring case.
func containsFold(s, lower string) bool {
	n := len(lower)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for ; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != lower[j] {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}

// StripQuery returns rawURL without its query string and fragment (and without user info).
func StripQuery(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		if i := strings.IndexAny(rawURL, "?#"); i >= 0 {
			return rawURL[:i]
		}
		return rawURL
	}
	u.RawQuery, u.Fragment, u.RawFragment, u.User, u.ForceQuery = "", "", "", nil, false
	return u.String()
}

// Error returns err with a message free of credential-shaped content, keeping the chain
// for errors.Is and errors.As (classification by type and code still works). A
// *url.Error is rebuilt with its URL stripped of the query, so even code that finds it
// with errors.As and prints it prints no signature. nil stays nil.
func Error(err error) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	if errors.As(err, &ue) && err == error(ue) {
		return &url.Error{Op: ue.Op, URL: StripQuery(ue.URL), Err: Error(ue.Err)}
	}
	msg := err.Error()
	clean := String(msg)
	if clean == msg && !errors.As(err, &ue) {
		return err
	}
	if errors.As(err, &ue) {
		// A url.Error deeper in the chain: keep it reachable, but stripped.
		return &redacted{msg: clean, err: &url.Error{Op: ue.Op, URL: StripQuery(ue.URL), Err: Error(ue.Err)}, orig: err}
	}
	return &redacted{msg: clean, err: err}
}

// redacted is an error whose message was cleaned; Unwrap gives the original chain so
// errors.Is(err, context.Canceled) and the providers' error types still match.
type redacted struct {
	msg  string
	err  error
	orig error // when err replaced a url.Error found deeper in orig
}

func (e *redacted) Error() string { return e.msg }

func (e *redacted) Unwrap() []error {
	if e.orig != nil {
		// The stripped url.Error first, so errors.As finds it before the original's.
		return []error{e.err, withoutURL{e.orig}}
	}
	return []error{e.err}
}

// withoutURL hides the *url.Error of a chain from errors.As (its stripped copy is found
// first) while keeping the rest, e.g. a provider's error type wrapping it.
type withoutURL struct{ err error }

func (w withoutURL) Error() string { return String(w.err.Error()) }
func (w withoutURL) Is(target error) bool {
	return errors.Is(w.err, target)
}
func (w withoutURL) As(target any) bool {
	if _, ok := target.(**url.Error); ok {
		return false
	}
	return errors.As(w.err, target)
}

// Secrets replaces known credential values wherever they appear. The zero value (or
// nil) replaces nothing. Values shorter than 6 characters are ignored: they cannot be
// credentials and would mangle ordinary text.
type Secrets struct {
	r *strings.Replacer
}

// NewSecrets returns a replacer of vals and their URL-encoded forms.
func NewSecrets(vals ...string) *Secrets {
	seen := map[string]bool{}
	var pairs []string
	for _, v := range vals {
		if len(v) < 6 {
			continue
		}
		for _, form := range []string{v, url.QueryEscape(v), url.PathEscape(v),
			strings.ReplaceAll(url.QueryEscape(v), "+", "%20")} {
			if !seen[form] {
				seen[form] = true
				pairs = append(pairs, form, Mask)
			}
		}
	}
	if len(pairs) == 0 {
		return &Secrets{}
	}
	return &Secrets{r: strings.NewReplacer(pairs...)}
}

// String returns s with every known value replaced.
func (s *Secrets) String(v string) string {
	if s == nil || s.r == nil || v == "" {
		return v
	}
	return s.r.Replace(v)
}

// Scrub applies both layers: shape, then value.
func (s *Secrets) Scrub(v string) string { return s.String(String(v)) }

// Error returns err with its message scrubbed by shape and value, keeping the chain.
func (s *Secrets) Error(err error) error {
	if err == nil {
		return nil
	}
	err = Error(err)
	msg := err.Error()
	if clean := s.String(msg); clean != msg {
		return &redacted{msg: clean, err: err}
	}
	return err
}

// JSON scrubs a JSON document by value and shape. Credential values contain no quote or
// backslash, so the result stays valid JSON.
func (s *Secrets) JSON(b []byte) []byte {
	return []byte(s.Scrub(string(b)))
}
