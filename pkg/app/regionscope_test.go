package app

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/ecsdr/ecs-image-dr/pkg/events"
)

// A region-scoped deployment (s.receiver.yaml) acts on its own region's image events only;
// every other event gets its own rejected record naming both regions.
func TestOutsideScope(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	evs := []events.ImageEvent{
		{ID: "e1", ImageID: "m-a", Region: "cn-shanghai"},
		{ID: "e2", ImageID: "m-b", Region: "cn-hangzhou"},
	}
	keep, rej := outsideScope(evs, "cn-shanghai", log)
	if len(keep) != 1 || keep[0].ID != "e1" {
		t.Errorf("kept %+v, want only e1", keep)
	}
	if len(rej) != 1 || rej[0].Image != "m-b" || rej[0].Region != "cn-hangzhou" ||
		!strings.Contains(rej[0].Reason, "region scope") || !strings.Contains(rej[0].Reason, `"cn-shanghai"`) {
		t.Errorf("rejected %+v, want one record for m-b naming the scope", rej)
	}
	if err := events.CheckScope(evs[1], "cn-shanghai"); !errors.Is(err, events.ErrOutsideScope) {
		t.Errorf("CheckScope = %v, want ErrOutsideScope", err)
	}
	// The main stack (no scope) keeps every region's events.
	if keep, rej := outsideScope(evs, "", log); len(keep) != 2 || len(rej) != 0 {
		t.Errorf("unscoped: kept %d rejected %d, want 2 and 0", len(keep), len(rej))
	}
}

func TestRegionScopeConfig(t *testing.T) {
	env := func(scope string) func(string) string {
		return func(k string) string {
			switch k {
			case EnvPolicy:
				return "name: x"
			case EnvRegionScope:
				return scope
			}
			return ""
		}
	}
	c, err := ConfigFromEnv(env(" cn-shanghai "))
	if err != nil || c.RegionScope != "cn-shanghai" {
		t.Errorf("scope %q, %v; want cn-shanghai", c.RegionScope, err)
	}
	if _, err := ConfigFromEnv(env("Shanghai!")); err == nil || !strings.Contains(err.Error(), EnvRegionScope) {
		t.Errorf("bad scope accepted: %v", err)
	}
}
