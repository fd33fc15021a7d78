package eventbridge

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

var t0 = time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)

const idleTimeout = 30 * time.Second // generous: only bounds a hung test

// sink is a rule target that records what it received.
type sink struct {
	mu   sync.Mutex
	ids  []string
	raw  [][]byte
	fail func(n int, id string) error // n = calls so far for this id, from 1
	per  map[string]int
}

func (s *sink) target(payload []byte) error {
	var ev CloudEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return fmt.Errorf("bad payload: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.per == nil {
		s.per = map[string]int{}
	}
	s.per[ev.ID]++
	if s.fail != nil {
		if err := s.fail(s.per[ev.ID], ev.ID); err != nil {
			return err
		}
	}
	s.ids = append(s.ids, ev.ID)
	s.raw = append(s.raw, payload)
	return nil
}

func (s *sink) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ids...)
}

func newBridge(t *testing.T, d Delivery) (*Bridge, *core.Env) {
	t.Helper()
	env := core.NewEnv(core.NewManualClock(t0), nil)
	b := New(env, d)
	t.Cleanup(b.Close)
	return b, env
}

func mustPattern(t *testing.T, js string) *Pattern {
	t.Helper()
	p, err := CompilePattern(js)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func addRule(t *testing.T, b *Bridge, name, region string, s *sink) {
	t.Helper()
	if err := b.AddRule(Rule{Name: name, Region: region, Pattern: mustPattern(t, `{"source":["acs.ecs"]}`), Target: s.target}); err != nil {
		t.Fatal(err)
	}
}

func ev(id, region string) CloudEvent {
	return CloudEvent{ID: id, Source: "acs.ecs", Type: "ecs:Image:StateChange", AliyunRegionID: region,
		AliyunAccountID: core.DefaultAccountID, Data: json.RawMessage(`{"imageId":"m-1","currentState":"Available"}`)}
}

func waitIdle(t *testing.T, env *core.Env) {
	t.Helper()
	if !env.Tracker.WaitIdle(idleTimeout) {
		t.Fatalf("bridge not idle after %v: %d in flight", idleTimeout, env.Tracker.InFlight())
	}
}

func results(recs []DeliveryRecord) []string {
	var out []string
	for _, r := range recs {
		s := fmt.Sprintf("%s/%s#%d:%s", r.Rule, r.EventID, r.Attempt, r.Result)
		if r.Final {
			s += "(final)"
		}
		out = append(out, s)
	}
	return out
}

func TestRetries(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	tests := []struct {
		name       string
		maxRetries int
		failFirst  int // attempts that fail before success
		wantCalls  []string
		wantRecs   []string
	}{
		{"success after two failures", 0, 2, []string{"e1"},
			[]string{"r/e1#1:failed", "r/e1#2:failed", "r/e1#3:delivered"}},
		{"default 3 retries then give up", 0, 100, nil,
			[]string{"r/e1#1:failed", "r/e1#2:failed", "r/e1#3:failed", "r/e1#4:failed(final)"}},
		{"one retry", 1, 100, nil,
			[]string{"r/e1#1:failed", "r/e1#2:failed(final)"}},
		{"no retries", -1, 100, nil,
			[]string{"r/e1#1:failed(final)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, env := newBridge(t, Delivery{MaxRetries: tt.maxRetries, RetryBackoff: time.Millisecond})
			s := &sink{fail: func(n int, _ string) error {
				if n <= tt.failFirst {
					return boom
				}
				return nil
			}}
			addRule(t, b, "r", "cn-hangzhou", s)
			b.Publish(ev("e1", "cn-hangzhou"))
			waitIdle(t, env)
			if got := s.got(); !slices.Equal(got, tt.wantCalls) {
				t.Errorf("delivered = %v, want %v", got, tt.wantCalls)
			}
			recs := b.Deliveries()
			if got := results(recs); !slices.Equal(got, tt.wantRecs) {
				t.Errorf("records = %v, want %v", got, tt.wantRecs)
			}
			for _, r := range recs {
				if r.Result == ResultFailed && r.Error != "boom" {
					t.Errorf("record error = %q, want boom", r.Error)
				}
			}
		})
	}
}

func TestTargetPanicIsRetried(t *testing.T) {
	t.Parallel()
	b, env := newBridge(t, Delivery{RetryBackoff: time.Millisecond})
	calls := 0
	err := b.AddRule(Rule{Name: "r", Region: "cn-hangzhou", Pattern: mustPattern(t, `{}`), Target: func([]byte) error {
		calls++ // one worker per rule: calls are sequential
		if calls == 1 {
			panic("kaboom")
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	b.Publish(ev("e1", "cn-hangzhou"))
	waitIdle(t, env)
	recs := b.Deliveries()
	if got, want := results(recs), []string{"r/e1#1:failed", "r/e1#2:delivered"}; !slices.Equal(got, want) {
		t.Fatalf("records = %v, want %v", got, want)
	}
	if recs[0].Error != "target panicked: kaboom" {
		t.Errorf("error = %q", recs[0].Error)
	}
}

func TestDropAndDuplicate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		d         Delivery
		wantCalls []string
		wantRecs  []string
	}{
		{"reliable", Delivery{}, []string{"e1"}, []string{"r/e1#1:delivered"}},
		{"drop", Delivery{Drop: 1}, nil, []string{"r/e1#0:dropped"}},
		{"duplicate", Delivery{Duplicate: 1}, []string{"e1", "e1"},
			[]string{"r/e1#0:duplicated", "r/e1#1:delivered", "r/e1#1:delivered"}},
		{"drop wins over duplicate", Delivery{Drop: 1, Duplicate: 1}, nil, []string{"r/e1#0:dropped"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, env := newBridge(t, tt.d)
			s := &sink{}
			addRule(t, b, "r", "cn-hangzhou", s)
			b.Publish(ev("e1", "cn-hangzhou"))
			waitIdle(t, env)
			if got := s.got(); !slices.Equal(got, tt.wantCalls) {
				t.Errorf("delivered = %v, want %v", got, tt.wantCalls)
			}
			if got := results(b.Deliveries()); !slices.Equal(got, tt.wantRecs) {
				t.Errorf("records = %v, want %v", got, tt.wantRecs)
			}
		})
	}
}

func publishAll(b *Bridge, region string, ids ...string) {
	for _, id := range ids {
		b.Publish(ev(id, region))
	}
}

func TestReorder(t *testing.T) {
	t.Parallel()
	ids := []string{"e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8"}
	run := func(d Delivery) []string {
		b, env := newBridge(t, d)
		b.hold = time.Hour // a held event waits for its successor, however slow the machine
		s := &sink{}
		addRule(t, b, "r", "cn-hangzhou", s)
		publishAll(b, "cn-hangzhou", ids...)
		if d.Reorder == 1 {
			// every other event is held; the last one (e8) waits for the simulated hold
			waitIdle(t, env)
			env.Clock.Advance(b.hold)
			waitIdle(t, env)
		} else {
			b.SetDelivery(Delivery{})             // flush itself is never held
			publishAll(b, "cn-hangzhou", "flush") // releases a held e8, if any
			waitIdle(t, env)
		}
		return s.got()
	}

	if got, want := run(Delivery{Reorder: 1}), []string{"e2", "e1", "e4", "e3", "e6", "e5", "e8", "e7"}; !slices.Equal(got, want) {
		t.Errorf("Reorder=1: order = %v, want %v", got, want)
	}
	if got := run(Delivery{}); !slices.Equal(got, append(slices.Clone(ids), "flush")) {
		t.Errorf("Reorder=0: order = %v, want publish order", got)
	}
	a := run(Delivery{Reorder: 0.5, Seed: 7})
	if b := run(Delivery{Reorder: 0.5, Seed: 7}); !slices.Equal(a, b) {
		t.Errorf("same seed gave different orders: %v vs %v", a, b)
	}
	if slices.Equal(a, append(slices.Clone(ids), "flush")) {
		t.Errorf("Reorder=0.5 seed 7 did not reorder anything: %v", a)
	}
	sorted := slices.Clone(a)
	slices.Sort(sorted)
	want := append(slices.Clone(ids), "flush")
	slices.Sort(want)
	if !slices.Equal(sorted, want) {
		t.Errorf("reordering lost or added events: %v", a)
	}
}

func TestReorderHeldEventIsReleasedAlone(t *testing.T) {
	t.Parallel()
	b, env := newBridge(t, Delivery{Reorder: 1})
	s := &sink{}
	addRule(t, b, "r", "cn-hangzhou", s)
	b.Publish(ev("only", "cn-hangzhou"))
	waitIdle(t, env)
	if got := s.got(); len(got) != 0 {
		t.Fatalf("delivered %v before the hold ended", got)
	}
	env.Clock.Advance(b.hold) // the hold is simulated time
	waitIdle(t, env)
	if got := s.got(); !slices.Equal(got, []string{"only"}) {
		t.Errorf("delivered = %v, want [only]", got)
	}
}

func TestRegionalIsolation(t *testing.T) {
	t.Parallel()
	b, env := newBridge(t, Delivery{})
	hz, sh, sh2 := &sink{}, &sink{}, &sink{}
	addRule(t, b, "copy", "cn-hangzhou", hz)
	addRule(t, b, "copy", "cn-shanghai", sh) // same name, other region: allowed
	addRule(t, b, "audit", "cn-shanghai", sh2)
	publishAll(b, "cn-shanghai", "s1")
	publishAll(b, "cn-hangzhou", "h1")
	publishAll(b, "", "nowhere")
	publishAll(b, "cn-beijing", "b1")
	waitIdle(t, env)
	for _, c := range []struct {
		name string
		s    *sink
		want []string
	}{{"hangzhou", hz, []string{"h1"}}, {"shanghai", sh, []string{"s1"}}, {"shanghai audit", sh2, []string{"s1"}}} {
		if got := c.s.got(); !slices.Equal(got, c.want) {
			t.Errorf("%s got %v, want %v", c.name, got, c.want)
		}
	}
}

func TestPatternSelectsEvents(t *testing.T) {
	t.Parallel()
	b, env := newBridge(t, Delivery{})
	s := &sink{}
	err := b.AddRule(Rule{Name: "image-ready", Region: "cn-hangzhou", Target: s.target,
		Pattern: mustPattern(t, `{"source":["acs.ecs"],"type":["ecs:Image:StateChange"],"data":{"currentState":["Available"]}}`)})
	if err != nil {
		t.Fatal(err)
	}
	creating := ev("creating", "cn-hangzhou")
	creating.Data = json.RawMessage(`{"imageId":"m-1","currentState":"Creating"}`)
	other := ev("other", "cn-hangzhou")
	other.Source = "acs.oss"
	b.Publish(creating)
	b.Publish(other)
	b.Publish(ev("available", "cn-hangzhou"))
	waitIdle(t, env)
	if got := s.got(); !slices.Equal(got, []string{"available"}) {
		t.Errorf("delivered = %v, want [available]", got)
	}
}

func TestBusEventsAreDelivered(t *testing.T) {
	t.Parallel()
	b, env := newBridge(t, Delivery{})
	s := &sink{}
	err := b.AddRule(Rule{Name: "image-ready", Region: "cn-hangzhou", Target: s.target,
		Pattern: mustPattern(t, `{"source":["acs.ecs"],"type":["ecs:Image:StateChange"],"data":{"currentState":["Available"]}}`)})
	if err != nil {
		t.Fatal(err)
	}
	env.Bus.Publish(core.Event{ID: "bus-1", Source: "acs.ecs", Type: "Image:StateChange", Region: "cn-hangzhou",
		AccountID: core.DefaultAccountID, Resource: "acs:ecs:cn-hangzhou:" + core.DefaultAccountID + ":image/m-9",
		Time: t0.Add(1500 * time.Millisecond), Data: map[string]any{"imageId": "m-9", "currentState": "Available"}})
	waitIdle(t, env)
	if got := s.got(); !slices.Equal(got, []string{"bus-1"}) {
		t.Fatalf("delivered = %v, want [bus-1]", got)
	}
	var got map[string]any
	if err := json.Unmarshal(s.raw[0], &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"id": "bus-1", "source": "acs.ecs", "specversion": "1.0", "type": "ecs:Image:StateChange",
		"subject": "acs:ecs:cn-hangzhou:1234567890123456:image/m-9", "time": "2026-11-23T02:00:01.500Z",
		"datacontenttype": "application/json;charset=utf-8", "aliyunaccountid": "1234567890123456",
		"aliyunpublishtime": "2026-11-23T02:00:01.500Z", "aliyunregionid": "cn-hangzhou", "aliyuneventbusname": "default",
		"data": map[string]any{"imageId": "m-9", "currentState": "Available"}}
	if g, w := fmt.Sprint(got), fmt.Sprint(want); g != w {
		t.Errorf("payload\n got %s\nwant %s", g, w)
	}
}

func TestFromCore(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, source, typ, wantType string
		data                        map[string]any
		wantData                    string
	}{
		{"ecs prefix added", "acs.ecs", "Image:StateChange", "ecs:Image:StateChange", map[string]any{"a": 1}, `{"a":1}`},
		{"already prefixed", "acs.ecs", "ecs:Image:StateChange", "ecs:Image:StateChange", nil, `{}`},
		{"non acs source untouched", "custom.app", "Thing", "Thing", nil, `{}`},
		{"unencodable data", "acs.ecs", "X", "ecs:X", map[string]any{"c": make(chan int)}, `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ce := FromCore(core.Event{ID: "i", Source: tt.source, Type: tt.typ, Region: "r", Time: t0, Data: tt.data})
			if ce.Type != tt.wantType || string(ce.Data) != tt.wantData || ce.Time != "2026-11-23T02:00:00.000Z" || ce.AliyunEventBusName != "default" {
				t.Errorf("FromCore = %+v (data %s)", ce, ce.Data)
			}
		})
	}
}

func TestPublishFillsDefaults(t *testing.T) {
	t.Parallel()
	b, env := newBridge(t, Delivery{})
	s := &sink{}
	addRule(t, b, "r", "cn-hangzhou", s)
	b.Publish(CloudEvent{Source: "acs.ecs", Type: "ecs:Image:StateChange", AliyunRegionID: "cn-hangzhou"})
	waitIdle(t, env)
	if len(s.raw) != 1 {
		t.Fatalf("delivered %d events, want 1", len(s.raw))
	}
	var ce CloudEvent
	if err := json.Unmarshal(s.raw[0], &ce); err != nil {
		t.Fatal(err)
	}
	if ce.ID == "" || ce.SpecVersion != "1.0" || ce.AliyunEventBusName != "default" || ce.Time != "2026-11-23T02:00:00.000Z" || string(ce.Data) != "{}" {
		t.Errorf("defaults not filled: %+v", ce)
	}
}

func TestPublishInvalidDataIsDropped(t *testing.T) {
	t.Parallel()
	b, env := newBridge(t, Delivery{})
	s := &sink{}
	addRule(t, b, "r", "cn-hangzhou", s)
	bad := ev("bad", "cn-hangzhou")
	bad.Data = json.RawMessage(`{not json`)
	b.Publish(bad)
	waitIdle(t, env)
	recs := b.Deliveries()
	if len(s.got()) != 0 || len(recs) != 1 || recs[0].Result != ResultDropped || recs[0].Error == "" {
		t.Errorf("records = %+v, delivered %v; want one dropped record with an error", recs, s.got())
	}
}

func TestDelayAndTracker(t *testing.T) {
	t.Parallel()
	const delay = 30 * time.Minute // simulated: the test takes no wall time for it
	b, env := newBridge(t, Delivery{Delay: delay})
	var mu sync.Mutex
	var at time.Time
	err := b.AddRule(Rule{Name: "r", Region: "cn-hangzhou", Pattern: mustPattern(t, `{}`), Target: func([]byte) error {
		mu.Lock()
		at = env.Clock.Now()
		mu.Unlock()
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	start := env.Clock.Now()
	b.Publish(ev("e1", "cn-hangzhou"))
	// Until it is due, the delivery is a pending clock callback, not work in flight.
	if due, ok := env.Clock.NextDue(); !ok || !due.Equal(start.Add(delay)) {
		t.Errorf("next due = %v %v, want %v", due, ok, start.Add(delay))
	}
	env.Clock.Advance(delay - time.Second)
	waitIdle(t, env)
	mu.Lock()
	early := at
	mu.Unlock()
	if !early.IsZero() {
		t.Fatalf("delivered at %v, before the delay ended", early)
	}
	env.Clock.Advance(time.Second)
	waitIdle(t, env)
	mu.Lock()
	defer mu.Unlock()
	if at.IsZero() || at.Sub(start) < delay {
		t.Errorf("delivered %v after publish (simulated), want at least %v", at.Sub(start), delay)
	}
}

func TestAddRuleErrors(t *testing.T) {
	t.Parallel()
	b, _ := newBridge(t, Delivery{})
	p := mustPattern(t, `{}`)
	target := func([]byte) error { return nil }
	if err := b.AddRule(Rule{Name: "dup", Region: "cn-hangzhou", Pattern: p, Target: target}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		r    Rule
		want string
	}{
		{"no name", Rule{Region: "r", Pattern: p, Target: target}, "name is empty"},
		{"no region", Rule{Name: "n", Pattern: p, Target: target}, "region is empty"},
		{"no pattern", Rule{Name: "n", Region: "r", Target: target}, "pattern is nil"},
		{"no target", Rule{Name: "n", Region: "r", Pattern: p}, "target is nil"},
		{"duplicate", Rule{Name: "dup", Region: "cn-hangzhou", Pattern: p, Target: target}, "already exists in cn-hangzhou"},
	}
	for _, tt := range tests {
		err := b.AddRule(tt.r)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: AddRule error = %v, want %q", tt.name, err, tt.want)
		}
	}
}

// Retry back-off is simulated time: a 1 s back-off (then 2 s, the cap) moves the manual
// clock by that much between attempts and costs no wall time.
func TestRetryBackoffIsSimulatedTime(t *testing.T) {
	t.Parallel()
	b, env := newBridge(t, Delivery{MaxRetries: 3, RetryBackoff: time.Second})
	s := &sink{fail: func(n int, _ string) error {
		if n <= 3 {
			return errors.New("boom")
		}
		return nil
	}}
	addRule(t, b, "r", "cn-hangzhou", s)
	wall := time.Now()
	b.Publish(ev("e1", "cn-hangzhou"))
	waitIdle(t, env)
	recs := b.Deliveries()
	if got, want := results(recs), []string{"r/e1#1:failed", "r/e1#2:failed", "r/e1#3:failed", "r/e1#4:delivered"}; !slices.Equal(got, want) {
		t.Fatalf("records = %v, want %v", got, want)
	}
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 2 * time.Second} {
		if gap := recs[i+1].At.Sub(recs[i].At); gap < want {
			t.Errorf("attempt %d came %v of simulated time after the previous, want at least the %v back-off", i+2, gap, want)
		}
	}
	if el := time.Since(wall); el >= 5*time.Second {
		t.Errorf("5 s of back-off took %v of wall time", el)
	}
}
