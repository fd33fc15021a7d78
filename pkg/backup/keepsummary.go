package backup

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/ecsdr/ecs-image-dr/pkg/policy"
	"github.com/ecsdr/ecs-image-dr/pkg/retention"
)

// Keep summaries. Most images stay on most cleanup runs: each kept image is a debug
// record, and the run writes one info record per (region, instance group), with how many
// images of how many instances it kept and why, counted by reason class. An instance
// group is the policy source the instance belongs to: its source region (the image's
// TagSourceRegion) and the sources[] entry of that region. The number of records is
// bounded by the policy (regions × sources), never by the fleet, and capped at maxListed.
const (
	// maxReasonClasses bounds the reasons counted per record; the rest are "other".
	maxReasonClasses = 8
	groupUnknown     = "unknown (image has no source-region tag)"
	groupOther       = "other groups"
)

type keepKey struct{ region, sourceRegion string }

type keepCount struct {
	images    int
	instances map[string]struct{}
	reasons   map[string]int
}

// addKept lists it as kept and counts it in its (region, instance group). sourceRegion is
// the region of the instance the image protects ("" when unknown).
func (c *collector) addKept(it Item, sourceRegion string) {
	c.add("kept", it)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keeps == nil {
		c.keeps = map[keepKey]*keepCount{}
	}
	k := keepKey{it.Region, sourceRegion}
	kc := c.keeps[k]
	if kc == nil {
		kc = &keepCount{instances: map[string]struct{}{}, reasons: map[string]int{}}
		c.keeps[k] = kc
	}
	kc.images++
	if it.Instance != "" {
		kc.instances[it.Instance] = struct{}{}
	}
	for _, r := range strings.Split(it.Reason, "; ") {
		kc.reasons[reasonClass(r)]++
	}
}

// reasonClass is a reason without what varies per image (ids, dates, ordinals), so the
// classes of a run are few: "keepLast 7 (#2)" → "keepLast 7", "in use by i-1" → "in use",
// "daily 7 (2026-11-20)" → "daily 7", "refused: still Creating" stays.
func reasonClass(r string) string {
	r = strings.TrimSpace(r)
	if r == "" {
		return "unspecified"
	}
	prefix := ""
	if rest, ok := strings.CutPrefix(r, "refused: "); ok {
		prefix, r = "refused: ", rest
	}
	for _, sep := range []string{" (", " by ", ": "} {
		if i := strings.Index(r, sep); i > 0 {
			r = r[:i]
		}
	}
	return CapString(prefix+r, 80)
}

// groupName names the policy source of sourceRegion: "sources[2]", "sources[1,3]" when
// several entries share the region, or why there is none.
func groupName(pol *policy.Policy, sourceRegion string) string {
	if sourceRegion == "" {
		return groupUnknown
	}
	var idx []string
	for i, s := range pol.Sources {
		if s.Region == sourceRegion {
			idx = append(idx, strconv.Itoa(i))
		}
	}
	if len(idx) == 0 {
		return "none (source region not in the policy)"
	}
	return "sources[" + strings.Join(idx, ",") + "]"
}

// summarizeKept writes the keep summary records: one per (region, instance group), sorted,
// at most maxListed (the rest summed in one "other groups" record).
func (r *run) summarizeKept(ctx context.Context, c *collector) {
	type row struct {
		keepKey
		images, instances int
		reasons           map[string]int
	}
	c.mu.Lock()
	rows := make([]row, 0, len(c.keeps))
	for k, kc := range c.keeps {
		rows = append(rows, row{k, kc.images, len(kc.instances), kc.reasons})
	}
	c.mu.Unlock()
	slices.SortFunc(rows, func(a, b row) int {
		return cmp.Or(cmp.Compare(a.region, b.region), cmp.Compare(a.sourceRegion, b.sourceRegion))
	})
	if len(rows) > maxListed {
		rest := row{keepKey: keepKey{region: "*", sourceRegion: "*"}, reasons: map[string]int{}}
		for _, w := range rows[maxListed-1:] {
			rest.images += w.images
			rest.instances += w.instances
			for k, n := range w.reasons {
				rest.reasons[k] += n
			}
		}
		rows = append(rows[:maxListed-1], rest)
	}
	for _, w := range rows {
		group := groupName(r.pol, w.sourceRegion)
		if w.region == "*" {
			group = groupOther
		}
		reasons := boundReasons(w.reasons)
		r.log.LogAttrs(ctx, slog.LevelInfo, "keep summary",
			slog.String("action", "keep"), slog.String("region", w.region), slog.String("result", ResultOK),
			slog.String("group", group), slog.String("source_region", w.sourceRegion),
			slog.Int("count", w.images), slog.Int("instances", w.instances), slog.Any("reasons", reasons),
			slog.String("reason", fmt.Sprintf("%d kept for %d instances of %s (source region %s); each at debug level",
				w.images, w.instances, group, cmp.Or(w.sourceRegion, "unknown"))))
	}
}

// boundReasons keeps the maxReasonClasses most frequent classes and sums the rest as "other".
func boundReasons(m map[string]int) map[string]int {
	if len(m) <= maxReasonClasses {
		return m
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b)) })
	out := make(map[string]int, maxReasonClasses)
	for i, k := range keys {
		if i < maxReasonClasses-1 {
			out[k] = m[k]
		} else {
			out["other"] += m[k]
		}
	}
	return out
}

// keptSourceRegion is the region of the instance im protects: its TagSourceRegion, else
// its own region for a source image.
func keptSourceRegion(im retention.Image) string {
	if im.SourceRegion != "" || im.Role != policy.RoleSource {
		return im.SourceRegion
	}
	return im.Region
}
