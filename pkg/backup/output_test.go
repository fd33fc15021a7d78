package backup

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// Cleanup of a fleet whose images all stay: the records and the summary do not grow with
// the images kept (debug per image, one summary per region and instance group, a bounded list with a count).
func TestCleanupOutputIsBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(p *policy.Policy) {
		p.Retention.Source = policy.RetentionRule{KeepLast: 3}
		p.Retention.Destination = policy.RetentionRule{KeepLast: 3}
	})
	const instances = 150
	for i := range instances {
		inst := fmt.Sprintf("i-fleet%04d", i)
		for d := range 2 {
			slot := fmt.Sprintf("2026112%d", d)
			tags := e.pol.ManagedTags(map[string]string{policy.TagRole: policy.RoleSource, policy.TagSourceInstance: inst,
				policy.TagSlot: slot, policy.TagSourceRegion: src})
			e.fake.addImage(src, ecsx.Image{ID: fmt.Sprintf("m-%s-%d", inst, d), Name: inst + slot, Status: "Available",
				Created: t0.Add(-time.Duration(d+1) * 24 * time.Hour), Tags: tags})
		}
	}
	sum, err := e.deps().Cleanup(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Deleted) != 0 {
		t.Fatalf("deleted %d, want none", len(sum.Deleted))
	}
	if len(sum.Kept) != maxListed || sum.Omitted["kept"] != 2*instances-maxListed {
		t.Fatalf("kept list %d, omitted %v; want %d listed and %d counted", len(sum.Kept), sum.Omitted, maxListed, 2*instances-maxListed)
	}
	perImage := 0
	for _, rec := range e.records(map[string]string{"action": "keep"}) {
		if rec["level"] != "DEBUG" && rec["msg"] != "keep summary" {
			perImage++
		}
	}
	if perImage != 0 {
		t.Fatalf("%d keep records above debug level", perImage)
	}
	summ := e.records(map[string]string{"msg": "keep summary", "region": src})
	if len(summ) != 1 || summ[0]["count"] != float64(2*instances) || summ[0]["instances"] != float64(instances) {
		t.Fatalf("keep summary records %v", summ)
	}
}

func TestFailedErrorAndReasonAreCapped(t *testing.T) {
	t.Parallel()
	var failed []Item
	for i := range 50 {
		failed = append(failed, Item{Region: "r", Instance: fmt.Sprintf("i-%02d", i), ErrorCode: "Throttling.User"})
	}
	err := failedError("create image", failed)
	if err == nil || !strings.Contains(err.Error(), "failed for 50:") || !strings.Contains(err.Error(), "and 30 more") ||
		strings.Contains(err.Error(), "i-20") || !strings.Contains(err.Error(), "i-19") {
		t.Fatalf("err = %v", err)
	}
	long := strings.Repeat("é", 1000) // 2 bytes each: the cut must not split one
	it := failure(Item{}, errors.New(long))
	if len(it.Reason) > maxReason+40 || !strings.Contains(it.Reason, "more bytes") || !strings.HasPrefix(it.Reason, "éé") {
		t.Fatalf("reason %d bytes: %.60q…", len(it.Reason), it.Reason)
	}
	if got := CapString("short", 10); got != "short" {
		t.Fatalf("CapString cut a short string: %q", got)
	}
}
