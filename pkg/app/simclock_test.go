package app

import (
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/obs"
	"github.com/ecsdr/ecs-image-dr/pkg/simclock"
	"github.com/ecsdr/ecs-image-dr/pkg/testutil"
)

// DR_SIMULATED_CLOCK is honoured only on the local cloud (a loopback ECS endpoint), with
// one record saying so; anywhere else it is ignored with a warning, and a malformed value
// on loopback fails the configuration instead of silently running on the wall clock.
func TestSimulatedClockFromEnvironment(t *testing.T) {
	t.Parallel()
	m := simclock.Mapping{Wall: time.Now().Add(-time.Second), Sim: time.Date(2026, 3, 1, 1, 0, 0, 0, time.UTC), Speed: 20}
	base := map[string]string{EnvPolicy: "{}", simclock.EnvVar: m.String()}

	for _, ep := range []string{"127.0.0.1:8787", "localhost:1", "[::1]:9", "127.0.0.2"} {
		env := map[string]string{EnvECSEndpoint: ep}
		for k, v := range base {
			env[k] = v
		}
		var out testutil.Buffer
		h := New(CreateImage, envOf(env), &out)
		c, ok := h.opts.Clock.(*simulatedClock)
		if !ok {
			t.Fatalf("endpoint %s: clock %T, want the simulated clock", ep, h.opts.Clock)
		}
		// One wall second after the origin at 20x: about 20 simulated seconds after it.
		if d := c.Now().Sub(m.Sim); d < 19*time.Second || d > 10*time.Minute {
			t.Errorf("endpoint %s: simulated now is origin+%v, want about origin+20s", ep, d)
		}
		if n := strings.Count(out.String(), "simulated clock on"); n != 1 {
			t.Errorf("endpoint %s: %d records of the simulated clock, want 1: %s", ep, n, out.String())
		}
		if h.cfgErr != nil {
			t.Errorf("endpoint %s: configuration error %v", ep, h.cfgErr)
		}
		// WithOptions without a clock keeps the environment's clock.
		if _, ok := h.WithOptions(Options{}).opts.Clock.(*simulatedClock); !ok {
			t.Errorf("endpoint %s: WithOptions dropped the simulated clock", ep)
		}
	}

	// Production (regional endpoints) or any remote endpoint: ignored, with a warning.
	for _, ep := range []string{"", "ecs.cn-hangzhou.aliyuncs.com", "10.0.0.1:80", "127.0.0.1.example.com"} {
		env := map[string]string{EnvECSEndpoint: ep}
		for k, v := range base {
			env[k] = v
		}
		var out testutil.Buffer
		h := New(CreateImage, envOf(env), &out)
		if _, ok := h.opts.Clock.(wallClock); !ok {
			t.Errorf("endpoint %q: clock %T, want the wall clock", ep, h.opts.Clock)
		}
		if !strings.Contains(out.String(), "simulated clock ignored") {
			t.Errorf("endpoint %q: no warning that the variable was ignored: %s", ep, out.String())
		}
	}

	// Not set: the wall clock, and not a word about it.
	var out testutil.Buffer
	h := New(CreateImage, envOf(map[string]string{EnvPolicy: "{}", EnvECSEndpoint: "127.0.0.1:1"}), &out)
	if _, ok := h.opts.Clock.(wallClock); !ok || out.String() != "" {
		t.Errorf("unset: clock %T, output %q; want the wall clock, silently", h.opts.Clock, out.String())
	}

	// Malformed on loopback: a configuration error naming the variable.
	var bad testutil.Buffer
	h = New(CreateImage, envOf(map[string]string{EnvPolicy: "{}", EnvECSEndpoint: "127.0.0.1:1", simclock.EnvVar: "soon,20"}), &bad)
	if h.cfgErr == nil || !strings.Contains(h.cfgErr.Error(), simclock.EnvVar) {
		t.Errorf("malformed: configuration error %v, want one naming %s", h.cfgErr, simclock.EnvVar)
	}
}

// The mapping follows the runtime's file at every invocation (a jump of the idle clock);
// a broken file keeps the previous mapping.
func TestSimulatedClockFollowsItsFile(t *testing.T) {
	t.Parallel()
	sim := time.Date(2026, 3, 1, 1, 0, 0, 0, time.UTC)
	m := simclock.Mapping{Wall: time.Now(), Sim: sim, Speed: 20}
	file := t.TempDir() + "/clock"
	if err := simclock.WriteFile(file, m); err != nil {
		t.Fatal(err)
	}
	var out testutil.Buffer
	h := New(CreateImage, envOf(map[string]string{EnvPolicy: "{}", EnvECSEndpoint: "127.0.0.1:1",
		simclock.EnvVar: m.String(), simclock.EnvFile: file}), &out)
	c := h.opts.Clock.(*simulatedClock)
	jumped := simclock.Mapping{Wall: m.Wall, Sim: sim.Add(6 * time.Hour), Speed: 20}
	if err := simclock.WriteFile(file, jumped); err != nil {
		t.Fatal(err)
	}
	if d := c.Now().Sub(sim); d > time.Hour {
		t.Fatalf("the clock moved before the invocation re-read the file (%v)", d)
	}
	log, _, _ := obs.New(&out, slog.LevelInfo, obs.SLSConfig{})
	refreshClock(c, log)
	if d := c.Now().Sub(sim); d < 6*time.Hour || d > 7*time.Hour {
		t.Errorf("after the refresh the clock is origin+%v, want the 6 h jump", d)
	}
	if err := os.WriteFile(file, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	refreshClock(c, log)
	if d := c.Now().Sub(sim); d < 6*time.Hour || !strings.Contains(out.String(), "keeping the previous mapping") {
		t.Errorf("a broken file: clock origin+%v, output %s; want the previous mapping kept and a warning", d, out.String())
	}
}
