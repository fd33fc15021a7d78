package timer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

// Trigger is an FC timer trigger (TimerTriggerConfig: cronExpression, enable, payload).
type Trigger struct {
	Function string // function the trigger invokes
	Name     string // trigger name, unique per function; becomes the event's triggerName
	Cron     string // FC cron expression, see Parse
	Payload  string // delivered verbatim as the event's "payload" string
	Enabled  bool   // a disabled trigger is registered but never fires
}

// Scheduler fires timer triggers as env.Clock passes their fire times.
type Scheduler struct {
	env  *core.Env
	fire func(t Trigger, event []byte)

	mu      sync.Mutex
	entries map[string]*entry
	stopped bool
}

type entry struct {
	trig  Trigger
	sched Schedule
	timer *core.Timer
	next  time.Time // when timer fires; zero when nothing is armed
}

// NewScheduler returns a scheduler that calls fire with the timer event of every fire.
// fire runs on the clock's callback path (inside Clock.Advance) and must not block: hand
// the event to an asynchronous invoke (fc.Runtime.InvokeAsync) and return. Timer
// invocations are asynchronous in FC too.
func NewScheduler(env *core.Env, fire func(t Trigger, event []byte)) *Scheduler {
	return &Scheduler{env: env, fire: fire, entries: map[string]*entry{}}
}

func key(function, name string) string { return function + "/" + name }

// Add registers t and, when enabled, arms its first fire after the clock's current time.
// After each fire the next one is armed from the fire time, so advancing the clock
// across several periods fires each of them, in order.
func (s *Scheduler) Add(t Trigger) error {
	if t.Function == "" {
		return errors.New("add timer trigger: function name is empty")
	}
	if t.Name == "" {
		return fmt.Errorf("add timer trigger for %s: trigger name is empty", t.Function)
	}
	sched, err := Parse(t.Cron)
	if err != nil {
		return fmt.Errorf("add timer trigger %s/%s: %w", t.Function, t.Name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return fmt.Errorf("add timer trigger %s/%s: scheduler stopped", t.Function, t.Name)
	}
	k := key(t.Function, t.Name)
	if _, dup := s.entries[k]; dup {
		return fmt.Errorf("add timer trigger %s/%s: trigger already exists", t.Function, t.Name)
	}
	e := &entry{trig: t, sched: sched}
	s.entries[k] = e
	if t.Enabled {
		s.armLocked(e, s.env.Clock.Now())
	}
	return nil
}

// Remove deletes a trigger; it reports whether it existed.
func (s *Scheduler) Remove(function, name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[key(function, name)]
	if !ok {
		return false
	}
	if e.timer != nil {
		e.timer.Stop()
	}
	delete(s.entries, key(function, name))
	return true
}

// Triggers lists the registered triggers.
func (s *Scheduler) Triggers() []Trigger {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Trigger, 0, len(s.entries))
	for _, e := range s.entries {
		out = append(out, e.trig)
	}
	return out
}

// NextFire reports when the trigger fires next: the armed fire time, which for @every
// chains from the previous fire rather than from now (false if unknown, disabled,
// exhausted or stopped).
func (s *Scheduler) NextFire(function, name string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[key(function, name)]
	if !ok || e.timer == nil {
		return time.Time{}, false
	}
	return e.next, true
}

// Stop cancels every pending fire; later Adds fail.
func (s *Scheduler) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	for _, e := range s.entries {
		if e.timer != nil {
			e.timer.Stop()
			e.timer, e.next = nil, time.Time{}
		}
	}
}

func (s *Scheduler) armLocked(e *entry, from time.Time) {
	at := e.sched.Next(from)
	if at.IsZero() {
		s.env.Log.Warn("timer trigger never fires again", "function", e.trig.Function, "trigger", e.trig.Name, "cron", e.trig.Cron)
		e.timer, e.next = nil, time.Time{}
		return
	}
	e.next = at
	e.timer = s.env.Clock.AfterFunc(at, func() { s.onFire(e, at) })
}

func (s *Scheduler) onFire(e *entry, at time.Time) {
	s.mu.Lock()
	if s.stopped || s.entries[key(e.trig.Function, e.trig.Name)] != e {
		s.mu.Unlock()
		return
	}
	s.armLocked(e, at)
	t := e.trig
	s.mu.Unlock()
	s.env.Log.Info("timer trigger fired", "function", t.Function, "trigger", t.Name, "at", at.UTC().Format(time.RFC3339))
	s.fire(t, TimerEvent(t, at))
}

// TimerEvent builds the event FC hands to a timer-triggered function:
// {"triggerTime":"2006-01-02T15:04:05Z","triggerName":"…","payload":"…"} (time in UTC, whole
// seconds; payload is the configured string, never parsed).
func TimerEvent(t Trigger, at time.Time) []byte {
	ev := struct {
		TriggerTime string `json:"triggerTime"`
		TriggerName string `json:"triggerName"`
		Payload     string `json:"payload"`
	}{at.UTC().Format("2006-01-02T15:04:05Z"), t.Name, t.Payload}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(ev) // strings only: cannot fail
	return bytes.TrimRight(buf.Bytes(), "\n")
}
