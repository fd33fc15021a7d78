package sconfig

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// document is s.yaml after templating: the top level as a generic tree, plus the resource
// names in file order (a Go map would lose it, and deploy order is visible to users).
type document struct {
	root      map[string]any
	resources []string
}

// readDocument parses an s.yaml and resolves its templates. YAML anchors and merge keys
// are expanded by the YAML parser, as js-yaml does for Serverless Devs.
func readDocument(path string, env, config map[string]string) (*document, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read s.yaml: %w", err)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	if n.Kind != yaml.DocumentNode || len(n.Content) == 0 || n.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("parse %s: top level must be a mapping", path)
	}
	var raw any
	if err := n.Content[0].Decode(&raw); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	tree, err := normalize("", raw)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	root := tree.(map[string]any)

	doc := &document{}
	top := n.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "resources" && top.Content[i+1].Kind == yaml.MappingNode {
			res := top.Content[i+1]
			for j := 0; j+1 < len(res.Content); j += 2 {
				doc.resources = append(doc.resources, res.Content[j].Value)
			}
		}
	}

	r := &resolver{root: root, env: env, config: config, active: map[string]bool{}}
	doc.root = r.value("", root).(map[string]any)
	if len(r.errs) > 0 {
		return nil, joinUnique(sortErrors(r.errs))
	}
	return doc, nil
}

// normalize turns yaml.v3's generic output into JSON-shaped values (string keys only), so
// the same tree can be handed to the JSON schema validator.
func normalize(path string, v any) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			n, err := normalize(joinKey(path, k), e)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("%s: key %v is not a string", orTop(path), k)
			}
			n, err := normalize(joinKey(path, ks), e)
			if err != nil {
				return nil, err
			}
			out[ks] = n
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			n, err := normalize(fmt.Sprintf("%s[%d]", path, i), e)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	}
	return v, nil
}

// resolver expands Serverless Devs templates: ${vars.x}, ${resources.r.props.p} (any path
// into the file, resolved in turn), ${env('X')}, ${env('X','default')} and
// ${config('AccountID')}. A string that is exactly one ${...} takes the referenced value's
// type (so ${vars.someMap} yields a map); otherwise values are spliced in as text.
type resolver struct {
	root        map[string]any
	env, config map[string]string
	active      map[string]bool // references being resolved, to report cycles
	errs        []error
}

// value resolves v; problems are recorded in r.errs (all of them, not just the first).
func (r *resolver) value(path string, v any) any {
	switch v := v.(type) {
	case string:
		out, err := r.str(path, v)
		if err != nil {
			r.errs = append(r.errs, err)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = r.value(joinKey(path, k), e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = r.value(fmt.Sprintf("%s[%d]", path, i), e)
		}
		return out
	}
	return v
}

func (r *resolver) str(path, s string) (any, error) {
	var b strings.Builder
	rest := s
	for {
		i := strings.Index(rest, "${")
		if i < 0 {
			b.WriteString(rest)
			break
		}
		end, err := exprEnd(rest[i+2:])
		if err != nil {
			return nil, fmt.Errorf("%s: %w in %q", orTop(path), err, s)
		}
		expr := rest[i+2 : i+2+end]
		v, err := r.expr(path, expr)
		if err != nil {
			return nil, err
		}
		if i == 0 && len(rest) == len(s) && end+3 == len(s) {
			return v, nil // the whole value is one expression: keep its type
		}
		b.WriteString(rest[:i])
		switch v := v.(type) {
		case string:
			b.WriteString(v)
		case bool, int, float64:
			b.WriteString(fmt.Sprint(v))
		case nil:
		default:
			return nil, fmt.Errorf("%s: ${%s} is %s and cannot be spliced into text", orTop(path), expr, kindOf(v))
		}
		rest = rest[i+2+end+1:]
	}
	return b.String(), nil
}

// exprEnd returns the index of the '}' closing an expression, skipping quoted strings.
func exprEnd(s string) (int, error) {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '}':
			return i, nil
		}
	}
	return 0, errors.New("unterminated ${")
}

func (r *resolver) expr(path, expr string) (any, error) {
	e := strings.TrimSpace(expr)
	fail := func(format string, a ...any) error {
		return fmt.Errorf("%s: ${%s}: %s", orTop(path), expr, fmt.Sprintf(format, a...))
	}
	if name, args, ok := parseCall(e); ok {
		if args == nil {
			return nil, fail("arguments must be quoted strings")
		}
		switch name {
		case "env":
			if len(args) < 1 || len(args) > 2 {
				return nil, fail("env takes a name and an optional default")
			}
			if v, ok := r.env[args[0]]; ok {
				return v, nil
			}
			if len(args) == 2 {
				return args[1], nil
			}
			return nil, fail("environment variable %s is not set and has no default", args[0])
		case "config":
			if len(args) != 1 {
				return nil, fail("config takes one key")
			}
			if v, ok := r.config[args[0]]; ok && v != "" {
				return v, nil
			}
			return nil, fail("config %s is not set", args[0])
		}
		return nil, fail("unsupported function %s", name)
	}
	parts := strings.Split(e, ".")
	if (parts[0] != "vars" && parts[0] != "resources") || len(parts) < 2 || slices.Contains(parts, "") {
		return nil, fail("unsupported expression (want vars.<name>, resources.<name>.props.<path>, env(...) or config(...))")
	}
	if parts[0] == "resources" && (len(parts) < 4 || parts[2] != "props") {
		return nil, fail("only resources.<name>.props.<path> can be referenced")
	}
	if r.active[e] {
		return nil, fail("reference cycle")
	}
	var cur any = r.root
	for _, p := range parts {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fail("%s is not defined", e)
		}
		if cur, ok = m[p]; !ok {
			return nil, fail("%s is not defined", e)
		}
	}
	r.active[e] = true
	defer delete(r.active, e)
	return r.value(e, cur), nil
}

// parseCall splits `name('a', "b")`. ok reports the call shape; args is nil when an
// argument is not a quoted string.
func parseCall(e string) (name string, args []string, ok bool) {
	open := strings.IndexByte(e, '(')
	if open <= 0 || !strings.HasSuffix(e, ")") {
		return "", nil, false
	}
	name = strings.TrimSpace(e[:open])
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return "", nil, false
		}
	}
	in := strings.TrimSpace(e[open+1 : len(e)-1])
	args = []string{}
	for in != "" {
		q := in[0]
		if q != '\'' && q != '"' {
			return name, nil, true
		}
		end := strings.IndexByte(in[1:], q)
		if end < 0 {
			return name, nil, true
		}
		args = append(args, in[1:1+end])
		in = strings.TrimSpace(in[end+2:])
		if in == "" {
			break
		}
		if in[0] != ',' {
			return name, nil, true
		}
		in = strings.TrimSpace(in[1:])
		if in == "" {
			return name, nil, true // trailing comma
		}
	}
	return name, args, true
}

func joinKey(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func orTop(path string) string {
	if path == "" {
		return "(top level)"
	}
	return path
}

func kindOf(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return "a string " + strconv.Quote(v)
	case bool:
		return "a boolean"
	case int, float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("%T", v)
}
