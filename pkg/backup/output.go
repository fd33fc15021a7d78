package backup

import (
	"fmt"
	"unicode/utf8"
)

// Bounded output: what a run records and returns grows with the decisions that matter
// (creates, copies, deletes, failures), not with what it leaves alone. Per-image "keep"
// records go to debug; one summary record per region and instance group says how many
// images (and of how many instances) were kept, and why (keepsummary.go). Summaries
// hold at most maxListed items of the lists that grow with the fleet, error strings name
// at most maxNamed items and a reason is at most maxReason bytes.
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
	}
	if c.counts[list] == nil {
		c.counts[list] = map[string]int{}
	}
	c.counts[list][it.Region]++
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

// CapString cuts s to at most n bytes (on a rune boundary) and says how much was cut
// (error strings, reasons and configured payloads quoted in records).
func CapString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d more bytes)", s[:cut], len(s)-cut)
}
