package bench

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/catalog"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
	"github.com/ecsdr/ecs-image-dr/pkg/events"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	localoss "github.com/ecsdr/ecs-image-dr/pkg/localcloud/oss"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// EventCost is what one image event costs at a fleet size.
type EventCost struct {
	Instances int `json:"instances"`
	// SourceEvent: a source image became Available (copies to both DR regions).
	SourceECSCalls int `json:"sourceEcsCalls"`
	// CopyEvent: a copy became Available (its catalog entry is written).
	CopyECSCalls   int   `json:"copyEcsCalls"`
	CopyOSSWrites  int64 `json:"copyOssWrites"`
	CopyOSSBytes   int64 `json:"copyOssBytes"`
	CopyOSSReads   int64 `json:"copyOssRequests"`
	CatalogEntries int   `json:"catalogEntries"`
	// CopyEventDuration is the simulated time the copy event took (emulated latency).
	CopyEventDuration   time.Duration `json:"copyEventDurationNs"`
	SourceEventDuration time.Duration `json:"sourceEventDurationNs"`
}

// countingStore counts OSS requests and bytes written.
type countingStore struct {
	ossx.Store
	puts, others, bytes atomic.Int64
}

func (c *countingStore) Put(ctx context.Context, b, k string, d []byte, o ossx.PutOptions) (string, error) {
	c.puts.Add(1)
	c.bytes.Add(int64(len(d)))
	return c.Store.Put(ctx, b, k, d, o)
}

func (c *countingStore) Get(ctx context.Context, b, k string) ([]byte, string, error) {
	c.others.Add(1)
	return c.Store.Get(ctx, b, k)
}

func (c *countingStore) List(ctx context.Context, b, p string) ([]ossx.ObjectInfo, error) {
	c.others.Add(1)
	return c.Store.List(ctx, b, p)
}

func (c *countingStore) Delete(ctx context.Context, b, k string) error {
	c.others.Add(1)
	return c.Store.Delete(ctx, b, k)
}

// catalogs writes the DR catalogs to local OSS buckets (as app's catalogs does).
type catalogs struct {
	store ossx.Store
	pol   *policy.Policy
}

func (c *catalogs) Sync(ctx context.Context, dest, pol string, es []catalog.Entry, rm catalog.Scope) error {
	return catalog.NewWriter(c.store, c.pol.CatalogBucket(dest), nil).SyncScope(ctx, pol, es, rm)
}

func (c *catalogs) Put(ctx context.Context, dest, pol string, e catalog.Entry) error {
	_, err := catalog.NewWriter(c.store, c.pol.CatalogBucket(dest), nil).Put(ctx, pol, e)
	return err
}

// RunEventCost builds a fleet of n instances whose images are all copied and cataloged
// (on a manual clock), then measures one source-image event and one copy event.
func RunEventCost(n int, lim Limits) (EventCost, error) {
	res := EventCost{Instances: n}
	clock := core.NewManualClock(benchStart)
	f, err := newFleet(clock, nil, n, Limits{Latency: lim.Latency})
	if err != nil {
		return res, err
	}
	defer f.close()
	oss := localoss.New(f.env)
	osrv := httptest.NewServer(oss)
	defer osrv.Close()
	pol, err := benchPolicy(32, map[string]float64{ecsx.ActionCreateImage: 1000, ecsx.ActionCopyImage: 1000,
		ecsx.ActionDescribeImages: 1000, ecsx.ActionDescribeInstances: 1000})
	if err != nil {
		return res, err
	}
	for _, r := range DRRegions {
		if err := oss.CreateBucket(pol.CatalogBucket(r), r); err != nil {
			return res, err
		}
	}
	raw, err := ossx.New(osrv.URL, core.DefaultAccessKeyID, core.DefaultAccessKeySecret, "")
	if err != nil {
		return res, err
	}
	store := &countingStore{Store: raw}
	cat := &catalogs{store: store, pol: pol}
	// The emulator sleeps the latency here (a manual clock, no virtual-time driver).
	api, err := f.api(pol, clock, 0, ecsx.NewLimiter(ecsx.Limits(pol.RateLimits), clock.Now, clock.Sleep), nil)
	if err != nil {
		return res, err
	}
	ctx := context.Background()
	var srcEvents, copyEvents []events.ImageEvent
	f.env.Bus.Subscribe(func(e core.Event) {
		id, _ := e.Data["imageId"].(string)
		if st, _ := e.Data["currentState"].(string); st != ecsx.StatusAvailable {
			return
		}
		ev := events.ImageEvent{ID: e.ID, Source: e.Source, Type: "ecs:" + e.Type, Region: e.Region, AccountID: e.AccountID,
			ImageID: id, State: ecsx.StatusAvailable, Time: e.Time}
		if e.Region == DRRegions[0] {
			copyEvents = append(copyEvents, ev)
		} else {
			srcEvents = append(srcEvents, ev)
		}
	})
	if sum, err := deps(api, pol, clock, benchStart, cat).Create(ctx, benchStart); err != nil {
		return res, fmt.Errorf("create: %w (%d failed)", err, len(sum.Failed))
	}
	clock.Advance(time.Hour)
	f.env.Tracker.WaitIdle(time.Minute)
	// Every source but the last is copied by reconcile; the last one is the measured event.
	if len(srcEvents) == 0 {
		return res, fmt.Errorf("no source image became Available")
	}
	measured := srcEvents[len(srcEvents)-1]
	if _, err := deps(api, pol, clock, clock.Now(), cat).Reconcile(ctx); err != nil {
		return res, fmt.Errorf("reconcile: %w", err)
	}
	// Reconcile copied the measured image too: measure the source event on a fresh image
	// of one instance instead (a new slot).
	trigger := benchStart.Add(24 * time.Hour)
	clock.AdvanceTo(trigger)
	srcEvents = nil
	one := *pol
	one.Sources = []policy.Source{{Region: SourceRegions[0], InstanceIDs: []string{"i-bench000000"}}}
	if _, err := deps(api, &one, clock, trigger, cat).Create(ctx, trigger); err != nil {
		return res, fmt.Errorf("create one: %w", err)
	}
	clock.Advance(time.Hour)
	f.env.Tracker.WaitIdle(time.Minute)
	if len(srcEvents) != 1 {
		return res, fmt.Errorf("%d source events for the one new image", len(srcEvents))
	}
	_ = measured
	f.reset()
	start := clock.Now()
	sum, err := deps(api, pol, clock, clock.Now(), cat).HandleEvents(ctx, srcEvents)
	if err != nil || len(sum.Copied) != len(DRRegions) {
		return res, fmt.Errorf("source event: copied %d: %v", len(sum.Copied), err)
	}
	res.SourceEventDuration = clock.Now().Sub(start)
	res.SourceECSCalls = len(f.snapshot())
	clock.Advance(2 * time.Hour)
	f.env.Tracker.WaitIdle(time.Minute)
	if len(copyEvents) == 0 {
		return res, fmt.Errorf("no copy became Available")
	}
	entries, _ := catalog.Read(ctx, raw, pol.CatalogBucket(DRRegions[0]), pol.Name)
	res.CatalogEntries = len(entries)
	f.reset()
	store.puts.Store(0)
	store.bytes.Store(0)
	store.others.Store(0)
	start = clock.Now()
	ev := copyEvents[len(copyEvents)-1]
	sum, err = deps(api, pol, clock, clock.Now(), cat).HandleEvents(ctx, []events.ImageEvent{ev})
	if err != nil || len(sum.Failed) > 0 {
		return res, fmt.Errorf("copy event: %v %+v", err, sum.Failed)
	}
	res.CopyEventDuration = clock.Now().Sub(start)
	res.CopyECSCalls = len(f.snapshot())
	res.CopyOSSWrites, res.CopyOSSBytes, res.CopyOSSReads = store.puts.Load(), store.bytes.Load(), store.others.Load()
	return res, nil
}
