package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const validYAML = `
name: prod
timezone: Asia/Shanghai
sources:
  - region: cn-hangzhou
    instanceIds: [i-bp1aaa, i-bp1bbb]
    selectors:
      - {env: prod, backup: "*"}
    exclude:
      instanceIds: [i-bp1zzz]
      tags: {backup: "off"}
destinations:
  - region: cn-shanghai
    encrypted: true
    kmsKeyId: key-123
  - region: ap-southeast-1
    retention: {keepLast: 2}
tags:
  team: infra
retention:
  source: {keepLast: 3, daily: 7}
  destination: {keepDays: 14, weekly: 4, monthly: 6}
`

const validJSON = `{
	"name": "prod",
	"timezone": "Asia/Shanghai",
	"sources": [{
		"region": "cn-hangzhou",
		"instanceIds": ["i-bp1aaa", "i-bp1bbb"],
		"selectors": [{"env": "prod", "backup": "*"}],
		"exclude": {"instanceIds": ["i-bp1zzz"], "tags": {"backup": "off"}}
	}],
	"destinations": [
		{"region": "cn-shanghai", "encrypted": true, "kmsKeyId": "key-123"},
		{"region": "ap-southeast-1", "retention": {"keepLast": 2}}
	],
	"tags": {"team": "infra"},
	"retention": {
		"source": {"keepLast": 3, "daily": 7},
		"destination": {"keepDays": 14, "weekly": 4, "monthly": 6}
	}
}`

func mustParse(t *testing.T, doc string) *Policy {
	t.Helper()
	p, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

func TestParseYAMLJSONParityAndDefaults(t *testing.T) {
	t.Parallel()
	y := mustParse(t, validYAML)
	j := mustParse(t, validJSON) // tab-indented JSON must go through the YAML parser
	if !reflect.DeepEqual(y, j) {
		t.Fatalf("YAML and JSON differ:\n%+v\n%+v", y, j)
	}
	if y.SlotInterval != "24h" || y.Naming.Template != "dr-{instanceId}-{slot}" || y.Concurrency != 4 {
		t.Errorf("defaults not applied: %+v", y)
	}
	if y.Timezone != "Asia/Shanghai" || y.Location().String() != "Asia/Shanghai" {
		t.Errorf("timezone = %q / %v", y.Timezone, y.Location())
	}
	// Round trip: the policy marshalled as JSON parses back to itself.
	b, err := json.Marshal(y)
	if err != nil {
		t.Fatal(err)
	}
	if back := mustParse(t, string(b)); !reflect.DeepEqual(back, y) {
		t.Errorf("JSON round trip differs:\n%+v\n%+v", back, y)
	}
	minimal := mustParse(t, `{"name":"p1","sources":[{"region":"cn-hangzhou","instanceIds":["i-1"]}],
		"destinations":[{"region":"cn-beijing"}],"retention":{"source":{"keepLast":1},"destination":{"keepLast":1}}}`)
	if minimal.Timezone != "UTC" || minimal.Location() != time.UTC {
		t.Errorf("default timezone = %q", minimal.Timezone)
	}
}

func TestParseRejectsUnknownFieldsWithPath(t *testing.T) {
	t.Parallel()
	doc := strings.Replace(validYAML, "    exclude:\n", "    exclud:\n", 1)
	doc = strings.Replace(doc, "source: {keepLast: 3", "source: {keeplast: 3", 1)
	doc += "dryrun: true\n"
	_, err := Parse([]byte(doc))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want *ValidationError, got %v", err)
	}
	want := []string{"sources[0].exclud", "retention.source.keeplast", "dryrun"}
	var got []string
	for _, p := range ve.Problems {
		got = append(got, p.Field)
		if !strings.HasPrefix(p.Reason, "unknown field (line ") {
			t.Errorf("%s: reason %q", p.Field, p.Reason)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("unknown fields = %v, want %v", got, want)
	}
	// Same for JSON.
	_, err = Parse([]byte(strings.Replace(validJSON, `"kmsKeyId"`, `"kmsKey"`, 1)))
	if !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Field != "destinations[0].kmsKey" {
		t.Errorf("JSON unknown field: %v", err)
	}
}

func TestParseMalformed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, doc, want string }{
		{"empty", "  \n", "document is empty"},
		{"list", "- a\n- b\n", "must be a mapping"},
		{"scalar", "hello", "must be a mapping"},
		{"bad yaml", "name: [unclosed", "parse policy"},
		{"bad json", `{"name": "x",}`, "parse policy: invalid JSON at byte 14"},
		{"wrong type", "name: p\nconcurrency: lots\n", "cannot unmarshal"},
		{"duplicate key", "name: a\nname: b\n", "already defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func problemSet(t *testing.T, err error) map[string]bool {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want *ValidationError, got %v", err)
	}
	set := map[string]bool{}
	for _, p := range ve.Problems {
		set[p.String()] = true
	}
	return set
}

// Every problem is reported at once, each with its field path.
func TestValidateListsEveryProblem(t *testing.T) {
	t.Parallel()
	doc := `
name: "x!"
timezone: Mars/Olympus
slotInterval: 7h
sources:
  - region: cn-hangzhou
    instanceIds: [i-aaa, i-aaa, vm-1]
  - region: cn-hangzhuo
    selectors: [{}]
  - region: cn-hangzhou
destinations:
  - region: cn-hangzhou
    kmsKeyId: k1
  - region: cn-shanghai
    retention: {keepLast: -1}
  - region: cn-shanghai
    catalogBucket: Bad_Bucket
naming:
  template: "{policy}-{instanceid}"
tags:
  aliyun-x: v
  ecs-dr:policy: v
  ok: "acs:x"
retention:
  source: {}
  destination: {daily: -2}
concurrency: 33
`
	_, err := Parse([]byte(doc))
	got := problemSet(t, err)
	want := []string{
		`name: "x!" must be 2-64 characters of letters, digits, '-' and '_'`,
		`timezone: "Mars/Olympus" is not a valid IANA time zone`,
		`slotInterval: "7h" does not divide 24h`,
		`sources[0].instanceIds[1]: "i-aaa" is listed twice`,
		`sources[0].instanceIds[2]: "vm-1" is not an instance id (i-…)`,
		`sources[1].region: "cn-hangzhuo" is not a valid region id`,
		`sources[1].selectors[0]: selector has no tags (it would match every instance in the region)`,
		`sources[2].region: "cn-hangzhou" duplicates sources[0].region`,
		`sources[2]: selects nothing (set instanceIds or selectors)`,
		`destinations[0].region: "cn-hangzhou" is also a source region (a copy in the same region is no DR)`,
		`destinations[0].kmsKeyId: set but encrypted is false`,
		`destinations[1].retention.keepLast: must not be negative (got -1)`,
		`destinations[1].retention: no rule keeps anything (set keepLast, keepDays, daily, weekly or monthly)`,
		`destinations[2].region: "cn-shanghai" duplicates destinations[1].region`,
		`destinations[2].catalogBucket: "Bad_Bucket" is not a valid OSS bucket name (3-63 of a-z, 0-9, '-')`,
		`naming.template: unknown placeholder {instanceid} (known: {policy} {instanceId} {instanceName} {region} {slot} {date} {time})`,
		`naming.template: must contain {instanceId} so every instance and slot gets its own name`,
		`naming.template: must contain {slot} so every instance and slot gets its own name`,
		`tags.aliyun-x: tag key must not start with "aliyun" or "acs:" (ECS refuses it)`,
		`tags.ecs-dr:policy: tag keys starting with "ecs-dr:" are reserved for the policy's own tags`,
		`tags.ok: tag value must not start with "acs:" (ECS refuses it)`,
		`retention.source: no rule keeps anything (set keepLast, keepDays, daily, weekly or monthly)`,
		`retention.destination.daily: must not be negative (got -2)`,
		`retention.destination: no rule keeps anything (set keepLast, keepDays, daily, weekly or monthly)`,
		`concurrency: 33 is out of range 1..32`,
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("missing problem %s", w)
		}
		delete(got, w)
	}
	for extra := range got {
		t.Errorf("unexpected problem %s", extra)
	}
	if err != nil && !strings.HasPrefix(err.Error(), fmt.Sprintf("invalid policy (%d problems): ", len(want))) {
		t.Errorf("Error() = %q", err.Error())
	}
}

// One mutation of a valid policy yields exactly one named problem.
func TestValidateSingleProblems(t *testing.T) {
	t.Parallel()
	manyTags := map[string]string{}
	for i := range 14 {
		manyTags[fmt.Sprintf("k%02d", i)] = "v"
	}
	for _, tc := range []struct {
		name   string
		mutate func(p *Policy)
		want   string // Problem.String()
	}{
		{"no name", func(p *Policy) { p.Name = "" }, "name: is required"},
		{"local tz", func(p *Policy) { p.Timezone = "Local" }, `timezone: "Local" depends on the machine; name an IANA time zone such as "Asia/Shanghai"`},
		{"slot too short", func(p *Policy) { p.SlotInterval = "30m" }, `slotInterval: "30m" is shorter than 1h`},
		{"slot not duration", func(p *Policy) { p.SlotInterval = "daily" }, `slotInterval: "daily" is not a duration such as "24h" or "6h"`},
		{"slot 48h", func(p *Policy) { p.SlotInterval = "48h" }, `slotInterval: "48h" does not divide 24h`},
		{"no sources", func(p *Policy) { p.Sources = nil }, "sources: at least one source region is required"},
		{"no destinations", func(p *Policy) { p.Destinations = nil }, "destinations: at least one DR region is required"},
		{"empty region", func(p *Policy) { p.Destinations[1].Region = "" }, "destinations[1].region: is required"},
		{"too many tags", func(p *Policy) { p.Tags = manyTags }, "tags: 14 tags plus the 10 the policy adds make 24, over the ECS limit of 20 per image"},
		{"long tag key", func(p *Policy) { p.Tags = map[string]string{strings.Repeat("k", 129): "v"} }, "tags." + strings.Repeat("k", 129) + ": tag key is longer than 128 characters"},
		{"long tag value", func(p *Policy) { p.Tags = map[string]string{"k": strings.Repeat("v", 129)} }, "tags.k: tag value is longer than 128 characters"},
		{"acs tag key", func(p *Policy) { p.Tags = map[string]string{"ACS:x": "v"} }, `tags.ACS:x: tag key must not start with "aliyun" or "acs:" (ECS refuses it)`},
		{"http tag key", func(p *Policy) { p.Tags = map[string]string{"see-http://x": "v"} }, `tags.see-http://x: tag key must not contain "http://" or "https://" (ECS refuses it)`},
		{"empty selector key", func(p *Policy) { p.Sources[0].Selectors = []map[string]string{{"": "x"}} }, "sources[0].selectors[0]: tag key is empty"},
		{"bad exclude id", func(p *Policy) { p.Sources[0].Exclude.InstanceIDs = []string{""} }, `sources[0].exclude.instanceIds[0]: "" is not an instance id (i-…)`},
		{"negative keepDays", func(p *Policy) { p.Retention.Source.KeepDays = -1 }, "retention.source.keepDays: must not be negative (got -1)"},
		{"concurrency negative", func(p *Policy) { p.Concurrency = -1 }, "concurrency: -1 is out of range 1..32"},
		{"unbalanced", func(p *Policy) { p.Naming.Template = "{instanceId}-{slot}}" }, `naming.template: "{instanceId}-{slot}}" has unbalanced braces`},
		{"default bucket", func(p *Policy) { p.Name = "Prod_1" }, `destinations[0].catalogBucket: the default "prod_1-dr-catalog-cn-shanghai" is not a valid OSS bucket name; set catalogBucket or use a short lower-case policy name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := mustParse(t, validYAML)
			tc.mutate(p)
			got := problemSet(t, p.Validate())
			if !got[tc.want] {
				t.Errorf("missing %q in %v", tc.want, got)
			}
			// "default bucket" names both destinations; everything else is one problem.
			if len(got) != 1 && tc.name != "default bucket" {
				t.Errorf("want exactly one problem, got %v", got)
			}
		})
	}
}

func TestValidateAcceptsEdgeValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		mutate func(p *Policy)
	}{
		{"10 tags", func(p *Policy) {
			p.Tags = map[string]string{}
			for i := range 10 {
				p.Tags[fmt.Sprintf("k%d", i)] = ""
			}
		}},
		{"90m slots", func(p *Policy) { p.SlotInterval = "90m" }},
		{"1h slots", func(p *Policy) { p.SlotInterval = "1h" }},
		{"all placeholders", func(p *Policy) {
			p.Naming.Template = "{policy}-{instanceName}-{region}-{date}-{time}-{instanceId}-{slot}"
		}},
		{"dest only overrides", func(p *Policy) {
			p.Retention.Destination = RetentionRule{}
			p.Destinations[0].Retention = &RetentionRule{Monthly: 1}
		}},
		{"selectors only", func(p *Policy) { p.Sources[0].InstanceIDs = nil }},
		{"encrypted without key", func(p *Policy) { p.Destinations[0].KMSKeyID = "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := mustParse(t, validYAML)
			tc.mutate(p)
			if err := p.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestSlot(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		tz, interval, at, want string
	}{
		{"UTC", "24h", "2026-11-23T23:59:59Z", "20261123"},
		{"UTC", "24h", "2026-11-24T00:00:00Z", "20261124"},
		{"Asia/Shanghai", "24h", "2026-11-23T15:59:59Z", "20261123"},
		{"Asia/Shanghai", "24h", "2026-11-23T23:30:00Z", "20261124"}, // next day in Shanghai
		{"Asia/Shanghai", "6h", "2026-11-23T19:00:00Z", "20261124T0000"},
		{"Asia/Shanghai", "6h", "2026-11-23T17:59:59Z", "20261124T0000"},
		{"UTC", "1h", "2026-11-23T02:59:59Z", "20261123T0200"},
		{"UTC", "90m", "2026-11-23T02:59:59Z", "20261123T0130"},
		{"UTC", "12h", "2026-12-31T12:00:00Z", "20261231T1200"},
		{"America/New_York", "24h", "2027-01-01T03:00:00Z", "20261231"},
	} {
		t.Run(tc.tz+"/"+tc.interval+"/"+tc.at, func(t *testing.T) {
			t.Parallel()
			p := &Policy{Timezone: tc.tz, SlotInterval: tc.interval}
			if got := p.Slot(at(tc.at)); got != tc.want {
				t.Errorf("Slot = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestImageName(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 200)
	for _, tc := range []struct {
		name, template, instanceName, want string
	}{
		{"default", "", "web", "dr-i-bp1aaa-20261123"},
		{"all placeholders", "{policy}.{region}.{instanceName}.{date}.{time}.{instanceId}.{slot}", "web 01/α", "prod.cn-hangzhou.web-01--.20261123.0000.i-bp1aaa.20261123"},
		{"starts with digit", "{date}-{instanceId}-{slot}", "", "dr-20261123-i-bp1aaa-20261123"},
		{"aliyun prefix", "Aliyun-{instanceId}-{slot}", "", "dr-Aliyun-i-bp1aaa-20261123"},
		{"acs prefix", "acs:{instanceId}-{slot}", "", "dr-acs:i-bp1aaa-20261123"},
		{"url in name", "{instanceName}-{instanceId}-{slot}", "https://x", "https:--x-i-bp1aaa-20261123"},
		{"chinese", "{instanceName}-{instanceId}-{slot}", "数据库", "dr-----i-bp1aaa-20261123"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := &Policy{Name: "prod", Naming: Naming{Template: tc.template}}
			got := p.ImageName("i-bp1aaa", tc.instanceName, "cn-hangzhou", "20261123")
			if got != tc.want {
				t.Errorf("ImageName = %q, want %q", got, tc.want)
			}
			if err := ValidImageName(got); err != nil {
				t.Error(err)
			}
		})
	}
	// Truncation keeps names unique per instance and slot.
	p := &Policy{Name: "prod", Naming: Naming{Template: "{instanceName}-{instanceId}-{slot}"}}
	names := map[string]bool{}
	for _, id := range []string{"i-1", "i-2"} {
		for _, slot := range []string{"20261123", "20261124"} {
			n := p.ImageName(id, long, "cn-hangzhou", slot)
			if len(n) != 128 || ValidImageName(n) != nil {
				t.Errorf("truncated name %q (%d)", n, len(n))
			}
			names[n] = true
		}
	}
	if len(names) != 4 {
		t.Errorf("truncated names collide: %v", names)
	}
}

func TestValidImageName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"ab", true},
		{"a", false},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
		{"镜像-1", true},
		{"1abc", false},
		{"-abc", false},
		{"aliyun-x", false},
		{"ALIYUNx", false},
		{"acs:x", false},
		{"acsx", true},
		{"a b", false},
		{"a/b", false},
		{"xhttp://y", false},
		{"a.b:c_d-e", true},
	} {
		if err := ValidImageName(tc.name); (err == nil) != tc.ok {
			t.Errorf("ValidImageName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// FuzzImageName: whatever the template inputs, the name is valid, and it differs per slot.
// The seeds run as a normal test; `go test -fuzz FuzzImageName ./pkg/policy` explores more.
func FuzzImageName(f *testing.F) {
	for _, s := range [][4]string{
		{"{instanceName}-{instanceId}-{slot}", "i-bp1", "web", "20261123"},
		{"", "i-x", "", "20261123T0200"},
		{"aliyun{instanceId}{slot}", "i-x", "", "1"},
		{"{instanceName}{instanceId}{slot}", "", strings.Repeat("名", 300), "s"},
		{"{region}/{instanceId}/{slot}", "i-1", "a", "20260101"},
		{"https://{instanceId}{slot}", "i-1", "", ""},
		{"{instanceId}{slot}", "\x00\xff", "", "\n"},
		{"acs:{instanceId}{slot}", "i", "", "2"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, template, instanceID, instanceName, slot string) {
		p := &Policy{Name: "prod", Naming: Naming{Template: template}}
		n := p.ImageName(instanceID, instanceName, "cn-hangzhou", slot)
		if err := ValidImageName(n); err != nil {
			t.Fatalf("ImageName(%q,%q,%q,%q) = %q: %v", template, instanceID, instanceName, slot, n, err)
		}
		if p.ImageName(instanceID, instanceName, "cn-hangzhou", slot) != n {
			t.Fatal("ImageName is not deterministic")
		}
		if c := p.CopyName(n, "cn-shanghai"); c != n {
			t.Fatalf("CopyName(%q) = %q, want the valid source name unchanged", n, c)
		}
		if c := p.CopyName(instanceName, "cn-shanghai"); ValidImageName(c) != nil {
			t.Fatalf("CopyName(%q) = %q is invalid", instanceName, c)
		}
		if strings.Contains(template, "{slot}") && strings.Contains(template, "{instanceId}") {
			if other := p.ImageName(instanceID, instanceName, "cn-hangzhou", slot+"x"); other == n {
				t.Fatalf("slots %q and %q share the name %q", slot, slot+"x", n)
			}
		}
	})
}

func TestClientToken(t *testing.T) {
	t.Parallel()
	p := &Policy{Name: "prod"}
	q := &Policy{Name: "other"}
	tok := p.ClientToken("i-1", "20261123")
	seen := map[string]string{}
	for name, v := range map[string]string{
		"base":      tok,
		"instance":  p.ClientToken("i-2", "20261123"),
		"slot":      p.ClientToken("i-1", "20261124"),
		"policy":    q.ClientToken("i-1", "20261123"),
		"separator": p.ClientToken("i-12026", "1123"),
		"long":      p.ClientToken(strings.Repeat("i", 1000), strings.Repeat("名", 100)),
	} {
		if len(v) > 64 || v == "" {
			t.Errorf("%s: token %q has length %d", name, v, len(v))
		}
		for _, r := range v {
			if r > 127 {
				t.Errorf("%s: token %q is not ASCII", name, v)
			}
		}
		if other, dup := seen[v]; dup {
			t.Errorf("%s and %s share token %q", name, other, v)
		}
		seen[v] = name
	}
	if again := (&Policy{Name: "prod"}).ClientToken("i-1", "20261123"); again != tok {
		t.Errorf("token not stable: %q vs %q", again, tok)
	}
}

func TestRegionsAndRules(t *testing.T) {
	t.Parallel()
	p := mustParse(t, validYAML)
	if got := p.SourceRegions(); !reflect.DeepEqual(got, []string{"cn-hangzhou"}) {
		t.Errorf("SourceRegions = %v", got)
	}
	if got := p.DestinationRegions(); !reflect.DeepEqual(got, []string{"cn-shanghai", "ap-southeast-1"}) {
		t.Errorf("DestinationRegions = %v", got)
	}
	for _, tc := range []struct {
		region string
		want   RetentionRule
		ok     bool
	}{
		{"cn-hangzhou", RetentionRule{KeepLast: 3, Daily: 7}, true},
		{"cn-shanghai", RetentionRule{KeepDays: 14, Weekly: 4, Monthly: 6}, true},
		{"ap-southeast-1", RetentionRule{KeepLast: 2}, true},
		{"cn-beijing", RetentionRule{}, false},
	} {
		got, ok := p.RuleFor(tc.region)
		if got != tc.want || ok != tc.ok {
			t.Errorf("RuleFor(%s) = %+v,%v want %+v,%v", tc.region, got, ok, tc.want, tc.ok)
		}
	}
	if b := p.CatalogBucket("cn-shanghai"); b != "prod-dr-catalog-cn-shanghai" {
		t.Errorf("CatalogBucket = %q", b)
	}
	p.Destinations[0].CatalogBucket = "my-bucket"
	if b := p.CatalogBucket("cn-shanghai"); b != "my-bucket" {
		t.Errorf("CatalogBucket override = %q", b)
	}
}

func TestSelects(t *testing.T) {
	t.Parallel()
	p := mustParse(t, validYAML)
	p.Sources[0].Selectors = append(p.Sources[0].Selectors, map[string]string{"tier": "db"})
	for _, tc := range []struct {
		name, region, id string
		tags             map[string]string
		want             bool
		reason           string
	}{
		{"listed", "cn-hangzhou", "i-bp1aaa", nil, true, "instance id listed"},
		{"selector 1", "cn-hangzhou", "i-x", map[string]string{"env": "prod", "backup": "yes"}, true, "selector 1 matched"},
		{"selector AND fails", "cn-hangzhou", "i-x", map[string]string{"env": "prod"}, false, "not selected"},
		{"wildcard needs key", "cn-hangzhou", "i-x", map[string]string{"env": "prod", "other": "x"}, false, "not selected"},
		{"selector 2", "cn-hangzhou", "i-x", map[string]string{"tier": "db"}, true, "selector 2 matched"},
		{"value mismatch", "cn-hangzhou", "i-x", map[string]string{"tier": "web"}, false, "not selected"},
		{"exclude id wins", "cn-hangzhou", "i-bp1zzz", map[string]string{"tier": "db"}, false, "excluded by instance id"},
		{"exclude tag wins over id", "cn-hangzhou", "i-bp1aaa", map[string]string{"backup": "off"}, false, "excluded by tag backup=off"},
		{"other region", "cn-shanghai", "i-bp1aaa", nil, false, "region not in policy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, reason := p.Selects(tc.region, tc.id, tc.tags)
			if got != tc.want || reason != tc.reason {
				t.Errorf("Selects = %v %q, want %v %q", got, reason, tc.want, tc.reason)
			}
		})
	}
	// An empty selector (refused by Validate) never matches everything.
	q := &Policy{Sources: []Source{{Region: "cn-hangzhou", Selectors: []map[string]string{{}}}}}
	if ok, _ := q.Selects("cn-hangzhou", "i-1", map[string]string{"a": "b"}); ok {
		t.Error("empty selector matched")
	}
}

func TestManagedTags(t *testing.T) {
	t.Parallel()
	p := &Policy{Name: "prod", Tags: map[string]string{"team": "infra", "cost": "a"}}
	got := p.ManagedTags(map[string]string{TagSlot: "20261123", "cost": "b", TagPolicy: "forged"})
	want := map[string]string{
		"team": "infra", "cost": "b", TagSlot: "20261123",
		TagManagedBy: ManagedByValue, TagPolicy: "prod",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ManagedTags = %v, want %v", got, want)
	}
	if p.Tags["cost"] != "a" {
		t.Error("ManagedTags modified p.Tags")
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(file, []byte(validYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("name: p\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	want := mustParse(t, validYAML)
	// fetch answers only the whole oss:// URL, which is what Load must hand it.
	fetch := func(_ context.Context, url string) ([]byte, error) {
		switch url {
		case "oss://cfg/dr/policy.json":
			return []byte(validJSON), nil
		case "oss://cfg/broken.yaml":
			return []byte("name: ["), nil
		}
		return nil, errors.New("NoSuchKey")
	}
	for _, tc := range []struct {
		name, value string
		fetch       func(context.Context, string) ([]byte, error)
		wantErr     string
	}{
		{"inline yaml", validYAML, fetch, ""},
		{"inline json", strings.ReplaceAll(validJSON, "\n", " "), fetch, ""},
		{"file", "  " + file + "\n", fetch, ""},
		{"oss", "oss://cfg/dr/policy.json", fetch, ""},
		{"oss missing", "oss://cfg/nope.yaml", fetch, "load policy from oss://cfg/nope.yaml: NoSuchKey"},
		{"oss broken", "oss://cfg/broken.yaml", fetch, "load policy from oss://cfg/broken.yaml: parse policy"},
		{"oss no key", "oss://cfg", fetch, "is not an oss://bucket/key url"},
		{"oss dir", "oss://cfg/dir/", fetch, "is not an oss://bucket/key url"},
		{"oss no fetcher", "oss://cfg/dr/policy.json", nil, "no oss fetcher configured"},
		{"missing file", filepath.Join(dir, "nope.yaml"), fetch, "no such file"},
		{"invalid file", bad, fetch, "load policy from " + bad + ": invalid policy"},
		{"empty", "   ", fetch, "value is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := Load(context.Background(), tc.value, tc.fetch)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p, want) {
				t.Errorf("Load = %+v, want %+v", p, want)
			}
		})
	}
}
