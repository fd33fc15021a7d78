// Command chaos runs seeded fault scenarios against the product on the local cloud and
// checks the invariants from the cloud's own state (see pkg/chaos).
//
//	go run ./scripts/chaos -n 1000            # the full run (make chaos)
//	go run ./scripts/chaos -seed 1234 -n 1 -v # replay one scenario
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/chaos"
)

func main() {
	seed := flag.Int64("seed", 1, "first seed; scenario i uses seed+i")
	n := flag.Int("n", 100, "number of scenarios")
	share := flag.Float64("binary-share", 0.05, "share of scenarios run through the real binaries (needs `make build`)")
	parallel := flag.Int("parallel", 2, "scenarios run at once")
	sfile := flag.String("s", "s.yaml", "s.yaml of the binary scenarios")
	verbose := flag.Bool("v", false, "print each scenario's faults as they are applied")
	maxWall := flag.Duration("max-wall", 0, "stop starting scenarios after this long (0: no limit); the summary counts what ran")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	feed := ctx
	if *maxWall > 0 {
		var cancel context.CancelFunc
		feed, cancel = context.WithTimeout(ctx, *maxWall)
		defer cancel()
	}
	start := time.Now()
	var (
		mu  sync.Mutex
		sum chaos.Summary
		wg  sync.WaitGroup
	)
	jobs := make(chan int)
	for range max(*parallel, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				s := *seed + int64(i)
				sc := chaos.Generate(s, chaos.IsBinary(i, *share))
				o := chaos.Options{SFile: *sfile}
				if *verbose {
					o.Progress = os.Stdout
				}
				r := chaos.Run(ctx, sc, o)
				mu.Lock()
				sum.Add(r)
				if *verbose || r.Err != nil || len(r.Violations) > 0 {
					fmt.Printf("seed %d: binary %v, %d invocations, %d violations, %s\n", s, r.Binary, r.Invocations, len(r.Violations), r.Wall.Round(time.Millisecond))
				}
				if sum.Scenarios%50 == 0 {
					fmt.Fprintf(os.Stderr, "chaos: %d/%d scenarios, %d violations, %s\n", sum.Scenarios, *n, sum.Violations(), time.Since(start).Round(time.Second))
				}
				mu.Unlock()
			}
		}()
	}
	for i := range *n {
		if feed.Err() != nil {
			break
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	sum.Wall = time.Since(start)
	fmt.Println()
	sum.Print(os.Stdout)
	if sum.Violations() > 0 || sum.Errors > 0 {
		os.Exit(1)
	}
}
