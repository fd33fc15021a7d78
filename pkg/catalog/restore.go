package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
)

// RestoreSpec is what a restore needs besides the image to rebuild the server: gathered by
// the create run from batched describe calls (DescribeInstances, DescribeDisks per region
// and page, DescribeInstanceRamRole per 100 instances) and kept in the DR region's catalog
// bucket, so it survives the loss of the source region. An entry without it is still
// restorable by image id alone (with an explicit instance type and network).
type RestoreSpec struct {
	InstanceID   string `json:"instanceId"`
	InstanceName string `json:"instanceName,omitempty"`
	InstanceType string `json:"instanceType"`
	CPU          int    `json:"cpu,omitempty"`
	MemoryMiB    int    `json:"memoryMiB,omitempty"`
	OSType       string `json:"osType,omitempty"`
	SourceRegion string `json:"sourceRegion"`
	SourceZone   string `json:"sourceZone"`
	VpcID        string `json:"vpcId,omitempty"`
	VSwitchID    string `json:"vSwitchId,omitempty"`
	PrivateIP    string `json:"privateIp,omitempty"`
	// SecurityGroupIDs in the order the instance lists them.
	SecurityGroupIDs []string          `json:"securityGroupIds,omitempty"`
	HostName         string            `json:"hostName,omitempty"`
	KeyPairName      string            `json:"keyPairName,omitempty"`
	RAMRole          string            `json:"ramRole,omitempty"`
	Tags             map[string]string `json:"tags,omitempty"`
	// Disks: the system disk first, then data disks by device.
	Disks []DiskSpec `json:"disks"`
	// CapturedAt is when this configuration was first seen (it is rewritten only when
	// the configuration changes).
	CapturedAt time.Time `json:"capturedAt"`
}

// DiskSpec is one disk of a protected instance.
type DiskSpec struct {
	Type     string `json:"type"` // system or data
	Device   string `json:"device"`
	Category string `json:"category"`
	SizeGiB  int    `json:"sizeGiB"`
}

// sameConfig compares two specs without CapturedAt.
func sameConfig(a, b RestoreSpec) bool {
	a.CapturedAt, b.CapturedAt = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

// Restore metadata layout: one object per (policy, source region) in each catalog bucket,
//
//	restore/<policy>/<source region>.json   {"schema":1,"policy":…,"sourceRegion":…,"instances":{id: spec}}
//
// written by the create run of that region: one GET and at most one PUT per destination
// and run, whatever the fleet size. Writes merge (upsert): an instance that is no longer
// seen keeps its last configuration, because restoring a server whose source is gone is
// exactly what the DR region is for. Two create runs of the same region that race write
// the same configurations; the last PUT wins and a later run repairs any loss.
type restoreDoc struct {
	Schema       int                    `json:"schema"`
	Policy       string                 `json:"policy"`
	SourceRegion string                 `json:"sourceRegion"`
	Instances    map[string]RestoreSpec `json:"instances"`
}

func restorePrefix(policy string) string { return "restore/" + policy + "/" }

func restoreKey(policy, sourceRegion string) string {
	return restorePrefix(policy) + sourceRegion + ".json"
}

// PutRestoreSpecs merges specs (by instance id) into the restore metadata of
// (policy, sourceRegion) in bucket. It writes nothing when no configuration changed and
// reports whether it wrote.
func PutRestoreSpecs(ctx context.Context, s ossx.Store, bucket, policy, sourceRegion string, specs []RestoreSpec) (bool, error) {
	if err := validatePolicy(policy); err != nil {
		return false, err
	}
	key := restoreKey(policy, sourceRegion)
	doc := restoreDoc{Schema: 1, Policy: policy, SourceRegion: sourceRegion, Instances: map[string]RestoreSpec{}}
	data, _, err := s.Get(ctx, bucket, key)
	switch {
	case errors.Is(err, ossx.ErrNotFound):
	case err != nil:
		return false, fmt.Errorf("catalog: read %s: %w", key, err)
	default:
		if err := json.Unmarshal(data, &doc); err != nil || doc.Instances == nil {
			// A corrupt object is rebuilt from this run's view (the next runs of other
			// shards add theirs back).
			doc = restoreDoc{Schema: 1, Policy: policy, SourceRegion: sourceRegion, Instances: map[string]RestoreSpec{}}
		}
	}
	changed := false
	for _, sp := range specs {
		old, ok := doc.Instances[sp.InstanceID]
		if ok && sameConfig(old, sp) {
			continue
		}
		doc.Instances[sp.InstanceID] = sp
		changed = true
	}
	if !changed {
		return false, nil
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return false, fmt.Errorf("catalog: encode %s: %w", key, err)
	}
	if _, err := s.Put(ctx, bucket, key, out, ossx.PutOptions{ContentType: "application/json"}); err != nil {
		return false, fmt.Errorf("catalog: write %s: %w", key, err)
	}
	return true, nil
}

// ReadRestoreSpecs returns every instance's restore metadata of policy in bucket, by
// instance id. Objects that do not parse are reported in the error (joined) while the
// others are returned.
func ReadRestoreSpecs(ctx context.Context, s ossx.Store, bucket, policy string) (map[string]RestoreSpec, error) {
	if err := validatePolicy(policy); err != nil {
		return nil, err
	}
	objs, err := s.List(ctx, bucket, restorePrefix(policy))
	if err != nil {
		return nil, fmt.Errorf("catalog: list restore metadata: %w", err)
	}
	out := map[string]RestoreSpec{}
	var errs []error
	for _, o := range objs {
		if !strings.HasSuffix(o.Key, ".json") {
			continue
		}
		data, _, err := s.Get(ctx, bucket, o.Key)
		if err != nil {
			errs = append(errs, fmt.Errorf("catalog: read %s: %w", o.Key, err))
			continue
		}
		var doc restoreDoc
		if err := json.Unmarshal(data, &doc); err != nil {
			errs = append(errs, fmt.Errorf("catalog: corrupt restore metadata %s: %w", o.Key, err))
			continue
		}
		for _, id := range slices.Sorted(maps.Keys(doc.Instances)) {
			sp := doc.Instances[id]
			if prev, ok := out[id]; !ok || sp.CapturedAt.After(prev.CapturedAt) {
				out[id] = sp
			}
		}
	}
	return out, errors.Join(errs...)
}

// IndexEntry is the newest restorable image of one instance in one region as the
// catalog's keys name it (no object is read: one LIST per 1,000 entries, the cheap view
// the RPO monitor and drctl status need at fleet scale).
type IndexEntry struct {
	InstanceID, Region, ImageID string
	DataTime                    time.Time
}

// Index lists the catalog of policy: per instance and region, the winner by data time.
// A schema-1 catalog that was never migrated is not seen (Read merges it).
func Index(ctx context.Context, s ossx.Store, bucket, policy string) ([]IndexEntry, error) {
	if err := validatePolicy(policy); err != nil {
		return nil, err
	}
	groups, err := listRefs(ctx, s, bucket, policy, KindImage, nil)
	if err != nil {
		return nil, fmt.Errorf("catalog: index %s: %w", policy, err)
	}
	out := make([]IndexEntry, 0, len(groups))
	for g, refs := range groups {
		best := ranked(refs)[0]
		out = append(out, IndexEntry{InstanceID: g.subject, Region: g.region, ImageID: best.id, DataTime: best.dataTime})
	}
	slices.SortFunc(out, func(a, b IndexEntry) int {
		if c := strings.Compare(a.InstanceID, b.InstanceID); c != 0 {
			return c
		}
		return strings.Compare(a.Region, b.Region)
	})
	return out, nil
}

// DrillRecord is the outcome of the last drill of one instance in one region.
type DrillRecord struct {
	Policy       string    `json:"policy"`
	InstanceID   string    `json:"instanceId"`
	Region       string    `json:"region"`
	ImageID      string    `json:"imageId"`
	DataTime     time.Time `json:"dataTime"`
	StartedAt    time.Time `json:"startedAt"`
	RTOSeconds   float64   `json:"rtoSeconds"`
	Verified     bool      `json:"verified"`
	Reason       string    `json:"reason,omitempty"`
	InstanceType string    `json:"instanceType,omitempty"`
	TornDown     bool      `json:"tornDown"`
}

func drillKey(policy, instance, region string) string {
	return "drills/" + policy + "/" + instance + "/" + region + ".json"
}

// PutDrillRecord stores the last drill of an instance in a region (one object each).
func PutDrillRecord(ctx context.Context, s ossx.Store, bucket string, r DrillRecord) error {
	if err := validatePolicy(r.Policy); err != nil {
		return err
	}
	if !segmentRE.MatchString(r.InstanceID) || !segmentRE.MatchString(r.Region) {
		return fmt.Errorf("catalog: drill record: bad instance %q or region %q", r.InstanceID, r.Region)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("catalog: encode drill record: %w", err)
	}
	key := drillKey(r.Policy, r.InstanceID, r.Region)
	if _, err := s.Put(ctx, bucket, key, b, ossx.PutOptions{ContentType: "application/json"}); err != nil {
		return fmt.Errorf("catalog: write %s: %w", key, err)
	}
	return nil
}

// ReadDrillRecords returns the last drill of every instance and region of policy, keyed
// "instance/region".
func ReadDrillRecords(ctx context.Context, s ossx.Store, bucket, policy string) (map[string]DrillRecord, error) {
	if err := validatePolicy(policy); err != nil {
		return nil, err
	}
	objs, err := s.List(ctx, bucket, "drills/"+policy+"/")
	if err != nil {
		return nil, fmt.Errorf("catalog: list drill records: %w", err)
	}
	out := map[string]DrillRecord{}
	var errs []error
	for _, o := range objs {
		data, _, err := s.Get(ctx, bucket, o.Key)
		if err != nil {
			if !errors.Is(err, ossx.ErrNotFound) {
				errs = append(errs, fmt.Errorf("catalog: read %s: %w", o.Key, err))
			}
			continue
		}
		var r DrillRecord
		if err := json.Unmarshal(data, &r); err != nil {
			errs = append(errs, fmt.Errorf("catalog: corrupt drill record %s: %w", o.Key, err))
			continue
		}
		out[r.InstanceID+"/"+r.Region] = r
	}
	return out, errors.Join(errs...)
}
