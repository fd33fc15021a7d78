// Package eventbridge is the local cloud's EventBridge: one default bus per region, rules
// with EventBridge event patterns, and asynchronous at-least-once delivery of CloudEvents
// to rule targets (in the local cloud: FC async invocations), with injectable duplication,
// loss, delay and reordering so the functions' idempotency can be exercised.
package eventbridge

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

// DefaultBus is the only bus cloud-service events are published on.
const DefaultBus = "default"

// TimeLayout is how the local bridge writes CloudEvent times: RFC 3339 with milliseconds.
// (The real service is not consistent: aliyunpublishtime has been seen as
// "2020-11-19T21:04:42.179PRC"; consumers must parse leniently.)
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// CloudEvent is the envelope EventBridge delivers (CloudEvents 1.0 plus Alibaba's
// extension attributes).
type CloudEvent struct {
	ID                 string          `json:"id"`
	Source             string          `json:"source"`
	SpecVersion        string          `json:"specversion"`
	Type               string          `json:"type"`
	Subject            string          `json:"subject,omitempty"`
	Time               string          `json:"time"`
	DataContentType    string          `json:"datacontenttype,omitempty"`
	AliyunAccountID    string          `json:"aliyunaccountid"`
	AliyunPublishTime  string          `json:"aliyunpublishtime,omitempty"`
	AliyunRegionID     string          `json:"aliyunregionid"`
	AliyunEventBusName string          `json:"aliyuneventbusname"`
	Data               json.RawMessage `json:"data,omitempty"`
}

// FromCore turns an internal service event into the CloudEvent EventBridge publishes for
// it. The type is the CloudMonitor name prefixed with the product ("acs.ecs" +
// "Image:StateChange" -> "ecs:Image:StateChange", the mapping every other ECS event
// follows); subject is the resource ARN; data is the event's Data as JSON.
func FromCore(e core.Event) CloudEvent {
	typ := e.Type
	if product, ok := strings.CutPrefix(e.Source, "acs."); ok && product != "" && !strings.HasPrefix(typ, product+":") {
		typ = product + ":" + typ
	}
	data := json.RawMessage("{}")
	if e.Data != nil {
		if b, err := json.Marshal(e.Data); err == nil {
			data = b
		}
	}
	ts := e.Time.UTC().Format(TimeLayout)
	return CloudEvent{
		ID:                 e.ID,
		Source:             e.Source,
		SpecVersion:        "1.0",
		Type:               typ,
		Subject:            e.Resource,
		Time:               ts,
		DataContentType:    "application/json;charset=utf-8",
		AliyunAccountID:    e.AccountID,
		AliyunPublishTime:  ts,
		AliyunRegionID:     e.Region,
		AliyunEventBusName: DefaultBus,
		Data:               data,
	}
}

// withDefaults fills what PutEvents would: id, spec version, bus and times.
func (ev CloudEvent) withDefaults(now time.Time) CloudEvent {
	if ev.ID == "" {
		ev.ID = core.NewRequestID()
	}
	if ev.SpecVersion == "" {
		ev.SpecVersion = "1.0"
	}
	if ev.AliyunEventBusName == "" {
		ev.AliyunEventBusName = DefaultBus
	}
	if ev.Time == "" {
		ev.Time = now.UTC().Format(TimeLayout)
	}
	if ev.AliyunPublishTime == "" {
		ev.AliyunPublishTime = now.UTC().Format(TimeLayout)
	}
	if len(ev.Data) == 0 {
		ev.Data = json.RawMessage("{}")
	}
	return ev
}
