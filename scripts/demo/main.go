// Command demo runs the product end to end on the local cloud (see pkg/demo): the real
// function binaries (make build), their triggers from s.yaml, ten simulated days. It
// prints the trouble it will inject, a per-day timeline, the final state, each DR
// region's catalog and the SLS figures, laid out for 100 columns. It exits 1 if an
// invariant fails and 2 if the run could not happen (no binaries, bad s.yaml).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/ecsdr/ecs-image-dr/pkg/demo"
)

func main() {
	sfile := flag.String("s", "s.yaml", "the project's s.yaml (code paths point at the build output)")
	days := flag.Int("days", 10, "simulated days")
	fnlog := flag.String("function-log", "", "file for the functions' own output (default: discarded)")
	quiet := flag.Bool("q", false, "print only the final table")
	calm := flag.Bool("no-trouble", false, "do not inject lost/duplicated events, throttling, an in-use image, a forged event")
	flag.Parse()

	var fl io.Writer
	if *fnlog != "" {
		f, err := os.Create(*fnlog)
		if err != nil {
			fmt.Fprintln(os.Stderr, "demo:", err)
			os.Exit(2)
		}
		defer f.Close()
		fl = f
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := demo.Run(ctx, demo.Options{SFile: *sfile, Days: *days, Out: os.Stdout, FunctionLog: fl, Quiet: *quiet, NoTrouble: *calm})
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(2)
	}
	rep.Print(os.Stdout)
	if err := rep.Check(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
