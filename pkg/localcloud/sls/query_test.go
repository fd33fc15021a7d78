package sls

import (
	"strings"
	"testing"
	"time"
)

func TestQueryMatch(t *testing.T) {
	t.Parallel()
	rec := &Record{
		Time:     time.Unix(1700000000, 0),
		Topic:    "dr",
		Source:   "10.0.0.1",
		Tags:     map[string]string{"host": "fc-1"},
		Contents: map[string]string{"result": "not", "path": "a/b/c", "level": "ERROR", "n": "42"},
	}
	tests := []struct {
		query string
		want  bool
	}{
		{"__tag__:host: fc-1", true},
		{"__tag__:host: fc-2", false},
		{"__time__: 1700000000", true},
		{"__source__: 10.0.0.1", true},
		{"result: not", true}, // a keyword in value position is a value
		{"path: b", true},     // '/' separates tokens
		{"path: a/b*", true},  // the whole value has the prefix
		{"level: error", true},
		{"n > 41.5 and n < 42.5", true},
		{"n = 42", true},
		{"n > 42", false},
		{"level > 1", false}, // not a number: no match, no error
		{"missing: *", false},
		{"not not level: error", true},
		{"((level: error))", true},
	}
	for _, tt := range tests {
		m, err := parseQuery(tt.query)
		if err != nil {
			t.Fatalf("%q: %v", tt.query, err)
		}
		if got := m.match(&evalCtx{rec: rec}); got != tt.want {
			t.Errorf("%q = %v, want %v", tt.query, got, tt.want)
		}
	}
}

func TestProjectFromHost(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]string{
		"proj.sls.local":                    "proj",
		"proj.127.0.0.1:8080":               "proj",
		"proj.cn-hangzhou.log.aliyuncs.com": "proj",
		"127.0.0.1:8080":                    "",
		"[::1]:80":                          "",
		"localhost":                         "",
	} {
		if got := projectFromHost(host); got != want {
			t.Errorf("projectFromHost(%q) = %q, want %q", host, got, want)
		}
	}
}

func TestQueryNestingLimit(t *testing.T) {
	t.Parallel()
	nest := func(n int) string { return strings.Repeat("(", n) + "level: error" + strings.Repeat(")", n) }
	rec := &Record{Contents: map[string]string{"level": "ERROR"}}
	tests := []struct {
		name      string
		query     string
		wantErr   bool
		wantMatch bool
	}{
		{"parentheses within the limit", nest(maxQueryDepth - 1), false, true},
		{"not chain within the limit", strings.Repeat("not ", maxQueryDepth-2) + "level: error", false, true},
		{"parentheses over the limit", nest(maxQueryDepth), true, false},
		{"not chain over the limit", strings.Repeat("not ", maxQueryDepth) + "level: error", true, false},
	}
	for _, tt := range tests {
		m, err := parseQuery(tt.query)
		if tt.wantErr {
			if err == nil || !strings.Contains(err.Error(), "nested deeper than") {
				t.Errorf("%s: err = %v, want a nesting error", tt.name, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := m.match(&evalCtx{rec: rec}); got != tt.wantMatch {
			t.Errorf("%s: match = %v, want %v", tt.name, got, tt.wantMatch)
		}
	}
}
