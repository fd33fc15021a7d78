package policy

import (
	"math"
	"slices"
	"sort"
)

// RateLimitActions are the ECS actions rateLimits may name (ecsx.Actions; a test keeps
// the two in step).
var RateLimitActions = []string{"DescribeInstances", "DescribeImages", "CreateImage", "CopyImage", "DeleteImage", "DeleteSnapshot",
	"DescribeSnapshots", "TagResources", "UntagResources"}

// Actions left out of rateLimits take the defaults of ecsx.DefaultLimits (documented
// there and in the README): 20 calls/s per region for CreateImage, DeleteImage,
// DeleteSnapshot and the Describe calls, 10 for CopyImage.

const maxRateLimit = 1000

func (p *Policy) validateRateLimits(v *validator) {
	keys := make([]string, 0, len(p.RateLimits))
	for k := range p.RateLimits {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		r := p.RateLimits[k]
		switch {
		case !slices.Contains(RateLimitActions, k):
			v.add("rateLimits."+k, "unknown action; want one of %v", RateLimitActions)
		case math.IsNaN(r) || r <= 0 || r > maxRateLimit:
			v.add("rateLimits."+k, "%g calls/s is out of range (0, %d]", r, maxRateLimit)
		}
	}
}
