package catalog

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// PrintTable writes entries as an aligned table, one row per instance and region, sorted
// by instance, then the source region before copies, then region:
//
//	INSTANCE  REGION  IMAGE  CREATED  SIZE  ROLE  RPO  AGE
//
// CREATED is UTC; RPO is the achieved RPO ("-" when unknown); AGE is now − CreationTime,
// how much data a restore from this image would lose at now.
func PrintTable(w io.Writer, entries []Entry, now time.Time) {
	es := slices.Clone(entries)
	slices.SortFunc(es, func(a, b Entry) int {
		if a.InstanceID != b.InstanceID {
			return strings.Compare(a.InstanceID, b.InstanceID)
		}
		if (a.Role == "source") != (b.Role == "source") {
			if a.Role == "source" {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Region, b.Region)
	})
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tREGION\tIMAGE\tCREATED\tSIZE\tROLE\tRPO\tAGE")
	for _, e := range es {
		rpo := "-"
		if e.RPOSeconds > 0 {
			rpo = FormatDuration(time.Duration(e.RPOSeconds) * time.Second)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d GiB\t%s\t%s\t%s\n", e.InstanceID, e.Region, e.ImageID,
			e.CreationTime.UTC().Format("2006-01-02 15:04Z"), e.SizeGiB, orDash(e.Role), rpo,
			FormatDuration(now.Sub(e.CreationTime)))
	}
	_ = tw.Flush() // w's write errors are the caller's to see on w; a table has no partial value
	if len(es) == 0 {
		fmt.Fprintln(w, "(no catalog entries)")
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// FormatDuration renders d compactly for humans: "45s", "12m", "3h05m", "2d04h"; negative
// durations (clock skew) keep their sign.
func FormatDuration(d time.Duration) string {
	if d < 0 {
		return "-" + FormatDuration(-d)
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	default:
		return fmt.Sprintf("%dd%02dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
	}
}
