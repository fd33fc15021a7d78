package bench

import (
	"cmp"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

func (o Options) fleet() int {
	switch {
	case o.Fleet > 0:
		return o.Fleet
	case o.Quick:
		return 200
	}
	return 20_000
}

// DefaultFleetSpeed is the fleet day's scaled clock: simulated seconds per wall second.
// Every CPU millisecond of the binaries and the local cloud costs this many simulated
// milliseconds, so a higher speed shortens the paced waits but inflates CPU-bound work.
const DefaultFleetSpeed = 40

// DefaultFleetWindow is the fleet day's default span from 01:50: the create timer (02:00),
// the image events, the pending timer, the eight cleanup shards (04:00 on), the eight
// deep-reconcile shards (05:20 on), rds-offsite's 06:30 run and the drill and RPO ticks of
// those hours. The rest of the day runs only those ticks again on the same state.
const DefaultFleetWindow = 4*time.Hour + 45*time.Minute

func (o Options) fleetSpeed() float64 {
	switch {
	case o.FleetSpeed < 0:
		return 0
	case o.FleetSpeed == 0:
		return DefaultFleetSpeed
	}
	return o.FleetSpeed
}

func (o Options) fleetWindow() time.Duration {
	if o.FleetWindow > 0 {
		return o.FleetWindow
	}
	return DefaultFleetWindow
}

func (o Options) sfile() string {
	if o.SFile != "" {
		return o.SFile
	}
	return "s.yaml"
}

func (o Options) eventShare() float64 {
	switch {
	case o.EventShare > 0:
		return o.EventShare
	case o.EventShare < 0: // every event lost
		return 0
	}
	return 1
}

// copyDelayTarget is the p99 copy delay with every event lost (issue 10 point 4).
const copyDelayTarget = 15 * time.Minute

func eventsLostNote(share float64) string {
	if share >= 1 {
		return ""
	}
	return fmt.Sprintf(", %.0f%% of events lost", 100*(1-share))
}

// dayWallTarget is the fleet day's wall-time budget (issue 10, point 3).
const dayWallTarget = 10 * time.Minute

// writeDayTable prints one fleet day: per function, its attempts against its limits, then
// what the day did to the fleet.
func writeDayTable(w io.Writer, d DayResult) {
	fmt.Fprintf(w, "### Fleet of %d: one day's backup window through the real binaries\n\n", d.Instances)
	fmt.Fprintf(w, "s.yaml deployed on the local FC runtime; 5 source regions, 2 DR regions; history seeded (managed images, each with its snapshot): %s. "+
		"%.0f%% of image events delivered (the rest lost: the reconcile timers catch up). Simulated %s from %s (Asia/Shanghai), clock at %gx.\n\n",
		seededText(d.Seeded), 100*d.EventShare, fmtDur(d.Simulated), d.Start.In(dayStart.Location()).Format("2006-01-02 15:04"), d.Speed)
	if d.Stopped != "" {
		fmt.Fprintf(w, "STOPPED EARLY: %s MISS\n\n", d.Stopped)
	}
	fmt.Fprintln(w, "```")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FUNCTION\tINVOCATIONS\tSTATUS\tMAX DURATION (≤ timeout)\tp99\tMAX WALL\tPEAK RSS (≤ memorySize)\tCPU (mean)")
	for _, f := range d.Functions {
		st := ""
		for _, k := range []string{"ok", "error", "timeout", "oom", "crash", "canceled"} {
			if n := f.Status[k]; n > 0 {
				if st != "" {
					st += " "
				}
				st += fmt.Sprintf("%s=%d", k, n)
			}
		}
		bad := f.Status["timeout"] + f.Status["oom"] + f.Status["crash"]
		rss := "not measured"
		if f.PeakRSSKiB > 0 {
			rss = fmt.Sprintf("%.1f MB / %d MB%s", float64(f.PeakRSSKiB)/1024, f.MemoryMB, mark(f.PeakRSSKiB <= int64(f.MemoryMB)*1024))
		}
		fmt.Fprintf(tw, "%s\t%d\t%s%s\t%s / %s%s\t%s\t%s\t%s\t%s\n", f.Function, f.Invocations, st, mark(bad == 0),
			fmtDur(f.MaxSim), fmtDur(f.Timeout), mark(f.MaxSim <= f.Timeout), fmtDur(f.P99Sim), fmtDur(f.MaxWall), rss,
			cpuText(f.CPU, f.Invocations))
	}
	tw.Flush()
	fmt.Fprintln(w, "```")
	fmt.Fprintln(w)
	writeEventCPU(w, d.Invocations)
	writeSlowest(w, d.Invocations, 8)
	t := d.Totals
	fmt.Fprintf(w, "Images: %d created, %d copied, %d deleted, %d CreateFailed. Today's source image Available for %d of %d instances%s",
		t.Created, t.Copied, t.Deleted, t.CreateFailed, t.SourcesToday, d.Instances, mark(t.SourcesToday == d.Instances))
	for _, r := range DRRegions {
		fmt.Fprintf(w, "; its copy in %s for %d%s", r, t.CopiesToday[r], mark(t.CopiesToday[r] == d.Instances))
	}
	fmt.Fprintf(w, ". Managed images at the end: %s.\n\n", seededText(d.Final))
	if cd := d.CopyDelay; cd.Copies > 0 || cd.Uncopied > 0 {
		fmt.Fprintf(w, "Copy delay (a source of the day Available → its CopyImage accepted, per DR region): %d copies, p50 %s, p99 %s (target ≤ 15m0s%s)%s, max %s; %d not copied by the window's end%s.\n\n",
			cd.Copies, fmtDur(cd.P50), fmtDur(cd.P99), eventsLostNote(d.EventShare), mark(cd.P99 <= copyDelayTarget), fmtDur(cd.Max),
			cd.Uncopied, mark(cd.Uncopied == 0))
	}
	fmt.Fprintf(w, "Wall time: %.0fs (seeding and deploy %.0fs; target < %v)%s.\n\n", d.WallTime.Seconds(), d.SeedWall.Seconds(),
		dayWallTarget, mark(d.WallTime < dayWallTarget && d.Stopped == ""))
}

// writeSlowest lists the n attempts closest to (or past) their timeout: every attempt is
// in the CSV, these are the ones to look at.
func writeSlowest(w io.Writer, invs []DayInvocation, n int) {
	if len(invs) == 0 {
		return
	}
	s := slices.Clone(invs)
	frac := func(in DayInvocation) float64 {
		if in.Timeout <= 0 {
			return 0
		}
		return float64(in.Sim) / float64(in.Timeout)
	}
	slices.SortStableFunc(s, func(a, b DayInvocation) int { return cmp.Compare(frac(b), frac(a)) })
	fmt.Fprintf(w, "Longest attempts against their timeout (all %d in fleet-day-invocations.csv):\n\n", len(invs))
	fmt.Fprintln(w, "```")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FUNCTION\tTRIGGER\tSTART\tSTATUS\tDURATION / TIMEOUT\tWALL\tPEAK RSS / MEMORY")
	for _, in := range s[:min(n, len(s))] {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s / %s%s\t%s\t%.1f / %d MB%s\n", in.Function, in.Source,
			in.Start.In(dayStart.Location()).Format("15:04:05"), in.Status, fmtDur(in.Sim), fmtDur(in.Timeout), mark(in.Sim <= in.Timeout),
			fmtDur(in.Wall), float64(in.PeakRSSKiB)/1024, in.MemoryMB, mark(in.PeakRSSKiB <= int64(in.MemoryMB)*1024))
	}
	tw.Flush()
	fmt.Fprintln(w, "```")
	fmt.Fprintln(w)
}

// cpuText is a total CPU time and its mean per attempt.
func cpuText(total time.Duration, n int) string {
	if total <= 0 || n <= 0 {
		return "not measured"
	}
	return fmt.Sprintf("%s (%.1f ms)", fmtDur(total), float64(total.Microseconds())/1000/float64(n))
}

// writeEventCPU prints the CPU of the image-event attempts (by function), the day's
// most numerous invocations: with one instance per function they run one after another,
// and on the scaled clock every CPU millisecond costs speed simulated ones.
func writeEventCPU(w io.Writer, invs []DayInvocation) {
	type acc struct {
		n   int
		cpu time.Duration
	}
	by := map[string]*acc{}
	var names []string
	for _, in := range invs {
		if !strings.HasPrefix(in.Source, "eventbridge:") {
			continue
		}
		a := by[in.Function]
		if a == nil {
			a = &acc{}
			by[in.Function] = a
			names = append(names, in.Function)
		}
		a.n++
		a.cpu += in.CPU
	}
	slices.Sort(names)
	for _, name := range names {
		a := by[name]
		fmt.Fprintf(w, "Image events of %s: %d attempts, CPU %s.\n\n", name, a.n, cpuText(a.cpu, a.n))
	}
}

func seededText(m map[string]int) string {
	s := ""
	for _, r := range append(append([]string{}, SourceRegions...), DRRegions...) {
		if s != "" {
			s += ", "
		}
		s += fmt.Sprintf("%s %d", r, m[r])
	}
	return s
}

// writeDayCSV writes every invocation attempt of the day: its simulated and wall duration
// against the function's timeout.
func writeDayCSV(path string, d DayResult) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(f)
	_ = cw.Write([]string{"function", "source", "start", "status", "simulated_ms", "timeout_s", "wall_ms", "peak_rss_kib", "memory_mb", "cold_start", "cpu_ms"})
	for _, in := range d.Invocations {
		_ = cw.Write([]string{in.Function, in.Source, in.Start.UTC().Format(time.RFC3339), in.Status,
			strconv.FormatInt(in.Sim.Milliseconds(), 10), strconv.Itoa(int(in.Timeout / time.Second)),
			strconv.FormatInt(in.Wall.Milliseconds(), 10), strconv.FormatInt(in.PeakRSSKiB, 10), strconv.Itoa(in.MemoryMB),
			strconv.FormatBool(in.ColdStart), strconv.FormatInt(in.CPU.Milliseconds(), 10)})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
