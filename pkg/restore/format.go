package restore

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// PrintStatus writes st as the table drctl status shows (times in loc), then one line per
// pair with problems; lines stay within 100 columns.
func PrintStatus(w io.Writer, st Status, loc *time.Location) {
	target := "none"
	if st.RPOTargetSecond > 0 {
		target = fmtAge(time.Duration(st.RPOTargetSecond * float64(time.Second)))
	}
	fmt.Fprintf(w, "policy %s at %s, RPO target %s\n", st.Policy, st.At.In(loc).Format("2006-01-02 15:04 MST"), target)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tDR REGION\tNEWEST IMAGE\tDATA FROM\tRPO NOW\tSTATE\tLAST DRILL")
	var probs []string
	var dbs []PairStatus
	for _, p := range st.Pairs {
		img, from, age := "-", "-", "-"
		if p.ImageID != "" {
			img, from, age = p.ImageID, p.DataTime.In(loc).Format("01-02 15:04"), fmtAge(p.Age())
		}

		if p.Kind == KindDatabase {
			dbs = append(dbs, p)
			continue
		}
		drill := "never"
		if r := p.LastDrill; r != nil {
			res := "failed"
			if r.Verified {
				res = "ok"
			}
			drill = fmt.Sprintf("%s %s %s", r.StartedAt.In(loc).Format("01-02"), res, time.Duration(r.RTOSeconds*float64(time.Second)).Round(time.Second))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.InstanceID, p.Region, img, from, age, p.State, drill)
		for _, pr := range p.Problems {
			probs = append(probs, p.InstanceID+" in "+p.Region+": "+pr)
		}
	}
	tw.Flush()
	// Databases get their own table (their ids and backup ids are longer than ECS ones).
	if len(dbs) > 0 {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "DB INSTANCE\tDR REGION\tNEWEST OFFSITE BACKUP\tDATA FROM\tRPO NOW\tSTATE")
		for _, p := range dbs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.InstanceID, p.Region, p.BackupID, p.DataTime.In(loc).Format("01-02 15:04"),
				fmtAge(p.Age()), p.State)
			for _, pr := range p.Problems {
				probs = append(probs, p.InstanceID+" in "+p.Region+": "+pr)
			}
		}
		tw.Flush()
	}
	for _, pr := range probs {
		for i, l := range wrapText(pr, 96) {
			if i == 0 {
				fmt.Fprintf(w, "  ! %s\n", l)
			} else {
				fmt.Fprintf(w, "    %s\n", l)
			}
		}
	}
	for _, w2 := range st.Warnings {
		for _, l := range wrapText("warning: "+w2, 100) {
			fmt.Fprintln(w, l)
		}
	}
	switch {
	case st.Worst == nil:
		fmt.Fprintln(w, "no protected instance found")
	case st.Missed > 0:
		fmt.Fprintf(w, "%d of %d pairs miss the target; worst: %s in %s (%s)\n", st.Missed, len(st.Pairs),
			st.Worst.InstanceID, st.Worst.Region, worstText(*st.Worst))
	default:
		fmt.Fprintf(w, "all %d pairs within target; worst: %s in %s (%s)\n", len(st.Pairs), st.Worst.InstanceID, st.Worst.Region, worstText(*st.Worst))
	}
}

// wrapText breaks s into lines of at most n runes at spaces.
func wrapText(s string, n int) []string {
	var out []string
	line := ""
	for _, word := range strings.Fields(s) {
		if line != "" && len([]rune(line))+1+len([]rune(word)) > n {
			out, line = append(out, line), ""
		}
		if line == "" {
			line = word
		} else {
			line += " " + word
		}
	}
	return append(out, line)
}

func worstText(p PairStatus) string {
	if p.State == StateMissing {
		return "no copy"
	}
	return "data " + fmtAge(p.Age()) + " old"
}
