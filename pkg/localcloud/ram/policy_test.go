package ram

import (
	"testing"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

const doc = `{"Version":"1","Statement":[
 {"Effect":"Allow","Action":["ecs:Describe*"],"Resource":"*"},
 {"Effect":"Allow","Action":"ecs:DeleteImage","Resource":"acs:ecs:*:123:image/*",
  "Condition":{"StringEquals":{"ecs:tag/managed-by":"ecs-image-dr"}}},
 {"Effect":"Allow","Action":"oss:GetObject","Resource":"acs:oss:*:123:cfg/pol?cy.yaml"},
 {"Effect":"Allow","Action":"oss:PutObject","Resource":"acs:oss:*:123:cat-*/*",
  "Condition":{"StringLike":{"acs:RequestTag/env":"prod-*"},"Null":{"acs:RequestTag/owner":"true"}}},
 {"Effect":"Deny","Action":"ecs:DeleteImage","Resource":"*","Condition":{"StringNotEquals":{"ecs:tag/keep":"no"}}}
]}`

func TestEvaluate(t *testing.T) {
	t.Parallel()
	d, err := ParseDocument(doc)
	if err != nil {
		t.Fatal(err)
	}
	docs := []*Document{d}
	tags := func(kv ...string) map[string][]string {
		m := map[string][]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = []string{kv[i+1]}
		}
		return m
	}
	tests := []struct {
		name, action, resource string
		keys                   map[string][]string
		want                   Decision
	}{
		{"action wildcard, case-insensitive", "ecs:describeimages", "acs:ecs:cn-hangzhou:123:image/*", nil, Allow},
		{"action not granted", "ecs:CreateImage", "acs:ecs:cn-hangzhou:123:image/*", nil, ImplicitDeny},
		{"tag condition met, deny condition not met", "ecs:DeleteImage", "acs:ecs:cn-hangzhou:123:image/m-1",
			tags("ecs:tag/managed-by", "ecs-image-dr", "ecs:tag/keep", "no"), Allow},
		{"deny wins (keep tag missing: StringNotEquals holds)", "ecs:DeleteImage", "acs:ecs:cn-hangzhou:123:image/m-1",
			tags("ecs:tag/managed-by", "ecs-image-dr"), ExplicitDeny},
		{"tag missing", "ecs:DeleteImage", "acs:ecs:cn-hangzhou:123:image/m-1", tags("ecs:tag/keep", "no"), ImplicitDeny},
		{"tag with another value", "ecs:DeleteImage", "acs:ecs:cn-hangzhou:123:image/m-1",
			tags("ecs:tag/managed-by", "me", "ecs:tag/keep", "no"), ImplicitDeny},
		{"other account", "ecs:DeleteImage", "acs:ecs:cn-hangzhou:999:image/m-1",
			tags("ecs:tag/managed-by", "ecs-image-dr", "ecs:tag/keep", "no"), ImplicitDeny},
		{"? matches one character", "oss:GetObject", "acs:oss:*:123:cfg/policy.yaml", nil, Allow},
		{"? matches exactly one", "oss:GetObject", "acs:oss:*:123:cfg/polcy.yaml", nil, ImplicitDeny},
		{"* crosses /", "oss:PutObject", "acs:oss:*:123:cat-hz/a/b.json", tags("acs:RequestTag/env", "prod-1"), Allow},
		{"StringLike fails", "oss:PutObject", "acs:oss:*:123:cat-hz/a", tags("acs:RequestTag/env", "dev"), ImplicitDeny},
		{"Null true fails when present", "oss:PutObject", "acs:oss:*:123:cat-hz/a",
			tags("acs:RequestTag/env", "prod-1", "acs:RequestTag/owner", "x"), ImplicitDeny},
		{"condition key names are case-insensitive", "oss:PutObject", "acs:oss:*:123:cat-hz/a", tags("ACS:requesttag/ENV", "prod-2"), Allow},
	}
	for _, tt := range tests {
		if got := Evaluate(docs, tt.action, tt.resource, tt.keys); got != tt.want {
			t.Errorf("%s: Evaluate(%s, %s) = %v, want %v", tt.name, tt.action, tt.resource, got, tt.want)
		}
	}
	// Decide: every resource must be allowed; the refused one is named.
	d2 := Decide(docs, core.AuthzRequest{Cred: core.Credential{Role: "r"}, Action: "ecs:DeleteImage", Resources: []core.AuthzResource{
		{ARN: "acs:ecs:hz:123:image/ok", Keys: tags("ecs:tag/managed-by", "ecs-image-dr", "ecs:tag/keep", "no")},
		{ARN: "acs:ecs:hz:123:image/bad"},
	}})
	if d2 == nil || d2.Resource != "acs:ecs:hz:123:image/bad" || d2.Action != "ecs:DeleteImage" {
		t.Errorf("Decide = %+v, want the second resource refused", d2)
	}
}

func TestParseDocumentRefuses(t *testing.T) {
	t.Parallel()
	for name, text := range map[string]string{
		"version":          `{"Version":"2","Statement":[{"Effect":"Allow","Action":"ecs:*","Resource":"*"}]}`,
		"effect":           `{"Version":"1","Statement":[{"Effect":"allow","Action":"ecs:*","Resource":"*"}]}`,
		"no resource":      `{"Version":"1","Statement":[{"Effect":"Allow","Action":"ecs:*"}]}`,
		"unknown operator": `{"Version":"1","Statement":[{"Effect":"Allow","Action":"ecs:*","Resource":"*","Condition":{"StringEqual":{"a":"b"}}}]}`,
		"unknown field":    `{"Version":"1","Statement":[{"Effect":"Allow","Action":"ecs:*","Resource":"*","Principal":"x"}]}`,
		"bare action":      `{"Version":"1","Statement":[{"Effect":"Allow","Action":"DeleteImage","Resource":"*"}]}`,
	} {
		if _, err := ParseDocument(text); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
