// Command bench runs the fleet-scale benchmark on the local cloud and writes the table
// (stdout and bench/latest.md) and bench/latest.json. See pkg/bench and the README's
// performance section. Usage: go run ./scripts/bench [-quick] [-out dir] [-speed 20]
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/ecsdr/ecs-image-dr/pkg/bench"
)

func main() {
	quick := flag.Bool("quick", false, "small fleets only (a smoke run)")
	out := flag.String("out", "bench", "directory for latest.md and latest.json")
	speed := flag.Float64("speed", 20, "simulated seconds per wall second of the real-time clock")
	only := flag.String("only", "", "run only the scenarios whose name contains this")
	flag.Parse()
	if err := bench.Main(os.Stdout, bench.Options{Quick: *quick, OutDir: *out, Speed: *speed, Only: *only}); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
