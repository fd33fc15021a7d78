package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// Shard buckets: ECS cannot filter on a hash of a tag, so every image we make carries the
// bucket of its source instance (policy.TagBucket, 64 buckets), and a shard k/N (N dividing
// 64) lists the buckets b ≡ k (mod N) by that tag: it reads its own images only, 1/N of
// the region's pages, instead of every page to keep 1/N of them.
//
// A bucket listing is only complete once every managed image of the bucket carries the
// tag. Images made before the tag existed do not, and ECS cannot list "images without a
// tag". So a region's buckets are trusted only once a full listing has found each of them
// fully tagged (tagging what lacked it on the way) and Marks remembers it; until then a run
// lists the region in full, as before, and tags as it goes. Every image made since carries
// the tag from its CreateImage or CopyImage call, so a marked bucket stays complete.

// Marks remembers what only a full listing can establish, so that later runs may trust a
// narrower one. Keys are short relative paths ("bucket-tags/<region>/<bucket>"); the store
// scopes them by policy. A nil Marks remembers nothing: every run then lists in full.
type Marks interface {
	// Marked returns the keys under prefix that are set.
	Marked(ctx context.Context, policy, prefix string) (map[string]bool, error)
	// Mark sets key.
	Mark(ctx context.Context, policy, key string) error
}

// Marks prefixes: the images, and the snapshots (claimed as ours), of a region's buckets
// are wholly tagged; a key is prefix + region + "/" + bucket.
const (
	bucketMarks   = "bucket-tags/"
	snapshotMarks = "snapshot-bucket-tags/"
)

func bucketMarkKey(region, bucket string) string { return bucketMarks + region + "/" + bucket }

// bucketPlan reports, per region, the buckets the run lists by tag (images, or snapshots
// with snapshotMarks); a region missing from it is listed in full. Without Marks, for the
// whole fleet, or for a shard count that cuts through buckets, every region is listed in
// full. A mark that cannot be read counts as missing (a full listing is slower, never
// wrong).
func (r *run) bucketPlan(ctx context.Context, regions []string, prefix string) map[string][]string {
	buckets, ok := r.Shard.Buckets()
	if !ok || r.Marks == nil {
		return nil
	}
	if !r.pol.BucketTags() {
		r.recordAt(ctx, slog.LevelInfo, "bucket-list", ResultSkipped, Item{Reason: "the policy's " + strconv.Itoa(len(r.pol.Tags)) +
			" tags leave no room for " + policy.TagBucket + ": every region is listed in full (use at most 9 to list by shard bucket)"}, nil, time.Time{})
		return nil
	}
	marked, err := r.Marks.Marked(ctx, r.pol.Name, prefix)
	if err != nil {
		r.recordAt(ctx, warn, "bucket-list", ResultSkipped, Item{Reason: "shard bucket marks unreadable: every region is listed in full"}, err, time.Time{})
		return nil
	}
	plan := map[string][]string{}
	for _, region := range regions {
		if !slices.ContainsFunc(buckets, func(b string) bool { return !marked[prefix+region+"/"+b] }) {
			plan[region] = buckets
		}
	}
	return plan
}

// markBuckets records that the run's buckets of region are wholly tagged (prefix: images
// or snapshots), after a full listing found them so. The whole fleet marks every bucket;
// a shard count that cuts through buckets marks none.
func (r *run) markBuckets(ctx context.Context, region, prefix string) {
	if r.Marks == nil || r.pol.DryRun || !r.pol.BucketTags() {
		return
	}
	buckets, ok := r.Shard.Buckets()
	if r.Shard.All() {
		buckets, ok = allBuckets(), true
	}
	if !ok {
		return
	}
	for _, b := range buckets {
		if err := r.Marks.Mark(ctx, r.pol.Name, prefix+region+"/"+b); err != nil {
			r.recordAt(ctx, warn, "bucket-mark", ResultFailed, Item{Region: region,
				Reason: "shard bucket " + prefix + b + " complete but its mark is not written: the next run lists the region in full again"}, err, time.Time{})
			return
		}
	}
	r.recordAt(ctx, debug, "bucket-mark", ResultOK, Item{Region: region,
		Reason: prefix + strings.Join(buckets, ",") + " complete: later runs list them by tag"}, nil, time.Time{})
}

// listRegion lists the managed images of the run's shard in region: by bucket when buckets
// is set, otherwise in full (then tagging the shard's images that lack their bucket and,
// once none does, marking the shard's buckets complete).
func (r *run) listRegion(ctx context.Context, region string, buckets []string) ([]ecsx.Image, error) {
	if buckets != nil {
		var out []ecsx.Image
		for i, b := range buckets {
			// Listing is work too: past the soft deadline the rest of the region is not
			// listed (a run cannot judge or copy on half a region), so the invocation ends
			// within its timeout and the next run lists again.
			if sd, past := pastSoft(ctx); past {
				sd.notStarted("bucket listings", len(buckets)-i)
				return nil, fmt.Errorf("bucket %s: %w", b, ErrListingStopped)
			}
			imgs, err := r.ecs.DescribeImages(ctx, region, ecsx.ImageQuery{Statuses: ecsx.AllImageStatuses,
				Tags: managedFilter(r.pol, map[string]string{policy.TagBucket: b}), Keep: r.imageInShard})
			if err != nil {
				return nil, fmt.Errorf("bucket %s: %w", b, err)
			}
			out = append(out, imgs...)
		}
		return out, nil
	}
	imgs, err := r.ecs.DescribeImages(ctx, region, ecsx.ImageQuery{Statuses: ecsx.AllImageStatuses,
		Tags: managedFilter(r.pol, nil), Keep: r.imageInShard})
	if err != nil {
		return nil, err
	}
	r.tagBuckets(ctx, region, imgs)
	return imgs, nil
}

// ErrListingStopped: a listing left unfinished because the soft deadline had passed
// (retryable: the next run lists again).
var ErrListingStopped = errors.New("listing stopped at the soft deadline; the next run lists again")

// tagBuckets gives the images of a full listing that lack it (or carry a wrong one) their
// bucket tag, and marks the shard's buckets of region complete once none is left. It
// stops at the soft deadline (the next run goes on); a failure is recorded and leaves the
// marks unset, so nothing is trusted that is not so.
func (r *run) tagBuckets(ctx context.Context, region string, imgs []ecsx.Image) {
	if r.pol.DryRun || !r.pol.BucketTags() {
		return
	}
	todo := map[string][]string{} // bucket -> image ids
	for _, im := range imgs {
		inst := im.Tags[policy.TagSourceInstance]
		if inst == "" {
			continue // not an image of an instance (tags removed by hand): no bucket can hold it
		}
		if b := policy.BucketOf(inst); im.Tags[policy.TagBucket] != b {
			todo[b] = append(todo[b], im.ID)
		}
	}
	tagged, complete := 0, true
	for _, b := range slices.Sorted(maps.Keys(todo)) {
		if _, past := pastSoft(ctx); past {
			complete = false
			break
		}
		n, err := r.tagImages(ctx, region, todo[b], map[string]string{policy.TagBucket: b})
		tagged += n
		if err != nil {
			complete = false
			it := failure(Item{Region: region, Reason: fmt.Sprintf("shard buckets: tag %d images with %s=%s", len(todo[b]), policy.TagBucket, b)}, err)
			r.record(ctx, "bucket-tag", ResultFailed, it, err, time.Time{})
			break
		}
	}
	if tagged > 0 {
		r.record(ctx, "bucket-tag", ResultOK, Item{Region: region,
			Reason: fmt.Sprintf("tagged %d images made before %s existed with their shard bucket", tagged, policy.TagBucket)}, nil, time.Time{})
	}
	if complete {
		r.markBuckets(ctx, region, bucketMarks)
	}
}

// tagImages tags ids (50 per call); an image gone since it was listed needs no tag, so a
// batch refused for a missing id is tagged one by one. It returns how many were tagged.
func (r *run) tagImages(ctx context.Context, region string, ids []string, tags map[string]string) (int, error) {
	return r.tagEach(ctx, region, ecsx.ResourceImage, ids, tags)
}

// tagEach tags resources of one type 50 per call; one gone since it was listed needs no
// tag, so a batch refused for a missing id is tagged one by one. It returns how many
// were tagged.
func (r *run) tagEach(ctx context.Context, region, typ string, ids []string, tags map[string]string) (int, error) {
	done := 0
	for chunk := range slices.Chunk(ids, 50) {
		err := r.ecs.TagResources(ctx, region, typ, chunk, tags)
		if err == nil {
			done += len(chunk)
			continue
		}
		if !ecsx.IsNotFound(err) {
			return done, err
		}
		for _, id := range chunk {
			if e := r.ecs.TagResources(ctx, region, typ, []string{id}, tags); e == nil {
				done++
			} else if !ecsx.IsNotFound(e) {
				return done, e
			}
		}
	}
	return done, nil
}

// addBucket adds the bucket of instance to tags, where the policy leaves room for it.
func (r *run) addBucket(tags map[string]string, instance string) {
	if r.pol.BucketTags() && instance != "" {
		tags[policy.TagBucket] = policy.BucketOf(instance)
	}
}

// allBuckets are every TagBucket value, 00..63.
func allBuckets() []string {
	out := make([]string, policy.Buckets)
	for b := range out {
		out[b] = fmt.Sprintf("%02d", b)
	}
	return out
}

// BucketMarkKeys are the Marks keys saying that every bucket of region is wholly tagged,
// images and claimed snapshots: what full listings of the region by an unsharded run
// establish. Tools that seed an account whose images and claimed snapshots all carry
// their bucket (the bench) set them directly.
func BucketMarkKeys(region string) []string {
	out := make([]string, 0, 2*policy.Buckets)
	for _, prefix := range []string{bucketMarks, snapshotMarks} {
		for _, b := range allBuckets() {
			out = append(out, prefix+region+"/"+b)
		}
	}
	return out
}
