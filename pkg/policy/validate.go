package policy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Problem is one thing wrong with a policy: the field path (JSON/YAML names, zero-based
// indexes) and why.
type Problem struct {
	Field  string
	Reason string
}

func (p Problem) String() string { return p.Field + ": " + p.Reason }

// ValidationError lists every problem of a policy, not just the first, so one edit fixes
// them all.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	if len(e.Problems) == 1 {
		b.WriteString("invalid policy: ")
	} else {
		fmt.Fprintf(&b, "invalid policy (%d problems): ", len(e.Problems))
	}
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// MaxImageTags is the ECS limit of tags per image; ReservedTagCount is how many of them the
// policy itself needs (TagManagedBy … TagDataTime, one of TagPending or TagFailureRecorded).
// TagBucket comes on top where the policy's own tags leave room (BucketTags).
const (
	MaxImageTags     = 20
	ReservedTagCount = 10
	reservedPrefix   = "ecs-dr:"
	maxConcurrency   = 32
)

// knownRegions are the public ECS region ids. A typo such as "cn-hangzhuo" would otherwise
// only show up as a failing CopyImage at 02:00.
var knownRegions = map[string]bool{}

func init() {
	for _, r := range []string{
		"cn-qingdao", "cn-beijing", "cn-zhangjiakou", "cn-huhehaote", "cn-wulanchabu",
		"cn-hangzhou", "cn-shanghai", "cn-nanjing", "cn-fuzhou", "cn-shenzhen", "cn-heyuan",
		"cn-guangzhou", "cn-chengdu", "cn-wuhan-lr", "cn-zhengzhou-jva", "cn-hongkong",
		"cn-hangzhou-finance", "cn-shanghai-finance-1", "cn-shenzhen-finance-1", "cn-beijing-finance-1",
		"ap-northeast-1", "ap-northeast-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
		"ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ap-south-1",
		"us-east-1", "us-west-1", "eu-west-1", "eu-central-1", "me-east-1", "me-central-1", "na-south-1",
	} {
		knownRegions[r] = true
	}
}

// ValidRegion reports whether id is a known public ECS region id.
func ValidRegion(id string) bool { return knownRegions[id] }

var (
	policyNameRe = regexp.MustCompile(`^[A-Za-z0-9_-]{2,64}$`)
	instanceIDRe = regexp.MustCompile(`^i-[A-Za-z0-9-]{1,64}$`)
	bucketRe     = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)
	placeholder  = regexp.MustCompile(`\{[^{}]*\}`)
)

var placeholders = map[string]bool{
	"{policy}": true, "{instanceId}": true, "{instanceName}": true, "{region}": true,
	"{slot}": true, "{date}": true, "{time}": true,
}

// Validate checks the whole policy and returns a *ValidationError listing every problem,
// or nil. Empty Timezone, SlotInterval, Template and Concurrency count as their defaults.
func (p *Policy) Validate() error {
	v := &validator{}
	p.validateName(v)
	p.validateSchedule(v)
	sourceRegions := p.validateSources(v)
	p.validateDestinations(v, sourceRegions)
	p.validateTemplate(v)
	p.validateRDS(v)
	validateTags(v, "tags", p.Tags)
	if n := len(p.Tags) + ReservedTagCount; n > MaxImageTags {
		v.add("tags", "%d tags plus the %d the policy adds make %d, over the ECS limit of %d per image",
			len(p.Tags), ReservedTagCount, n, MaxImageTags)
	}
	validateRule(v, "retention.source", p.Retention.Source)
	usesDefault := false
	for _, d := range p.Destinations {
		usesDefault = usesDefault || d.Retention == nil
	}
	if usesDefault || len(p.Destinations) == 0 {
		validateRule(v, "retention.destination", p.Retention.Destination)
	}
	p.validateRestore(v)
	if p.Concurrency < 0 || p.Concurrency > maxConcurrency {
		v.add("concurrency", "%d is out of range 1..%d", p.Concurrency, maxConcurrency)
	}
	p.validateRateLimits(v)
	if len(v.problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: v.problems}
}

type validator struct{ problems []Problem }

func (v *validator) add(field, format string, args ...any) {
	v.problems = append(v.problems, Problem{Field: field, Reason: fmt.Sprintf(format, args...)})
}

func (p *Policy) validateName(v *validator) {
	switch {
	case p.Name == "":
		v.add("name", "is required")
	case !policyNameRe.MatchString(p.Name):
		v.add("name", "%q must be 2-64 characters of letters, digits, '-' and '_'", p.Name)
	}
}

func (p *Policy) validateSchedule(v *validator) {
	if p.Timezone == "Local" {
		v.add("timezone", `"Local" depends on the machine; name an IANA time zone such as "Asia/Shanghai"`)
	} else if _, err := loadLocation(p.Timezone); err != nil {
		v.add("timezone", "%q is not a valid IANA time zone", p.Timezone)
	}
	if p.SlotInterval == "" {
		return
	}
	d, err := time.ParseDuration(p.SlotInterval)
	switch {
	case err != nil:
		v.add("slotInterval", "%q is not a duration such as \"24h\" or \"6h\"", p.SlotInterval)
	case d < time.Hour:
		v.add("slotInterval", "%q is shorter than 1h", p.SlotInterval)
	case (24*time.Hour)%d != 0:
		v.add("slotInterval", "%q does not divide 24h", p.SlotInterval)
	}
}

// validateSources returns the set of valid source regions, for the destination checks.
func (p *Policy) validateSources(v *validator) map[string]bool {
	seen := map[string]int{}
	if len(p.Sources) == 0 {
		v.add("sources", "at least one source region is required")
	}
	for i, s := range p.Sources {
		path := fmt.Sprintf("sources[%d]", i)
		validateListedRegion(v, "sources", i, s.Region, seen)
		if len(s.InstanceIDs) == 0 && len(s.Selectors) == 0 {
			v.add(path, "selects nothing (set instanceIds or selectors)")
		}
		validateInstanceIDs(v, path+".instanceIds", s.InstanceIDs)
		for j, sel := range s.Selectors {
			sp := fmt.Sprintf("%s.selectors[%d]", path, j)
			if len(sel) == 0 {
				v.add(sp, "selector has no tags (it would match every instance in the region)")
			}
			for _, k := range sortedKeys(sel) {
				if k == "" {
					v.add(sp, "tag key is empty")
				}
			}
		}
		validateInstanceIDs(v, path+".exclude.instanceIds", s.Exclude.InstanceIDs)
		for _, k := range sortedKeys(s.Exclude.Tags) {
			if k == "" {
				v.add(path+".exclude.tags", "tag key is empty")
			}
		}
	}
	regions := map[string]bool{}
	for r := range seen {
		regions[r] = true
	}
	return regions
}

func (p *Policy) validateDestinations(v *validator, sources map[string]bool) {
	if len(p.Destinations) == 0 {
		v.add("destinations", "at least one DR region is required")
	}
	seen := map[string]int{}
	for i, d := range p.Destinations {
		path := fmt.Sprintf("destinations[%d]", i)
		validateListedRegion(v, "destinations", i, d.Region, seen)
		if d.Region != "" && sources[d.Region] {
			v.add(path+".region", "%q is also a source region (a copy in the same region is no DR)", d.Region)
		}
		if d.KMSKeyID != "" && !d.Encrypted {
			v.add(path+".kmsKeyId", "set but encrypted is false")
		}
		if d.Backfill < 0 {
			v.add(path+".backfill", "must not be negative (0 or 1: only the newest image)")
		}
		if d.Retention != nil {
			validateRule(v, path+".retention", *d.Retention)
		}
		switch b := p.bucketOf(d); {
		case d.CatalogBucket != "":
			if !bucketRe.MatchString(b) {
				v.add(path+".catalogBucket", "%q is not a valid OSS bucket name (3-63 of a-z, 0-9, '-')", b)
			}
		case policyNameRe.MatchString(p.Name) && ValidRegion(d.Region) && !bucketRe.MatchString(b):
			// Only when name and region are fine: otherwise that problem is already named.
			v.add(path+".catalogBucket", "the default %q is not a valid OSS bucket name; set catalogBucket or use a short lower-case policy name", b)
		}
	}
}

func (p *Policy) validateTemplate(v *validator) {
	t := p.Naming.Template
	if t == "" {
		return // default
	}
	if strings.Count(t, "{") != strings.Count(t, "}") || len(placeholder.FindAllString(t, -1)) != strings.Count(t, "{") {
		v.add("naming.template", "%q has unbalanced braces", t)
	}
	for _, ph := range placeholder.FindAllString(t, -1) {
		if !placeholders[ph] {
			v.add("naming.template", "unknown placeholder %s (known: {policy} {instanceId} {instanceName} {region} {slot} {date} {time})", ph)
		}
	}
	for _, must := range []string{"{instanceId}", "{slot}"} {
		if !strings.Contains(t, must) {
			v.add("naming.template", "must contain %s so every instance and slot gets its own name", must)
		}
	}
}

// validateListedRegion checks list[i].region: set, a known region, and not listed before
// in the same list (seen maps each region to the index that first listed it).
func validateListedRegion(v *validator, list string, i int, region string, seen map[string]int) {
	field := fmt.Sprintf("%s[%d].region", list, i)
	switch {
	case region == "":
		v.add(field, "is required")
		return
	case !ValidRegion(region):
		v.add(field, "%q is not a valid region id", region)
	}
	if j, dup := seen[region]; dup {
		v.add(field, "%q duplicates %s[%d].region", region, list, j)
	} else {
		seen[region] = i
	}
}

func validateInstanceIDs(v *validator, field string, ids []string) {
	seen := map[string]bool{}
	for i, id := range ids {
		f := fmt.Sprintf("%s[%d]", field, i)
		if !instanceIDRe.MatchString(id) {
			v.add(f, "%q is not an instance id (i-…)", id)
		}
		if seen[id] {
			v.add(f, "%q is listed twice", id)
		}
		seen[id] = true
	}
}

// validateTags applies the ECS tag rules (wire-protocols.md §2) and keeps our own prefix
// for the policy's tags.
func validateTags(v *validator, field string, tags map[string]string) {
	for _, k := range sortedKeys(tags) {
		val := tags[k]
		f := field + "." + k
		lk := strings.ToLower(k)
		switch {
		case k == "":
			v.add(field, "tag key is empty")
		case len([]rune(k)) > 128:
			v.add(f, "tag key is longer than 128 characters")
		case strings.HasPrefix(lk, "aliyun") || strings.HasPrefix(lk, "acs:"):
			v.add(f, "tag key must not start with \"aliyun\" or \"acs:\" (ECS refuses it)")
		case strings.Contains(lk, "http://") || strings.Contains(lk, "https://"):
			v.add(f, "tag key must not contain \"http://\" or \"https://\" (ECS refuses it)")
		case strings.HasPrefix(lk, reservedPrefix):
			v.add(f, "tag keys starting with %q are reserved for the policy's own tags", reservedPrefix)
		}
		switch {
		case len([]rune(val)) > 128:
			v.add(f, "tag value is longer than 128 characters")
		case strings.HasPrefix(strings.ToLower(val), "acs:"):
			v.add(f, "tag value must not start with \"acs:\" (ECS refuses it)")
		}
	}
}

func validateRule(v *validator, field string, r RetentionRule) {
	counts := []struct {
		name string
		n    int
	}{{"keepLast", r.KeepLast}, {"keepDays", r.KeepDays}, {"daily", r.Daily}, {"weekly", r.Weekly}, {"monthly", r.Monthly}}
	keeps := false
	for _, c := range counts {
		if c.n < 0 {
			v.add(field+"."+c.name, "must not be negative (got %d)", c.n)
		}
		keeps = keeps || c.n > 0
	}
	if !keeps {
		v.add(field, "no rule keeps anything (set keepLast, keepDays, daily, weekly or monthly)")
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
