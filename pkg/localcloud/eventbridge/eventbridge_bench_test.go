package eventbridge_test

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/eventbridge"
	"github.com/ecsdr/ecs-image-dr/pkg/sconfig"
)

// sPattern returns the eventRuleFilterPattern of the project's s.yaml (the copy-image
// trigger), so the benchmark follows the pattern that is deployed.
func sPattern(b *testing.B) *eventbridge.Pattern {
	b.Helper()
	proj, err := sconfig.Load("../../../s.yaml", nil, map[string]string{"AccountID": core.DefaultAccountID})
	if err != nil {
		b.Fatalf("load s.yaml: %v", err)
	}
	for _, fn := range proj.Functions {
		for _, tr := range fn.Triggers {
			if tr.Type == sconfig.TriggerEventBridge {
				p, err := eventbridge.CompilePattern(tr.Pattern)
				if err != nil {
					b.Fatalf("compile %s pattern: %v", fn.Name, err)
				}
				return p
			}
		}
	}
	b.Fatal("s.yaml has no eventbridge trigger")
	return nil
}

// BenchmarkPatternMatch matches the deployed pattern against the sample events: the
// Available one (match) and the Creating one (rejected on data.currentState, after
// source and type matched).
func BenchmarkPatternMatch(b *testing.B) {
	p := sPattern(b)
	for _, tc := range []struct {
		name, file string
		want       bool
	}{
		{"available", "../../../events/ecs-image-available.json", true},
		{"creating", "../../../events/ecs-image-creating.json", false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ev, err := os.ReadFile(tc.file)
			if err != nil {
				b.Fatalf("read sample event: %v", err)
			}
			got := p.Match(ev)
			if got != tc.want {
				b.Fatalf("Match(%s) = %v, want %v", tc.file, got, tc.want)
			}
			b.SetBytes(int64(len(ev)))
			for b.Loop() {
				got = p.Match(ev)
			}
		})
	}
}

// BenchmarkPublishDeliver is the local cloud's event path end to end: an ECS image event
// published on the core bus, turned into a CloudEvent, matched against the deployed rule
// and delivered asynchronously to a no-op target, until the tracker is idle. One op is a
// batch of 1,000 events; ns/event is the per-event figure.
func BenchmarkPublishDeliver(b *testing.B) {
	const batch = 1000
	env := core.NewEnv(core.NewManualClock(time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC)), nil)
	br := eventbridge.New(env, eventbridge.Delivery{})
	b.Cleanup(br.Close)
	var delivered atomic.Int64
	if err := br.AddRule(eventbridge.Rule{Name: "copy-image", Region: "cn-hangzhou", Pattern: sPattern(b),
		Target: func([]byte) error { delivered.Add(1); return nil }}); err != nil {
		b.Fatalf("add rule: %v", err)
	}
	events := make([]core.Event, batch)
	for i := range events {
		id := fmt.Sprintf("m-bp1bench%010d", i)
		events[i] = core.Event{Source: "acs.ecs", Type: "Image:StateChange", Region: "cn-hangzhou",
			AccountID: core.DefaultAccountID, Resource: "acs:ecs:cn-hangzhou:" + core.DefaultAccountID + ":image/" + id,
			Time: env.Clock.Now(), Data: map[string]any{"imageId": id, "currentState": "Available"}}
	}
	send := func() {
		for _, e := range events { // no ID: the bus gives each publication its own
			env.Bus.Publish(e)
		}
		if !env.Tracker.WaitIdle(time.Minute) {
			b.Fatalf("deliveries still in flight after a minute: %d", env.Tracker.InFlight())
		}
	}
	send()
	if got := delivered.Load(); got != batch {
		b.Fatalf("delivered %d of %d matching events", got, batch)
	}
	for b.Loop() {
		send()
	}
	if got, want := delivered.Load(), int64(batch*(b.N+1)); got != want {
		b.Fatalf("delivered %d events, want %d", got, want)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/event")
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
}
