package core

import (
	"log/slog"
	"sync"
	"time"
)

// Event is an internal record of something that happened in a service, the raw material
// EventBridge turns into CloudEvents. ECS publishes Source "acs.ecs", Type
// "Image:StateChange" (the CloudMonitor name; EventBridge prefixes "ecs:") with Data
// {"imageId":…, "currentState":…}.
type Event struct {
	ID        string         // unique event id
	Source    string         // e.g. "acs.ecs"
	Type      string         // e.g. "Image:StateChange"
	Region    string         // region the resource lives in
	AccountID string         // owner account
	Resource  string         // ARN-like subject, e.g. acs:ecs:cn-hangzhou:123:image/m-1
	Time      time.Time      // simulated time of the change
	Data      map[string]any // event-specific content
}

// Bus is a synchronous publish/subscribe stream. Subscribers must not block: they should
// queue the event and return (EventBridge delivers asynchronously on its own).
type Bus struct {
	mu   sync.RWMutex
	subs []func(Event)
	log  *slog.Logger
}

// NewBus returns an empty bus.
func NewBus() *Bus { return &Bus{} }

// Subscribe registers f for every later event; the returned func unsubscribes.
func (b *Bus) Subscribe(f func(Event)) (cancel func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subs = append(b.subs, f)
	idx := len(b.subs) - 1
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.subs[idx] = nil
	}
}

// Publish hands e to every subscriber, in subscription order.
func (b *Bus) Publish(e Event) {
	if e.ID == "" {
		e.ID = NewRequestID()
	}
	b.mu.RLock()
	subs := append([]func(Event){}, b.subs...)
	b.mu.RUnlock()
	for _, f := range subs {
		if f != nil {
			f(e)
		}
	}
}

// Tracker counts asynchronous work in flight (event deliveries, invocations, retries) so a
// driver can wait until the local cloud is quiet before advancing the clock.
type Tracker struct {
	mu   sync.Mutex
	n    int
	cond *sync.Cond
}

// NewTracker returns a tracker with nothing in flight.
func NewTracker() *Tracker {
	t := &Tracker{}
	t.cond = sync.NewCond(&t.mu)
	return t
}

// Add records delta units of work starting (negative to finish).
func (t *Tracker) Add(delta int) {
	t.mu.Lock()
	t.n += delta
	if t.n < 0 {
		t.n = 0
	}
	if t.n == 0 {
		t.cond.Broadcast()
	}
	t.mu.Unlock()
}

// Done records one unit finished.
func (t *Tracker) Done() { t.Add(-1) }

// InFlight reports the work in flight.
func (t *Tracker) InFlight() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

// WaitIdle blocks until nothing is in flight or timeout passes (wall clock); it reports
// whether the cloud went idle.
func (t *Tracker) WaitIdle(timeout time.Duration) bool {
	done := make(chan struct{})
	go func() {
		t.mu.Lock()
		for t.n > 0 {
			t.cond.Wait()
		}
		t.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// Env is what every service of the local cloud is built from.
type Env struct {
	Clock   *Clock
	Creds   *Creds
	Faults  *Faults
	Bus     *Bus
	Tracker *Tracker
	Log     *slog.Logger
	// StrictSignatures: when false, a signature mismatch is logged and the request served.
	// Default (NewEnv) is strict.
	StrictSignatures bool
	// Authz evaluates calls made with role credentials (the RAM service); nil allows all.
	Authz Authorizer
	// Nonces refuses replayed RPC requests and stale timestamps (wall clock).
	Nonces *Nonces
}

// NewEnv builds an Env around clock with the default account, no faults and strict
// signature checks.
func NewEnv(clock *Clock, log *slog.Logger) *Env {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	faults := NewFaults(1)
	faults.Now = clock.Now // QPS windows on the simulated clock (the one time model)
	return &Env{
		Clock:            clock,
		Creds:            NewCreds(clock),
		Faults:           faults,
		Bus:              NewBus(),
		Tracker:          NewTracker(),
		Log:              log,
		StrictSignatures: true,
		Nonces:           NewNonces(),
	}
}
