package app

import (
	"encoding/json"

	"github.com/ecsdr/ecs-image-dr/pkg/events"
)

// modePending is copy-image's frequent timer ({"action":"reconcile","mode":"pending"}):
// backup.ReconcilePending, which looks only at the images marked pending, instead of the
// daily full Reconcile.
const modePending = "pending"

// timerMode is the "mode" of a timer's payload ("" when absent or unreadable: the full
// run, as before modes existed).
func timerMode(timer *events.TimerEvent) string {
	if timer == nil || timer.Payload == "" {
		return ""
	}
	var p struct {
		Mode string `json:"mode"`
	}
	if json.Unmarshal([]byte(timer.Payload), &p) != nil {
		return ""
	}
	return p.Mode
}
