// Package timer implements Function Compute timer triggers on the local cloud's clock:
// FC's cron dialect (Parse) and a scheduler that fires triggers as the simulated time
// passes (Scheduler).
package timer

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	// Embedded zone database: CRON_TZ must resolve the same way on minimal hosts and
	// containers without /usr/share/zoneinfo.
	_ "time/tzdata"
)

// Schedule yields the fire times of a trigger.
type Schedule interface {
	// Next returns the first fire time strictly after after, or the zero time when the
	// schedule never fires again (within a five-year search horizon).
	Next(after time.Time) time.Time
}

// Parse reads an FC timer expression. FC's dialect (time-triggers doc):
//
//   - six fields "Seconds Minutes Hours Day-of-month Month Day-of-week", default zone UTC;
//   - an optional "CRON_TZ=<IANA zone> " prefix;
//   - "@every <duration>" (Go duration syntax, e.g. 5m, 1h30m). The console and API
//     express intervals in whole minutes, so anything else is rejected here;
//   - special characters "," "-" "*" "/" in every field, "?" (= "*") in the two day fields;
//   - months 1-12 or JAN-DEC; weekdays 1-7 or MON-SUN (FC doc), and also 0 = Sunday as in
//     robfig/cron, the library FC's syntax comes from. Names are case-insensitive.
//
// When both day fields are restricted a day matches if either does (classic cron, robfig);
// when one of them is "*" or "?" only the other one counts.
//
// Wall times that do not exist in CRON_TZ (spring-forward gap) are skipped; wall times that
// occur twice (fall-back) fire twice. FC documents both effects for DST zones.
func Parse(expr string) (Schedule, error) {
	s, err := parse(expr)
	if err != nil {
		return nil, fmt.Errorf("cron %q: %w", expr, err)
	}
	return s, nil
}

func parse(expr string) (Schedule, error) {
	rest := strings.TrimSpace(expr)
	if rest == "" {
		return nil, errors.New("empty expression")
	}
	loc := time.UTC
	if strings.HasPrefix(rest, "CRON_TZ=") {
		spec, after, _ := strings.Cut(rest, " ")
		_, name, _ := strings.Cut(spec, "=")
		if name == "" {
			return nil, errors.New("CRON_TZ: missing zone name")
		}
		l, err := time.LoadLocation(name)
		if err != nil {
			return nil, fmt.Errorf("CRON_TZ: unknown zone %q", name)
		}
		loc = l
		rest = strings.TrimSpace(after)
		if rest == "" {
			return nil, errors.New("missing fields after CRON_TZ")
		}
	}
	if strings.HasPrefix(rest, "@") {
		return parseDescriptor(rest)
	}
	fields := strings.Fields(rest)
	if len(fields) != 6 {
		return nil, fmt.Errorf("expected 6 fields (Seconds Minutes Hours Day-of-month Month Day-of-week), got %d", len(fields))
	}
	s := &cronSchedule{loc: loc}
	var err error
	for i, b := range bounds {
		var bits uint64
		var star bool
		if bits, star, err = parseField(fields[i], b); err != nil {
			return nil, fmt.Errorf("%s: %w", b.name, err)
		}
		switch i {
		case 0:
			s.sec = bits
		case 1:
			s.min = bits
		case 2:
			s.hour = bits
		case 3:
			s.dom, s.domStar = bits, star
		case 4:
			s.month = bits
		case 5:
			// Sunday may be written 0 or 7; keep it on bit 0 only, as time.Weekday counts.
			if bits&(1<<7) != 0 {
				bits = bits&^(1<<7) | 1
			}
			s.dow, s.dowStar = bits, star
		}
	}
	if err := s.checkReachable(); err != nil {
		return nil, err
	}
	return s, nil
}

func parseDescriptor(d string) (Schedule, error) {
	arg, ok := strings.CutPrefix(d, "@every ")
	if !ok {
		return nil, fmt.Errorf("unsupported descriptor %q (FC accepts only @every <interval>)", d)
	}
	arg = strings.TrimSpace(arg)
	dur, err := time.ParseDuration(arg)
	if err != nil {
		return nil, fmt.Errorf("@every: invalid interval %q", arg)
	}
	if dur < time.Minute || dur%time.Minute != 0 {
		return nil, fmt.Errorf("@every: interval %s must be a whole number of minutes, at least 1m", arg)
	}
	return everySchedule{d: dur}, nil
}

// everySchedule fires every d after the previous fire (first fire d after the trigger is
// armed), on whole seconds like robfig/cron's ConstantDelaySchedule.
type everySchedule struct{ d time.Duration }

func (e everySchedule) Next(after time.Time) time.Time {
	return after.Add(e.d - time.Duration(after.Nanosecond()))
}

type fieldBounds struct {
	name     string
	min, max int
	names    map[string]int
	question bool // "?" allowed
}

var bounds = [6]fieldBounds{
	{name: "seconds", min: 0, max: 59},
	{name: "minutes", min: 0, max: 59},
	{name: "hours", min: 0, max: 23},
	{name: "day-of-month", min: 1, max: 31, question: true},
	{name: "month", min: 1, max: 12, names: map[string]int{
		"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6,
		"JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12,
	}},
	{name: "day-of-week", min: 0, max: 7, question: true, names: map[string]int{
		"MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6, "SUN": 7,
	}},
}

// parseField returns the bitset of allowed values and whether the field is unrestricted
// ("*" or "?").
func parseField(f string, b fieldBounds) (uint64, bool, error) {
	if f == "?" {
		if !b.question {
			return 0, false, errors.New(`"?" is only allowed in day-of-month and day-of-week`)
		}
		return rangeBits(b.min, b.max, 1), true, nil
	}
	if f == "*" {
		return rangeBits(b.min, b.max, 1), true, nil
	}
	var bits uint64
	for _, part := range strings.Split(f, ",") {
		p, err := parsePart(part, b)
		if err != nil {
			return 0, false, err
		}
		bits |= p
	}
	return bits, false, nil
}

func parsePart(part string, b fieldBounds) (uint64, error) {
	if part == "" {
		return 0, errors.New("empty list element")
	}
	rng, stepStr, hasStep := strings.Cut(part, "/")
	step := 1
	if hasStep {
		n, err := strconv.Atoi(stepStr)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("step %q must be a positive integer", stepStr)
		}
		step = n
	}
	var lo, hi int
	switch {
	case rng == "*" || (rng == "?" && b.question):
		lo, hi = b.min, b.max
		if b.name == "day-of-week" {
			hi = 6 // "*/2" over 0-7 would count Sunday twice
		}
	case rng == "?":
		return 0, errors.New(`"?" is only allowed in day-of-month and day-of-week`)
	default:
		a, z, isRange := strings.Cut(rng, "-")
		var err error
		if lo, err = value(a, b); err != nil {
			return 0, err
		}
		hi = lo
		if isRange {
			if hi, err = value(z, b); err != nil {
				return 0, err
			}
			if hi < lo {
				return 0, fmt.Errorf("range %s runs backwards (%d > %d)", rng, lo, hi)
			}
		} else if hasStep {
			// "5/20" means from 5 to the field's maximum in steps of 20.
			hi = b.max
		}
	}
	return rangeBits(lo, hi, step), nil
}

func value(s string, b fieldBounds) (int, error) {
	if s == "" {
		return 0, errors.New("missing value in range")
	}
	if v, ok := b.names[strings.ToUpper(s)]; ok {
		return v, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		if b.names != nil {
			return 0, fmt.Errorf("%q is neither a number nor a known name", s)
		}
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if n < b.min || n > b.max {
		return 0, fmt.Errorf("%d out of range %d-%d", n, b.min, b.max)
	}
	return n, nil
}

func rangeBits(lo, hi, step int) uint64 {
	var bits uint64
	for v := lo; v <= hi; v += step {
		bits |= 1 << uint(v)
	}
	return bits
}

type cronSchedule struct {
	loc                        *time.Location
	sec, min, hour, dom, month uint64
	dow                        uint64
	domStar, dowStar           bool
}

var daysInMonth = [13]int{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

// checkReachable rejects day-of-month/month combinations that can never occur
// ("0 0 0 30 2 *"), which would otherwise silently never fire.
func (s *cronSchedule) checkReachable() error {
	if s.domStar || !s.dowStar {
		return nil // some weekday always matches, or any day does
	}
	for m := 1; m <= 12; m++ {
		if s.month&(1<<uint(m)) == 0 {
			continue
		}
		for d := 1; d <= daysInMonth[m]; d++ {
			if s.dom&(1<<uint(d)) != 0 {
				return nil
			}
		}
	}
	return errors.New("day-of-month never occurs in the selected months")
}

func (s *cronSchedule) dayMatches(t time.Time) bool {
	if s.month&(1<<uint(t.Month())) == 0 {
		return false
	}
	domOK := s.dom&(1<<uint(t.Day())) != 0
	dowOK := s.dow&(1<<uint(t.Weekday())) != 0
	switch {
	case s.domStar && s.dowStar:
		return true
	case s.domStar:
		return dowOK
	case s.dowStar:
		return domOK
	default:
		return domOK || dowOK
	}
}

// horizon bounds the search; "29 FEB" on a given weekday can be decades away, robfig
// gives up after five years too.
const horizonDays = 5 * 366

// Next works on "naive" wall times (the zone's wall clock expressed as a UTC time) day by
// day, and maps each matching wall time back to instants per zone period with
// ZoneBounds, so DST gaps and repeats come out exactly.
func (s *cronSchedule) Next(after time.Time) time.Time {
	a := after.In(s.loc)
	// Start a day early: after a fall-back across midnight, the previous local date recurs.
	day := time.Date(a.Year(), a.Month(), a.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
	for i := 0; i < horizonDays; i++ {
		if s.month&(1<<uint(day.Month())) == 0 {
			// Jump to the first of the next month.
			day = time.Date(day.Year(), day.Month()+1, 1, 0, 0, 0, 0, time.UTC)
			continue
		}
		if s.dayMatches(day) {
			if t, ok := s.firstInDay(day, after); ok {
				return t
			}
		}
		day = day.AddDate(0, 0, 1)
	}
	return time.Time{}
}

// firstInDay finds the earliest instant > after whose wall time lies on naive day day.
func (s *cronSchedule) firstInDay(day, after time.Time) (time.Time, bool) {
	dayEnd := day.Add(24 * time.Hour)
	// Offsets range from -12h to +14h, so this instant precedes the local day's start.
	p := day.Add(-26 * time.Hour)
	var best time.Time
	for range 8 { // zone periods overlapping one day; real zones have at most two or three
		lt := p.In(s.loc)
		_, off := lt.Zone()
		offset := time.Duration(off) * time.Second
		start, end := lt.ZoneBounds()
		// This period covers naive wall times [start+offset, end+offset).
		lo, hi := day, dayEnd
		if !start.IsZero() {
			if n := naive(start, offset); n.After(lo) {
				lo = n
			}
		}
		if !end.IsZero() {
			if n := naive(end, offset); n.Before(hi) {
				hi = n
			}
		}
		// Wall time w maps to instant w-offset, which must be > after.
		if n := naive(after, offset).Truncate(time.Second).Add(time.Second); n.After(lo) {
			lo = n
		}
		if lo.Before(hi) {
			if w, ok := s.firstTimeOfDay(day, lo, hi); ok {
				inst := time.Unix(w.Unix()-int64(off), 0).UTC()
				if best.IsZero() || inst.Before(best) {
					best = inst
				}
			}
		}
		// Offsets are >= -12h: a period starting at or after dayEnd+12h begins on a later day.
		if end.IsZero() || !end.Before(dayEnd.Add(12*time.Hour)) {
			break
		}
		p = end
	}
	return best, !best.IsZero()
}

// naive expresses instant t as wall time at offset, in a UTC time value.
func naive(t time.Time, offset time.Duration) time.Time {
	return t.UTC().Add(offset)
}

// firstTimeOfDay returns the earliest matching wall time w on day with lo <= w < hi.
func (s *cronSchedule) firstTimeOfDay(day, lo, hi time.Time) (time.Time, bool) {
	from := int(lo.Sub(day) / time.Second)
	if from < 0 {
		from = 0
	}
	h0, m0, s0 := from/3600, from/60%60, from%60
	for h := h0; h < 24; h++ {
		if s.hour&(1<<uint(h)) == 0 {
			continue
		}
		mStart := 0
		if h == h0 {
			mStart = m0
		}
		for m := mStart; m < 60; m++ {
			if s.min&(1<<uint(m)) == 0 {
				continue
			}
			sStart := 0
			if h == h0 && m == m0 {
				sStart = s0
			}
			for sec := sStart; sec < 60; sec++ {
				if s.sec&(1<<uint(sec)) == 0 {
					continue
				}
				w := day.Add(time.Duration(h*3600+m*60+sec) * time.Second)
				if !w.Before(hi) {
					return time.Time{}, false
				}
				return w, true
			}
		}
	}
	return time.Time{}, false
}
