package backup

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/catalog"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
)

// RestoreMeta keeps restore metadata in the catalog bucket of one destination region.
type RestoreMeta interface {
	PutRestoreSpecs(ctx context.Context, destRegion, policy, sourceRegion string, specs []catalog.RestoreSpec) error
}

// gatherRestore records, for every selected instance of region, what a restore needs to
// rebuild it, in every destination's catalog. The instances come from the run's own
// DescribeInstances (type, zone, network, host name, key pair); disks come from one
// DescribeDisks listing of the region (100 disks per call) and RAM roles from
// DescribeInstanceRamRole (100 instances per call): the run's call budget grows by about
// two calls per 100 instances, never by one per instance.
//
// A failure here does not fail the run (the images matter more); it is recorded and the
// next run writes the metadata again.
func (r *run) gatherRestore(ctx context.Context, region string, instances []ecsx.Instance) {
	if r.Compute == nil || r.RestoreMeta == nil {
		return
	}
	var sel []ecsx.Instance
	for _, in := range instances {
		if ok, _ := r.pol.Selects(region, in.ID, in.Tags); ok {
			sel = append(sel, in)
		}
	}
	if len(sel) == 0 {
		return
	}
	// Past the soft deadline the wrap-up must not start: it lists every disk of the region
	// and writes to each destination, and a run killed at its timeout loses its records.
	// The metadata is rewritten whole by the next create run.
	if sd, past := pastSoft(ctx); past {
		sd.notStarted("restore metadata", 1)
		return
	}
	started := time.Now()
	it := Item{Region: region}
	compute := ecsx.WithComputeRetry(r.Compute, r.retryConfig())
	disks, err := compute.DescribeDisks(ctx, region)
	if err != nil {
		it.Reason = "restore metadata: list disks: " + err.Error()
		r.record(ctx, "restore-meta", ResultFailed, it, err, started)
		return
	}
	ids := make([]string, len(sel))
	for i, in := range sel {
		ids[i] = in.ID
	}
	roles, err := compute.DescribeRAMRoles(ctx, region, ids)
	if err != nil {
		it.Reason = "restore metadata: list RAM roles: " + err.Error()
		r.record(ctx, "restore-meta", ResultFailed, it, err, started)
		return
	}
	specs := BuildRestoreSpecs(region, sel, disks, roles, r.now())
	if r.pol.DryRun {
		it.Reason = "would record restore metadata of " + itoa(len(specs)) + " instances"
		r.record(ctx, "restore-meta", ResultDryRun, it, nil, started)
		return
	}
	for _, d := range r.pol.Destinations {
		it := Item{Region: d.Region, Reason: "restore metadata of " + itoa(len(specs)) + " instances of " + region}
		if err := r.RestoreMeta.PutRestoreSpecs(ctx, d.Region, r.pol.Name, region, specs); err != nil {
			it.Reason += ": " + err.Error()
			r.record(ctx, "restore-meta", ResultFailed, it, err, started)
			continue
		}
		r.recordAt(ctx, debug, "restore-meta", ResultOK, it, nil, started)
	}
}

func (r *run) retryConfig() ecsx.RetryConfig {
	rc := r.Retry
	if r.Sleep != nil {
		rc.Sleep = r.Sleep
	}
	return rc
}

func itoa(n int) string {
	const digits = "0123456789"
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{digits[n%10]}, b...)
	}
	return string(b)
}

// BuildRestoreSpecs turns described instances, the region's disks and RAM roles into
// restore metadata (pure: tests and drctl use it too). Tags reserved by the cloud
// (acs:, aliyun) and the product's own (ecs-dr:) are left out.
func BuildRestoreSpecs(region string, instances []ecsx.Instance, disks []ecsx.Disk, roles map[string]string, now time.Time) []catalog.RestoreSpec {
	byInst := map[string][]ecsx.Disk{}
	for _, d := range disks {
		byInst[d.InstanceID] = append(byInst[d.InstanceID], d)
	}
	out := make([]catalog.RestoreSpec, 0, len(instances))
	for _, in := range instances {
		c := in.Config
		sp := catalog.RestoreSpec{InstanceID: in.ID, InstanceName: in.Name, InstanceType: c.InstanceType, CPU: c.CPU, MemoryMiB: c.MemoryMiB,
			OSType: c.OSType, SourceRegion: region, SourceZone: c.Zone, VpcID: c.VpcID, VSwitchID: c.VSwitchID, PrivateIP: c.PrivateIP,
			SecurityGroupIDs: slices.Clone(c.SecurityGroupIDs), HostName: c.HostName, KeyPairName: c.KeyPairName, RAMRole: roles[in.ID],
			CapturedAt: now.UTC(), Disks: []catalog.DiskSpec{}}
		for k, v := range in.Tags {
			if strings.HasPrefix(k, "acs:") || strings.HasPrefix(k, "aliyun") || strings.HasPrefix(k, "ecs-dr:") {
				continue
			}
			if sp.Tags == nil {
				sp.Tags = map[string]string{}
			}
			sp.Tags[k] = v
		}
		ds := byInst[in.ID]
		slices.SortFunc(ds, func(a, b ecsx.Disk) int {
			if (a.Type == "system") != (b.Type == "system") {
				if a.Type == "system" {
					return -1
				}
				return 1
			}
			return strings.Compare(a.Device, b.Device)
		})
		for _, d := range ds {
			sp.Disks = append(sp.Disks, catalog.DiskSpec{Type: d.Type, Device: d.Device, Category: d.Category, SizeGiB: d.SizeGiB})
		}
		out = append(out, sp)
	}
	slices.SortFunc(out, func(a, b catalog.RestoreSpec) int { return strings.Compare(a.InstanceID, b.InstanceID) })
	return out
}
