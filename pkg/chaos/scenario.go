// Package chaos runs seeded "bad nights" against the product on the local cloud and checks
// the result from the cloud's own state: each scenario draws a fleet, a policy and a
// schedule of faults over several simulated days, drives the real function handlers (in
// process, or the real binaries under the local FC runtime), lets the timers run on
// until the system converges, then checks the invariants of check.go.
//
// The checker never asks the product what it did: it reads ECS, the catalog objects in
// OSS and the functions' log lines from the local cloud, audits every DeleteImage at the
// moment it reaches the cloud, and judges retention with its own model of the rules
// (model.go), not with pkg/retention.
package chaos

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// Fault kinds, as counted in the summary.
const (
	KindThrottle       = "throttle"
	KindError          = "5xx"
	KindLatency        = "latency"
	KindEventDuplicate = "event-duplicate"
	KindEventDrop      = "event-drop"
	KindEventDelay     = "event-delay"
	KindEventReorder   = "event-reorder"
	KindKill           = "kill"
	KindTimerTwice     = "timer-twice"
	KindTimerLate      = "timer-late"
	KindClockJump      = "clock-jump"
	KindDeleteImage    = "delete-image"
	KindDeleteSnapshot = "delete-snapshot"
	KindRetagHold      = "retag-hold"
	KindRetagUnmanaged = "retag-unmanaged"
	KindCreateFailed   = "create-failed"
	KindLaunch         = "launch-from-image"
)

// AllKinds lists every fault kind, in the order the summary prints them.
var AllKinds = []string{KindThrottle, KindError, KindLatency, KindEventDuplicate, KindEventDrop, KindEventDelay,
	KindEventReorder, KindKill, KindTimerTwice, KindTimerLate, KindClockJump, KindDeleteImage, KindDeleteSnapshot,
	KindRetagHold, KindRetagUnmanaged, KindCreateFailed, KindLaunch}

// TagHold is the operator's hold tag (policy.TagHold): an image carrying it with
// policy.HoldValue is never deleted.
const TagHold = policy.TagHold

// Fault is one scheduled fault.
type Fault struct {
	At   time.Time
	Kind string
	// Service/Action for cloud faults (throttle, 5xx, latency).
	Service, Action string
	// For is how long a windowed fault lasts (cloud faults, event faults, create-failed).
	For     time.Duration
	QPS     int
	Rate    float64
	Latency time.Duration
	// N: kill after N cloud requests; timer-late: how late (minutes); clock-jump: minutes.
	N int
	// Pick selects the target of a sabotage among the candidates at that time.
	Pick uint64
	// Function for kill and timer faults.
	Function string
}

func (f Fault) String() string {
	s := f.Kind
	switch f.Kind {
	case KindThrottle, KindError, KindLatency:
		s += fmt.Sprintf(" %s/%s for %s", f.Service, f.Action, f.For)
	case KindKill, KindTimerTwice, KindTimerLate:
		s += " " + f.Function
	}
	return s
}

// Rule is the checker's own statement of a retention rule (see model.go).
type Rule struct {
	KeepLast, KeepDays, Daily, Weekly, Monthly int
}

func (r Rule) yaml(indent string) string {
	var b strings.Builder
	for _, kv := range []struct {
		k string
		v int
	}{{"keepLast", r.KeepLast}, {"keepDays", r.KeepDays}, {"daily", r.Daily}, {"weekly", r.Weekly}, {"monthly", r.Monthly}} {
		if kv.v > 0 {
			fmt.Fprintf(&b, "%s%s: %d\n", indent, kv.k, kv.v)
		}
	}
	return b.String()
}

// Destination is one DR region of the scenario's policy.
type Destination struct {
	Region    string
	Encrypted bool
	KMSKeyID  string
	Override  *Rule
}

// Instance is one instance of the fleet and what the scenario means it to be.
type Instance struct {
	Seed      ecs.InstanceSeed
	Protected bool // selected by the policy
}

// Scenario is everything one seed draws.
type Scenario struct {
	Seed   int64
	Binary bool // run the real binaries under the local FC runtime
	Start  time.Time
	// FaultDays of faults, then ConvergeDays of normal timers, then FinalDays in which
	// only reconcile and cleanup run (no new images), after which the state is checked.
	FaultDays, ConvergeDays, FinalDays int
	PolicyName                         string
	PolicyDoc                          string
	Timezone                           string
	Slot                               time.Duration
	Sources                            []string
	Destinations                       []Destination
	SourceRule, DestRule               Rule
	Instances                          []Instance
	Faults                             []Fault
	// CreateHours are the hours (policy timezone) of the create timer; reconcile runs 90
	// minutes after each, cleanup once a day at 04:00 (in-process; binaries use s.yaml).
	CreateHours []int
	// Shards: the in-process reconcile and cleanup timers run in this many instance shards
	// (1, 2 or 4; timers ten minutes apart), as s.yaml shards them; binaries use s.yaml's.
	Shards int
}

// End is when the run stops and the state is checked.
func (s *Scenario) End() time.Time {
	return s.Start.AddDate(0, 0, s.FaultDays+s.ConvergeDays+s.FinalDays)
}

// FaultsEnd is when the last fault window closes.
func (s *Scenario) FaultsEnd() time.Time { return s.Start.AddDate(0, 0, s.FaultDays) }

// FinalStart is when new images stop (only reconcile and cleanup run after it).
func (s *Scenario) FinalStart() time.Time {
	return s.Start.AddDate(0, 0, s.FaultDays+s.ConvergeDays)
}

// RuleFor returns the rule of region (source or destination).
func (s *Scenario) RuleFor(region string) (Rule, bool) {
	for _, r := range s.Sources {
		if r == region {
			return s.SourceRule, true
		}
	}
	for _, d := range s.Destinations {
		if d.Region == region {
			if d.Override != nil {
				return *d.Override, true
			}
			return s.DestRule, true
		}
	}
	return Rule{}, false
}

// Location is the policy timezone.
func (s *Scenario) Location() *time.Location {
	loc, err := time.LoadLocation(s.Timezone)
	if err != nil {
		return time.UTC
	}
	return loc
}

var (
	timezones  = []string{"Asia/Shanghai", "UTC", "America/New_York", "Europe/Berlin"}
	destPool   = []string{"cn-beijing", "cn-shenzhen", "ap-southeast-1"}
	slotChoice = []time.Duration{24 * time.Hour, 24 * time.Hour, 12 * time.Hour, 6 * time.Hour}
)

// Generate draws the scenario of seed. binary scenarios use the deployed s.yaml schedule
// (daily slots, one source region: the functions' region).
func Generate(seed int64, binary bool) *Scenario {
	r := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	s := &Scenario{Seed: seed, Binary: binary, FaultDays: 2 + r.IntN(2), ConvergeDays: 1, FinalDays: 2}
	s.Start = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, r.IntN(60))
	s.PolicyName = fmt.Sprintf("chaos-%d", r.IntN(1000))
	s.Timezone = timezones[r.IntN(len(timezones))]
	s.Slot = slotChoice[r.IntN(len(slotChoice))]
	if binary {
		s.Timezone, s.Slot = "Asia/Shanghai", 24*time.Hour
	}
	for h := 2; h < 24; h += int(s.Slot / time.Hour) {
		s.CreateHours = append(s.CreateHours, h)
	}

	s.Sources = []string{"cn-hangzhou"}
	if !binary && r.IntN(10) < 3 {
		s.Sources = append(s.Sources, "cn-shanghai")
	}
	for _, i := range r.Perm(len(destPool))[:1+r.IntN(2)] {
		d := Destination{Region: destPool[i]}
		if r.IntN(10) < 3 {
			d.Encrypted = true
			if r.IntN(2) == 0 {
				d.KMSKeyID = "key-chaos-" + d.Region
			}
		}
		if r.IntN(10) < 3 {
			rule := drawRule(r)
			d.Override = &rule
		}
		s.Destinations = append(s.Destinations, d)
	}
	sort.Slice(s.Destinations, func(i, j int) bool { return s.Destinations[i].Region < s.Destinations[j].Region })
	s.SourceRule, s.DestRule = drawRule(r), drawRule(r)

	for ri, region := range s.Sources {
		n := 1 + r.IntN(6)
		if ri > 0 {
			n = 1 + r.IntN(3)
		}
		for i := range n {
			in := ecs.InstanceSeed{ID: fmt.Sprintf("i-%s-chaos%02d", region[3:5], i), Region: region,
				Name: fmt.Sprintf("app-%d", i), Status: "Running", Tags: map[string]string{"backup": "yes"},
				Disks: []ecs.DiskSeed{{Type: "system", SizeGiB: 20 + 20*r.IntN(2)}}}
			if r.IntN(3) == 0 {
				in.Disks = append(in.Disks, ecs.DiskSeed{Type: "data", SizeGiB: 10 * (1 + r.IntN(20))})
			}
			switch x := r.IntN(10); {
			case x < 2:
				in.Status = "Stopped"
			case x < 3:
				in.LockReason = "security"
			}
			protected := true
			switch x := r.IntN(10); {
			case x < 1:
				in.Tags = map[string]string{"env": "dev"} // not selected
				protected = false
			case x < 2:
				in.Tags["skip"] = "true" // selected, then excluded
				protected = false
			}
			s.Instances = append(s.Instances, Instance{Seed: in, Protected: protected})
		}
	}
	s.PolicyDoc = s.policyYAML(r.IntN(4) + 1)
	s.Faults = drawFaults(r, s)
	s.Shards = []int{1, 2, 4}[r.IntN(3)] // drawn last: the draws above stay as they were
	return s
}

func drawRule(r *rand.Rand) Rule {
	rule := Rule{KeepLast: r.IntN(4)}
	if r.IntN(3) == 0 {
		rule.KeepDays = 1 + r.IntN(3)
	}
	if r.IntN(3) == 0 {
		rule.Daily = 1 + r.IntN(4)
	}
	if r.IntN(4) == 0 {
		rule.Weekly = 1 + r.IntN(2)
	}
	if r.IntN(6) == 0 {
		rule.Monthly = 1
	}
	if rule == (Rule{}) {
		rule.KeepLast = 1
	}
	return rule
}

func (s *Scenario) policyYAML(concurrency int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\ntimezone: %s\nslotInterval: %s\nconcurrency: %d\nsources:\n", s.PolicyName, s.Timezone,
		fmt.Sprintf("%dh", int(s.Slot/time.Hour)), concurrency)
	for _, r := range s.Sources {
		fmt.Fprintf(&b, "  - region: %s\n    selectors:\n      - backup: \"yes\"\n    exclude:\n      tags:\n        skip: \"true\"\n", r)
	}
	b.WriteString("destinations:\n")
	for _, d := range s.Destinations {
		fmt.Fprintf(&b, "  - region: %s\n", d.Region)
		if d.Encrypted {
			b.WriteString("    encrypted: true\n")
			if d.KMSKeyID != "" {
				fmt.Fprintf(&b, "    kmsKeyId: %s\n", d.KMSKeyID)
			}
		}
		if d.Override != nil {
			b.WriteString("    retention:\n" + d.Override.yaml("      "))
		}
	}
	b.WriteString("retention:\n  source:\n" + s.SourceRule.yaml("    ") + "  destination:\n" + s.DestRule.yaml("    "))
	return b.String()
}

// cloudActions are the actions the functions call, per service, for cloud faults.
var cloudActions = map[string][]string{
	"ecs": {"DescribeInstances", "DescribeImages", "CreateImage", "CopyImage", "DeleteImage", "DeleteSnapshot", "DescribeSnapshots", "*"},
	"oss": {"GetObject", "PutObject", "ListObjects", "ListObjectsV2", "*"},
	"sls": {"PutLogs", "*"},
}

var functions = []string{"create-image", "copy-image", "cleanup"}

func drawFaults(r *rand.Rand, s *Scenario) []Fault {
	window := time.Duration(s.FaultDays) * 24 * time.Hour
	n := 3 + r.IntN(10)
	var out []Fault
	for range n {
		f := Fault{At: s.Start.Add(time.Duration(r.Int64N(int64(window)))).Truncate(time.Minute), Pick: r.Uint64(),
			Kind: AllKinds[r.IntN(len(AllKinds))], Function: functions[r.IntN(len(functions))]}
		// Most faults bite around the nightly runs: move half of them next to a create hour.
		if r.IntN(2) == 0 {
			day := f.At.In(s.Location())
			h := s.CreateHours[r.IntN(len(s.CreateHours))]
			f.At = time.Date(day.Year(), day.Month(), day.Day(), h, 0, 0, 0, s.Location()).Add(time.Duration(r.IntN(150)-30) * time.Minute)
			if f.At.Before(s.Start) {
				f.At = s.Start
			}
		}
		f.For = time.Duration(10+r.IntN(360)) * time.Minute
		svcs := []string{"ecs", "ecs", "oss", "sls"}
		f.Service = svcs[r.IntN(len(svcs))]
		acts := cloudActions[f.Service]
		f.Action = acts[r.IntN(len(acts))]
		switch f.Kind {
		case KindThrottle:
			f.QPS = 1 + r.IntN(3)
		case KindError:
			f.Rate = 0.1 + 0.4*r.Float64()
		case KindLatency:
			f.Latency = time.Duration(1+r.IntN(30)) * time.Second
		case KindKill:
			f.N = 1 + r.IntN(20)
		case KindTimerLate:
			f.N = 10 + r.IntN(180)
		case KindClockJump:
			f.N = 30 + r.IntN(300)
		}
		out = append(out, f)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// Policy parses the scenario's policy document (the same bytes the functions get).
func (s *Scenario) Policy() (*policy.Policy, error) {
	return policy.Parse([]byte(s.PolicyDoc))
}
