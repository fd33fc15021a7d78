package sconfig

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/eventbridge"
)

const (
	repoSYaml = "../../s.yaml"
	// The shared reference material sits beside the repository, as ../shared.
	schemaPath = "../../../shared/fc3-schema.json"
	accountID  = "1234567890123456"
)

var cfg = map[string]string{"AccountID": accountID}

func readRepoSYaml(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(repoSYaml)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "s.yaml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func needSchema(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(schemaPath); err != nil {
		t.Skipf("fc3 schema not found at %s (the shared reference folder beside the repo): %v", schemaPath, err)
	}
}

func TestLoadRepoSYaml(t *testing.T) {
	t.Parallel()
	p, err := Load(repoSYaml, map[string]string{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "ecs-image-dr" {
		t.Errorf("name = %q", p.Name)
	}
	var resources []string
	for _, f := range p.Functions {
		resources = append(resources, f.Resource)
	}
	if want := []string{"create-image", "copy-image", "cleanup", "rds-offsite", "dr-drill"}; !slices.Equal(resources, want) {
		t.Fatalf("resources = %v, want %v (file order)", resources, want)
	}
	wantEnv := []string{"DR_ACCEPTED_EVENT_TYPES", "DR_ECS_ENDPOINT", "DR_ECS_SCHEME", "DR_LOG_LEVEL", "DR_OSS_ENDPOINT",
		"DR_POLICY", "DR_RDS_ENDPOINT", "DR_SLS_ENDPOINT", "DR_SLS_LOGSTORE", "DR_SLS_PROJECT"}
	wantRetries := map[string]int{"create-image": 2, "copy-image": 3, "cleanup": 4, "rds-offsite": 2, "dr-drill": 0}
	wantTimeout := map[string]time.Duration{"rds-offsite": time.Hour}
	for _, f := range p.Functions {
		if f.Name != "ecs-image-dr-"+f.Resource || f.Region != "cn-hangzhou" || f.Runtime != "go1" || f.Handler != "main" ||
			f.CodeDir != "./dist/"+f.Resource || f.Timeout != cmp.Or(wantTimeout[f.Resource], 600*time.Second) || f.MemoryMB != 256 {
			t.Errorf("%s: unexpected function %+v", f.Resource, f)
		}
		if f.Role != "acs:ram::"+accountID+":role/ecs-image-dr-fc" {
			t.Errorf("%s: role = %q", f.Resource, f.Role)
		}
		if f.MaxAsyncRetries != wantRetries[f.Resource] {
			t.Errorf("%s: maxAsyncRetries = %d, want %d", f.Resource, f.MaxAsyncRetries, wantRetries[f.Resource])
		}
		var keys []string
		for k := range f.Env {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, wantEnv) {
			t.Errorf("%s: env keys = %v, want %v", f.Resource, keys, wantEnv)
		}
		if f.Env["DR_ACCEPTED_EVENT_TYPES"] != "ecs:Image:*,ecs:CloudMonitor:Image*" || f.Env["DR_ECS_ENDPOINT"] != "" ||
			!strings.HasPrefix(f.Env["DR_POLICY"], "oss://") || f.Env["DR_LOG_LEVEL"] != "info" {
			t.Errorf("%s: env defaults = %v", f.Resource, f.Env)
		}
	}

	trig := func(i int) []string {
		var out []string
		for _, t := range p.Functions[i].Triggers {
			out = append(out, t.Type+":"+t.Name+":"+t.Cron)
		}
		return out
	}
	for i, want := range [][]string{
		{"timer:daily:CRON_TZ=Asia/Shanghai 0 0 2 * * *"},
		{"timer:reconcile-0:CRON_TZ=Asia/Shanghai 0 20 5 * * *", "timer:reconcile-1:CRON_TZ=Asia/Shanghai 0 25 5 * * *",
			"timer:reconcile-2:CRON_TZ=Asia/Shanghai 0 30 5 * * *", "timer:reconcile-3:CRON_TZ=Asia/Shanghai 0 35 5 * * *",
			"timer:reconcile-4:CRON_TZ=Asia/Shanghai 0 40 5 * * *", "timer:reconcile-5:CRON_TZ=Asia/Shanghai 0 45 5 * * *",
			"timer:reconcile-6:CRON_TZ=Asia/Shanghai 0 50 5 * * *", "timer:reconcile-7:CRON_TZ=Asia/Shanghai 0 55 5 * * *",
			"timer:pending:CRON_TZ=Asia/Shanghai 0 */5 2-5 * * *", "eventbridge:image-ready:"},
		{"timer:shard-0:CRON_TZ=Asia/Shanghai 0 0 4 * * *", "timer:shard-1:CRON_TZ=Asia/Shanghai 0 10 4 * * *",
			"timer:shard-2:CRON_TZ=Asia/Shanghai 0 20 4 * * *", "timer:shard-3:CRON_TZ=Asia/Shanghai 0 30 4 * * *",
			"timer:shard-4:CRON_TZ=Asia/Shanghai 0 40 4 * * *", "timer:shard-5:CRON_TZ=Asia/Shanghai 0 50 4 * * *",
			"timer:shard-6:CRON_TZ=Asia/Shanghai 0 0 5 * * *", "timer:shard-7:CRON_TZ=Asia/Shanghai 0 10 5 * * *"},
		{"timer:every-6h:CRON_TZ=Asia/Shanghai 0 30 */6 * * *"},
	} {
		if got := trig(i); !slices.Equal(got, want) {
			t.Errorf("%s triggers = %v, want %v", p.Functions[i].Resource, got, want)
		}
	}
	for _, f := range p.Functions {
		for _, tr := range f.Triggers {
			if !tr.Enabled {
				t.Errorf("%s/%s is disabled", f.Resource, tr.Name)
			}
		}
	}
	eb := p.Functions[1].Triggers[len(p.Functions[1].Triggers)-1]
	pat, err := eventbridge.CompilePattern(eb.Pattern)
	if err != nil {
		t.Fatalf("image-ready pattern: %v", err)
	}
	if !pat.Match([]byte(`{"source":"acs.ecs","type":"ecs:Image:StateChange","data":{"currentState":"Available"}}`)) {
		t.Error("image-ready pattern does not match an Available image event")
	}
}

func TestRepoSYamlHasNoAccessKeys(t *testing.T) {
	t.Parallel()
	var code []string // comments may say that there are none
	for _, line := range strings.Split(readRepoSYaml(t), "\n") {
		if before, _, _ := strings.Cut(line, "#"); strings.TrimSpace(before) != "" {
			code = append(code, strings.ToLower(before))
		}
	}
	s := strings.Join(code, "\n")
	for _, bad := range []string{"accesskey", "access_key", "ltai", "secret"} {
		if strings.Contains(s, bad) {
			t.Errorf("s.yaml mentions %q: no credentials belong in it", bad)
		}
	}
}

func TestLoadTemplatesFromEnv(t *testing.T) {
	t.Parallel()
	env := map[string]string{"REGION": "cn-shanghai", "DR_POLICY": "name: inline", "DR_ECS_ENDPOINT": "127.0.0.1:8080",
		"DR_SLS_PROJECT": "proj-x"}
	p, err := Load(repoSYaml, env, map[string]string{"AccountID": "42"})
	if err != nil {
		t.Fatal(err)
	}
	f := p.Functions[2]
	if f.Region != "cn-shanghai" || f.Env["DR_POLICY"] != "name: inline" || f.Env["DR_ECS_ENDPOINT"] != "127.0.0.1:8080" ||
		f.Env["DR_SLS_PROJECT"] != "proj-x" || f.Role != "acs:ram::42:role/ecs-image-dr-fc" {
		t.Errorf("templating with env: %+v", f)
	}
}

func TestValidateSchemaRepoSYaml(t *testing.T) {
	t.Parallel()
	needSchema(t)
	if err := ValidateSchema(repoSYaml, schemaPath); err != nil {
		t.Fatalf("repo s.yaml violates the fc3 schema: %v", err)
	}
}

// mutations of the repository's own s.yaml, each refused with the path of the bad field.
func TestLoadRefusesBrokenVariants(t *testing.T) {
	t.Parallel()
	orig := readRepoSYaml(t)
	tests := []struct {
		name     string
		old, new string
		want     string
	}{
		{"unknown trigger type", "triggerType: eventbridge", "triggerType: oss",
			`resources.copy-image.props.triggers[EB].triggerType: unsupported trigger type "oss"`},
		{"invalid pattern", `"currentState":["Available",`, `"currentState":[{"prefixx":"A"},`,
			`resources.copy-image.props.triggers[EB].triggerConfig.eventRuleFilterPattern: invalid pattern: data.currentState[0]: unknown operator "prefixx"`},
		{"pattern not JSON", `eventRuleFilterPattern: '{"source"`, `eventRuleFilterPattern: '{source"`,
			`resources.copy-image.props.triggers[EB].triggerConfig.eventRuleFilterPattern: invalid pattern: pattern is not valid JSON`},
		{"missing handler", "      handler: main # the binary inside the code directory\n", "",
			"resources.create-image.props.handler: required"},
		{"runtime not go1", "runtime: go1\n      handler: main #", "runtime: python3\n      handler: main #",
			`resources.create-image.props.runtime: unsupported runtime "python3"`},
		{"empty cron", "cronExpression: 'CRON_TZ=Asia/Shanghai 0 0 4 * * *'", "cronExpression: ''",
			"resources.cleanup.props.triggers[0].triggerConfig.cronExpression: must not be empty"},
		{"enable not bool", "enable: true\n            payload: '{\"action\":\"cleanup\",\"shard\":\"0/8\"}'", "enable: 'yes'\n            payload: '{\"action\":\"cleanup\",\"shard\":\"0/8\"}'",
			`resources.cleanup.props.triggers[0].triggerConfig.enable: must be true or false, got a string "yes"`},
		{"env value not string", "DR_LOG_LEVEL: ${env('DR_LOG_LEVEL', 'info')}", "DR_LOG_LEVEL: 3",
			"resources.create-image.props.environmentVariables.DR_LOG_LEVEL: must be a string (quote it), got a number"},
		{"reserved env name", "DR_LOG_LEVEL:", "FC_LOG_LEVEL:",
			"resources.copy-image.props.environmentVariables.FC_LOG_LEVEL: names starting with FC_ are reserved"},
		{"retries out of range", "maxAsyncRetryAttempts: 3", "maxAsyncRetryAttempts: 9",
			"resources.copy-image.props.asyncInvokeConfig.maxAsyncRetryAttempts: 9 is out of range 0..8"},
		{"memory not multiple of 64", "memorySize: 256\n      role: ${vars.role}\n      logConfig:\n        project: ${vars.logProject}\n        logstore: ${vars.slsLogstore}\n        enableRequestMetrics: true\n        logBeginRule: None # one entry per line: every stdout line is one JSON record\n      # The same",
			"memorySize: 200\n      role: ${vars.role}\n      logConfig:\n        project: ${vars.logProject}\n        logstore: ${vars.slsLogstore}\n        enableRequestMetrics: true\n        logBeginRule: None # one entry per line: every stdout line is one JSON record\n      # The same",
			"resources.create-image.props.memorySize: 200 is not a multiple of 64"},
		{"event source not Default", "eventSourceType: Default", "eventSourceType: MNS",
			`resources.copy-image.props.triggers[EB].triggerConfig.eventSourceConfig.eventSourceType: unsupported event source type "MNS"`},
		{"duplicate function name", "functionName: ecs-image-dr-cleanup", "functionName: ecs-image-dr-copy-image",
			`resources.cleanup.props.functionName: "ecs-image-dr-copy-image" is also the function of resource copy-image`},
		{"duplicate trigger name", "triggerName: reconcile-1", "triggerName: image-ready",
			`resources.copy-image.props.triggers[EB].triggerName: duplicate trigger name "image-ready"`},
		{"other component", "  cleanup:\n    component: fc3", "  cleanup:\n    component: fc",
			`resources.cleanup.component: unsupported component "fc" (only fc3)`},
		{"edition", "edition: 3.0.0", "edition: 1.0.0", "edition: must be 3.0.0"},
		{"env without default unset", "${env('REGION', 'cn-hangzhou')}", "${env('REGION_UNSET_FOR_TEST')}",
			"vars.region: ${env('REGION_UNSET_FOR_TEST')}: environment variable REGION_UNSET_FOR_TEST is not set and has no default"},
		{"unknown var", "region: ${vars.region}\n      functionName: ecs-image-dr-cleanup", "region: ${vars.regoin}\n      functionName: ecs-image-dr-cleanup",
			"resources.cleanup.props.region: ${vars.regoin}: vars.regoin is not defined"},
		{"unsupported function", "${config('AccountID')}", "${secret('AccountID')}",
			"vars.role: ${secret('AccountID')}: unsupported function secret"},
		{"eventbridge not last", "            runOptions:\n              mode: event-driven\n",
			"            runOptions:\n              mode: event-driven\n        - triggerName: late\n          triggerType: timer\n          triggerConfig:\n            cronExpression: '@every 1h'\n            enable: true\n",
			"resources.copy-image.props.triggers[EB]: eventbridge trigger must be listed last"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if !strings.Contains(orig, tt.old) {
				t.Fatalf("s.yaml no longer contains %q: update the test", tt.old)
			}
			path := writeTemp(t, strings.Replace(orig, tt.old, tt.new, 1))
			p, err := Load(path, map[string]string{}, cfg)
			if err == nil {
				t.Fatalf("Load accepted the broken s.yaml: %+v", p)
			}
			// EB: the index of copy-image's eventbridge trigger (the last one).
			want := strings.ReplaceAll(tt.want, "[EB]", fmt.Sprintf("[%d]", copyImageTriggers(t)-1))
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error:\n%v\nwant it to contain:\n%s", err, want)
			}
		})
	}
}

func TestLoadMissingConfig(t *testing.T) {
	t.Parallel()
	_, err := Load(repoSYaml, nil, nil)
	want := "vars.role: ${config('AccountID')}: config AccountID is not set"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error = %v, want it to contain %q", err, want)
	}
	if n := strings.Count(err.Error(), want); n != 1 {
		t.Errorf("the missing config is reported %d times, want once:\n%v", n, err)
	}
}

func TestValidateSchemaRefusesViolations(t *testing.T) {
	t.Parallel()
	needSchema(t)
	orig := readRepoSYaml(t)
	tests := []struct {
		name, old, new string
		want           []string
	}{
		{"region not in enum", "region: ${vars.region}\n      functionName: ecs-image-dr-cleanup",
			"region: mars-north-1\n      functionName: ecs-image-dr-cleanup",
			[]string{"resources.cleanup.props.region:", "mars-north-1"}},
		{"description not a string", "description: Timer -> delete", "description: 5\n      x: Timer -> delete",
			[]string{"resources.cleanup.props.description:", "string"}},
		{"logConfig without logstore", "        logstore: ${vars.slsLogstore}\n        enableRequestMetrics: true\n        logBeginRule: None # one entry per line: every stdout line is one JSON record\n      environmentVariables: *environment\n      asyncInvokeConfig:\n        maxAsyncRetryAttempts: 4\n      # Retention runs in 8 shards",
			"        enableRequestMetrics: true\n        logBeginRule: None # one entry per line: every stdout line is one JSON record\n      environmentVariables: *environment\n      asyncInvokeConfig:\n        maxAsyncRetryAttempts: 4\n      # Retention runs in 8 shards",
			[]string{"resources.cleanup.props.logConfig", "logstore"}},
		{"trigger without config", "          qualifier: LATEST\n          triggerConfig:\n            cronExpression: 'CRON_TZ=Asia/Shanghai 0 0 2 * * *'\n            enable: true\n            payload: '{\"action\":\"create\"}'\n",
			"          qualifier: LATEST\n",
			[]string{"resources.create-image.props.triggers[0]:", "triggerConfig"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if !strings.Contains(orig, tt.old) {
				t.Fatalf("s.yaml no longer contains %q: update the test", tt.old)
			}
			path := writeTemp(t, strings.Replace(orig, tt.old, tt.new, 1))
			err := ValidateSchemaWith(path, schemaPath, map[string]string{}, cfg)
			if err == nil {
				t.Fatal("schema accepted the broken s.yaml")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error:\n%v\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

func TestValidateSchemaErrors(t *testing.T) {
	t.Parallel()
	if err := ValidateSchema(repoSYaml, filepath.Join(t.TempDir(), "missing.json")); err == nil || !strings.Contains(err.Error(), "open fc3 schema") {
		t.Errorf("missing schema: err = %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ValidateSchema(repoSYaml, bad); err == nil || !strings.Contains(err.Error(), "parse fc3 schema") {
		t.Errorf("bad schema: err = %v", err)
	}
}

func TestLoadMinimalDocuments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, doc, want string
	}{
		{"not yaml", "edition: [", "parse"},
		{"not a mapping", "- a\n- b\n", "top level must be a mapping"},
		{"no resources", "edition: 3.0.0\nname: x\n", "resources: required"},
		{"reference cycle", "edition: 3.0.0\nname: x\nvars:\n  a: ${vars.b}\n  b: ${vars.a}\nresources:\n  f:\n    component: fc3\n    props:\n      region: ${vars.a}\n",
			"reference cycle"},
		{"unterminated", "edition: 3.0.0\nname: x\nvars:\n  a: ${env('X'\n", "vars.a: unterminated ${"},
		{"object spliced", "edition: 3.0.0\nname: x\nvars:\n  m: {k: v}\n  s: pre-${vars.m}\n", "vars.s: ${vars.m} is a mapping and cannot be spliced into text"},
		{"unquoted argument", "edition: 3.0.0\nname: x\nvars:\n  a: ${env(X)}\n", "vars.a: ${env(X)}: arguments must be quoted strings"},
		{"missing props fields", "edition: 3.0.0\nname: x\nresources:\n  f:\n    component: fc3\n    props: {}\n",
			"resources.f.props.functionName: required"},
		{"code as oss object", "edition: 3.0.0\nname: x\nresources:\n  f:\n    component: fc3\n    props:\n      region: cn-hangzhou\n      functionName: f\n      runtime: go1\n      handler: main\n      code: {ossBucketName: b, ossObjectName: o}\n",
			"resources.f.props.code: must be the path of the build output directory, got a mapping"},
		{"trigger not a mapping", "edition: 3.0.0\nname: x\nresources:\n  f:\n    component: fc3\n    props:\n      region: cn-hangzhou\n      functionName: f\n      runtime: go1\n      handler: main\n      code: ./d\n      triggers: [daily]\n",
			`resources.f.props.triggers[0]: must be a mapping, got a string "daily"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(writeTemp(t, tt.doc), nil, cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestResolveTemplates(t *testing.T) {
	t.Parallel()
	doc := `edition: 3.0.0
name: x
vars:
  m: {k: v}
  n: 7
  whole: ${vars.m}
  number: ${vars.n}
  spliced: n=${vars.n}, region=${env('R', 'cn-hangzhou')}!
  braces: ${env('MISSING', 'a}b,c')}
  dq: ${env("R")}
  acct: acs:ram::${config('AccountID')}:role/r
  ref: ${resources.f.props.functionName}-suffix
resources:
  f:
    component: other
    props:
      functionName: fn
`
	d, err := readDocument(writeTemp(t, doc), map[string]string{"R": "cn-beijing"}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	vars := d.root["vars"].(map[string]any)
	tests := []struct {
		key  string
		want any
	}{
		{"number", 7},
		{"spliced", "n=7, region=cn-beijing!"},
		{"braces", "a}b,c"},
		{"dq", "cn-beijing"},
		{"acct", "acs:ram::" + accountID + ":role/r"},
		{"ref", "fn-suffix"},
	}
	for _, tt := range tests {
		if got := vars[tt.key]; got != tt.want {
			t.Errorf("vars.%s = %#v, want %#v", tt.key, got, tt.want)
		}
	}
	if m, ok := vars["whole"].(map[string]any); !ok || m["k"] != "v" {
		t.Errorf("vars.whole = %#v, want the mapping {k: v}", vars["whole"])
	}
}

// copyImageTriggers is the number of copy-image's triggers in the repository's s.yaml.
func copyImageTriggers(t *testing.T) int {
	t.Helper()
	p, err := Load(repoSYaml, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range p.Functions {
		if f.Resource == "copy-image" {
			return len(f.Triggers)
		}
	}
	t.Fatal("no copy-image in s.yaml")
	return 0
}
