// Package events parses the payloads the functions receive: FC timer events and
// EventBridge CloudEvents about ECS images (one event object or an array of them), and
// filters image events by account, source and type.
package events

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Kind says what a payload is.
type Kind int

const (
	KindUnknown Kind = iota
	KindTimer
	KindImageEvents
)

func (k Kind) String() string {
	switch k {
	case KindTimer:
		return "timer"
	case KindImageEvents:
		return "image-events"
	default:
		return "unknown"
	}
}

// Defaults for Filter.
const (
	SourceECS = "acs.ecs"
	// TypeImageStateChange is inferred from CloudMonitor's Image:StateChange (the
	// EventBridge ECS event list does not document it); accept others through Filter.
	TypeImageStateChange = "ecs:Image:StateChange"
)

// Parse errors. Every malformed payload yields an error wrapping ErrMalformed; a
// well-formed JSON object that is neither a timer nor a CloudEvent wraps ErrUnknownShape
// (callers log it and acknowledge).
var (
	ErrMalformed    = errors.New("malformed event")
	ErrUnknownShape = errors.New("unrecognised event shape")
)

// TimerEvent is the FC timer trigger payload:
// {"triggerTime":"2023-12-26T07:49:00Z","triggerName":"timer-trigger","payload":"..."}.
// Payload is the trigger's configured string, verbatim.
type TimerEvent struct {
	TriggerTime time.Time `json:"triggerTime"`
	TriggerName string    `json:"triggerName"`
	Payload     string    `json:"payload"`
}

// CloudEvent is the EventBridge envelope as delivered to FC (the fields this product reads
// or logs). Data is kept raw.
type CloudEvent struct {
	ID                 string          `json:"id"`
	Source             string          `json:"source"`
	SpecVersion        string          `json:"specversion"`
	Type               string          `json:"type"`
	Subject            string          `json:"subject,omitempty"`
	Time               string          `json:"time,omitempty"`
	DataContentType    string          `json:"datacontenttype,omitempty"`
	AliyunAccountID    string          `json:"aliyunaccountid,omitempty"`
	AliyunPublishTime  string          `json:"aliyunpublishtime,omitempty"`
	AliyunEventBusName string          `json:"aliyuneventbusname,omitempty"`
	AliyunRegionID     string          `json:"aliyunregionid,omitempty"`
	AliyunPublishAddr  string          `json:"aliyunpublishaddr,omitempty"`
	Data               json.RawMessage `json:"data,omitempty"`
}

// ImageData is the data of an image state change ({"imageId","currentState"}).
type ImageData struct {
	ImageID      string `json:"imageId"`
	CurrentState string `json:"currentState"`
}

// ImageEvent is one CloudEvent about an image, flattened. ImageID is data.imageId, else the
// last segment of subject ("acs:ecs:<region>:<account>:image/<id>"); Region is
// aliyunregionid, else the subject's region; State is data.currentState. Raw is the event
// exactly as received, for logging.
type ImageEvent struct {
	ID, Source, Type, Region, AccountID, ImageID, State string
	Time                                                time.Time
	Raw                                                 json.RawMessage
}

// Key identifies an event for deduplication: EventBridge may deliver the same source+id
// twice.
func (e ImageEvent) Key() string { return e.Source + "\x00" + e.ID }

// Parse classifies and decodes a function payload: a timer event, a single CloudEvent, or
// a JSON array of CloudEvents. It never panics on bad input; errors name what is wrong.
func Parse(payload []byte) (Kind, *TimerEvent, []ImageEvent, error) {
	p := bytes.TrimSpace(payload)
	if len(p) == 0 {
		return KindUnknown, nil, nil, fmt.Errorf("%w: empty payload", ErrMalformed)
	}
	switch p[0] {
	case '[':
		var raws []json.RawMessage
		if err := json.Unmarshal(p, &raws); err != nil {
			return KindUnknown, nil, nil, fmt.Errorf("%w: event array: %v", ErrMalformed, err)
		}
		if len(raws) == 0 {
			return KindUnknown, nil, nil, fmt.Errorf("%w: empty event array", ErrMalformed)
		}
		evs := make([]ImageEvent, 0, len(raws))
		for i, raw := range raws {
			ev, err := parseCloudEvent(raw)
			if err != nil {
				return KindUnknown, nil, nil, fmt.Errorf("event %d: %w", i, err)
			}
			evs = append(evs, ev)
		}
		return KindImageEvents, nil, evs, nil
	case '{':
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(p, &probe); err != nil {
			return KindUnknown, nil, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if _, ok := probe["triggerTime"]; ok {
			te, err := parseTimer(p)
			if err != nil {
				return KindUnknown, nil, nil, err
			}
			return KindTimer, te, nil, nil
		}
		_, hasSpec := probe["specversion"]
		_, hasSource := probe["source"]
		if hasSpec || hasSource {
			ev, err := parseCloudEvent(p)
			if err != nil {
				return KindUnknown, nil, nil, err
			}
			return KindImageEvents, nil, []ImageEvent{ev}, nil
		}
		return KindUnknown, nil, nil, fmt.Errorf("%w: object has neither triggerTime nor source/specversion", ErrUnknownShape)
	default:
		return KindUnknown, nil, nil, fmt.Errorf("%w: payload is not a JSON object or array", ErrMalformed)
	}
}

func parseTimer(p []byte) (*TimerEvent, error) {
	var w struct {
		TriggerTime *string `json:"triggerTime"`
		TriggerName string  `json:"triggerName"`
		Payload     string  `json:"payload"`
	}
	if err := json.Unmarshal(p, &w); err != nil {
		return nil, fmt.Errorf("%w: timer event: %v", ErrMalformed, err)
	}
	if w.TriggerTime == nil || *w.TriggerTime == "" {
		return nil, fmt.Errorf("%w: timer event: triggerTime is empty", ErrMalformed)
	}
	t, err := time.Parse(time.RFC3339Nano, *w.TriggerTime)
	if err != nil {
		return nil, fmt.Errorf("%w: timer event: triggerTime %q is not RFC 3339", ErrMalformed, *w.TriggerTime)
	}
	return &TimerEvent{TriggerTime: t, TriggerName: w.TriggerName, Payload: w.Payload}, nil
}

// subjectRE matches an image ARN subject: acs:ecs:<region>:<account>:image/<id>.
var subjectRE = regexp.MustCompile(`^acs:ecs:([^:]*):([^:]*):image/([^/]+)$`)

func parseCloudEvent(raw []byte) (ImageEvent, error) {
	var ce CloudEvent
	if err := json.Unmarshal(raw, &ce); err != nil {
		return ImageEvent{}, fmt.Errorf("%w: cloud event: %v", ErrMalformed, err)
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"id", ce.ID}, {"source", ce.Source}, {"type", ce.Type}} {
		if strings.TrimSpace(f.v) == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return ImageEvent{}, fmt.Errorf("%w: cloud event %q: missing %s", ErrMalformed, ce.ID, strings.Join(missing, ", "))
	}
	ev := ImageEvent{ID: ce.ID, Source: ce.Source, Type: ce.Type, Region: ce.AliyunRegionID, AccountID: ce.AliyunAccountID,
		Raw: append(json.RawMessage(nil), bytes.TrimSpace(raw)...)}
	// A time in no known layout is not a reason to reject the event (it would reject
	// the whole batch): Time stays zero and the invocation time is used (families.go).
	if t, ok := ParseEventTime(ce.Time); ok {
		ev.Time = t
	} else if t, ok := ParseEventTime(ce.AliyunPublishTime); ok {
		ev.Time = t
	}
	if d := bytes.TrimSpace(ce.Data); len(d) > 0 && !bytes.Equal(d, []byte("null")) {
		var data ImageData
		if d[0] != '{' {
			return ImageEvent{}, fmt.Errorf("%w: cloud event %q: data is not an object", ErrMalformed, ce.ID)
		}
		if err := json.Unmarshal(d, &data); err != nil {
			return ImageEvent{}, fmt.Errorf("%w: cloud event %q: data: %v", ErrMalformed, ce.ID, err)
		}
		ev.ImageID, ev.State = data.ImageID, data.CurrentState
		if cm, ok := relayed(d); ok && ev.ImageID == "" { // relayed from CloudMonitor (families.go)
			ev.ImageID, ev.State = cm.Content.ImageID, cm.Content.CurrentState
			ev.Region = cmp.Or(ev.Region, cm.RegionID)
			if ce.Subject == "" {
				ce.Subject = cm.ResourceID
			}
			if t, ok := ParseEventTime(cm.EventTime); ok {
				ev.Time = t
			}
		}
	}
	if ce.Subject != "" {
		if m := subjectRE.FindStringSubmatch(ce.Subject); m != nil {
			region, account, id := m[1], m[2], m[3]
			// A subject that contradicts the envelope is a forged or broken event.
			if ev.Region != "" && region != "" && region != ev.Region {
				return ImageEvent{}, fmt.Errorf("%w: cloud event %q: subject region %q disagrees with aliyunregionid %q", ErrMalformed, ce.ID, region, ev.Region)
			}
			if ev.AccountID != "" && account != "" && account != ev.AccountID {
				return ImageEvent{}, fmt.Errorf("%w: cloud event %q: subject account %q disagrees with aliyunaccountid %q", ErrMalformed, ce.ID, account, ev.AccountID)
			}
			if ev.ImageID != "" && id != ev.ImageID {
				return ImageEvent{}, fmt.Errorf("%w: cloud event %q: subject image %q disagrees with data.imageId %q", ErrMalformed, ce.ID, id, ev.ImageID)
			}
			ev.Region = cmp.Or(ev.Region, region)
			ev.AccountID = cmp.Or(ev.AccountID, account)
			ev.ImageID = cmp.Or(ev.ImageID, id)
		} else if ev.ImageID == "" && strings.Contains(ce.Subject, ":image/") {
			if i := strings.LastIndexByte(ce.Subject, '/'); i >= 0 {
				ev.ImageID = ce.Subject[i+1:]
			}
		}
	}
	return ev, nil
}

// Dedupe drops events whose source+id was already seen earlier in evs, keeping order.
func Dedupe(evs []ImageEvent) []ImageEvent {
	seen := make(map[string]bool, len(evs))
	out := evs[:0:0]
	for _, e := range evs {
		if seen[e.Key()] {
			continue
		}
		seen[e.Key()] = true
		out = append(out, e)
	}
	return out
}
