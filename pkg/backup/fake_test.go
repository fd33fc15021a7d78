package backup

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/catalog"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
)

// fakeECS is an in-memory ECS with the semantics the services depend on: image statuses
// (Creating until finished), DescribeImages defaulting to Available only, tag filters,
// ClientToken idempotency (which can be "forgotten", as the real service does), name
// uniqueness per region, CopyImage only from Available sources, one copy in progress per
// (source, destination), in-use images refusing deletion, snapshots referenced by images
// refusing deletion, calls after the caller's context ended failing. conformance_test.go
// runs the shared ECS contract (pkg/cloud/ecsx/ecsxtest) against it.
type fakeECS struct {
	mu        sync.Mutex
	now       func() time.Time
	seq       int
	instances map[string]map[string]*ecsx.Instance // region -> id
	images    map[string]map[string]*fakeImage     // region -> id
	snapshots map[string]map[string]bool           // region -> id
	snapTags  map[string]map[string]string         // region/snapshot id -> tags
	tokens    map[string]string                    // region/token -> image id
	calls     map[string]int
	// fail: per operation, errors returned by the next calls (consumed in order);
	// failIf: per operation, a predicate on the call's subject that fails it every time.
	fail   map[string][]error
	failIf map[string]func(region, subject string) error
	// failing: "region/instance" whose new images end CreateFailed (failImagesOf).
	failing map[string]bool
}

type fakeImage struct {
	ecsx.Image
	Encrypted bool
	KMSKeyID  string
	// CopyOf is "region/image id" of a copy's source.
	CopyOf string
	// WillFail: finishAll ends it CreateFailed (made from an instance set by failImagesOf).
	WillFail bool
}

func newFake(now func() time.Time) *fakeECS {
	return &fakeECS{now: now, instances: map[string]map[string]*ecsx.Instance{}, images: map[string]map[string]*fakeImage{},
		snapshots: map[string]map[string]bool{}, snapTags: map[string]map[string]string{}, tokens: map[string]string{}, calls: map[string]int{},
		fail: map[string][]error{}, failIf: map[string]func(string, string) error{}}
}

func (f *fakeECS) addInstance(region string, in ecsx.Instance) {
	f.mu.Lock()
	defer f.mu.Unlock()
	in.Region = region
	if f.instances[region] == nil {
		f.instances[region] = map[string]*ecsx.Instance{}
	}
	f.instances[region][in.ID] = &in
}

// addImage puts an image straight into a region (with one snapshot unless given).
func (f *fakeECS) addImage(region string, im ecsx.Image) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if im.Snapshots == nil {
		f.seq++
		im.Snapshots = []string{fmt.Sprintf("s-%d", f.seq)}
	}
	f.putLocked(region, &fakeImage{Image: im})
}

func (f *fakeECS) putLocked(region string, im *fakeImage) {
	im.Region = region
	if f.images[region] == nil {
		f.images[region] = map[string]*fakeImage{}
	}
	if f.snapshots[region] == nil {
		f.snapshots[region] = map[string]bool{}
	}
	f.images[region][im.ID] = im
	for _, s := range im.Snapshots {
		f.snapshots[region][s] = true
	}
}

// finishAll makes every Creating/Waiting image Available.
func (f *fakeECS) finishAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, imgs := range f.images {
		for _, im := range imgs {
			if im.Status == ecsx.StatusCreating || im.Status == ecsx.StatusWaiting {
				im.Status, im.Progress = ecsx.StatusAvailable, "100%"
				if im.WillFail {
					im.Status = ecsx.StatusCreateFailed
				}
			}
		}
	}
}

// failImagesOf makes every image created from the instance from now on end CreateFailed
// (the local cloud's SetFailImages).
func (f *fakeECS) failImagesOf(region, instanceID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failing == nil {
		f.failing = map[string]bool{}
	}
	f.failing[region+"/"+instanceID] = true
}

func (f *fakeECS) forgetTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens = map[string]string{}
}

func (f *fakeECS) image(region, id string) (fakeImage, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	im, ok := f.images[region][id]
	if !ok {
		return fakeImage{}, false
	}
	return *im, true
}

func (f *fakeECS) regionImages(region string) []fakeImage {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeImage
	for _, im := range f.images[region] {
		out = append(out, *im)
	}
	slices.SortFunc(out, func(a, b fakeImage) int { return a.Created.Compare(b.Created) })
	return out
}

func (f *fakeECS) hasSnapshot(region, id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snapshots[region][id]
}

func (f *fakeECS) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (f *fakeECS) failNext(op string, errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[op] = append(f.fail[op], errs...)
}

// enter counts the call and returns an injected failure, if any. Callers hold f.mu. A
// call made once the caller's context has ended fails with ctx.Err(), as the SDK adapter
// does.
func (f *fakeECS) enterLocked(ctx context.Context, op, region, subject string) error {
	f.calls[op]++
	if err := ctx.Err(); err != nil {
		return err
	}
	if q := f.fail[op]; len(q) > 0 {
		f.fail[op] = q[1:]
		return q[0]
	}
	if p := f.failIf[op]; p != nil {
		return p(region, subject)
	}
	return nil
}

func (f *fakeECS) newID(prefix string) string {
	f.seq++
	return fmt.Sprintf("%s%04d", prefix, f.seq)
}

func hasTags(have, want map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			return false
		}
	}
	return true
}

func (f *fakeECS) DescribeInstances(ctx context.Context, region string, q ecsx.InstanceQuery) ([]ecsx.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enterLocked(ctx, "DescribeInstances", region, ""); err != nil {
		return nil, err
	}
	var out []ecsx.Instance
	for _, in := range f.instances[region] {
		if len(q.IDs) > 0 && !slices.Contains(q.IDs, in.ID) || !hasTags(in.Tags, q.Tags) ||
			q.Status != "" && in.Status != q.Status || q.ImageID != "" && in.ImageID != q.ImageID {
			continue
		}
		c := *in
		c.Tags = maps.Clone(in.Tags)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b ecsx.Instance) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (f *fakeECS) DescribeImages(ctx context.Context, region string, q ecsx.ImageQuery) ([]ecsx.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enterLocked(ctx, "DescribeImages", region, ""); err != nil {
		return nil, err
	}
	statuses := q.Statuses
	if len(statuses) == 0 {
		statuses = []string{ecsx.StatusAvailable} // the real default hides in-flight images
	}
	var out []ecsx.Image
	for _, im := range f.images[region] {
		if len(q.IDs) > 0 && !slices.Contains(q.IDs, im.ID) || !slices.Contains(statuses, im.Status) ||
			!hasTags(im.Tags, q.Tags) || q.Name != "" && im.Name != q.Name {
			continue
		}
		c := im.Image
		c.Tags = maps.Clone(im.Tags)
		c.Snapshots = slices.Clone(im.Snapshots)
		if q.Keep == nil || q.Keep(c) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b ecsx.Image) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (f *fakeECS) nameTakenLocked(region, name string) bool {
	for _, im := range f.images[region] {
		if im.Name == name {
			return true
		}
	}
	return false
}

// copyInProgressLocked reports a copy of source ("region/id") into dest still Creating or
// Waiting: ECS refuses a second one (OperationDenied.ImageCopyConflict).
func (f *fakeECS) copyInProgressLocked(dest, source string) bool {
	for _, im := range f.images[dest] {
		if im.CopyOf == source && (im.Status == ecsx.StatusCreating || im.Status == ecsx.StatusWaiting) {
			return true
		}
	}
	return false
}

func (f *fakeECS) CreateImage(ctx context.Context, region string, in ecsx.CreateImageInput) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enterLocked(ctx, "CreateImage", region, in.InstanceID); err != nil {
		return "", err
	}
	if id, ok := f.tokens[region+"/"+in.ClientToken]; ok && in.ClientToken != "" {
		return id, nil
	}
	inst, ok := f.instances[region][in.InstanceID]
	switch {
	case !ok:
		return "", ecsx.NewError("InvalidInstanceId.NotFound", 404, "The specified InstanceId does not exist.")
	case inst.Status != ecsx.InstanceRunning && inst.Status != ecsx.InstanceStopped:
		return "", ecsx.NewError("IncorrectInstanceStatus", 400, "The current status of the resource does not support this operation.")
	case inst.Locked:
		return "", ecsx.NewError("InstanceLockedForSecurity", 400, "locked")
	case f.nameTakenLocked(region, in.Name):
		return "", ecsx.NewError("InvalidImageName.Duplicated", 400, "The specified Image name has already been used.")
	}
	id := f.newID("m-src")
	im := &fakeImage{Image: ecsx.Image{ID: id, Name: in.Name, Status: ecsx.StatusCreating, Progress: "0%", Created: f.now(),
		SizeGiB: 40, Tags: maps.Clone(in.Tags), Snapshots: []string{f.newID("s"), f.newID("s")}},
		WillFail: f.failing[region+"/"+in.InstanceID]}
	f.putLocked(region, im)
	if in.ClientToken != "" {
		f.tokens[region+"/"+in.ClientToken] = id
	}
	return id, nil
}

func (f *fakeECS) CopyImage(ctx context.Context, region string, in ecsx.CopyImageInput) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enterLocked(ctx, "CopyImage", region, in.ImageID+">"+in.DestinationRegion); err != nil {
		return "", err
	}
	src, ok := f.images[region][in.ImageID]
	switch {
	case !ok:
		return "", ecsx.NewError("InvalidImageId.NotFound", 404, "The specified ImageId does not exist.")
	case src.Status != ecsx.StatusAvailable:
		return "", ecsx.NewError("IncorrectImageStatus", 400, "The image not available.")
	case in.DestinationRegion == region:
		return "", ecsx.NewError("IncorrectDestinationRegion", 403, "same region")
	case in.KMSKeyID != "" && !in.Encrypted:
		return "", ecsx.NewError("InvalidParameter.EncryptedIllegal", 400, "KMSKeyId needs Encrypted")
	case f.nameTakenLocked(in.DestinationRegion, in.Name):
		return "", ecsx.NewError("InvalidImageName.Duplicated", 400, "The specified image name is already in use in the target region.")
	case f.copyInProgressLocked(in.DestinationRegion, region+"/"+in.ImageID):
		return "", ecsx.NewError("OperationDenied.ImageCopyConflict", 400, "The image is already being copied to the destination region.")
	}
	id := f.newID("m-cp")
	im := &fakeImage{Image: ecsx.Image{ID: id, Name: in.Name, Status: ecsx.StatusCreating, Progress: "0%", Created: f.now(),
		SizeGiB: src.SizeGiB, Tags: maps.Clone(in.Tags), IsCopied: true, Snapshots: []string{f.newID("s")}},
		Encrypted: in.Encrypted, KMSKeyID: in.KMSKeyID, CopyOf: region + "/" + in.ImageID}
	f.putLocked(in.DestinationRegion, im)
	return id, nil
}

func (f *fakeECS) DeleteImage(ctx context.Context, region, imageID string, force bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enterLocked(ctx, "DeleteImage", region, imageID); err != nil {
		return err
	}
	im, ok := f.images[region][imageID]
	if !ok {
		return ecsx.NewError("InvalidImageId.NotFound", 404, "The specified ImageId does not exist.")
	}
	if im.Status == ecsx.StatusCreating && im.IsCopied {
		return ecsx.NewError("OperationDenied.ImageCopying", 403, "copying")
	}
	for _, in := range f.instances[region] {
		if in.ImageID == imageID && !force {
			return ecsx.NewError("ImageUsingByInstance", 403, "The specified image has been used to create instances.")
		}
	}
	delete(f.images[region], imageID)
	return nil
}

func (f *fakeECS) DeleteSnapshot(ctx context.Context, region, snapshotID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enterLocked(ctx, "DeleteSnapshot", region, snapshotID); err != nil {
		return err
	}
	for _, im := range f.images[region] {
		if slices.Contains(im.Snapshots, snapshotID) {
			return ecsx.NewError("SnapshotCreatedImage", 403, "The snapshot has been used to create a user-defined image.")
		}
	}
	delete(f.snapshots[region], snapshotID) // unknown snapshots are ignored, as in ECS
	delete(f.snapTags, region+"/"+snapshotID)
	return nil
}

func (f *fakeECS) DescribeSnapshots(ctx context.Context, region string, q ecsx.SnapshotQuery) ([]ecsx.Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enterLocked(ctx, "DescribeSnapshots", region, ""); err != nil {
		return nil, err
	}
	var out []ecsx.Snapshot
	for id := range f.snapshots[region] {
		tags := f.snapTags[region+"/"+id]
		if len(q.IDs) > 0 && !slices.Contains(q.IDs, id) || !hasTags(tags, q.Tags) {
			continue
		}
		snap := ecsx.Snapshot{ID: id, Region: region, Status: "accomplished", Tags: maps.Clone(tags)}
		if q.Keep == nil || q.Keep(snap) {
			out = append(out, snap)
		}
	}
	slices.SortFunc(out, func(a, b ecsx.Snapshot) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (f *fakeECS) TagResources(ctx context.Context, region, typ string, ids []string, tags map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enterLocked(ctx, "TagResources", region, strings.Join(ids, ",")); err != nil {
		return err
	}
	for _, id := range ids { // all or nothing, as in ECS
		switch _, ok := f.images[region][id]; {
		case typ == ecsx.ResourceImage && !ok, typ == ecsx.ResourceSnapshot && !f.snapshots[region][id]:
			return ecsx.NewError("InvalidResourceId.NotFound", 404, "The specified resource does not exist.")
		}
	}
	for _, id := range ids {
		if typ == ecsx.ResourceImage {
			im := f.images[region][id]
			if im.Tags == nil {
				im.Tags = map[string]string{}
			}
			maps.Copy(im.Tags, tags)
			continue
		}
		k := region + "/" + id
		if f.snapTags[k] == nil {
			f.snapTags[k] = map[string]string{}
		}
		maps.Copy(f.snapTags[k], tags)
	}
	return nil
}

func (f *fakeECS) UntagResources(ctx context.Context, region, typ string, ids []string, keys []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enterLocked(ctx, "UntagResources", region, strings.Join(ids, ",")); err != nil {
		return err
	}
	for _, id := range ids { // all or nothing, as in ECS
		switch _, ok := f.images[region][id]; {
		case typ == ecsx.ResourceImage && !ok, typ == ecsx.ResourceSnapshot && !f.snapshots[region][id]:
			return ecsx.NewError("InvalidResourceId.NotFound", 404, "The specified resource does not exist.")
		}
	}
	for _, id := range ids {
		m := f.snapTags[region+"/"+id]
		if typ == ecsx.ResourceImage {
			m = f.images[region][id].Tags
		}
		for _, k := range keys {
			delete(m, k)
		}
	}
	return nil
}

// snapshotIDs lists the snapshots of a region.
func (f *fakeECS) snapshotIDs(region string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.snapshots[region]))
}

// fakeCatalog records Sync and Put calls (a Put as a one-entry sync).
type fakeCatalog struct {
	mu    sync.Mutex
	syncs []catalogSync
	err   error
}

type catalogSync struct {
	Region, Policy string
	Entries        []catalog.Entry
	RemoveMissing  bool
	Remove         catalog.Scope
}

func (c *fakeCatalog) Sync(_ context.Context, dest, pol string, entries []catalog.Entry, remove catalog.Scope) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	c.syncs = append(c.syncs, catalogSync{dest, pol, entries, remove != nil, remove})
	return nil
}

func (c *fakeCatalog) Put(_ context.Context, dest, pol string, e catalog.Entry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	c.syncs = append(c.syncs, catalogSync{dest, pol, []catalog.Entry{e}, false, nil})
	return nil
}

func (c *fakeCatalog) last(region string) (catalogSync, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.syncs) - 1; i >= 0; i-- {
		if c.syncs[i].Region == region {
			return c.syncs[i], true
		}
	}
	return catalogSync{}, false
}
