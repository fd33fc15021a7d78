// Package backup holds the product's services: Create (timer: image the protected
// instances), HandleEvents (EventBridge: copy ready source images to the DR regions and
// record ready copies in the catalog), Reconcile (timer: copies an event missed) and
// Cleanup (timer: retention in every region). They are plain Go over narrow interfaces;
// every decision and cloud-call outcome is one structured log record.
//
// State lives in ECS tags and the catalog, never in the function: any invocation may die
// at any point, and the next one (an FC retry or the next timer) continues without
// duplicates, because every mutating call is preceded by a lookup by tags.
package backup

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/catalog"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// Catalog is the DR catalog of one destination region. Sync upserts entries and removes
// the entries of instances in remove that entries do not hold (nil: removes nothing;
// catalog.Everything: entries are the whole catalog; a shard's run passes its shard); Put
// records one entry (the event path: one small write, see catalog.Writer.Put).
type Catalog interface {
	Sync(ctx context.Context, destRegion, policy string, entries []catalog.Entry, remove catalog.Scope) error
	Put(ctx context.Context, destRegion, policy string, e catalog.Entry) error
}

// Deps are the services' dependencies. ECS must be the bare adapter: the services add the
// one retry loop (ecsx.WithRetry with Sleep), so do not wrap it yourself.
type Deps struct {
	ECS    ecsx.API
	Policy *policy.Policy
	Log    *slog.Logger
	Now    func() time.Time
	// Sleep waits between retries of throttled or failed calls (default ecsx.SleepContext);
	// tests inject one that records and returns at once.
	Sleep func(ctx context.Context, d time.Duration) error
	// Retry bounds the back-off; zero values take ecsx defaults. Sleep above wins over
	// Retry.Sleep.
	Retry   ecsx.RetryConfig
	Catalog Catalog // may be nil: no catalog
	// Compute and RestoreMeta: the create run records restore metadata (restore_meta.go);
	// either nil: it does not.
	Compute     ecsx.Compute
	RestoreMeta RestoreMeta
	// Users lists what uses an image (instances, launch templates, scaling
	// configurations) for cleanup; nil means instances only, through ECS. Bare, like ECS:
	// cleanup adds the retry.
	Users ecsx.ImageUsers
	// AccountID: image events from other accounts are rejected (empty accepts any).
	AccountID string
	// AcceptedTypes: event types acted on (default ecs:Image:StateChange).
	AcceptedTypes []string
	// Shard restricts Create, Reconcile and Cleanup to the instances of one shard (the zero
	// value: every instance). An image belongs to the shard of its source instance
	// (TagSourceInstance), in every region, so a shard's run sees whole lineages.
	Shard policy.Shard
	// Regions restricts Create to these source regions (empty: all of the policy's).
	Regions []string
	// Marks (may be nil) remembers which shard buckets are wholly tagged, so a shard's
	// reconcile and cleanup list those by tag (buckets.go); nil: they list in full.
	Marks Marks
}

// Log levels of decisions: debug for the noise (unselected instances, foreign images),
// warn for what an operator should look at without it being a failure.
const (
	debug = slog.LevelDebug
	warn  = slog.LevelWarn
)

// Outcome values of the "result" log key.
const (
	ResultOK      = "ok"
	ResultSkipped = "skipped"
	ResultFailed  = "failed"
	ResultDryRun  = "dry-run"
)

// Item is one decision or call outcome, as it is also logged.
type Item struct {
	Region      string `json:"region"`
	Instance    string `json:"instance,omitempty"`
	Image       string `json:"image,omitempty"`
	SourceImage string `json:"sourceImage,omitempty"`
	Snapshot    string `json:"snapshot,omitempty"`
	Reason      string `json:"reason,omitempty"`
	ErrorCode   string `json:"errorCode,omitempty"`
	// Retryable failures make the invocation fail so FC retries it.
	Retryable bool `json:"retryable,omitempty"`
}

// run is the per-invocation view of Deps with defaults applied.
type run struct {
	Deps
	ecs  ecsx.API
	pol  *policy.Policy
	log  *slog.Logger
	now  func() time.Time
	conc int
	// copyQuota: destination region -> the QuotaExceed code that stopped copies there.
	copyQuota sync.Map
}

func (d Deps) start() (*run, error) {
	if d.ECS == nil {
		return nil, errors.New("backup: deps: ECS is required")
	}
	if d.Policy == nil {
		return nil, errors.New("backup: deps: policy is required")
	}
	r := &run{Deps: d, pol: d.Policy, log: d.Log, now: d.Now, conc: d.Policy.Concurrency}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.log = r.log.With("policy", d.Policy.Name)
	if r.now == nil {
		r.now = time.Now
	}
	if r.conc <= 0 {
		r.conc = policy.DefaultConcurrency
	}
	rc := d.Retry
	if d.Sleep != nil {
		rc.Sleep = d.Sleep
	}
	r.ecs = ecsx.WithRetry(d.ECS, rc)
	return r, nil
}

// record logs one decision or outcome with the shared keys: failures at Error, everything
// else at Info. recordAt picks the level (Debug for the noise, Warn for config problems).
func (r *run) record(ctx context.Context, action, result string, it Item, err error, started time.Time) {
	level := slog.LevelInfo
	if result == ResultFailed {
		level = slog.LevelError
	}
	r.recordAt(ctx, level, action, result, it, err, started)
}

func (r *run) recordAt(ctx context.Context, level slog.Level, action, result string, it Item, err error, started time.Time) {
	attrs := []slog.Attr{slog.String("action", action), slog.String("region", it.Region), slog.String("result", result)}
	add := func(k, v string) {
		if v != "" {
			attrs = append(attrs, slog.String(k, v))
		}
	}
	add("instance", it.Instance)
	add("image", it.Image)
	add("source_image", it.SourceImage)
	add("snapshot", it.Snapshot)
	add("reason", it.Reason)
	add("error_code", it.ErrorCode)
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	if !started.IsZero() {
		attrs = append(attrs, slog.Int64("duration_ms", time.Since(started).Milliseconds()))
	}
	r.log.LogAttrs(ctx, level, action+" "+result, attrs...)
}

// fail logs a failed outcome and lists it under the summary's Failed.
func (r *run) fail(ctx context.Context, c *collector, action string, it Item, err error, started time.Time) {
	r.record(ctx, action, ResultFailed, it, err, started)
	c.add("failed", it)
}

// failure turns a call error into a failed Item.
func failure(it Item, err error) Item {
	it.ErrorCode = ecsx.Code(err)
	it.Retryable = ecsx.IsRetryable(err) || errors.Is(err, ErrListingStopped)
	if it.Reason == "" {
		it.Reason = CapString(err.Error(), maxReason)
	}
	return it
}

// each runs fn for every item with at most n in flight. Past ctx's soft deadline it
// starts no more items and counts them as remaining (deadline.go).
func each[T any](ctx context.Context, n int, items []T, fn func(context.Context, T)) {
	sem := make(chan struct{}, max(n, 1))
	var wg sync.WaitGroup
	for i, it := range items {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{} // a free slot first: waiting for one may take us past the deadline
		if sd, past := pastSoft(ctx); past {
			<-sem
			sd.notStarted(kindOf(it), len(items)-i)
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(ctx, it)
		}()
	}
	wg.Wait()
}

// collector gathers items from concurrent workers. The lists that grow with the fleet
// rather than with decisions (cappedLists: kept, skipped, rejected) hold at most
// maxListed items; the rest are counted (see output.go).
type collector struct {
	mu     sync.Mutex
	lists  map[string][]Item
	counts map[string]map[string]int // list -> region -> items added
	keeps  map[keepKey]*keepCount    // kept images by (region, instance group): keepsummary.go
}

func (c *collector) add(list string, it Item) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lists == nil {
		c.lists = map[string][]Item{}
	}
	c.count(list, it)
	if cappedLists[list] && len(c.lists[list]) >= maxListed {
		return
	}
	c.lists[list] = append(c.lists[list], it)
}

// get returns a list sorted by region, instance, image, so summaries do not depend on
// the order concurrent workers finished in.
func (c *collector) get(list string) []Item {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := slices.Clone(c.lists[list])
	slices.SortStableFunc(out, func(a, b Item) int {
		return cmp.Or(cmp.Compare(a.Region, b.Region), cmp.Compare(a.Instance, b.Instance),
			cmp.Compare(a.Image, b.Image), cmp.Compare(a.SourceImage, b.SourceImage), cmp.Compare(a.Snapshot, b.Snapshot))
	})
	return out
}

// failedError names the failed items (at most maxNamed, then a count of the rest); nil
// when there are none.
func failedError(what string, failed []Item) error {
	if len(failed) == 0 {
		return nil
	}
	names := make([]string, 0, min(len(failed), maxNamed)+1)
	for i, f := range failed {
		if i == maxNamed {
			names = append(names, fmt.Sprintf("and %d more", len(failed)-maxNamed))
			break
		}
		n := f.Region + "/" + cmp.Or(f.Instance, f.Image, f.SourceImage)
		if f.ErrorCode != "" {
			n += " (" + f.ErrorCode + ")"
		}
		names = append(names, n)
	}
	return fmt.Errorf("%s failed for %d: %s", what, len(failed), strings.Join(names, ", "))
}

func retryableOnly(items []Item) []Item {
	var out []Item
	for _, it := range items {
		if it.Retryable {
			out = append(out, it)
		}
	}
	return out
}

// managedBy reports whether tags mark an image as made by this policy.
func managedBy(pol *policy.Policy, tags map[string]string) bool {
	return tags[policy.TagManagedBy] == policy.ManagedByValue && tags[policy.TagPolicy] == pol.Name
}

// managedFilter is the DescribeImages tag filter of this policy's images.
func managedFilter(pol *policy.Policy, extra map[string]string) map[string]string {
	m := map[string]string{policy.TagManagedBy: policy.ManagedByValue, policy.TagPolicy: pol.Name}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// imageInShard reports whether im belongs to the run's shard: the shard of its source
// instance, so an instance's source images and copies are in the same one.
func (r *run) imageInShard(im ecsx.Image) bool {
	return r.Shard.Contains(im.Tags[policy.TagSourceInstance])
}

// snapshotInShard reports whether a snapshot tagged as ours belongs to the run's shard: by
// its TagSourceInstance; one claimed before that tag existed is looked after by shard 0.
func (r *run) snapshotInShard(s ecsx.Snapshot) bool {
	if r.Shard.All() {
		return true
	}
	if inst := s.Tags[policy.TagSourceInstance]; inst != "" {
		return r.Shard.Contains(inst)
	}
	return r.Shard.Index == 0
}

// policyRegions are the source and destination regions, each once, sources first.
func policyRegions(pol *policy.Policy) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range append(pol.SourceRegions(), pol.DestinationRegions()...) {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}
