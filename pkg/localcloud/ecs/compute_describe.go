package ecs

import (
	"slices"
	"strings"
)

// InstanceType is one entry of the local cloud's instance type catalog.
type InstanceType struct {
	Name      string
	Family    string
	CPU       int
	MemoryGiB int
}

// instanceTypes is the catalog DescribeInstanceTypes serves and RunInstances accepts: a
// few families of the current generations, enough for "closest available type".
var instanceTypes = func() []InstanceType {
	var out []InstanceType
	sizes := []struct {
		suffix string
		cpu    int
	}{{"large", 2}, {"xlarge", 4}, {"2xlarge", 8}, {"4xlarge", 16}}
	for _, f := range []struct {
		family string
		ratio  int // GiB per vCPU
	}{{"ecs.g7", 4}, {"ecs.g8i", 4}, {"ecs.g6", 4}, {"ecs.c7", 2}, {"ecs.c8i", 2}, {"ecs.r7", 8}} {
		for _, sz := range sizes {
			out = append(out, InstanceType{Name: f.family + "." + sz.suffix, Family: f.family, CPU: sz.cpu, MemoryGiB: sz.cpu * f.ratio})
		}
	}
	return out
}()

func instanceTypeByName(name string) *InstanceType {
	for i := range instanceTypes {
		if instanceTypes[i].Name == name {
			return &instanceTypes[i]
		}
	}
	return nil
}

// ---- DescribeDisks ----

type diskJSON struct {
	DiskId             string   `json:"DiskId"`
	InstanceId         string   `json:"InstanceId"`
	RegionId           string   `json:"RegionId"`
	ZoneId             string   `json:"ZoneId"`
	Type               string   `json:"Type"`
	Category           string   `json:"Category"`
	Size               int      `json:"Size"`
	Device             string   `json:"Device"`
	Status             string   `json:"Status"`
	ImageId            string   `json:"ImageId"`
	DeleteWithInstance bool     `json:"DeleteWithInstance"`
	Portable           bool     `json:"Portable"`
	CreationTime       string   `json:"CreationTime"`
	Tags               tagsJSON `json:"Tags"`
}

func (s *Service) describeDisks(q *request) (any, *apiError) {
	ids, aerr := q.jsonArrayParam("DiskIds", "InvalidDiskIds.Malformed", 100)
	if aerr != nil {
		return nil, aerr
	}
	pg, aerr := q.paging()
	if aerr != nil {
		return nil, aerr
	}
	instID, typ, zone := q.get("InstanceId"), q.get("DiskType"), q.get("ZoneId")
	switch typ {
	case "", "all", "system", "data":
	default:
		return nil, errf(400, "InvalidDiskType.ValueNotSupported", "The specified DiskType %q is not supported (all, system, data).", typ)
	}
	r := s.regions[q.region]
	r.mu.Lock()
	defer r.mu.Unlock()
	var rows []diskJSON
	for _, in := range sortedInstances(r) {
		if instID != "" && in.ID != instID || zone != "" && in.ZoneID != zone {
			continue
		}
		for _, d := range in.Disks {
			if ids != nil && !slices.Contains(ids, d.ID) || typ != "" && typ != "all" && d.Type != typ {
				continue
			}
			img := ""
			if d.Type == "system" {
				img = in.ImageID
			}
			rows = append(rows, diskJSON{DiskId: d.ID, InstanceId: in.ID, RegionId: r.id, ZoneId: in.ZoneID, Type: d.Type,
				Category: d.Category, Size: d.SizeGiB, Device: d.Device, Status: "In_use", ImageId: img,
				DeleteWithInstance: true, Portable: d.Type == "data", CreationTime: apiTime(in.CreationTime), Tags: tagList(nil)})
		}
	}
	lo, hi := pg.window(len(rows))
	var resp struct {
		RequestId  string `json:"RequestId"`
		TotalCount int    `json:"TotalCount"`
		PageNumber int    `json:"PageNumber"`
		PageSize   int    `json:"PageSize"`
		NextToken  string `json:"NextToken"`
		Disks      struct {
			Disk []diskJSON `json:"Disk"`
		} `json:"Disks"`
	}
	resp.RequestId, resp.TotalCount, resp.PageNumber, resp.PageSize = q.reqID, len(rows), pg.number, pg.size
	resp.Disks.Disk = append([]diskJSON{}, rows[lo:hi]...)
	resp.NextToken = pg.nextToken()
	return resp, nil
}

// ---- DescribeVpcs / DescribeVSwitches / DescribeSecurityGroups ----

type listPage struct {
	RequestId  string `json:"RequestId"`
	TotalCount int    `json:"TotalCount"`
	PageNumber int    `json:"PageNumber"`
	PageSize   int    `json:"PageSize"`
}

func (s *Service) describeVpcs(q *request) (any, *apiError) {
	pg, aerr := q.pageNumbers()
	if aerr != nil {
		return nil, aerr
	}
	want := q.get("VpcId")
	type vpcJSON struct {
		VpcId        string `json:"VpcId"`
		VpcName      string `json:"VpcName"`
		RegionId     string `json:"RegionId"`
		Status       string `json:"Status"`
		CidrBlock    string `json:"CidrBlock"`
		IsDefault    bool   `json:"IsDefault"`
		CreationTime string `json:"CreationTime"`
		VSwitchIds   struct {
			VSwitchId []string `json:"VSwitchId"`
		} `json:"VSwitchIds"`
	}
	r := s.regions[q.region]
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.compute
	var rows []vpcJSON
	for _, id := range slices.Sorted(mapKeys(c.vpcs)) {
		v := c.vpcs[id]
		if want != "" && id != want {
			continue
		}
		j := vpcJSON{VpcId: id, VpcName: v.Name, RegionId: v.Region, Status: "Available", CidrBlock: v.CIDR, IsDefault: v.isDefault,
			CreationTime: apiTime(v.created)}
		j.VSwitchIds.VSwitchId = []string{}
		for _, sid := range slices.Sorted(mapKeys(c.vswitches)) {
			if c.vswitches[sid].VpcID == id {
				j.VSwitchIds.VSwitchId = append(j.VSwitchIds.VSwitchId, sid)
			}
		}
		rows = append(rows, j)
	}
	lo, hi := pg.window(len(rows))
	var resp struct {
		listPage
		Vpcs struct {
			Vpc []vpcJSON `json:"Vpc"`
		} `json:"Vpcs"`
	}
	resp.listPage = listPage{q.reqID, len(rows), pg.number, pg.size}
	resp.Vpcs.Vpc = append([]vpcJSON{}, rows[lo:hi]...)
	return resp, nil
}

func (s *Service) describeVSwitches(q *request) (any, *apiError) {
	pg, aerr := q.pageNumbers()
	if aerr != nil {
		return nil, aerr
	}
	wantID, wantVpc, wantZone := q.get("VSwitchId"), q.get("VpcId"), q.get("ZoneId")
	type vswJSON struct {
		VSwitchId               string `json:"VSwitchId"`
		VSwitchName             string `json:"VSwitchName"`
		VpcId                   string `json:"VpcId"`
		ZoneId                  string `json:"ZoneId"`
		Status                  string `json:"Status"`
		CidrBlock               string `json:"CidrBlock"`
		IsDefault               bool   `json:"IsDefault"`
		AvailableIpAddressCount int64  `json:"AvailableIpAddressCount"`
		CreationTime            string `json:"CreationTime"`
	}
	r := s.regions[q.region]
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.compute
	var rows []vswJSON
	for _, id := range slices.Sorted(mapKeys(c.vswitches)) {
		v := c.vswitches[id]
		if wantID != "" && id != wantID || wantVpc != "" && v.VpcID != wantVpc || wantZone != "" && v.ZoneID != wantZone {
			continue
		}
		used := 0
		for _, in := range r.instances {
			if in.VSwitchID == id {
				used++
			}
		}
		free := int64(1)<<(32-v.prefix.Bits()) - 4 - int64(used) // ECS reserves 4 addresses per vSwitch
		rows = append(rows, vswJSON{VSwitchId: id, VSwitchName: v.Name, VpcId: v.VpcID, ZoneId: v.ZoneID, Status: "Available",
			CidrBlock: v.CIDR, IsDefault: v.isDefault, AvailableIpAddressCount: free, CreationTime: apiTime(v.created)})
	}
	lo, hi := pg.window(len(rows))
	var resp struct {
		listPage
		VSwitches struct {
			VSwitch []vswJSON `json:"VSwitch"`
		} `json:"VSwitches"`
	}
	resp.listPage = listPage{q.reqID, len(rows), pg.number, pg.size}
	resp.VSwitches.VSwitch = append([]vswJSON{}, rows[lo:hi]...)
	return resp, nil
}

func (s *Service) describeSecurityGroups(q *request) (any, *apiError) {
	pg, aerr := q.paging()
	if aerr != nil {
		return nil, aerr
	}
	ids, aerr := q.jsonArrayParam("SecurityGroupIds", "InvalidSecurityGroupIds.Malformed", 100)
	if aerr != nil {
		return nil, aerr
	}
	wantID, wantVpc := q.get("SecurityGroupId"), q.get("VpcId")
	type sgJSON struct {
		SecurityGroupId   string   `json:"SecurityGroupId"`
		SecurityGroupName string   `json:"SecurityGroupName"`
		SecurityGroupType string   `json:"SecurityGroupType"`
		VpcId             string   `json:"VpcId"`
		EcsCount          int      `json:"EcsCount"`
		CreationTime      string   `json:"CreationTime"`
		Tags              tagsJSON `json:"Tags"`
	}
	r := s.regions[q.region]
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.compute
	var rows []sgJSON
	for _, id := range slices.Sorted(mapKeys(c.groups)) {
		g := c.groups[id]
		if wantID != "" && id != wantID || wantVpc != "" && g.VpcID != wantVpc || ids != nil && !slices.Contains(ids, id) {
			continue
		}
		n := 0
		for _, in := range r.instances {
			if slices.Contains(in.SecurityGroupIDs, id) {
				n++
			}
		}
		rows = append(rows, sgJSON{SecurityGroupId: id, SecurityGroupName: g.Name, SecurityGroupType: "normal", VpcId: g.VpcID,
			EcsCount: n, CreationTime: apiTime(g.created), Tags: tagList(nil)})
	}
	lo, hi := pg.window(len(rows))
	var resp struct {
		listPage
		RegionId       string `json:"RegionId"`
		NextToken      string `json:"NextToken"`
		SecurityGroups struct {
			SecurityGroup []sgJSON `json:"SecurityGroup"`
		} `json:"SecurityGroups"`
	}
	resp.listPage = listPage{q.reqID, len(rows), pg.number, pg.size}
	resp.RegionId, resp.NextToken = r.id, pg.nextToken()
	resp.SecurityGroups.SecurityGroup = append([]sgJSON{}, rows[lo:hi]...)
	return resp, nil
}

// ---- DescribeInstanceRamRole ----

func (s *Service) describeInstanceRAMRole(q *request) (any, *apiError) {
	ids, aerr := q.jsonArrayParam("InstanceIds", "InvalidInstanceIds.Malformed", 100)
	if aerr != nil {
		return nil, aerr
	}
	pg, aerr := q.pageNumbers()
	if aerr != nil {
		return nil, aerr
	}
	role := q.get("RamRoleName")
	if ids == nil && role == "" {
		return nil, missing("InstanceIds")
	}
	type setJSON struct {
		InstanceId  string `json:"InstanceId"`
		RamRoleName string `json:"RamRoleName"`
	}
	r := s.regions[q.region]
	r.mu.Lock()
	defer r.mu.Unlock()
	var rows []setJSON
	for _, in := range sortedInstances(r) {
		if ids != nil && !slices.Contains(ids, in.ID) || in.RAMRole == "" || role != "" && in.RAMRole != role {
			continue
		}
		rows = append(rows, setJSON{InstanceId: in.ID, RamRoleName: in.RAMRole})
	}
	lo, hi := pg.window(len(rows))
	var resp struct {
		RequestId           string `json:"RequestId"`
		RegionId            string `json:"RegionId"`
		TotalCount          int    `json:"TotalCount"`
		InstanceRamRoleSets struct {
			InstanceRamRoleSet []setJSON `json:"InstanceRamRoleSet"`
		} `json:"InstanceRamRoleSets"`
	}
	resp.RequestId, resp.RegionId, resp.TotalCount = q.reqID, r.id, len(rows)
	resp.InstanceRamRoleSets.InstanceRamRoleSet = append([]setJSON{}, rows[lo:hi]...)
	return resp, nil
}

// ---- DescribeInstanceTypes / DescribeAvailableResource ----

func (s *Service) describeInstanceTypes(q *request) (any, *apiError) {
	idx, aerr := q.indexed("InstanceTypes", 10)
	if aerr != nil {
		return nil, aerr
	}
	var want []string
	for _, n := range sortedKeys(idx) {
		want = append(want, idx[n][""])
	}
	family := q.get("InstanceTypeFamily")
	type typeJSON struct {
		InstanceTypeId     string  `json:"InstanceTypeId"`
		InstanceTypeFamily string  `json:"InstanceTypeFamily"`
		CpuCoreCount       int     `json:"CpuCoreCount"`
		MemorySize         float64 `json:"MemorySize"`
		CpuArchitecture    string  `json:"CpuArchitecture"`
		InstanceCategory   string  `json:"InstanceCategory"`
	}
	var resp struct {
		RequestId     string `json:"RequestId"`
		NextToken     string `json:"NextToken"`
		InstanceTypes struct {
			InstanceType []typeJSON `json:"InstanceType"`
		} `json:"InstanceTypes"`
	}
	resp.RequestId = q.reqID
	resp.InstanceTypes.InstanceType = []typeJSON{}
	for _, t := range instanceTypes {
		if want != nil && !slices.Contains(want, t.Name) || family != "" && t.Family != family {
			continue
		}
		resp.InstanceTypes.InstanceType = append(resp.InstanceTypes.InstanceType, typeJSON{InstanceTypeId: t.Name,
			InstanceTypeFamily: t.Family, CpuCoreCount: t.CPU, MemorySize: float64(t.MemoryGiB), CpuArchitecture: "X86",
			InstanceCategory: "General-purpose"})
	}
	return resp, nil
}

// describeAvailableResource answers DestinationResource=InstanceType (the only one a
// restore needs): per zone of the region (or ZoneId), every catalog type (or
// InstanceType) with its stock status.
func (s *Service) describeAvailableResource(q *request) (any, *apiError) {
	dest := q.get("DestinationResource")
	switch dest {
	case "":
		return nil, missing("DestinationResource")
	case "InstanceType":
	case "Zone", "IoOptimized", "SystemDisk", "DataDisk", "Network", "ddh", "InstanceTypeFamily":
		return nil, errf(400, "InvalidParameter.NotSupported", "The local cloud serves DestinationResource=InstanceType only, not %q.", dest)
	default:
		return nil, errf(400, "InvalidDestinationResource.ValueNotSupported", "The specified DestinationResource %q is not valid.", dest)
	}
	wantZone, wantType := q.get("ZoneId"), q.get("InstanceType")
	type supJSON struct {
		Value          string `json:"Value"`
		Status         string `json:"Status"`
		StatusCategory string `json:"StatusCategory"`
	}
	type resJSON struct {
		Type               string `json:"Type"`
		SupportedResources struct {
			SupportedResource []supJSON `json:"SupportedResource"`
		} `json:"SupportedResources"`
	}
	type zoneJSON struct {
		RegionId           string `json:"RegionId"`
		ZoneId             string `json:"ZoneId"`
		Status             string `json:"Status"`
		StatusCategory     string `json:"StatusCategory"`
		AvailableResources struct {
			AvailableResource []resJSON `json:"AvailableResource"`
		} `json:"AvailableResources"`
	}
	r := s.regions[q.region]
	r.mu.Lock()
	defer r.mu.Unlock()
	var resp struct {
		RequestId      string `json:"RequestId"`
		AvailableZones struct {
			AvailableZone []zoneJSON `json:"AvailableZone"`
		} `json:"AvailableZones"`
	}
	resp.RequestId = q.reqID
	resp.AvailableZones.AvailableZone = []zoneJSON{}
	for _, z := range r.compute.zones {
		if wantZone != "" && z != wantZone {
			continue
		}
		res := resJSON{Type: "InstanceType"}
		any := false
		for _, t := range instanceTypes {
			if wantType != "" && t.Name != wantType {
				continue
			}
			sr := supJSON{Value: t.Name, Status: "Available", StatusCategory: "WithStock"}
			if r.compute.soldOut[z+"/"+t.Name] {
				sr.Status, sr.StatusCategory = "SoldOut", "WithoutStock"
			} else {
				any = true
			}
			res.SupportedResources.SupportedResource = append(res.SupportedResources.SupportedResource, sr)
		}
		if len(res.SupportedResources.SupportedResource) == 0 {
			continue
		}
		zj := zoneJSON{RegionId: r.id, ZoneId: z, Status: "Available", StatusCategory: "WithStock"}
		if !any {
			zj.Status, zj.StatusCategory = "SoldOut", "WithoutStock"
		}
		zj.AvailableResources.AvailableResource = []resJSON{res}
		resp.AvailableZones.AvailableZone = append(resp.AvailableZones.AvailableZone, zj)
	}
	return resp, nil
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// ---- admin ----

// SetSoldOut marks instanceType sold out (or back in stock) in zone of region.
func (s *Service) SetSoldOut(regionID, zoneID, instanceType string, soldOut bool) error {
	if instanceTypeByName(instanceType) == nil {
		return errUnknown("instance type", instanceType)
	}
	r := s.regions[regionID]
	if r == nil {
		return errUnknown("region", regionID)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if soldOut {
		r.compute.soldOut[zoneID+"/"+instanceType] = true
	} else {
		delete(r.compute.soldOut, zoneID+"/"+instanceType)
	}
	return nil
}

// Zones returns the zones of region.
func (s *Service) Zones(regionID string) []string {
	if r := s.regions[regionID]; r != nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		return slices.Clone(r.compute.zones)
	}
	return nil
}

// AddNetwork adds a VPC with one vSwitch per zone and a security group to region (a drill
// network, a DR network): ids are vpc-<name>, vsw-<name>-<zone suffix>, sg-<name>.
func (s *Service) AddNetwork(regionID, name, cidr16 string) error {
	r := s.regions[regionID]
	if r == nil {
		return errUnknown("region", regionID)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addNetworkLocked(name, cidr16, s.env.Clock.Now())
}

type unknownError struct{ what, id string }

func (e unknownError) Error() string { return "unknown " + e.what + " " + strings.TrimSpace(e.id) }

func errUnknown(what, id string) error { return unknownError{what, id} }
