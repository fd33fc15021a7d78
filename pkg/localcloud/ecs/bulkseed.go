package ecs

import (
	"fmt"
	"maps"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

// Bulk seeding for benches and fleet-scale tests (not on the wire): SeedImages and
// SeedInstances put tens of thousands of settled images (with their snapshots) and
// instances into a running Service in seconds, with no events, no timers and no QPS
// window, as if a fleet had been backed up for weeks before the bench starts.
//
//	ids, err := svc.SeedImages("cn-beijing", 100_000, func(i int) ecs.FleetImage {
//		return ecs.FleetImage{Name: fmt.Sprintf("dr-%d", i), CreationTime: t0.Add(-time.Duration(i) * time.Minute),
//			Tags: tags(i), DataGiB: []int{100}, CopySourceRegion: "cn-hangzhou", CopySourceImageID: srcIDs[i]}
//	})
//
// Each call validates every item before it changes anything: a bad item is an error
// naming it, and the region is left as it was.

// FleetImage is one image for SeedImages: a settled custom image as CreateImage or
// CopyImage would have left it, with one snapshot per disk.
type FleetImage struct {
	ID          string // default: a new m-… id; must not exist in the region
	Name        string // optional; like ECS, names of custom images are unique per region
	Description string
	// Status is Available (default), CreateFailed, UnAvailable or Deprecated.
	Status       string
	CreationTime time.Time // default: the clock's now
	SystemGiB    int       // default 40
	DataGiB      []int     // one data disk (and snapshot) each
	// SourceInstanceID is the instance the image was taken from (informational).
	SourceInstanceID string
	Tags             map[string]string // copied
	SnapshotTags     map[string]string // copied onto each of the image's snapshots
	// CopySourceRegion and CopySourceImageID make the image a copy (IsCopied); when the
	// source exists, its snapshots record the source's (SourceRegionID/SourceSnapshotID).
	CopySourceRegion  string
	CopySourceImageID string
}

var fleetImageStatuses = map[string]bool{"": true, "Available": true, "CreateFailed": true, "UnAvailable": true, "Deprecated": true}

// SeedImages adds n images to region, image i as gen(i) describes it, and returns their
// ids in order. The image quota is not checked (a bench sets Seed.ImageQuota).
func (s *Service) SeedImages(region string, n int, gen func(i int) FleetImage) ([]string, error) {
	r := s.regions[region]
	if r == nil {
		return nil, fmt.Errorf("seed images: unknown region %q", region)
	}
	if n < 0 {
		return nil, fmt.Errorf("seed images: negative count %d", n)
	}
	now := s.env.Clock.Now()
	specs := make([]FleetImage, n)
	for i := range specs {
		specs[i] = gen(i)
	}
	// The sources' snapshots, read under their own region's lock.
	srcSnaps := map[copySrc][]string{}
	for _, sp := range specs {
		if sp.CopySourceImageID == "" || sp.CopySourceRegion == region {
			continue
		}
		if s.regions[sp.CopySourceRegion] == nil {
			return nil, fmt.Errorf("seed images: unknown copy source region %q", sp.CopySourceRegion)
		}
		srcSnaps[copySrc{sp.CopySourceRegion, sp.CopySourceImageID}] = nil
	}
	for k := range srcSnaps {
		src := s.regions[k.region]
		src.mu.Lock()
		if im := src.images[k.id]; im != nil {
			for _, d := range im.Disks {
				srcSnaps[k] = append(srcSnaps[k], d.SnapshotID)
			}
		}
		src.mu.Unlock()
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]string, n)
	seen := make(map[string]bool, n)
	names := map[string]bool{}
	for i := range specs {
		sp := &specs[i]
		if sp.ID == "" {
			sp.ID = newImageID()
		}
		switch {
		case !fleetImageStatuses[sp.Status]:
			return nil, fmt.Errorf("seed images: image %d (%s): status %q is not a settled one (Available, CreateFailed, UnAvailable, Deprecated)", i, sp.ID, sp.Status)
		case sp.SystemGiB < 0:
			return nil, fmt.Errorf("seed images: image %d (%s): negative system disk size", i, sp.ID)
		case seen[sp.ID] || r.images[sp.ID] != nil:
			return nil, fmt.Errorf("seed images: image %d: id %s already exists in %s", i, sp.ID, region)
		case sp.Name != "" && (names[sp.Name] || r.nameTaken(sp.Name)):
			return nil, fmt.Errorf("seed images: image %d (%s): name %q already used in %s", i, sp.ID, sp.Name, region)
		case sp.CopySourceImageID == "" && sp.CopySourceRegion != "":
			return nil, fmt.Errorf("seed images: image %d (%s): copy source region without a source image", i, sp.ID)
		}
		for _, g := range sp.DataGiB {
			if g <= 0 {
				return nil, fmt.Errorf("seed images: image %d (%s): data disk size must be positive, got %d", i, sp.ID, g)
			}
		}
		if _, aerr := validateTagsToSet(tagParams(sp.Tags)); aerr != nil {
			return nil, fmt.Errorf("seed images: image %d (%s): tags: %s", i, sp.ID, aerr.Message)
		}
		seen[sp.ID] = true
		if sp.Name != "" {
			names[sp.Name] = true
		}
		ids[i] = sp.ID
	}
	snapStatus := map[bool]string{true: "accomplished", false: "failed"}
	var snapTags map[string]string // shared by every snapshot with equal tags (copy on write)
	for _, sp := range specs {
		if snapTags == nil || !maps.Equal(snapTags, sp.SnapshotTags) {
			snapTags = s.internTags(sp.SnapshotTags)
		}
		status := cmpOr(sp.Status, "Available")
		created := sp.CreationTime
		if created.IsZero() {
			created = now
		}
		sys := sp.SystemGiB
		if sys == 0 {
			sys = 40
		}
		im := &image{Image: Image{ID: sp.ID, RegionID: region, Name: sp.Name, Description: sp.Description, Status: status,
			OwnerAlias: "self", SizeGiB: sys, CreationTime: created, SourceInstanceID: sp.SourceInstanceID,
			IsCopied: sp.CopySourceImageID != "", CopySourceRegion: sp.CopySourceRegion, CopySourceImageID: sp.CopySourceImageID,
			OSType: "linux", Architecture: "x86_64", Platform: "Aliyun", Tags: s.internTags(sp.Tags)}}
		if im.IsCopied && im.CopySourceRegion == "" {
			im.CopySourceRegion = region
		}
		src := srcSnaps[copySrc{im.CopySourceRegion, im.CopySourceImageID}]
		ok := status != "CreateFailed"
		sizes := append([]int{sys}, sp.DataGiB...)
		im.Disks = make([]ImageDisk, 0, len(sizes))
		for d, size := range sizes {
			typ, dev := "data", "/dev/xvd"+string(rune('a'+d))
			if d == 0 {
				typ = "system"
			}
			sn := &snapshot{Snapshot: Snapshot{ID: newSnapshotID(), RegionID: region, Status: snapStatus[ok], SourceDiskType: typ,
				SourceDiskSizeGiB: size, Category: "standard", Usage: "image", ImageID: im.ID, CreationTime: created,
				Tags: snapTags}, sharedTags: true}
			if ok {
				sn.Progress = 100
			}
			if im.IsCopied {
				sn.SourceRegionID = im.CopySourceRegion
				if d < len(src) {
					sn.SourceSnapshotID = src[d]
				}
			}
			r.addSnapshot(sn)
			im.Disks = append(im.Disks, ImageDisk{SnapshotID: sn.ID, Device: dev, Type: typ, SizeGiB: size})
		}
		r.addImage(im)
	}
	return ids, nil
}

// SeedInstances adds n instances to region, instance i as gen(i) describes it (Region
// is ignored; an empty ID gets a new i-… id), on the region's default network, and
// returns their ids in order. The instance quota of RunInstances is not checked.
func (s *Service) SeedInstances(region string, n int, gen func(i int) InstanceSeed) ([]string, error) {
	r := s.regions[region]
	if r == nil {
		return nil, fmt.Errorf("seed instances: unknown region %q", region)
	}
	if n < 0 {
		return nil, fmt.Errorf("seed instances: negative count %d", n)
	}
	now := s.env.Clock.Now()
	specs := make([]InstanceSeed, n)
	known := map[string]bool{region: true}
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := make(map[string]bool, n)
	for i := range specs {
		in := gen(i)
		in.Region = region
		if in.ID == "" {
			in.ID = "i-" + core.RandomHex(10)
		}
		if errs := validateInstanceSeed(fmt.Sprintf("seed instances: instance %d (%s)", i, in.ID), in, known, true); len(errs) > 0 {
			return nil, errs[0]
		}
		if seen[in.ID] || r.instances[in.ID] != nil {
			return nil, fmt.Errorf("seed instances: instance %d: id %s already exists in %s", i, in.ID, region)
		}
		if in.ImageID != "" && r.images[in.ImageID] == nil {
			return nil, fmt.Errorf("seed instances: instance %d (%s): unknown image %q in %s", i, in.ID, in.ImageID, region)
		}
		seen[in.ID] = true
		specs[i] = in
	}
	ids := make([]string, n)
	for i, sp := range specs {
		sp.Tags = s.internTags(sp.Tags)
		in := newInstance(sp, now)
		r.defaultNetLocked(&in.Instance)
		r.addInstance(in)
		ids[i] = in.ID
	}
	return ids, nil
}

// tagParams turns a tag map into the parameters validateTagsToSet checks.
func tagParams(m map[string]string) []tagParam {
	out := make([]tagParam, 0, len(m))
	for k, v := range m {
		out = append(out, tagParam{Key: k, Value: v, HasValue: true})
	}
	return out
}

// internTags copies m, sharing the strings of keys and values with every other resource
// that carries them (a fleet's tags repeat: the policy, the role, the region).
func (s *Service) internTags(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	s.internMu.Lock()
	defer s.internMu.Unlock()
	for k, v := range m {
		out[s.intern(k)] = s.intern(v)
	}
	return out
}

// intern returns the shared copy of v; caller holds internMu. The table is bounded:
// unique values (image ids in tags) are kept as given once it is full.
func (s *Service) intern(v string) string {
	if x, ok := s.strs[v]; ok {
		return x
	}
	if len(s.strs) < maxInterned {
		if s.strs == nil {
			s.strs = map[string]string{}
		}
		s.strs[v] = v
	}
	return v
}

const maxInterned = 1 << 16
