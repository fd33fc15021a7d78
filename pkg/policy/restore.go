package policy

import (
	"maps"
	"slices"
	"strings"
	"time"
)

// NetworkMap says which network of one DR region replaces each source network when an
// instance is restored there. A restore refuses to guess: a source vSwitch or security
// group without a mapping is an error that names it.
type NetworkMap struct {
	// VSwitches maps a source vSwitch id to the DR vSwitch id (its zone is the zone the
	// server is restored in).
	VSwitches map[string]string `json:"vSwitches,omitempty" yaml:"vSwitches,omitempty"`
	// SecurityGroups maps a source security group id to the DR security group id.
	SecurityGroups map[string]string `json:"securityGroups,omitempty" yaml:"securityGroups,omitempty"`
	// KeepPrivateIP restores the recorded private IP address when the DR vSwitch's CIDR
	// holds it (default false: the DR vSwitch assigns one).
	KeepPrivateIP bool `json:"keepPrivateIp,omitempty" yaml:"keepPrivateIp,omitempty"`
}

// Drill is the scheduled DR drill: restore a rotating sample of protected instances into
// an isolated network of a DR region, verify them, measure the RTO and tear them down.
type Drill struct {
	// Region is the DR region drilled (default: the first destination).
	Region string `json:"region,omitempty" yaml:"region,omitempty"`
	// Instances drilled (default: every protected instance with a copy in Region).
	Instances []string `json:"instanceIds,omitempty" yaml:"instanceIds,omitempty"`
	// Interval is how often each instance should be drilled, as a Go duration
	// (default "720h", about monthly). A run drills the instances whose last drill is the
	// oldest (never drilled first), at most PerRun of them.
	Interval string `json:"interval,omitempty" yaml:"interval,omitempty"`
	// PerRun bounds the instances drilled by one run (default 1).
	PerRun int `json:"perRun,omitempty" yaml:"perRun,omitempty"`
	// MaxConcurrent caps the drill instances alive at once in Region, leftovers included
	// (default 2, at most 20).
	MaxConcurrent int `json:"maxConcurrent,omitempty" yaml:"maxConcurrent,omitempty"`
	// VSwitchID and SecurityGroupIDs are the isolated drill network in Region. Required.
	VSwitchID        string   `json:"vSwitchId" yaml:"vSwitchId"`
	SecurityGroupIDs []string `json:"securityGroupIds" yaml:"securityGroupIds"`
	// HealthCommand runs through Cloud Assistant on the drill instance (a shell script;
	// exit 0 passes). Empty: Running is the check.
	HealthCommand string `json:"healthCommand,omitempty" yaml:"healthCommand,omitempty"`
	// HealthTimeout bounds the health command (Go duration, default "5m").
	HealthTimeout string `json:"healthTimeout,omitempty" yaml:"healthTimeout,omitempty"`
	// AllowedInstanceTypes: drill instances use the recorded type when listed here,
	// otherwise the first listed type that has stock (empty: the recorded type, or the
	// closest available one).
	AllowedInstanceTypes []string `json:"allowedInstanceTypes,omitempty" yaml:"allowedInstanceTypes,omitempty"`
	// BootTimeout bounds the wait for Running (Go duration, default "15m").
	BootTimeout string `json:"bootTimeout,omitempty" yaml:"bootTimeout,omitempty"`
}

// Defaults of the restore-side settings.
const (
	DefaultDrillInterval      = 720 * time.Hour
	DefaultDrillPerRun        = 1
	DefaultDrillMaxConcurrent = 2
	DefaultHealthTimeout      = 5 * time.Minute
	DefaultBootTimeout        = 15 * time.Minute
	maxDrillConcurrent        = 20
)

// RPO returns the policy's RPO target (0: none set).
func (p *Policy) RPO() time.Duration {
	d, _ := time.ParseDuration(p.RPOTarget)
	return d
}

// DrillRegion is the region drills run in ("" when the policy has no drill section and no
// destination).
func (p *Policy) DrillRegion() string {
	if p.Drill != nil && p.Drill.Region != "" {
		return p.Drill.Region
	}
	if len(p.Destinations) > 0 {
		return p.Destinations[0].Region
	}
	return ""
}

// Durations of the drill section with defaults applied (zero Drill: defaults).
func (d *Drill) IntervalOrDefault() time.Duration {
	return durOr(d, func(d *Drill) string { return d.Interval }, DefaultDrillInterval)
}

func (d *Drill) HealthTimeoutOrDefault() time.Duration {
	return durOr(d, func(d *Drill) string { return d.HealthTimeout }, DefaultHealthTimeout)
}

func (d *Drill) BootTimeoutOrDefault() time.Duration {
	return durOr(d, func(d *Drill) string { return d.BootTimeout }, DefaultBootTimeout)
}

func (d *Drill) PerRunOrDefault() int {
	if d == nil || d.PerRun <= 0 {
		return DefaultDrillPerRun
	}
	return d.PerRun
}

func (d *Drill) MaxConcurrentOrDefault() int {
	if d == nil || d.MaxConcurrent <= 0 {
		return DefaultDrillMaxConcurrent
	}
	return d.MaxConcurrent
}

func durOr(d *Drill, f func(*Drill) string, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	if v, err := time.ParseDuration(f(d)); err == nil && v > 0 {
		return v
	}
	return def
}

// validateRestore checks rpoTarget, networkMap and drill.
func (p *Policy) validateRestore(v *validator) {
	if p.RPOTarget != "" {
		d, err := time.ParseDuration(p.RPOTarget)
		switch {
		case err != nil:
			v.add("rpoTarget", "%q is not a Go duration such as \"26h\"", p.RPOTarget)
		case d < time.Hour:
			v.add("rpoTarget", "%s is under 1h: no schedule here can meet it", d)
		case d < p.Interval():
			v.add("rpoTarget", "%s is shorter than the slot interval %s: it would be missed between every two slots", d, p.Interval())
		}
	}
	dests := map[string]bool{}
	for _, d := range p.Destinations {
		dests[d.Region] = true
	}
	for _, region := range slices.Sorted(maps.Keys(p.NetworkMap)) {
		m := p.NetworkMap[region]
		f := "networkMap." + region
		if !dests[region] {
			v.add(f, "%q is not a destination region of the policy", region)
		}
		for _, src := range slices.Sorted(maps.Keys(m.VSwitches)) {
			if !strings.HasPrefix(src, "vsw-") || !strings.HasPrefix(m.VSwitches[src], "vsw-") {
				v.add(f+".vSwitches."+src, "want vsw-… mapped to vsw-…, got %q: %q", src, m.VSwitches[src])
			}
		}
		for _, src := range slices.Sorted(maps.Keys(m.SecurityGroups)) {
			if !strings.HasPrefix(src, "sg-") || !strings.HasPrefix(m.SecurityGroups[src], "sg-") {
				v.add(f+".securityGroups."+src, "want sg-… mapped to sg-…, got %q: %q", src, m.SecurityGroups[src])
			}
		}
	}
	d := p.Drill
	if d == nil {
		return
	}
	if d.Region != "" && !dests[d.Region] {
		v.add("drill.region", "%q is not a destination region of the policy", d.Region)
	}
	for i, id := range d.Instances {
		if !instanceIDRe.MatchString(id) {
			v.add(fieldIndex("drill.instanceIds", i), "%q is not an instance id (i-…)", id)
		}
	}
	for name, val := range map[string]string{"drill.interval": d.Interval, "drill.healthTimeout": d.HealthTimeout, "drill.bootTimeout": d.BootTimeout} {
		if val == "" {
			continue
		}
		if x, err := time.ParseDuration(val); err != nil || x <= 0 {
			v.add(name, "%q is not a positive Go duration", val)
		}
	}
	if d.PerRun < 0 {
		v.add("drill.perRun", "must not be negative, got %d", d.PerRun)
	}
	if d.MaxConcurrent < 0 || d.MaxConcurrent > maxDrillConcurrent {
		v.add("drill.maxConcurrent", "%d is out of range 1..%d", d.MaxConcurrent, maxDrillConcurrent)
	}
	if d.PerRun > d.MaxConcurrentOrDefault() {
		v.add("drill.perRun", "%d is over drill.maxConcurrent (%d)", d.PerRun, d.MaxConcurrentOrDefault())
	}
	if !strings.HasPrefix(d.VSwitchID, "vsw-") {
		v.add("drill.vSwitchId", "required: the isolated drill vSwitch (vsw-…), got %q", d.VSwitchID)
	}
	if len(d.SecurityGroupIDs) == 0 {
		v.add("drill.securityGroupIds", "required: at least one security group of the drill network")
	}
	for i, g := range d.SecurityGroupIDs {
		if !strings.HasPrefix(g, "sg-") {
			v.add(fieldIndex("drill.securityGroupIds", i), "want sg-…, got %q", g)
		}
	}
	for i, t := range d.AllowedInstanceTypes {
		if !strings.HasPrefix(t, "ecs.") {
			v.add(fieldIndex("drill.allowedInstanceTypes", i), "want an instance type such as ecs.g7.large, got %q", t)
		}
	}
}

func fieldIndex(f string, i int) string { return f + "[" + itoa(i) + "]" }

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
