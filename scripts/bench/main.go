// Command bench runs the fleet-scale benchmark on the local cloud and writes the table
// (stdout and bench/latest.md) and bench/latest.json. See pkg/bench and the README's
// performance section. Usage: go run ./scripts/bench [-quick] [-out dir] [-speed 20]
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/ecsdr/ecs-image-dr/pkg/bench"
)

func main() {
	quick := flag.Bool("quick", false, "small fleets only (a smoke run)")
	out := flag.String("out", "bench", "directory for latest.md and latest.json")
	speed := flag.Float64("speed", 20, "simulated seconds per wall second of the real-time clock")
	only := flag.String("only", "", "run only the scenarios whose name contains this")
	fleet := flag.Int("fleet", 0, "instances of the fleet day (default 20000, -quick 200)")
	share := flag.Float64("event-share", 0, "share of image events delivered in the fleet day (default 1; 0: every event lost)")
	fspeed := flag.Float64("fleet-speed", 0, "simulated seconds per wall second in the fleet day (0: 40; -1: a manual clock)")
	sfile := flag.String("s", "s.yaml", "the project's s.yaml (its code paths hold make build's binaries)")
	finst := flag.Int("fleet-instances", 0, "instances per function on the fleet day's FC runtime (default 1: one invocation of a function at a time; FC scales out, but here instances share the cores)")
	window := flag.Duration("fleet-window", 0, "simulated time the fleet day drives from 01:50 (default 4h45m: through rds-offsite's 06:30 run)")
	cpuprof := flag.String("cpuprofile", "", "write the bench process's CPU profile here")
	skip := flag.String("skip", "", "comma list: skip the scenarios whose name contains one of these (e.g. fleet-day,memory)")
	parallel := flag.Int("parallel", 1, "scenarios run at once (pipelines, baselines, event costs, planning, functions); >1 only on an idle machine: under load it skews the pipelines' virtual time")
	fnlog := flag.String("function-log", "", "file for the fleet day's function output")
	fnprof := flag.String("function-cpuprofile", "", "directory: the fleet day's function processes write rotated CPU profiles there (merge per function: go tool pprof -top DIR/NAME-*.pprof)")
	flag.Parse()
	o := bench.Options{Quick: *quick, OutDir: *out, Speed: *speed, Only: *only, Fleet: *fleet, EventShare: *share, SFile: *sfile, FleetSpeed: *fspeed}
	o.FleetWindow = *window
	o.FleetInstances = *finst
	o.Parallel, o.Skip = *parallel, *skip
	o.FunctionProfiles = *fnprof
	flag.Visit(func(f *flag.Flag) {
		if f.Name == "event-share" && *share == 0 {
			o.EventShare = -1 // explicitly 0: every event lost (Options' zero value delivers all)
		}
	})
	if *cpuprof != "" {
		f, err := os.Create(*cpuprof)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if *fnlog != "" {
		f, err := os.Create(*fnlog)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		defer f.Close()
		o.FunctionLog = f
	}
	if err := bench.Main(os.Stdout, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}
