package redact

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"syscall"
	"testing"
)

func TestString(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{`Post "http://127.0.0.1:8080/?AccessKeyId=STS.abc&Signature=x%2By&SecurityToken=CAIS1": EOF`, `Post "http://127.0.0.1:8080/": EOF`},
		{"SignatureDoesNotMatch: Specified signature is not matched. server string to sign is:POST&%2F&AccessKeyId%3DSTS.x", "SignatureDoesNotMatch: Specified signature is not matched. server string to sign is:" + Mask},
		{"Authorization: LOG STS.abcdef:c2lnbmF0dXJl", "Authorization: LOG " + Mask},
		{"header x-acs-security-token: CAISabc123", "header x-acs-security-token: " + Mask},
		{"ACS3-HMAC-SHA256 Credential=STS.abc,SignedHeaders=host,Signature=abcdef", "ACS3-HMAC-SHA256 Credential=" + Mask + ",SignedHeaders=host,Signature=" + Mask},
		// Codes and ordinary text stay.
		{"ecs: DeleteImage m-1: SignatureDoesNotMatch (http 400)", "ecs: DeleteImage m-1: SignatureDoesNotMatch (http 400)"},
		{"no credentials: give the function a RAM role", "no credentials: give the function a RAM role"},
	}
	for _, tt := range tests {
		if got := String(tt.in); got != tt.want {
			t.Errorf("String(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

func TestErrorKeepsTheChain(t *testing.T) {
	t.Parallel()
	raw := &url.Error{Op: "Post", URL: "http://h/?AccessKeyId=AK&Signature=S", Err: syscall.ECONNRESET}
	for _, err := range []error{raw, fmt.Errorf("ecs: call: %w", raw)} {
		got := Error(err)
		if strings.Contains(got.Error(), "AccessKeyId=AK") || strings.Contains(got.Error(), "Signature=S") {
			t.Errorf("%q still carries the query", got)
		}
		var ue *url.Error
		if !errors.As(got, &ue) || strings.Contains(ue.URL, "?") {
			t.Errorf("errors.As finds %v, want the url.Error without its query", ue)
		}
		if !errors.Is(got, syscall.ECONNRESET) {
			t.Errorf("%v lost its cause", got)
		}
	}
	wrapped := fmt.Errorf("x: %w", context.Canceled)
	if got := Error(wrapped); got != wrapped || !errors.Is(got, context.Canceled) {
		t.Errorf("a clean error must pass through unchanged: %v", got)
	}
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	s := NewSecrets("STS.key123", "se+cret/val=", "", "abc")
	in := "key STS.key123 secret se+cret/val= escaped " + url.QueryEscape("se+cret/val=") + " short abc"
	got := s.Scrub(in)
	if strings.Contains(got, "STS.key123") || strings.Contains(got, "se+cret") || strings.Contains(got, "se%2Bcret") {
		t.Errorf("Scrub left a secret: %q", got)
	}
	if !strings.Contains(got, "short abc") {
		t.Errorf("values under 6 characters must stay: %q", got)
	}
	var none *Secrets
	if none.String("x") != "x" {
		t.Error("a nil Secrets must change nothing")
	}
	if err := s.Error(errors.New("failed with STS.key123")); strings.Contains(err.Error(), "STS.key123") {
		t.Errorf("Error left the key: %v", err)
	}
}

// The quick test in front of the patterns never lets through a string they would change:
// random strings built from the fragments of credentials, URLs, headers and ordinary
// records give the same result with and without it, and the corpus holds strings the
// patterns do change (so a quick test that skipped them would fail here).
func TestQuickTestNeverSkipsAMatch(t *testing.T) {
	t.Parallel()
	frags := []string{
		"AccessKeyId", "accesskeysecret", "OSSAccessKeyId", "Signature", "SIGNATURE", "SignatureNonce", "x-acs-signature-nonce",
		"SecurityToken", "Security-Token", "x-oss-security-token", "Credential", "x-oss-credential", "x-oss-signature",
		"LOG", "OSS", "oss2", "OSS4-HMAC-SHA256", "ACS3-HMAC-SHA256", "server string to sign is:", "<StringToSign>", "StringToSign",
		"http://127.0.0.1:8080/", "HTTPS://h/x", "?", "&", "=", ":", " ", "\"", "'", "STS.abc", "c2lnbmF0dXJl", "m-123",
		"cn-hangzhou", "catalog", "copy", "2026-11-24T02:00:00Z", "\u212aey", "ſign", "é",
	}
	seed := uint64(1)
	next := func(n int) int {
		seed = seed*6364136223846793005 + 1442695040888963407
		return int(seed>>33) % n
	}
	changed := 0
	for range 50_000 {
		var b strings.Builder
		for k := 1 + next(6); k > 0; k-- {
			b.WriteString(frags[next(len(frags))])
		}
		s := b.String()
		want := byShape(s)
		if got := String(s); got != want {
			t.Fatalf("String(%q) = %q, the patterns give %q", s, got, want)
		}
		if want != s {
			changed++
		}
	}
	if changed < 1000 {
		t.Fatalf("only %d of the strings carried a credential shape: the corpus does not exercise the patterns", changed)
	}
}
