package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/catalog"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/oss"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
	"github.com/ecsdr/ecs-image-dr/pkg/retention"
)

// dayPolicy is the fleet day's DR policy: every instance of the five source regions
// (backup=daily) copied to both DR regions, daily/weekly/monthly retention. The
// destination rule keeps about six images per instance, so 20,000 instances leave more
// than 100,000 managed images in each DR region.
const dayPolicy = `name: fleet
timezone: Asia/Shanghai
slotInterval: 24h
sources:
  - region: cn-hangzhou
    selectors: [{backup: daily}]
  - region: cn-shanghai
    selectors: [{backup: daily}]
  - region: cn-shenzhen
    selectors: [{backup: daily}]
  - region: cn-qingdao
    selectors: [{backup: daily}]
  - region: cn-chengdu
    selectors: [{backup: daily}]
destinations:
  - region: cn-beijing
  - region: ap-southeast-1
retention:
  source: {daily: 2, weekly: 2, monthly: 1}
  destination: {daily: 4, weekly: 3, monthly: 2}
rpoTarget: 26h
`

// historyShape is which past days of one instance still hold an image after yesterday's
// cleanup, for the source role and the copy role: the retention planner run once on one
// instance's candidate history (one image a day for daysBack days). Every instance of
// the fleet has the same schedule, so they all share the shape.
func historyShape(pol *policy.Policy, today time.Time, daysBack int) (src, dst []int) {
	var imgs []retention.Image
	for d := 1; d <= daysBack; d++ {
		created := today.AddDate(0, 0, -d)
		sid := fmt.Sprintf("m-src-%d", d)
		imgs = append(imgs,
			retention.Image{ID: sid, Region: SourceRegions[0], InstanceID: "i-shape", Status: retention.StatusAvailable,
				Created: created, Role: policy.RoleSource, Managed: true, Slot: pol.Slot(created)},
			retention.Image{ID: fmt.Sprintf("m-dst-%d", d), Region: DRRegions[0], InstanceID: "i-shape", Status: retention.StatusAvailable,
				Created: created.Add(copyLag), DataTime: created, Role: policy.RoleCopy, SourceImageID: sid,
				SourceRegion: SourceRegions[0], Managed: true, Slot: pol.Slot(created)})
	}
	// Yesterday's cleanup ran at 04:00, two hours after its create: that image was there.
	plan := retention.PlanCleanup(imgs, pol, today.AddDate(0, 0, -1).Add(2*time.Hour))
	for _, k := range plan.Keeps() {
		var d int
		if _, err := fmt.Sscanf(k.Image.ID[strings.LastIndexByte(k.Image.ID, '-')+1:], "%d", &d); err != nil {
			continue
		}
		if k.Image.Role == policy.RoleSource {
			src = append(src, d)
		} else {
			dst = append(dst, d)
		}
	}
	slices.Sort(src)
	slices.Sort(dst)
	return src, dst
}

// copyLag is how long after its source a seeded copy became Available.
const copyLag = 12 * time.Minute

// seedHistory is, by region, the images the product would have left by yesterday's
// cleanup, named and tagged exactly as create-image and copy-image tag them, and the
// catalog entries of the newest image of every instance in every region.
func seedHistory(pol *policy.Policy, instances map[string][]ecs.InstanceSeed, today time.Time, srcDays, dstDays []int) (map[string][]ecs.FleetImage, []catalog.Entry) {
	n := 0
	id := func() string { n++; return fmt.Sprintf("m-hist%014x", n) }
	need := map[int]bool{}
	for _, d := range srcDays {
		need[d] = true
	}
	for _, d := range dstDays {
		need[d] = true // a copy's source may be gone from the source region: it still names it
	}
	days := make([]int, 0, len(need))
	for d := range need {
		days = append(days, d)
	}
	slices.Sort(days) // newest first: day 1 is yesterday
	keepSrc, keepDst := map[int]bool{}, map[int]bool{}
	for _, d := range srcDays {
		keepSrc[d] = true
	}
	for _, d := range dstDays {
		keepDst[d] = true
	}
	out := map[string][]ecs.FleetImage{}
	var entries []catalog.Entry
	for _, region := range SourceRegions {
		for _, in := range instances[region] {
			newestSrc, newestDst := false, map[string]bool{}
			for _, d := range days {
				created := today.AddDate(0, 0, -d).Add(BuildTime())
				slot := pol.Slot(today.AddDate(0, 0, -d))
				name := pol.ImageName(in.ID, in.Name, in.Region, slot)
				srcID := id()
				if keepSrc[d] {
					tags := pol.ManagedTags(map[string]string{policy.TagSourceInstance: in.ID, policy.TagBucket: policy.BucketOf(in.ID), policy.TagSlot: slot,
						policy.TagRole: policy.RoleSource, policy.TagSourceRegion: in.Region, policy.TagAttempt: "1"})
					out[in.Region] = append(out[in.Region], ecs.FleetImage{ID: srcID, Name: name, SystemGiB: diskGiB,
						Tags: tags, SnapshotTags: claimed(pol, srcID, in.ID), CreationTime: created, SourceInstanceID: in.ID,
						Description: fmt.Sprintf("ecs-image-dr policy %s: instance %s, slot %s, attempt 1", pol.Name, in.ID, slot)})
					if !newestSrc {
						newestSrc = true
						entries = append(entries, catalog.Entry{Policy: pol.Name, InstanceID: in.ID, Region: in.Region, ImageID: srcID,
							ImageName: name, Role: policy.RoleSource, SourceRegion: in.Region, Slot: slot, CreationTime: created,
							DataTime: created, SizeGiB: diskGiB, Tags: tags, RPOSeconds: 0, UpdatedAt: created})
					}
				}
				if !keepDst[d] {
					continue
				}
				for _, dr := range DRRegions {
					tags := pol.ManagedTags(map[string]string{policy.TagSourceImage: srcID, policy.TagSourceInstance: in.ID, policy.TagBucket: policy.BucketOf(in.ID),
						policy.TagSourceRegion: in.Region, policy.TagSlot: slot, policy.TagRole: policy.RoleCopy, policy.TagAttempt: "1",
						policy.TagDataTime: created.UTC().Format(time.RFC3339)})
					cid, cname := id(), pol.CopyName(name, dr)
					out[dr] = append(out[dr], ecs.FleetImage{ID: cid, Name: cname, SystemGiB: diskGiB, Tags: tags, SnapshotTags: claimed(pol, cid, in.ID),
						CreationTime: created.Add(copyLag), CopySourceRegion: in.Region, CopySourceImageID: srcID,
						Description: fmt.Sprintf("ecs-image-dr policy %s: copy of %s from %s, attempt 1", pol.Name, srcID, in.Region)})
					if !newestDst[dr] {
						newestDst[dr] = true
						entries = append(entries, catalog.Entry{Policy: pol.Name, InstanceID: in.ID, Region: dr, ImageID: cid,
							ImageName: cname, Role: policy.RoleCopy, SourceImageID: srcID, SourceRegion: in.Region, Slot: slot,
							CreationTime: created.Add(copyLag), DataTime: created, SizeGiB: diskGiB, Tags: tags,
							RPOSeconds: int64(copyLag / time.Second), UpdatedAt: created.Add(copyLag)})
					}
				}
			}
		}
	}
	return out, entries
}

// memStore is an ossx.Store straight onto the local OSS's in-process state: the catalog
// is seeded through the product's own writer (its keys and encoding) in seconds, not
// through 100,000 HTTP requests.
type memStore struct{ s *oss.Service }

func (m memStore) Get(_ context.Context, bucket, key string) ([]byte, string, error) {
	b, ok := m.s.Object(bucket, key)
	if !ok {
		return nil, "", ossx.ErrNotFound
	}
	return b, `"seed"`, nil
}

func (m memStore) Put(_ context.Context, bucket, key string, data []byte, o ossx.PutOptions) (string, error) {
	if _, ok := m.s.Object(bucket, key); ok && o.ForbidOverwrite {
		return "", ossx.ErrAlreadyExists
	}
	return `"seed"`, m.s.PutObject(bucket, key, data)
}

func (m memStore) List(_ context.Context, bucket, prefix string) ([]ossx.ObjectInfo, error) {
	var out []ossx.ObjectInfo
	for _, k := range m.s.Keys(bucket) {
		if strings.HasPrefix(k, prefix) {
			out = append(out, ossx.ObjectInfo{Key: k})
		}
	}
	return out, nil
}

func (m memStore) Delete(context.Context, string, string) error {
	return errors.New("bench: the seeding store never deletes")
}

// claimed are the tags of a snapshot the product has claimed as its image's (the event
// path claims them when the image turns Available): yesterday's history is in that state.
func claimed(pol *policy.Policy, imageID, instance string) map[string]string {
	return map[string]string{policy.TagManagedBy: policy.ManagedByValue, policy.TagPolicy: pol.Name,
		policy.TagSnapshotOf: imageID, policy.TagSourceInstance: instance, policy.TagBucket: policy.BucketOf(instance)}
}
