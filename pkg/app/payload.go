package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/ecsdr/ecs-image-dr/pkg/backup"
	"github.com/ecsdr/ecs-image-dr/pkg/events"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// Modes of copy-image's timer run.
const (
	ModeDeep    = "deep"    // Reconcile: every managed image of the shard, in every region
	ModePending = "pending" // only the images marked as work in progress (cheap, frequent)
)

// timerPayload is a timer trigger's configured payload (s.yaml triggerConfig.payload): the
// work one timer run does. Every field is optional; an unknown field is an error, so a typo
// ("shards") cannot silently turn one shard's trigger into a run over the whole fleet.
//
//	{"action":"cleanup","shard":"2/8"}              cleanup of instance shard 2 of 8
//	{"action":"reconcile","mode":"pending"}         copy-image: the cheap pass over work markers
//	{"action":"create","regions":["cn-hangzhou"]}   create-image in these source regions only
type timerPayload struct {
	Action  string   `json:"action"`
	Mode    string   `json:"mode,omitempty"`
	Shard   string   `json:"shard,omitempty"`
	Regions []string `json:"regions,omitempty"`

	shard policy.Shard
}

// parseTimerPayload reads and checks the payload of fn's timer. dr-drill reads its own
// (drill.go) and rds-offsite has none, so both get the zero payload.
func parseTimerPayload(fn Function, timer *events.TimerEvent) (timerPayload, error) {
	var p timerPayload
	if timer == nil || fn == DRDrill || fn == RDSOffsite || strings.TrimSpace(timer.Payload) == "" {
		return p, nil
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(timer.Payload)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("timer payload %q: want {\"action\",\"mode\",\"shard\",\"regions\"}: %v", backup.CapString(timer.Payload, 200), err)
	}
	shard, err := policy.ParseShard(p.Shard)
	if err != nil {
		return p, fmt.Errorf("timer payload: %w", err)
	}
	p.shard = shard
	switch {
	case p.Mode != "" && fn != CopyImage:
		return p, fmt.Errorf("timer payload: mode %q is for copy-image's reconcile only", p.Mode)
	case p.Mode != "" && p.Mode != ModeDeep && p.Mode != ModePending:
		return p, fmt.Errorf("timer payload: mode %q: want %q or %q", p.Mode, ModeDeep, ModePending)
	case p.Mode == ModePending && !shard.All():
		// The pending pass lists only marked images: it is cheap at any fleet size.
		return p, fmt.Errorf("timer payload: mode %q takes no shard", ModePending)
	case len(p.Regions) > 0 && fn != CreateImage:
		// Cleanup and reconcile follow an instance's images across regions (a source and its
		// copies); a region subset would judge them on half the lineage.
		return p, fmt.Errorf("timer payload: regions is for create-image only (%s shards by instance: use shard)", fn)
	}
	return p, nil
}

// checkRegions verifies that the payload's regions are source regions of pol.
func (p timerPayload) checkRegions(pol *policy.Policy) error {
	for _, r := range p.Regions {
		if !slices.Contains(pol.SourceRegions(), r) {
			return fmt.Errorf("timer payload: region %q is not a source region of policy %s (%s)", r, pol.Name,
				strings.Join(pol.SourceRegions(), ", "))
		}
	}
	return nil
}
