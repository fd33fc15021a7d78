package bench

import (
	"fmt"
	"sync"
	"time"
)

// benchJob is one scenario of a bench run.
type benchJob struct {
	name string
	run  func() error
}

// ScenarioWall is how long one scenario took.
type ScenarioWall struct {
	Name string        `json:"name"`
	Wall time.Duration `json:"wallNs"`
}

// runJobs runs jobs n at a time and returns their wall times in job order; the first
// error (by job order) is returned once every started job has ended.
func runJobs(jobs []benchJob, n int, logf func(string, ...any)) ([]ScenarioWall, error) {
	walls := make([]ScenarioWall, len(jobs))
	errs := make([]error, len(jobs))
	sem := make(chan struct{}, max(n, 1))
	var wg sync.WaitGroup
	for i, j := range jobs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			logf("%s…", j.name)
			t0 := time.Now()
			if err := j.run(); err != nil {
				errs[i] = fmt.Errorf("%s: %w", j.name, err)
			}
			walls[i] = ScenarioWall{Name: j.name, Wall: time.Since(t0)}
			logf("%s done in %.0fs", j.name, walls[i].Wall.Seconds())
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return walls, err
		}
	}
	return walls, nil
}
