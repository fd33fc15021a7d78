package fc

import (
	"strings"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/timer"
)

// A timer trigger on the local clock drives the real binary through InvokeAsync, and an
// instance whose environment credentials would expire is replaced.
func TestTimerTriggerDrivesFunction(t *testing.T) {
	t.Parallel()
	s := spec("start-backup")
	s.Role = "acs:ram::1234567890123456:role/backup"
	f := newFixture(t, s)
	sched := timer.NewScheduler(f.env, func(tr timer.Trigger, ev []byte) {
		if _, err := f.rt.InvokeAsync(tr.Function, ev, "timer:"+tr.Name); err != nil {
			t.Errorf("InvokeAsync: %v", err)
		}
	})
	defer sched.Stop()
	err := sched.Add(timer.Trigger{Function: "start-backup", Name: "daily", Cron: "CRON_TZ=Asia/Shanghai 0 0 2 * * *",
		Payload: `{"instanceIds":["i-1"]}`, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for day := range 2 {
		f.env.Clock.Advance(24 * time.Hour) // 2026-03-01T00:00Z + 1 day: one fire per step
		if !f.env.Tracker.WaitIdle(30 * time.Second) {
			t.Fatal("timer invocation never finished")
		}
		invs := f.rt.Invocations()
		if len(invs) != day+1 {
			t.Fatalf("after day %d: %d invocations, want %d", day+1, len(invs), day+1)
		}
		inv := invs[day]
		e := decodeEcho(t, inv)
		wantTime := time.Date(2026, 3, 1+day, 18, 0, 0, 0, time.UTC).Format("2006-01-02T15:04:05Z")
		if inv.Source != "timer:daily" || !inv.Async || !strings.Contains(string(e.Event), `"triggerTime":"`+wantTime+`"`) ||
			!strings.Contains(string(e.Event), `"payload":"{\"instanceIds\":[\"i-1\"]}"`) {
			t.Errorf("day %d: source %q async %v event %s, want timer:daily async with triggerTime %s", day+1, inv.Source, inv.Async, e.Event, wantTime)
		}
		pids = append(pids, e.PID)
	}
	// CredentialTTL is 1h of simulated time: a day later the warm instance's environment
	// credentials are stale, so it was recycled.
	if pids[0] == pids[1] {
		t.Errorf("instance with expired environment credentials was reused (pid %d)", pids[0])
	}
}
