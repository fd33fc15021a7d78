package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// Defaults applied by Parse to fields left empty.
const (
	DefaultTimezone     = "UTC"
	DefaultSlotInterval = "24h"
	DefaultTemplate     = "dr-{instanceId}-{slot}"
	DefaultConcurrency  = 4
)

// Parse reads a policy document in YAML or JSON (JSON is parsed as YAML, which it is a
// subset of, so both get the same strict decoding), applies the defaults and validates it.
// Unknown fields are refused with their path, as a *ValidationError, so that a typo such
// as "keeplast" is not silently a policy that keeps nothing.
func Parse(data []byte) (*Policy, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("parse policy: document is empty")
	}
	// YAML accepts JSON with flaws (trailing commas, comments); a document that looks like
	// JSON gets JSON's verdict and its byte offset instead.
	if trimmed := bytes.TrimSpace(data); trimmed[0] == '{' && !json.Valid(trimmed) {
		var v any
		err := json.Unmarshal(trimmed, &v)
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("parse policy: invalid JSON at byte %d: %w", se.Offset, err)
		}
		return nil, fmt.Errorf("parse policy: invalid JSON: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse policy: %w", err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("parse policy: document must be a mapping of fields, got %s", kindName(root))
	}
	var problems []Problem
	checkUnknown(root, reflect.TypeFor[Policy](), "", &problems)
	if len(problems) > 0 {
		return nil, &ValidationError{Problems: problems}
	}
	p := &Policy{}
	if err := root.Decode(p); err != nil {
		return nil, fmt.Errorf("parse policy: %w", err)
	}
	p.ApplyDefaults()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// ApplyDefaults fills the fields left empty with their defaults (see the Default*
// constants). Parse calls it; call it yourself for a Policy built in code.
func (p *Policy) ApplyDefaults() {
	if p.Timezone == "" {
		p.Timezone = DefaultTimezone
	}
	if p.SlotInterval == "" {
		p.SlotInterval = DefaultSlotInterval
	}
	if p.Naming.Template == "" {
		p.Naming.Template = DefaultTemplate
	}
	if p.Concurrency == 0 {
		p.Concurrency = DefaultConcurrency
	}
}

// Load resolves a DR_POLICY-style value into a validated policy. The value is one of:
//   - "oss://bucket/key": the object, read with fetch (which gets the whole URL);
//   - inline YAML or JSON: a value starting with '{' or holding a newline;
//   - a path to a file holding YAML or JSON.
//
// A single-line value that is not an existing file but holds a ':' is parsed inline, so
// that a mistyped path and a one-line document both get a meaningful error.
func Load(ctx context.Context, value string, fetch func(ctx context.Context, url string) ([]byte, error)) (*Policy, error) {
	v := strings.TrimSpace(value)
	switch {
	case v == "":
		return nil, errors.New("load policy: value is empty")
	case strings.HasPrefix(v, "oss://"):
		bucket, key, ok := strings.Cut(strings.TrimPrefix(v, "oss://"), "/")
		if !ok || bucket == "" || key == "" || strings.HasSuffix(key, "/") {
			return nil, fmt.Errorf("load policy: %q is not an oss://bucket/key url", v)
		}
		if fetch == nil {
			return nil, fmt.Errorf("load policy from %s: no oss fetcher configured", v)
		}
		data, err := fetch(ctx, v)
		if err != nil {
			return nil, fmt.Errorf("load policy from %s: %w", v, err)
		}
		p, err := Parse(data)
		if err != nil {
			return nil, fmt.Errorf("load policy from %s: %w", v, err)
		}
		return p, nil
	case strings.HasPrefix(v, "{") || strings.Contains(v, "\n"):
		return Parse([]byte(value))
	}
	data, err := os.ReadFile(v)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && strings.Contains(v, ":") {
			return Parse([]byte(value))
		}
		return nil, fmt.Errorf("load policy: %w", err)
	}
	p, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("load policy from %s: %w", v, err)
	}
	return p, nil
}

// checkUnknown walks the YAML tree alongside the Go type and records every mapping key
// that has no field, with its path and line. yaml.v3's KnownFields reports only the first
// one, with a line but no path.
func checkUnknown(n *yaml.Node, t reflect.Type, path string, problems *[]Problem) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return // the decoder reports the type mismatch
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			sub := joinPath(path, k.Value)
			f, ok := fields[k.Value]
			if !ok {
				*problems = append(*problems, Problem{Field: sub, Reason: fmt.Sprintf("unknown field (line %d)", k.Line)})
				continue
			}
			checkUnknown(val, f.Type, sub, problems)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, c := range n.Content {
			checkUnknown(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), problems)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			checkUnknown(n.Content[i+1], t.Elem(), joinPath(path, n.Content[i].Value), problems)
		}
	}
}

func yamlFields(t reflect.Type) map[string]reflect.StructField {
	m := make(map[string]reflect.StructField, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = f
	}
	return m
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("the scalar %q", n.Value)
	case yaml.DocumentNode:
		return "an empty document"
	}
	return "another kind of node"
}
