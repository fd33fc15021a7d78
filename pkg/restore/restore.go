// Package restore rebuilds protected servers in a DR region from their image copies: the
// operator's restore (drctl restore), the DR drill (drctl drill and the dr-drill function),
// the garbage collection of drill instances, and the RPO view (drctl status and the RPO
// monitor). It is plain Go over the ecsx ports and the DR catalog; the clock and the
// sleeps are injected, so the local cloud's simulated time drives the RTO.
//
// Safety: a restore never guesses. No copy, no restore metadata, a source network the
// policy's networkMap does not map: each is an error that names what is missing, before
// anything is launched. A drill tears down what it launched on every path (verification
// failed, boot timed out, the caller's context ended), and the drill garbage collection
// removes any drill instance a killed run left behind (level-triggered, by tags).
package restore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/catalog"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// Tags the restore side puts on the instances it launches (besides the policy's
// managed-by and policy tags).
const (
	TagRestoredFrom = "ecs-dr:restored-from" // source instance id
	TagRestoreImage = "ecs-dr:restore-image" // image the instance was launched from
	TagDrill        = "ecs-dr:drill"         // drill run id: the instance is a drill instance
	TagExpires      = "ecs-dr:expires"       // drill instances: RFC 3339 time after which GC removes it
	// Scheduled drills (reconcile.go) keep their state on the drill instance.
	TagDrillMode    = "ecs-dr:drill-mode"    // "scheduled" (dr-drill) or "interactive" (drctl)
	TagDrillStarted = "ecs-dr:drill-started" // RFC 3339 (ns) launch time: the RTO's start
	TagDataTime     = "ecs-dr:data-time"     // RFC 3339 data time of the image
	TagDrillInvoke  = "ecs-dr:drill-invoke"  // Cloud Assistant invoke id of the health command
)

// Catalog is the DR catalog of a policy as the restore side reads and writes it, per DR
// region.
type Catalog interface {
	Index(ctx context.Context, region string) ([]catalog.IndexEntry, error)
	Specs(ctx context.Context, region string) (map[string]catalog.RestoreSpec, error)
	Drills(ctx context.Context, region string) (map[string]catalog.DrillRecord, error)
	PutDrill(ctx context.Context, region string, r catalog.DrillRecord) error
}

// Deps are the restore side's dependencies.
type Deps struct {
	ECS     ecsx.API     // bare adapter; retries are added here
	Compute ecsx.Compute // bare adapter; retries are added here
	Catalog Catalog
	Policy  *policy.Policy
	Log     *slog.Logger
	// Now and Sleep are the clock: RTO is measured with Now, polling sleeps with Sleep.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// Progress receives one line per state change of a long operation (may be nil).
	Progress func(string)
	// Poll is the interval between status polls (default 5s).
	Poll  time.Duration
	Retry ecsx.RetryConfig
}

func (d Deps) withDefaults() (Deps, error) {
	if d.ECS == nil || d.Compute == nil || d.Policy == nil {
		return d, errors.New("restore: deps: ECS, Compute and Policy are required")
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Sleep == nil {
		d.Sleep = ecsx.SleepContext
	}
	if d.Progress == nil {
		d.Progress = func(string) {}
	}
	if d.Poll <= 0 {
		d.Poll = 5 * time.Second
	}
	rc := d.Retry
	rc.Sleep = d.Sleep
	d.ECS = ecsx.WithRetry(d.ECS, rc)
	d.Compute = ecsx.WithComputeRetry(d.Compute, rc)
	return d, nil
}

// Request is one restore or drill.
type Request struct {
	InstanceID string
	// Region is the DR region (default: the policy's first destination).
	Region string
	// At chooses the newest copy whose data is not newer than At (zero: the newest).
	At time.Time
	// InstanceType overrides the recorded type.
	InstanceType string
	// AllowDuplicate launches even when a restored copy of the instance already exists.
	AllowDuplicate bool
	// RunID names the operation: it is part of the RunInstances ClientToken (a retried
	// call launches nothing twice) and of drill tags. Required.
	RunID string
	// HealthCommand is run through Cloud Assistant once the instance is Running (the drill
	// fills it from the policy); HealthTimeout bounds it.
	HealthCommand string
	HealthTimeout time.Duration
	// BootTimeout bounds the wait for Running (default 15m).
	BootTimeout time.Duration

	drill     *policy.Drill // set by Drill: isolated network, allowed types, tags
	scheduled bool          // a dr-drill run (reconcile.go), not an interactive drill
}

// Result is what a restore did.
type Result struct {
	InstanceID   string    `json:"instanceId"` // the source instance
	Region       string    `json:"region"`
	ImageID      string    `json:"imageId"`
	DataTime     time.Time `json:"dataTime"`
	NewInstance  string    `json:"newInstance,omitempty"`
	InstanceType string    `json:"instanceType,omitempty"`
	// TypeNote says why InstanceType is not the recorded type (no stock, drill policy).
	TypeNote  string    `json:"typeNote,omitempty"`
	VSwitchID string    `json:"vSwitchId,omitempty"`
	Zone      string    `json:"zone,omitempty"`
	StartedAt time.Time `json:"startedAt"`
	// RTO: from the start of the restore until the health command passed (or Running when
	// there is none).
	RTO      time.Duration `json:"rto"`
	Running  bool          `json:"running"`
	Verified bool          `json:"verified"`
	Health   string        `json:"health,omitempty"` // the health command's output or failure
}

// Error kinds of a restore that did not happen; errors.Is works on the returned errors.
var (
	ErrNoCopy      = errors.New("no restorable copy")
	ErrNoMetadata  = errors.New("no restore metadata")
	ErrNoMapping   = errors.New("missing network mapping")
	ErrDuplicate   = errors.New("a restored copy already exists")
	ErrNoStock     = errors.New("no instance type with stock")
	ErrBootTimeout = errors.New("instance did not reach Running")
	ErrUnhealthy   = errors.New("health check failed")
)

// Plan is a restore decided but not launched (drctl restore shows it before asking).
type Plan struct {
	Request
	Image        ecsx.Image
	DataTime     time.Time
	Spec         catalog.RestoreSpec
	InstanceType string
	TypeNote     string
	VSwitchID    string
	Zone         string
	Groups       []string
	PrivateIP    string
	Tags         map[string]string
	Dropped      []string // instance tags left out (ECS allows 20 per instance)
}

// Prepare decides a restore: the copy, the configuration, the network, the instance type.
// It launches nothing; every error names what is missing.
func (d Deps) Prepare(ctx context.Context, req Request) (*Plan, error) {
	d, err := d.withDefaults()
	if err != nil {
		return nil, err
	}
	return d.prepare(ctx, req)
}

func (d Deps) prepare(ctx context.Context, req Request) (*Plan, error) {
	if req.InstanceID == "" {
		return nil, errors.New("restore: an instance id is required")
	}
	if req.RunID == "" {
		return nil, errors.New("restore: a run id is required")
	}
	if req.Region == "" {
		req.Region = d.Policy.DrillRegion()
	}
	if _, ok := d.Policy.Destination(req.Region); !ok {
		return nil, fmt.Errorf("restore %s: %s is not a DR region of policy %s (destinations: %s)", req.InstanceID, req.Region,
			d.Policy.Name, strings.Join(d.Policy.DestinationRegions(), ", "))
	}
	p := &Plan{Request: req}
	img, dt, err := d.chooseImage(ctx, req)
	if err != nil {
		return nil, err
	}
	p.Image, p.DataTime = img, dt
	specs, err := d.catalogSpecs(ctx, req.Region)
	if err != nil {
		return nil, err
	}
	spec, ok := specs[req.InstanceID]
	if !ok {
		return nil, fmt.Errorf("restore %s: %w in the %s catalog: the create run records it with every backup; run create-image once after upgrading, then retry",
			req.InstanceID, ErrNoMetadata, req.Region)
	}
	p.Spec = spec
	if err := d.mapNetwork(ctx, p); err != nil {
		return nil, err
	}
	if err := d.chooseType(ctx, p); err != nil {
		return nil, err
	}
	p.Tags = d.instanceTags(p)
	return p, nil
}

func (d Deps) catalogSpecs(ctx context.Context, region string) (map[string]catalog.RestoreSpec, error) {
	if d.Catalog == nil {
		return nil, fmt.Errorf("restore: no catalog configured: %w", ErrNoMetadata)
	}
	specs, err := d.Catalog.Specs(ctx, region)
	if err != nil && len(specs) == 0 {
		return nil, fmt.Errorf("restore: read restore metadata in %s: %w", region, err)
	}
	if err != nil {
		d.Log.Warn("restore metadata partly unreadable", "region", region, "error", err)
	}
	return specs, nil
}

// chooseImage picks the newest Available managed copy of the instance in the DR region
// whose data is not newer than req.At. Data time: the catalog's when it names the image,
// else the slot the image was made for, else its creation time.
func (d Deps) chooseImage(ctx context.Context, req Request) (ecsx.Image, time.Time, error) {
	imgs, err := d.ECS.DescribeImages(ctx, req.Region, ecsx.ImageQuery{Statuses: []string{ecsx.StatusAvailable},
		Tags: map[string]string{policy.TagManagedBy: policy.ManagedByValue, policy.TagPolicy: d.Policy.Name, policy.TagSourceInstance: req.InstanceID}})
	if err != nil {
		return ecsx.Image{}, time.Time{}, fmt.Errorf("restore %s: list copies in %s: %w", req.InstanceID, req.Region, err)
	}
	known := map[string]time.Time{}
	if d.Catalog != nil {
		if idx, err := d.Catalog.Index(ctx, req.Region); err == nil {
			for _, e := range idx {
				if e.InstanceID == req.InstanceID {
					known[e.ImageID] = e.DataTime
				}
			}
		}
	}
	var best ecsx.Image
	var bestT time.Time
	for _, im := range imgs {
		if im.Status != ecsx.StatusAvailable || im.Tags[policy.TagSourceInstance] != req.InstanceID {
			continue
		}
		t := DataTime(d.Policy, im, known)
		if !req.At.IsZero() && t.After(req.At) {
			continue
		}
		if best.ID == "" || t.After(bestT) || t.Equal(bestT) && im.ID < best.ID {
			best, bestT = im, t
		}
	}
	if best.ID == "" {
		when := ""
		if !req.At.IsZero() {
			when = " with data from " + req.At.UTC().Format(time.RFC3339) + " or earlier"
		}
		return ecsx.Image{}, time.Time{}, fmt.Errorf("restore %s: %w in %s%s (%d copies listed): nothing was launched",
			req.InstanceID, ErrNoCopy, req.Region, when, len(imgs))
	}
	return best, bestT, nil
}

// DataTime is when the data of a managed image was captured: known[id] (the catalog's
// lineage), else the start of its slot, else its creation time.
func DataTime(pol *policy.Policy, im ecsx.Image, known map[string]time.Time) time.Time {
	if t, ok := known[im.ID]; ok && !t.IsZero() {
		return t
	}
	if t, ok := SlotStart(pol, im.Tags[policy.TagSlot]); ok && (im.Created.IsZero() || !t.After(im.Created)) {
		return t
	}
	return im.Created
}

// SlotStart parses a slot name ("20261123" or "20261123T0200") in the policy timezone.
func SlotStart(pol *policy.Policy, slot string) (time.Time, bool) {
	for _, layout := range []string{"20060102T1504", "20060102"} {
		if t, err := time.ParseInLocation(layout, slot, pol.Location()); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// mapNetwork resolves the DR vSwitch and security groups: the drill network for a drill,
// the policy's networkMap otherwise.
func (d Deps) mapNetwork(ctx context.Context, p *Plan) error {
	sp := p.Spec
	if p.drill != nil {
		p.VSwitchID, p.Groups = p.drill.VSwitchID, slices.Clone(p.drill.SecurityGroupIDs)
	} else {
		m, ok := d.Policy.NetworkMap[p.Region]
		var missing []string
		dst := m.VSwitches[sp.VSwitchID]
		if !ok || dst == "" {
			missing = append(missing, fmt.Sprintf("networkMap.%s.vSwitches.%s", p.Region, cmpOr(sp.VSwitchID, "<none recorded>")))
		}
		var groups []string
		for _, g := range sp.SecurityGroupIDs {
			if m.SecurityGroups[g] == "" {
				missing = append(missing, fmt.Sprintf("networkMap.%s.securityGroups.%s", p.Region, g))
				continue
			}
			if !slices.Contains(groups, m.SecurityGroups[g]) {
				groups = append(groups, m.SecurityGroups[g])
			}
		}
		if len(sp.SecurityGroupIDs) == 0 {
			missing = append(missing, fmt.Sprintf("networkMap.%s.securityGroups (no source group recorded)", p.Region))
		}
		if len(missing) > 0 {
			return fmt.Errorf("restore %s: %w: add %s to the policy; nothing was launched", p.InstanceID, ErrNoMapping, strings.Join(missing, ", "))
		}
		p.VSwitchID, p.Groups = dst, groups
		if m.KeepPrivateIP {
			p.PrivateIP = sp.PrivateIP
		}
	}
	vsws, err := d.Compute.DescribeVSwitches(ctx, p.Region)
	if err != nil {
		return fmt.Errorf("restore %s: list vSwitches in %s: %w", p.InstanceID, p.Region, err)
	}
	i := slices.IndexFunc(vsws, func(v ecsx.VSwitch) bool { return v.ID == p.VSwitchID })
	if i < 0 {
		return fmt.Errorf("restore %s: %w: vSwitch %s does not exist in %s; fix the policy; nothing was launched", p.InstanceID, ErrNoMapping, p.VSwitchID, p.Region)
	}
	p.Zone = vsws[i].Zone
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// chooseType keeps the recorded type when it has stock in the DR zone; otherwise it takes
// the closest type with stock (same vCPU and memory first, then the smallest that is at
// least as large) and says so. A drill with allowedInstanceTypes stays inside that list.
func (d Deps) chooseType(ctx context.Context, p *Plan) error {
	want := cmpOr(p.Request.InstanceType, p.Spec.InstanceType)
	stock, err := d.Compute.AvailableTypes(ctx, p.Region, p.Zone)
	if err != nil {
		return fmt.Errorf("restore %s: stock in %s: %w", p.InstanceID, p.Zone, err)
	}
	var allowed []string
	if p.drill != nil {
		allowed = p.drill.AllowedInstanceTypes
	}
	ok := func(t string) bool { return stock[t] && (len(allowed) == 0 || slices.Contains(allowed, t)) }
	if ok(want) {
		p.InstanceType = want
		return nil
	}
	types, err := d.Compute.DescribeInstanceTypes(ctx, p.Region)
	if err != nil {
		return fmt.Errorf("restore %s: instance types in %s: %w", p.InstanceID, p.Region, err)
	}
	alt, ok2 := Closest(want, p.Spec.CPU, float64(p.Spec.MemoryMiB)/1024, types, ok)
	why := fmt.Sprintf("%s has no stock in %s", want, p.Zone)
	if stock[want] {
		why = fmt.Sprintf("%s is not in drill.allowedInstanceTypes", want)
	}
	if !ok2 {
		return fmt.Errorf("restore %s: %w: %s and no comparable type has stock there; nothing was launched", p.InstanceID, ErrNoStock, why)
	}
	p.InstanceType = alt.Name
	p.TypeNote = fmt.Sprintf("%s; using the closest available type %s (%d vCPU, %g GiB)", why, alt.Name, alt.CPU, alt.MemoryGiB)
	return nil
}

// Closest returns the type closest to want among those usable: the same vCPU and memory
// (same family first), else the smallest one at least as large, else the largest smaller
// one. cpu/memGiB describe want when the catalog of types does not list it.
func Closest(want string, cpu int, memGiB float64, types []ecsx.InstanceType, usable func(string) bool) (ecsx.InstanceType, bool) {
	family := want
	if i := strings.LastIndex(want, "."); i > 0 {
		family = want[:i]
	}
	for _, t := range types {
		if t.Name == want {
			cpu, memGiB, family = t.CPU, t.MemoryGiB, t.Family
		}
	}
	var cands []ecsx.InstanceType
	for _, t := range types {
		if t.Name != want && usable(t.Name) {
			cands = append(cands, t)
		}
	}
	if len(cands) == 0 {
		return ecsx.InstanceType{}, false
	}
	score := func(t ecsx.InstanceType) (int, float64, int) {
		switch {
		case t.CPU == cpu && t.MemoryGiB == memGiB:
			if t.Family == family {
				return 0, 0, 0
			}
			return 1, 0, 0
		case t.CPU >= cpu && t.MemoryGiB >= memGiB:
			return 2, float64(t.CPU-cpu) + (t.MemoryGiB - memGiB), 0
		default:
			return 3, float64(cpu-t.CPU) + (memGiB - t.MemoryGiB), 0
		}
	}
	slices.SortStableFunc(cands, func(a, b ecsx.InstanceType) int {
		ca, da, _ := score(a)
		cb, db, _ := score(b)
		if ca != cb {
			return ca - cb
		}
		if da != db {
			if da < db {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return cands[0], true
}

// instanceTags: the recorded tags (as many as fit) plus the restore's own.
func (d Deps) instanceTags(p *Plan) map[string]string {
	own := map[string]string{policy.TagManagedBy: policy.ManagedByValue, policy.TagPolicy: d.Policy.Name,
		TagRestoredFrom: p.InstanceID, TagRestoreImage: p.Image.ID}
	limit := 20
	if p.drill != nil {
		now := d.Now().UTC()
		own[TagDrill] = p.RunID
		own[TagExpires] = now.Add(p.BootTimeout + p.HealthTimeout + 15*time.Minute).Format(time.RFC3339)
		own[TagDrillStarted] = now.Format(time.RFC3339Nano)
		own[TagDataTime] = p.DataTime.UTC().Format(time.RFC3339)
		own[TagDrillMode] = "interactive"
		if p.scheduled {
			own[TagDrillMode] = "scheduled"
		}
		limit = 19 // room for TagDrillInvoke
	}
	out := maps.Clone(own)
	for _, k := range slices.Sorted(maps.Keys(p.Spec.Tags)) {
		if len(out) >= limit {
			p.Dropped = append(p.Dropped, k)
			continue
		}
		if _, taken := out[k]; !taken {
			out[k] = p.Spec.Tags[k]
		}
	}
	return out
}

// clientToken is derived from what the launch means, so a repeated call (an SDK retry, a
// re-run of the same operation) returns the same instance.
func clientToken(p *Plan) string {
	h := sha256.Sum256([]byte(strings.Join([]string{p.RunID, p.InstanceID, p.Region, p.Image.ID, p.InstanceType}, "\x00")))
	return "dr-restore-" + hex.EncodeToString(h[:])[:40]
}

// Existing lists the restored (not drill) instances of the instance in the region.
func (d Deps) existing(ctx context.Context, region, instanceID string) ([]ecsx.Instance, error) {
	ins, err := d.ECS.DescribeInstances(ctx, region, ecsx.InstanceQuery{Tags: map[string]string{
		policy.TagManagedBy: policy.ManagedByValue, policy.TagPolicy: d.Policy.Name, TagRestoredFrom: instanceID}})
	if err != nil {
		return nil, err
	}
	var out []ecsx.Instance
	for _, in := range ins {
		if in.Tags[TagRestoredFrom] == instanceID && in.Tags[TagDrill] == "" {
			out = append(out, in)
		}
	}
	return out, nil
}

// Restore launches the plan, waits until Running (and the health command, if any) and
// measures the RTO from start. It refuses a second restored copy of the same server
// unless AllowDuplicate.
func (d Deps) Restore(ctx context.Context, p *Plan, start time.Time) (Result, error) {
	d, err := d.withDefaults()
	if err != nil {
		return Result{}, err
	}
	return d.launch(ctx, p, start)
}

func (d Deps) launch(ctx context.Context, p *Plan, start time.Time) (Result, error) {
	res := Result{InstanceID: p.InstanceID, Region: p.Region, ImageID: p.Image.ID, DataTime: p.DataTime, InstanceType: p.InstanceType,
		TypeNote: p.TypeNote, VSwitchID: p.VSwitchID, Zone: p.Zone, StartedAt: start}
	if p.drill == nil && !p.AllowDuplicate {
		ex, err := d.existing(ctx, p.Region, p.InstanceID)
		if err != nil {
			return res, fmt.Errorf("restore %s: look for earlier restores: %w", p.InstanceID, err)
		}
		if len(ex) > 0 {
			return res, fmt.Errorf("restore %s: %w in %s: %s (%s); pass --allow-duplicate to start another; nothing was launched",
				p.InstanceID, ErrDuplicate, p.Region, ex[0].ID, ex[0].Status)
		}
	}
	if p.TypeNote != "" {
		d.Progress("instance type: " + p.TypeNote)
	}
	id, err := d.startInstance(ctx, p)
	if err != nil {
		return res, err
	}
	res.NewInstance = id
	d.Progress(fmt.Sprintf("launched %s from %s (%s, %s, %s)", id, p.Image.ID, p.InstanceType, p.VSwitchID, p.Zone))
	if err := d.waitRunning(ctx, p.Region, id, start, cmpDur(p.BootTimeout, policy.DefaultBootTimeout)); err != nil {
		return res, err
	}
	res.Running = true
	if p.HealthCommand == "" {
		res.RTO, res.Verified = d.Now().Sub(start), true
		return res, nil
	}
	out, err := d.health(ctx, p.Region, id, p.HealthCommand, cmpDur(p.HealthTimeout, policy.DefaultHealthTimeout), start)
	res.Health = out
	if err != nil {
		res.RTO = d.Now().Sub(start)
		return res, err
	}
	res.RTO, res.Verified = d.Now().Sub(start), true
	return res, nil
}

// startInstance sends RunInstances for the plan.
func (d Deps) startInstance(ctx context.Context, p *Plan) (string, error) {
	var data []ecsx.Disk
	sysCat, sysGiB := "", 0
	for _, dk := range p.Spec.Disks {
		if dk.Type == "system" {
			sysCat, sysGiB = dk.Category, dk.SizeGiB
			continue
		}
		data = append(data, ecsx.Disk{Device: dk.Device, Category: dk.Category})
	}
	name := cmpOr(p.Spec.InstanceName, p.InstanceID) + "-dr"
	if p.drill != nil {
		name = cmpOr(p.Spec.InstanceName, p.InstanceID) + "-drill"
	}
	id, err := d.Compute.RunInstance(ctx, p.Region, ecsx.RunInstanceInput{ImageID: p.Image.ID, InstanceType: p.InstanceType,
		VSwitchID: p.VSwitchID, PrivateIP: p.PrivateIP, SecurityGroupIDs: p.Groups, Name: name, HostName: p.Spec.HostName,
		KeyPairName: p.Spec.KeyPairName, RAMRole: p.Spec.RAMRole, SystemDiskCategory: sysCat, SystemDiskGiB: sysGiB,
		DataDisks: data, Tags: p.Tags, ClientToken: clientToken(p)})
	if err != nil {
		return "", d.launchError(ctx, p, err)
	}
	return id, nil
}

func cmpDur(a, b time.Duration) time.Duration {
	if a > 0 {
		return a
	}
	return b
}

// launchError explains a refused RunInstances in operator terms.
func (d Deps) launchError(ctx context.Context, p *Plan, err error) error {
	switch code := ecsx.Code(err); {
	case code == "OperationDenied.NoStock":
		// Stock changed since the plan: name the closest alternative now.
		hint := ""
		if stock, serr := d.Compute.AvailableTypes(ctx, p.Region, p.Zone); serr == nil {
			if types, terr := d.Compute.DescribeInstanceTypes(ctx, p.Region); terr == nil {
				if alt, ok := Closest(p.InstanceType, p.Spec.CPU, float64(p.Spec.MemoryMiB)/1024, types, func(t string) bool { return stock[t] }); ok {
					hint = fmt.Sprintf("; the closest available type is %s (%d vCPU, %g GiB): retry with --instance-type %s", alt.Name, alt.CPU, alt.MemoryGiB, alt.Name)
				}
			}
		}
		return fmt.Errorf("restore %s: %w: %s sold out in %s (%s)%s; nothing was launched", p.InstanceID, ErrNoStock, p.InstanceType, p.Zone, code, hint)
	case ecsx.IsQuotaExceeded(err) || strings.HasPrefix(code, "QuotaExceed"):
		return fmt.Errorf("restore %s: the %s instance quota is exhausted (%s): raise it in Quota Center; nothing was launched", p.InstanceID, p.Region, code)
	case code == "InvalidVSwitchId.NotFound" || code == "InvalidSecurityGroupId.NotFound" || strings.Contains(code, "VPCMismatch"):
		return fmt.Errorf("restore %s: %w: %s: fix networkMap.%s in the policy; nothing was launched", p.InstanceID, ErrNoMapping, code, p.Region)
	}
	return fmt.Errorf("restore %s: RunInstances in %s: %w", p.InstanceID, p.Region, err)
}

// waitRunning polls the instance until Running, showing each status change.
func (d Deps) waitRunning(ctx context.Context, region, id string, start time.Time, timeout time.Duration) error {
	deadline := d.Now().Add(timeout)
	last := ""
	for {
		ins, err := d.ECS.DescribeInstances(ctx, region, ecsx.InstanceQuery{IDs: []string{id}})
		if err != nil {
			return fmt.Errorf("restore: status of %s: %w", id, err)
		}
		st := "(not listed yet)"
		if len(ins) == 1 {
			st = ins[0].Status
		}
		if st != last {
			d.Progress(fmt.Sprintf("%s %s after %s", id, st, d.Now().Sub(start).Round(time.Second)))
			last = st
		}
		if st == ecsx.InstanceRunning {
			return nil
		}
		if !d.Now().Before(deadline) {
			return fmt.Errorf("restore: %s is %s after %s: %w", id, st, timeout, ErrBootTimeout)
		}
		if err := d.Sleep(ctx, d.Poll); err != nil {
			return fmt.Errorf("restore: waiting for %s: %w", id, err)
		}
	}
}

// health runs the command through Cloud Assistant and waits for its result.
func (d Deps) health(ctx context.Context, region, id, cmd string, timeout time.Duration, start time.Time) (string, error) {
	inv, err := d.Compute.RunCommand(ctx, region, id, cmd, timeout)
	if err != nil {
		return "", fmt.Errorf("health check on %s: run command: %w: %w", id, ErrUnhealthy, err)
	}
	d.Progress(fmt.Sprintf("health command started on %s (%s)", id, inv))
	deadline := d.Now().Add(timeout + d.Poll)
	for {
		r, err := d.Compute.DescribeInvocation(ctx, region, inv, id)
		if err != nil && !ecsx.IsNotFound(err) {
			return "", fmt.Errorf("health check on %s: %w", id, err)
		}
		if err == nil && r.Finished {
			out := strings.TrimSpace(r.Output)
			if r.Status == "Success" && r.ExitCode == 0 {
				d.Progress(fmt.Sprintf("health command passed after %s", d.Now().Sub(start).Round(time.Second)))
				return out, nil
			}
			return out, fmt.Errorf("health check on %s: %w: %s, exit code %d %s %s", id, ErrUnhealthy, r.Status, r.ExitCode, r.ErrorCode, firstLine(out))
		}
		if !d.Now().Before(deadline) {
			return "", fmt.Errorf("health check on %s: %w: no result after %s", id, ErrUnhealthy, timeout)
		}
		if err := d.Sleep(ctx, d.Poll); err != nil {
			return "", fmt.Errorf("health check on %s: %w", id, err)
		}
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
