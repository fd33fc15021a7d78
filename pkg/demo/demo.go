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
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

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
	// Scenario toggles the injected trouble (default true).
	NoTrouble bool
}

// Report is the outcome of a run.
type Report struct {
	Rows        []Row
	Violations  []string
	Invocations []fc.Invocation
	Deleted     map[string]string // image id -> region, every image deleted during the run
	Wall        time.Duration
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

	d := &driver{o: o, srv: srv, pol: pol, deleted: map[string]string{}, managed: map[string]bool{}}
	if err := d.provision(); err != nil {
		return nil, err
	}
	env := map[string]string{
		"DR_POLICY":       demoPolicy,
		"DR_ECS_ENDPOINT": srv.Addr(),
		"DR_ECS_SCHEME":   "HTTP",
		"DR_OSS_ENDPOINT": srv.URL(),
		"DR_SLS_ENDPOINT": srv.Addr(),
		"DR_SLS_PROJECT":  slsProject,
		"DR_SLS_LOGSTORE": slsLogstore,
	}
	proj, err := sconfig.Load(o.SFile, env, map[string]string{"AccountID": core.DefaultAccountID})
	if err != nil {
		return nil, err
	}
	if err := srv.Deploy(proj, filepath.Dir(o.SFile), env); err != nil {
		return nil, fmt.Errorf("deploy %s: %w (run `make build` first)", o.SFile, err)
	}
	d.printf("deployed %d functions from %s onto the local cloud at %s\n", len(proj.Functions), o.SFile, srv.Addr())
	for _, f := range proj.Functions {
		for _, t := range f.Triggers {
			d.printf("  %-26s %-11s %s%s\n", f.Name, t.Type, t.Cron, strings.TrimSpace(" "+t.Pattern))
		}
	}
	srv.Env.Bus.Subscribe(d.onEvent)
	if !o.NoTrouble {
		d.scheduleTrouble(clock)
	}

	// Day n's cycle: create 02:00, copies on events, reconcile 03:30, cleanup 04:00.
	end := Start.AddDate(0, 0, o.Days-1).Add(6 * time.Hour)
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

	rep := d.report(ctx)
	rep.Wall = time.Since(wall)
	return rep, nil
}

const (
	manualImage = "m-manual-golden-0001"
	slsProject  = "ecs-image-dr-demo"
	slsLogstore = "ecs-image-dr"
)

type driver struct {
	o   Options
	srv *localcloud.Server
	pol *policy.Policy

	mu         sync.Mutex
	deleted    map[string]string // image id -> region
	managed    map[string]bool   // image ids ever seen with our tags (filled at report time)
	inUse      string            // image put into use by the scenario
	violations []string
	pruned     map[string]map[string]int // instance/region -> reason -> count
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

// scheduleTrouble injects, on the simulated clock, what goes wrong in real life.
func (d *driver) scheduleTrouble(clock *core.Clock) {
	day := func(n int, hh, mm int) time.Time {
		return Start.AddDate(0, 0, n-1).Add(time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute)
	}
	at := func(t time.Time, what string, f func()) {
		clock.AfterFunc(t, func() {
			d.printf("%s  ** %s\n", stamp(t), what)
			f()
		})
	}
	// Day 2: someone launches an instance from web-1's first source image: it is in use and
	// must survive cleanup long after keepLast would have pruned it.
	at(day(2, 12, 0), "an instance is launched from web-1's day-1 image (that image is now in use)", func() {
		for _, im := range d.srv.ECS.Images("cn-hangzhou") {
			if im.Tags[policy.TagSourceInstance] == "i-hz-web-1" && im.Tags[policy.TagRole] == policy.RoleSource {
				if _, err := d.srv.ECS.AddInstance("cn-hangzhou", ecs.InstanceSeed{Name: "restored-web", ImageID: im.ID,
					Disks: []ecs.DiskSeed{{Type: "system", SizeGiB: 40}}}); err != nil {
					d.violate("scenario: launch from %s: %v", im.ID, err)
				}
				d.mu.Lock()
				d.inUse = im.ID
				d.mu.Unlock()
				return
			}
		}
		d.violate("scenario: no day-1 source image of i-hz-web-1 to launch from")
	})
	// Day 4: EventBridge loses every event; the 03:30 reconcile must make the copies.
	at(day(4, 0, 0), "EventBridge drops every event today (reconcile must catch up)", func() {
		d.srv.Bridge.SetDelivery(eventbridge.Delivery{Drop: 1, Seed: 4})
	})
	at(day(5, 0, 0), "EventBridge delivers normally again", func() { d.srv.Bridge.SetDelivery(eventbridge.Delivery{Seed: 5}) })
	// Day 5: a forged event claims another account's image is ready.
	at(day(5, 10, 0), "a forged image event from another account arrives", func() {
		d.srv.Bridge.Publish(eventbridge.CloudEvent{
			ID: "forged-0001", Source: "acs.ecs", SpecVersion: "1.0", Type: "ecs:Image:StateChange",
			Subject: "acs:ecs:cn-hangzhou:999999999999:image/" + manualImage, Time: day(5, 10, 0).UTC().Format(time.RFC3339),
			AliyunAccountID: "999999999999", AliyunRegionID: "cn-hangzhou", AliyunEventBusName: "default",
			Data: json.RawMessage(`{"imageId":"` + manualImage + `","currentState":"Available"}`),
		})
	})
	// Day 6: every event is delivered twice; no copy may be made twice.
	at(day(6, 0, 0), "EventBridge duplicates every event today", func() {
		d.srv.Bridge.SetDelivery(eventbridge.Delivery{Duplicate: 1, Seed: 6})
	})
	at(day(7, 0, 0), "EventBridge delivers normally again; ECS throttles CreateImage and CopyImage to 1 call/s today", func() {
		d.srv.Bridge.SetDelivery(eventbridge.Delivery{Seed: 7})
		d.srv.Env.Faults.Set("ecs", "CreateImage", core.FaultRule{QPS: 1})
		d.srv.Env.Faults.Set("ecs", "CopyImage", core.FaultRule{QPS: 1})
	})
	at(day(8, 0, 0), "ECS throttling lifted", func() { d.srv.Env.Faults.Clear() })
}

func stamp(t time.Time) string { return t.In(shanghai).Format("01-02 15:04") }

// printInvocations prints the invocation attempts recorded since index from; it returns
// the new count.
func (d *driver) printInvocations(from int) int {
	invs := d.srv.FC.Invocations()
	for _, inv := range invs[from:] {
		d.printf("%s  %-26s %-34s %-7s %5.2fs  %s\n", stamp(inv.Start), inv.Function, inv.Source+retry(inv.RetryCount), inv.Status,
			inv.WallEnd.Sub(inv.WallStart).Seconds(), summarize(inv))
	}
	return len(invs)
}

func retry(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (retry %d)", n)
}

// result mirrors the JSON a function returns (pkg/app.Result), decoded loosely.
type result struct {
	Kind   string `json:"kind"`
	Note   string `json:"note"`
	Create *struct {
		Slot    string `json:"slot"`
		Started []item `json:"started"`
		Skipped []item `json:"skipped"`
		Failed  []item `json:"failed"`
	} `json:"create"`
	Copy *struct {
		Rejected      []item   `json:"rejected"`
		Copied        []item   `json:"copied"`
		Skipped       []item   `json:"skipped"`
		Failed        []item   `json:"failed"`
		CatalogSynced []string `json:"catalogSynced"`
	} `json:"copy"`
	Cleanup *struct {
		Kept             []item   `json:"kept"`
		Deleted          []item   `json:"deleted"`
		Failed           []item   `json:"failed"`
		SnapshotsDeleted []string `json:"snapshotsDeleted"`
		SnapshotsLeft    []item   `json:"snapshotsLeft"`
	} `json:"cleanup"`
}

type item struct {
	Region      string `json:"region"`
	Instance    string `json:"instance"`
	Image       string `json:"image"`
	SourceImage string `json:"sourceImage"`
	Reason      string `json:"reason"`
	ErrorCode   string `json:"errorCode"`
}

func summarize(inv fc.Invocation) string {
	if inv.Status != fc.StatusOK {
		msg := inv.ErrorMessage
		if len(msg) > 160 {
			msg = msg[:160] + "…"
		}
		return inv.ErrorType + ": " + msg
	}
	var r result
	if err := json.Unmarshal(inv.Response, &r); err != nil {
		return "unreadable result: " + err.Error()
	}
	switch {
	case r.Note != "":
		return r.Kind + ": " + r.Note
	case r.Create != nil:
		s := fmt.Sprintf("slot %s: started %d", r.Create.Slot, len(r.Create.Started))
		s += reasons(", skipped", r.Create.Skipped)
		return s + reasons(", failed", r.Create.Failed)
	case r.Copy != nil:
		s := fmt.Sprintf("copies started %d", len(r.Copy.Copied))
		var to []string
		for _, c := range r.Copy.Copied {
			to = append(to, c.SourceImage+"→"+c.Region)
		}
		if len(to) > 0 {
			s += " (" + strings.Join(to, " ") + ")"
		}
		s += reasons(", skipped", r.Copy.Skipped) + reasons(", rejected", r.Copy.Rejected) + reasons(", failed", r.Copy.Failed)
		if len(r.Copy.CatalogSynced) > 0 {
			s += ", catalog " + strings.Join(r.Copy.CatalogSynced, ",")
		}
		return s
	case r.Cleanup != nil:
		s := fmt.Sprintf("kept %d, deleted %d, snapshots deleted %d", len(r.Cleanup.Kept), len(r.Cleanup.Deleted), len(r.Cleanup.SnapshotsDeleted))
		return s + reasons(", failed", r.Cleanup.Failed) + reasons(", snapshots left", r.Cleanup.SnapshotsLeft)
	}
	return r.Kind
}

// reasons renders "label N (reason ×k; …)" or "" for no items.
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
		parts = append(parts, fmt.Sprintf("%s ×%d", why, n))
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
