package eventbridge

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Pattern is a compiled EventBridge event pattern (the rule's eventRuleFilterPattern).
//
// Semantics, as EventBridge documents them (and as AWS EventBridge, its model, behaves):
//   - the pattern is a JSON object; every key must match (AND), an empty top-level object
//     matches every event;
//   - a key whose value is an object descends into the event's object of that name;
//   - a key whose value is an array lists alternatives (OR): exact values (string, number,
//     bool, null) or one-key operator objects: {"prefix":s}, {"suffix":s},
//     {"anything-but": v | [v..] | {"prefix":s} | {"suffix":s}}, {"exists":bool},
//     {"numeric":[op,n,...]} (op one of = < <= > >=, all pairs must hold), {"cidr":"10.0.0.0/8"};
//   - when the event's value is an array, the key matches if any element matches;
//   - a missing field matches only {"exists":false}.
type Pattern struct {
	src  string
	root *objMatcher
}

// String returns the pattern's source JSON.
func (p *Pattern) String() string { return p.src }

// CompilePattern parses and checks a pattern. Errors name the JSON path of the bad part,
// e.g. `data.currentState[0]: unknown operator "prefixx"`.
func CompilePattern(js string) (*Pattern, error) {
	if strings.TrimSpace(js) == "" {
		return nil, errors.New("pattern is empty")
	}
	var doc any
	if err := json.Unmarshal([]byte(js), &doc); err != nil {
		return nil, fmt.Errorf("pattern is not valid JSON: %w", err)
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("pattern must be a JSON object, got %s", jsonKind(doc))
	}
	root, err := compileObject("", obj, true)
	if err != nil {
		return nil, err
	}
	return &Pattern{src: js, root: root}, nil
}

// Match reports whether event (a CloudEvent as JSON) matches. Malformed JSON never matches.
func (p *Pattern) Match(event []byte) bool {
	var doc any
	if err := json.Unmarshal(event, &doc); err != nil {
		return false
	}
	return p.matchDoc(doc)
}

// matchDoc matches an already decoded event, so the bridge decodes each event once for
// every rule.
func (p *Pattern) matchDoc(doc any) bool {
	obj, _ := doc.(map[string]any)
	return p.root.match(obj)
}

type objMatcher struct {
	fields []fieldMatcher
}

type fieldMatcher struct {
	key    string
	nested *objMatcher // set when the pattern value is an object
	alts   []matcher   // set when it is an array
}

func (o *objMatcher) match(obj map[string]any) bool {
	for _, f := range o.fields {
		v, present := obj[f.key]
		if f.nested != nil {
			child, _ := v.(map[string]any)
			if !f.nested.match(child) {
				return false
			}
			continue
		}
		if !matchLeaf(f.alts, v, present) {
			return false
		}
	}
	return true
}

func matchLeaf(alts []matcher, v any, present bool) bool {
	for _, m := range alts {
		if e, ok := m.(existsMatcher); ok {
			if present == bool(e) {
				return true
			}
			continue
		}
		if !present {
			continue
		}
		if arr, ok := v.([]any); ok {
			if slices.ContainsFunc(arr, m.match) {
				return true
			}
			continue
		}
		if m.match(v) {
			return true
		}
	}
	return false
}

// matcher tests one present (non-array) event value.
type matcher interface{ match(v any) bool }

type exactMatcher struct{ want any } // string, float64, bool or nil

func (m exactMatcher) match(v any) bool { return scalarEqual(m.want, v) }

type prefixMatcher string

func (m prefixMatcher) match(v any) bool {
	s, ok := v.(string)
	return ok && strings.HasPrefix(s, string(m))
}

type suffixMatcher string

func (m suffixMatcher) match(v any) bool {
	s, ok := v.(string)
	return ok && strings.HasSuffix(s, string(m))
}

// anythingBut matches a present value that the inner matchers do not match.
type anythingBut struct{ inner []matcher }

func (m anythingBut) match(v any) bool {
	for _, in := range m.inner {
		if in.match(v) {
			return false
		}
	}
	return true
}

type existsMatcher bool

func (existsMatcher) match(any) bool { return false } // handled in matchLeaf

type numericCond struct {
	op string
	n  float64
}

type numericMatcher []numericCond

func (m numericMatcher) match(v any) bool {
	x, ok := v.(float64)
	if !ok {
		return false
	}
	for _, c := range m {
		var hold bool
		switch c.op {
		case "=":
			hold = x == c.n
		case "<":
			hold = x < c.n
		case "<=":
			hold = x <= c.n
		case ">":
			hold = x > c.n
		case ">=":
			hold = x >= c.n
		}
		if !hold {
			return false
		}
	}
	return true
}

type cidrMatcher struct{ prefix netip.Prefix }

func (m cidrMatcher) match(v any) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	a, err := netip.ParseAddr(s)
	return err == nil && m.prefix.Contains(a.Unmap())
}

func compileObject(path string, obj map[string]any, top bool) (*objMatcher, error) {
	if len(obj) == 0 && !top {
		return nil, fmt.Errorf("%s: empty object", path)
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys) // deterministic error reporting
	om := &objMatcher{}
	for _, k := range keys {
		p := joinKey(path, k)
		switch v := obj[k].(type) {
		case map[string]any:
			n, err := compileObject(p, v, false)
			if err != nil {
				return nil, err
			}
			om.fields = append(om.fields, fieldMatcher{key: k, nested: n})
		case []any:
			if len(v) == 0 {
				return nil, fmt.Errorf("%s: empty array matches nothing", p)
			}
			alts := make([]matcher, 0, len(v))
			for i, el := range v {
				m, err := compileAlt(fmt.Sprintf("%s[%d]", p, i), el)
				if err != nil {
					return nil, err
				}
				alts = append(alts, m)
			}
			om.fields = append(om.fields, fieldMatcher{key: k, alts: alts})
		default:
			return nil, fmt.Errorf("%s: must be an array of values or a nested object, got %s", p, jsonKind(v))
		}
	}
	return om, nil
}

func compileAlt(path string, el any) (matcher, error) {
	switch v := el.(type) {
	case string, float64, bool, nil:
		return exactMatcher{want: v}, nil
	case []any:
		return nil, fmt.Errorf("%s: nested arrays are not allowed", path)
	case map[string]any:
		if len(v) != 1 {
			return nil, fmt.Errorf("%s: operator object must have exactly one key, got %d", path, len(v))
		}
		for op, arg := range v {
			return compileOperator(path, op, arg)
		}
	}
	return nil, fmt.Errorf("%s: unsupported value %s", path, jsonKind(el))
}

// compileOperator compiles {op: arg}; at is the path of the operator object.
func compileOperator(at, op string, arg any) (matcher, error) {
	path := at + "." + op
	switch op {
	case "prefix", "suffix":
		s, ok := arg.(string)
		if !ok {
			return nil, fmt.Errorf("%s: must be a string, got %s", path, jsonKind(arg))
		}
		if op == "prefix" {
			return prefixMatcher(s), nil
		}
		return suffixMatcher(s), nil
	case "exists":
		b, ok := arg.(bool)
		if !ok {
			return nil, fmt.Errorf("%s: must be true or false, got %s", path, jsonKind(arg))
		}
		return existsMatcher(b), nil
	case "anything-but":
		return compileAnythingBut(path, arg)
	case "numeric":
		return compileNumeric(path, arg)
	case "cidr":
		s, ok := arg.(string)
		if !ok {
			return nil, fmt.Errorf("%s: must be a string, got %s", path, jsonKind(arg))
		}
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%s: invalid CIDR %q", path, s)
		}
		return cidrMatcher{prefix: pfx.Masked()}, nil
	}
	return nil, fmt.Errorf("%s: unknown operator %q", at, op)
}

func compileAnythingBut(path string, arg any) (matcher, error) {
	switch v := arg.(type) {
	case string, float64, bool:
		return anythingBut{inner: []matcher{exactMatcher{want: v}}}, nil
	case []any:
		if len(v) == 0 {
			return nil, fmt.Errorf("%s: empty array", path)
		}
		inner := make([]matcher, 0, len(v))
		for i, el := range v {
			switch el.(type) {
			case string, float64, bool:
				inner = append(inner, exactMatcher{want: el})
			default:
				return nil, fmt.Errorf("%s[%d]: must be a string, number or bool, got %s", path, i, jsonKind(el))
			}
		}
		return anythingBut{inner: inner}, nil
	case map[string]any:
		if len(v) != 1 {
			return nil, fmt.Errorf("%s: must have exactly one of prefix or suffix", path)
		}
		for op, a := range v {
			if op != "prefix" && op != "suffix" {
				return nil, fmt.Errorf("%s: unknown operator %q (only prefix or suffix)", path, op)
			}
			m, err := compileOperator(path, op, a)
			if err != nil {
				return nil, err
			}
			return anythingBut{inner: []matcher{m}}, nil
		}
	}
	return nil, fmt.Errorf("%s: must be a value, an array of values or {\"prefix\"|\"suffix\": ...}, got %s", path, jsonKind(arg))
}

func compileNumeric(path string, arg any) (matcher, error) {
	arr, ok := arg.([]any)
	if !ok || len(arr) == 0 || len(arr)%2 != 0 {
		return nil, fmt.Errorf("%s: must be an array of operator/number pairs, e.g. [\">\", 0, \"<=\", 5]", path)
	}
	var m numericMatcher
	for i := 0; i < len(arr); i += 2 {
		op, ok := arr[i].(string)
		if !ok || !slices.Contains([]string{"=", "<", "<=", ">", ">="}, op) {
			return nil, fmt.Errorf("%s[%d]: operator must be one of = < <= > >=, got %s", path, i, jsonText(arr[i]))
		}
		n, ok := arr[i+1].(float64)
		if !ok {
			return nil, fmt.Errorf("%s[%d]: must be a number, got %s", path, i+1, jsonKind(arr[i+1]))
		}
		m = append(m, numericCond{op: op, n: n})
	}
	return m, nil
}

func scalarEqual(want, got any) bool {
	switch w := want.(type) {
	case nil:
		return got == nil
	case string:
		g, ok := got.(string)
		return ok && g == w
	case float64:
		g, ok := got.(float64)
		return ok && g == w
	case bool:
		g, ok := got.(bool)
		return ok && g == w
	}
	return false
}

func joinKey(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func jsonKind(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return "string " + strconv.Quote(v)
	case float64:
		return "number " + strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		return "bool " + strconv.FormatBool(v)
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
