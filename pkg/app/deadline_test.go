package app

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/backup"
	"github.com/ecsdr/ecs-image-dr/pkg/simclock"
	"github.com/ecsdr/ecs-image-dr/pkg/testutil"
)

func TestSoftDeadlineFromTheFCDeadline(t *testing.T) {
	t.Parallel()
	if got := softMargin(600 * time.Second); got != 60*time.Second {
		t.Fatalf("margin of a 600 s budget = %v", got)
	}
	if got := softMargin(20 * time.Second); got != 5*time.Second {
		t.Fatalf("margin of a 20 s budget = %v", got)
	}
	if ctx := withSoftDeadline(context.Background(), wallClock{}); backup.Remaining(ctx) != nil {
		t.Fatal("no FC deadline, yet a soft one")
	}
	// A context whose soft deadline has already passed: the run reports what remains.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ctx = withSoftDeadline(ctx, lateClock{})
	var logs testutil.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	res, err := finishRemaining(ctx, &Result{}, nil, log)
	if err != nil || res.Remaining != nil {
		t.Fatalf("nothing was skipped, yet %v, %v", res.Remaining, err)
	}
	if logs.String() != "" {
		t.Fatalf("logged %s", logs.String())
	}
}

// lateClock runs an hour ahead of the wall clock, at its pace.
type lateClock struct{ wallClock }

func (lateClock) Now() time.Time { return time.Now().Add(time.Hour) }

// On the local cloud's scaled clock the FC deadline (a wall instant, 30 s away) is
// mapped onto simulated time: 600 simulated seconds at 20x, so the soft deadline falls
// 600 s − 15 s after the simulated now. On a 1:1 clock the same wall deadline would be
// 30 s away; a clock mixing the two scales would put it months away.
func TestSoftDeadlineOnAScaledClock(t *testing.T) {
	t.Parallel()
	m := simclock.Mapping{Wall: time.Now(), Sim: time.Date(2026, 3, 1, 1, 0, 0, 0, time.UTC), Speed: 20}
	clock := newSimulatedClock(m, "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	now := clock.Now()
	at, ok := backup.SoftDeadline(withSoftDeadline(ctx, clock))
	if !ok {
		t.Fatal("no soft deadline on a context with an FC deadline")
	}
	if got, want := at.Sub(now), 540*time.Second; got < want-2*time.Second || got > want+time.Second {
		t.Errorf("soft deadline %v after the simulated now, want ~%v", got, want)
	}
	at, _ = backup.SoftDeadline(withSoftDeadline(ctx, wallClock{}))
	if got := time.Until(at); got > 23*time.Second || got < 21*time.Second {
		t.Errorf("on the wall clock the soft deadline is %v away, want ~22.5s (30 s budget − a quarter)", got)
	}
}
