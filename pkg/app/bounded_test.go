package app

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/ecsdr/ecs-image-dr/pkg/backup"
)

func TestResultListsAreBounded(t *testing.T) {
	t.Parallel()
	var started []backup.Item
	for i := range 5000 {
		started = append(started, backup.Item{Region: "r", Instance: fmt.Sprintf("i-%04d", i)})
	}
	res := &Result{Create: &backup.CreateSummary{Started: started, Skipped: started[:100],
		Omitted: map[string]int{"skipped": 7}},
		Cleanup: &backup.CleanupSummary{SnapshotsDeleted: make([]string, 250)}}
	bound(res)
	if len(res.Create.Started) != MaxResultItems || res.Create.Omitted["started"] != 5000-MaxResultItems {
		t.Fatalf("started %d, omitted %v", len(res.Create.Started), res.Create.Omitted)
	}
	if len(res.Create.Skipped) != 100 || res.Create.Omitted["skipped"] != 7 {
		t.Fatalf("a list at the cap changed: %d, %v", len(res.Create.Skipped), res.Create.Omitted)
	}
	if len(res.Cleanup.SnapshotsDeleted) != MaxResultItems || res.Cleanup.Omitted["snapshotsDeleted"] != 150 {
		t.Fatalf("snapshots %d, omitted %v", len(res.Cleanup.SnapshotsDeleted), res.Cleanup.Omitted)
	}
	b, _ := json.Marshal(res)
	if len(b) > 64<<10 {
		t.Fatalf("result is %d bytes", len(b))
	}
	bound(nil)
}
