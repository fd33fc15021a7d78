package ecs

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

// The indexed list calls must answer exactly what a full scan and sort answers: same
// items, same order, same TotalCount, on every page, after any sequence of mutations.
// The brute-force models below are the pre-index implementations.

func bruteImages(r *region, statuses, ids []string, tagF []tagParam, name, usage string, off, size int) (int, []string) {
	var match []*image
	for _, im := range r.images {
		switch {
		case !slices.Contains(statuses, im.Status),
			len(ids) > 0 && !slices.Contains(ids, im.ID),
			name != "" && !strings.Contains(im.Name, name),
			usage != "" && bruteUsage(r, im.ID) != usage,
			!matchTags(im.Tags, tagF):
			continue
		}
		match = append(match, im)
	}
	slices.SortFunc(match, func(a, b *image) int {
		if c := b.CreationTime.Compare(a.CreationTime); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	lo := min(off, len(match))
	hi := min(lo+size, len(match))
	var out []string
	for _, im := range match[lo:hi] {
		out = append(out, im.ID)
	}
	return len(match), out
}

func bruteUsage(r *region, id string) string {
	for _, in := range r.instances {
		if in.ImageID == id {
			return "instance"
		}
	}
	return "none"
}

func bruteSnapshots(r *region, status string, tagF []tagParam, off, size int) (int, []string) {
	var match []*snapshot
	for _, sn := range r.snapshots {
		if status != "" && status != "all" && sn.Status != status || !matchTags(sn.Tags, tagF) {
			continue
		}
		match = append(match, sn)
	}
	slices.SortFunc(match, func(a, b *snapshot) int {
		if c := b.CreationTime.Compare(a.CreationTime); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	lo := min(off, len(match))
	hi := min(lo+size, len(match))
	var out []string
	for _, sn := range match[lo:hi] {
		out = append(out, sn.ID)
	}
	return len(match), out
}

func bruteInstances(r *region, status string, tagF []tagParam, off, size int) (int, []string) {
	var ids []string
	for _, in := range r.instances {
		if status != "" && in.Status != status || !matchTags(in.Tags, tagF) {
			continue
		}
		ids = append(ids, in.ID)
	}
	slices.Sort(ids)
	lo := min(off, len(ids))
	hi := min(lo+size, len(ids))
	return len(ids), ids[lo:hi]
}

var (
	idxStatuses = []string{"Available", "Creating", "Waiting", "CreateFailed"}
	idxTagKeys  = []string{"pol", "inst", "slot", "role"}
)

func randTags(rng *rand.Rand) map[string]string {
	m := map[string]string{}
	for _, k := range idxTagKeys {
		if rng.IntN(5) > 0 {
			m[k] = fmt.Sprintf("%s%d", k, rng.IntN(4))
		}
	}
	return m
}

func randTagFilter(rng *rand.Rand) ([]tagParam, url.Values) {
	var f []tagParam
	v := url.Values{}
	for i, k := range idxTagKeys {
		if rng.IntN(3) > 0 {
			continue
		}
		n := strconv.Itoa(len(f) + 1)
		t := tagParam{Key: k}
		v.Set("Tag."+n+".Key", k)
		if rng.IntN(4) > 0 { // mostly key=value, sometimes key only
			t.Value, t.HasValue = fmt.Sprintf("%s%d", k, rng.IntN(4)), true
			v.Set("Tag."+n+".Value", t.Value)
		}
		_ = i
		f = append(f, t)
	}
	return f, v
}

// checkIndexes compares the indexed DescribeImages/DescribeSnapshots/DescribeInstances
// with the brute-force models on random filters and pages; it returns the first
// difference.
func checkIndexes(s *Service, regionID string, rng *rand.Rand, queries int) error {
	r := s.regions[regionID]
	for range queries {
		tagF, params := randTagFilter(rng)
		statuses := []string{"Available"}
		if rng.IntN(2) == 0 {
			statuses = slices.Clone(idxStatuses[:1+rng.IntN(len(idxStatuses))])
			params.Set("Status", strings.Join(statuses, ","))
		}
		size := 1 + rng.IntN(30)
		page := 1 + rng.IntN(4)
		params.Set("PageSize", strconv.Itoa(size))
		params.Set("PageNumber", strconv.Itoa(page))
		var ids []string
		switch rng.IntN(6) {
		case 0:
			r.mu.Lock()
			for id := range r.images {
				if rng.IntN(40) == 0 {
					ids = append(ids, id)
				}
			}
			r.mu.Unlock()
			ids = append(ids, "m-unknown")
			params.Set("ImageId", strings.Join(ids, ","))
		case 1:
			params.Set("Usage", []string{"instance", "none"}[rng.IntN(2)])
		}
		q := &request{params: params, region: regionID, reqID: "t"}
		resp, aerr := s.describeImages(q)
		if aerr != nil {
			return fmt.Errorf("DescribeImages %v: %v", params, aerr)
		}
		got := resp.(describeImagesResponse)
		r.mu.Lock()
		total, want := bruteImages(r, statuses, ids, tagF, "", params.Get("Usage"), (page-1)*size, size)
		r.mu.Unlock()
		var gotIDs []string
		for _, im := range got.Images.Image {
			gotIDs = append(gotIDs, im.ImageId)
		}
		if got.TotalCount != total || !slices.Equal(gotIDs, want) {
			return fmt.Errorf("DescribeImages %v: total %d %v, a full scan gives %d %v", params, got.TotalCount, gotIDs, total, want)
		}

		snStatus := []string{"", "all", "progressing", "accomplished", "failed"}[rng.IntN(5)]
		sp := url.Values{"PageSize": {strconv.Itoa(size)}, "PageNumber": {strconv.Itoa(page)}}
		for k, v := range params {
			if strings.HasPrefix(k, "Tag.") {
				sp[k] = v
			}
		}
		if snStatus != "" {
			sp.Set("Status", snStatus)
		}
		sresp, aerr := s.describeSnapshots(&request{params: sp, region: regionID, reqID: "t"})
		if aerr != nil {
			return fmt.Errorf("DescribeSnapshots %v: %v", sp, aerr)
		}
		sgot := sresp.(describeSnapshotsResponse)
		r.mu.Lock()
		stotal, swant := bruteSnapshots(r, snStatus, tagF, (page-1)*size, size)
		r.mu.Unlock()
		var sIDs []string
		for _, sn := range sgot.Snapshots.Snapshot {
			sIDs = append(sIDs, sn.SnapshotId)
		}
		if sgot.TotalCount != stotal || !slices.Equal(sIDs, swant) {
			return fmt.Errorf("DescribeSnapshots %v: total %d %v, a full scan gives %d %v", sp, sgot.TotalCount, sIDs, stotal, swant)
		}

		inStatus := []string{"", "Running", "Stopped"}[rng.IntN(3)]
		ip := url.Values{"PageSize": {strconv.Itoa(size)}, "PageNumber": {strconv.Itoa(page)}}
		for k, v := range params {
			if strings.HasPrefix(k, "Tag.") {
				ip[k] = v
			}
		}
		if inStatus != "" {
			ip.Set("Status", inStatus)
		}
		iresp, aerr := s.describeInstances(&request{params: ip, region: regionID, reqID: "t"})
		if aerr != nil {
			return fmt.Errorf("DescribeInstances %v: %v", ip, aerr)
		}
		igot := iresp.(describeInstancesResponse)
		r.mu.Lock()
		itotal, iwant := bruteInstances(r, inStatus, tagF, (page-1)*size, size)
		r.mu.Unlock()
		var iIDs []string
		for _, in := range igot.Instances.Instance {
			iIDs = append(iIDs, in.InstanceId)
		}
		if igot.TotalCount != itotal || !slices.Equal(iIDs, iwant) {
			return fmt.Errorf("DescribeInstances %v: total %d %v, a full scan gives %d %v", ip, igot.TotalCount, iIDs, itotal, iwant)
		}
	}
	return nil
}

// idxFixture is a service with a big enough region that views are built (> viewMin).
func idxFixture(t *testing.T, rng *rand.Rand) *Service {
	t.Helper()
	env := core.NewEnv(core.NewManualClock(t0), nil)
	seed := DefaultSeed()
	seed.ImageQuota = 1 << 20
	s, err := New(env, seed)
	if err != nil {
		t.Fatal(err)
	}
	r := s.regions["cn-hangzhou"]
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range 60 {
		in := newInstance(InstanceSeed{ID: fmt.Sprintf("i-idx%03d", i), Region: r.id, Tags: randTags(rng),
			Status: []string{"Running", "Stopped"}[rng.IntN(2)], Disks: []DiskSeed{{Type: "system", SizeGiB: 20}}}, t0)
		r.addInstance(in)
	}
	for i := range 1500 {
		// Few distinct creation times, so the id tie-break is exercised.
		created := t0.Add(-time.Duration(rng.IntN(50)) * time.Hour)
		im := &image{Image: Image{ID: fmt.Sprintf("m-idx%05d", i), RegionID: r.id, Status: idxStatuses[rng.IntN(len(idxStatuses))],
			OwnerAlias: "self", CreationTime: created, Tags: randTags(rng), Name: fmt.Sprintf("img-%d", i)}}
		sn := &snapshot{Snapshot: Snapshot{ID: fmt.Sprintf("s-idx%05d", i), RegionID: r.id, Status: "accomplished", Usage: "image",
			ImageID: im.ID, CreationTime: created, Tags: randTags(rng)}}
		im.Disks = []ImageDisk{{SnapshotID: sn.ID, Type: "system"}}
		r.addSnapshot(sn)
		r.addImage(im)
	}
	return s
}

// mutateRandomly changes the region through the indexed writers, as the handlers do.
func mutateRandomly(s *Service, regionID string, rng *rand.Rand, n int) {
	r := s.regions[regionID]
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := slices.Sorted(func(yield func(string) bool) {
		for id := range r.images {
			if !yield(id) {
				return
			}
		}
	})
	next := len(ids)
	for range n {
		id := ids[rng.IntN(len(ids))]
		im := r.images[id]
		switch op := rng.IntN(7); {
		case im == nil || op == 0: // a new image, newest or back-dated
			created := t0.Add(time.Duration(rng.IntN(100)-50) * time.Hour)
			nim := &image{Image: Image{ID: fmt.Sprintf("m-idx%05d", next), RegionID: r.id, Status: "Creating", OwnerAlias: "self",
				CreationTime: created, Tags: randTags(rng)}}
			next++
			r.addImage(nim)
			ids = append(ids, nim.ID)
		case op == 1:
			r.updateImage(im, func() { im.Status = idxStatuses[rng.IntN(len(idxStatuses))] })
		case op == 2:
			r.setTagsLocked("image", id, func(m map[string]string) { m[idxTagKeys[rng.IntN(4)]] = fmt.Sprintf("v%d", rng.IntN(4)) })
		case op == 3:
			r.setTagsLocked("image", id, func(m map[string]string) { delete(m, idxTagKeys[rng.IntN(4)]) })
		case op == 4:
			r.removeImage(im)
			for _, d := range im.Disks {
				if sn := r.snapshots[d.SnapshotID]; sn != nil {
					if rng.IntN(2) == 0 {
						r.removeSnapshot(sn)
					} else {
						r.updateSnapshot(sn, func() { sn.Usage, sn.ImageID, sn.Status = "none", "", "failed" })
					}
				}
			}
		case op == 5:
			for sid, sn := range r.snapshots {
				r.setTagsLocked("snapshot", sid, func(m map[string]string) { m["pol"] = fmt.Sprintf("pol%d", rng.IntN(4)) })
				_ = sn
				break
			}
		default:
			for _, in := range r.instances {
				if rng.IntN(10) == 0 {
					r.updateInstance(in, func() { in.Status = []string{"Running", "Stopped"}[rng.IntN(2)] })
					r.setTagsLocked("instance", in.ID, func(m map[string]string) { m["inst"] = fmt.Sprintf("inst%d", rng.IntN(4)) })
				}
			}
		}
	}
}

func TestIndexesMatchFullScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 1))
	s := idxFixture(t, rng)
	for round := range 20 {
		if err := checkIndexes(s, "cn-hangzhou", rng, 30); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		mutateRandomly(s, "cn-hangzhou", rng, 200)
	}
	r := s.regions["cn-hangzhou"]
	if len(r.imgIdx.views) == 0 || len(r.snapIdx.views) == 0 {
		t.Fatalf("no view was built (images %d, snapshots %d): the cached path is untested", len(r.imgIdx.views), len(r.snapIdx.views))
	}
}

// TestIndexCheckCatchesBypass shows the check above fails when a mutation bypasses the
// indexed writers (the invariant it guards).
func TestIndexCheckCatchesBypass(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 2))
	s := idxFixture(t, rng)
	r := s.regions["cn-hangzhou"]
	if err := checkIndexes(s, "cn-hangzhou", rng, 20); err != nil {
		t.Fatalf("before the bypass: %v", err)
	}
	r.mu.Lock()
	for _, im := range r.images {
		im.Tags["pol"] = "pol0" // no updateImage: postings and views go stale
		im.Status = "Available"
	}
	r.mu.Unlock()
	if err := checkIndexes(s, "cn-hangzhou", rng, 200); err == nil {
		t.Fatal("the check found no difference after tags changed behind the indexes")
	}
}

// TestRegionCountersFollowImages checks the quota count, the name set, the copy
// conflicts and Usage against their definitions after mutations.
func TestRegionCountersFollowImages(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 3))
	s := idxFixture(t, rng)
	r := s.regions["cn-hangzhou"]
	r.mu.Lock()
	defer r.mu.Unlock()
	cp := &image{Image: Image{ID: "m-copy1", RegionID: r.id, Status: "Waiting", OwnerAlias: "self", IsCopied: true,
		CopySourceRegion: "cn-shanghai", CopySourceImageID: "m-src", Name: "copy-1", CreationTime: t0}}
	r.addImage(cp)
	if !r.copyInProgress("cn-shanghai", "m-src") || !r.nameTaken("copy-1") {
		t.Fatal("a Waiting copy is not seen as a copy in progress, or its name as taken")
	}
	r.updateImage(cp, func() { cp.Status = "Available" })
	if r.copyInProgress("cn-shanghai", "m-src") {
		t.Fatal("an Available copy still counts as in progress")
	}
	n := 0
	for _, im := range r.images {
		if im.OwnerAlias == "self" {
			n++
		}
	}
	if r.customImageCount() != n {
		t.Fatalf("custom image count %d, %d by scan", r.customImageCount(), n)
	}
	r.removeImage(cp)
	if r.nameTaken("copy-1") || r.customImageCount() != n-1 {
		t.Fatal("a deleted image's name or quota slot is still held")
	}
	in := newInstance(InstanceSeed{ID: "i-user", Region: r.id, ImageID: "m-idx00001", Disks: []DiskSeed{{Type: "system", SizeGiB: 20}}}, t0)
	r.addInstance(in)
	if r.imageUsage("m-idx00001") != "instance" || bruteUsage(r, "m-idx00001") != "instance" {
		t.Fatal("an image an instance was launched from is not in use")
	}
	r.removeInstance(in)
	if r.imageUsage("m-idx00001") != bruteUsage(r, "m-idx00001") {
		t.Fatalf("usage %s after the instance left, %s by scan", r.imageUsage("m-idx00001"), bruteUsage(r, "m-idx00001"))
	}
}
