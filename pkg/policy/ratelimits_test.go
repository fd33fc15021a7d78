package policy

import (
	"errors"
	"slices"
	"testing"
)

func TestRateLimitsValidation(t *testing.T) {
	t.Parallel()
	p := validPolicyForRateLimits(t)
	p.RateLimits = map[string]float64{"CreateImage": 40, "RunInstances": 5, "CopyImage": 0, "DeleteImage": -1}
	err := p.Validate()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v", err)
	}
	var fields []string
	for _, pr := range ve.Problems {
		fields = append(fields, pr.Field)
	}
	if want := []string{"rateLimits.CopyImage", "rateLimits.DeleteImage", "rateLimits.RunInstances"}; !slices.Equal(fields, want) {
		t.Fatalf("problems %v, want %v", ve.Problems, want)
	}
	p.RateLimits = map[string]float64{"CreateImage": 40}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
}

func validPolicyForRateLimits(t *testing.T) *Policy {
	t.Helper()
	p := &Policy{Name: "prod", Sources: []Source{{Region: "cn-hangzhou", InstanceIDs: []string{"i-1"}}},
		Destinations: []Destination{{Region: "cn-shanghai"}}, Retention: Retention{Source: RetentionRule{KeepLast: 1}, Destination: RetentionRule{KeepLast: 1}}}
	p.ApplyDefaults()
	return p
}
