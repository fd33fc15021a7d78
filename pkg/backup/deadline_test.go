package backup

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/events"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
	"github.com/ecsdr/ecs-image-dr/pkg/retention"
)

// Past the soft deadline a run starts nothing more and says what remains; the next run
// does exactly the rest (no duplicate, no gap).
func TestSoftDeadlineStopsStartingWorkAndTheNextRunContinues(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(p *policy.Policy) { p.Concurrency = 1 })
	var checks atomic.Int64
	// The clock passes the soft deadline once the first item has been started.
	now := func() time.Time {
		if checks.Add(1) > 1 {
			return t0.Add(time.Hour)
		}
		return t0
	}
	ctx := WithSoftDeadline(context.Background(), t0.Add(time.Minute), now)
	sum, err := e.deps().Create(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	left := Remaining(ctx)
	if len(sum.Started) != 1 || left["instances to image"] != 1 {
		t.Fatalf("started %v, remaining %v; want 1 and 1", instancesOf(sum.Started), left)
	}
	if err := RemainingError(left); err == nil || !strings.Contains(err.Error(), "instances to image:1") {
		t.Fatalf("RemainingError = %v", err)
	}
	// The next run (no deadline pressure) does the rest.
	ctx2 := WithSoftDeadline(context.Background(), t0.Add(time.Minute), func() time.Time { return t0 })
	sum2, err := e.deps().Create(ctx2, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum2.Started) != 1 || sum2.Started[0].Instance == sum.Started[0].Instance || Remaining(ctx2) != nil {
		t.Fatalf("second run started %v (first %v), remaining %v", instancesOf(sum2.Started), instancesOf(sum.Started), Remaining(ctx2))
	}
	if n := e.fake.count("CreateImage"); n != 2 {
		t.Fatalf("CreateImage calls = %d, want 2 (one per instance)", n)
	}
	// Without a soft deadline nothing is counted.
	if Remaining(context.Background()) != nil || RemainingError(nil) != nil {
		t.Fatal("no deadline, yet something remains")
	}
}

func TestKindOfNamesWorkItems(t *testing.T) {
	t.Parallel()
	type createJob struct {
		in ecsx.Instance
		n  int
	}
	type copyJob struct {
		img ecsx.Image
	}
	for _, tc := range []struct {
		v    any
		want string
	}{
		{ecsx.Instance{}, "instances to image"},
		{createJob{}, "instances to image"},
		{copyJob{}, "images to copy"},
		{[]copyJob{{}}, "images to copy"},
		{retention.Decision{}, "images to delete"},
		{events.ImageEvent{}, "image events"},
		{42, "items"},
	} {
		if got := kindOf(tc.v); got != tc.want {
			t.Errorf("kindOf(%T) = %q, want %q", tc.v, got, tc.want)
		}
	}
}
