package restore

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/catalog"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
)

// Pair states.
const (
	StateOK      = "ok"
	StateStale   = "stale"   // the newest restorable copy is older than rpoTarget
	StateMissing = "missing" // no restorable copy in the region
)

// PairStatus is one protected instance in one DR region.
type PairStatus struct {
	// Kind is KindInstance (ECS, copies are images) or KindDatabase (RDS, copies are
	// offsite backup files; InstanceID is then the DB instance).
	Kind         string `json:"kind"`
	InstanceID   string `json:"instanceId"`
	SourceRegion string `json:"sourceRegion,omitempty"`
	Region       string `json:"region"`
	ImageID      string `json:"imageId,omitempty"`
	// BackupID and Object: a database pair's newest offsite backup and its OSS key.
	BackupID string    `json:"backupId,omitempty"`
	Object   string    `json:"object,omitempty"`
	DataTime time.Time `json:"dataTime,omitzero"`
	// AgeSeconds is the RPO now: how old the newest restorable data is.
	AgeSeconds float64 `json:"ageSeconds"`
	State      string  `json:"state"`
	// Problems lists everything wrong (stale, missing copy, failed drill, no restore
	// metadata).
	Problems  []string             `json:"problems,omitempty"`
	LastDrill *catalog.DrillRecord `json:"lastDrill,omitempty"`
}

// Age is AgeSeconds as a duration.
func (p PairStatus) Age() time.Duration { return time.Duration(p.AgeSeconds * float64(time.Second)) }

// Status is the RPO view of a policy at one moment.
type Status struct {
	Policy          string       `json:"policy"`
	At              time.Time    `json:"at"`
	RPOTargetSecond float64      `json:"rpoTargetSeconds,omitempty"`
	Pairs           []PairStatus `json:"pairs"`
	// Worst is the pair with the oldest data (a missing copy is worst of all).
	Worst *PairStatus `json:"worst,omitempty"`
	// Missed counts pairs that miss the target (stale or missing).
	Missed int `json:"missed"`
	// Warnings: sources of the view that could not be read (e.g. a source region that is
	// down: the view then rests on the DR catalogs alone).
	Warnings []string `json:"warnings,omitempty"`
}

// Status computes, per protected instance and DR region, the data age of the newest
// restorable copy (from each DR region's catalog) against the policy's rpoTarget. The
// protected instances are those the source regions select now, plus those the catalogs
// know (so a lost source region still shows every server it held).
func (d Deps) Status(ctx context.Context) (Status, error) {
	d, err := d.withDefaults()
	if err != nil {
		return Status{}, err
	}
	if d.Catalog == nil {
		return Status{}, fmt.Errorf("status: no catalog configured")
	}
	now := d.Now().UTC()
	st := Status{Policy: d.Policy.Name, At: now, RPOTargetSecond: d.Policy.RPO().Seconds()}
	source := map[string]string{} // instance -> source region
	for _, src := range d.Policy.Sources {
		var q ecsx.InstanceQuery
		if len(src.Selectors) == 0 {
			q.IDs = src.InstanceIDs
		}
		ins, err := d.ECS.DescribeInstances(ctx, src.Region, q)
		if err != nil {
			st.Warnings = append(st.Warnings, fmt.Sprintf("source region %s not listed (%v): its instances come from the DR catalogs only", src.Region, err))
			continue
		}
		for _, in := range ins {
			if ok, _ := d.Policy.Selects(src.Region, in.ID, in.Tags); ok {
				source[in.ID] = src.Region
			}
		}
	}
	type regionView struct {
		index  map[string]catalog.IndexEntry
		specs  map[string]catalog.RestoreSpec
		drills map[string]catalog.DrillRecord
	}
	views := map[string]regionView{}
	for _, region := range d.Policy.DestinationRegions() {
		v := regionView{index: map[string]catalog.IndexEntry{}}
		idx, err := d.Catalog.Index(ctx, region)
		if err != nil {
			return st, fmt.Errorf("status: catalog of %s: %w", region, err)
		}
		for _, e := range idx {
			if e.Region == region {
				v.index[e.InstanceID] = e
				if _, ok := source[e.InstanceID]; !ok {
					source[e.InstanceID] = ""
				}
			}
		}
		if v.specs, err = d.Catalog.Specs(ctx, region); err != nil {
			st.Warnings = append(st.Warnings, fmt.Sprintf("restore metadata of %s: %v", region, err))
		}
		for id, sp := range v.specs {
			if source[id] == "" {
				source[id] = sp.SourceRegion
			}
		}
		if v.drills, err = d.Catalog.Drills(ctx, region); err != nil {
			st.Warnings = append(st.Warnings, fmt.Sprintf("drill records of %s: %v", region, err))
		}
		views[region] = v
	}
	target := d.Policy.RPO()
	insts := make([]string, 0, len(source))
	for id := range source {
		insts = append(insts, id)
	}
	slices.Sort(insts)
	for _, id := range insts {
		for _, region := range d.Policy.DestinationRegions() {
			v := views[region]
			p := PairStatus{Kind: KindInstance, InstanceID: id, SourceRegion: source[id], Region: region, State: StateOK}
			if e, ok := v.index[id]; ok {
				p.ImageID, p.DataTime = e.ImageID, e.DataTime
				p.AgeSeconds = now.Sub(e.DataTime).Seconds()
				if target > 0 && now.Sub(e.DataTime) > target {
					p.State = StateStale
					p.Problems = append(p.Problems, fmt.Sprintf("stale: data is %s old, over the %s target", fmtAge(now.Sub(e.DataTime)), fmtAge(target)))
				}
			} else {
				p.State = StateMissing
				p.Problems = append(p.Problems, "missing copy: no restorable image in "+region)
			}
			if _, ok := v.specs[id]; !ok {
				p.Problems = append(p.Problems, "no restore metadata (the next create run records it)")
			}
			if r, ok := v.drills[id+"/"+region]; ok {
				r := r
				p.LastDrill = &r
				if !r.Verified {
					p.Problems = append(p.Problems, "last drill failed "+r.StartedAt.UTC().Format("2006-01-02 15:04")+" UTC: "+firstLine(r.Reason))
				}
			}
			if p.State != StateOK {
				st.Missed++
			}
			st.Pairs = append(st.Pairs, p)
		}
	}
	d.addDatabasePairs(ctx, &st)
	for i := range st.Pairs {
		p := &st.Pairs[i]
		switch w := st.Worst; {
		case w == nil,
			p.State == StateMissing && w.State != StateMissing,
			(p.State == StateMissing) == (w.State == StateMissing) && p.AgeSeconds > w.AgeSeconds:
			st.Worst = p
		}
	}
	return st, nil
}

// fmtAge prints a duration as "26h05m" or "3d04h".
func fmtAge(d time.Duration) string {
	d = d.Round(time.Minute)
	if d >= 72*time.Hour {
		return fmt.Sprintf("%dd%02dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
	}
	return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

// FmtAge is fmtAge for the CLI.
func FmtAge(d time.Duration) string { return fmtAge(d) }

// MonitorRPO is the RPO monitor: it computes Status and writes one record per instance and
// region and one per DB instance and region (action rpo, kind instance or database,
// dataAgeSeconds, result ok at debug level or breach as a warning) and one record with the
// worst pair of the policy
// (action rpo-worst, breaches counting both kinds). A pair breaches when its copy is missing or older
// than rpoTarget; the alert on action rpo / result breach notifies.
func (d Deps) MonitorRPO(ctx context.Context) (Status, error) {
	d, err := d.withDefaults()
	if err != nil {
		return Status{}, err
	}
	st, err := d.Status(ctx)
	if err != nil {
		return st, err
	}
	for _, p := range st.Pairs {
		// Pairs within target are debug: at fleet scale they are 40,000 records an hour that
		// say nothing new (the rpo-worst record below counts them); breaches are warnings.
		result, level := "ok", slog.LevelDebug
		if p.State != StateOK {
			result, level = "breach", slog.LevelWarn
		}
		attrs := []any{"action", "rpo", "result", result, "policy", st.Policy, "kind", p.Kind, "instance", p.InstanceID,
			"sourceRegion", p.SourceRegion, "region", p.Region, "image", p.ImageID}
		if p.Kind == KindDatabase {
			attrs = append(attrs, "backup", p.BackupID, "object", p.Object)
		}
		d.Log.Log(ctx, level, "rpo", append(attrs, "dataAgeSeconds", int64(p.AgeSeconds),
			"rpoTargetSeconds", int64(st.RPOTargetSecond), "state", p.State, "reason", strings.Join(p.Problems, "; "))...)
	}
	for _, w := range st.Warnings {
		d.Log.Warn("rpo view incomplete", "action", "rpo", "result", "skipped", "policy", st.Policy, "reason", w)
	}
	attrs := []any{"action", "rpo-worst", "policy", st.Policy, "pairs", len(st.Pairs), "breaches", st.Missed,
		"rpoTargetSeconds", int64(st.RPOTargetSecond)}
	result := "ok"
	if st.Missed > 0 {
		result = "breach"
	}
	if w := st.Worst; w != nil {
		attrs = append(attrs, "kind", w.Kind, "instance", w.InstanceID, "region", w.Region, "dataAgeSeconds", int64(w.AgeSeconds), "state", w.State)
	}
	d.Log.Info("rpo worst", append(attrs, "result", result)...)
	return st, nil
}
