package eventbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand"
	"sync"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

// Rule routes matching events of one region's default bus to a target.
type Rule struct {
	Name   string
	Region string // rules are regional: only events with this aliyunregionid reach them
	// Pattern selects events; required (use CompilePattern("{}") to take everything).
	Pattern *Pattern
	// Target receives the CloudEvent JSON (one object per call, as the Default event
	// source delivers). A non-nil error makes the bridge retry. In the local cloud this is
	// typically an FC async invocation, so it should return quickly.
	Target func(payload []byte) error
}

// Delivery tunes how faithfully events are delivered. The zero value is reliable, in-order
// delivery with 3 retries.
type Delivery struct {
	Duplicate float64 // probability that a matched event is delivered twice (same id)
	Drop      float64 // probability that a matched event is never delivered
	// Reorder is the probability that a matched event is held back and delivered just
	// after the next event for the same rule (or after a short hold on the simulated clock
	// if none comes), so that rule sees the two swapped.
	Reorder float64
	// Delay is the simulated time (env.Clock) between an event's publication and its first
	// attempt; the delivery counts in env.Tracker only once it is due.
	Delay time.Duration
	// MaxRetries is the number of retries after a failed first attempt: 0 means the
	// default 3, a negative value means none.
	MaxRetries int
	// RetryBackoff is the simulated wait (env.Clock.Sleep) before the first retry, doubled for each further
	// one (capped at 2s); 0 means 10ms.
	RetryBackoff time.Duration
	// Seed makes the Duplicate/Drop/Reorder draws reproducible: the draws happen in
	// publish order, three per matched (event, rule), whatever the outcome.
	Seed int64
}

// Result is the outcome of one delivery record.
type Result string

const (
	ResultDelivered  Result = "delivered"  // the target accepted the event
	ResultFailed     Result = "failed"     // the target returned an error (see Final)
	ResultDropped    Result = "dropped"    // injected loss, or an event that cannot be encoded
	ResultDuplicated Result = "duplicated" // injected duplication: a second copy was queued
)

// DeliveryRecord is one line of the bridge's delivery log.
type DeliveryRecord struct {
	Rule    string
	Region  string
	EventID string
	Attempt int // 1 for the first try of a copy; 0 for dropped/duplicated notes
	Result  Result
	// Final is set on a failed attempt after which no retry follows.
	Final bool
	Error string
	At    time.Time // simulated time of the record
}

const (
	defaultMaxRetries   = 3
	defaultRetryBackoff = 10 * time.Millisecond
	maxRetryBackoff     = 2 * time.Second
	// reorderHold bounds how long (simulated time) an event picked for reordering waits for
	// a successor.
	reorderHold = 2 * time.Minute
)

// Bridge is the local EventBridge.
type Bridge struct {
	env    *core.Env
	log    *slog.Logger
	cancel func()
	hold   time.Duration // reorderHold; tests lengthen it so ordering never depends on speed

	mu      sync.Mutex
	d       Delivery
	rnd     *rand.Rand
	rules   map[string][]*ruleState // region -> rules in the order added
	records []DeliveryRecord
}

type ruleState struct {
	rule    Rule
	queue   []*item
	running bool
	held    *item
}

type item struct {
	id      string
	payload []byte
	attempt int
}

// New returns a bridge fed by every event on env.Bus. Call Close to unsubscribe.
func New(env *core.Env, d Delivery) *Bridge {
	b := &Bridge{env: env, log: env.Log.With("service", "eventbridge"), rules: map[string][]*ruleState{}, hold: reorderHold}
	b.SetDelivery(d)
	b.cancel = env.Bus.Subscribe(func(e core.Event) { b.Publish(FromCore(e)) })
	return b
}

// Close stops taking events from the bus; deliveries already queued still complete.
func (b *Bridge) Close() { b.cancel() }

// SetDelivery replaces the delivery settings and reseeds the random draws.
func (b *Bridge) SetDelivery(d Delivery) {
	switch {
	case d.MaxRetries == 0:
		d.MaxRetries = defaultMaxRetries
	case d.MaxRetries < 0:
		d.MaxRetries = 0
	}
	if d.RetryBackoff <= 0 {
		d.RetryBackoff = defaultRetryBackoff
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.d = d
	b.rnd = rand.New(rand.NewSource(d.Seed))
}

// AddRule adds a rule to the default bus of r.Region.
func (b *Bridge) AddRule(r Rule) error {
	switch {
	case r.Name == "":
		return errors.New("add rule: name is empty")
	case r.Region == "":
		return fmt.Errorf("add rule %s: region is empty", r.Name)
	case r.Pattern == nil:
		return fmt.Errorf("add rule %s: pattern is nil", r.Name)
	case r.Target == nil:
		return fmt.Errorf("add rule %s: target is nil", r.Name)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, rs := range b.rules[r.Region] {
		if rs.rule.Name == r.Name {
			return fmt.Errorf("add rule %s: already exists in %s", r.Name, r.Region)
		}
	}
	b.rules[r.Region] = append(b.rules[r.Region], &ruleState{rule: r})
	return nil
}

// Publish puts one event on the default bus of its aliyunregionid, like PutEvents: missing
// id, specversion, bus name and times are filled in. Matching is synchronous, delivery is
// not: Publish never waits for a target.
func (b *Bridge) Publish(ev CloudEvent) {
	ev = ev.withDefaults(b.env.Clock.Now())
	payload, err := json.Marshal(ev)
	if err != nil {
		b.log.Warn("event not encodable, dropped", "event_id", ev.ID, "error", err)
		b.mu.Lock()
		b.recordLocked(DeliveryRecord{Region: ev.AliyunRegionID, EventID: ev.ID, Result: ResultDropped, Error: err.Error()})
		b.mu.Unlock()
		return
	}
	var doc any
	_ = json.Unmarshal(payload, &doc) // our own encoding: cannot fail

	b.mu.Lock()
	defer b.mu.Unlock()
	for _, rs := range b.rules[ev.AliyunRegionID] {
		if !rs.rule.Pattern.matchDoc(doc) {
			continue
		}
		drop := b.rnd.Float64() < b.d.Drop
		dup := b.rnd.Float64() < b.d.Duplicate
		reorder := b.rnd.Float64() < b.d.Reorder
		rec := DeliveryRecord{Rule: rs.rule.Name, Region: rs.rule.Region, EventID: ev.ID}
		if drop {
			rec.Result = ResultDropped
			b.recordLocked(rec)
			continue
		}
		copies := 1
		if dup {
			copies = 2
			rec.Result = ResultDuplicated
			b.recordLocked(rec)
		}
		for c := range copies {
			it := &item{id: ev.ID, payload: payload, attempt: 1}
			hold := reorder && c == 0
			if b.d.Delay > 0 {
				// Delayed on the simulated clock: the pending callback is what a driver sees
				// (Clock.NextDue); the delivery counts as in flight once it is due.
				rs := rs
				b.env.Clock.AfterFunc(b.env.Clock.Now().Add(b.d.Delay), func() {
					b.mu.Lock()
					defer b.mu.Unlock()
					b.env.Tracker.Add(1)
					b.admitLocked(rs, it, hold)
				})
				continue
			}
			b.env.Tracker.Add(1)
			b.admitLocked(rs, it, hold)
		}
	}
}

// admitLocked queues a first attempt, applying the reorder hold.
func (b *Bridge) admitLocked(rs *ruleState, it *item, hold bool) {
	if held := rs.held; held != nil {
		rs.held = nil
		b.env.Tracker.Add(1) // the held one is in flight again
		b.enqueueLocked(rs, it)
		b.enqueueLocked(rs, held)
		return
	}
	if hold {
		// Held on the simulated clock: while held it is a pending clock callback, not work
		// in flight, so a driver sees the cloud idle and advances the clock to release it.
		rs.held = it
		b.env.Tracker.Done()
		b.env.Clock.AfterFunc(b.env.Clock.Now().Add(b.hold), func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			if rs.held == it {
				rs.held = nil
				b.env.Tracker.Add(1)
				b.enqueueLocked(rs, it)
			}
		})
		return
	}
	b.enqueueLocked(rs, it)
}

func (b *Bridge) enqueueLocked(rs *ruleState, it *item) {
	rs.queue = append(rs.queue, it)
	if !rs.running {
		rs.running = true
		go b.run(rs)
	}
}

// run delivers one rule's queue, one event at a time, so that the order the queue was
// built in (including injected reordering) is the order the target sees.
func (b *Bridge) run(rs *ruleState) {
	for {
		b.mu.Lock()
		if len(rs.queue) == 0 {
			rs.running = false
			b.mu.Unlock()
			return
		}
		it := rs.queue[0]
		rs.queue = rs.queue[1:]
		b.mu.Unlock()

		err := callTarget(rs.rule.Target, it.payload)
		b.settle(rs, it, err)
	}
}

// settle records an attempt and either finishes the delivery or schedules a retry.
func (b *Bridge) settle(rs *ruleState, it *item, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	rec := DeliveryRecord{Rule: rs.rule.Name, Region: rs.rule.Region, EventID: it.id, Attempt: it.attempt, Result: ResultDelivered}
	if err == nil {
		b.recordLocked(rec)
		b.env.Tracker.Done()
		return
	}
	rec.Result, rec.Error = ResultFailed, err.Error()
	if it.attempt > b.d.MaxRetries {
		rec.Final = true
		b.recordLocked(rec)
		b.log.Warn("event delivery failed, giving up", "rule", rec.Rule, "region", rec.Region, "event_id", it.id, "attempt", it.attempt, "error", err)
		b.env.Tracker.Done()
		return
	}
	b.recordLocked(rec)
	backoff := min(b.d.RetryBackoff<<(it.attempt-1), maxRetryBackoff)
	b.log.Debug("event delivery failed, retrying", "rule", rec.Rule, "event_id", it.id, "attempt", it.attempt, "backoff", backoff, "error", err)
	next := &item{id: it.id, payload: it.payload, attempt: it.attempt + 1}
	// The back-off is simulated time (the delivery stays in flight meanwhile): on a
	// manual clock the wait moves the clock on by it, on a scaled clock it takes
	// backoff/speed of wall time.
	go func() {
		_ = b.env.Clock.Sleep(context.Background(), backoff)
		b.mu.Lock()
		defer b.mu.Unlock()
		b.enqueueLocked(rs, next)
	}()
}

// callTarget turns a panicking target into a failed attempt.
func callTarget(target func([]byte) error, payload []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("target panicked: %v", r)
		}
	}()
	return target(payload)
}

func (b *Bridge) recordLocked(r DeliveryRecord) {
	r.At = b.env.Clock.Now()
	b.records = append(b.records, r)
}

// Deliveries returns a copy of the delivery log, in the order things happened.
func (b *Bridge) Deliveries() []DeliveryRecord {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]DeliveryRecord(nil), b.records...)
}
