// Package ecsxtest is the ECS contract the product relies on, written once and run against
// every implementation of ecsx.API: the in-memory fake of pkg/backup's tests and the SDK
// adapter on the local cloud (whose behaviour follows ../shared/reference/*.md). When one
// of them drifts from the other, a rule here fails for it.
//
// Rules (each a Rule below, run as a subtest on a fresh Env):
//   - statuses: a new image is Creating and hidden from the default (Available-only)
//     listing, visible with ecsx.AllImageStatuses; once settled it is Available, listed
//     by default, with its tags, creation time and snapshots;
//   - failed images: an image that ends CreateFailed is hidden from the default listing,
//     listed with all statuses, cannot be copied (IncorrectImageStatus), can be deleted,
//     and its name is free again once it is gone;
//   - client token: CreateImage with the same ClientToken returns the same image;
//   - tag filters, ids and name: an image must carry every requested tag pair;
//   - paging: listings return every item beyond one page (more than 100 instances and
//     images), never a truncated first page;
//   - not found: unknown instance (CreateImage) and image (CopyImage) are IsNotFound;
//     DeleteImage and DeleteSnapshot of unknown ids succeed or are IsNotFound; DescribeImages
//     of an unknown id is an empty list;
//   - in use: DeleteImage of an image an instance runs is ImageUsingByInstance, permanent;
//   - name uniqueness: CreateImage and CopyImage to a name taken in the region are
//     InvalidImageName.Duplicated (ecsx.IsDuplicateName), permanent;
//   - copies: only Available sources (IncorrectImageStatus); a copy appears in the
//     destination as Creating or Waiting with IsCopied and its tags; a second copy of the
//     same source to the same destination while one is in progress is
//     OperationDenied.ImageCopyConflict; an in-progress copy cannot be deleted
//     (OperationDenied.ImageCopying);
//   - snapshots: DeleteSnapshot of a snapshot an image references is SnapshotCreatedImage
//     (permanent); once the image is deleted it succeeds;
//   - snapshot tags: TagResources tags snapshots (more than one batch of 50) and images,
//     all or nothing (an unknown id is NotFound and tags nothing); DescribeSnapshots finds
//     them by tag across pages and by id, still after their image is deleted, and no
//     longer once they are deleted;
//   - untag: UntagResources removes only the given keys from images (more than one batch
//     of 50), a key an image lacks is no error, a tag filter no longer finds them, and an
//     unknown id is NotFound and untags nothing (all or nothing);
//   - paging: listings read every page; ImageQuery.Keep filters each page as it arrives
//     and never ends a listing early;
//   - timeouts: a per-request timeout is retryable and ecsx.IsTimeout; a call made with
//     the caller's context already ended fails and is not retryable.
package ecsxtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"testing"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
)

// Env is one implementation under test plus the hooks that arrange state it cannot reach
// through ecsx.API.
type Env struct {
	API ecsx.API
	// Region and Dest are two regions of the implementation (copies go Region → Dest).
	Region, Dest string
	// AddInstance adds a Running instance with a small system disk to region, launched
	// from imageID when it is not empty, carrying tags.
	AddInstance func(t *testing.T, region, id, imageID string, tags map[string]string)
	// Settle makes every Creating or Waiting image Available (advances the clock).
	Settle func(t *testing.T)
	// FailImagesOf makes every image created from the instance from now on end
	// CreateFailed when it settles.
	FailImagesOf func(t *testing.T, region, instanceID string)
	// TimeoutNext makes the next call of action (e.g. "DescribeImages") hit a per-request
	// timeout, as the implementation sees one; the returned func undoes it.
	TimeoutNext func(t *testing.T, action string) (undo func())
}

// Rule is one clause of the contract: Check arranges state (t.Fatal on setup problems)
// and returns an error when the implementation breaks the rule.
type Rule struct {
	Name  string
	Check func(t *testing.T, e Env) error
}

// Run runs every rule as a subtest on a fresh Env.
func Run(t *testing.T, newEnv func(t *testing.T) Env) {
	t.Helper()
	for _, r := range Rules() {
		t.Run(r.Name, func(t *testing.T) {
			if err := r.Check(t, newEnv(t)); err != nil {
				t.Errorf("contract rule %q broken: %v", r.Name, err)
			}
		})
	}
}

// Rules returns the contract, in a stable order.
func Rules() []Rule {
	return []Rule{
		{"statuses", statuses},
		{"failed images", failedImages},
		{"client token", clientToken},
		{"tag filters", tagFilters},
		{"paging", paging},
		{"not found", notFound},
		{"in use", inUse},
		{"name uniqueness", nameUniqueness},
		{"copies", copies},
		{"snapshots", snapshots},
		{"snapshot tags", snapshotTags},
		{"untag", untag},
		{"timeouts", timeouts},
	}
}

// TimeoutError is what a per-request read timeout looks like coming out of the SDK
// adapter (an *ecsx.Error around the http.Client's *url.Error): fakes inject it.
func TimeoutError(action string) error {
	return &ecsx.Error{Op: action, Err: &url.Error{Op: "Post", URL: "https://ecs.aliyuncs.com/", Err: timeoutErr{}}}
}

type timeoutErr struct{}

func (timeoutErr) Error() string {
	return "net/http: request canceled (Client.Timeout exceeded while awaiting headers)"
}
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

var ctx = context.Background()

// newImage adds an instance and makes an image of it.
func newImage(t *testing.T, e Env, inst, name string, tags map[string]string) string {
	t.Helper()
	e.AddInstance(t, e.Region, inst, "", nil)
	id, err := e.API.CreateImage(ctx, e.Region, ecsx.CreateImageInput{InstanceID: inst, Name: name, ClientToken: "tok-" + name, Tags: tags})
	if err != nil {
		t.Fatalf("setup: CreateImage %s: %v", name, err)
	}
	return id
}

func images(t *testing.T, e Env, region string, q ecsx.ImageQuery) []ecsx.Image {
	t.Helper()
	ims, err := e.API.DescribeImages(ctx, region, q)
	if err != nil {
		t.Fatalf("DescribeImages %+v: %v", q, err)
	}
	return ims
}

func ids(ims []ecsx.Image) []string {
	out := make([]string, 0, len(ims))
	for _, im := range ims {
		out = append(out, im.ID)
	}
	slices.Sort(out)
	return out
}

func wantCode(err error, code string, retryable bool) error {
	switch {
	case err == nil:
		return fmt.Errorf("no error, want %s", code)
	case ecsx.Code(err) != code:
		return fmt.Errorf("error %v has code %q, want %s", err, ecsx.Code(err), code)
	case ecsx.IsRetryable(err) != retryable:
		return fmt.Errorf("%s classified retryable=%v, want %v", code, ecsx.IsRetryable(err), retryable)
	}
	return nil
}

func statuses(t *testing.T, e Env) error {
	tags := map[string]string{"ecs-dr:policy": "p", "team": "ops"}
	id := newImage(t, e, "i-c-1", "c-status", tags)
	if got := images(t, e, e.Region, ecsx.ImageQuery{IDs: []string{id}}); len(got) != 0 {
		return fmt.Errorf("default listing shows a new image (status %s): it must list Available only", got[0].Status)
	}
	all := images(t, e, e.Region, ecsx.ImageQuery{IDs: []string{id}, Statuses: ecsx.AllImageStatuses})
	if len(all) != 1 || (all[0].Status != ecsx.StatusCreating && all[0].Status != ecsx.StatusWaiting) {
		return fmt.Errorf("all-status listing of a new image: %+v, want one Creating image", all)
	}
	e.Settle(t)
	got := images(t, e, e.Region, ecsx.ImageQuery{IDs: []string{id}})
	if len(got) != 1 {
		return fmt.Errorf("default listing after settling: %d images, want the Available one", len(got))
	}
	im := got[0]
	switch {
	case im.Status != ecsx.StatusAvailable:
		return fmt.Errorf("status %s after settling, want Available", im.Status)
	case im.Tags["ecs-dr:policy"] != "p" || im.Tags["team"] != "ops":
		return fmt.Errorf("tags %v, want %v", im.Tags, tags)
	case im.Created.IsZero():
		return errors.New("no creation time")
	case len(im.Snapshots) == 0:
		return errors.New("no snapshots (DiskDeviceMappings)")
	case im.Name != "c-status" || im.Region != e.Region:
		return fmt.Errorf("name %q region %q", im.Name, im.Region)
	}
	return nil
}

func clientToken(t *testing.T, e Env) error {
	e.AddInstance(t, e.Region, "i-c-tok", "", nil)
	in := ecsx.CreateImageInput{InstanceID: "i-c-tok", Name: "c-token", ClientToken: "same-token"}
	a, err := e.API.CreateImage(ctx, e.Region, in)
	if err != nil {
		t.Fatalf("setup: %v", err)
	}
	b, err := e.API.CreateImage(ctx, e.Region, in)
	if err != nil || b != a {
		return fmt.Errorf("repeat with the same ClientToken: %q, %v; want %q", b, err, a)
	}
	if n := len(images(t, e, e.Region, ecsx.ImageQuery{Name: "c-token", Statuses: ecsx.AllImageStatuses})); n != 1 {
		return fmt.Errorf("%d images named c-token, want 1", n)
	}
	return nil
}

func tagFilters(t *testing.T, e Env) error {
	a := newImage(t, e, "i-c-a", "c-tag-a", map[string]string{"k1": "v1", "k2": "v2"})
	b := newImage(t, e, "i-c-b", "c-tag-b", map[string]string{"k1": "v1"})
	newImage(t, e, "i-c-c", "c-tag-c", map[string]string{"k1": "other"})
	all := ecsx.AllImageStatuses
	for _, tc := range []struct {
		q    ecsx.ImageQuery
		want []string
	}{
		{ecsx.ImageQuery{Statuses: all, Tags: map[string]string{"k1": "v1"}}, []string{a, b}},
		{ecsx.ImageQuery{Statuses: all, Tags: map[string]string{"k1": "v1", "k2": "v2"}}, []string{a}},
		{ecsx.ImageQuery{Statuses: all, Tags: map[string]string{"k2": "nope"}}, nil},
		{ecsx.ImageQuery{Statuses: all, Name: "c-tag-b"}, []string{b}},
		{ecsx.ImageQuery{Statuses: all, IDs: []string{a, b}, Tags: map[string]string{"k2": "v2"}}, []string{a}},
	} {
		want := slices.Clone(tc.want)
		slices.Sort(want)
		if got := ids(images(t, e, e.Region, tc.q)); !slices.Equal(got, want) {
			return fmt.Errorf("query %+v: %v, want %v", tc.q, got, want)
		}
	}
	e.AddInstance(t, e.Region, "i-c-t1", "", map[string]string{"c-sched": "daily"})
	e.AddInstance(t, e.Region, "i-c-t2", "", map[string]string{"c-sched": "weekly"})
	ins, err := e.API.DescribeInstances(ctx, e.Region, ecsx.InstanceQuery{Tags: map[string]string{"c-sched": "daily"}})
	if err != nil {
		return err
	}
	if len(ins) != 1 || ins[0].ID != "i-c-t1" {
		return fmt.Errorf("instances tagged c-sched=daily: %d (%v), want i-c-t1 only", len(ins), ins)
	}
	return nil
}

func paging(t *testing.T, e Env) error {
	const nInst, nImg = 230, 105
	var idList []string
	for i := range nInst {
		id := fmt.Sprintf("i-c-page-%03d", i)
		e.AddInstance(t, e.Region, id, "", map[string]string{"page": fmt.Sprint(i % 2)})
		idList = append(idList, id)
	}
	ins, err := e.API.DescribeInstances(ctx, e.Region, ecsx.InstanceQuery{Tags: map[string]string{"page": "1"}})
	if err != nil || len(ins) != nInst/2 {
		return fmt.Errorf("DescribeInstances by tag: %d instances, %v; want %d across pages", len(ins), err, nInst/2)
	}
	byID, err := e.API.DescribeInstances(ctx, e.Region, ecsx.InstanceQuery{IDs: idList[:150]})
	if err != nil || len(byID) != 150 {
		return fmt.Errorf("DescribeInstances by 150 ids: %d instances, %v", len(byID), err)
	}
	for i := range nImg {
		inst := idList[i]
		if _, err := e.API.CreateImage(ctx, e.Region, ecsx.CreateImageInput{InstanceID: inst, Name: fmt.Sprintf("c-page-%03d", i),
			Tags: map[string]string{"c-page": "x"}}); err != nil {
			t.Fatalf("setup: CreateImage %d: %v", i, err)
		}
	}
	q := ecsx.ImageQuery{Statuses: ecsx.AllImageStatuses, Tags: map[string]string{"c-page": "x"}}
	if n := len(images(t, e, e.Region, q)); n != nImg {
		return fmt.Errorf("DescribeImages, all statuses: %d images, want %d across pages", n, nImg)
	}
	e.Settle(t)
	if n := len(images(t, e, e.Region, ecsx.ImageQuery{Tags: q.Tags})); n != nImg {
		return fmt.Errorf("DescribeImages, Available: %d images, want %d across pages", n, nImg)
	}
	// Keep filters as pages arrive, and the listing still reads every page (the end is
	// the server's TotalCount, not the number kept).
	odd := func(im ecsx.Image) bool { return im.Name[len(im.Name)-1]%2 == 1 }
	kept := images(t, e, e.Region, ecsx.ImageQuery{Tags: q.Tags, Keep: odd})
	want := 0
	for i := range nImg {
		if i%2 == 1 {
			want++
		}
	}
	if len(kept) != want {
		return fmt.Errorf("DescribeImages with Keep: %d images, want the %d kept of %d across pages", len(kept), want, nImg)
	}
	for _, im := range kept {
		if !odd(im) {
			return fmt.Errorf("DescribeImages with Keep returned %s, which Keep refuses", im.Name)
		}
	}
	return nil
}

func notFound(t *testing.T, e Env) error {
	_, err := e.API.CreateImage(ctx, e.Region, ecsx.CreateImageInput{InstanceID: "i-c-missing", Name: "c-nf"})
	if !ecsx.IsNotFound(err) || ecsx.IsRetryable(err) {
		return fmt.Errorf("CreateImage of an unknown instance: %v, want a permanent NotFound", err)
	}
	_, err = e.API.CopyImage(ctx, e.Region, ecsx.CopyImageInput{ImageID: "m-c-missing", DestinationRegion: e.Dest, Name: "c-nf-copy"})
	if !ecsx.IsNotFound(err) || ecsx.IsRetryable(err) {
		return fmt.Errorf("CopyImage of an unknown image: %v, want a permanent NotFound", err)
	}
	if err := e.API.DeleteImage(ctx, e.Region, "m-c-missing", false); err != nil && !ecsx.IsNotFound(err) {
		return fmt.Errorf("DeleteImage of an unknown image: %v, want success or NotFound", err)
	}
	if err := e.API.DeleteSnapshot(ctx, e.Region, "s-c-missing"); err != nil && !ecsx.IsNotFound(err) {
		return fmt.Errorf("DeleteSnapshot of an unknown snapshot: %v, want success or NotFound", err)
	}
	if got := images(t, e, e.Region, ecsx.ImageQuery{IDs: []string{"m-c-missing"}, Statuses: ecsx.AllImageStatuses}); len(got) != 0 {
		return fmt.Errorf("DescribeImages of an unknown id: %+v, want none", got)
	}
	return nil
}

func inUse(t *testing.T, e Env) error {
	id := newImage(t, e, "i-c-use", "c-inuse", nil)
	e.Settle(t)
	e.AddInstance(t, e.Region, "i-c-launched", id, nil)
	if err := wantCode(e.API.DeleteImage(ctx, e.Region, id, false), "ImageUsingByInstance", false); err != nil {
		return fmt.Errorf("DeleteImage of an image in use: %w", err)
	}
	if len(images(t, e, e.Region, ecsx.ImageQuery{IDs: []string{id}})) != 1 {
		return errors.New("the image in use is gone")
	}
	return nil
}

func nameUniqueness(t *testing.T, e Env) error {
	src := newImage(t, e, "i-c-name", "c-dup", nil)
	e.AddInstance(t, e.Region, "i-c-name2", "", nil)
	_, err := e.API.CreateImage(ctx, e.Region, ecsx.CreateImageInput{InstanceID: "i-c-name2", Name: "c-dup", ClientToken: "other-token"})
	if werr := wantCode(err, "InvalidImageName.Duplicated", false); werr != nil || !ecsx.IsDuplicateName(err) {
		return fmt.Errorf("CreateImage with a taken name: %v (%v)", werr, err)
	}
	e.Settle(t)
	if _, err := e.API.CopyImage(ctx, e.Region, ecsx.CopyImageInput{ImageID: src, DestinationRegion: e.Dest, Name: "c-dup-copy"}); err != nil {
		t.Fatalf("setup: CopyImage: %v", err)
	}
	e.Settle(t)
	_, err = e.API.CopyImage(ctx, e.Region, ecsx.CopyImageInput{ImageID: src, DestinationRegion: e.Dest, Name: "c-dup-copy"})
	if err := wantCode(err, "InvalidImageName.Duplicated", false); err != nil {
		return fmt.Errorf("CopyImage to a name taken in the destination: %w", err)
	}
	return nil
}

func copies(t *testing.T, e Env) error {
	src := newImage(t, e, "i-c-copy", "c-copy-src", nil)
	_, err := e.API.CopyImage(ctx, e.Region, ecsx.CopyImageInput{ImageID: src, DestinationRegion: e.Dest, Name: "c-copy-early"})
	if err := wantCode(err, "IncorrectImageStatus", false); err != nil {
		return fmt.Errorf("CopyImage of a Creating source: %w", err)
	}
	e.Settle(t)
	tags := map[string]string{"ecs-dr:role": "copy"}
	cp, err := e.API.CopyImage(ctx, e.Region, ecsx.CopyImageInput{ImageID: src, DestinationRegion: e.Dest, Name: "c-copy-1", Tags: tags})
	if err != nil {
		return fmt.Errorf("CopyImage of an Available source: %v", err)
	}
	got := images(t, e, e.Dest, ecsx.ImageQuery{IDs: []string{cp}, Statuses: ecsx.AllImageStatuses})
	if len(got) != 1 || (got[0].Status != ecsx.StatusCreating && got[0].Status != ecsx.StatusWaiting) || !got[0].IsCopied ||
		got[0].Tags["ecs-dr:role"] != "copy" {
		return fmt.Errorf("the new copy in %s: %+v, want one Creating/Waiting copied image with its tags", e.Dest, got)
	}
	_, err = e.API.CopyImage(ctx, e.Region, ecsx.CopyImageInput{ImageID: src, DestinationRegion: e.Dest, Name: "c-copy-2"})
	if err := wantCode(err, "OperationDenied.ImageCopyConflict", false); err != nil {
		return fmt.Errorf("a second copy to the same destination while one is in progress: %w", err)
	}
	if err := wantCode(e.API.DeleteImage(ctx, e.Dest, cp, false), "OperationDenied.ImageCopying", false); err != nil {
		return fmt.Errorf("DeleteImage of an in-progress copy: %w", err)
	}
	e.Settle(t)
	if got := images(t, e, e.Dest, ecsx.ImageQuery{IDs: []string{cp}}); len(got) != 1 {
		return fmt.Errorf("the copy is not Available after settling: %+v", got)
	}
	if _, err := e.API.CopyImage(ctx, e.Region, ecsx.CopyImageInput{ImageID: src, DestinationRegion: e.Dest, Name: "c-copy-2"}); err != nil {
		return fmt.Errorf("a new copy once the first is done: %v", err)
	}
	return nil
}

func snapshots(t *testing.T, e Env) error {
	id := newImage(t, e, "i-c-snap", "c-snap", nil)
	e.Settle(t)
	got := images(t, e, e.Region, ecsx.ImageQuery{IDs: []string{id}})
	if len(got) != 1 || len(got[0].Snapshots) == 0 {
		t.Fatalf("setup: image %s: %+v", id, got)
	}
	snap := got[0].Snapshots[0]
	if err := wantCode(e.API.DeleteSnapshot(ctx, e.Region, snap), "SnapshotCreatedImage", false); err != nil {
		return fmt.Errorf("DeleteSnapshot of a snapshot an image references: %w", err)
	}
	if err := e.API.DeleteImage(ctx, e.Region, id, false); err != nil {
		return fmt.Errorf("DeleteImage: %v", err)
	}
	for _, s := range got[0].Snapshots {
		if err := e.API.DeleteSnapshot(ctx, e.Region, s); err != nil {
			return fmt.Errorf("DeleteSnapshot after its image is gone: %v", err)
		}
	}
	return nil
}

func timeouts(t *testing.T, e Env) error {
	undo := e.TimeoutNext(t, "DescribeImages")
	_, err := e.API.DescribeImages(ctx, e.Region, ecsx.ImageQuery{})
	undo()
	if err == nil || !ecsx.IsTimeout(err) || !ecsx.IsRetryable(err) {
		return fmt.Errorf("a per-request timeout: %v (timeout=%v retryable=%v), want a retryable timeout", err, ecsx.IsTimeout(err), ecsx.IsRetryable(err))
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	_, err = e.API.DescribeImages(done, e.Region, ecsx.ImageQuery{})
	if err == nil || ecsx.IsRetryable(err) {
		return fmt.Errorf("a call with the caller's context ended: %v, want a non-retryable error", err)
	}
	return nil
}

func snapshotTags(t *testing.T, e Env) error {
	const n = 105
	var snaps, imgs []string
	for i := range n {
		imgs = append(imgs, newImage(t, e, fmt.Sprintf("i-c-st-%03d", i), fmt.Sprintf("c-st-%03d", i), nil))
	}
	e.Settle(t)
	for _, im := range images(t, e, e.Region, ecsx.ImageQuery{IDs: imgs[:100]}) {
		snaps = append(snaps, im.Snapshots...)
	}
	for _, im := range images(t, e, e.Region, ecsx.ImageQuery{IDs: imgs[100:]}) {
		snaps = append(snaps, im.Snapshots...)
	}
	if len(snaps) < n {
		t.Fatalf("setup: %d snapshots for %d images", len(snaps), n)
	}
	tag := map[string]string{"c-snap-of": "x"}
	err := e.API.TagResources(ctx, e.Region, ecsx.ResourceSnapshot, []string{snaps[0], "s-c-missing"}, tag)
	if !ecsx.IsNotFound(err) {
		return fmt.Errorf("TagResources with an unknown snapshot: %v, want NotFound", err)
	}
	if got, err := e.API.DescribeSnapshots(ctx, e.Region, ecsx.SnapshotQuery{Tags: tag}); err != nil || len(got) != 0 {
		return fmt.Errorf("after a refused TagResources: %d tagged snapshots, %v; want none (all or nothing)", len(got), err)
	}
	if err := e.API.TagResources(ctx, e.Region, ecsx.ResourceSnapshot, snaps, tag); err != nil {
		return fmt.Errorf("TagResources of %d snapshots: %v", len(snaps), err)
	}
	got, err := e.API.DescribeSnapshots(ctx, e.Region, ecsx.SnapshotQuery{Tags: tag})
	if err != nil || len(got) != len(snaps) {
		return fmt.Errorf("DescribeSnapshots by tag: %d, %v; want %d across pages", len(got), err, len(snaps))
	}
	for _, s := range got {
		if s.Tags["c-snap-of"] != "x" {
			return fmt.Errorf("snapshot %s listed by tag without it: %v", s.ID, s.Tags)
		}
	}
	if err := e.API.TagResources(ctx, e.Region, ecsx.ResourceImage, imgs[:1], map[string]string{"c-img": "y"}); err != nil {
		return fmt.Errorf("TagResources of an image: %v", err)
	}
	if got := ids(images(t, e, e.Region, ecsx.ImageQuery{Tags: map[string]string{"c-img": "y"}})); !slices.Equal(got, imgs[:1]) {
		return fmt.Errorf("images tagged c-img=y: %v, want %v", got, imgs[:1])
	}
	// The tag outlives the image: that is how a later run finds snapshots to collect.
	first := images(t, e, e.Region, ecsx.ImageQuery{IDs: imgs[:1]})[0].Snapshots
	if err := e.API.DeleteImage(ctx, e.Region, imgs[0], false); err != nil {
		return fmt.Errorf("DeleteImage: %v", err)
	}
	left, err := e.API.DescribeSnapshots(ctx, e.Region, ecsx.SnapshotQuery{IDs: first, Tags: tag})
	if err != nil || len(left) != len(first) {
		return fmt.Errorf("the deleted image's snapshots by id and tag: %d, %v; want %d", len(left), err, len(first))
	}
	for _, s := range first {
		if err := e.API.DeleteSnapshot(ctx, e.Region, s); err != nil {
			return fmt.Errorf("DeleteSnapshot: %v", err)
		}
	}
	if left, err := e.API.DescribeSnapshots(ctx, e.Region, ecsx.SnapshotQuery{IDs: first}); err != nil || len(left) != 0 {
		return fmt.Errorf("deleted snapshots still listed: %d, %v", len(left), err)
	}
	return nil
}

func untag(t *testing.T, e Env) error {
	const n = 55 // more than one batch of 50
	var imgs []string
	for i := range n {
		imgs = append(imgs, newImage(t, e, fmt.Sprintf("i-c-ut-%03d", i), fmt.Sprintf("c-ut-%03d", i),
			map[string]string{"c-pend": "x", "c-keep": "y"}))
	}
	all := ecsx.AllImageStatuses
	if err := e.API.UntagResources(ctx, e.Region, ecsx.ResourceImage, imgs, []string{"c-pend", "c-absent"}); err != nil {
		return fmt.Errorf("UntagResources of %d images (one key absent): %v", n, err)
	}
	if got := images(t, e, e.Region, ecsx.ImageQuery{Statuses: all, Tags: map[string]string{"c-pend": "x"}}); len(got) != 0 {
		return fmt.Errorf("after UntagResources, %d images still listed by the removed tag", len(got))
	}
	got := images(t, e, e.Region, ecsx.ImageQuery{Statuses: all, Tags: map[string]string{"c-keep": "y"}})
	if len(got) != n {
		return fmt.Errorf("after UntagResources, %d images keep the other tag, want %d", len(got), n)
	}
	for _, im := range got {
		if _, ok := im.Tags["c-pend"]; ok || im.Tags["c-keep"] != "y" {
			return fmt.Errorf("image %s tags after untag: %v", im.ID, im.Tags)
		}
	}
	if err := e.API.TagResources(ctx, e.Region, ecsx.ResourceImage, imgs[:1], map[string]string{"c-pend": "x"}); err != nil {
		t.Fatalf("setup: TagResources: %v", err)
	}
	err := e.API.UntagResources(ctx, e.Region, ecsx.ResourceImage, []string{imgs[0], "m-c-missing"}, []string{"c-pend"})
	if !ecsx.IsNotFound(err) {
		return fmt.Errorf("UntagResources with an unknown image: %v, want NotFound", err)
	}
	if got := ids(images(t, e, e.Region, ecsx.ImageQuery{Statuses: all, Tags: map[string]string{"c-pend": "x"}})); !slices.Equal(got, imgs[:1]) {
		return fmt.Errorf("after a refused UntagResources, images tagged: %v, want %v (all or nothing)", got, imgs[:1])
	}
	return nil
}

func failedImages(t *testing.T, e Env) error {
	e.AddInstance(t, e.Region, "i-c-fail", "", nil)
	e.FailImagesOf(t, e.Region, "i-c-fail")
	id, err := e.API.CreateImage(ctx, e.Region, ecsx.CreateImageInput{InstanceID: "i-c-fail", Name: "c-failed", ClientToken: "tok-failed"})
	if err != nil {
		t.Fatalf("setup: CreateImage: %v", err)
	}
	e.Settle(t)
	if got := images(t, e, e.Region, ecsx.ImageQuery{IDs: []string{id}}); len(got) != 0 {
		return fmt.Errorf("default listing shows a failed image: %+v", got)
	}
	all := images(t, e, e.Region, ecsx.ImageQuery{IDs: []string{id}, Statuses: ecsx.AllImageStatuses})
	if len(all) != 1 || all[0].Status != ecsx.StatusCreateFailed {
		return fmt.Errorf("all-status listing of a failed image: %+v, want one CreateFailed", all)
	}
	_, err = e.API.CopyImage(ctx, e.Region, ecsx.CopyImageInput{ImageID: id, DestinationRegion: e.Dest, Name: "c-failed-copy"})
	if err := wantCode(err, "IncorrectImageStatus", false); err != nil {
		return fmt.Errorf("CopyImage of a failed image: %w", err)
	}
	if err := e.API.DeleteImage(ctx, e.Region, id, false); err != nil {
		return fmt.Errorf("DeleteImage of a failed image: %v", err)
	}
	e.AddInstance(t, e.Region, "i-c-fail2", "", nil)
	if _, err := e.API.CreateImage(ctx, e.Region, ecsx.CreateImageInput{InstanceID: "i-c-fail2", Name: "c-failed", ClientToken: "tok-failed-2"}); err != nil {
		return fmt.Errorf("CreateImage reusing the deleted failed image's name: %v", err)
	}
	return nil
}
