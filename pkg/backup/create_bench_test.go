package backup

// In package backup, not backup_test: the in-memory fake ECS (fake_test.go) lives here.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

const (
	benchProtected   = 200 // instances the policy selects
	benchUnprotected = 50  // other instances in the region (listed, skipped at debug level)
)

var benchTrigger = time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC) // 02:00 Asia/Shanghai

func benchCreatePolicy(b *testing.B) *policy.Policy {
	b.Helper()
	p := &policy.Policy{
		Name: "prod-web", Timezone: "Asia/Shanghai",
		Sources: []policy.Source{{Region: src, Selectors: []map[string]string{{"backup": "daily"}},
			Exclude: policy.Exclude{Tags: map[string]string{"backup": "never"}}}},
		Destinations: []policy.Destination{{Region: dstPlain}, {Region: dstKMS, Encrypted: true, KMSKeyID: "kms-key-1"}},
		Naming:       policy.Naming{Template: "{policy}-{instanceName}-{instanceId}-{slot}"},
		Tags:         map[string]string{"cost-center": "cc-1042", "owner": "platform-team"},
		Retention:    policy.Retention{Source: policy.RetentionRule{KeepLast: 7}, Destination: policy.RetentionRule{KeepDays: 14}},
	}
	p.ApplyDefaults()
	if err := p.Validate(); err != nil {
		b.Fatalf("benchmark policy: %v", err)
	}
	return p
}

// benchFleet is a fake ECS with the protected and unprotected instances of one region.
func benchFleet(now func() time.Time) *fakeECS {
	f := newFake(now)
	for i := range benchProtected + benchUnprotected {
		tags := map[string]string{"app": "web", "env": "prod", "backup": "daily"}
		if i >= benchProtected {
			tags["backup"] = "never"
		}
		status := ecsx.InstanceRunning
		if i%10 == 9 {
			status = ecsx.InstanceStopped
		}
		f.addInstance(src, ecsx.Instance{ID: fmt.Sprintf("i-bp1bench%08d", i), Name: fmt.Sprintf("web-%d", i),
			Status: status, ImageID: "m-base", Tags: tags})
	}
	return f
}

func (f *fakeECS) totalCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		n += c
	}
	return n
}

// BenchmarkCreate is one create-image invocation over 200 protected instances (and 50
// excluded ones) against the in-memory fake, so it measures the service's own work:
// listing, selection, naming, tags, tokens, bounded concurrency and JSON logging.
//   - first: nothing exists for the slot, every instance gets CreateImage;
//   - rerun: the slot is done (a duplicated timer), every instance is skipped from one
//     DescribeImages.
func BenchmarkCreate(b *testing.B) {
	pol := benchCreatePolicy(b)
	now := func() time.Time { return benchTrigger }
	deps := func(f *fakeECS) Deps {
		return Deps{ECS: f, Policy: pol, Now: now, Log: slog.New(slog.NewJSONHandler(io.Discard, nil)),
			Sleep: func(context.Context, time.Duration) error { return nil }}
	}
	// check asserts the summary and that the fake saw creates CreateImage calls in all.
	// The skipped list is bounded (output.go): its omitted count holds the rest.
	check := func(b *testing.B, f *fakeECS, sum CreateSummary, err error, started, skipped, creates int) {
		b.Helper()
		gotSkipped := len(sum.Skipped) + sum.Omitted["skipped"]
		if err != nil || len(sum.Started) != started || gotSkipped != skipped || len(sum.Failed) != 0 {
			b.Fatalf("Create: %d started, %d skipped, %d failed, err %v; want %d started, %d skipped",
				len(sum.Started), gotSkipped, len(sum.Failed), err, started, skipped)
		}
		if got := f.count("CreateImage"); got != creates {
			b.Fatalf("fake saw %d CreateImage calls, want %d", got, creates)
		}
	}

	b.Run(fmt.Sprintf("first/instances=%d", benchProtected), func(b *testing.B) {
		f := benchFleet(now)
		sum, err := deps(f).Create(context.Background(), benchTrigger)
		check(b, f, sum, err, benchProtected, 0, benchProtected)
		calls := 0
		for b.Loop() {
			b.StopTimer()
			f = benchFleet(now)
			b.StartTimer()
			sum, err = deps(f).Create(context.Background(), benchTrigger)
			b.StopTimer()
			calls += f.totalCalls()
			b.StartTimer()
		}
		check(b, f, sum, err, benchProtected, 0, benchProtected)
		b.ReportMetric(float64(calls)/float64(b.N), "calls/op")
	})

	b.Run(fmt.Sprintf("rerun/instances=%d", benchProtected), func(b *testing.B) {
		f := benchFleet(now)
		if _, err := deps(f).Create(context.Background(), benchTrigger); err != nil {
			b.Fatalf("first run: %v", err)
		}
		sum, err := deps(f).Create(context.Background(), benchTrigger)
		check(b, f, sum, err, 0, benchProtected, benchProtected) // the first run's creates
		before := f.totalCalls()
		for b.Loop() {
			sum, err = deps(f).Create(context.Background(), benchTrigger)
		}
		check(b, f, sum, err, 0, benchProtected, benchProtected)
		b.ReportMetric(float64(f.totalCalls()-before)/float64(b.N), "calls/op")
	})
}
