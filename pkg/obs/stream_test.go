package obs_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/obs"
	"github.com/ecsdr/ecs-image-dr/pkg/testutil"
)

// A long run's records reach SLS while it works, not only at the end: a run killed
// without its final flush loses at most the records of the last batch.
func TestStreamSendsDuringTheRun(t *testing.T) {
	t.Parallel()
	l := newLocalSLS(t)
	log, sink, err := obs.New(&testutil.Buffer{}, slog.LevelInfo, slsConfig(l.addr))
	if err != nil {
		t.Fatal(err)
	}
	stop := sink.Stream(context.Background(), time.Hour, 500) // only the batch size triggers
	for i := range 2600 {
		log.Info("tick", "i", i)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(l.svc.Logs(proj, store)) <= 2100 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	// No final Flush: the "killed" run still delivered all but the tail under a batch.
	if n := len(l.svc.Logs(proj, store)); n <= 2100 {
		t.Fatalf("%d of 2600 records sent while running, want all but < 500", n)
	}
	if err := sink.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(l.svc.Logs(proj, store)); n != 2600 {
		t.Fatalf("%d records after the final flush, want 2600", n)
	}
	// The ticker alone also sends.
	stop = sink.Stream(context.Background(), 20*time.Millisecond, 1<<20)
	defer stop()
	log.Info("lonely")
	for len(l.svc.Logs(proj, store)) < 2601 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := len(l.svc.Logs(proj, store)); n != 2601 {
		t.Fatalf("ticker did not send: %d records", n)
	}
}
