package app

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/backup"
	"github.com/ecsdr/ecs-image-dr/pkg/testutil"
)

func TestSoftDeadlineFromTheFCDeadline(t *testing.T) {
	t.Parallel()
	if got := softMargin(600 * time.Second); got != 15*time.Second {
		t.Fatalf("margin of a 600 s budget = %v", got)
	}
	if got := softMargin(20 * time.Second); got != 5*time.Second {
		t.Fatalf("margin of a 20 s budget = %v", got)
	}
	if ctx := withSoftDeadline(context.Background(), time.Now); backup.Remaining(ctx) != nil {
		t.Fatal("no FC deadline, yet a soft one")
	}
	// A context whose soft deadline has already passed: the run reports what remains.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	late := func() time.Time { return time.Now().Add(time.Hour) }
	ctx = withSoftDeadline(ctx, late)
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
