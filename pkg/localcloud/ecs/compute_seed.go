package ecs

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// InstanceNet is the network and identity configuration of an instance: what a restore
// must reproduce. It is embedded in InstanceSeed and Instance. Empty fields of a seeded
// instance take the region's default network (default VPC, the vSwitch of its zone, the
// default security group, the next free address of that vSwitch).
type InstanceNet struct {
	VpcID            string   `json:"vpcId,omitempty"`
	VSwitchID        string   `json:"vSwitchId,omitempty"`
	PrivateIP        string   `json:"privateIp,omitempty"`
	SecurityGroupIDs []string `json:"securityGroupIds,omitempty"`
	HostName         string   `json:"hostName,omitempty"`
	KeyPairName      string   `json:"keyPairName,omitempty"`
	RAMRole          string   `json:"ramRole,omitempty"`
}

// ComputeSeed is the restore side of the account: networks, capacity and Cloud Assistant.
// Every field is optional; the zero value gives each region a default VPC
// (vpc-<region>, 172.16.0.0/12), one vSwitch per zone (vsw-<zone>, a /20 each), a
// default security group (sg-<region>), every known instance type in stock everywhere
// and commands that succeed.
type ComputeSeed struct {
	// Zones per region; default <region>-a and <region>-b plus the zones instances and
	// vSwitches name.
	Zones          map[string][]string `json:"zones,omitempty"`
	VPCs           []VPCSeed           `json:"vpcs,omitempty"`
	VSwitches      []VSwitchSeed       `json:"vSwitches,omitempty"`
	SecurityGroups []SecurityGroupSeed `json:"securityGroups,omitempty"`
	// SoldOut lists "region/zone/instanceType" without stock: RunInstances answers
	// OperationDenied.NoStock and DescribeAvailableResource reports SoldOut.
	SoldOut []string `json:"soldOut,omitempty"`
	// InstanceQuota is how many instances a region may hold (default 500); RunInstances
	// beyond it answers QuotaExceed.ElasticQuota.
	InstanceQuota int `json:"instanceQuota,omitempty"`
	// PendingFor and StartingFor are how long a new instance stays Pending and then
	// Starting before it is Running (defaults 15s and 45s, on the simulated clock).
	PendingFor  Duration `json:"pendingFor,omitempty"`
	StartingFor Duration `json:"startingFor,omitempty"`
	// Commands script Cloud Assistant results; the first rule that matches wins.
	// No match: exit 0, empty output, after 5s.
	Commands []CommandRule `json:"commands,omitempty"`
}

// VPCSeed is one VPC.
type VPCSeed struct {
	ID     string `json:"id"`
	Region string `json:"region"`
	Name   string `json:"name,omitempty"`
	CIDR   string `json:"cidr"`
}

// VSwitchSeed is one vSwitch (subnet) of a VPC in one zone.
type VSwitchSeed struct {
	ID     string `json:"id"`
	Region string `json:"region"`
	VpcID  string `json:"vpcId"`
	ZoneID string `json:"zoneId"`
	Name   string `json:"name,omitempty"`
	CIDR   string `json:"cidr"`
}

// SecurityGroupSeed is one security group of a VPC.
type SecurityGroupSeed struct {
	ID     string `json:"id"`
	Region string `json:"region"`
	VpcID  string `json:"vpcId"`
	Name   string `json:"name,omitempty"`
}

// CommandRule scripts the result of Cloud Assistant commands. A rule matches an
// invocation when the command contains Contains (empty: any) and the instance carries
// every tag of InstanceTags.
type CommandRule struct {
	Contains     string            `json:"contains,omitempty"`
	InstanceTags map[string]string `json:"instanceTags,omitempty"`
	ExitCode     int               `json:"exitCode"`
	Output       string            `json:"output,omitempty"`
	Duration     Duration          `json:"duration,omitempty"` // default 5s
	// Hang makes the invocation never finish (it times out after the command's Timeout).
	Hang bool `json:"hang,omitempty"`
}

func (c ComputeSeed) withDefaults() ComputeSeed {
	if c.InstanceQuota == 0 {
		c.InstanceQuota = 500
	}
	if c.PendingFor == 0 {
		c.PendingFor = Duration(15 * time.Second)
	}
	if c.StartingFor == 0 {
		c.StartingFor = Duration(45 * time.Second)
	}
	return c
}

// validate names every bad field of the compute seed.
func (c ComputeSeed) validate(regions map[string]bool) []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	for r := range c.Zones {
		if !regions[r] {
			bad("compute.zones: unknown region %q", r)
		}
	}
	vpcs := map[string]string{} // id -> region
	for i, v := range c.VPCs {
		p := fmt.Sprintf("compute.vpcs[%d]", i)
		if !strings.HasPrefix(v.ID, "vpc-") {
			bad("%s.id: want vpc-…, got %q", p, v.ID)
		}
		if !regions[v.Region] {
			bad("%s.region: unknown region %q", p, v.Region)
		}
		if _, err := netip.ParsePrefix(v.CIDR); err != nil {
			bad("%s.cidr: %v", p, err)
		}
		if _, dup := vpcs[v.ID]; dup {
			bad("%s.id: duplicate %q", p, v.ID)
		}
		vpcs[v.ID] = v.Region
	}
	seen := map[string]bool{}
	for i, v := range c.VSwitches {
		p := fmt.Sprintf("compute.vSwitches[%d]", i)
		if !strings.HasPrefix(v.ID, "vsw-") {
			bad("%s.id: want vsw-…, got %q", p, v.ID)
		}
		if vpcs[v.VpcID] != v.Region || v.Region == "" {
			bad("%s.vpcId: no VPC %q in region %q", p, v.VpcID, v.Region)
		}
		if v.ZoneID == "" {
			bad("%s.zoneId: required", p)
		}
		if _, err := netip.ParsePrefix(v.CIDR); err != nil {
			bad("%s.cidr: %v", p, err)
		}
		if seen[v.ID] {
			bad("%s.id: duplicate %q", p, v.ID)
		}
		seen[v.ID] = true
	}
	for i, g := range c.SecurityGroups {
		p := fmt.Sprintf("compute.securityGroups[%d]", i)
		if !strings.HasPrefix(g.ID, "sg-") {
			bad("%s.id: want sg-…, got %q", p, g.ID)
		}
		if vpcs[g.VpcID] != g.Region || g.Region == "" {
			bad("%s.vpcId: no VPC %q in region %q", p, g.VpcID, g.Region)
		}
		if seen[g.ID] {
			bad("%s.id: duplicate %q", p, g.ID)
		}
		seen[g.ID] = true
	}
	for i, s := range c.SoldOut {
		parts := strings.Split(s, "/")
		if len(parts) != 3 || !regions[parts[0]] || parts[1] == "" || instanceTypeByName(parts[2]) == nil {
			bad("compute.soldOut[%d]: want region/zone/instanceType with a known region and type, got %q", i, s)
		}
	}
	if c.InstanceQuota < 0 {
		bad("compute.instanceQuota: must not be negative")
	}
	if c.PendingFor < 0 || c.StartingFor < 0 {
		bad("compute.pendingFor, compute.startingFor: must not be negative")
	}
	for i, r := range c.Commands {
		if r.Duration < 0 {
			bad("compute.commands[%d].duration: must not be negative", i)
		}
	}
	return errs
}

// ---- state ----

type vpc struct {
	VPCSeed
	isDefault bool
	created   time.Time
}

type vswitch struct {
	VSwitchSeed
	isDefault bool
	prefix    netip.Prefix
	created   time.Time
	// low: every address of the vSwitch from .10 up to low (excluded) is held, so the
	// next free one is searched from low (releaseIPLocked lowers it). Zero: from .10.
	low netip.Addr
}

type secGroup struct {
	SecurityGroupSeed
	created time.Time
}

// computeState is a region's networks, capacity and Cloud Assistant records.
type computeState struct {
	zones       []string
	vpcs        map[string]*vpc
	vswitches   map[string]*vswitch
	groups      map[string]*secGroup
	soldOut     map[string]bool // zone/type
	invocations map[string]*invocation
	runTokens   map[string]runToken // RunInstances ClientToken -> result
	launching   map[string]*launch  // instance id -> boot timers
	usedIPs     map[string]bool     // private addresses held by instances
}

type runToken struct {
	fingerprint string
	ids         []string
}

type launch struct {
	timers []timerStopper
}

// initCompute builds every region's network and capacity state from the seed and gives
// seeded instances their default network configuration.
func (s *Service) initCompute(seed ComputeSeed, now time.Time) {
	for _, id := range s.order {
		r := s.regions[id]
		r.compute = &computeState{vpcs: map[string]*vpc{}, vswitches: map[string]*vswitch{}, groups: map[string]*secGroup{},
			soldOut: map[string]bool{}, invocations: map[string]*invocation{}, runTokens: map[string]runToken{}, launching: map[string]*launch{}, usedIPs: map[string]bool{}}
		for _, in := range r.instances {
			if in.PrivateIP != "" {
				r.compute.usedIPs[in.PrivateIP] = true
			}
		}
		zones := append([]string{id + "-a", id + "-b"}, seed.Zones[id]...)
		for _, in := range r.instances {
			zones = append(zones, in.ZoneID)
		}
		for _, v := range seed.VSwitches {
			if v.Region == id {
				zones = append(zones, v.ZoneID)
			}
		}
		slices.Sort(zones)
		r.compute.zones = slices.Compact(zones)
	}
	for _, v := range seed.VPCs {
		s.regions[v.Region].compute.vpcs[v.ID] = &vpc{VPCSeed: v, created: now}
	}
	for _, v := range seed.VSwitches {
		s.regions[v.Region].compute.vswitches[v.ID] = &vswitch{VSwitchSeed: v, prefix: netip.MustParsePrefix(v.CIDR).Masked(), created: now}
	}
	for _, g := range seed.SecurityGroups {
		s.regions[g.Region].compute.groups[g.ID] = &secGroup{SecurityGroupSeed: g, created: now}
	}
	for _, so := range seed.SoldOut {
		p := strings.SplitN(so, "/", 3)
		s.regions[p[0]].compute.soldOut[p[1]+"/"+p[2]] = true
	}
	for _, id := range s.order {
		r := s.regions[id]
		c := r.compute
		dv := &vpc{VPCSeed: VPCSeed{ID: "vpc-" + id, Region: id, Name: "default", CIDR: "172.16.0.0/12"}, isDefault: true, created: now}
		c.vpcs[dv.ID] = dv
		for i, z := range c.zones {
			pfx := netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(16 + i/16), byte((i % 16) * 16), 0}), 20)
			c.vswitches["vsw-"+z] = &vswitch{VSwitchSeed: VSwitchSeed{ID: "vsw-" + z, Region: id, VpcID: dv.ID, ZoneID: z,
				Name: "default-" + z, CIDR: pfx.String()}, isDefault: true, prefix: pfx, created: now}
		}
		c.groups["sg-"+id] = &secGroup{SecurityGroupSeed: SecurityGroupSeed{ID: "sg-" + id, Region: id, VpcID: dv.ID, Name: "default"}, created: now}
		for _, in := range sortedInstances(r) {
			r.defaultNetLocked(&in.Instance)
		}
	}
}

func sortedInstances(r *region) []*instance {
	out := make([]*instance, 0, len(r.instances))
	for _, in := range r.instances {
		out = append(out, in)
	}
	slices.SortFunc(out, func(a, b *instance) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// defaultNetLocked fills the empty network fields of a seeded or added instance.
func (r *region) defaultNetLocked(in *Instance) {
	c := r.compute
	if in.VSwitchID == "" {
		in.VSwitchID = "vsw-" + in.ZoneID
		if c.vswitches[in.VSwitchID] == nil { // a zone added after start (AddInstance)
			in.VSwitchID = "vsw-" + c.zones[0]
		}
	}
	if vs := c.vswitches[in.VSwitchID]; vs != nil {
		if in.VpcID == "" {
			in.VpcID = vs.VpcID
		}
		if in.PrivateIP == "" {
			in.PrivateIP = r.nextFreeIPLocked(vs)
			c.usedIPs[in.PrivateIP] = true
		}
	}
	if len(in.SecurityGroupIDs) == 0 {
		in.SecurityGroupIDs = []string{"sg-" + r.id}
	}
	if in.HostName == "" {
		in.HostName = in.Name
	}
}

// nextFreeIPLocked returns the first address of vs from .10 that no instance holds.
func (r *region) nextFreeIPLocked(vs *vswitch) string {
	a := vs.low
	if !a.IsValid() || !vs.prefix.Contains(a) {
		a = vs.prefix.Addr()
		for range 10 {
			a = a.Next()
		}
	}
	for ; vs.prefix.Contains(a); a = a.Next() {
		if !r.compute.usedIPs[a.String()] {
			vs.low = a // the caller takes it; the search goes on from here
			return a.String()
		}
	}
	vs.low = a
	return ""
}

// releaseIPLocked frees an instance's address.
func (r *region) releaseIPLocked(ip string) {
	delete(r.compute.usedIPs, ip)
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return
	}
	for _, vs := range r.compute.vswitches {
		if vs.prefix.Contains(a) && vs.low.IsValid() && a.Less(vs.low) {
			vs.low = a
		}
	}
}

// addNetworkLocked adds vpc-<name> (cidr, a /16 or larger), one /24 vSwitch per zone
// (vsw-<name>-<zone>) and sg-<name>.
func (r *region) addNetworkLocked(name, cidr string, now time.Time) error {
	pfx, err := netip.ParsePrefix(cidr)
	if err != nil || !pfx.Addr().Is4() || pfx.Bits() > 16 {
		return fmt.Errorf("add network %s: cidr %q: want an IPv4 /16 or larger", name, cidr)
	}
	pfx = pfx.Masked()
	c := r.compute
	id := "vpc-" + name
	if c.vpcs[id] != nil {
		return fmt.Errorf("add network %s: %s already exists in %s", name, id, r.id)
	}
	c.vpcs[id] = &vpc{VPCSeed: VPCSeed{ID: id, Region: r.id, Name: name, CIDR: pfx.String()}, created: now}
	base := pfx.Addr().As4()
	for i, z := range c.zones {
		sub := netip.PrefixFrom(netip.AddrFrom4([4]byte{base[0], base[1], byte(i), 0}), 24)
		vid := "vsw-" + name + "-" + strings.TrimPrefix(z, r.id+"-")
		c.vswitches[vid] = &vswitch{VSwitchSeed: VSwitchSeed{ID: vid, Region: r.id, VpcID: id, ZoneID: z, Name: name + "-" + z, CIDR: sub.String()},
			prefix: sub, created: now}
	}
	c.groups["sg-"+name] = &secGroup{SecurityGroupSeed: SecurityGroupSeed{ID: "sg-" + name, Region: r.id, VpcID: id, Name: name}, created: now}
	return nil
}
