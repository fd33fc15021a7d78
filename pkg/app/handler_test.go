package app

import (
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/events"
)

func TestInvocationTime(t *testing.T) {
	t.Parallel()
	fallback := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	t1 := time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Minute)
	tests := []struct {
		name  string
		timer *events.TimerEvent
		evs   []events.ImageEvent
		want  time.Time
	}{
		{"timer: when it was due", &events.TimerEvent{TriggerTime: t1}, nil, t1},
		{"timer without time", &events.TimerEvent{}, nil, fallback},
		{"events: the newest", nil, []events.ImageEvent{{Time: t2}, {Time: t1}}, t2},
		// The last event has no time: it must not make "now" the zero time.
		{"last event without time", nil, []events.ImageEvent{{Time: t1}, {}}, t1},
		{"first event without time", nil, []events.ImageEvent{{}, {Time: t2}}, t2},
		{"no event times", nil, []events.ImageEvent{{}, {}}, fallback},
		{"nothing", nil, nil, fallback},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := invocationTime(tt.timer, tt.evs, fallback); !got.Equal(tt.want) {
				t.Errorf("invocationTime = %v, want %v", got, tt.want)
			}
		})
	}
}
