// Package sconfig reads the project's s.yaml (Serverless Devs, edition 3.0.0, component
// fc3) the way `s deploy` would, so that the local cloud deploys exactly what production
// does: templates resolved, then every function and trigger checked, with errors that name
// the field (`resources.copy-image.props.triggers[1].triggerType: unsupported trigger type "oss"`).
package sconfig

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/eventbridge"
)

// Project is a loaded s.yaml.
type Project struct {
	Name      string
	Functions []Function // in resource order
}

// Function is one fc3 resource.
type Function struct {
	Resource string // resource key in s.yaml
	Name     string // functionName
	Region   string
	Runtime  string // always go1
	Handler  string // the executable inside CodeDir
	CodeDir  string // props.code as written: relative to the directory of s.yaml
	Timeout  time.Duration
	MemoryMB int
	Env      map[string]string // environmentVariables
	Role     string
	// MaxAsyncRetries is asyncInvokeConfig.maxAsyncRetryAttempts (FC default 3).
	MaxAsyncRetries int
	// Log* come from logConfig: where FC collects the function's stdout and stderr, and
	// how it splits lines into entries (None: one entry per line; DefaultRegex: a new
	// entry only at a line starting with a date). Empty when there is no logConfig.
	LogProject, LogLogstore, LogBeginRule string
	Triggers                              []Trigger // in file order
}

// Trigger is a timer or eventbridge trigger.
type Trigger struct {
	Name string
	Type string // TriggerTimer or TriggerEventBridge
	// Cron is the timer's cronExpression as written (6 fields, optional CRON_TZ= prefix,
	// or @every); only non-emptiness is checked here, the timer package parses it.
	Cron    string
	Payload string // timer payload, delivered verbatim as a JSON string
	Enabled bool   // timer enable / eventbridge triggerEnable
	Pattern string // eventbridge eventRuleFilterPattern (compiles with eventbridge.CompilePattern)
}

// Trigger types the project uses.
const (
	TriggerTimer       = "timer"
	TriggerEventBridge = "eventbridge"
)

// fc3 defaults for omitted props.
const (
	defaultTimeoutSeconds  = 3
	defaultMemoryMB        = 512
	defaultMaxAsyncRetries = 3
)

var (
	functionNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,63}$`)
	envKeyRE       = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Load reads the s.yaml at path, resolves its templates with env (for ${env('X')}) and
// config (for ${config('AccountID')}), and validates every fc3 resource. The error lists
// every problem found, each prefixed with the path of the field.
func Load(path string, env map[string]string, config map[string]string) (*Project, error) {
	doc, err := readDocument(path, env, config)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	p, errs := build(doc)
	if len(errs) > 0 {
		return nil, fmt.Errorf("load %s: %w", path, joinUnique(errs))
	}
	return p, nil
}

// problems collects field errors.
type problems []error

func (ps *problems) add(path, format string, a ...any) {
	*ps = append(*ps, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, a...)))
}

func build(doc *document) (*Project, []error) {
	var errs problems
	root := doc.root
	if ed := root["edition"]; ed != "3.0.0" {
		errs.add("edition", "must be 3.0.0 (Serverless Devs 3.x), got %v", ed)
	}
	p := &Project{}
	if name, ok := root["name"].(string); ok && name != "" {
		p.Name = name
	} else {
		errs.add("name", "required")
	}
	resources, ok := root["resources"].(map[string]any)
	if !ok || len(resources) == 0 {
		errs.add("resources", "required: at least one fc3 resource")
		return nil, errs
	}
	names := map[string]string{} // functionName -> resource
	for _, key := range doc.resources {
		f, ok := buildFunction("resources."+key, key, resources[key], &errs)
		if !ok {
			continue
		}
		if other, dup := names[f.Name]; dup {
			errs.add("resources."+key+".props.functionName", "%q is also the function of resource %s", f.Name, other)
		}
		names[f.Name] = key
		p.Functions = append(p.Functions, f)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return p, nil
}

func buildFunction(path, key string, v any, errs *problems) (Function, bool) {
	res, ok := v.(map[string]any)
	if !ok {
		errs.add(path, "must be a mapping")
		return Function{}, false
	}
	if c := res["component"]; c != "fc3" {
		errs.add(path+".component", "unsupported component %v (only fc3)", quoteAny(c))
		return Function{}, false
	}
	props, ok := res["props"].(map[string]any)
	if !ok {
		errs.add(path+".props", "required mapping")
		return Function{}, false
	}
	pp := path + ".props"
	f := Function{Resource: key, Env: map[string]string{}}
	f.Name = reqString(pp, props, "functionName", errs)
	if f.Name != "" && !functionNameRE.MatchString(f.Name) {
		errs.add(pp+".functionName", "%q is not a valid function name (letters, digits, _ and -, starting with a letter or _, at most 64)", f.Name)
	}
	f.Region = reqString(pp, props, "region", errs)
	f.Runtime = reqString(pp, props, "runtime", errs)
	if f.Runtime != "" && f.Runtime != "go1" {
		errs.add(pp+".runtime", "unsupported runtime %q (the functions are go1 binaries)", f.Runtime)
	}
	f.Handler = reqString(pp, props, "handler", errs)
	if c, present := props["code"]; !present {
		errs.add(pp+".code", "required")
	} else if s, ok := c.(string); !ok || strings.TrimSpace(s) == "" {
		errs.add(pp+".code", "must be the path of the build output directory, got %s", kindOf(c))
	} else {
		f.CodeDir = s
	}
	f.Timeout = time.Duration(optInt(pp, props, "timeout", defaultTimeoutSeconds, 1, 86400, errs)) * time.Second
	f.MemoryMB = optInt(pp, props, "memorySize", defaultMemoryMB, 128, 32768, errs)
	if f.MemoryMB%64 != 0 {
		errs.add(pp+".memorySize", "%d is not a multiple of 64", f.MemoryMB)
	}
	if r, present := props["role"]; present {
		if s, ok := r.(string); ok {
			f.Role = s
		} else {
			errs.add(pp+".role", "must be a string, got %s", kindOf(r))
		}
	}
	if ev, present := props["environmentVariables"]; present {
		m, ok := ev.(map[string]any)
		if !ok {
			errs.add(pp+".environmentVariables", "must be a mapping, got %s", kindOf(ev))
		}
		for _, k := range sortedKeys(m) {
			kp := pp + ".environmentVariables." + k
			s, ok := m[k].(string)
			switch {
			case !envKeyRE.MatchString(k):
				errs.add(kp, "invalid variable name")
			case strings.HasPrefix(k, "FC_"):
				errs.add(kp, "names starting with FC_ are reserved by Function Compute")
			case !ok:
				errs.add(kp, "must be a string (quote it), got %s", kindOf(m[k]))
			default:
				f.Env[k] = s
			}
		}
	}
	if lc, present := props["logConfig"]; present {
		if m, ok := lc.(map[string]any); ok {
			f.LogProject, _ = m["project"].(string)
			f.LogLogstore, _ = m["logstore"].(string)
			f.LogBeginRule, _ = m["logBeginRule"].(string)
			if f.LogBeginRule == "" {
				f.LogBeginRule = "None" // FC's default
			}
		}
	}
	f.MaxAsyncRetries = defaultMaxAsyncRetries
	if ac, present := props["asyncInvokeConfig"]; present {
		if m, ok := ac.(map[string]any); ok {
			f.MaxAsyncRetries = optInt(pp+".asyncInvokeConfig", m, "maxAsyncRetryAttempts", defaultMaxAsyncRetries, 0, 8, errs)
		} else {
			errs.add(pp+".asyncInvokeConfig", "must be a mapping, got %s", kindOf(ac))
		}
	}
	if tv, present := props["triggers"]; present {
		list, ok := tv.([]any)
		if !ok {
			errs.add(pp+".triggers", "must be a list, got %s", kindOf(tv))
		}
		seen := map[string]bool{}
		for i, t := range list {
			tp := fmt.Sprintf("%s.triggers[%d]", pp, i)
			tr, ok := buildTrigger(tp, t, errs)
			if !ok {
				continue
			}
			if seen[tr.Name] {
				errs.add(tp+".triggerName", "duplicate trigger name %q", tr.Name)
			}
			seen[tr.Name] = true
			if tr.Type == TriggerEventBridge && i != len(list)-1 {
				// fc3's deploy returns (not continues) on an unchanged eventbridge trigger,
				// so anything listed after one is silently never updated.
				errs.add(tp, "eventbridge trigger must be listed last (fc3 skips triggers after an unchanged eventbridge trigger)")
			}
			f.Triggers = append(f.Triggers, tr)
		}
		checkShards(pp, f.Triggers, errs)
	}
	return f, true
}

func buildTrigger(path string, v any, errs *problems) (Trigger, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		errs.add(path, "must be a mapping, got %s", kindOf(v))
		return Trigger{}, false
	}
	t := Trigger{Name: reqString(path, m, "triggerName", errs), Type: reqString(path, m, "triggerType", errs)}
	if t.Type == "" {
		return Trigger{}, false
	}
	if t.Type != TriggerTimer && t.Type != TriggerEventBridge {
		errs.add(path+".triggerType", "unsupported trigger type %q (want timer or eventbridge)", t.Type)
		return Trigger{}, false
	}
	cp := path + ".triggerConfig"
	cfg, ok := m["triggerConfig"].(map[string]any)
	if !ok {
		errs.add(cp, "required mapping")
		return Trigger{}, false
	}
	if t.Type == TriggerTimer {
		t.Cron = strings.TrimSpace(reqString(cp, cfg, "cronExpression", errs))
		t.Enabled = reqBool(cp, cfg, "enable", errs)
		if pl, present := cfg["payload"]; present {
			if s, ok := pl.(string); ok {
				t.Payload = s
			} else {
				errs.add(cp+".payload", "must be a string (put JSON in quotes), got %s", kindOf(pl))
			}
		}
		return t, true
	}
	t.Enabled = reqBool(cp, cfg, "triggerEnable", errs)
	t.Pattern = reqString(cp, cfg, "eventRuleFilterPattern", errs)
	if t.Pattern != "" {
		if _, err := eventbridge.CompilePattern(t.Pattern); err != nil {
			errs.add(cp+".eventRuleFilterPattern", "invalid pattern: %v", err)
		}
	}
	if sc, present := cfg["eventSourceConfig"]; present {
		sm, _ := sc.(map[string]any)
		if st, _ := sm["eventSourceType"].(string); st != "Default" {
			errs.add(cp+".eventSourceConfig.eventSourceType", "unsupported event source type %v (only Default: cloud service events)", quoteAny(sm["eventSourceType"]))
		}
	}
	return t, true
}

func reqString(path string, m map[string]any, key string, errs *problems) string {
	v, present := m[key]
	if !present {
		errs.add(joinKey(path, key), "required")
		return ""
	}
	s, ok := v.(string)
	if !ok {
		errs.add(joinKey(path, key), "must be a string, got %s", kindOf(v))
		return ""
	}
	if strings.TrimSpace(s) == "" {
		errs.add(joinKey(path, key), "must not be empty")
	}
	return s
}

func reqBool(path string, m map[string]any, key string, errs *problems) bool {
	v, present := m[key]
	if !present {
		errs.add(joinKey(path, key), "required (true or false)")
		return false
	}
	b, ok := v.(bool)
	if !ok {
		errs.add(joinKey(path, key), "must be true or false, got %s", kindOf(v))
	}
	return b
}

func optInt(path string, m map[string]any, key string, def, lo, hi int, errs *problems) int {
	v, present := m[key]
	if !present {
		return def
	}
	n, ok := v.(int)
	if !ok {
		errs.add(joinKey(path, key), "must be an integer, got %s", kindOf(v))
		return def
	}
	if n < lo || n > hi {
		errs.add(joinKey(path, key), "%d is out of range %d..%d", n, lo, hi)
		return def
	}
	return n
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func quoteAny(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	if v == nil {
		return "(missing)"
	}
	return fmt.Sprint(v)
}

func sortErrors(errs []error) []error {
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errs
}

// joinUnique joins errors, dropping repeats (a bad ${vars.x} is reported once per use).
func joinUnique(errs []error) error {
	seen := map[string]bool{}
	var out []error
	for _, e := range errs {
		if !seen[e.Error()] {
			seen[e.Error()] = true
			out = append(out, e)
		}
	}
	return errors.Join(out...)
}
