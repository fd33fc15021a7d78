package backup

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"unicode/utf8"
)

// Bounded output: what a run records and returns grows with the decisions that matter
// (creates, copies, deletes, failures), not with what it leaves alone. Per-image "keep"
// records go to debug; one summary record per region says how many images (and of how
// many instances) were kept. Summaries hold at most maxListed items of the lists that
// grow with the fleet, error strings name at most maxNamed items and a reason is at most
// maxReason bytes.
const (
	maxListed = 100
	maxNamed  = 20
	maxReason = 512
)

// cappedLists grow with the fleet, not with decisions.
var cappedLists = map[string]bool{"kept": true, "skipped": true, "rejected": true}

// count notes one item of list; c.mu is held.
func (c *collector) count(list string, it Item) {
	if c.counts == nil {
		c.counts = map[string]map[string]int{}
		c.insts = map[string]map[string]map[string]bool{}
	}
	if c.counts[list] == nil {
		c.counts[list] = map[string]int{}
		c.insts[list] = map[string]map[string]bool{}
	}
	c.counts[list][it.Region]++
	if it.Instance != "" && cappedLists[list] {
		if c.insts[list][it.Region] == nil {
			c.insts[list][it.Region] = map[string]bool{}
		}
		c.insts[list][it.Region][it.Instance] = true
	}
}

// omitted returns, per capped list, how many items its summary list leaves out; nil when
// none were.
func (c *collector) omitted() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out map[string]int
	for list := range cappedLists {
		total := 0
		for _, n := range c.counts[list] {
			total += n
		}
		if rest := total - len(c.lists[list]); rest > 0 {
			if out == nil {
				out = map[string]int{}
			}
			out[list] = rest
		}
	}
	return out
}

// summarize writes one record per region for list: how many items, of how many instances.
func (r *run) summarize(ctx context.Context, c *collector, list, action string) {
	c.mu.Lock()
	regions := make([]string, 0, len(c.counts[list]))
	for reg := range c.counts[list] {
		regions = append(regions, reg)
	}
	slices.Sort(regions)
	type row struct {
		region     string
		items, ins int
	}
	rows := make([]row, 0, len(regions))
	for _, reg := range regions {
		rows = append(rows, row{reg, c.counts[list][reg], len(c.insts[list][reg])})
	}
	c.mu.Unlock()
	for _, w := range rows {
		r.log.LogAttrs(ctx, slog.LevelInfo, action+" summary",
			slog.String("action", action), slog.String("region", w.region), slog.String("result", ResultOK),
			slog.Int("count", w.items), slog.Int("instances", w.ins),
			slog.String("reason", fmt.Sprintf("%d %s for %d instances (each at debug level)", w.items, list, w.ins)))
	}
}

// capString cuts s to at most n bytes (on a rune boundary) and says how much was cut.
func capString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d more bytes)", s[:cut], len(s)-cut)
}
