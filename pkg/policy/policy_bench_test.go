package policy_test

import (
	"os"
	"strings"
	"testing"

	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// BenchmarkParse parses and validates the shipped example policy, as every invocation does
// when DR_POLICY is inline or a file (Parse validates before it returns).
func BenchmarkParse(b *testing.B) {
	doc, err := os.ReadFile("../../events/policy.example.yaml")
	if err != nil {
		b.Fatalf("read example policy: %v", err)
	}
	p, err := policy.Parse(doc)
	if err != nil {
		b.Fatalf("parse example policy: %v", err)
	}
	if p.Name != "prod-web" || len(p.Sources) != 2 || len(p.Destinations) != 2 {
		b.Fatalf("example policy parsed as %q with %d sources, %d destinations", p.Name, len(p.Sources), len(p.Destinations))
	}
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		p, err = policy.Parse(doc)
	}
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkValidate is Validate alone on the parsed example (a policy loaded from OSS or
// built in code is validated again before use).
func BenchmarkValidate(b *testing.B) {
	doc, err := os.ReadFile("../../events/policy.example.yaml")
	if err != nil {
		b.Fatalf("read example policy: %v", err)
	}
	p, err := policy.Parse(doc)
	if err != nil {
		b.Fatalf("parse example policy: %v", err)
	}
	for b.Loop() {
		err = p.Validate()
	}
	if err != nil {
		b.Fatalf("validate: %v", err)
	}
}

// BenchmarkImageName renders one image name: the default template, the example's
// template, and a template whose rendering exceeds 128 characters (cut and hashed).
func BenchmarkImageName(b *testing.B) {
	const (
		inst = "i-bp1dr00000000000web1"
		slot = "20261124"
	)
	long := "{policy}-" + strings.Repeat("x", 120) + "-{instanceId}-{slot}"
	for _, tc := range []struct {
		name, template, want string
	}{
		{"default", "", "dr-i-bp1dr00000000000web1-20261124"},
		{"example", "{policy}-{instanceName}-{instanceId}-{slot}", "prod-web-web-1-i-bp1dr00000000000web1-20261124"},
		{"truncated", long, ""},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p := &policy.Policy{Name: "prod-web", Naming: policy.Naming{Template: tc.template}}
			got := p.ImageName(inst, "web 1", "cn-hangzhou", slot)
			if err := policy.ValidImageName(got); err != nil {
				b.Fatalf("ImageName gave an invalid name: %v", err)
			}
			switch {
			case tc.want != "" && got != tc.want:
				b.Fatalf("ImageName = %q, want %q", got, tc.want)
			case tc.want == "" && len(got) != 128:
				b.Fatalf("ImageName of a long template = %q (%d characters), want 128", got, len(got))
			}
			for b.Loop() {
				got = p.ImageName(inst, "web 1", "cn-hangzhou", slot)
			}
		})
	}
}
