package chaos

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fccontext"

	"github.com/ecsdr/ecs-image-dr/pkg/app"
	"github.com/ecsdr/ecs-image-dr/pkg/bootstrap"
	"github.com/ecsdr/ecs-image-dr/pkg/catalog"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/eventbridge"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/fc"
	lcsls "github.com/ecsdr/ecs-image-dr/pkg/localcloud/sls"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/timer"
	"github.com/ecsdr/ecs-image-dr/pkg/obs"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
	"github.com/ecsdr/ecs-image-dr/pkg/sconfig"
)

// Options configure Run.
type Options struct {
	// SFile is s.yaml: the binaries' deployment, and the copy trigger's event pattern.
	SFile string
	// Progress receives one line per applied fault and phase (nil: none).
	Progress io.Writer
}

// Result is one scenario's outcome.
type Result struct {
	Seed        int64
	Binary      bool
	Faults      map[string]int // applied faults by kind
	Invocations int
	Violations  []Violation
	// Err: the scenario could not run (setup failure, a cloud that never went idle).
	Err  error
	Wall time.Duration
}

const (
	slsProject  = "chaos-logs"
	slsLogstore = "ecs-image-dr"
	fnTimeout   = 600 * time.Second // s.yaml's timeout of every function
	// copyPattern is s.yaml's image-ready trigger pattern (the in-process runs' rule).
	copyPattern = `{"source":["acs.ecs"],"type":["ecs:Image:StateChange"],"data":{"currentState":["Available"]}}`
)

type pending struct {
	fn      string
	payload []byte
	retry   int
	id      string
}

type runner struct {
	sc    *Scenario
	o     Options
	srv   *localcloud.Server
	clock *core.Clock
	aud   *audit
	res   *Result
	env   map[string]string
	addr  string
	fnOut *lineBuffer // binaries' output
	// logstores FC collects the binaries' output into (project, logstore), from s.yaml.
	logstores [][2]string

	sched *timer.Scheduler // in-process timers
	names map[string]string

	qmu   sync.Mutex
	queue []pending
	seq   int
	kills []pendingKill

	jmu    sync.Mutex
	jitter *rand.Rand
	pick   *rand.Rand

	records  []InvocationRecord
	lastFire map[string]time.Time // function -> last timer fire time
	triggers map[string]timer.Trigger
	// pendingOn counts the event-drop windows open (in-process: copy-image's pending
	// timer runs while it is above zero).
	pendingOn   int
	lastCleanup time.Time
	handDeleted map[string]bool
	closers     []func()
}

type pendingKill struct {
	fn string
	n  int
}

// Run plays sc and checks the end state.
func Run(ctx context.Context, sc *Scenario, o Options) (res *Result) {
	wall := time.Now()
	res = &Result{Seed: sc.Seed, Binary: sc.Binary, Faults: map[string]int{}}
	defer func() {
		if p := recover(); p != nil {
			res.Violations = append(res.Violations, Violation{Invariant: InvNoPanic, Detail: fmt.Sprintf("the run panicked: %v", p)})
		}
		res.Wall = time.Since(wall)
	}()
	st := play(ctx, sc, o, res, nil)
	if st != nil {
		res.Violations = append(res.Violations, Check(st)...)
		res.Invocations = len(st.Invocations)
	}
	return res
}

// play runs sc and returns the end state (nil, with res.Err set, if it could not run).
// after, if not nil, runs on the live cloud before the state is read (tests).
func play(ctx context.Context, sc *Scenario, o Options, res *Result, after func(*runner)) *State {
	r, err := setup(sc, o, res)
	if err != nil {
		res.Err = err
		return nil
	}
	defer r.close()
	if err := r.play(ctx); err != nil {
		res.Err = err
		return nil
	}
	if after != nil {
		after(r)
	}
	return r.state(ctx)
}

func setup(sc *Scenario, o Options, res *Result) (*runner, error) {
	pol, err := sc.Policy()
	if err != nil {
		return nil, fmt.Errorf("scenario %d: policy: %w", sc.Seed, err)
	}
	clock := core.NewManualClock(sc.Start)
	def := ecs.DefaultSeed()
	seed := ecs.Seed{Regions: def.Regions, Images: def.Images}
	for _, in := range sc.Instances {
		seed.Instances = append(seed.Instances, in.Seed)
	}
	fnOut := &lineBuffer{}
	srv, err := localcloud.New(localcloud.Options{Clock: clock, Seed: &seed,
		FunctionOutput: fc.Options{Stdout: fnOut, CredentialTTL: 240 * time.Hour, RetryBackoff: time.Millisecond},
		Delivery:       eventbridge.Delivery{Seed: sc.Seed}})
	if err != nil {
		return nil, err
	}
	r := &runner{sc: sc, o: o, srv: srv, clock: clock, res: res, fnOut: fnOut, names: map[string]string{},
		jitter: rand.New(rand.NewPCG(uint64(sc.Seed), 1)), pick: rand.New(rand.NewPCG(uint64(sc.Seed), 2)),
		lastFire: map[string]time.Time{}, triggers: map[string]timer.Trigger{}, handDeleted: map[string]bool{}}
	r.aud = newAudit(srv, sc)
	r.aud.modelNow = r.modelNow
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = srv.Close()
		return nil, err
	}
	hs := &http.Server{Handler: r.aud, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	r.addr = ln.Addr().String()
	r.closers = append(r.closers, func() { _ = hs.Close() }, func() { _ = srv.Close() })

	for _, d := range pol.DestinationRegions() {
		if err := srv.OSS.CreateBucket(pol.CatalogBucket(d), d); err != nil {
			r.close()
			return nil, err
		}
	}
	srv.SLS.EnsureProject(slsProject, "cn-hangzhou")
	if err := lcsls.NewSDKClient(r.addr, srv.Credential()).CreateLogStore(slsProject, slsLogstore, 7, 2, false, 0); err != nil {
		r.close()
		return nil, fmt.Errorf("sls logstore: %w", err)
	}
	r.env = map[string]string{
		app.EnvPolicy: sc.PolicyDoc, app.EnvECSEndpoint: r.addr, app.EnvECSScheme: "HTTP",
		app.EnvOSSEndpoint: "http://" + r.addr, app.EnvSLSEndpoint: r.addr,
		app.EnvSLSProject: slsProject, app.EnvSLSLogstore: slsLogstore,
		// The scenarios are about backups: dr-drill (drills, RPO monitor) fires once a year.
		"DR_DRILL_CRON": "CRON_TZ=Asia/Shanghai 0 0 5 1 1 *", "DR_RPO_CRON": "CRON_TZ=Asia/Shanghai 0 30 5 1 1 *",
	}
	if sc.Binary {
		err = r.deployBinaries()
	} else {
		err = r.deployInProcess()
	}
	if err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

func (r *runner) close() {
	for i := len(r.closers) - 1; i >= 0; i-- {
		r.closers[i]()
	}
	r.closers = nil
}

// deployBinaries deploys s.yaml's functions (the `make build` binaries) on the local FC
// runtime, as `make demo` does.
func (r *runner) deployBinaries() error {
	if r.o.SFile == "" {
		return errors.New("binary scenario: no s.yaml given")
	}
	// One log path, as in production: FC collects the functions' stdout into s.yaml's
	// logConfig logstore; the in-process SLS sink is off.
	delete(r.env, app.EnvSLSProject)
	proj, err := sconfig.Load(r.o.SFile, r.env, map[string]string{"AccountID": core.DefaultAccountID})
	if err != nil {
		return err
	}
	for _, f := range proj.Functions {
		if f.LogProject == "" {
			continue
		}
		if !slices.Contains(r.logstores, [2]string{f.LogProject, f.LogLogstore}) {
			r.logstores = append(r.logstores, [2]string{f.LogProject, f.LogLogstore})
		}
		r.srv.SLS.EnsureProject(f.LogProject, "cn-hangzhou")
		cl := lcsls.NewSDKClient(r.addr, r.srv.Credential())
		if _, err := cl.GetLogStore(f.LogProject, f.LogLogstore); err != nil {
			if err := cl.CreateLogStore(f.LogProject, f.LogLogstore, 7, 2, false, 0); err != nil {
				return fmt.Errorf("sls logstore %s/%s: %w", f.LogProject, f.LogLogstore, err)
			}
		}
	}
	// The functions' role with the project's own policy, as scripts/bootstrap makes it.
	if err := r.srv.EnsureRoles(proj, bootstrap.PolicyTemplate, r.env); err != nil {
		return fmt.Errorf("bootstrap roles: %w", err)
	}
	if err := r.srv.Deploy(proj, filepath.Dir(r.o.SFile), r.env); err != nil {
		return fmt.Errorf("deploy %s: %w (run `make build` first)", r.o.SFile, err)
	}
	for _, f := range proj.Functions {
		for _, short := range functions {
			if strings.HasSuffix(f.Name, short) {
				r.names[short] = f.Name
			}
		}
	}
	for _, t := range r.srv.Timers.Triggers() {
		if t.Name == pendingTrigger {
			continue // the timer faults replay each function's main timer
		}
		r.triggers[t.Function] = t
	}
	r.aud.kill = func(ak string) { r.srv.FC.KillByAccessKey(ak) }
	return nil
}

// deployInProcess wires the timers and the EventBridge rule to in-process handlers.
func (r *runner) deployInProcess() error {
	for _, f := range functions {
		r.names[f] = f
	}
	r.sched = timer.NewScheduler(r.srv.Env, r.fire)
	r.closers = append(r.closers, r.sched.Stop)
	hours := func(off int) string {
		var hs []string
		for _, h := range r.sc.CreateHours {
			hs = append(hs, fmt.Sprint((h+off)%24))
		}
		return strings.Join(hs, ",")
	}
	tz := "CRON_TZ=" + r.sc.Timezone + " "
	triggers := []timer.Trigger{
		{Function: "create-image", Name: "daily", Cron: tz + "0 0 " + hours(0) + " * * *", Payload: `{"action":"create"}`, Enabled: true},
	}
	// Reconcile and cleanup in instance shards, ten minutes apart (s.yaml does the same).
	shards := max(r.sc.Shards, 1)
	for k := range shards {
		shard := ""
		if shards > 1 {
			shard = fmt.Sprintf(`,"shard":"%d/%d"`, k, shards)
		}
		triggers = append(triggers,
			timer.Trigger{Function: "copy-image", Name: fmt.Sprintf("reconcile-%d", k), Cron: tz + fmt.Sprintf("0 %d ", 30+k*5) + hours(1) + " * * *",
				Payload: `{"action":"reconcile"` + shard + `}`, Enabled: true},
			timer.Trigger{Function: "cleanup", Name: fmt.Sprintf("daily-%d", k), Cron: tz + fmt.Sprintf("0 %d 4 * * *", k*10),
				Payload: `{"action":"cleanup"` + shard + `}`, Enabled: true})
	}
	for _, t := range triggers {
		if err := r.sched.Add(t); err != nil {
			return err
		}
		r.triggers[t.Function] = t
	}
	pat, err := eventbridge.CompilePattern(copyPattern)
	if err != nil {
		return err
	}
	for _, region := range r.sc.Sources {
		err := r.srv.Bridge.AddRule(eventbridge.Rule{Name: "copy-image-image-ready", Region: region, Pattern: pat,
			Target: func(payload []byte) error {
				r.enqueue(pending{fn: "copy-image", payload: payload})
				return nil
			}})
		if err != nil {
			return err
		}
	}
	return nil
}

// pendingTrigger is copy-image's frequent timer (s.yaml): every 5 minutes it finishes
// the work marked pending (copies of Available images, catalog entries of finished copies).
const pendingTrigger = "pending"

// pendingTimer opens (on) or closes an event-drop window for the in-process timers: the
// pending timer runs while at least one window is open.
func (r *runner) pendingTimer(on bool) {
	if r.sched == nil {
		return
	}
	if !on {
		if r.pendingOn--; r.pendingOn == 0 {
			r.sched.Remove("copy-image", pendingTrigger)
		}
		return
	}
	if r.pendingOn++; r.pendingOn == 1 {
		err := r.sched.Add(timer.Trigger{Function: "copy-image", Name: pendingTrigger, Cron: "CRON_TZ=" + r.sc.Timezone + " 0 */5 * * * *",
			Payload: `{"action":"reconcile","mode":"pending"}`, Enabled: true})
		if err != nil && r.res.Err == nil {
			r.res.Err = fmt.Errorf("pending timer: %w", err)
		}
	}
}

// fire is the in-process timers' callback (on the clock's path: it only queues).
func (r *runner) fire(t timer.Trigger, event []byte) {
	r.qmu.Lock()
	if t.Name != pendingTrigger { // the timer faults replay the main timers
		r.lastFire[t.Function] = r.clock.Now()
	}
	r.qmu.Unlock()
	r.enqueue(pending{fn: t.Function, payload: event})
}

func (r *runner) enqueue(p pending) {
	r.qmu.Lock()
	defer r.qmu.Unlock()
	if p.id == "" {
		r.seq++
		p.id = fmt.Sprintf("chaos-%d-%04d", r.sc.Seed, r.seq)
	}
	r.queue = append(r.queue, p)
}

// modelNow is the time retention is judged at: the running cleanup's trigger time.
func (r *runner) modelNow() time.Time {
	r.qmu.Lock()
	defer r.qmu.Unlock()
	if t, ok := r.lastFire["cleanup"]; ok && r.clock.Now().Sub(t) < time.Hour {
		return t
	}
	if t, ok := r.lastFire[r.names["cleanup"]]; ok && r.clock.Now().Sub(t) < time.Hour {
		return t
	}
	return r.clock.Now()
}

// action is one step of the schedule.
type action struct {
	at   time.Time
	what string
	do   func()
}

func (r *runner) schedule() []action {
	var acts []action
	for _, f := range r.sc.Faults {
		acts = append(acts, r.faultActions(f)...)
	}
	acts = append(acts, action{at: r.sc.FaultsEnd(), what: "faults stop", do: func() {
		r.srv.Env.Faults.Clear()
		r.srv.Bridge.SetDelivery(eventbridge.Delivery{Seed: r.sc.Seed})
		for _, in := range r.sc.Instances {
			_ = r.srv.ECS.SetFailImages(in.Seed.Region, in.Seed.ID, false)
		}
		r.qmu.Lock()
		r.kills = nil
		r.qmu.Unlock()
		r.aud.mu.Lock()
		r.aud.armed = nil
		r.aud.mu.Unlock()
	}})
	acts = append(acts, action{at: r.sc.FinalStart(), what: "no new images from now on", do: func() {
		if r.sched != nil {
			r.sched.Remove("create-image", "daily")
		} else {
			r.srv.Timers.Remove(r.names["create-image"], r.triggers[r.names["create-image"]].Name)
		}
	}})
	sort.SliceStable(acts, func(i, j int) bool { return acts[i].at.Before(acts[j].at) })
	return acts
}

func (r *runner) play(ctx context.Context) error {
	acts := r.schedule()
	end := r.sc.End()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.settle(); err != nil {
			return err
		}
		r.aud.observe()
		next := end
		if due, ok := r.clock.NextDue(); ok && due.Before(next) {
			next = due
		}
		if len(acts) > 0 && acts[0].at.Before(next) {
			next = acts[0].at
		}
		if next.After(end) || (!next.After(r.clock.Now()) && next.Equal(end)) {
			break
		}
		r.clock.AdvanceTo(next)
		for len(acts) > 0 && !acts[0].at.After(r.clock.Now()) {
			a := acts[0]
			acts = acts[1:]
			r.progress("%s %s", r.clock.Now().UTC().Format("01-02T15:04"), a.what)
			a.do()
		}
		if !r.clock.Now().Before(end) {
			break
		}
	}
	return r.settle()
}

// settle runs queued invocations until the cloud is idle and nothing is queued.
func (r *runner) settle() error {
	for {
		if !r.srv.Env.Tracker.WaitIdle(3 * time.Minute) {
			return errors.New("the local cloud did not go idle within 3 minutes (a function or delivery is stuck)")
		}
		r.qmu.Lock()
		batch := r.queue
		r.queue = nil
		r.qmu.Unlock()
		if len(batch) == 0 {
			return nil
		}
		for _, p := range batch {
			r.invoke(p)
		}
	}
}

func (r *runner) progress(format string, args ...any) {
	if r.o.Progress != nil {
		fmt.Fprintf(r.o.Progress, "seed %d: "+format+"\n", append([]any{r.sc.Seed}, args...)...)
	}
}

// invoke runs one in-process invocation the way FC does: fresh STS credentials, a
// deadline on the simulated clock, a log of its own, async retries on failure.
func (r *runner) invoke(p pending) {
	sts := r.srv.Env.Creds.IssueSTS(core.DefaultAccountID, 72*time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	timedOut := false
	deadline := r.clock.AfterFunc(r.clock.Now().Add(fnTimeout), func() { timedOut = true; cancel() })
	out := &lineBuffer{}
	killAfter := 0
	r.qmu.Lock()
	for i, k := range r.kills {
		if k.fn == p.fn {
			killAfter = k.n
			r.kills = append(r.kills[:i:i], r.kills[i+1:]...)
			break
		}
	}
	r.qmu.Unlock()
	r.aud.register(sts.AccessKeyID, killAfter, func() { out.freeze(); cancel() })

	fctx := fccontext.NewContext(ctx, &fccontext.FcContext{
		RequestID:   p.id,
		Credentials: fccontext.Credentials{AccessKeyId: sts.AccessKeyID, AccessKeySecret: sts.AccessKeySecret, SecurityToken: sts.SecurityToken},
		Function:    fccontext.Function{Name: p.fn},
		Region:      "cn-hangzhou",
		AccountId:   core.DefaultAccountID,
	})
	h := app.New(app.Function(p.fn), func(k string) string { return r.env[k] }, out).WithOptions(app.Options{
		Clock: r.clock, SLSRetryTimeout: 20 * time.Millisecond, Jitter: r.drawJitter})
	var err error
	panicked := false
	func() {
		defer func() {
			if v := recover(); v != nil {
				panicked = true
				err = fmt.Errorf("panic: %v", v)
			}
		}()
		_, err = h.Handle(fctx, p.payload)
	}()
	deadline.Stop()
	killed := r.aud.wasKilled(sts.AccessKeyID) || timedOut
	if timedOut {
		out.freeze()
	}
	if p.fn == "cleanup" && !killed && err == nil {
		r.lastCleanup = r.modelNow()
	}
	rec := InvocationRecord{RequestID: p.id, Function: p.fn, Killed: killed, Panicked: panicked}
	rec.Started, rec.Finished = out.records(p.id)
	r.records = append(r.records, rec)
	if (err != nil || killed) && p.retry < 2 {
		// FC retries a failed asynchronous invocation (timer or event) after a while.
		retry := pending{fn: p.fn, payload: p.payload, retry: p.retry + 1}
		r.clock.AfterFunc(r.clock.Now().Add(time.Duration(p.retry+1)*time.Minute), func() { r.enqueue(retry) })
	}
}

func (r *runner) drawJitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	r.jmu.Lock()
	defer r.jmu.Unlock()
	return time.Duration(r.jitter.Int64N(int64(d) + 1))
}

// faultActions turns a fault into its start (and end) actions.
func (r *runner) faultActions(f Fault) []action {
	count := func() { r.res.Faults[f.Kind]++ }
	window := func(start, stop func()) []action {
		return []action{{at: f.At, what: f.String(), do: func() { count(); start() }},
			{at: f.At.Add(f.For), what: "end of " + f.Kind, do: stop}}
	}
	delivery := func(d eventbridge.Delivery) []action {
		d.Seed = r.sc.Seed + f.At.Unix()
		return window(func() { r.srv.Bridge.SetDelivery(d) }, func() { r.srv.Bridge.SetDelivery(eventbridge.Delivery{Seed: r.sc.Seed}) })
	}
	cloud := func(rule core.FaultRule) []action {
		return window(func() { r.srv.Env.Faults.Set(f.Service, f.Action, rule) },
			func() { r.srv.Env.Faults.Set(f.Service, f.Action, core.FaultRule{}) })
	}
	switch f.Kind {
	case KindThrottle:
		return cloud(core.FaultRule{QPS: f.QPS})
	case KindError:
		return cloud(core.FaultRule{ErrorRate: f.Rate})
	case KindLatency:
		return cloud(core.FaultRule{Latency: f.Latency})
	case KindEventDuplicate:
		return delivery(eventbridge.Delivery{Duplicate: 0.7})
	case KindEventDrop:
		// While events are lost, copy-image's pending timer carries the copies (s.yaml
		// deploys it for the binaries; in process it runs during the window).
		acts := delivery(eventbridge.Delivery{Drop: 0.7})
		start, stop := acts[0].do, acts[1].do
		acts[0].do = func() { start(); r.pendingTimer(true) }
		acts[1].do = func() { stop(); r.pendingTimer(false) }
		return acts
	case KindEventDelay:
		return delivery(eventbridge.Delivery{Delay: f.For / 3})
	case KindEventReorder:
		return delivery(eventbridge.Delivery{Reorder: 0.6})
	case KindCreateFailed:
		var target *Instance
		if len(r.sc.Instances) > 0 {
			target = &r.sc.Instances[f.Pick%uint64(len(r.sc.Instances))]
		}
		return window(func() {
			if target != nil {
				_ = r.srv.ECS.SetFailImages(target.Seed.Region, target.Seed.ID, true)
			}
		}, func() {
			if target != nil {
				_ = r.srv.ECS.SetFailImages(target.Seed.Region, target.Seed.ID, false)
			}
		})
	}
	one := func(do func() bool) []action {
		return []action{{at: f.At, what: f.String(), do: func() {
			if do() {
				count()
			}
		}}}
	}
	switch f.Kind {
	case KindKill:
		return one(func() bool {
			if r.sc.Binary {
				r.aud.arm(f.N)
			} else {
				r.qmu.Lock()
				r.kills = append(r.kills, pendingKill{fn: f.Function, n: f.N})
				r.qmu.Unlock()
			}
			return true
		})
	case KindTimerTwice, KindTimerLate:
		return one(func() bool { return r.replayTimer(f) })
	case KindClockJump:
		return one(func() bool { r.clock.Advance(time.Duration(f.N) * time.Minute); return true })
	case KindDeleteImage, KindRetagHold, KindRetagUnmanaged, KindLaunch:
		return one(func() bool { return r.sabotageImage(f) })
	case KindDeleteSnapshot:
		return one(func() bool { return r.sabotageSnapshot(f) })
	}
	return nil
}

// replayTimer fires f.Function's timer again with its last trigger time (twice), or with a
// trigger time f.N minutes in the past (late).
func (r *runner) replayTimer(f Fault) bool {
	name := r.names[f.Function]
	t, ok := r.triggers[name]
	if !ok {
		return false
	}
	r.qmu.Lock()
	at, fired := r.lastFire[name]
	r.qmu.Unlock()
	if f.Kind == KindTimerLate || !fired {
		at = r.clock.Now().Add(-time.Duration(f.N) * time.Minute).Truncate(time.Minute)
	}
	ev := timer.TimerEvent(t, at)
	if r.sc.Binary {
		_, err := r.srv.FC.InvokeAsync(name, ev, "timer:"+t.Name)
		return err == nil
	}
	r.enqueue(pending{fn: f.Function, payload: ev})
	return true
}

// sabotageImage does by hand what an operator might: delete one of our images, hold it,
// strip our tags, or launch an instance from it.
func (r *runner) sabotageImage(f Fault) bool {
	var cands []ecs.Image
	for _, region := range allRegions {
		for _, im := range r.srv.ECS.Images(region) {
			if ours(im, r.sc.PolicyName) && im.Status == "Available" {
				cands = append(cands, im)
			}
		}
	}
	if len(cands) == 0 {
		return false
	}
	im := cands[f.Pick%uint64(len(cands))]
	api, err := ecs.NewSDKClient(r.addr, im.RegionID, r.srv.Credential())
	if err != nil {
		return false
	}
	switch f.Kind {
	case KindDeleteImage:
		req := newDeleteImage(im)
		if _, err := api.DeleteImage(req); err != nil {
			return false
		}
		r.handDeleted[im.ID] = true
	case KindRetagHold:
		return tagImage(api, im, map[string]string{TagHold: policy.HoldValue}) == nil
	case KindRetagUnmanaged:
		return untagImage(api, im, policy.TagManagedBy) == nil
	case KindLaunch:
		if _, err := r.srv.ECS.AddInstance(im.RegionID, ecs.InstanceSeed{Name: "restored", ImageID: im.ID,
			Disks: []ecs.DiskSeed{{Type: "system", SizeGiB: 40}}}); err != nil {
			return false
		}
	}
	return true
}

// sabotageSnapshot deletes one snapshot of ours by hand (ECS refuses while an image uses
// it: then nothing happened).
func (r *runner) sabotageSnapshot(f Fault) bool {
	var cands []ecs.Snapshot
	for _, region := range allRegions {
		cands = append(cands, r.srv.ECS.Snapshots(region)...)
	}
	if len(cands) == 0 {
		return false
	}
	sn := cands[f.Pick%uint64(len(cands))]
	api, err := ecs.NewSDKClient(r.addr, sn.RegionID, r.srv.Credential())
	if err != nil {
		return false
	}
	return deleteSnapshot(api, sn) == nil
}

// state reads the end state from the cloud.
func (r *runner) state(ctx context.Context) *State {
	v := r.aud.observe()
	st := &State{Scenario: r.sc, ModelNow: r.lastCleanup, Images: v.images, HandDeleted: r.handDeleted,
		Catalog: map[string][]catalog.Entry{}, CatalogErr: map[string]error{}}
	if st.ModelNow.IsZero() {
		st.ModelNow = r.clock.Now()
	}
	for _, region := range allRegions {
		st.Snapshots = append(st.Snapshots, r.srv.ECS.Snapshots(region)...)
		st.Instances = append(st.Instances, r.srv.ECS.Instances(region)...)
	}
	r.aud.mu.Lock()
	st.Seen = r.aud.seen
	st.Deletions = append([]Violation(nil), r.aud.violations...)
	r.aud.mu.Unlock()
	pol, _ := r.sc.Policy()
	cred := r.srv.Credential()
	store, err := ossx.New("http://"+r.addr, cred.AccessKeyID, cred.AccessKeySecret, "")
	for _, d := range r.sc.Destinations {
		if err != nil {
			st.CatalogErr[d.Region] = err
			continue
		}
		entries, cerr := catalog.Read(ctx, store, pol.CatalogBucket(d.Region), r.sc.PolicyName)
		var corrupt *catalog.CorruptError
		if cerr != nil && !errors.As(cerr, &corrupt) {
			st.CatalogErr[d.Region] = cerr
		}
		st.Catalog[d.Region] = entries
	}
	if r.sc.Binary {
		st.Invocations = r.binaryRecords()
	} else {
		st.Invocations = r.records
	}
	return st
}

// binaryRecords joins the FC runtime's attempts with the functions' records as FC's log
// collection stored them in SLS (s.yaml's logConfig logstores): a record the process
// printed before it was killed must be there.
func (r *runner) binaryRecords() []InvocationRecord {
	started, finished := map[string]bool{}, map[string]bool{}
	for _, ls := range r.logstores {
		for _, rec := range r.srv.SLS.Logs(ls[0], ls[1]) {
			id := rec.Contents[obs.KeyRequestID]
			if id == "" {
				continue
			}
			switch rec.Contents["msg"] {
			case "invocation started":
				started[id] = true
			case "invocation done", "invocation failed":
				finished[id] = true
			}
		}
	}
	var out []InvocationRecord
	for _, inv := range r.srv.FC.Invocations() {
		rec := InvocationRecord{RequestID: inv.RequestID, Function: inv.Function,
			Started: started[inv.RequestID], Finished: finished[inv.RequestID],
			Killed:   inv.Status == fc.StatusTimeout || inv.Status == fc.StatusCrash || inv.Status == fc.StatusCanceled,
			Panicked: inv.Status == fc.StatusError && bytes.Contains(inv.Response, []byte(`"stackTrace"`))}
		if inv.InstanceID == "" && inv.Status == fc.StatusCrash {
			rec.Started = true // the process never came up: nothing could log
		}
		out = append(out, rec)
	}
	return out
}

// lineBuffer collects output; freeze ends it (what a killed process wrote after its
// death never reached FC's log).
type lineBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	frozen bool
}

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.frozen {
		b.buf.Write(p)
	}
	return len(p), nil
}

func (b *lineBuffer) freeze() {
	b.mu.Lock()
	b.frozen = true
	b.mu.Unlock()
}

func (b *lineBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// records reports whether the log has the start and the final record of request id.
func (b *lineBuffer) records(id string) (started, finished bool) {
	for _, line := range b.lines() {
		var rec struct {
			Msg string `json:"msg"`
			ID  string `json:"request_id"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil || rec.ID != id {
			continue
		}
		switch rec.Msg {
		case "invocation started":
			started = true
		case "invocation done", "invocation failed":
			finished = true
		}
	}
	return started, finished
}
