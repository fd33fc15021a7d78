package sconfig

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/eventbridge"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// The golden inputs in events/ (also usable with `s invoke --event-file`) are checked here
// against the s.yaml they are meant for.
const eventsDir = "../../events"

// timerEvent is FC's timer payload (fc-runtime-go-sdk events.TimerEvent).
type timerEvent struct {
	TriggerTime *string `json:"triggerTime"`
	TriggerName *string `json:"triggerName"`
	Payload     *string `json:"payload"`
}

func readSample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(eventsDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func strictUnmarshal(t *testing.T, name string, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(readSample(t, name)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func TestTimerSamples(t *testing.T) {
	t.Parallel()
	p, err := Load(repoSYaml, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file, resource, trigger string
	}{
		{"timer-create-image.json", "create-image", "daily"},
		{"timer-copy-reconcile.json", "copy-image", "reconcile-0"},
		{"timer-copy-pending.json", "copy-image", "pending"},
		{"timer-cleanup.json", "cleanup", "shard-0"},
		{"timer-rds-offsite.json", "rds-offsite", "every-6h"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			var ev timerEvent
			strictUnmarshal(t, tt.file, &ev)
			if ev.TriggerTime == nil || ev.TriggerName == nil || ev.Payload == nil {
				t.Fatalf("missing field: %+v", ev)
			}
			if _, err := time.Parse(time.RFC3339, *ev.TriggerTime); err != nil {
				t.Errorf("triggerTime: %v", err)
			}
			if !json.Valid([]byte(*ev.Payload)) {
				t.Errorf("payload %q is not JSON text", *ev.Payload)
			}
			// The sample is what the s.yaml trigger would send.
			i := slices.IndexFunc(p.Functions, func(f Function) bool { return f.Resource == tt.resource })
			if i < 0 {
				t.Fatalf("no resource %s", tt.resource)
			}
			j := slices.IndexFunc(p.Functions[i].Triggers, func(tr Trigger) bool { return tr.Name == *ev.TriggerName })
			if j < 0 || *ev.TriggerName != tt.trigger {
				t.Fatalf("triggerName %q is not the %s trigger of %s", *ev.TriggerName, tt.trigger, tt.resource)
			}
			if got := p.Functions[i].Triggers[j].Payload; got != *ev.Payload {
				t.Errorf("payload %q differs from s.yaml's %q", *ev.Payload, got)
			}
		})
	}
}

func imageReadyPattern(t *testing.T) *eventbridge.Pattern {
	t.Helper()
	p, err := Load(repoSYaml, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range p.Functions {
		for _, tr := range f.Triggers {
			if tr.Type == TriggerEventBridge {
				pat, err := eventbridge.CompilePattern(tr.Pattern)
				if err != nil {
					t.Fatal(err)
				}
				return pat
			}
		}
	}
	t.Fatal("s.yaml has no eventbridge trigger")
	return nil
}

type imageData struct {
	ImageID      string `json:"imageId"`
	CurrentState string `json:"currentState"`
}

func TestImageEventSamples(t *testing.T) {
	t.Parallel()
	pat := imageReadyPattern(t)
	tests := []struct {
		file    string
		batch   bool
		account string
		state   string
		match   bool
	}{
		{"ecs-image-available.json", false, accountID, "Available", true},
		{"ecs-image-available-batch.json", true, accountID, "Available", true},
		{"ecs-image-forged.json", false, "9999888877776666", "Available", true}, // the pattern cannot tell: the function must
		{"ecs-image-creating.json", false, accountID, "Creating", false},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			raws := []json.RawMessage{readSample(t, tt.file)}
			if tt.batch {
				if err := json.Unmarshal(raws[0], &raws); err != nil {
					t.Fatalf("batch is not a JSON array: %v", err)
				}
			}
			var evs []eventbridge.CloudEvent
			for i, raw := range raws {
				var ev eventbridge.CloudEvent
				dec := json.NewDecoder(bytes.NewReader(raw))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&ev); err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
				evs = append(evs, ev)
			}
			for i, ev := range evs {
				if ev.ID == "" || ev.Source != "acs.ecs" || ev.SpecVersion != "1.0" || ev.Type != "ecs:Image:StateChange" ||
					ev.AliyunRegionID != "cn-hangzhou" || ev.AliyunEventBusName != "default" || ev.AliyunAccountID != tt.account {
					t.Errorf("event %d envelope: %+v", i, ev)
				}
				if _, err := time.Parse(time.RFC3339, ev.Time); err != nil {
					t.Errorf("event %d time: %v", i, err)
				}
				var d imageData
				if err := json.Unmarshal(ev.Data, &d); err != nil {
					t.Fatalf("event %d data: %v", i, err)
				}
				wantSubject := "acs:ecs:cn-hangzhou:" + tt.account + ":image/" + d.ImageID
				if d.CurrentState != tt.state || ev.Subject != wantSubject {
					t.Errorf("event %d: state %q subject %q, want %q and %q", i, d.CurrentState, ev.Subject, tt.state, wantSubject)
				}
				if got := pat.Match(raws[i]); got != tt.match {
					t.Errorf("event %d: image-ready pattern match = %v, want %v", i, got, tt.match)
				}
			}
			if tt.batch && (len(evs) != 2 || evs[0].ID != evs[1].ID) {
				t.Errorf("batch must hold two events with the same id (an EventBridge resend), got %d", len(evs))
			}
		})
	}
}

func TestPolicyExample(t *testing.T) {
	t.Parallel()
	p, err := policy.Parse(readSample(t, "policy.example.yaml"))
	if err != nil {
		t.Fatalf("events/policy.example.yaml is not a valid policy: %v", err)
	}
	if len(p.SourceRegions()) == 0 || len(p.DestinationRegions()) == 0 {
		t.Errorf("example protects nothing: sources %v destinations %v", p.SourceRegions(), p.DestinationRegions())
	}
}
