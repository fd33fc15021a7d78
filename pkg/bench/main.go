package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/policy"
	"github.com/ecsdr/ecs-image-dr/pkg/retention"
)

// Options of one bench run.
type Options struct {
	Quick  bool    // small fleets only
	OutDir string  // where latest.md and latest.json go ("" : nowhere)
	Speed  float64 // simulated seconds per wall second for the paced runs
	Only   string  // run only scenarios whose name contains this
	Skip   string  // comma list: skip scenarios whose name contains one of these
	// Fleet is the fleet day's size (default 20,000; Quick: 200); SFile its s.yaml
	// (default s.yaml) and EventShare the share of image events delivered (0: 1; negative: none, every event lost).
	Fleet      int
	SFile      string
	EventShare float64
	// FleetSpeed is the fleet day's simulated seconds per wall second (0: DefaultFleetSpeed;
	// negative: a manual clock, which follows the wall clock 1:1 while a function works).
	FleetSpeed float64
	// FleetWindow is the simulated time the fleet day drives (0: DefaultFleetWindow).
	FleetWindow time.Duration
	// FleetInstances bounds each function's instances in the fleet day (0: DefaultFleetInstances).
	FleetInstances int
	// FunctionLog receives the fleet day's function output (nil: discarded).
	FunctionLog io.Writer
	// FunctionProfiles is a directory where the fleet day's function processes write
	// their CPU profiles (DR_CPU_PROFILE_DIR; "": none).
	FunctionProfiles string
	// Parallel is how many of the pipeline, baseline, event, planning and function
	// scenarios run at once (0: 1). More than one saves wall time on an idle machine but
	// not on a loaded one, where it also costs the pipelines' accuracy: their quiet
	// detection misses workers between two calls and moves virtual time on early.
	Parallel int
}

func (o Options) parallel() int {
	if o.Parallel > 0 {
		return o.Parallel
	}
	return 1
}

// Report is everything one bench run measured (latest.json).
type Report struct {
	Started   time.Time          `json:"started"`
	Limits    Limits             `json:"limits"`
	Speed     float64            `json:"speed"`
	Pipelines []PipelineResult   `json:"pipelines"`
	Baselines []PipelineResult   `json:"baselines"`
	Events    []EventCost        `json:"events"`
	Cleanup   *CleanupPlanResult `json:"cleanup,omitempty"`
	Functions []FunctionFigures  `json:"functions"`
	Memory    []MemoryRun        `json:"memory,omitempty"`
	FCCost    []FCCost           `json:"fcCost"`
	Days      []DayResult        `json:"fleetDays"`
	Missing   []string           `json:"notMeasured"`
	// ScenarioWall is each scenario's wall time (they run Options.Parallel at a time).
	ScenarioWall []ScenarioWall `json:"scenarioWall"`
	Parallel     int            `json:"parallel"`
	WallTime     time.Duration  `json:"wallNs"`
}

// CleanupPlanResult is the planner's time at a large image count.
type CleanupPlanResult struct {
	Images  int           `json:"images"`
	Elapsed time.Duration `json:"elapsedNs"`
}

// FCCost is an estimate of FC GB-seconds per day at the deployed memory sizes.
type FCCost struct {
	Instances  int     `json:"instances"`
	GBSeconds  float64 `json:"gbSecondsPerDay"`
	Assumption string  `json:"assumption"`
}

// Main runs the scenarios and writes the report.
func Main(w io.Writer, o Options) error {
	if o.Speed <= 0 {
		o.Speed = 20
	}
	rep := &Report{Started: time.Now().UTC(), Limits: DefaultBenchLimits, Speed: o.Speed}
	sizes := []int{100, 1000, 5000}
	if o.Quick {
		sizes = []int{100}
	}
	run := func(name string) bool {
		for _, sk := range strings.Split(o.Skip, ",") {
			if sk != "" && strings.Contains(name, sk) {
				return false
			}
		}
		return o.Only == "" || strings.Contains(name, o.Only)
	}
	logf := func(format string, a ...any) { fmt.Fprintf(os.Stderr, "bench: "+format+"\n", a...) }

	type pc struct {
		n, conc int
		lost    bool
	}
	var plan []pc
	for _, n := range sizes {
		plan = append(plan, pc{n, 4, false})
	}
	plan = append(plan, pc{sizes[len(sizes)-1], 32, false})
	plan = append(plan, pc{min(1000, sizes[len(sizes)-1]), 4, true})
	// The scenarios are independent (each its own fleet, clock and servers) and a
	// pipeline's wall time is mostly waiting (its virtual-time steps, each waiting for
	// quiet), so they may run o.Parallel at a time (see Options.Parallel). The report
	// keeps the order below.
	var jobs []benchJob
	pipes := make([]*PipelineResult, len(plan))
	for i, p := range plan {
		name := fmt.Sprintf("pipeline/n=%d/c=%d", p.n, p.conc)
		if p.lost {
			name += "/events-lost"
		}
		if !run(name) {
			continue
		}
		jobs = append(jobs, benchJob{name, func() error {
			r, err := RunPipeline(PipelineConfig{Instances: p.n, Concurrency: p.conc, Speed: o.Speed, Limits: DefaultBenchLimits,
				EventsLost: p.lost, ReconcileEvery: 5 * time.Minute})
			r.Name = name
			if err != nil {
				return err
			}
			logf("%s: %s end-to-end, %.2fx limit, %d failed, %.1fs wall (%d virtual-time steps, %.1fs making sure of quiet)", name, r.EndToEnd.Round(time.Second),
				ratio(r.EndToEnd, r.Limit), r.Failed, r.WallTime.Seconds(), r.Steps, r.QuietWall.Seconds())
			pipes[i] = &r
			return nil
		}})
	}
	bases := make([]*PipelineResult, len(sizes))
	for i, n := range sizes {
		name := fmt.Sprintf("baseline/n=%d", n)
		if !run(name) {
			continue
		}
		jobs = append(jobs, benchJob{name, func() error {
			r, err := RunBaseline(n, DefaultBenchLimits)
			if err != nil {
				return err
			}
			r.Name = name
			bases[i] = &r
			return nil
		}})
	}
	evSizes := []int{50, sizes[len(sizes)-1]}
	evs := make([]*EventCost, len(evSizes))
	for i, n := range evSizes {
		name := fmt.Sprintf("event/n=%d", n)
		if !run(name) {
			continue
		}
		jobs = append(jobs, benchJob{name, func() error {
			r, err := RunEventCost(n, DefaultBenchLimits)
			if err != nil {
				return err
			}
			evs[i] = &r
			return nil
		}})
	}
	if run("cleanup-plan") {
		jobs = append(jobs, benchJob{"cleanup-plan", func() error { rep.Cleanup = runCleanupPlan(100_000); return nil }})
	}
	if run("functions") {
		jobs = append(jobs, benchJob{"functions", func() error { rep.Functions = RunFunctions("."); return nil }})
	}
	walls, err := runJobs(jobs, o.parallel(), logf)
	rep.ScenarioWall, rep.Parallel = walls, o.parallel()
	if err != nil {
		return err
	}
	for _, r := range pipes {
		if r != nil {
			rep.Pipelines = append(rep.Pipelines, *r)
		}
	}
	for _, r := range bases {
		if r != nil {
			rep.Baselines = append(rep.Baselines, *r)
		}
	}
	for _, r := range evs {
		if r != nil {
			rep.Events = append(rep.Events, *r)
		}
	}
	if fleet := o.fleet(); run(fmt.Sprintf("fleet-day/n=%d", fleet)) {
		logf("fleet-day/n=%d…", fleet)
		d, err := RunDay(context.Background(), DayConfig{SFile: o.sfile(), Instances: fleet, EventShare: o.eventShare(), Speed: o.fleetSpeed(), Window: o.fleetWindow(),
			FunctionLog: o.FunctionLog, ProfileDir: o.FunctionProfiles, Progress: os.Stderr, MaxInstances: o.FleetInstances})
		if err != nil {
			return fmt.Errorf("fleet-day/n=%d: %w", fleet, err)
		}
		rep.Days = append(rep.Days, d)
		if o.OutDir != "" {
			if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
				return err
			}
			if err := writeDayCSV(filepath.Join(o.OutDir, "fleet-day-invocations.csv"), d); err != nil {
				return err
			}
		}
	}
	if run("memory") {
		n := sizes[len(sizes)-1]
		logf("memory/n=%d/c=32…", n)
		mc := MemoryConfig{SFile: "s.yaml", Instances: n, Concurrency: 32, HistoryDays: 3, Events: 50,
			GODEBUG: os.Getenv("BENCH_MEMORY_GODEBUG"), OutputFile: os.Getenv("BENCH_MEMORY_OUTPUT")}
		if s := os.Getenv("BENCH_MEMORY_STEPS"); s != "" {
			mc.Steps = strings.Split(s, ",")
		}
		// Rates lifted, every worker in flight (≈2.5 min); BENCH_MEMORY_SPEED=5: paced as
		// deployed on simulated time (its reconcile copies the whole day: much longer).
		if s := os.Getenv("BENCH_MEMORY_SPEED"); s != "" {
			fmt.Sscan(s, &mc.Speed)
		}
		if s := os.Getenv("BENCH_MEMORY_HISTORY"); s != "" {
			fmt.Sscan(s, &mc.HistoryDays)
		}
		m := RunMemory(mc)
		if m.Err != "" {
			logf("memory/n=%d/c=32: %s", n, m.Err)
		}
		rep.Memory = append(rep.Memory, m)
	}
	rep.FCCost = fcCost(rep)
	if len(rep.Memory) == 0 {
		rep.Missing = append(rep.Missing, "peak RSS of each function under load (5,000 instances, concurrency 32) (point 6): the memory scenario did not run")
	}
	rep.WallTime = time.Since(rep.Started)
	var sb strings.Builder
	writeTable(&sb, rep)
	fmt.Fprint(w, sb.String())
	if o.OutDir == "" {
		return nil
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.OutDir, "latest.md"), []byte(sb.String()), 0o644); err != nil {
		return err
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(o.OutDir, "latest.json"), js, 0o644)
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// mark returns "" when ok, else " MISS".
func mark(ok bool) string {
	if ok {
		return ""
	}
	return " MISS"
}

func writeTable(w io.Writer, rep *Report) {
	fmt.Fprintf(w, "## Fleet-scale benchmark (local cloud, simulated time)\n\n")
	fmt.Fprintf(w, "Account limits (account-wide per action): CreateImage %d/s, CopyImage %d/s, Describe* %d/s; latency %v per call; image build %v. 5 source regions, 2 DR regions. Pipelines on virtual time; baselines and event costs on a manual clock.\n\n",
		rep.Limits.CreateImageQPS, rep.Limits.CopyImageQPS, rep.Limits.DescribeQPS, rep.Limits.Latency, BuildTime())
	fmt.Fprintln(w, "### Pipeline: timer firing → last CopyImage accepted")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "```")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tEND-TO-END\tBASELINE\tSPEEDUP\tvs LIMIT (≤1.05)\tQPS USE (≥0.95)\tCALLS/MIN (≤1.02)\tTHROTTLED\tFAILED (0)\tCOPY DELAY p50/p99\tWALL")
	base := map[int]PipelineResult{}
	for _, b := range rep.Baselines {
		base[b.Instances] = b
	}
	for _, r := range rep.Pipelines {
		b, ok := base[r.Instances]
		bs, sp := "-", "-"
		if ok && !r.EventsLost {
			bs = fmtDur(b.EndToEnd)
			sp = fmt.Sprintf("%.0fx", ratio(b.EndToEnd, r.EndToEnd))
		}
		th := 0
		for _, n := range r.Throttled {
			th += n
		}
		lim := ratio(r.EndToEnd, r.Limit)
		limTxt := fmt.Sprintf("%.3fx%s", lim, mark(lim <= 1.05))
		qpsTxt := fmt.Sprintf("%.1f%%%s", 100*r.QPSUse, mark(r.QPSUse >= 0.95))
		callTxt := fmt.Sprintf("%.3fx%s", r.CallRatio, mark(r.CallRatio <= 1.02))
		if r.EventsLost {
			limTxt, qpsTxt, callTxt = "(events lost)", "-", "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d%s\t%s / %s\t%.0fs\n", r.Name, fmtDur(r.EndToEnd), bs, sp,
			limTxt, qpsTxt, callTxt, th, r.Failed, mark(r.Failed == 0), fmtDur(r.CopyDelayP50), fmtDur(r.CopyDelayP99), r.WallTime.Seconds())
		if r.Note != "" {
			fmt.Fprintf(tw, "  note: %s\n", r.Note)
		}
	}
	tw.Flush()
	fmt.Fprintln(w, "```")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Requests the create run sent, by action (throttled ones included; MIN = one CreateImage per instance + the list pages):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "```")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tCreateImage\tDescribeInstances\tDescribeImages\tMIN\tper instance")
	for _, r := range rep.Pipelines {
		if r.EventsLost {
			continue
		}
		tot := r.Calls["CreateImage"] + r.Calls["DescribeInstances"] + r.Calls["DescribeImages"]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.3f (min %.3f)\n", r.Name, r.Calls["CreateImage"], r.Calls["DescribeInstances"],
			r.Calls["DescribeImages"], r.MinCalls, float64(tot)/float64(r.Instances), float64(r.MinCalls)/float64(r.Instances))
	}
	for _, b := range rep.Baselines {
		fmt.Fprintf(tw, "%s (whole run)\t%d\t%d\t%d\t-\t%.3f\n", b.Name, b.Calls["CreateImage"], b.Calls["DescribeInstances"],
			b.Calls["DescribeImages"], float64(b.Calls["CreateImage"]+b.Calls["DescribeInstances"]+b.Calls["DescribeImages"]+b.Calls["CopyImage"])/float64(b.Instances))
	}
	tw.Flush()
	fmt.Fprintln(w, "```")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "### Per-event cost (flat in the fleet size)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "```")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FLEET\tSOURCE EVENT: ECS CALLS\tTIME\tCOPY EVENT: ECS CALLS\tOSS WRITES\tOSS BYTES\tOTHER OSS REQ\tTIME\tCATALOG ENTRIES")
	for _, e := range rep.Events {
		fmt.Fprintf(tw, "%d\t%d\t%s\t%d\t%d\t%d\t%d\t%s\t%d\n", e.Instances, e.SourceECSCalls, fmtDur(e.SourceEventDuration),
			e.CopyECSCalls, e.CopyOSSWrites, e.CopyOSSBytes, e.CopyOSSReads, fmtDur(e.CopyEventDuration), e.CatalogEntries)
	}
	tw.Flush()
	fmt.Fprintln(w, "```")
	fmt.Fprintln(w)
	if rep.Cleanup != nil {
		fmt.Fprintf(w, "Cleanup planning (retention.PlanCleanup) at %d images: %v wall.\n\n", rep.Cleanup.Images, rep.Cleanup.Elapsed.Round(time.Millisecond))
	}
	if len(rep.Functions) > 0 {
		fmt.Fprintln(w, "```")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "FUNCTION\tZIP\tCOLD START\tRSS AT COLD START (idle; under load: below)")
		for _, f := range rep.Functions {
			if f.Err != "" {
				fmt.Fprintf(tw, "%s\terror: %s\t\t\n", f.Function, f.Err)
				continue
			}
			fmt.Fprintf(tw, "%s\t%.1f MB\t%s\t%.1f MB\n", f.Function, float64(f.ZipBytes)/(1<<20), fmtDur(f.ColdStart), float64(f.IdleRSSKiB)/1024)
		}
		tw.Flush()
		fmt.Fprintln(w, "```")
		fmt.Fprintln(w)
	}
	writeMemory(w, rep.Memory)
	for _, c := range rep.FCCost {
		fmt.Fprintf(w, "FC cost at %d instances: %.0f GB-s/day (%s).\n", c.Instances, c.GBSeconds, c.Assumption)
	}
	for _, d := range rep.Days {
		writeDayTable(w, d)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Not measured:")
	for _, m := range rep.Missing {
		fmt.Fprintf(w, "- %s\n", m)
	}
	if len(rep.ScenarioWall) > 0 {
		fmt.Fprintf(w, "\nScenario wall times (%d at a time):", max(rep.Parallel, 1))
		for _, sw := range rep.ScenarioWall {
			fmt.Fprintf(w, " %s %.0fs;", sw.Name, sw.Wall.Seconds())
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\nBench wall time: %.0fs.\n", rep.WallTime.Seconds())
}

func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// runCleanupPlan times the retention planner on n images: n/20 instances, each with 10
// daily sources in its region and 10 copies in one DR region.
func runCleanupPlan(n int) *CleanupPlanResult {
	pol, err := benchPolicy(4, nil)
	if err != nil {
		return nil
	}
	pol.Retention.Source = policy.RetentionRule{KeepLast: 3, Daily: 7, Weekly: 4, Monthly: 6}
	pol.Retention.Destination = pol.Retention.Source
	now := benchStart
	var imgs []retention.Image
	for i := 0; len(imgs) < n; i++ {
		inst := fmt.Sprintf("i-plan%06d", i)
		src := SourceRegions[i%len(SourceRegions)]
		for d := range 10 {
			created := now.Add(-time.Duration(d*7+1) * 24 * time.Hour)
			sid := fmt.Sprintf("m-%s-%d", inst, d)
			imgs = append(imgs, retention.Image{ID: sid, Region: src, InstanceID: inst, Status: "Available", Created: created,
				Role: policy.RoleSource, Managed: true, SnapshotIDs: []string{"s-" + sid}},
				retention.Image{ID: "c" + sid, Region: DRRegions[i%2], InstanceID: inst, Status: "Available", Created: created.Add(time.Hour),
					Role: policy.RoleCopy, SourceImageID: sid, SourceRegion: src, Managed: true, SnapshotIDs: []string{"s-c" + sid}})
		}
	}
	start := time.Now()
	retention.PlanCleanup(imgs, pol, now)
	return &CleanupPlanResult{Images: len(imgs), Elapsed: time.Since(start)}
}

// fcCost estimates GB-seconds per day at 256 MB (s.yaml's memorySize of every function):
// one create run lasting the measured end of its CreateImage calls, one copy-image
// invocation per image event (the source image and each copy) lasting the measured event
// duration, reconcile every 10 min for the backup window's 2 h lasting one create-sized
// listing, and one cleanup run of 5 min (assumed, not measured here).
func fcCost(rep *Report) []FCCost {
	const gb = 0.25
	var ev time.Duration
	for _, e := range rep.Events {
		ev = max(ev, e.SourceEventDuration, e.CopyEventDuration)
	}
	var out []FCCost
	for _, n := range []int{1000, 5000} {
		var create time.Duration
		for _, r := range rep.Pipelines {
			if r.Instances == n && !r.EventsLost {
				create = r.CreateSpan
				break
			}
		}
		if create == 0 {
			continue
		}
		events := float64(n * (1 + len(DRRegions)))
		secs := create.Seconds() + events*ev.Seconds() + 12*create.Seconds()/10 + 300
		out = append(out, FCCost{Instances: n, GBSeconds: gb * secs,
			Assumption: fmt.Sprintf("256 MB; create %s, %0.f events × %s, 12 reconciles, cleanup 5 min assumed", fmtDur(create), events, fmtDur(ev))})
	}
	return out
}
