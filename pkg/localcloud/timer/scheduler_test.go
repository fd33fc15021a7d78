package timer

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

type recorder struct {
	mu     sync.Mutex
	events []string
	times  []string
}

func (r *recorder) fire(clock *core.Clock) func(Trigger, []byte) {
	return func(t Trigger, ev []byte) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.events = append(r.events, t.Function+" "+string(ev))
		r.times = append(r.times, clock.Now().UTC().Format(time.RFC3339))
	}
}

func (r *recorder) snapshot() ([]string, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...), append([]string(nil), r.times...)
}

func TestSchedulerShanghaiDaily(t *testing.T) {
	t.Parallel()
	clock := core.NewManualClock(mustTime(t, "2026-03-01T12:00:00Z"))
	env := core.NewEnv(clock, nil)
	rec := &recorder{}
	s := NewScheduler(env, rec.fire(clock))
	defer s.Stop()
	trig := Trigger{Function: "start-backup", Name: "daily", Cron: "CRON_TZ=Asia/Shanghai 0 0 2 * * *", Payload: `{"retainDays":7}`, Enabled: true}
	if err := s.Add(trig); err != nil {
		t.Fatalf("Add: %v", err)
	}
	if next, ok := s.NextFire("start-backup", "daily"); !ok || !next.Equal(mustTime(t, "2026-03-01T18:00:00Z")) {
		t.Errorf("NextFire = %v %v, want 2026-03-01T18:00:00Z", next, ok)
	}
	clock.Advance(72 * time.Hour)
	events, times := rec.snapshot()
	wantTimes := []string{"2026-03-01T18:00:00Z", "2026-03-02T18:00:00Z", "2026-03-03T18:00:00Z"}
	if strings.Join(times, " ") != strings.Join(wantTimes, " ") {
		t.Fatalf("fired at %v, want %v", times, wantTimes)
	}
	want0 := `start-backup {"triggerTime":"2026-03-01T18:00:00Z","triggerName":"daily","payload":"{\"retainDays\":7}"}`
	if events[0] != want0 {
		t.Errorf("event 0 = %s\nwant      %s", events[0], want0)
	}
}

func TestSchedulerDisabledRemoveStop(t *testing.T) {
	t.Parallel()
	clock := core.NewManualClock(mustTime(t, "2026-03-01T00:00:00Z"))
	env := core.NewEnv(clock, nil)
	rec := &recorder{}
	s := NewScheduler(env, rec.fire(clock))
	for _, tr := range []Trigger{
		{Function: "f", Name: "off", Cron: "@every 1m", Enabled: false},
		{Function: "f", Name: "removed", Cron: "@every 1m", Enabled: true},
		{Function: "g", Name: "hourly", Cron: "0 0 * * * *", Enabled: true},
	} {
		if err := s.Add(tr); err != nil {
			t.Fatalf("Add %s: %v", tr.Name, err)
		}
	}
	if next, ok := s.NextFire("f", "off"); ok {
		t.Errorf("NextFire of a disabled trigger = %v, want none", next)
	}
	if !s.Remove("f", "removed") {
		t.Fatal("Remove reported the trigger missing")
	}
	if s.Remove("f", "removed") {
		t.Error("second Remove reported success")
	}
	clock.Advance(2*time.Hour + 30*time.Minute)
	_, times := rec.snapshot()
	if strings.Join(times, " ") != "2026-03-01T01:00:00Z 2026-03-01T02:00:00Z" {
		t.Errorf("fired at %v, want only the hourly trigger at 01:00 and 02:00", times)
	}
	s.Stop()
	clock.Advance(5 * time.Hour)
	if _, times := rec.snapshot(); len(times) != 2 {
		t.Errorf("fired %d times after Stop, want no more fires (2 total)", len(times))
	}
	if err := s.Add(Trigger{Function: "h", Name: "x", Cron: "@every 1m", Enabled: true}); err == nil {
		t.Error("Add after Stop succeeded")
	}
}

func TestSchedulerEveryChainsFromFireTime(t *testing.T) {
	t.Parallel()
	clock := core.NewManualClock(mustTime(t, "2026-03-01T00:00:10Z"))
	env := core.NewEnv(clock, nil)
	rec := &recorder{}
	s := NewScheduler(env, rec.fire(clock))
	defer s.Stop()
	if err := s.Add(Trigger{Function: "f", Name: "t", Cron: "@every 1h30m", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	// NextFire is the armed time, not "an interval from now".
	wantNext := func(want string) {
		t.Helper()
		if next, ok := s.NextFire("f", "t"); !ok || !next.Equal(mustTime(t, want)) {
			t.Errorf("at %s NextFire = %v %v, want %s", clock.Now().Format(time.RFC3339), next, ok, want)
		}
	}
	clock.Advance(30 * time.Minute)
	wantNext("2026-03-01T01:30:10Z")
	clock.Advance(3*time.Hour + 30*time.Minute)
	_, times := rec.snapshot()
	if strings.Join(times, " ") != "2026-03-01T01:30:10Z 2026-03-01T03:00:10Z" {
		t.Errorf("fired at %v", times)
	}
	wantNext("2026-03-01T04:30:10Z")
	s.Stop()
	if next, ok := s.NextFire("f", "t"); ok {
		t.Errorf("NextFire after Stop = %v, want none", next)
	}
}

func TestSchedulerAddErrors(t *testing.T) {
	t.Parallel()
	env := core.NewEnv(core.NewManualClock(mustTime(t, "2026-03-01T00:00:00Z")), nil)
	s := NewScheduler(env, func(Trigger, []byte) {})
	defer s.Stop()
	if err := s.Add(Trigger{Function: "f", Name: "a", Cron: "0 0 0 * * *", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		trig Trigger
		want string
	}{
		{"no function", Trigger{Name: "a", Cron: "@every 1m"}, "function name is empty"},
		{"no name", Trigger{Function: "f", Cron: "@every 1m"}, "trigger name is empty"},
		{"bad cron", Trigger{Function: "f", Name: "b", Cron: "0 0 25 * * *"}, `add timer trigger f/b: cron "0 0 25 * * *": hours: 25 out of range 0-23`},
		{"duplicate", Trigger{Function: "f", Name: "a", Cron: "@every 1m"}, "already exists"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Add(tc.trig)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Add = %v, want error containing %q", err, tc.want)
			}
		})
	}
}

func TestTimerEventMatchesSDKShape(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 2, 2, 0, 0, 0, time.FixedZone("CST", 8*3600))
	ev := TimerEvent(Trigger{Name: "daily", Payload: `<a&b>`}, at)
	want := `{"triggerTime":"2026-03-01T18:00:00Z","triggerName":"daily","payload":"<a&b>"}`
	if string(ev) != want {
		t.Errorf("TimerEvent = %s, want %s", ev, want)
	}
	// The SDK's events.TimerEvent uses *string fields with these tags.
	var parsed struct {
		TriggerTime *string `json:"triggerTime"`
		TriggerName *string `json:"triggerName"`
		Payload     *string `json:"payload"`
	}
	if err := json.Unmarshal(ev, &parsed); err != nil || parsed.Payload == nil || *parsed.Payload != "<a&b>" {
		t.Errorf("unmarshal into SDK shape: %v %+v", err, parsed)
	}
}
