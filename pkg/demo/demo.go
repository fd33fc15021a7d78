// Package demo drives the product end to end on the local cloud: the real function
// binaries under the local FC runtime, their timer and EventBridge triggers from s.yaml,
// over several simulated days, with injected trouble (lost and duplicated events,
// throttling, an image put into use, a forged event). It prints a timeline and a final
// table, and checks the invariants an operator relies on.
package demo

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/app"
	"github.com/ecsdr/ecs-image-dr/pkg/backup"
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

//go:embed policy.yaml
var demoPolicy string

// Options configure a demo run.
type Options struct {
	// SFile is the project's s.yaml; code paths in it are relative to its directory and must
	// hold the built binaries (make build).
	SFile string
	// Days of simulated time (default 10).
	Days int
	// Out receives the timeline and the final table.
	Out io.Writer
	// FunctionLog receives the functions' own output (nil: discarded).
	FunctionLog io.Writer
	// Quiet prints only the final table and the invariant checks.
	Quiet bool
	// NoTrouble turns the injected trouble off (it is on by default).
	NoTrouble bool
	// Sabotage is deliberate damage the invariant checks must catch; tests use it to prove
	// the checks can fail. The demo itself never sets it.
	Sabotage []Sabotage
}

// Sabotage is damage done to the local cloud at a simulated time (see DayAt). When Do
// runs, no function is running: the driver lets the cloud go idle before every step of
// the clock. An error from Do is reported as a violation naming What.
type Sabotage struct {
	At   time.Time
	What string
	Do   func(ctx context.Context, srv *localcloud.Server) error
}

// DayAt is hh:mm Asia/Shanghai on simulated day n (day 1 is Start's date).
func DayAt(n, hh, mm int) time.Time {
	return Start.AddDate(0, 0, n-1).Add(time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute)
}

// Report is the outcome of a run.
type Report struct {
	Rows        []Row
	Violations  []string
	Invocations []fc.Invocation
	Deleted     map[string]string // image id -> region, every image deleted during the run
	// End is the simulated time the run stopped at.
	End time.Time
	// Catalogs is the DR catalog of every destination region, read back through the OSS SDK
	// at End, as an operator in that region would.
	Catalogs []RegionCatalog
	// SLSRecords are the contents of every record the functions sent to the logstore.
	SLSRecords []map[string]string
	// SLSQuery was run through the SLS SDK's GetLogs over the whole run; SLSQueryHits is
	// how many records it matched.
	SLSQuery     string
	SLSQueryHits int
	Wall         time.Duration
	// Databases: the DB entries of the DR catalog, each read back and verified (offsite.go).
	Databases []DatabaseCheck
	// Finale is the operator's drill, restore and drctl status at the end (restore.go).
	Finale string
}

// RegionCatalog is one destination's DR catalog.
type RegionCatalog struct {
	Region, Bucket string
	Entries        []catalog.Entry
}

// Row is one line of the final table: one instance in one region.
type Row struct {
	Instance, Region, Role string
	Kept                   []string // managed Available image ids, newest first
	Newest                 string
	NewestSlot             string
	NewestCreated          time.Time
	Pruned                 int
	PrunedWhy              map[string]int
	Catalog                string // image id the DR catalog names ("" for source regions)
}

// Shanghai is the demo's operator timezone.
var shanghai = mustZone("Asia/Shanghai")

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.FixedZone("UTC+8", 8*3600)
	}
	return loc
}

// Start is when the demo's clock starts: midnight in Shanghai on 2026-11-01.
var Start = time.Date(2026, 11, 1, 0, 0, 0, 0, shanghai)

// Run executes the demo. The error is only for a run that could not happen (no binaries,
// bad s.yaml); invariant failures are in Report.Violations.
func Run(ctx context.Context, o Options) (*Report, error) {
	wall := time.Now()
	if o.Days <= 0 {
		o.Days = 10
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	pol, err := policy.Parse([]byte(demoPolicy))
	if err != nil {
		return nil, fmt.Errorf("demo policy: %w", err)
	}

	clock := core.NewManualClock(Start)
	seed := ecs.DefaultSeed()
	// An image the operator made by hand: cleanup must never touch it.
	seed.Images = append(seed.Images, ecs.ImageSeed{ID: manualImage, Region: "cn-hangzhou", Name: "golden-manual",
		OwnerAlias: "self", SizeGiB: 40, OSType: "linux"})
	seedRestore(&seed)
	srv, err := localcloud.New(localcloud.Options{
		Clock: clock, Seed: &seed,
		FunctionOutput: fc.Options{Stdout: o.FunctionLog, CredentialTTL: 72 * time.Hour},
		Delivery:       eventbridge.Delivery{Seed: 7},
	})
	if err != nil {
		return nil, err
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	defer srv.Close()

	d := &driver{o: o, srv: srv, pol: pol, deleted: map[string]string{}, seedSnapshots: map[string]bool{}}
	if err := d.provision(); err != nil {
		return nil, err
	}
	if err := d.networks(); err != nil {
		return nil, err
	}
	env := map[string]string{
		"DR_POLICY":       demoPolicy,
		"DR_ECS_ENDPOINT": srv.Addr(),
		"DR_ECS_SCHEME":   "HTTP",
		"DR_OSS_ENDPOINT": srv.URL(),
		"DR_SLS_ENDPOINT": srv.Addr(),
		"DR_RDS_ENDPOINT": srv.Addr(),
		"DR_SLS_LOGSTORE": slsLogstore,
	}
	maps.Copy(env, restoreEnv)
	proj, err := sconfig.Load(o.SFile, env, map[string]string{"AccountID": core.DefaultAccountID})
	if err != nil {
		return nil, err
	}
	for _, f := range proj.Functions {
		if f.LogProject != slsProject || f.LogLogstore != slsLogstore {
			return nil, fmt.Errorf("%s: function %s logs to %s/%s, the demo reads %s/%s", o.SFile, f.Name, f.LogProject, f.LogLogstore, slsProject, slsLogstore)
		}
	}
	// What scripts/bootstrap does first: the functions' role with the project's own
	// least-privilege policy; every call of every function is then evaluated by RAM.
	if err := srv.EnsureRoles(proj, bootstrap.PolicyTemplate, env); err != nil {
		return nil, fmt.Errorf("bootstrap roles: %w", err)
	}
	if err := srv.Deploy(proj, filepath.Dir(o.SFile), env); err != nil {
		return nil, fmt.Errorf("deploy %s: %w (run `make build` first)", o.SFile, err)
	}
	d.prefix = proj.Name + "-"
	d.printf("deployed %d functions from %s onto the local cloud at %s\n", len(proj.Functions), o.SFile, srv.Addr())
	for _, f := range proj.Functions {
		for _, t := range f.Triggers {
			what := t.Cron
			if t.Pattern != "" {
				what = flattenPattern(t.Pattern)
			}
			d.printWrapped(fmt.Sprintf("  %-13s %-12s %-12s ", d.short(f.Name), t.Name, t.Type), what)
		}
	}
	srv.Env.Bus.Subscribe(d.onEvent)
	for _, r := range append(d.pol.SourceRegions(), d.pol.DestinationRegions()...) {
		for _, sn := range srv.ECS.Snapshots(r) {
			d.seedSnapshots[sn.ID] = true
		}
	}

	// Day n's cycle: create 02:00, copies on events (and the pending timer every 5 minutes
	// from 02:00 to 05:55), cleanup shards 04:00-05:10, deep-reconcile shards 05:20-05:55.
	end := DayAt(o.Days, 6, 0)
	var plan []step
	if !o.NoTrouble {
		plan = d.trouble()
	}
	for _, sb := range o.Sabotage {
		plan = append(plan, step{at: sb.At, what: "sabotage: " + sb.What, do: func() error { return sb.Do(ctx, srv) }})
	}
	d.schedule(clock, plan, end)
	d.scheduleRDS(clock, end)

	d.printf("\n=== %d simulated days from %s (Asia/Shanghai) ===\n", o.Days, Start.Format("2006-01-02 15:04"))
	seen := 0
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !srv.Env.Tracker.WaitIdle(3 * time.Minute) {
			d.violate("the local cloud did not go idle within 3 minutes (a function or delivery is stuck)")
			break
		}
		seen = d.printInvocations(seen)
		next, ok := clock.NextDue()
		if !ok || next.After(end) {
			break
		}
		clock.AdvanceTo(next)
	}
	clock.AdvanceTo(end)
	srv.Env.Tracker.WaitIdle(time.Minute)
	d.printInvocations(seen)

	stopped := clock.Now() // before the report, whose reads take wall time
	rep := d.report(ctx)
	rep.End = stopped
	d.mu.Lock()
	seenViolations := len(d.violations)
	d.mu.Unlock()
	rep.Finale = d.finale(ctx, clock) // after End: the operator's drill and restore follow the run
	d.mu.Lock()
	rep.Violations = append(rep.Violations, d.violations[seenViolations:]...)
	d.mu.Unlock()
	rep.Wall = time.Since(wall)
	return rep, nil
}

const (
	manualImage = "m-manual-golden-0001"
	// FC collects the functions' stdout (one JSON record per line) into s.yaml's
	// logConfig: ecs-image-dr-{AccountID} / ecs-image-dr, as scripts/bootstrap names them.
	// The in-process SLS sink is off (no DR_SLS_PROJECT), as in production: each record
	// is stored once.
	slsProject  = "ecs-image-dr-" + core.DefaultAccountID
	slsLogstore = "ecs-image-dr"
)

type driver struct {
	o   Options
	srv *localcloud.Server
	pol *policy.Policy

	prefix        string          // s.yaml project name + "-", trimmed from function names
	seedSnapshots map[string]bool // snapshots that existed before the run
	failedImage   bool            // an image was made to end CreateFailed (its record must reach SLS)
	day           int             // simulated day of the last timeline line printed

	mu         sync.Mutex
	deleted    map[string]string // image id -> region
	inUse      string            // image put into use by the scenario
	violations []string
}

func (d *driver) printf(format string, args ...any) {
	if !d.o.Quiet {
		fmt.Fprintf(d.o.Out, format, args...)
	}
}

func (d *driver) violate(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.violations = append(d.violations, fmt.Sprintf(format, args...))
}

// provision creates what `s deploy` does not: the catalog buckets in every DR region and
// the SLS project and logstore (scripts/provision-sls in production).
func (d *driver) provision() error {
	for _, r := range d.pol.DestinationRegions() {
		if err := d.srv.OSS.CreateBucket(d.pol.CatalogBucket(r), r); err != nil {
			return fmt.Errorf("catalog bucket in %s: %w", r, err)
		}
	}
	if err := d.provisionRDS(); err != nil {
		return err
	}
	d.srv.SLS.EnsureProject(slsProject, "cn-hangzhou")
	_, err := obs.Provision(lcsls.NewSDKClient(d.srv.Addr(), d.srv.Credential()),
		obs.ProvisionConfig{Project: slsProject, Logstore: slsLogstore, Region: "cn-hangzhou"})
	return err
}

func (d *driver) onEvent(e core.Event) {
	if e.Type != "Image:StateChange" {
		return
	}
	state, _ := e.Data["currentState"].(string)
	id, _ := e.Data["imageId"].(string)
	if state == "Deleted" {
		d.mu.Lock()
		d.deleted[id] = e.Region
		d.mu.Unlock()
	}
}

// step is one planned event of the scenario: trouble or sabotage.
type step struct {
	at   time.Time
	what string
	do   func() error
}

// trouble is what goes wrong in real life, on the simulated clock.
func (d *driver) trouble() []step {
	return []step{
		// Someone launches an instance from web-1's first source image: it is in use and
		// must survive cleanup long after keepLast would have pruned it.
		{DayAt(2, 12, 0), "an instance is launched from web-1's day-1 image (that image is now in use)", d.launchFromFirstImage},
		// An image that ends CreateFailed: its failure event reaches copy-image, which
		// records it (result failed, in SLS), deletes it and makes the next attempt.
		{DayAt(3, 1, 0), "web-1's next image will end CreateFailed (copy-image must record it and retry within the slot)", func() error {
			d.failedImage = true
			return d.srv.ECS.FailNextImages("cn-hangzhou", "i-hz-web-1", 1)
		}},
		{DayAt(4, 0, 0), "EventBridge drops every event today (the pending timer must catch up)", func() error {
			d.srv.Bridge.SetDelivery(eventbridge.Delivery{Drop: 1, Seed: 4})
			return nil
		}},
		{DayAt(5, 0, 0), "EventBridge delivers normally again", func() error {
			d.srv.Bridge.SetDelivery(eventbridge.Delivery{Seed: 5})
			return nil
		}},
		// Today's cleanup deletes images but none of their snapshots, the state a cleanup
		// killed between DeleteImage and DeleteSnapshot leaves; day 6's must collect them.
		{DayAt(5, 3, 59), "every DeleteSnapshot fails during today's cleanup (as if it were killed midway)", func() error {
			d.srv.Env.Faults.Set("ecs", "DeleteSnapshot", core.FaultRule{FailNext: 1 << 20, ErrorStatus: 500, ErrorCode: "InternalError"})
			return nil
		}},
		{DayAt(5, 5, 0), "DeleteSnapshot works again (the next cleanup must delete what was left)", func() error {
			d.srv.Env.Faults.Clear()
			return nil
		}},
		{DayAt(5, 10, 0), "a forged image event from another account arrives (must be rejected)", d.forgeEvent},
		{DayAt(6, 0, 0), "EventBridge delivers every event twice today (no copy may be made twice)", func() error {
			d.srv.Bridge.SetDelivery(eventbridge.Delivery{Duplicate: 1, Seed: 6})
			return nil
		}},
		{DayAt(7, 0, 0), "EventBridge normal again; ECS throttles CreateImage and CopyImage to 1 call/s today", func() error {
			d.srv.Bridge.SetDelivery(eventbridge.Delivery{Seed: 7})
			d.srv.Env.Faults.Set("ecs", "CreateImage", core.FaultRule{QPS: 1})
			d.srv.Env.Faults.Set("ecs", "CopyImage", core.FaultRule{QPS: 1})
			return nil
		}},
		{DayAt(8, 0, 0), "ECS throttling lifted", func() error {
			d.srv.Env.Faults.Clear()
			return nil
		}},
	}
}

func (d *driver) launchFromFirstImage() error {
	for _, im := range d.srv.ECS.Images("cn-hangzhou") {
		if im.Tags[policy.TagSourceInstance] != "i-hz-web-1" || im.Tags[policy.TagRole] != policy.RoleSource {
			continue
		}
		if _, err := d.srv.ECS.AddInstance("cn-hangzhou", ecs.InstanceSeed{Name: "restored-web", ImageID: im.ID,
			Disks: []ecs.DiskSeed{{Type: "system", SizeGiB: 40}}}); err != nil {
			return fmt.Errorf("launch from %s: %w", im.ID, err)
		}
		d.mu.Lock()
		d.inUse = im.ID
		d.mu.Unlock()
		return nil
	}
	return errors.New("no day-1 source image of i-hz-web-1 to launch from")
}

func (d *driver) forgeEvent() error {
	at := DayAt(5, 10, 0)
	d.srv.Bridge.Publish(eventbridge.CloudEvent{
		ID: "forged-0001", Source: "acs.ecs", SpecVersion: "1.0", Type: "ecs:Image:StateChange",
		Subject: "acs:ecs:cn-hangzhou:999999999999:image/" + manualImage, Time: at.UTC().Format(time.RFC3339),
		AliyunAccountID: "999999999999", AliyunRegionID: "cn-hangzhou", AliyunEventBusName: "default",
		Data: json.RawMessage(`{"imageId":"` + manualImage + `","currentState":"Available"}`),
	})
	return nil
}

// schedule prints the plan (the steps before end) and arms each step on the clock.
func (d *driver) schedule(clock *core.Clock, plan []step, end time.Time) {
	sort.SliceStable(plan, func(i, j int) bool { return plan[i].at.Before(plan[j].at) })
	var due []step
	for _, s := range plan {
		if !s.at.After(end) {
			due = append(due, s)
		}
	}
	if len(due) == 0 {
		d.printf("\nno trouble injected\n")
		return
	}
	d.printf("\ntrouble to inject (Asia/Shanghai):\n")
	for _, s := range due {
		d.printWrapped(fmt.Sprintf("  day %-2d %s  ", dayOf(s.at), stamp(s.at)), s.what)
	}
	for _, s := range due {
		clock.AfterFunc(s.at, func() {
			d.timelineDay(s.at)
			d.printWrapped(fmt.Sprintf("  %s  ** ", s.at.In(shanghai).Format("15:04")), s.what)
			if err := s.do(); err != nil {
				d.violate("scenario step %q: %v", s.what, err)
			}
		})
	}
}

// dayOf is the 1-based simulated day of t.
func dayOf(t time.Time) int {
	y, m, dd := t.In(shanghai).Date()
	return int(time.Date(y, m, dd, 0, 0, 0, 0, time.UTC).Sub(time.Date(Start.Year(), Start.Month(), Start.Day(), 0, 0, 0, 0, time.UTC)).Hours()/24) + 1
}

func stamp(t time.Time) string { return t.In(shanghai).Format("01-02 15:04") }

// width is the terminal width the demo's output is laid out for.
const width = 100

// timelineDay prints a day heading when t starts a new simulated day.
func (d *driver) timelineDay(t time.Time) {
	n := dayOf(t)
	if n == d.day {
		return
	}
	d.day = n
	d.printf("--- day %d  %s ---\n", n, t.In(shanghai).Format("Mon 2006-01-02"))
}

// printWrapped prints head followed by text, wrapped to width with continuation lines
// indented under the start of text.
func (d *driver) printWrapped(head, text string) {
	if d.o.Quiet {
		return
	}
	for _, l := range wrap(head, text, width) {
		fmt.Fprintln(d.o.Out, l)
	}
}

// wrap lays head+text out in lines of at most w runes, breaking text at spaces; a word
// longer than the room left is cut.
func wrap(head, text string, w int) []string {
	indent := len([]rune(head))
	room := max(w-indent, 20)
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		for len([]rune(word)) > room {
			if line != "" {
				lines, line = append(lines, line), ""
			}
			r := []rune(word)
			lines, word = append(lines, string(r[:room])), string(r[room:])
		}
		switch {
		case line == "":
			line = word
		case len([]rune(line))+1+len([]rune(word)) <= room:
			line += " " + word
		default:
			lines, line = append(lines, line), word
		}
	}
	if line != "" || len(lines) == 0 {
		lines = append(lines, line)
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		if i == 0 {
			out[i] = strings.TrimRight(head+l, " ")
		} else {
			out[i] = strings.Repeat(" ", indent) + l
		}
	}
	return out
}

// short trims the s.yaml project name from a function name.
func (d *driver) short(fn string) string { return strings.TrimPrefix(fn, d.prefix) }

// flattenPattern renders an EventBridge pattern as key=value pairs
// (source=acs.ecs data.currentState=Available); the raw text if it is not JSON.
func flattenPattern(p string) string {
	var m map[string]any
	if err := json.Unmarshal([]byte(p), &m); err != nil {
		return p
	}
	var parts []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(strings.TrimPrefix(prefix+"."+k, "."), x[k])
			}
		case []any:
			var vs []string
			for _, e := range x {
				if b, err := json.Marshal(e); err == nil {
					vs = append(vs, strings.Trim(string(b), `"`))
				}
			}
			parts = append(parts, prefix+"="+strings.Join(vs, "|"))
		default:
			b, _ := json.Marshal(x)
			parts = append(parts, prefix+"="+strings.Trim(string(b), `"`))
		}
	}
	walk("", m)
	return strings.Join(parts, " ")
}

// printInvocations prints the invocation attempts recorded since index from; it returns
// the new count.
func (d *driver) printInvocations(from int) int {
	invs := d.srv.FC.Invocations()
	for _, inv := range invs[from:] {
		d.timelineDay(inv.Start)
		trig := inv.Source
		if i := strings.IndexByte(trig, ':'); i >= 0 {
			trig = trig[i+1:]
		}
		if inv.RetryCount > 0 {
			trig += fmt.Sprintf(" r%d", inv.RetryCount)
		}
		head := fmt.Sprintf("  %s  %-12s  %-11s  %-2s  ", inv.Start.In(shanghai).Format("15:04"), d.short(inv.Function), trig, inv.Status)
		text := summarize(inv)
		// Wall time only where it tells something (throttling, retries with back-off).
		if took := inv.WallEnd.Sub(inv.WallStart); took >= 500*time.Millisecond {
			text += fmt.Sprintf("; took %.1fs", took.Seconds())
		}
		d.printWrapped(head, text)
	}
	return len(invs)
}

// result is what a function returns (its JSON response), and item one decision in it.
type (
	result = app.Result
	item   = backup.Item
)

func summarize(inv fc.Invocation) string {
	if inv.Status != fc.StatusOK {
		msg := inv.ErrorMessage
		if r := []rune(msg); len(r) > 160 {
			msg = string(r[:160]) + "…"
		}
		return inv.ErrorType + ": " + msg
	}
	var r result
	if err := json.Unmarshal(inv.Response, &r); err != nil {
		return "unreadable result: " + err.Error()
	}
	if s, ok := summarizeRestore(r); ok {
		return s
	}
	switch {
	case r.Note != "":
		return r.Kind + ": " + r.Note
	case r.Create != nil:
		// The slot is the day's date under the timeline's day heading: not repeated here.
		s := fmt.Sprintf("started %d", len(r.Create.Started))
		s += reasons(", skipped", r.Create.Skipped)
		return s + reasons(", failed", r.Create.Failed)
	case r.Copy != nil:
		s := fmt.Sprintf("copied %d", len(r.Copy.Copied))
		if len(r.Copy.Copied) > 0 {
			s += ": " + copyTargets(r.Copy.Copied)
		}
		s += reasons(", skipped", r.Copy.Skipped) + reasons(", rejected", r.Copy.Rejected) + reasons(", failed", r.Copy.Failed)
		if len(r.Copy.CatalogSynced) > 0 {
			s += "; catalog synced"
		}
		return s
	case r.Offsite != nil:
		return summarizeOffsite(r.Offsite)
	case r.Cleanup != nil:
		s := fmt.Sprintf("kept %d, deleted %d", len(r.Cleanup.Kept), len(r.Cleanup.Deleted))
		if len(r.Cleanup.Deleted) > 0 {
			s = fmt.Sprintf("kept %d%s", len(r.Cleanup.Kept), reasons(", deleted", r.Cleanup.Deleted))
		}
		s += fmt.Sprintf(" + %d snapshots", len(r.Cleanup.SnapshotsDeleted))
		return s + reasons(", failed", r.Cleanup.Failed) + reasons(", snapshots left", r.Cleanup.SnapshotsLeft)
	}
	return r.Kind
}

// copyTargets renders copies compactly: "m-4fe7ad6e2b… → beijing,shenzhen" for one
// source image, "3 images → beijing,shenzhen" when several go to the same regions.
func copyTargets(copied []item) string {
	regions := map[string][]string{} // source image -> regions
	var order []string
	for _, c := range copied {
		if _, ok := regions[c.SourceImage]; !ok {
			order = append(order, c.SourceImage)
		}
		regions[c.SourceImage] = append(regions[c.SourceImage], strings.TrimPrefix(c.Region, "cn-"))
	}
	groups := map[string][]string{} // region list -> source images
	var gorder []string
	for _, src := range order {
		rs := regions[src]
		sort.Strings(rs)
		k := strings.Join(rs, ",")
		if _, ok := groups[k]; !ok {
			gorder = append(gorder, k)
		}
		groups[k] = append(groups[k], src)
	}
	var parts []string
	for _, k := range gorder {
		srcs := groups[k]
		if len(srcs) == 1 {
			parts = append(parts, shortID(srcs[0])+" → "+k)
		} else {
			parts = append(parts, fmt.Sprintf("%d images → %s", len(srcs), k))
		}
	}
	return strings.Join(parts, "; ")
}

// reasons renders "label N (why)" for one distinct reason, "label N (why ×k; …)" for
// several, or "" for no items.
func reasons(label string, items []item) string {
	if len(items) == 0 {
		return ""
	}
	counts := map[string]int{}
	for _, it := range items {
		why := it.Reason
		if it.ErrorCode != "" {
			why += " " + it.ErrorCode
		}
		counts[strings.TrimSpace(why)]++
	}
	var parts []string
	for why, n := range counts {
		if len(counts) == 1 {
			parts = append(parts, why)
		} else {
			parts = append(parts, fmt.Sprintf("%s ×%d", why, n))
		}
	}
	sort.Strings(parts)
	return fmt.Sprintf("%s %d (%s)", label, len(items), strings.Join(parts, "; "))
}

var errViolations = errors.New("demo: invariants violated")

// ErrViolations is returned by Check when a report has violations.
func (r *Report) Check() error {
	if len(r.Violations) > 0 {
		return fmt.Errorf("%w: %d", errViolations, len(r.Violations))
	}
	return nil
}
