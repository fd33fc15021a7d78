package backup_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/backup"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/events"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// The services over the real SDK adapter against the ECS emulator: the whole day of a DR
// policy (create, events, reconcile, cleanup) on the wire, with a manual clock.
func TestServicesAgainstEmulator(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC)
	env := core.NewEnv(core.NewManualClock(start), nil)
	svc, err := ecs.New(env, ecs.DefaultSeed())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)
	// Image events published by the emulator, in EventBridge shape.
	var (
		evMu sync.Mutex
		evs  []events.ImageEvent
	)
	env.Bus.Subscribe(func(e core.Event) {
		evMu.Lock()
		defer evMu.Unlock()
		// The bus carries CloudMonitor names; EventBridge prefixes the product ("ecs:").
		if e.Source == events.SourceECS && "ecs:"+e.Type == events.TypeImageStateChange {
			id, _ := e.Data["imageId"].(string)
			state, _ := e.Data["currentState"].(string)
			evs = append(evs, events.ImageEvent{ID: e.ID, Source: e.Source, Type: "ecs:" + e.Type, Region: e.Region,
				AccountID: e.AccountID, ImageID: id, State: state})
		}
	})
	takeEvents := func() []events.ImageEvent {
		evMu.Lock()
		defer evMu.Unlock()
		out := evs
		evs = nil
		return out
	}

	api, err := ecsx.NewSDK(ecsx.SDKConfig{Endpoint: strings.TrimPrefix(srv.URL, "http://"), Scheme: "HTTP",
		Credentials: func() (string, string, string) { return core.DefaultAccessKeyID, core.DefaultAccessKeySecret, "" }})
	if err != nil {
		t.Fatal(err)
	}
	pol := &policy.Policy{
		Name:         "prod-dr",
		Sources:      []policy.Source{{Region: "cn-hangzhou", Selectors: []map[string]string{{"backup": "daily"}}}},
		Destinations: []policy.Destination{{Region: "cn-beijing", Encrypted: true, KMSKeyID: "key-1"}},
		Retention:    policy.Retention{Source: policy.RetentionRule{KeepLast: 1}, Destination: policy.RetentionRule{KeepLast: 1}},
	}
	pol.ApplyDefaults()
	if err := pol.Validate(); err != nil {
		t.Fatal(err)
	}
	d := backup.Deps{ECS: api, Policy: pol, Now: env.Clock.Now, AccountID: "",
		Sleep: func(context.Context, time.Duration) error { return nil }}
	ctx := context.Background()

	day := func(n int) time.Time { return start.Add(time.Duration(n) * 24 * time.Hour) }
	for n := range 2 {
		env.Clock.AdvanceTo(day(n))
		sum, err := d.Create(ctx, day(n))
		if err != nil {
			t.Fatalf("day %d: Create: %v", n, err)
		}
		// web-1 and db-1 are imaged; locked-1 is skipped (operation lock).
		if len(sum.Started) != 2 {
			t.Fatalf("day %d: started %+v skipped %+v", n, sum.Started, sum.Skipped)
		}
		if _, ok := findItem(sum.Skipped, "i-hz-locked-1"); !ok {
			t.Errorf("day %d: locked instance not skipped: %+v", n, sum.Skipped)
		}
		again, err := d.Create(ctx, day(n))
		if err != nil || len(again.Started) != 0 {
			t.Errorf("day %d: second Create started %+v (%v), want none", n, again.Started, err)
		}
		env.Clock.Advance(time.Hour) // images become Available
		env.Tracker.WaitIdle(10 * time.Second)
		cs, err := d.HandleEvents(ctx, takeEvents())
		if err != nil {
			t.Fatalf("day %d: HandleEvents: %v", n, err)
		}
		if len(cs.Copied) != 2 {
			t.Errorf("day %d: copied %+v skipped %+v failed %+v", n, cs.Copied, cs.Skipped, cs.Failed)
		}
		env.Clock.Advance(3 * time.Hour) // copies finish
		env.Tracker.WaitIdle(10 * time.Second)
		if _, err := d.HandleEvents(ctx, takeEvents()); err != nil {
			t.Fatalf("day %d: HandleEvents for copies: %v", n, err)
		}
		rs, err := d.Reconcile(ctx)
		if err != nil || len(rs.Copied) != 0 {
			t.Errorf("day %d: Reconcile copied %+v (%v), want nothing (events did it)", n, rs.Copied, err)
		}
	}
	for _, im := range svc.Images("cn-beijing") {
		if im.OwnerAlias == "self" && (!im.Encrypted || im.KMSKeyID != "key-1") {
			t.Errorf("copy %s: encrypted=%v kms=%q", im.ID, im.Encrypted, im.KMSKeyID)
		}
	}

	sum, err := d.Cleanup(ctx)
	if err != nil {
		t.Fatalf("Cleanup: %v\n%s", err, strings.Join(sum.Plan, "\n"))
	}
	// keepLast 1: day 0's two source images and two copies go, with their snapshots.
	if len(sum.Deleted) != 4 {
		t.Errorf("deleted %+v, want 4\nplan:\n%s", sum.Deleted, strings.Join(sum.Plan, "\n"))
	}
	if len(sum.SnapshotsDeleted) == 0 || len(sum.SnapshotsLeft) != 0 {
		t.Errorf("snapshots deleted %v left %+v", sum.SnapshotsDeleted, sum.SnapshotsLeft)
	}
	for _, region := range []string{"cn-hangzhou", "cn-beijing"} {
		managed := 0
		for _, im := range svc.Images(region) {
			if im.Tags[policy.TagPolicy] == "prod-dr" {
				managed++
			}
		}
		if managed != 2 {
			t.Errorf("%s: %d managed images remain, want 2 (newest per instance)", region, managed)
		}
		for _, sn := range svc.Snapshots(region) {
			for _, del := range sum.SnapshotsDeleted {
				if del == region+"/"+sn.ID {
					t.Errorf("%s: snapshot %s reported deleted still exists", region, sn.ID)
				}
			}
		}
	}
}

func findItem(items []backup.Item, instance string) (backup.Item, bool) {
	for _, it := range items {
		if it.Instance == instance {
			return it, true
		}
	}
	return backup.Item{}, false
}
