package bench

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/events"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// PipelineResult is one run from the timer firing to the last CopyImage accepted.
type PipelineResult struct {
	Name        string `json:"name"`
	Instances   int    `json:"instances"`
	Concurrency int    `json:"concurrency"`
	EventsLost  bool   `json:"eventsLost"`
	// EndToEnd: timer firing → last CopyImage accepted (simulated).
	EndToEnd time.Duration `json:"endToEndNs"`
	// Limit is the physical limit: N / CreateImage QPS + the slowest image's build time.
	Limit time.Duration `json:"limitNs"`
	// CreateSpan: first → last CreateImage accepted; QPSUse = accepted / span / QPS.
	CreateSpan time.Duration `json:"createSpanNs"`
	QPSUse     float64       `json:"qpsUse"`
	// Calls by action (every request the server saw, throttled ones included).
	Calls     map[string]int `json:"calls"`
	Throttled map[string]int `json:"throttled"`
	// MinCalls is one CreateImage per instance plus the list pages (DescribeInstances and
	// DescribeImages) a create run needs; CallRatio is the create run's calls over it.
	MinCalls  int     `json:"minCalls"`
	CallRatio float64 `json:"callRatio"`
	Failed    int     `json:"failed"`
	Copies    int     `json:"copies"`
	// Copy delay added by the tool: source image Available → CopyImage accepted.
	CopyDelayP50 time.Duration `json:"copyDelayP50Ns"`
	CopyDelayP99 time.Duration `json:"copyDelayP99Ns"`
	WallTime     time.Duration `json:"wallNs"`
	// Steps: how often virtual time moved on; QuietWall: the wall time spent making sure
	// the system was quiet before each move (most of a run's wall time on a busy machine).
	Steps     int64         `json:"vclockSteps,omitempty"`
	QuietWall time.Duration `json:"quietWallNs,omitempty"`
	Note      string        `json:"note,omitempty"`
}

// PipelineConfig is one run of our pipeline.
type PipelineConfig struct {
	Instances   int
	Concurrency int
	Speed       float64 // simulated seconds per wall second
	Limits      Limits
	// EventsLost: no image event reaches copy-image; the pending reconcile (copy-image's
	// "pending" timer: only the images marked pending) runs every ReconcileEvery.
	EventsLost     bool
	ReconcileEvery time.Duration
}

// RunPipeline runs create-image on the timer, copy-image on every image event (or, with
// events lost, the pending reconcile on its timer), until every instance's image has a copy accepted
// in both DR regions.
func RunPipeline(cfg PipelineConfig) (PipelineResult, error) {
	wallStart := time.Now()
	res := PipelineResult{Instances: cfg.Instances, Concurrency: cfg.Concurrency, EventsLost: cfg.EventsLost,
		Calls: map[string]int{}, Throttled: map[string]int{}}
	v := newVClock(benchStart)
	clock := v
	f, err := newFleet(v.clock, v, cfg.Instances, cfg.Limits)
	if err != nil {
		return res, err
	}
	defer f.close()
	// The account-wide CreateImage limit shared by the regions' buckets; the other
	// actions keep their per-region defaults (well under the account's limits here).
	// 3% under the limit: the server counts calendar seconds of arrival time, and arrival
	// jitter would otherwise push a call into a full second now and then.
	perRegion := 0.97 * float64(cfg.Limits.CreateImageQPS) / float64(len(SourceRegions))
	all := float64(len(SourceRegions) + len(DRRegions))
	pol, err := benchPolicy(cfg.Concurrency, map[string]float64{ecsx.ActionCreateImage: perRegion,
		ecsx.ActionCopyImage:         float64(cfg.Limits.CopyImageQPS) / float64(len(SourceRegions)),
		ecsx.ActionDescribeImages:    float64(cfg.Limits.DescribeQPS) / all / 2,
		ecsx.ActionDescribeInstances: float64(cfg.Limits.DescribeQPS) / all / 2})
	if err != nil {
		return res, err
	}
	// One limiter per function, as each function's invocations pace themselves; the
	// create run has its own adapter so its requests are counted apart.
	evLim := ecsx.NewLimiter(ecsx.Limits(pol.RateLimits), clock.Now, clock.Sleep)
	api, err := f.api(pol, clock, cfg.Limits.Latency, evLim, nil)
	if err != nil {
		return res, err
	}
	var createSent counter
	createAPI, err := f.api(pol, clock, cfg.Limits.Latency, ecsx.NewLimiter(ecsx.Limits(pol.RateLimits), clock.Now, clock.Sleep), &createSent)
	if err != nil {
		return res, err
	}

	var mu sync.Mutex
	available := map[string]time.Time{} // source image -> Available (simulated)
	queue := make(chan events.ImageEvent, 4*cfg.Instances+16)
	cancelSub := f.env.Bus.Subscribe(func(e core.Event) {
		if e.Source != events.SourceECS || "ecs:"+e.Type != events.TypeImageStateChange {
			return
		}
		id, _ := e.Data["imageId"].(string)
		state, _ := e.Data["currentState"].(string)
		if state != ecsx.StatusAvailable || !slices.Contains(SourceRegions, e.Region) {
			return
		}
		mu.Lock()
		available[id] = e.Time
		mu.Unlock()
		if !cfg.EventsLost {
			v.pending.Add(1)
			queue <- events.ImageEvent{ID: e.ID, Source: e.Source, Type: "ecs:" + e.Type, Region: e.Region,
				AccountID: e.AccountID, ImageID: id, State: state, Time: e.Time}
		}
	})
	defer cancelSub()

	// ctx stops the dispatcher and the reconcile timer; invocations run to their end
	// (cancelling them would count as failures what is only the end of the measurement).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bg := context.Background()
	var wg sync.WaitGroup
	var failMu sync.Mutex
	fail := func(n int) { failMu.Lock(); res.Failed += n; failMu.Unlock() }
	// copy-image: one invocation per event, as EventBridge delivers them (FC scales out).
	wg.Add(1)
	go func() {
		defer wg.Done()
		// No cap on concurrent invocations (FC scales out), and none is needed for virtual
		// time: a dispatcher blocked on a cap with events queued would look busy forever.
		var inv sync.WaitGroup
		defer inv.Wait()
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-queue:
				v.pending.Add(-1)
				inv.Add(1)
				go func() {
					defer inv.Done()
					sum, _ := deps(api, pol, clock, ev.Time, nil).HandleEvents(bg, []events.ImageEvent{ev})
					fail(len(sum.Failed))
				}()
			}
		}
	}()
	if cfg.EventsLost {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next := benchStart.Add(cfg.ReconcileEvery); ; next = next.Add(cfg.ReconcileEvery) {
				if err := clock.Sleep(ctx, next.Sub(clock.Now())); err != nil {
					return
				}
				sum, _ := deps(api, pol, clock, clock.Now(), nil).ReconcilePending(bg)
				fail(len(sum.Failed))
			}
		}()
	}

	dctx, dcancel := context.WithCancel(context.Background())
	var dwg sync.WaitGroup
	dwg.Add(1)
	go func() { defer dwg.Done(); v.drive(dctx) }()
	defer func() { dcancel(); dwg.Wait() }()
	cctx, ccancel := withTimeout(10 * time.Minute)
	sum, err := deps(createAPI, pol, clock, benchStart, nil).Create(cctx, benchStart)
	ccancel()
	fail(len(sum.Failed))
	if err != nil && len(sum.Failed) == 0 {
		return res, fmt.Errorf("create: %w", err)
	}
	createCalls := f.snapshot()

	want := len(sum.Started) * len(DRRegions)
	wallLimit := time.Now().Add(8 * time.Minute)
	for time.Now().Before(wallLimit) && v.Now().Before(benchStart.Add(6*time.Hour)) {
		if f.copiesOK.Load() >= int64(want) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	calls := f.snapshot()
	res.Copies = accepted(calls)
	if res.Copies < want {
		res.Note = fmt.Sprintf("only %d of %d copies accepted before the wall-time limit", res.Copies, want)
	}

	// Create run figures.
	var firstCreate, lastCreate time.Time
	createOK := 0
	res.Calls = createSent.get()
	for _, c := range createCalls {
		if c.action == "CreateImage" && c.throttled {
			res.Throttled[c.action]++ // only the create run calls CreateImage
		}
		if c.action == "CreateImage" && c.status == 200 {
			createOK++
			if firstCreate.IsZero() || c.at.Before(firstCreate) {
				firstCreate = c.at
			}
			if c.at.After(lastCreate) {
				lastCreate = c.at
			}
		}
	}
	res.CreateSpan = lastCreate.Sub(firstCreate)
	// The regions' streams run side by side: each contributes (its calls − 1) intervals.
	if streams := len(SourceRegions); res.CreateSpan > 0 && createOK > streams {
		res.QPSUse = float64(createOK-streams) / res.CreateSpan.Seconds() / float64(cfg.Limits.CreateImageQPS)
	}
	pages := func(n int) int { return int(math.Ceil(float64(n) / 100)) }
	regionSize := int(math.Ceil(float64(cfg.Instances) / float64(len(SourceRegions))))
	// Per source region: the instance list pages, one page of the slot's images (none yet).
	res.MinCalls = cfg.Instances + len(SourceRegions)*(pages(regionSize)+1)
	createTotal := 0
	for _, n := range res.Calls {
		createTotal += n
	}
	res.CallRatio = float64(createTotal) / float64(res.MinCalls)
	// Copy figures over the whole run.
	var last time.Time
	var delays []time.Duration
	seen := map[string]bool{}
	mu.Lock()
	for _, c := range calls {
		if c.action != "CopyImage" || c.status != 200 {
			continue
		}
		if c.at.After(last) {
			last = c.at
		}
		// Every destination's copy counts (its first accepted CopyImage), not only the
		// image's first copy: a late second copy is a late copy.
		if av, ok := available[c.imageID]; ok && !seen[c.imageID+"/"+c.dest] {
			seen[c.imageID+"/"+c.dest] = true
			delays = append(delays, c.at.Sub(av))
		}
	}
	mu.Unlock()
	for _, c := range calls {
		if c.throttled && c.action != "CreateImage" {
			res.Throttled[c.action]++
		}
	}
	res.EndToEnd = last.Sub(benchStart)
	res.Limit = time.Duration(float64(cfg.Instances)/float64(cfg.Limits.CreateImageQPS)*float64(time.Second)) + BuildTime()
	res.CopyDelayP50, res.CopyDelayP99 = percentile(delays, 0.5), percentile(delays, 0.99)
	res.WallTime = time.Since(wallStart)
	res.Steps, res.QuietWall = v.steps.Load(), time.Duration(v.quietNs.Load())
	return res, nil
}

func accepted(calls []call) int {
	n := 0
	for _, c := range calls {
		if c.action == "CopyImage" && c.status == 200 {
			n++
		}
	}
	return n
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// RunBaseline behaves like the original script, in the same harness: one instance at a
// time, CreateImage, poll DescribeImages every 300 simulated seconds until Available, then
// CopyImage to each DR region. It runs on a manual clock (it never waits in wall time).
func RunBaseline(n int, lim Limits) (PipelineResult, error) {
	wallStart := time.Now()
	res := PipelineResult{Name: "baseline", Instances: n, Concurrency: 1, Calls: map[string]int{}, Throttled: map[string]int{}}
	clock := core.NewManualClock(benchStart)
	f, err := newFleet(clock, nil, n, lim)
	if err != nil {
		return res, err
	}
	defer f.close()
	pol, err := benchPolicy(1, nil)
	if err != nil {
		return res, err
	}
	raw, err := ecsx.NewSDK(ecsx.SDKConfig{Endpoint: f.srv.URL, Credentials: func() (string, string, string) {
		return core.DefaultAccessKeyID, core.DefaultAccessKeySecret, ""
	}})
	if err != nil {
		return res, err
	}
	api := ecsx.WithRetry(raw, ecsx.RetryConfig{Sleep: clock.Sleep, Now: clock.Now, ThrottleAttempts: 5})
	ctx := context.Background()
	for _, region := range SourceRegions {
		ins, err := api.DescribeInstances(ctx, region, ecsx.InstanceQuery{Tags: map[string]string{"backup": "daily"}})
		if err != nil {
			return res, err
		}
		for _, in := range ins {
			id, err := api.CreateImage(ctx, region, ecsx.CreateImageInput{InstanceID: in.ID, Name: "baseline-" + in.ID,
				ClientToken: "baseline-" + in.ID, Tags: pol.ManagedTags(map[string]string{policy.TagSourceInstance: in.ID})})
			if err != nil {
				res.Failed++
				continue
			}
			for {
				_ = clock.Sleep(ctx, 300*time.Second)
				imgs, err := api.DescribeImages(ctx, region, ecsx.ImageQuery{IDs: []string{id}, Statuses: ecsx.AllImageStatuses})
				if err == nil && len(imgs) == 1 && imgs[0].Status == ecsx.StatusAvailable {
					break
				}
			}
			for _, dest := range DRRegions {
				if _, err := api.CopyImage(ctx, region, ecsx.CopyImageInput{ImageID: id, DestinationRegion: dest, Name: "baseline-" + in.ID}); err != nil {
					res.Failed++
				}
			}
		}
	}
	calls := f.snapshot()
	var last time.Time
	for _, c := range calls {
		res.Calls[c.action]++
		if c.throttled {
			res.Throttled[c.action]++
		}
		if c.action == "CopyImage" && c.status == 200 && c.at.After(last) {
			last = c.at
		}
	}
	res.Copies = accepted(calls)
	res.EndToEnd = last.Sub(benchStart)
	res.Limit = time.Duration(float64(n)/float64(lim.CreateImageQPS)*float64(time.Second)) + BuildTime()
	res.WallTime = time.Since(wallStart)
	return res, nil
}
