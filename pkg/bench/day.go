package bench

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/app"
	"github.com/ecsdr/ecs-image-dr/pkg/bootstrap"
	"github.com/ecsdr/ecs-image-dr/pkg/catalog"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/eventbridge"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/fc"
	lcsls "github.com/ecsdr/ecs-image-dr/pkg/localcloud/sls"
	"github.com/ecsdr/ecs-image-dr/pkg/obs"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
	"github.com/ecsdr/ecs-image-dr/pkg/sconfig"
)

// DayConfig is one fleet day: s.yaml's functions, the real binaries of `make build`
// under the local FC runtime, its timers and EventBridge rule, on a fleet with history.
type DayConfig struct {
	// SFile is the project's s.yaml (its code paths hold the built binaries).
	SFile string
	// Instances over the five source regions.
	Instances int
	// EventShare is the share of image events EventBridge delivers (the rest are lost:
	// the reconcile timers copy what they missed). 1 delivers every event.
	EventShare float64
	// Speed is simulated seconds per wall second while the functions work (0: a manual
	// clock, which follows the wall clock 1:1 while a process works).
	Speed float64
	// Window is how much simulated time is driven from Start (default DefaultFleetWindow).
	Window time.Duration
	// WallLimit stops the run (the figures then say so) after this much wall time
	// (default 9 min).
	WallLimit time.Duration
	// FunctionLog receives the functions' own output (nil: discarded).
	FunctionLog io.Writer
	// Progress receives a line now and then (nil: none).
	Progress io.Writer
	// ProfileDir: the function processes write rotated CPU profiles there
	// (DR_CPU_PROFILE_DIR, see pkg/app/profile.go; "": none).
	ProfileDir string
	// MaxInstances bounds each function's instances on the local FC runtime (0:
	// DefaultFleetInstances): FC runs concurrent invocations (a timer while image events
	// are served, a reconcile shard beside a pending run, a retry) on instances of their
	// own, so one does not queue behind another.
	MaxInstances int
}

// DefaultFleetInstances: instances per function in the fleet day. FC's own bound is the
// account's quota (hundreds), each instance with its own CPU; here every process shares
// the machine's cores with the local cloud, and on the scaled clock their CPU time is
// what inflates simulated durations: on the 2-core machine, 4 instances per function made
// nearly every cleanup and deep-reconcile shard run out its 600 s (one at a time: none)
// and the copy delay grew (p99 1h37m against 1h2m), and 2 timed out 39 attempts, so the
// default is 1 and -fleet-instances raises it on a machine with cores to spare.
const DefaultFleetInstances = 1

// DayResult is what one fleet day measured.
type DayResult struct {
	Name       string  `json:"name"`
	Instances  int     `json:"instances"`
	EventShare float64 `json:"eventShare"`
	Speed      float64 `json:"speed"`
	// Seeded managed images (and as many snapshots) by region, before the day.
	Seeded map[string]int `json:"seededImages"`
	// SeedWall: building the fleet, its history and catalog, and the deploy.
	SeedWall   time.Duration  `json:"seedWallNs"`
	Start, End time.Time      `json:"-"`
	Simulated  time.Duration  `json:"simulatedNs"`
	Functions  []DayFunction  `json:"functions"`
	Totals     DayTotals      `json:"totals"`
	Final      map[string]int `json:"finalImages"` // managed images by region at the end
	// CopyDelay: from a source image of the day becoming Available to its copy's
	// CopyImage being accepted, in each DR region (issue 10 point 4: p99 ≤ 15 min with
	// every event lost).
	CopyDelay DayCopyDelay  `json:"copyDelay"`
	WallTime  time.Duration `json:"wallNs"`
	Stopped   string        `json:"stopped,omitempty"` // why the run ended early
	// Invocations is every attempt (also written as a CSV next to latest.json).
	Invocations []DayInvocation `json:"-"`
}

// DayFunction sums one function's invocation attempts.
type DayFunction struct {
	Function    string         `json:"function"`
	Invocations int            `json:"invocations"`
	Status      map[string]int `json:"status"`
	Timeout     time.Duration  `json:"timeoutNs"`
	MaxSim      time.Duration  `json:"maxSimulatedNs"`
	P99Sim      time.Duration  `json:"p99SimulatedNs"`
	MaxWall     time.Duration  `json:"maxWallNs"`
	MemoryMB    int            `json:"memoryMB"`
	// PeakRSSKiB is the highest peak RSS of its attempts (0: not measured).
	PeakRSSKiB int64 `json:"peakRssKiB"`
	// CPU is the CPU time (user+system) of its processes over all attempts.
	CPU        time.Duration `json:"cpuNs"`
	ColdStarts int           `json:"coldStarts"`
	Slowest    string        `json:"slowest,omitempty"` // source and start of the longest attempt
}

// DayInvocation is one attempt, as the CSV lists it.
type DayInvocation struct {
	Function, Source, Status string
	Start                    time.Time
	Sim, Wall                time.Duration
	Timeout                  time.Duration
	MemoryMB                 int
	PeakRSSKiB               int64
	CPU                      time.Duration
	ColdStart                bool
}

// DayTotals count what the day did to the fleet.
type DayTotals struct {
	Created      int `json:"created"` // source images that became Available
	Copied       int `json:"copied"`  // copies that became Available
	Deleted      int `json:"deleted"` // images deleted (any region)
	CreateFailed int `json:"createFailed"`
	// Covered: instances with today's source image Available, and with its copy Available
	// in each DR region, at the end of the window.
	SourcesToday int            `json:"sourcesToday"`
	CopiesToday  map[string]int `json:"copiesToday"`
	Events       int            `json:"eventsPublished"`
}

// seedSlack is how far before dayStart a scaled clock starts, for the seeding to run in.
const seedSlack = 12 * time.Hour

// dayStart: 01:50 Asia/Shanghai on a Tuesday, ten minutes before the create timer.
var dayStart = time.Date(2026, 11, 24, 1, 50, 0, 0, time.FixedZone("CST", 8*3600))

// RunDay runs one fleet day.
func RunDay(ctx context.Context, c DayConfig) (DayResult, error) {
	wall := time.Now()
	res := DayResult{Name: fmt.Sprintf("fleet-day/n=%d", c.Instances), Instances: c.Instances, EventShare: c.EventShare, Speed: c.Speed}
	if c.Window <= 0 {
		c.Window = DefaultFleetWindow
	}
	if c.WallLimit <= 0 {
		c.WallLimit = 9 * time.Minute
	}
	progress := func(format string, a ...any) {
		if c.Progress != nil {
			fmt.Fprintf(c.Progress, "bench: %s: "+format+"\n", append([]any{res.Name}, a...)...)
		}
	}
	pol, err := policy.Parse([]byte(dayPolicy))
	if err != nil {
		return res, fmt.Errorf("fleet policy: %w", err)
	}
	today := time.Date(dayStart.Year(), dayStart.Month(), dayStart.Day(), 2, 0, 0, 0, dayStart.Location())

	// The account: the fleet, its history (what yesterday's cleanup left) and catalog,
	// bulk-seeded into the local ECS (no API calls, no events).
	seed := daySeed()
	clock := core.NewManualClock(dayStart)
	if c.Speed > 0 {
		// A scaled clock runs while the account is seeded: start it early and move it to
		// dayStart just before the deploy (no timer exists yet, so nothing fires).
		clock = core.NewRealtimeClock(dayStart.Add(-seedSlack), c.Speed)
	}
	share := min(max(c.EventShare, 0), 1)
	srv, err := localcloud.New(localcloud.Options{Clock: clock, Seed: &seed,
		FunctionOutput: fc.Options{Stdout: c.FunctionLog, CredentialTTL: 72 * time.Hour, ReuseCredentials: true,
			MaxInstances: cmp.Or(c.MaxInstances, DefaultFleetInstances)},
		Delivery: eventbridge.Delivery{Drop: 1 - share, Seed: 10}})
	if err != nil {
		return res, err
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		return res, err
	}
	defer srv.Close()
	instances := fleetInstances(c.Instances)
	for _, r := range SourceRegions {
		in := instances[r]
		if _, err := srv.ECS.SeedInstances(r, len(in), func(i int) ecs.InstanceSeed { return in[i] }); err != nil {
			return res, err
		}
	}
	srcDays, dstDays := historyShape(pol, today, 400)
	hist, entries := seedHistory(pol, instances, today, srcDays, dstDays)
	res.Seeded = map[string]int{}
	for _, r := range append(slices.Clone(SourceRegions), DRRegions...) { // sources first: copies name them
		imgs := hist[r]
		if _, err := srv.ECS.SeedImages(r, len(imgs), func(i int) ecs.FleetImage { return imgs[i] }); err != nil {
			return res, err
		}
		res.Seeded[r] = len(imgs)
	}
	hist = nil
	progress("seeded %d instances and %d managed images (%v)", c.Instances, sum(res.Seeded), time.Since(wall).Round(time.Millisecond))

	if err := provisionDay(ctx, srv, pol, entries); err != nil {
		return res, err
	}
	if now := clock.Now(); now.After(dayStart) {
		return res, fmt.Errorf("seeding took %v of simulated time, more than the %v before the day starts: lower the speed",
			now.Sub(dayStart.Add(-seedSlack)), seedSlack)
	}
	clock.AdvanceTo(dayStart)
	env := map[string]string{
		"DR_POLICY": dayPolicy, "DR_ECS_ENDPOINT": srv.Addr(), "DR_ECS_SCHEME": "HTTP", "DR_OSS_ENDPOINT": srv.URL(),
		"DR_SLS_ENDPOINT": srv.Addr(), "DR_RDS_ENDPOINT": srv.Addr(), "DR_SLS_LOGSTORE": dayLogstore,
	}
	if c.ProfileDir != "" {
		dir, err := filepath.Abs(c.ProfileDir) // the processes run in their code directories
		if err == nil {
			err = os.MkdirAll(dir, 0o755)
		}
		if err != nil {
			return res, fmt.Errorf("profile directory: %w", err)
		}
		env[app.EnvCPUProfileDir] = dir
	}
	proj, err := sconfig.Load(c.SFile, env, map[string]string{"AccountID": core.DefaultAccountID})
	if err != nil {
		return res, err
	}
	if err := srv.EnsureRoles(proj, bootstrap.PolicyTemplate, env); err != nil {
		return res, fmt.Errorf("bootstrap roles: %w", err)
	}
	if err := srv.Deploy(proj, filepath.Dir(c.SFile), env); err != nil {
		return res, fmt.Errorf("deploy %s: %w (run `make build` first)", c.SFile, err)
	}
	prefix := proj.Name + "-"
	res.SeedWall = time.Since(wall)
	progress("catalog seeded (%d entries per DR region), %d functions deployed (%v)", len(entries),
		len(proj.Functions), res.SeedWall.Round(time.Millisecond))

	// What the day did, from the cloud's own image events.
	var mu sync.Mutex
	states := map[string]map[string]int{} // state -> region -> count
	sourceReady := map[string]time.Time{} // source image id -> when it became Available
	srv.Env.Bus.Subscribe(func(e core.Event) {
		if e.Type != "Image:StateChange" {
			return
		}
		st, _ := e.Data["currentState"].(string)
		mu.Lock()
		if states[st] == nil {
			states[st] = map[string]int{}
		}
		states[st][e.Region]++
		res.Totals.Events++
		if st == "Available" && !slices.Contains(DRRegions, e.Region) {
			if id, _ := e.Data["imageId"].(string); id != "" {
				sourceReady[id] = e.Time
			}
		}
		mu.Unlock()
	})

	// Drive the clock through the window: let the cloud go idle (the processes work on
	// the simulated clock meanwhile), then jump to the next timer or emulator event.
	res.Start = clock.Now()
	end := res.Start.Add(c.Window)
	lastNote := time.Now()
	for {
		if err := ctx.Err(); err != nil {
			res.Stopped = err.Error()
			break
		}
		left := c.WallLimit - time.Since(wall)
		if left <= 0 || !srv.Env.Tracker.WaitIdle(left) {
			res.Stopped = fmt.Sprintf("wall limit %v reached at simulated %s", c.WallLimit, clock.Now().In(dayStart.Location()).Format("15:04"))
			break
		}
		if time.Since(lastNote) > 15*time.Second {
			lastNote = time.Now()
			progress("simulated %s, %d invocations, %.0fs wall", clock.Now().In(dayStart.Location()).Format("01-02 15:04"),
				len(srv.FC.Invocations()), time.Since(wall).Seconds())
		}
		next, ok := clock.NextDue()
		if !ok || next.After(end) {
			break
		}
		clock.AdvanceTo(next)
	}
	if res.Stopped == "" && clock.Now().Before(end) {
		clock.AdvanceTo(end)
		srv.Env.Tracker.WaitIdle(time.Minute)
	}
	res.End = clock.Now()
	res.Simulated = res.End.Sub(res.Start)

	res.Invocations, res.Functions = dayFunctions(srv.FC, prefix)
	mu.Lock()
	for r, n := range states["Available"] {
		if slices.Contains(DRRegions, r) {
			res.Totals.Copied += n
		} else {
			res.Totals.Created += n
		}
	}
	res.Totals.Deleted = sum(states["Deleted"])
	res.Totals.CreateFailed = sum(states["CreateFailed"])
	mu.Unlock()
	slot := pol.Slot(today)
	mu.Lock()
	res.CopyDelay = copyDelays(srv, sourceReady, slot)
	mu.Unlock()
	res.Final = map[string]int{}
	res.Totals.CopiesToday = map[string]int{}
	for _, r := range append(slices.Clone(SourceRegions), DRRegions...) {
		for _, im := range srv.ECS.Images(r) {
			if im.Tags[policy.TagManagedBy] != policy.ManagedByValue {
				continue
			}
			res.Final[r]++
			if im.Status != "Available" || im.Tags[policy.TagSlot] != slot {
				continue
			}
			if im.Tags[policy.TagRole] == policy.RoleSource {
				res.Totals.SourcesToday++
			} else if im.Tags[policy.TagRole] == policy.RoleCopy {
				res.Totals.CopiesToday[r]++
			}
		}
	}
	res.WallTime = time.Since(wall)
	return res, nil
}

const (
	dayLogProject = "ecs-image-dr-" + core.DefaultAccountID
	dayLogstore   = "ecs-image-dr"
)

// daySeed is the account: 5 source regions and 2 DR regions, no instance yet.
func daySeed() ecs.Seed {
	seed := ecs.DefaultSeed()
	seed.Instances = nil
	have := map[string]bool{}
	for _, r := range seed.Regions {
		have[r.ID] = true
	}
	for _, r := range append(slices.Clone(SourceRegions), DRRegions...) {
		if !have[r] {
			seed.Regions = append(seed.Regions, ecs.RegionSeed{ID: r, LocalName: r})
			seed.Images = append(seed.Images, ecs.ImageSeed{ID: ecs.SystemImageID, Region: r, Name: "Alibaba Cloud Linux",
				OwnerAlias: "system", SizeGiB: 20, OSType: "linux"})
		}
	}
	seed.ImageQuota = 1 << 30
	seed.CopyConcurrency = 1 << 20 // real ECS queues copies too; their wait is not what is measured here
	return seed
}

// fleetInstances are n protected instances, by source region (round robin).
func fleetInstances(n int) map[string][]ecs.InstanceSeed {
	out := map[string][]ecs.InstanceSeed{}
	tags := map[string]string{"app": "web", "backup": "daily"}
	for i := range n {
		region := SourceRegions[i%len(SourceRegions)]
		out[region] = append(out[region], ecs.InstanceSeed{
			ID: fmt.Sprintf("i-fleet%06d", i), Region: region, Name: fmt.Sprintf("web-%d", i), Status: "Running",
			Tags: tags, Disks: []ecs.DiskSeed{{Type: "system", SizeGiB: diskGiB}},
		})
	}
	return out
}

// provisionDay creates what `s deploy` does not (catalog buckets, the SLS project and
// logstore) and writes the catalog the history implies, through the product's writer.
func provisionDay(ctx context.Context, srv *localcloud.Server, pol *policy.Policy, entries []catalog.Entry) error {
	for _, r := range pol.DestinationRegions() {
		b := pol.CatalogBucket(r)
		if err := srv.OSS.CreateBucket(b, r); err != nil {
			return fmt.Errorf("catalog bucket in %s: %w", r, err)
		}
		if err := catalog.NewWriter(memStore{srv.OSS}, b, nil).Sync(ctx, pol.Name, entries, false); err != nil {
			return fmt.Errorf("seed catalog in %s: %w", r, err)
		}
	}
	// The seeded images carry their shard bucket (as after the release that added it ran
	// once): the shard runs list by bucket from the start.
	if d := pol.DestinationRegions(); len(d) > 0 {
		if err := app.MarkBucketsTagged(ctx, memStore{srv.OSS}, pol, append(slices.Clone(SourceRegions), DRRegions...), srv.Env.Clock.Now()); err != nil {
			return fmt.Errorf("seed shard bucket marks: %w", err)
		}
	}
	srv.SLS.EnsureProject(dayLogProject, "cn-hangzhou")
	_, err := obs.Provision(lcsls.NewSDKClient(srv.Addr(), srv.Credential()),
		obs.ProvisionConfig{Project: dayLogProject, Logstore: dayLogstore, Region: "cn-hangzhou"})
	return err
}

// dayFunctions sums the invocation attempts per function: the FC runtime measures each
// one's duration from the hand-over (simulated and wall) and its peak RSS.
func dayFunctions(rt *fc.Runtime, prefix string) ([]DayInvocation, []DayFunction) {
	var all []DayInvocation
	by := map[string]*DayFunction{}
	sims := map[string][]time.Duration{}
	for _, inv := range rt.Invocations() {
		name := strings.TrimPrefix(inv.Function, prefix)
		d := DayInvocation{Function: name, Source: inv.Source, Status: string(inv.Status), Start: inv.Start,
			Sim: inv.SimDuration, Wall: inv.WallDuration, Timeout: inv.Timeout, MemoryMB: inv.MemoryMB,
			PeakRSSKiB: inv.PeakRSSKiB, CPU: inv.CPU, ColdStart: inv.ColdStart}
		all = append(all, d)
		f := by[name]
		if f == nil {
			f = &DayFunction{Function: name, Status: map[string]int{}, Timeout: inv.Timeout, MemoryMB: inv.MemoryMB}
			by[name] = f
		}
		f.Invocations++
		f.Status[d.Status]++
		f.PeakRSSKiB = max(f.PeakRSSKiB, d.PeakRSSKiB)
		f.CPU += d.CPU
		if d.ColdStart {
			f.ColdStarts++
		}
		if d.Sim > f.MaxSim {
			f.MaxSim = d.Sim
			f.Slowest = fmt.Sprintf("%s at %s", d.Source, d.Start.In(dayStart.Location()).Format("15:04:05"))
		}
		f.MaxWall = max(f.MaxWall, d.Wall)
		sims[name] = append(sims[name], d.Sim)
	}
	var out []DayFunction
	for name, f := range by {
		s := sims[name]
		slices.Sort(s)
		f.P99Sim = s[min(len(s)-1, (len(s)*99+99)/100-1)]
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Function < out[j].Function })
	return all, out
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// DayCopyDelay is the tool-added copy delay of the day's source images.
type DayCopyDelay struct {
	Copies        int           `json:"copies"` // (source, DR region) pairs copied
	P50, P99, Max time.Duration `json:"-"`
	P50Ns         int64         `json:"p50Ns"`
	P99Ns         int64         `json:"p99Ns"`
	MaxNs         int64         `json:"maxNs"`
	// Uncopied: (source, DR region) pairs of the day's Available sources with no copy at
	// the end of the window (their delay is at least the time left, not in the figures).
	Uncopied int `json:"uncopied"`
}

// copyDelays measures, for every source image that became Available during the day,
// when its copy in each DR region was created (CopyImage accepted), from the copies'
// lineage tags.
func copyDelays(srv *localcloud.Server, ready map[string]time.Time, slot string) DayCopyDelay {
	var d DayCopyDelay
	var delays []time.Duration
	for _, r := range DRRegions {
		copied := map[string]bool{}
		for _, im := range srv.ECS.Images(r) {
			if im.Tags[policy.TagRole] != policy.RoleCopy || im.Tags[policy.TagSlot] != slot {
				continue
			}
			src := im.Tags[policy.TagSourceImage]
			at, ok := ready[src]
			if !ok || copied[src] {
				continue
			}
			copied[src] = true
			delays = append(delays, max(im.CreationTime.Sub(at), 0))
		}
		d.Uncopied += len(ready) - len(copied)
	}
	if len(delays) == 0 {
		return d
	}
	slices.Sort(delays)
	d.Copies = len(delays)
	d.P50, d.P99, d.Max = delays[(len(delays)-1)/2], delays[min(len(delays)-1, (len(delays)*99+99)/100-1)], delays[len(delays)-1]
	d.P50Ns, d.P99Ns, d.MaxNs = int64(d.P50), int64(d.P99), int64(d.Max)
	return d
}
