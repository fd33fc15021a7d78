package app

import (
	"bytes"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/events"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

func TestBoundedTimeNeverInTheFutureNorAPastSlot(t *testing.T) {
	t.Parallel()
	pol := &policy.Policy{Timezone: "Asia/Shanghai", SlotInterval: "24h"}
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC) // 17:00 in Shanghai, slot 20261124
	tests := []struct {
		name    string
		timer   *events.TimerEvent
		evs     []events.ImageEvent
		want    time.Time
		clamped bool
	}{
		{"on time", &events.TimerEvent{TriggerTime: now}, nil, now, false},
		{"FC retry, earlier in the slot", &events.TimerEvent{TriggerTime: now.Add(-8 * time.Hour)}, nil, now.Add(-8 * time.Hour), false},
		{"clock skew of seconds", &events.TimerEvent{TriggerTime: now.Add(2 * time.Second)}, nil, now.Add(2 * time.Second), false},
		{"future date", &events.TimerEvent{TriggerTime: now.AddDate(1, 0, 0)}, nil, now, true},
		{"sample payload of another year", &events.TimerEvent{TriggerTime: time.Date(2023, 12, 26, 7, 49, 0, 0, time.UTC)}, nil, now, true},
		{"previous slot", &events.TimerEvent{TriggerTime: now.Add(-18 * time.Hour)}, nil, now, true},
		{"event from the future", nil, []events.ImageEvent{{Time: now.Add(48 * time.Hour)}}, now, true},
		{"event earlier today", nil, []events.ImageEvent{{Time: now.Add(-time.Hour)}}, now.Add(-time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&buf, nil))
			got := boundedTime(tt.timer, tt.evs, now, pol, log)
			if !got.Equal(tt.want) {
				t.Errorf("boundedTime = %v, want %v", got, tt.want)
			}
			if logged := strings.Contains(buf.String(), "payload time replaced by the clock"); logged != tt.clamped {
				t.Errorf("clamp record = %v, want %v:\n%s", logged, tt.clamped, buf.String())
			}
		})
	}
}

// The documented run-now payload parses as a timer and always means "now".
func TestRunNowPayloadMeansNow(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../events/run-now.json")
	if err != nil {
		t.Fatal(err)
	}
	kind, timer, _, err := events.Parse(raw)
	if err != nil || kind != events.KindTimer {
		t.Fatalf("run-now.json: kind %v err %v, want a timer payload", kind, err)
	}
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	pol := &policy.Policy{}
	if got := boundedTime(timer, nil, now, pol, slog.New(slog.DiscardHandler)); !got.Equal(now) {
		t.Errorf("run-now means %v, want now %v", got, now)
	}
}
