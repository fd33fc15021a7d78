package policy

import (
	"fmt"
	"slices"
	"strings"
)

// RuleFor is the retention rule of a region: Retention.Source in source regions, the
// destination's own Retention or else Retention.Destination in destination regions, and
// false for a region the policy does not know (cleanup must delete nothing there).
func (p *Policy) RuleFor(region string) (RetentionRule, bool) {
	for _, s := range p.Sources {
		if s.Region == region {
			return p.Retention.Source, true
		}
	}
	for _, d := range p.Destinations {
		if d.Region == region {
			if d.Retention != nil {
				return *d.Retention, true
			}
			return p.Retention.Destination, true
		}
	}
	return RetentionRule{}, false
}

// SourceRegions are the source regions in document order.
func (p *Policy) SourceRegions() []string {
	out := make([]string, 0, len(p.Sources))
	for _, s := range p.Sources {
		out = append(out, s.Region)
	}
	return out
}

// DestinationRegions are the destination regions in document order.
func (p *Policy) DestinationRegions() []string {
	out := make([]string, 0, len(p.Destinations))
	for _, d := range p.Destinations {
		out = append(out, d.Region)
	}
	return out
}

// Destination returns the destination entry of region.
func (p *Policy) Destination(region string) (Destination, bool) {
	for _, d := range p.Destinations {
		if d.Region == region {
			return d, true
		}
	}
	return Destination{}, false
}

// CatalogBucket is the DR catalog bucket of a destination region: its CatalogBucket, or
// "<policy name>-dr-catalog-<region>" lower-cased.
func (p *Policy) CatalogBucket(region string) string {
	d, ok := p.Destination(region)
	if !ok {
		d = Destination{Region: region}
	}
	return p.bucketOf(d)
}

func (p *Policy) bucketOf(d Destination) string {
	if d.CatalogBucket != "" {
		return d.CatalogBucket
	}
	return strings.ToLower(p.Name + "-dr-catalog-" + d.Region)
}

// Selects says whether the instance is protected and why. Exclusions win; then an
// explicit instance id; then the first matching selector, numbered from 1 in the reason
// ("selector 2 matched" is sources[i].selectors[1]). Reasons: "region not in policy",
// "excluded by instance id", "excluded by tag env=dev", "instance id listed",
// "selector N matched", "not selected".
func (p *Policy) Selects(region, instanceID string, tags map[string]string) (bool, string) {
	i := slices.IndexFunc(p.Sources, func(s Source) bool { return s.Region == region })
	if i < 0 {
		return false, "region not in policy"
	}
	s := p.Sources[i]
	if slices.Contains(s.Exclude.InstanceIDs, instanceID) {
		return false, "excluded by instance id"
	}
	for _, k := range sortedKeys(s.Exclude.Tags) {
		if tagMatches(tags, k, s.Exclude.Tags[k]) {
			return false, fmt.Sprintf("excluded by tag %s=%s", k, tags[k])
		}
	}
	if slices.Contains(s.InstanceIDs, instanceID) {
		return true, "instance id listed"
	}
	for j, sel := range s.Selectors {
		if len(sel) == 0 {
			continue // refused by Validate; never "match everything"
		}
		all := true
		for k, want := range sel {
			all = all && tagMatches(tags, k, want)
		}
		if all {
			return true, fmt.Sprintf("selector %d matched", j+1)
		}
	}
	return false, "not selected"
}

func tagMatches(tags map[string]string, key, want string) bool {
	got, ok := tags[key]
	return ok && (want == "*" || got == want)
}

// ManagedTags are the tags of an image the policy makes: p.Tags, then extra (e.g.
// TagSourceInstance, TagSlot, TagRole), then TagManagedBy and TagPolicy, which always win
// because cleanup trusts them.
func (p *Policy) ManagedTags(extra map[string]string) map[string]string {
	out := make(map[string]string, len(p.Tags)+len(extra)+2)
	for k, v := range p.Tags {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	out[TagManagedBy] = ManagedByValue
	out[TagPolicy] = p.Name
	return out
}
