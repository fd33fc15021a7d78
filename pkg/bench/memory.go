package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/app"
	"github.com/ecsdr/ecs-image-dr/pkg/bootstrap"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/eventbridge"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/fc"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
	"github.com/ecsdr/ecs-image-dr/pkg/sconfig"
)

// RSSTargetKiB is point 6 of the fleet-scale issue: every function's peak RSS under
// 48 MB at 5,000 instances and concurrency 32.
const RSSTargetKiB = 48 * 1024

// MemoryConfig is one run of the real function binaries (`make build`'s dist/*/main) on
// the local cloud, measuring each function process's peak RSS (VmHWM).
type MemoryConfig struct {
	SFile       string // s.yaml; its code paths (./dist/<fn>) are relative to its directory
	Instances   int
	Concurrency int
	// HistoryDays of daily images every instance already has (source and one copy in
	// each DR region), so reconcile and cleanup see a fleet in steady state.
	HistoryDays int
	// Events is how many image events are delivered to copy-image (a sample: the
	// per-event work does not grow with the fleet, so their peak does not either).
	Events int
	// Steps names the steps to run (create, reconcile, source-events, copy-events,
	// cleanup, rpo, offsite); empty: all of them.
	Steps []string
	// GODEBUG, when set, is given to the function processes (e.g. gctrace=1; their
	// stderr is kept in the output tail).
	GODEBUG string
	// Speed > 0: a scaled clock (simulated seconds per wall second) and the policy's
	// default client-side rates, as deployed; 0: a manual clock and rates lifted to
	// 1,000/s (every worker of every region in flight: the worst case for memory).
	Speed float64
	// OutputFile receives every line the functions print ("": only a tail is kept).
	OutputFile string
}

// MemoryResult is one measured invocation (or sequence of invocations of one process).
type MemoryResult struct {
	Function    string `json:"function"`
	Step        string `json:"step"`
	Invocations int    `json:"invocations"`
	PeakRSSKiB  int64  `json:"peakRssKiB"`
	// AnonKiB and FileKiB split the largest RSS sampled: heap, stacks and runtime
	// (anonymous) against the mapped binary's pages (file).
	AnonKiB int64         `json:"anonKiB"`
	FileKiB int64         `json:"fileKiB"`
	Wall    time.Duration `json:"wallNs"`
	// CPU is the function process's CPU time (user+system) over the step's invocations.
	CPU    time.Duration `json:"cpuNs"`
	Status string        `json:"status"` // the last invocation's FC status
	Note   string        `json:"note,omitempty"`
}

// MemoryRun is every step of one fleet.
type MemoryRun struct {
	Instances   int            `json:"instances"`
	Concurrency int            `json:"concurrency"`
	Speed       float64        `json:"speed"`
	Images      int            `json:"imagesAtCleanup"`
	Steps       []MemoryResult `json:"steps"`
	Wall        time.Duration  `json:"wallNs"`
	Err         string         `json:"error,omitempty"`
}

// memPolicy is the fleet's policy: every bench instance, both DR regions, daily slots.
// lifted: client-side rates at 1,000/s, so every worker of every region is in flight (the
// worst case for memory); otherwise the documented default rates, as deployed.
func memPolicy(conc int, lifted bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: bench\ntimezone: Asia/Shanghai\nslotInterval: 24h\nconcurrency: %d\nsources:\n", conc)
	for _, r := range SourceRegions {
		fmt.Fprintf(&b, "  - region: %s\n    selectors:\n      - backup: daily\n", r)
	}
	b.WriteString("destinations:\n")
	for _, r := range DRRegions {
		fmt.Fprintf(&b, "  - region: %s\n", r)
	}
	b.WriteString("retention:\n  source:\n    keepLast: 7\n  destination:\n    keepLast: 7\n")
	if !lifted {
		return b.String()
	}
	b.WriteString("rateLimits:\n")
	for _, a := range []string{"DescribeInstances", "DescribeImages", "CreateImage", "CopyImage", "DeleteImage", "DeleteSnapshot", "DescribeSnapshots", "TagResources"} {
		fmt.Fprintf(&b, "  %s: 1000\n", a)
	}
	return b.String()
}

// memSeed is n instances over the source regions and HistoryDays days of managed images:
// each day's source image in the instance's region and its copy in each DR region.
func memSeed(pol *policy.Policy, n, days int, now time.Time) ecs.Seed {
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
	seed.CopyConcurrency = 1 << 20
	for i := range n {
		region := SourceRegions[i%len(SourceRegions)]
		id := fmt.Sprintf("i-bench%06d", i)
		seed.Instances = append(seed.Instances, ecs.InstanceSeed{
			ID: id, Region: region, Name: fmt.Sprintf("web-%d", i), Status: "Running",
			Tags:  map[string]string{"app": "web", "backup": "daily"},
			Disks: []ecs.DiskSeed{{Type: "system", SizeGiB: diskGiB}},
		})
		for d := 1; d <= days; d++ {
			at := now.Add(-time.Duration(d) * 24 * time.Hour)
			slot := pol.Slot(at)
			sid := fmt.Sprintf("m-h%06d%03d", i, d)
			name := pol.ImageName(id, fmt.Sprintf("web-%d", i), region, slot)
			seed.Images = append(seed.Images, ecs.ImageSeed{ID: sid, Region: region, Name: name, SizeGiB: diskGiB,
				CreationTime: at, SourceInstanceID: id,
				Tags: pol.ManagedTags(map[string]string{policy.TagSourceInstance: id, policy.TagBucket: policy.BucketOf(id), policy.TagSlot: slot,
					policy.TagRole: policy.RoleSource, policy.TagSourceRegion: region, policy.TagAttempt: "1"})})
			for k, dr := range DRRegions {
				seed.Images = append(seed.Images, ecs.ImageSeed{ID: fmt.Sprintf("m-c%d%06d%03d", k, i, d), Region: dr, Name: name,
					SizeGiB: diskGiB, CreationTime: at.Add(20 * time.Minute), SourceInstanceID: id,
					Tags: pol.ManagedTags(map[string]string{policy.TagSourceImage: sid, policy.TagSourceInstance: id,
						policy.TagBucket: policy.BucketOf(id), policy.TagSourceRegion: region, policy.TagSlot: slot, policy.TagRole: policy.RoleCopy,
						policy.TagAttempt: "1", policy.TagDataTime: at.Format(time.RFC3339)})})
			}
		}
	}
	return seed
}

// tailWriter keeps the last max bytes written (the functions' output, for errors).
type tailWriter struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = slices.Clone(t.buf[len(t.buf)-t.max:])
	}
	return len(p), nil
}

func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// RunMemory deploys s.yaml's functions (the built binaries) on a local cloud holding the
// fleet, runs each function's work at fleet scale and reads every function process's
// peak RSS (VmHWM) from /proc. Every step starts a fresh process (the function is
// deployed again), so each figure is that step's own peak; copy-image's event step is
// many invocations of one warm instance, as FC runs them.
func RunMemory(cfg MemoryConfig) MemoryRun {
	wall := time.Now()
	out := MemoryRun{Instances: cfg.Instances, Concurrency: cfg.Concurrency, Speed: cfg.Speed}
	if err := runMemory(cfg, &out); err != nil {
		out.Err = err.Error()
	}
	out.Wall = time.Since(wall)
	return out
}

func runMemory(cfg MemoryConfig, out *MemoryRun) error {
	doc := memPolicy(cfg.Concurrency, cfg.Speed <= 0)
	pol, err := policy.Parse([]byte(doc))
	if err != nil {
		return fmt.Errorf("memory policy: %w", err)
	}
	start := benchStart
	clock := core.NewManualClock(start)
	if cfg.Speed > 0 {
		// Scaled simulated time shared with the function processes: the limiter's waits
		// and FC's timeout run Speed times faster than the wall clock.
		clock = core.NewRealtimeClock(start, cfg.Speed)
		defer clock.Close()
	}
	seed := memSeed(pol, cfg.Instances, cfg.HistoryDays, start)
	fnOut := &tailWriter{max: 64 << 10}
	var sink io.Writer = fnOut
	if cfg.OutputFile != "" {
		f, err := os.Create(cfg.OutputFile)
		if err != nil {
			return err
		}
		defer f.Close()
		sink = io.MultiWriter(fnOut, f)
	}
	srv, err := localcloud.New(localcloud.Options{Clock: clock, Seed: &seed,
		FunctionOutput: fc.Options{Stdout: sink, CredentialTTL: 240 * time.Hour, StartTimeout: time.Minute}})
	if err != nil {
		return err
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		return err
	}
	defer srv.Close()
	for _, d := range pol.DestinationRegions() {
		if err := srv.OSS.CreateBucket(pol.CatalogBucket(d), d); err != nil {
			return err
		}
	}
	// The seeded history carries its shard buckets: the shard runs list by bucket.
	if err := app.MarkBucketsTagged(context.Background(), memStore{srv.OSS}, pol, append(slices.Clone(SourceRegions), DRRegions...), srv.Env.Clock.Now()); err != nil {
		return fmt.Errorf("seed shard bucket marks: %w", err)
	}
	env := map[string]string{
		app.EnvPolicy: doc, app.EnvECSEndpoint: srv.Addr(), app.EnvECSScheme: "HTTP",
		app.EnvOSSEndpoint: srv.URL(), app.EnvSLSEndpoint: srv.Addr(), "DR_RDS_ENDPOINT": srv.Addr(),
	}
	if cfg.GODEBUG != "" {
		env["GODEBUG"] = cfg.GODEBUG
	}
	for _, kv := range strings.Fields(os.Getenv("BENCH_MEMORY_ENV")) { // diagnostics: e.g. GOGC=50
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	proj, err := sconfig.Load(cfg.SFile, env, map[string]string{"AccountID": core.DefaultAccountID})
	if err != nil {
		return err
	}
	names := map[string]string{}
	timers := map[string][]sconfig.Trigger{} // by function: s.yaml's enabled timers, in order
	for i := range proj.Functions {
		f := &proj.Functions[i]
		for _, short := range []string{"create-image", "copy-image", "cleanup", "rds-offsite", "dr-drill"} {
			if strings.HasSuffix(f.Name, short) {
				names[short] = f.Name
				for _, t := range f.Triggers {
					if t.Type == sconfig.TriggerTimer && t.Enabled {
						timers[short] = append(timers[short], t)
					}
				}
			}
		}
		// The bench drives the functions itself (each timer's payload, as deployed): no
		// timers, no EventBridge rules, and no log collection (the output is only kept
		// for errors).
		f.Triggers, f.LogProject, f.LogLogstore = nil, "", ""
	}
	if err := srv.EnsureRoles(proj, bootstrap.PolicyTemplate, env); err != nil {
		return fmt.Errorf("roles: %w", err)
	}
	if err := srv.Deploy(proj, filepath.Dir(cfg.SFile), env); err != nil {
		return fmt.Errorf("deploy %s: %w (run `make build` first)", cfg.SFile, err)
	}

	var evMu sync.Mutex
	var srcEvents, copyEvents [][]byte
	cancel := srv.Env.Bus.Subscribe(func(e core.Event) {
		if e.Source != "acs.ecs" || e.Type != "Image:StateChange" {
			return
		}
		if st, _ := e.Data["currentState"].(string); st != "Available" {
			return
		}
		b, err := json.Marshal(eventbridge.FromCore(e))
		if err != nil {
			return
		}
		evMu.Lock()
		defer evMu.Unlock()
		switch {
		case slices.Contains(SourceRegions, e.Region) && len(srcEvents) < cfg.Events:
			srcEvents = append(srcEvents, b)
		case slices.Contains(DRRegions, e.Region) && len(copyEvents) < cfg.Events:
			copyEvents = append(copyEvents, b)
		}
	})
	defer cancel()

	step := func(short, name string, payloads ...[]byte) MemoryResult {
		fn := names[short]
		res := MemoryResult{Function: short, Step: name}
		if len(payloads) == 0 {
			res.Note = "nothing to invoke (no such timer in s.yaml, or no event seen)"
			return res
		}
		// A fresh process for the step: deploy the function again.
		if spec, ok := srv.FC.Function(fn); ok {
			if err := srv.FC.Deploy(spec); err != nil {
				res.Note = err.Error()
				return res
			}
		}
		t0 := time.Now()
		// VmHWM is sampled while the step runs too: a process killed at its timeout
		// takes its figure with it.
		stop := make(chan struct{})
		var smu sync.Mutex
		var peak procMem
		sample := func() {
			if m := readProcMem(fn); m.HWM > 0 {
				smu.Lock()
				peak = peak.merge(m)
				smu.Unlock()
			}
		}
		var swg sync.WaitGroup
		swg.Go(func() {
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					sample()
				}
			}
		})
		for _, p := range payloads {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
			inv, err := srv.FC.Invoke(ctx, fn, p)
			cancel()
			sample()
			smu.Lock()
			peak.HWM = max(peak.HWM, inv.PeakRSSKiB) // the FC runtime's own figure for the attempt
			smu.Unlock()
			res.Invocations++
			res.CPU += inv.CPU
			res.Status = string(inv.Status)
			if os.Getenv("BENCH_MEMORY_DEBUG") != "" {
				fmt.Fprintf(os.Stderr, "%s: %.2000s\n--- output tail:\n%.3000s\n", name, inv.Response, fnOut.String())
			}
			if err != nil || inv.Status != fc.StatusOK {
				res.Note = capNote(fmt.Sprintf("%v %s %s", err, inv.ErrorMessage, inv.OutputTail))
				if inv.Status == fc.StatusError {
					res.Note = capNote(inv.ErrorMessage)
				}
			}
		}
		close(stop)
		swg.Wait()
		res.PeakRSSKiB, res.AnonKiB, res.FileKiB = peak.HWM, peak.Anon, peak.File
		res.Wall = time.Since(t0)
		return res
	}
	want := func(step string) bool { return len(cfg.Steps) == 0 || slices.Contains(cfg.Steps, step) }
	add := func(r MemoryResult) {
		out.Steps = append(out.Steps, r)
		fmt.Fprintf(os.Stderr, "bench: memory n=%d c=%d %s/%s: %.1f MB peak, %d invocations, %s (%.1fs, CPU %.1fs)%s\n", cfg.Instances, cfg.Concurrency,
			r.Function, r.Step, float64(r.PeakRSSKiB)/1024, r.Invocations, r.Status, r.Wall.Seconds(), r.CPU.Seconds(), noteSuffix(r.Note))
	}

	// fire is every s.yaml timer of fn whose payload's action is one of actions, as FC
	// delivers them (one invocation each, in document order).
	fire := func(fn string, actions ...string) [][]byte {
		var out [][]byte
		for _, t := range timers[fn] {
			var p struct {
				Action string `json:"action"`
			}
			_ = json.Unmarshal([]byte(t.Payload), &p)
			if !slices.Contains(actions, p.Action) {
				continue
			}
			b, _ := json.Marshal(map[string]string{"triggerTime": clock.Now().UTC().Format(time.RFC3339), "triggerName": t.Name,
				"payload": t.Payload})
			out = append(out, b)
		}
		return out
	}
	if want("create") {
		add(step("create-image", "create", fire("create-image", "create")...))
	}
	if want("reconcile") {
		// The reconcile shards list and plan the whole inventory while today's images
		// still build (nothing to copy yet). A reconcile that copies the whole day is not
		// run here: the local ECS's CopyImage scans the destination region per call, so
		// 10,000 copies take longer than the bench may (the fleet day measures copies).
		add(step("copy-image", "reconcile", fire("copy-image", "reconcile")...))
	}
	clock.Advance(BuildTime() + time.Minute) // every image built: source events
	evMu.Lock()
	src := slices.Clone(srcEvents)
	evMu.Unlock()
	if want("source-events") {
		add(step("copy-image", "source-events", src...))
	}
	clock.Advance(time.Hour) // every copy done: copy-ready events
	evMu.Lock()
	cp := slices.Clone(copyEvents)
	evMu.Unlock()
	if want("copy-events") {
		add(step("copy-image", "copy-events", cp...))
	}
	for _, r := range append(slices.Clone(SourceRegions), DRRegions...) {
		out.Images += len(srv.ECS.Images(r))
	}
	if want("cleanup") {
		add(step("cleanup", "cleanup", fire("cleanup", "cleanup")...))
	}
	if want("rpo") {
		add(step("dr-drill", "rpo", fire("dr-drill", "rpo")...))
	}
	if want("offsite") {
		add(step("rds-offsite", "offsite", fire("rds-offsite", "offsite")...))
	}
	return nil
}

func capNote(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

func noteSuffix(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

// procMem is what /proc/<pid>/status says about a function process (KiB).
type procMem struct{ HWM, RSS, Anon, File int64 }

// merge keeps the highest VmHWM and the anon/file split of the largest RSS seen.
func (m procMem) merge(o procMem) procMem {
	out := m
	out.HWM = max(m.HWM, o.HWM)
	if o.RSS > m.RSS {
		out.RSS, out.Anon, out.File = o.RSS, o.Anon, o.File
	}
	return out
}

// readProcMem reads the running process of function fn, a child of this process (its
// environment names the function); zero when none runs.
func readProcMem(fn string) procMem {
	self := strconv.Itoa(os.Getpid())
	ents, _ := os.ReadDir("/proc")
	var best procMem
	for _, e := range ents {
		pid := e.Name()
		if pid[0] < '0' || pid[0] > '9' {
			continue
		}
		st, err := os.ReadFile("/proc/" + pid + "/status")
		if err != nil || !strings.Contains(string(st), "\nPPid:\t"+self+"\n") {
			continue
		}
		envb, err := os.ReadFile("/proc/" + pid + "/environ")
		if err != nil || !slices.Contains(strings.Split(string(envb), "\x00"), "FC_FUNCTION_NAME="+fn) {
			continue
		}
		s := string(st)
		best = best.merge(procMem{HWM: statusKiB(s, "VmHWM:"), RSS: statusKiB(s, "VmRSS:"),
			Anon: statusKiB(s, "RssAnon:"), File: statusKiB(s, "RssFile:")})
	}
	return best
}

func statusKiB(status, field string) int64 {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			var n int64
			_, _ = fmt.Sscanf(strings.TrimSpace(v), "%d", &n)
			return n
		}
	}
	return 0
}

// writeMemory is the peak-RSS table of the memory runs, against RSSTargetKiB.
func writeMemory(w io.Writer, runs []MemoryRun) {
	for _, m := range runs {
		fmt.Fprintf(w, "### Peak RSS of the function binaries: %d instances, concurrency %d (target < %d MB)\n\n", m.Instances, m.Concurrency, RSSTargetKiB/1024)
		how := "client-side rates lifted to 1,000/s on a manual clock, so every worker of every region is in flight (the worst case for memory)"
		if m.Speed > 0 {
			how = fmt.Sprintf("the policy's default client-side rates (as deployed) on simulated time at %gx", m.Speed)
		}
		fmt.Fprintf(w, "The real binaries (`make build`) on the local FC runtime, s.yaml's timer payloads (shards), one fresh process per step, %s; %d images in the account at cleanup. ANON is heap, stacks and runtime; FILE is the mapped binary's pages.\n\n", how, m.Images)
		fmt.Fprintln(w, "```")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "FUNCTION\tSTEP\tINVOCATIONS\tPEAK RSS (< %d MB)\tANON\tFILE\tCPU\tWALL\tSTATUS\n", RSSTargetKiB/1024)
		for _, s := range m.Steps {
			st := s.Status
			if s.Note != "" {
				st += ": " + s.Note
			}
			peak := fmt.Sprintf("%.1f MB%s", float64(s.PeakRSSKiB)/1024, mark(s.PeakRSSKiB > 0 && s.PeakRSSKiB < RSSTargetKiB))
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%.1f MB\t%.1f MB\t%.1fs\t%.0fs\t%s\n", s.Function, s.Step, s.Invocations, peak,
				float64(s.AnonKiB)/1024, float64(s.FileKiB)/1024, s.CPU.Seconds(), s.Wall.Seconds(), st)
		}
		tw.Flush()
		fmt.Fprintln(w, "```")
		if m.Err != "" {
			fmt.Fprintf(w, "\nThe memory run stopped: %s\n", m.Err)
		}
		fmt.Fprintf(w, "\nMemory run wall time: %.0fs.\n\n", m.Wall.Seconds())
	}
}
