package events

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseTestdata(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file  string
		kind  Kind
		timer *TimerEvent
		evs   []ImageEvent // Raw not compared
	}{
		{"timer.json", KindTimer, &TimerEvent{TriggerTime: time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC), TriggerName: "create-daily", Payload: `{"mode":"create"}`}, nil},
		{"image-available.json", KindImageEvents, nil, []ImageEvent{{ID: "45ef4dewdwe1-7c35-447a-bd93-fab****", Source: "acs.ecs",
			Type: "ecs:Image:StateChange", Region: "cn-hangzhou", AccountID: "1234567890123456", ImageID: "m-bp1abcdef0123456789",
			State: "Available", Time: time.Date(2026, 11, 23, 18, 1, 1, 922000000, time.UTC)}}},
		{"image-batch.json", KindImageEvents, nil, []ImageEvent{
			{ID: "ev-1", Source: "acs.ecs", Type: "ecs:Image:StateChange", Region: "cn-hangzhou", AccountID: "1234567890123456", ImageID: "m-bp1aaa", State: "Available", Time: time.Date(2026, 11, 23, 18, 1, 1, 0, time.UTC)},
			// no data.imageId: taken from the subject
			{ID: "ev-2", Source: "acs.ecs", Type: "ecs:Image:StateChange", Region: "cn-beijing", AccountID: "1234567890123456", ImageID: "m-2zebbb", State: "Creating", Time: time.Date(2026, 11, 23, 18, 2, 1, 0, time.UTC)},
			{ID: "ev-1", Source: "acs.ecs", Type: "ecs:Image:StateChange", Region: "cn-hangzhou", AccountID: "1234567890123456", ImageID: "m-bp1aaa", State: "Available", Time: time.Date(2026, 11, 23, 18, 1, 1, 0, time.UTC)},
		}},
		{"snapshot-completed.json", KindImageEvents, nil, []ImageEvent{{ID: "ev-snap-1", Source: "acs.ecs", Type: "ecs:Snapshot:CreateSnapshotCompleted",
			Region: "cn-hangzhou", AccountID: "1234567890123456", Time: time.Date(2026, 11, 23, 18, 3, 0, 0, time.UTC)}}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			kind, te, evs, err := Parse(readFile(t, filepath.Join("testdata", tc.file)))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if kind != tc.kind {
				t.Errorf("kind = %v, want %v", kind, tc.kind)
			}
			if !reflect.DeepEqual(te, tc.timer) {
				t.Errorf("timer = %+v, want %+v", te, tc.timer)
			}
			if len(evs) != len(tc.evs) {
				t.Fatalf("got %d events, want %d", len(evs), len(tc.evs))
			}
			for i := range evs {
				if !json.Valid(evs[i].Raw) || !strings.Contains(string(evs[i].Raw), evs[i].ID) {
					t.Errorf("event %d: Raw is not the original event: %s", i, evs[i].Raw)
				}
				got := evs[i]
				got.Raw = nil
				if !got.Time.Equal(tc.evs[i].Time) {
					t.Errorf("event %d time = %v, want %v", i, got.Time, tc.evs[i].Time)
				}
				got.Time = tc.evs[i].Time
				if !reflect.DeepEqual(got, tc.evs[i]) {
					t.Errorf("event %d = %+v\nwant %+v", i, got, tc.evs[i])
				}
			}
		})
	}
}

// jsonEqual compares two JSON documents structurally.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}

// roundTrip decodes a golden file into the wire structs and encodes it again; nothing may
// be lost (the aws-lambda-go testdata habit).
func roundTrip(t *testing.T, path string) {
	t.Helper()
	in := readFile(t, path)
	kind, _, _, err := Parse(in)
	if err != nil {
		t.Fatalf("%s: Parse: %v", path, err)
	}
	var out []byte
	switch {
	case kind == KindTimer:
		var te TimerEvent
		if err := json.Unmarshal(in, &te); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out, _ = json.Marshal(te)
	case strings.HasPrefix(strings.TrimSpace(string(in)), "["):
		var ces []CloudEvent
		if err := json.Unmarshal(in, &ces); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out, _ = json.Marshal(ces)
	default:
		var ce CloudEvent
		if err := json.Unmarshal(in, &ce); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out, _ = json.Marshal(ce)
	}
	if !jsonEqual(t, in, out) {
		t.Errorf("%s: round trip lost data:\n in: %s\nout: %s", path, in, out)
	}
}

func TestRoundTripTestdata(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("testdata/*.json")
	if len(files) < 4 {
		t.Fatalf("found %d testdata files, want at least 4", len(files))
	}
	for _, f := range files {
		roundTrip(t, f)
	}
}

// The repository's events/*.json are the samples used by `s local invoke` and the demo;
// every one must parse (maybe as an unknown shape, never as malformed).
func TestRepoSampleEvents(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("../../events/*.json")
	if len(files) == 0 {
		t.Skip("no events/*.json in the repository yet")
	}
	for _, f := range files {
		kind, _, _, err := Parse(readFile(t, f))
		if errors.Is(err, ErrUnknownShape) {
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if kind == KindTimer || kind == KindImageEvents {
			roundTrip(t, f)
		}
	}
}

func TestParseRejectsMalformed(t *testing.T) {
	t.Parallel()
	ok := `"id":"e1","source":"acs.ecs","type":"ecs:Image:StateChange","aliyunregionid":"cn-hangzhou","aliyunaccountid":"1"`
	tests := []struct {
		name, payload, mention string
		want                   error
	}{
		{"empty", "  ", "empty payload", ErrMalformed},
		{"null", "null", "not a JSON object", ErrMalformed},
		{"number", "42", "not a JSON object", ErrMalformed},
		{"truncated", `{"id":`, "", ErrMalformed},
		{"empty array", `[]`, "empty event array", ErrMalformed},
		{"unknown object", `{"foo":1}`, "neither", ErrUnknownShape},
		{"timer without time", `{"triggerTime":"","triggerName":"t"}`, "triggerTime is empty", ErrMalformed},
		{"timer bad time", `{"triggerTime":"yesterday"}`, "not RFC 3339", ErrMalformed},
		{"timer time not string", `{"triggerTime":12}`, "timer event", ErrMalformed},
		{"event missing id and type", `{"source":"acs.ecs","specversion":"1.0"}`, "missing id, type", ErrMalformed},
		{"data not object", `{` + ok + `,"data":"m-1"}`, "data is not an object", ErrMalformed},
		{"data wrong types", `{` + ok + `,"data":{"imageId":5}}`, "data", ErrMalformed},
		{"subject account forged", `{` + ok + `,"subject":"acs:ecs:cn-hangzhou:2:image/m-1"}`, "subject account", ErrMalformed},
		{"subject region forged", `{` + ok + `,"subject":"acs:ecs:cn-beijing:1:image/m-1"}`, "subject region", ErrMalformed},
		{"subject image differs", `{` + ok + `,"subject":"acs:ecs:cn-hangzhou:1:image/m-1","data":{"imageId":"m-2"}}`, "subject image", ErrMalformed},
		{"array with bad element", `[{` + ok + `},{"id":"x"}]`, "event 1", ErrMalformed},
		{"array of numbers", `[1,2]`, "event 0", ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			kind, te, evs, err := Parse([]byte(tc.payload))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("err = %q, want it to mention %q", err, tc.mention)
			}
			if kind != KindUnknown || te != nil || evs != nil {
				t.Errorf("got kind=%v timer=%v events=%v with an error", kind, te, evs)
			}
		})
	}
}

func TestFilterCheck(t *testing.T) {
	t.Parallel()
	good := ImageEvent{ID: "e", Source: "acs.ecs", Type: TypeImageStateChange, Region: "cn-hangzhou", AccountID: "123", ImageID: "m-bp1abc", State: "Available"}
	mod := func(f func(*ImageEvent)) ImageEvent { e := good; f(&e); return e }
	tests := []struct {
		name   string
		filter Filter
		ev     ImageEvent
		want   error
	}{
		{"accepted", Filter{AccountID: "123"}, good, nil},
		{"any account when unset", Filter{}, mod(func(e *ImageEvent) { e.AccountID = "999" }), nil},
		{"foreign account", Filter{AccountID: "123"}, mod(func(e *ImageEvent) { e.AccountID = "999" }), ErrForeignAccount},
		{"account missing", Filter{AccountID: "123"}, mod(func(e *ImageEvent) { e.AccountID = "" }), ErrForeignAccount},
		{"forged source", Filter{AccountID: "123"}, mod(func(e *ImageEvent) { e.Source = "custom.app" }), ErrUnexpectedSource},
		{"extra source allowed", Filter{Sources: []string{"acs.ecs", "local.test"}}, mod(func(e *ImageEvent) { e.Source = "local.test" }), nil},
		{"other type", Filter{}, mod(func(e *ImageEvent) { e.Type = "ecs:Snapshot:CreateSnapshotCompleted" }), ErrUnexpectedType},
		{"configured type", Filter{AcceptedTypes: []string{"ecs:Image:Available"}}, mod(func(e *ImageEvent) { e.Type = "ecs:Image:Available" }), nil},
		{"default type not accepted when configured", Filter{AcceptedTypes: []string{"ecs:Image:Available"}}, good, ErrUnexpectedType},
		{"image id injection", Filter{}, mod(func(e *ImageEvent) { e.ImageID = "m-1,m-2" }), ErrInvalidImage},
		{"snapshot id", Filter{}, mod(func(e *ImageEvent) { e.ImageID = "s-bp1" }), ErrInvalidImage},
		{"no image", Filter{}, mod(func(e *ImageEvent) { e.ImageID = "" }), ErrInvalidImage},
		{"no region", Filter{}, mod(func(e *ImageEvent) { e.Region = "" }), ErrInvalidRegion},
		{"odd region", Filter{}, mod(func(e *ImageEvent) { e.Region = "../etc" }), ErrInvalidRegion},
	}
	for _, tc := range tests {
		err := tc.filter.Check(tc.ev)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: Check = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestDedupe(t *testing.T) {
	t.Parallel()
	_, _, evs, err := Parse(readFile(t, "testdata/image-batch.json"))
	if err != nil {
		t.Fatal(err)
	}
	got := Dedupe(evs)
	if len(got) != 2 || got[0].ID != "ev-1" || got[1].ID != "ev-2" {
		t.Errorf("Dedupe = %+v, want ev-1, ev-2", got)
	}
	if len(evs) != 3 {
		t.Errorf("Dedupe modified its input")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{`{"triggerTime":"2026-01-01T00:00:00Z"}`, `[{"id":"1","source":"s","type":"t","subject":"acs:ecs:a:b:image/m-1"}]`, `{"source":"x","data":{}}`, `[`, `"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		kind, te, evs, err := Parse(b)
		if err != nil && (kind != KindUnknown || te != nil || evs != nil) {
			t.Errorf("result with error: %v %v %v", kind, te, evs)
		}
		if err == nil && kind == KindImageEvents && len(evs) == 0 {
			t.Error("image events kind with no events")
		}
	})
}
