package events

import (
	"errors"
	"testing"
	"time"
)

func TestParseEventTimeLayouts(t *testing.T) {
	t.Parallel()
	want := time.Date(2024, 4, 10, 8, 1, 1, 922e6, time.UTC)
	for _, s := range []string{
		"2024-04-10T16:01:01.922+08:00", // RFC 3339
		"20240410T160101.922+0800",      // CloudMonitor's compact eventTime
		"2024-04-10T16:01:01.922PRC",    // aliyunpublishtime
		"2024-04-10T08:01:01.922Z",
	} {
		got, ok := ParseEventTime(s)
		if !ok || !got.Equal(want) {
			t.Errorf("ParseEventTime(%q) = %v %v, want %v", s, got, ok, want)
		}
	}
	for _, s := range []string{"", "noon", "2024-13-45"} {
		if _, ok := ParseEventTime(s); ok {
			t.Errorf("ParseEventTime(%q) accepted", s)
		}
	}
}

// One event with an odd time never rejects the batch: it is parsed with a zero Time (the
// handler then uses the invocation time), the others keep theirs.
func TestOddTimeDoesNotRejectTheBatch(t *testing.T) {
	t.Parallel()
	batch := `[{"id":"a","source":"acs.ecs","type":"ecs:Image:StateChange","aliyunregionid":"cn-hangzhou","aliyunaccountid":"1",
	  "time":"noon","data":{"imageId":"m-1","currentState":"Available"}},
	 {"id":"b","source":"acs.ecs","type":"ecs:Image:StateChange","aliyunregionid":"cn-hangzhou","aliyunaccountid":"1",
	  "time":"20240410T160101.922+0800","data":{"imageId":"m-2","currentState":"CreateFailed"}}]`
	kind, _, evs, err := Parse([]byte(batch))
	if err != nil || kind != KindImageEvents || len(evs) != 2 {
		t.Fatalf("Parse: %v %v %d events", err, kind, len(evs))
	}
	if !evs[0].Time.IsZero() || evs[1].Time.IsZero() || evs[1].State != "CreateFailed" {
		t.Errorf("times %v / %v state %s", evs[0].Time, evs[1].Time, evs[1].State)
	}
}

// An event relayed from CloudMonitor carries CloudMonitor's whole system event as data.
func TestRelayedCloudMonitorEvent(t *testing.T) {
	t.Parallel()
	ev := `{"id":"c","source":"acs.ecs","type":"ecs:CloudMonitor:Image:StateChange","aliyunaccountid":"1963",
	 "data":{"id":"72A8","product":"ECS","resourceId":"acs:ecs:cn-hangzhou:1963:image/m-uf64","level":"INFO",
	  "name":"Image:StateChange","userId":"1963","eventTime":"20240410T160101.922+0800","regionId":"cn-hangzhou",
	  "content":{"imageId":"m-uf64","currentState":"Available"}}}`
	_, _, evs, err := Parse([]byte(ev))
	if err != nil || len(evs) != 1 {
		t.Fatalf("Parse: %v", err)
	}
	e := evs[0]
	if e.ImageID != "m-uf64" || e.State != "Available" || e.Region != "cn-hangzhou" || e.Time.IsZero() {
		t.Errorf("relayed event read as %+v", e)
	}
	if err := (Filter{AccountID: "1963"}).Check(e); err != nil {
		t.Errorf("default filter refuses the CloudMonitor family: %v", err)
	}
}

func TestDefaultTypesMatchBothFamilies(t *testing.T) {
	t.Parallel()
	base := ImageEvent{ID: "x", Source: SourceECS, Region: "cn-hangzhou", ImageID: "m-1"}
	for typ, ok := range map[string]bool{
		"ecs:Image:StateChange":                true,
		"ecs:Image:CreateImageCompleted":       true,
		"ecs:CloudMonitor:Image:StateChange":   true,
		"ecs:CloudMonitor:ImageStateChange":    true,
		"ecs:Snapshot:CreateSnapshotCompleted": false,
		"ecs:ImageX":                           false,
	} {
		e := base
		e.Type = typ
		err := Filter{}.Check(e)
		if (err == nil) != ok || (!ok && !errors.Is(err, ErrUnexpectedType)) {
			t.Errorf("type %s: %v, want accepted=%v", typ, err, ok)
		}
	}
	// An exact list (DR_ACCEPTED_EVENT_TYPES) still narrows it.
	e := base
	e.Type = "ecs:Image:Other"
	if err := (Filter{AcceptedTypes: []string{TypeImageStateChange}}).Check(e); !errors.Is(err, ErrUnexpectedType) {
		t.Errorf("exact list: %v", err)
	}
}
