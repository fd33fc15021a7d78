package policy

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultRetryBudget is how many attempts an image gets per slot (sources) or per source
// image and destination (copies) before the product stops retrying until the next slot.
const DefaultRetryBudget = 3

// SlotTime parses a slot name ("20261123" or "20261123T0200") back into the instant its
// slot starts, in the policy timezone. Slots are compared through it, never as strings: a
// change of timezone or slotInterval changes the string form, not the order of instants.
func (p *Policy) SlotTime(slot string) (time.Time, error) {
	loc := p.Location()
	for _, layout := range []string{"20060102T1504", "20060102"} {
		if len(slot) == len(layout) {
			if t, err := time.ParseInLocation(layout, slot, loc); err == nil {
				return t, nil
			}
		}
	}
	return time.Time{}, fmt.Errorf("slot %q: not YYYYMMDD or YYYYMMDDThhmm", slot)
}

// CompareSlots orders two slot names by the instant they start: -1 when a is older. A slot
// that does not parse (a tag edited by hand) sorts before every valid one, so it can never
// pass for the newest; two invalid ones compare as strings so the order stays total.
func (p *Policy) CompareSlots(a, b string) int {
	ta, ea := p.SlotTime(a)
	tb, eb := p.SlotTime(b)
	switch {
	case ea != nil && eb != nil:
		return strings.Compare(a, b)
	case ea != nil:
		return -1
	case eb != nil:
		return 1
	}
	return ta.Compare(tb)
}

// Attempt reads the attempt number of an image's tags (1 when absent or invalid).
func Attempt(tags map[string]string) int {
	if n, err := strconv.Atoi(tags[TagAttempt]); err == nil && n > 1 {
		return n
	}
	return 1
}

// AttemptName is the name of attempt n of an image whose first attempt is named name: the
// name itself for n ≤ 1, else name with "-r<n>" (still a valid, unique ECS name).
func AttemptName(name string, n int) string {
	if n <= 1 {
		return name
	}
	suffix := fmt.Sprintf("-r%d", n)
	if len(name)+len(suffix) > maxNameLen {
		name = name[:maxNameLen-len(suffix)]
	}
	return name + suffix
}

// AttemptClientToken is the CreateImage token of attempt n of one instance and slot: the
// slot's ClientToken for the first attempt, a different one for every retry (the failed
// image's token would otherwise return the failed image).
func (p *Policy) AttemptClientToken(instanceID, slot string, n int) string {
	if n <= 1 {
		return p.ClientToken(instanceID, slot)
	}
	return token("create", p.Name, instanceID, slot, strconv.Itoa(n))
}

// DataTime is when an image's data was captured: TagDataTime when it parses, else created
// (a source's own CreationTime, which is its data time).
func DataTime(tags map[string]string, created time.Time) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, tags[TagDataTime]); err == nil {
		return t.UTC()
	}
	return created.UTC()
}

// CompareData orders two images by data age: data time, then slot (through CompareSlots),
// then id (the smaller id counting as newer, so equal images order the same on every
// run). It returns -1 when a holds older data than b.
func (p *Policy) CompareData(aTime time.Time, aSlot, aID string, bTime time.Time, bSlot, bID string) int {
	return cmp.Or(aTime.Compare(bTime), p.CompareSlots(aSlot, bSlot), cmp.Compare(bID, aID))
}

// BackfillLimit is how many of an instance's newest source images a destination with no
// copy of that instance receives: Destination.Backfill (default 1), at most what the
// region's rule keeps by count (keepLast + daily + weekly + monthly); a keepDays-only rule
// does not cap the count (the caller drops images older than keepDays). 0 for a region
// that is not a destination.
func (p *Policy) BackfillLimit(region string) int {
	for _, d := range p.Destinations {
		if d.Region != region {
			continue
		}
		n := max(d.Backfill, 1)
		rule, _ := p.RuleFor(region)
		if kept := rule.KeepLast + rule.Daily + rule.Weekly + rule.Monthly; kept > 0 {
			n = min(n, kept)
		}
		return max(n, 1)
	}
	return 0
}
