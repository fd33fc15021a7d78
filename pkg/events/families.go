package events

import (
	"encoding/json"
	"strings"
	"time"
)

// The two plausible families of ECS image events (see the README's "unverified facts"):
//   - EventBridge's own ECS family, "ecs:Image:<Action>" by analogy with
//     ecs:Snapshot:CreateSnapshotCompleted, with data = CloudMonitor's content
//     {imageId, currentState};
//   - events EventBridge relays from CloudMonitor, "ecs:CloudMonitor:<Name>" per the newer
//     EventBridge page, whose data may be CloudMonitor's whole system event
//     {product, resourceId, name, regionId, eventTime, content:{imageId, currentState}}.
//
// DefaultTypes matches both by prefix, so neither naming choice makes the product deaf.
var DefaultTypes = []string{"ecs:Image:*", "ecs:CloudMonitor:Image*"}

// TypePatternFamilies is the EventBridge rule pattern's "type" list matching both
// families (s.yaml's eventRuleFilterPattern uses the same).
var TypePatternFamilies = []map[string]string{{"prefix": "ecs:Image:"}, {"prefix": "ecs:CloudMonitor:Image"}}

// typeMatches reports whether typ matches one of patterns: exact, or a prefix when the
// pattern ends with '*'.
func typeMatches(patterns []string, typ string) bool {
	for _, p := range patterns {
		if pre, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(typ, pre) {
				return true
			}
		} else if p == typ {
			return true
		}
	}
	return false
}

// cloudMonitorData is CloudMonitor's system event, as a relayed event's data may carry it.
type cloudMonitorData struct {
	ResourceID string    `json:"resourceId"`
	RegionID   string    `json:"regionId"`
	EventTime  string    `json:"eventTime"`
	Content    ImageData `json:"content"`
}

// relayed reads the CloudMonitor envelope from data, when data is one (it has a content
// object with an image id).
func relayed(d json.RawMessage) (cloudMonitorData, bool) {
	var cm cloudMonitorData
	if json.Unmarshal(d, &cm) != nil || cm.Content.ImageID == "" {
		return cloudMonitorData{}, false
	}
	return cm, true
}

// eventTimeLayouts are the time formats seen on ECS events: RFC 3339 (CloudEvents), the
// offset-less variant, CloudMonitor's compact "20240410T160101.922+0800", and
// aliyunpublishtime's "2020-11-19T21:04:42.179PRC" (PRC = UTC+8).
var eventTimeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04:05.999Z0700",
	"20060102T150405.999Z0700",
	"20060102T150405Z0700",
	"2006-01-02 15:04:05",
}

// ParseEventTime parses the time of an ECS event leniently. ok is false when no known
// layout matches: the caller falls back to the invocation time rather than rejecting
// the event (one odd time never rejects a batch).
func ParseEventTime(s string) (t time.Time, ok bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	if base, found := strings.CutSuffix(s, "PRC"); found {
		if t, err := time.ParseInLocation("2006-01-02T15:04:05.999999999", base, time.FixedZone("PRC", 8*3600)); err == nil {
			return t.UTC(), true
		}
	}
	for _, layout := range eventTimeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}
