package obs

import (
	"context"
	"time"
)

// Streaming defaults: a long run sends its records while it works, so a run killed at its
// timeout (or out of memory) loses at most the last few seconds of records, and the
// buffer never reaches MaxBuffered.
const (
	DefaultStreamEvery = 5 * time.Second
	DefaultStreamBatch = 1000
)

type streamer struct {
	batch int
	poke  chan struct{}
}

// pokeLocked wakes the streamer when n records are waiting; s.mu is held.
func (st *streamer) pokeLocked(n int) {
	if st == nil || n < st.batch {
		return
	}
	select {
	case st.poke <- struct{}{}:
	default:
	}
}

// Stream flushes in the background while the invocation runs: every `every` (wall time)
// and whenever batch records are waiting (0s take the defaults). The returned stop ends
// the streaming and waits for a flush in flight; call it before the final Flush. Each
// background flush is bounded by ctx and by every. Errors are reported as Flush reports
// them (stdout), never returned: logging must not fail a backup.
func (s *Sink) Stream(ctx context.Context, every time.Duration, batch int) (stop func()) {
	if s == nil || s.client == nil {
		return func() {}
	}
	if every <= 0 {
		every = DefaultStreamEvery
	}
	if batch <= 0 {
		batch = DefaultStreamBatch
	}
	st := &streamer{batch: batch, poke: make(chan struct{}, 1)}
	s.mu.Lock()
	s.stream = st
	s.mu.Unlock()
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			case <-st.poke:
			}
			if s.Pending() == 0 {
				continue
			}
			fctx, cancel := context.WithTimeout(ctx, every)
			_ = s.Flush(fctx)
			cancel()
		}
	}()
	return func() {
		s.mu.Lock()
		s.stream = nil
		s.mu.Unlock()
		close(done)
		<-finished
	}
}
