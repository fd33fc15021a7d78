package events

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckPayload(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)
	tests := []struct {
		name    string
		payload string
		want    error
	}{
		{"timer", `{"triggerTime":"2026-11-01T02:00:00Z","triggerName":"daily","payload":"{\"a\":[[1]]}"}`, nil},
		{"brackets inside strings do not count", `{"s":"` + strings.Repeat("[", 100) + `\"]"}`, nil},
		{"exactly the depth limit", strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth), nil},
		{"too deep", deep, ErrTooDeep},
		{"too large", `{"s":"` + strings.Repeat("x", MaxPayloadBytes) + `"}`, ErrTooLarge},
		{"invalid UTF-8", "{\"source\":\"acs.ecs\xff\"}", ErrInvalidUTF8},
	}
	for _, tt := range tests {
		err := CheckPayload([]byte(tt.payload))
		if tt.want == nil {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if !errors.Is(err, tt.want) || !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: error %v, want %v wrapping ErrMalformed", tt.name, err, tt.want)
		}
	}
}

func TestCheckRegion(t *testing.T) {
	t.Parallel()
	regions := []string{"cn-hangzhou", "cn-beijing"}
	if err := CheckRegion(ImageEvent{ID: "e1", Region: "cn-beijing"}, regions); err != nil {
		t.Errorf("a policy region refused: %v", err)
	}
	err := CheckRegion(ImageEvent{ID: "e2", Region: "us-west-1"}, regions)
	if !errors.Is(err, ErrRegionNotInPolicy) || !strings.Contains(err.Error(), "us-west-1") {
		t.Errorf("foreign region: %v", err)
	}
}
