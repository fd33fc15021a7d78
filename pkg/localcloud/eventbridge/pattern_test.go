package eventbridge

import (
	"strings"
	"testing"
)

const imageAvailable = `{"id":"e-1","source":"acs.ecs","specversion":"1.0","type":"ecs:Image:StateChange",
 "subject":"acs:ecs:cn-hangzhou:1234567890123456:image/m-bp1","aliyunaccountid":"1234567890123456",
 "aliyunregionid":"cn-hangzhou","aliyuneventbusname":"default",
 "data":{"imageId":"m-bp1","currentState":"Available","size":40,"tags":["a","b"],"ip":"10.1.2.3","nothing":null,"empty":""}}`

func TestPatternMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		pattern string
		want    bool
	}{
		{"empty pattern matches all", `{}`, true},
		{"exact", `{"source":["acs.ecs"]}`, true},
		{"exact mismatch", `{"source":["acs.oss"]}`, false},
		{"array is OR", `{"source":["acs.oss","acs.ecs"]}`, true},
		{"keys are AND", `{"source":["acs.ecs"],"type":["ecs:Disk:Attach"]}`, false},
		{"project pattern", `{"source":["acs.ecs"],"type":["ecs:Image:StateChange"],"data":{"currentState":["Available"]}}`, true},
		{"nested mismatch", `{"data":{"currentState":["Creating"]}}`, false},
		{"nested missing object", `{"detail":{"x":["y"]}}`, false},
		{"nested on scalar", `{"source":{"x":["y"]}}`, false},
		{"number exact", `{"data":{"size":[40]}}`, true},
		{"number is not string", `{"data":{"size":["40"]}}`, false},
		{"null exact", `{"data":{"nothing":[null]}}`, true},
		{"null does not match missing", `{"data":{"absent":[null]}}`, false},
		{"empty string", `{"data":{"empty":[""]}}`, true},
		{"event array any element", `{"data":{"tags":["b"]}}`, true},
		{"event array no element", `{"data":{"tags":["c"]}}`, false},
		{"prefix", `{"subject":[{"prefix":"acs:ecs:cn-hangzhou:"}]}`, true},
		{"prefix mismatch", `{"subject":[{"prefix":"acs:ecs:cn-shanghai:"}]}`, false},
		{"prefix on number", `{"data":{"size":[{"prefix":"4"}]}}`, false},
		{"suffix", `{"data":{"imageId":[{"suffix":"bp1"}]}}`, true},
		{"suffix mismatch", `{"data":{"imageId":[{"suffix":"xx"}]}}`, false},
		{"anything-but value", `{"data":{"currentState":[{"anything-but":"Creating"}]}}`, true},
		{"anything-but value hit", `{"data":{"currentState":[{"anything-but":"Available"}]}}`, false},
		{"anything-but list", `{"data":{"currentState":[{"anything-but":["Creating","Waiting"]}]}}`, true},
		{"anything-but list hit", `{"data":{"currentState":[{"anything-but":["Creating","Available"]}]}}`, false},
		{"anything-but prefix", `{"source":[{"anything-but":{"prefix":"acs.o"}}]}`, true},
		{"anything-but prefix hit", `{"source":[{"anything-but":{"prefix":"acs."}}]}`, false},
		{"anything-but suffix hit", `{"source":[{"anything-but":{"suffix":".ecs"}}]}`, false},
		{"anything-but number", `{"data":{"size":[{"anything-but":41}]}}`, true},
		{"anything-but missing field", `{"data":{"absent":[{"anything-but":"x"}]}}`, false},
		{"exists true", `{"data":{"imageId":[{"exists":true}]}}`, true},
		{"exists true missing", `{"data":{"absent":[{"exists":true}]}}`, false},
		{"exists false missing", `{"data":{"absent":[{"exists":false}]}}`, true},
		{"exists false present", `{"data":{"imageId":[{"exists":false}]}}`, false},
		{"exists false under missing object", `{"detail":{"x":[{"exists":false}]}}`, true},
		{"exists true on null", `{"data":{"nothing":[{"exists":true}]}}`, true},
		{"numeric range", `{"data":{"size":[{"numeric":[">",0,"<=",40]}]}}`, true},
		{"numeric range miss", `{"data":{"size":[{"numeric":[">",40]}]}}`, false},
		{"numeric equal", `{"data":{"size":[{"numeric":["=",40]}]}}`, true},
		{"numeric on string", `{"data":{"imageId":[{"numeric":[">",0]}]}}`, false},
		{"cidr", `{"data":{"ip":[{"cidr":"10.0.0.0/8"}]}}`, true},
		{"cidr miss", `{"data":{"ip":[{"cidr":"192.168.0.0/16"}]}}`, false},
		{"operators OR exact", `{"data":{"currentState":[{"prefix":"Cre"},"Available"]}}`, true},
		{"all operators miss", `{"data":{"currentState":[{"prefix":"Cre"},"Deleted"]}}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := CompilePattern(tt.pattern)
			if err != nil {
				t.Fatalf("CompilePattern(%s): %v", tt.pattern, err)
			}
			if got := p.Match([]byte(imageAvailable)); got != tt.want {
				t.Errorf("Match = %v, want %v (pattern %s)", got, tt.want, tt.pattern)
			}
		})
	}
}

func TestPatternMatchOddEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, pattern, event string
		want                 bool
	}{
		{"malformed JSON", `{}`, `{`, false},
		{"empty input", `{}`, ``, false},
		// A non-object event has no fields: it behaves like {}.
		{"array event, empty pattern", `{}`, `[1,2]`, true},
		{"array event, field pattern", `{"source":["acs.ecs"]}`, `["acs.ecs"]`, false},
		{"string event, field pattern", `{"source":["acs.ecs"]}`, `"acs.ecs"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := CompilePattern(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Match([]byte(tt.event)); got != tt.want {
				t.Errorf("Match(%q) = %v, want %v", tt.event, got, tt.want)
			}
		})
	}
}

func TestCompilePatternErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, pattern, want string
	}{
		{"empty", ``, "pattern is empty"},
		{"bad json", `{"source":`, "not valid JSON"},
		{"not object", `["acs.ecs"]`, "must be a JSON object, got array"},
		{"scalar leaf", `{"source":"acs.ecs"}`, `source: must be an array of values or a nested object, got string "acs.ecs"`},
		{"empty array", `{"type":[]}`, "type: empty array matches nothing"},
		{"empty nested", `{"data":{}}`, "data: empty object"},
		{"nested array", `{"type":[["a"]]}`, "type[0]: nested arrays are not allowed"},
		{"unknown operator", `{"data":{"currentState":[{"prefixx":"A"}]}}`, `data.currentState[0]: unknown operator "prefixx"`},
		{"two operators", `{"type":[{"prefix":"a","suffix":"b"}]}`, "type[0]: operator object must have exactly one key, got 2"},
		{"prefix not string", `{"type":[{"prefix":1}]}`, "type[0].prefix: must be a string, got number 1"},
		{"exists not bool", `{"type":[{"exists":"yes"}]}`, `type[0].exists: must be true or false`},
		{"anything-but empty", `{"type":[{"anything-but":[]}]}`, "type[0].anything-but: empty array"},
		{"anything-but nested obj", `{"type":[{"anything-but":["a",{"x":1}]}]}`, "type[0].anything-but[1]: must be a string, number or bool"},
		{"anything-but bad op", `{"type":[{"anything-but":{"exists":true}}]}`, `type[0].anything-but: unknown operator "exists"`},
		{"anything-but null", `{"type":[{"anything-but":null}]}`, "type[0].anything-but: must be a value"},
		{"numeric odd", `{"n":[{"numeric":[">"]}]}`, "n[0].numeric: must be an array of operator/number pairs"},
		{"numeric bad op", `{"n":[{"numeric":["~",1]}]}`, `n[0].numeric[0]: operator must be one of = < <= > >=, got "~"`},
		{"numeric not number", `{"n":[{"numeric":[">","1"]}]}`, "n[0].numeric[1]: must be a number"},
		{"cidr bad", `{"ip":[{"cidr":"10.0.0.0/99"}]}`, `ip[0].cidr: invalid CIDR "10.0.0.0/99"`},
		{"deep path", `{"data":{"a":{"b":[1,{"suffix":false}]}}}`, "data.a.b[1].suffix: must be a string, got bool false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := CompilePattern(tt.pattern)
			if err == nil {
				t.Fatalf("CompilePattern(%s) = %v, want error containing %q", tt.pattern, p, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}
