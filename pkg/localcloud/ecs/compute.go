package ecs

// Compute: RunInstances, DeleteInstance(s), the instance lifecycle on the simulated
// clock, and the describe calls a restore needs (disks, networks, RAM roles).
//
// Choices where the real service is ambiguous or unknown:
//   - A launched instance is Pending for ComputeSeed.PendingFor, then Starting for
//     StartingFor, then Running; the transitions are env.Clock callbacks.
//   - DeleteInstance(s) refuses Pending and Starting instances (IncorrectInstanceStatus) and
//     Running ones without Force, as documented; deletion is immediate.
//   - RunInstances checks, in order: parameters, ClientToken replay, image, instance type,
//     vSwitch, security groups, private IP, stock, quota. The first failure answers.
//   - InvalidSecurityGroupId.VPCMismatch (a group of another VPC than the vSwitch) is the
//     code as we know it; the documentation lists several spellings.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

// The compute actions join the table of service.go here, so the shared table stays as is.
func init() {
	for name, h := range map[string]handler{
		"RunInstances":              (*Service).runInstances,
		"DeleteInstance":            (*Service).deleteInstance,
		"DeleteInstances":           (*Service).deleteInstances,
		"DescribeDisks":             (*Service).describeDisks,
		"DescribeVpcs":              (*Service).describeVpcs,
		"DescribeVSwitches":         (*Service).describeVSwitches,
		"DescribeSecurityGroups":    (*Service).describeSecurityGroups,
		"DescribeInstanceRamRole":   (*Service).describeInstanceRAMRole,
		"DescribeInstanceTypes":     (*Service).describeInstanceTypes,
		"DescribeAvailableResource": (*Service).describeAvailableResource,
		"RunCommand":                (*Service).runCommand,
		"DescribeInvocationResults": (*Service).describeInvocationResults,
	} {
		actions[name] = h
	}
}

type instanceNetJSON struct {
	VpcAttributes struct {
		VpcId            string `json:"VpcId"`
		VSwitchId        string `json:"VSwitchId"`
		PrivateIpAddress struct {
			IpAddress []string `json:"IpAddress"`
		} `json:"PrivateIpAddress"`
	} `json:"VpcAttributes"`
	SecurityGroupIds struct {
		SecurityGroupId []string `json:"SecurityGroupId"`
	} `json:"SecurityGroupIds"`
	StartTime           string `json:"StartTime"`
	HostName            string `json:"HostName"`
	KeyPairName         string `json:"KeyPairName"`
	InstanceNetworkType string `json:"InstanceNetworkType"`
	Cpu                 int    `json:"Cpu"`
	Memory              int    `json:"Memory"` // MiB
}

func netJSON(in *Instance) instanceNetJSON {
	var j instanceNetJSON
	j.VpcAttributes.VpcId, j.VpcAttributes.VSwitchId = in.VpcID, in.VSwitchID
	j.VpcAttributes.PrivateIpAddress.IpAddress = []string{}
	if in.PrivateIP != "" {
		j.VpcAttributes.PrivateIpAddress.IpAddress = []string{in.PrivateIP}
	}
	j.SecurityGroupIds.SecurityGroupId = append([]string{}, in.SecurityGroupIDs...)
	j.HostName, j.KeyPairName, j.InstanceNetworkType = in.HostName, in.KeyPairName, "vpc"
	if !in.StartTime.IsZero() && in.Status != "Pending" && in.Status != "Starting" {
		j.StartTime = apiTime(in.StartTime)
	}
	if t := instanceTypeByName(in.InstanceType); t != nil {
		j.Cpu, j.Memory = t.CPU, t.MemoryGiB*1024
	}
	return j
}

var diskCategories = map[string]bool{"cloud": true, "cloud_efficiency": true, "cloud_ssd": true, "cloud_essd": true,
	"cloud_auto": true, "cloud_essd_entry": true}

type runInstancesResponse struct {
	RequestId      string  `json:"RequestId"`
	OrderId        string  `json:"OrderId"`
	TradePrice     float64 `json:"TradePrice"`
	InstanceIdSets struct {
		InstanceIdSet []string `json:"InstanceIdSet"`
	} `json:"InstanceIdSets"`
}

// launchSpec is a validated RunInstances request.
type launchSpec struct {
	imageID, itype, vswitch, privateIP, name, host, keyPair, role, sysCategory string
	groups                                                                     []string
	sysSize, amount                                                            int
	data                                                                       map[string]DiskSeed // by device, or "#N" for extra disks
	tags                                                                       map[string]string
}

func (q *request) launchSpec() (launchSpec, *apiError) {
	sp := launchSpec{imageID: q.get("ImageId"), itype: q.get("InstanceType"), vswitch: q.get("VSwitchId"),
		privateIP: q.get("PrivateIpAddress"), name: q.get("InstanceName"), host: q.get("HostName"),
		keyPair: q.get("KeyPairName"), role: q.get("RamRoleName"), sysCategory: q.get("SystemDisk.Category"),
		data: map[string]DiskSeed{}}
	switch {
	case sp.imageID == "":
		return sp, missing("ImageId")
	case sp.itype == "":
		return sp, missing("InstanceType")
	case sp.vswitch == "":
		return sp, missing("VSwitchId")
	}
	var aerr *apiError
	if sp.amount, aerr = q.intParam("Amount", 1, 1, 100); aerr != nil {
		return sp, aerr
	}
	if sp.sysSize, aerr = q.intParam("SystemDisk.Size", 0, 20, 2048); aerr != nil {
		return sp, errf(400, "InvalidSystemDiskSize.ValueNotSupported", "The specified SystemDisk.Size %q is not valid (20 to 2048 GiB).", q.get("SystemDisk.Size"))
	}
	if sp.sysCategory != "" && !diskCategories[sp.sysCategory] {
		return sp, errf(400, "InvalidSystemDiskCategory.ValueNotSupported", "The specified SystemDisk.Category %q is not supported.", sp.sysCategory)
	}
	if g := q.get("SecurityGroupId"); g != "" {
		sp.groups = append(sp.groups, g)
	}
	gidx, aerr := q.indexed("SecurityGroupIds", 16)
	if aerr != nil {
		return sp, aerr
	}
	for _, n := range sortedKeys(gidx) {
		sp.groups = append(sp.groups, gidx[n][""])
	}
	if len(sp.groups) == 0 {
		return sp, missing("SecurityGroupId")
	}
	if q.get("SecurityGroupId") != "" && len(gidx) > 0 {
		return sp, errf(400, "InvalidParameter.Conflict", "SecurityGroupId and SecurityGroupIds.N cannot be given together.")
	}
	didx, aerr := q.indexed("DataDisk", 16)
	if aerr != nil {
		return sp, aerr
	}
	for _, n := range sortedKeys(didx) {
		f := didx[n]
		d := DiskSeed{Type: "data", Device: f["Device"], Category: f["Category"]}
		if v := f["Size"]; v != "" {
			size, err := strconv.Atoi(v)
			if err != nil || size < 20 || size > 32768 {
				return sp, errf(400, "InvalidDataDiskSize.ValueNotSupported", "The specified DataDisk.%d.Size %q is not valid (20 to 32768 GiB).", n, v)
			}
			d.SizeGiB = size
		}
		if d.Category != "" && !diskCategories[d.Category] {
			return sp, errf(400, "InvalidDataDiskCategory.ValueNotSupported", "The specified DataDisk.%d.Category %q is not supported.", n, d.Category)
		}
		key := d.Device
		if key == "" {
			key = fmt.Sprintf("#%d", n)
		}
		sp.data[key] = d
	}
	tp, aerr := q.tags()
	if aerr != nil {
		return sp, aerr
	}
	if sp.tags, aerr = validateTagsToSet(tp); aerr != nil {
		return sp, aerr
	}
	return sp, nil
}

func (sp launchSpec) fingerprint(q *request) string {
	h := sha256.New()
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range q.params {
			if k != "Signature" && k != "SignatureNonce" && k != "Timestamp" && !yield(k) {
				return
			}
		}
	}) {
		fmt.Fprintf(h, "%s=%s\n", k, q.params.Get(k))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (s *Service) runInstances(q *request) (any, *apiError) {
	sp, aerr := q.launchSpec()
	if aerr != nil {
		return nil, aerr
	}
	token := q.get("ClientToken")
	now := s.env.Clock.Now()
	r := s.regions[q.region]
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.compute
	resp := runInstancesResponse{RequestId: q.reqID, OrderId: strconv.FormatInt(now.UnixNano()%1e12, 10)}
	if token != "" {
		if prev, ok := c.runTokens[token]; ok {
			if prev.fingerprint != sp.fingerprint(q) {
				return nil, errf(400, "IdempotenceParamNotMatch", "The request uses the same ClientToken as a previous, but non-identical request.")
			}
			resp.InstanceIdSets.InstanceIdSet = slices.Clone(prev.ids)
			return resp, nil
		}
	}
	im := r.images[sp.imageID]
	switch {
	case im == nil:
		return nil, errf(404, "InvalidImageId.NotFound", "The specified ImageId %q does not exist in %s.", sp.imageID, r.id)
	case im.Status != "Available":
		return nil, errf(400, "IncorrectImageStatus", "The image %q is %s; only an Available image can start instances.", sp.imageID, im.Status)
	}
	if instanceTypeByName(sp.itype) == nil {
		return nil, errf(400, "InvalidInstanceType.ValueNotSupported", "The specified InstanceType %q does not exist or is not supported.", sp.itype)
	}
	vs := c.vswitches[sp.vswitch]
	if vs == nil {
		return nil, errf(404, "InvalidVSwitchId.NotFound", "The specified VSwitchId %q does not exist in %s.", sp.vswitch, r.id)
	}
	if z := q.get("ZoneId"); z != "" && z != vs.ZoneID {
		return nil, errf(400, "InvalidParameter.Mismatch", "The ZoneId %q does not match the zone %s of VSwitchId %s.", z, vs.ZoneID, vs.ID)
	}
	for _, g := range sp.groups {
		sg := c.groups[g]
		if sg == nil {
			return nil, errf(404, "InvalidSecurityGroupId.NotFound", "The specified SecurityGroupId %q does not exist in %s.", g, r.id)
		}
		if sg.VpcID != vs.VpcID {
			return nil, errf(400, "InvalidSecurityGroupId.VPCMismatch", "The security group %s belongs to %s, not to the VPC %s of the vSwitch.", g, sg.VpcID, vs.VpcID)
		}
	}
	if sp.privateIP != "" {
		a, err := netip.ParseAddr(sp.privateIP)
		if err != nil || !vs.prefix.Contains(a) {
			return nil, errf(400, "InvalidPrivateIpAddress.Mismatch", "The PrivateIpAddress %q is not in the CIDR %s of vSwitch %s.", sp.privateIP, vs.CIDR, vs.ID)
		}
		if sp.amount > 1 {
			return nil, errf(400, "InvalidParameter.Conflict", "PrivateIpAddress can only be given with Amount=1.")
		}
		if c.usedIPs[sp.privateIP] {
			return nil, errf(400, "InvalidPrivateIpAddress.Duplicated", "The PrivateIpAddress %s is already used in vSwitch %s.", sp.privateIP, vs.ID)
		}
	}
	if c.soldOut[vs.ZoneID+"/"+sp.itype] {
		return nil, errf(403, "OperationDenied.NoStock", "Sales of this resource are temporarily suspended in the specified region; please try again later. (%s in %s)", sp.itype, vs.ZoneID)
	}
	if len(r.instances)+sp.amount > s.seed.Compute.InstanceQuota {
		return nil, errf(403, "QuotaExceed.ElasticQuota", "The number of instances in %s would exceed the quota of %d.", r.id, s.seed.Compute.InstanceQuota)
	}
	sysSize := im.SizeGiB
	var data []Disk
	for _, d := range im.Disks {
		if d.Type == "system" {
			sysSize = d.SizeGiB
			continue
		}
		dk := Disk{ID: "d-" + core.RandomHex(10), Type: "data", SizeGiB: d.SizeGiB, Device: d.Device, Category: "cloud_essd"}
		if o, ok := sp.data[d.Device]; ok {
			dk.Category = cmpOr(o.Category, dk.Category)
			if o.SizeGiB > 0 {
				if o.SizeGiB < d.SizeGiB {
					return nil, errf(400, "InvalidDataDiskSize.LessThanSnapshotSize", "DataDisk %s: size %d GiB is less than the snapshot's %d GiB.", d.Device, o.SizeGiB, d.SizeGiB)
				}
				dk.SizeGiB = o.SizeGiB
			}
		}
		data = append(data, dk)
	}
	for k, o := range sp.data {
		if !strings.HasPrefix(k, "#") && slices.ContainsFunc(data, func(d Disk) bool { return d.Device == k }) {
			continue
		}
		if o.SizeGiB == 0 {
			return nil, missing("DataDisk.N.Size")
		}
		data = append(data, Disk{ID: "d-" + core.RandomHex(10), Type: "data", SizeGiB: o.SizeGiB, Device: o.Device, Category: cmpOr(o.Category, "cloud_essd")})
	}
	if sp.sysSize != 0 && sp.sysSize < sysSize {
		return nil, errf(400, "InvalidSystemDiskSize.LessThanImageSize", "The SystemDisk.Size %d GiB is less than the image size %d GiB.", sp.sysSize, sysSize)
	}
	sysSize = max(sysSize, sp.sysSize)
	for i := range sp.amount {
		id := "i-" + core.RandomHex(10)
		name := cmpOr(sp.name, id)
		host := cmpOr(sp.host, "iZ"+strings.TrimPrefix(id, "i-")+"Z")
		if sp.amount > 1 {
			name, host = fmt.Sprintf("%s-%03d", name, i+1), fmt.Sprintf("%s-%03d", host, i+1)
		}
		disks := []Disk{{ID: "d-" + core.RandomHex(10), Type: "system", SizeGiB: sysSize, Device: "/dev/xvda", Category: cmpOr(sp.sysCategory, "cloud_essd")}}
		used := map[string]bool{"/dev/xvda": true}
		for _, d := range data {
			if d.Device != "" {
				used[d.Device] = true
			}
		}
		for _, d := range data {
			d.ID = "d-" + core.RandomHex(10)
			if d.Device == "" {
				for ch := 'b'; ch <= 'z'; ch++ {
					if dev := "/dev/xvd" + string(ch); !used[dev] {
						d.Device, used[dev] = dev, true
						break
					}
				}
			}
			disks = append(disks, d)
		}
		in := &instance{Instance: Instance{ID: id, RegionID: r.id, ZoneID: vs.ZoneID, Name: name, Status: "Pending",
			InstanceType: sp.itype, OSType: im.OSType, ImageID: im.ID, CreationTime: now, Tags: sp.tags, Disks: disks,
			InstanceNet: InstanceNet{VpcID: vs.VpcID, VSwitchID: vs.ID, PrivateIP: sp.privateIP, SecurityGroupIDs: slices.Clone(sp.groups),
				HostName: host, KeyPairName: sp.keyPair, RAMRole: sp.role}}}
		in.Tags = cloneTags(sp.tags)
		if in.PrivateIP == "" {
			in.PrivateIP = r.nextFreeIPLocked(vs)
		}
		c.usedIPs[in.PrivateIP] = true
		r.addInstance(in)
		s.scheduleBootLocked(r, id, now)
		resp.InstanceIdSets.InstanceIdSet = append(resp.InstanceIdSets.InstanceIdSet, id)
	}
	if token != "" {
		c.runTokens[token] = runToken{fingerprint: sp.fingerprint(q), ids: slices.Clone(resp.InstanceIdSets.InstanceIdSet)}
	}
	return resp, nil
}

func cloneTags(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// scheduleBootLocked moves a new instance Pending -> Starting -> Running on the clock.
func (s *Service) scheduleBootLocked(r *region, id string, now time.Time) {
	pending, starting := time.Duration(s.seed.Compute.PendingFor), time.Duration(s.seed.Compute.StartingFor)
	set := func(status string) func() {
		return func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			if in := r.instances[id]; in != nil {
				r.updateInstance(in, func() { in.Status = status })
				if status == "Running" {
					in.StartTime = s.env.Clock.Now()
					delete(r.compute.launching, id)
				}
			}
		}
	}
	l := &launch{}
	l.timers = append(l.timers, s.env.Clock.AfterFunc(now.Add(pending), set("Starting")),
		s.env.Clock.AfterFunc(now.Add(pending+starting), set("Running")))
	r.compute.launching[id] = l
}

// ---- DeleteInstance(s) ----

func (s *Service) deleteInstance(q *request) (any, *apiError) {
	id := q.get("InstanceId")
	if id == "" {
		return nil, missing("InstanceId")
	}
	return s.deleteInstanceIDs(q, []string{id})
}

func (s *Service) deleteInstances(q *request) (any, *apiError) {
	idx, aerr := q.indexed("InstanceId", 100)
	if aerr != nil {
		return nil, aerr
	}
	var ids []string
	for _, n := range sortedKeys(idx) {
		ids = append(ids, idx[n][""])
	}
	if len(ids) == 0 {
		return nil, missing("InstanceId.N")
	}
	return s.deleteInstanceIDs(q, ids)
}

// deleteInstanceIDs deletes all or none: every instance is checked first.
func (s *Service) deleteInstanceIDs(q *request, ids []string) (any, *apiError) {
	force, aerr := q.boolParam("Force")
	if aerr != nil {
		return nil, aerr
	}
	r := s.regions[q.region]
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		in := r.instances[id]
		switch {
		case in == nil:
			return nil, errf(404, "InvalidInstanceId.NotFound", "The specified InstanceId %q does not exist in %s.", id, r.id)
		case in.Status == "Pending" || in.Status == "Starting" || in.Status == "Stopping":
			return nil, errf(403, "IncorrectInstanceStatus", "The current status of the resource does not support this operation: instance %s is %s.", id, in.Status)
		case in.Status == "Running" && !force:
			return nil, errf(403, "IncorrectInstanceStatus", "The instance %s is Running; stop it first or set Force=true.", id)
		}
	}
	for _, id := range ids {
		if l := r.compute.launching[id]; l != nil {
			for _, t := range l.timers {
				t.Stop()
			}
			delete(r.compute.launching, id)
		}
		r.releaseIPLocked(r.instances[id].PrivateIP)
		r.removeInstance(r.instances[id])
	}
	return emptyResponse{RequestId: q.reqID}, nil
}
