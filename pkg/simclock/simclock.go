// Package simclock is the scaled simulated time the local cloud shares with the function
// processes it runs: simulated time runs Speed times faster than the wall clock from a
// common origin, so a 600 s FC timeout, a 300 s poll or a throttled back-off costs
// 1/Speed of the wall time, and the local cloud (QPS windows, latency, image builds,
// timers, EventBridge delays) and the binary (its Clock: Now, Sleep, the soft deadline)
// agree on what time it is.
//
// The local FC runtime (pkg/localcloud/fc) passes the mapping to each function process in
// the environment variable DR_SIMULATED_CLOCK, which nothing else sets:
//
//	DR_SIMULATED_CLOCK=<wall origin RFC3339Nano>,<simulated origin RFC3339Nano>,<speed>
//
// A clock that jumps (Advance on the local cloud while no function works) changes the
// mapping; the runtime keeps the current one in the file named by DR_SIMULATED_CLOCK_FILE,
// which the function re-reads at the start of every invocation, so a warm instance
// follows the jump without a cold start.
//
// pkg/app reads them at cold start and honours them only when the ECS endpoint is a
// loopback address (the local cloud), so a production function can never run on them by
// accident.
//
// This package is imported by both sides and depends on nothing of the local cloud.
package simclock

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// EnvVar names the environment variable that carries a Mapping to a function process.
const EnvVar = "DR_SIMULATED_CLOCK"

// EnvFile names the environment variable with the path of the file holding the current
// Mapping (its String form), rewritten by the runtime whenever the mapping changes.
const EnvFile = "DR_SIMULATED_CLOCK_FILE"

// MaxSpeed bounds Speed: beyond it a millisecond of scheduling noise is minutes of
// simulated time, and nothing meaningful can be measured.
const MaxSpeed = 10000

// Mapping ties simulated time to the wall clock: at wall instant Wall the simulated time
// is Sim, and it runs Speed simulated seconds per wall second.
type Mapping struct {
	Wall  time.Time
	Sim   time.Time
	Speed float64
}

// String is the DR_SIMULATED_CLOCK form of m.
func (m Mapping) String() string {
	return m.Wall.UTC().Format(time.RFC3339Nano) + "," + m.Sim.UTC().Format(time.RFC3339Nano) + "," +
		strconv.FormatFloat(m.Speed, 'g', -1, 64)
}

// Parse reads the DR_SIMULATED_CLOCK form; the error names the part that is wrong.
func Parse(s string) (Mapping, error) {
	parts := strings.Split(strings.TrimSpace(s), ",")
	if len(parts) != 3 {
		return Mapping{}, fmt.Errorf("%s %q: want <wall origin RFC3339>,<simulated origin RFC3339>,<speed>", EnvVar, s)
	}
	wall, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(parts[0]))
	if err != nil {
		return Mapping{}, fmt.Errorf("%s: wall origin: %w", EnvVar, err)
	}
	sim, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(parts[1]))
	if err != nil {
		return Mapping{}, fmt.Errorf("%s: simulated origin: %w", EnvVar, err)
	}
	speed, err := strconv.ParseFloat(strings.TrimSpace(parts[2]), 64)
	if err != nil {
		return Mapping{}, fmt.Errorf("%s: speed: %w", EnvVar, err)
	}
	m := Mapping{Wall: wall.UTC(), Sim: sim.UTC(), Speed: speed}
	if err := m.Validate(); err != nil {
		return Mapping{}, err
	}
	return m, nil
}

// Validate checks that m is usable.
func (m Mapping) Validate() error {
	switch {
	case math.IsNaN(m.Speed) || m.Speed <= 0 || m.Speed > MaxSpeed:
		return fmt.Errorf("%s: speed %v must be above 0 and at most %d", EnvVar, m.Speed, MaxSpeed)
	case m.Wall.IsZero() || m.Sim.IsZero():
		return errors.New(EnvVar + ": an origin is missing")
	}
	return nil
}

// SimAt is the simulated time at wall instant w.
func (m Mapping) SimAt(w time.Time) time.Time {
	return m.Sim.Add(time.Duration(float64(w.Sub(m.Wall)) * m.Speed)).UTC()
}

// WallAt is the wall instant at which the simulated time is s.
func (m Mapping) WallAt(s time.Time) time.Time {
	return m.Wall.Add(m.WallDuration(s.Sub(m.Sim)))
}

// WallDuration is how much wall time d of simulated time takes.
func (m Mapping) WallDuration(d time.Duration) time.Duration {
	return time.Duration(float64(d) / m.Speed)
}

// Now is the simulated time now.
func (m Mapping) Now() time.Time { return m.SimAt(time.Now()) }

// Sleep waits d of simulated time (d/Speed of wall time), or until ctx ends (its error
// is returned).
func (m Mapping) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(m.WallDuration(d))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ReadFile reads the Mapping kept in path (see EnvFile).
func ReadFile(path string) (Mapping, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Mapping{}, fmt.Errorf("%s: %w", EnvFile, err)
	}
	return Parse(string(b))
}

// WriteFile replaces the Mapping kept in path at once (a reader sees the old or the new
// one, never a part).
func WriteFile(path string, m Mapping) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".clock-*")
	if err != nil {
		return err
	}
	_, err = tmp.WriteString(m.String())
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", EnvFile, err)
	}
	return nil
}
