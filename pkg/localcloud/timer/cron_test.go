package timer

import (
	"strings"
	"testing"
	"time"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return v
}

// fires lists the first n fire times after from, in UTC RFC3339.
func fires(t *testing.T, s Schedule, from time.Time, n int) []string {
	t.Helper()
	var out []string
	at := from
	for range n {
		at = s.Next(at)
		if at.IsZero() {
			out = append(out, "never")
			break
		}
		out = append(out, at.UTC().Format(time.RFC3339))
	}
	return out
}

func TestNext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		expr string
		from string
		want []string
	}{
		{"daily 02:00 Shanghai is 18:00 UTC", "CRON_TZ=Asia/Shanghai 0 0 2 * * *", "2026-01-01T00:00:00Z",
			[]string{"2026-01-01T18:00:00Z", "2026-01-02T18:00:00Z"}},
		{"default zone is UTC", "0 0 4 * * *", "2026-01-01T04:00:00Z",
			[]string{"2026-01-02T04:00:00Z"}},
		{"strictly after", "0 0 4 * * *", "2026-01-01T03:59:59.5Z",
			[]string{"2026-01-01T04:00:00Z", "2026-01-02T04:00:00Z"}},
		{"seconds step", "*/20 * * * * *", "2026-01-01T00:00:05Z",
			[]string{"2026-01-01T00:00:20Z", "2026-01-01T00:00:40Z", "2026-01-01T00:01:00Z"}},
		{"start/step", "0 5/20 * * * *", "2026-01-01T00:00:00Z",
			[]string{"2026-01-01T00:05:00Z", "2026-01-01T00:25:00Z", "2026-01-01T00:45:00Z", "2026-01-01T01:05:00Z"}},
		{"range/step", "0 0 9-17/4 * * *", "2026-01-01T00:00:00Z",
			[]string{"2026-01-01T09:00:00Z", "2026-01-01T13:00:00Z", "2026-01-01T17:00:00Z", "2026-01-02T09:00:00Z"}},
		{"list", "0 0 1,3 * * *", "2026-01-01T02:00:00Z",
			[]string{"2026-01-01T03:00:00Z", "2026-01-02T01:00:00Z"}},
		{"31st skips short months", "0 0 0 31 * *", "2026-01-31T00:00:00Z",
			[]string{"2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z"}},
		{"29 Feb waits for leap year", "0 0 0 29 2 ?", "2025-01-01T00:00:00Z",
			[]string{"2028-02-29T00:00:00Z"}},
		{"month end via list across year", "0 0 12 30,31 DEC *", "2026-12-31T12:00:00Z",
			[]string{"2027-12-30T12:00:00Z"}},
		{"? in day-of-month with weekday name", "0 0 12 ? * MON", "2026-03-04T00:00:00Z", // a Wednesday
			[]string{"2026-03-09T12:00:00Z", "2026-03-16T12:00:00Z"}},
		{"lowercase names and ranges", "0 0 0 1 jan-mar *", "2026-01-01T00:00:00Z",
			[]string{"2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z", "2027-01-01T00:00:00Z"}},
		{"weekday range", "0 0 8 * * MON-FRI", "2026-03-06T09:00:00Z", // Friday after 08:00
			[]string{"2026-03-09T08:00:00Z", "2026-03-10T08:00:00Z"}},
		{"Sunday as 7", "0 0 0 * * 7", "2026-03-01T00:00:00Z", // a Sunday
			[]string{"2026-03-08T00:00:00Z"}},
		{"Sunday as 0", "0 0 0 * * 0", "2026-03-01T00:00:00Z",
			[]string{"2026-03-08T00:00:00Z"}},
		{"Sunday as SUN", "0 0 0 * * SUN", "2026-03-01T00:00:00Z",
			[]string{"2026-03-08T00:00:00Z"}},
		{"both day fields restricted: either matches", "0 0 0 13 * FRI", "2026-03-01T00:00:00Z",
			[]string{"2026-03-06T00:00:00Z", "2026-03-13T00:00:00Z", "2026-03-20T00:00:00Z"}},
		{"spring forward: nonexistent 02:30 skipped", "CRON_TZ=America/New_York 0 30 2 * * *", "2026-03-07T12:00:00Z",
			[]string{"2026-03-09T06:30:00Z", "2026-03-10T06:30:00Z"}},
		{"spring forward: 03:30 exists", "CRON_TZ=America/New_York 0 30 3 * * *", "2026-03-07T12:00:00Z",
			[]string{"2026-03-08T07:30:00Z", "2026-03-09T07:30:00Z"}},
		{"fall back: repeated 01:30 fires twice", "CRON_TZ=America/New_York 0 30 1 * * *", "2026-11-01T05:00:00Z",
			[]string{"2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z", "2026-11-02T06:30:00Z"}},
		{"fall back: hourly keeps going", "CRON_TZ=Europe/Berlin 0 0 * * * *", "2026-10-25T00:00:00Z",
			[]string{"2026-10-25T01:00:00Z", "2026-10-25T02:00:00Z", "2026-10-25T03:00:00Z"}},
		{"every 5m", "@every 5m", "2026-01-01T00:00:00Z",
			[]string{"2026-01-01T00:05:00Z", "2026-01-01T00:10:00Z"}},
		{"every 1h30m", "@every 1h30m", "2026-01-01T00:00:00Z",
			[]string{"2026-01-01T01:30:00Z", "2026-01-01T03:00:00Z"}},
		{"every with CRON_TZ", "CRON_TZ=Asia/Shanghai @every 1m", "2026-01-01T00:00:00Z",
			[]string{"2026-01-01T00:01:00Z"}},
		{"extra spaces", "  0  0   2 * * *  ", "2026-01-01T00:00:00Z",
			[]string{"2026-01-01T02:00:00Z"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := Parse(tc.expr)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.expr, err)
			}
			got := fires(t, s, mustTime(t, tc.from), len(tc.want))
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("Parse(%q) fires after %s:\n got  %v\n want %v", tc.expr, tc.from, got, tc.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr, want string
	}{
		{"", `cron "": empty expression`},
		{"0 0 25 * * *", `cron "0 0 25 * * *": hours: 25 out of range 0-23`},
		{"60 * * * * *", `seconds: 60 out of range 0-59`},
		{"0 0 0 0 * *", `day-of-month: 0 out of range 1-31`},
		{"0 0 0 * 13 *", `month: 13 out of range 1-12`},
		{"0 0 0 * * 8", `day-of-week: 8 out of range 0-7`},
		{"0 0 * * *", `expected 6 fields`},
		{"0 0 0 * * * 2026", `expected 6 fields`},
		{"0 ? * * * *", `minutes: "?" is only allowed in day-of-month and day-of-week`},
		{"0 */0 * * * *", `minutes: step "0" must be a positive integer`},
		{"0 */x * * * *", `minutes: step "x" must be a positive integer`},
		{"0 5-3 * * * *", `minutes: range 5-3 runs backwards (5 > 3)`},
		{"0 0 0 * * FRI-MON", `day-of-week: range FRI-MON runs backwards`},
		{"0 0 0 * FOO *", `month: "FOO" is neither a number nor a known name`},
		{"0 0 0 * * MON,", `day-of-week: empty list element`},
		{"0 0 0 1- * *", `day-of-month: missing value in range`},
		{"a 0 0 * * *", `seconds: "a" is not a number`},
		{"0 0 0 30 FEB *", `day-of-month never occurs in the selected months`},
		{"CRON_TZ=Mars/Olympus 0 0 0 * * *", `CRON_TZ: unknown zone "Mars/Olympus"`},
		{"CRON_TZ=Asia/Shanghai", `missing fields after CRON_TZ`},
		{"@every 0s", `@every: interval 0s must be a whole number of minutes, at least 1m`},
		{"@every 30s", `@every: interval 30s must be a whole number of minutes`},
		{"@every 90s", `@every: interval 90s must be a whole number of minutes`},
		{"@every soon", `@every: invalid interval "soon"`},
		{"@daily", `unsupported descriptor "@daily"`},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			t.Parallel()
			s, err := Parse(tc.expr)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want error containing %q", tc.expr, s, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse(%q) error = %q, want it to contain %q", tc.expr, err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), `cron "`) {
				t.Errorf("Parse(%q) error = %q, want it to name the expression", tc.expr, err)
			}
		})
	}
}

// With both day fields restricted they are ORed, so an impossible day-of-month ("30 FEB")
// does not make the expression unreachable: "0 0 0 30 FEB FRI" parses and fires on the
// Fridays of February.
func TestParseDayFieldsOrNotImpossible(t *testing.T) {
	t.Parallel()
	s, err := Parse("0 0 0 30 FEB FRI")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	got := s.Next(mustTime(t, "2026-01-01T00:00:00Z")).Format(time.RFC3339)
	if got != "2026-02-06T00:00:00Z" {
		t.Errorf("next = %s, want first Friday of February 2026-02-06T00:00:00Z", got)
	}
}
