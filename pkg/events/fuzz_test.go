package events

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// With the payload checks first (as the handler runs them): parsing never panics, every refusal is classified, and what is accepted is coherent.
func FuzzParseChecked(f *testing.F) {
	golden, _ := filepath.Glob(filepath.Join("..", "..", "events", "*.json"))
	for _, g := range golden {
		if b, err := os.ReadFile(g); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`[{"specversion":"1.0","source":"acs.ecs","type":"ecs:Image:StateChange","id":"1","data":{"imageId":"m-1","currentState":"Available"}}]`))
	f.Add([]byte(`{"triggerTime":"2026-11-01T02:00:00+08:00","triggerName":"t","payload":""}`))
	f.Add([]byte("{\"source\":\"\xff\"}"))
	f.Add([]byte(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		if err := CheckPayload(payload); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("CheckPayload error not classified: %v", err)
			}
			return
		}
		kind, timer, evs, err := Parse(payload)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownShape) {
				t.Fatalf("Parse error not classified: %v", err)
			}
			return
		}
		switch kind {
		case KindTimer:
			if timer == nil || len(evs) != 0 {
				t.Fatalf("timer kind with timer %v and %d events", timer, len(evs))
			}
		case KindImageEvents:
			if timer != nil || len(evs) == 0 {
				t.Fatalf("image events kind with timer %v and %d events", timer, len(evs))
			}
			for _, e := range evs {
				_ = e.Key()
				_ = Filter{AccountID: "1"}.Check(e) // never panics on what Parse accepted
				_ = CheckRegion(e, []string{"cn-hangzhou"})
			}
		default:
			t.Fatalf("Parse accepted a payload of kind %v", kind)
		}
	})
}
