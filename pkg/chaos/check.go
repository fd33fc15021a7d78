package chaos

import (
	"fmt"
	"sort"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/catalog"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// The invariants, as named in violations.
const (
	InvOneImagePerSlot  = "one-image-per-slot"
	InvOneCopyPerDest   = "one-copy-per-destination"
	InvNewestCopied     = "newest-copied-everywhere"
	InvNoBadDelete      = "nothing-protected-deleted"
	InvNoOrphanSnapshot = "no-orphan-snapshot"
	InvRetention        = "retention-bounds"
	InvCatalog          = "catalog-names-available-image"
	InvNoPanic          = "no-panic"
	InvRecords          = "every-invocation-recorded"
)

// Invariants lists them in the order the summary prints them.
var Invariants = []string{InvOneImagePerSlot, InvOneCopyPerDest, InvNewestCopied, InvNoBadDelete, InvNoOrphanSnapshot,
	InvRetention, InvCatalog, InvNoPanic, InvRecords}

// Violation is one broken invariant.
type Violation struct {
	Invariant string
	Detail    string
}

func (v Violation) String() string { return v.Invariant + ": " + v.Detail }

// InvocationRecord is what the cloud holds about one invocation: whether its log has the
// start and end records, whether it was killed (or timed out) and whether it panicked.
type InvocationRecord struct {
	RequestID, Function string
	Started, Finished   bool
	Killed, Panicked    bool
}

// State is the cloud's state at the end of a scenario, as the checker reads it.
type State struct {
	Scenario *Scenario
	// ModelNow is when retention is judged: the last cleanup run's time.
	ModelNow  time.Time
	Images    []ecs.Image
	Snapshots []ecs.Snapshot
	Instances []ecs.Instance
	// Seen is every image observed during the run, by id (lineage and ownership of
	// images since deleted).
	Seen map[string]ecs.Image
	// HandDeleted are the images the scenario deleted by hand (sabotage).
	HandDeleted map[string]bool
	// Catalog per destination region, read through pkg/catalog; CatalogErr when unreadable.
	Catalog     map[string][]catalog.Entry
	CatalogErr  map[string]error
	Deletions   []Violation // the audit's verdicts on every product deletion
	Invocations []InvocationRecord
}

// Check returns every violation of st. It reads nothing but st.
func Check(st *State) []Violation {
	sc := st.Scenario
	var out []Violation
	add := func(inv, format string, args ...any) {
		out = append(out, Violation{Invariant: inv, Detail: fmt.Sprintf(format, args...)})
	}
	pol := sc.PolicyName
	policyRegs := map[string]bool{}
	for _, r := range sc.Sources {
		policyRegs[r] = true
	}
	var dests []string
	for _, d := range sc.Destinations {
		policyRegs[d.Region] = true
		dests = append(dests, d.Region)
	}
	inUse := map[string]bool{}
	for _, in := range st.Instances {
		if in.ImageID != "" {
			inUse[in.RegionID+"/"+in.ImageID] = true
		}
	}
	exists := map[string]ecs.Image{}
	for _, im := range st.Images {
		exists[im.RegionID+"/"+im.ID] = im
	}

	// At most one non-failed image per (instance, slot) and per (source image, destination).
	slots, copies := map[string][]string{}, map[string][]string{}
	for _, im := range st.Images {
		if !ours(im, pol) || failed(im) {
			continue
		}
		switch im.Tags[policy.TagRole] {
		case policy.RoleSource:
			k := im.RegionID + " " + im.Tags[policy.TagSourceInstance] + " slot " + im.Tags[policy.TagSlot]
			slots[k] = append(slots[k], im.ID)
		case policy.RoleCopy:
			k := im.RegionID + " copy of " + im.Tags[policy.TagSourceImage]
			copies[k] = append(copies[k], im.ID)
		}
	}
	for _, k := range sortedKeys(slots) {
		if ids := slots[k]; len(ids) > 1 {
			add(InvOneImagePerSlot, "%s: %d images %v", k, len(ids), ids)
		}
	}
	for _, k := range sortedKeys(copies) {
		if ids := copies[k]; len(ids) > 1 {
			add(InvOneCopyPerDest, "%s: %d copies %v", k, len(ids), ids)
		}
	}

	// Every protected, imageable instance: its newest source image copied to every
	// destination, and the catalog of every destination names an Available image of it.
	for _, in := range st.Instances {
		if !protectedInstance(sc, in.ID) || !imageable(in) {
			continue
		}
		var newest *ecs.Image
		for i, im := range st.Images {
			if im.RegionID == in.RegionID && ours(im, pol) && im.Status == "Available" &&
				im.Tags[policy.TagRole] == policy.RoleSource && im.Tags[policy.TagSourceInstance] == in.ID &&
				(newest == nil || im.CreationTime.After(newest.CreationTime)) {
				newest = &st.Images[i]
			}
		}
		if newest == nil {
			add(InvNewestCopied, "protected instance %s (%s) has no Available source image", in.ID, in.Status)
		} else {
			for _, d := range dests {
				found := false
				for _, im := range st.Images {
					if im.RegionID == d && ours(im, pol) && im.Status == "Available" && im.Tags[policy.TagSourceImage] == newest.ID {
						found = true
					}
				}
				if !found {
					add(InvNewestCopied, "instance %s: newest source image %s has no Available copy in %s", in.ID, newest.ID, d)
				}
			}
		}
		for _, d := range dests {
			if err := st.CatalogErr[d]; err != nil {
				add(InvCatalog, "instance %s: catalog in %s unreadable: %v", in.ID, d, err)
				continue
			}
			var entry *catalog.Entry
			for i, e := range st.Catalog[d] {
				if e.InstanceID == in.ID && e.Region == d {
					entry = &st.Catalog[d][i]
				}
			}
			switch {
			case entry == nil:
				add(InvCatalog, "instance %s: no catalog entry for %s", in.ID, d)
			case exists[d+"/"+entry.ImageID].Status != "Available":
				add(InvCatalog, "instance %s: catalog in %s names %s, which is %q", in.ID, d, entry.ImageID,
					statusOr(exists[d+"/"+entry.ImageID].Status, "gone"))
			}
		}
	}

	out = append(out, st.Deletions...)

	// No snapshot of ours left without its image (unless the image was deleted by hand).
	for _, sn := range st.Snapshots {
		if sn.ImageID == "" {
			continue
		}
		if _, ok := exists[sn.RegionID+"/"+sn.ImageID]; ok {
			continue
		}
		if was, ok := st.Seen[sn.ImageID]; ok && ours(was, pol) && !st.HandDeleted[sn.ImageID] {
			add(InvNoOrphanSnapshot, "snapshot %s in %s outlived its image %s", sn.ID, sn.RegionID, sn.ImageID)
		}
	}

	// Retention bounds at the last cleanup: every image of ours still there is kept by a
	// rule or protected; failed images were collected.
	groups := map[string][]ecs.Image{}
	for _, im := range st.Images {
		if ours(im, pol) && im.Status == "Available" && policyRegs[im.RegionID] {
			groups[groupKey(im)] = append(groups[groupKey(im)], im)
		}
	}
	for _, k := range sortedKeys(groups) {
		g := groups[k]
		rule, _ := sc.RuleFor(g[0].RegionID)
		kept := keptByRule(g, rule, st.ModelNow, sc.Location(), st.Seen)
		for _, im := range g {
			if _, ok := kept[im.ID]; ok || im.CreationTime.After(st.ModelNow) {
				continue
			}
			if protection(im, pol, policyRegs, inUse, st.Images) != "" {
				continue
			}
			add(InvRetention, "%s (%s, data of %s) is kept past its rules %+v at %s", im.ID, k,
				dataTime(im, st.Seen).UTC().Format(time.RFC3339), rule, st.ModelNow.UTC().Format(time.RFC3339))
		}
	}
	for _, im := range st.Images {
		if ours(im, pol) && failed(im) && policyRegs[im.RegionID] && !im.CreationTime.After(st.ModelNow) &&
			protection(im, pol, policyRegs, inUse, st.Images) == "" {
			add(InvRetention, "failed image %s in %s (%s) was never collected", im.ID, im.RegionID, im.Status)
		}
	}

	for _, r := range st.Invocations {
		if r.Panicked {
			add(InvNoPanic, "%s %s panicked", r.Function, r.RequestID)
		}
		switch {
		case !r.Started:
			add(InvRecords, "%s %s left no start record", r.Function, r.RequestID)
		case !r.Killed && !r.Finished:
			add(InvRecords, "%s %s ended without its final record", r.Function, r.RequestID)
		}
	}
	return out
}

func protectedInstance(sc *Scenario, id string) bool {
	for _, in := range sc.Instances {
		if in.Seed.ID == id {
			return in.Protected
		}
	}
	return false
}

// imageable: CreateImage can succeed on it (running or stopped, not locked, not failing).
func imageable(in ecs.Instance) bool {
	return (in.Status == "Running" || in.Status == "Stopped") && in.LockReason == "" && !in.FailImages
}

func statusOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
