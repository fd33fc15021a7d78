package retention_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/policy"
	"github.com/ecsdr/ecs-image-dr/pkg/retention"
)

var fuzzPolicies = []string{
	"keepLast: 1", "keepLast: 3", "keepDays: 2", "daily: 2", "weekly: 1\n    keepLast: 1", "monthly: 1", "daily: 3\n    weekly: 2",
}

func fuzzPolicy(t *testing.T, rule string) *policy.Policy {
	doc := fmt.Sprintf("name: fz\ntimezone: Asia/Shanghai\nsources:\n  - region: cn-hangzhou\n    instanceIds: [i-1]\n"+
		"destinations:\n  - region: cn-beijing\nretention:\n  source:\n    %s\n  destination:\n    %s\n", rule, rule)
	p, err := policy.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("fuzz policy: %v", err)
	}
	return p
}

var (
	fuzzRegions  = []string{"cn-hangzhou", "cn-beijing", "cn-shanghai"} // the last is not in the policy
	fuzzStatuses = []string{"Available", "Available", "Available", "Creating", "Waiting", "CreateFailed", "UnAvailable", "Deprecated", "Weird"}
)

// decodeInventory turns fuzz bytes into images: 7 bytes each.
func decodeInventory(data []byte, t0 time.Time) []retention.Image {
	var out []retention.Image
	for i := 0; i+7 <= len(data) && len(out) < 64; i += 7 {
		b := data[i : i+7]
		im := retention.Image{
			ID:         fmt.Sprintf("m-%02d", len(out)),
			Region:     fuzzRegions[int(b[0])%len(fuzzRegions)],
			InstanceID: fmt.Sprintf("i-%d", b[1]%3),
			Status:     fuzzStatuses[int(b[2])%len(fuzzStatuses)],
			Created:    t0.Add(-time.Duration(b[3]) * 3 * time.Hour),
			Managed:    b[4]%8 != 0,
			InUse:      b[4]%7 == 1,
			Held:       b[4]%11 == 2,
			Role:       policy.RoleSource,
		}
		if b[5]%3 == 0 && len(out) > 0 {
			src := out[int(b[6])%len(out)]
			im.Role, im.SourceImageID, im.SourceRegion, im.DataTime = policy.RoleCopy, src.ID, src.Region, src.Created
		}
		im.Slot = im.Created.In(time.UTC).Format("20060102")
		out = append(out, im)
	}
	return out
}

// The plan never deletes what must be kept, whatever the inventory: images not ours, in a
// region the policy does not name, held, in use, still in progress, the source of a copy
// in progress, or the newest Available image of an instance in a region.
func FuzzPlanNeverDeletesProtected(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 10, 1, 1, 0, 1, 1, 3, 20, 1, 0, 0}, uint8(0), int64(0))
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28}, uint8(3), int64(86400))
	f.Fuzz(func(t *testing.T, data []byte, rule uint8, nowOff int64) {
		pol := fuzzPolicy(t, fuzzPolicies[int(rule)%len(fuzzPolicies)])
		t0 := time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC)
		images := decodeInventory(data, t0)
		now := t0.Add(time.Duration(nowOff%(90*86400)) * time.Second)
		plan := retention.PlanCleanup(images, pol, now)
		if len(plan.Decisions) != len(images) {
			t.Fatalf("%d decisions for %d images", len(plan.Decisions), len(images))
		}
		deleted := map[string]bool{}
		for _, d := range plan.Deletes() {
			deleted[d.Image.ID] = true
		}
		copying := map[string]bool{}
		newest := map[string]time.Time{}
		for _, im := range images {
			if im.SourceImageID != "" && (im.Status == "Creating" || im.Status == "Waiting") {
				copying[im.SourceImageID] = true
			}
			data := im.DataTime
			if data.IsZero() {
				data = im.Created
			}
			k := im.Region + "/" + im.InstanceID
			if im.Managed && im.Status == "Available" && data.After(newest[k]) {
				newest[k] = data
			}
		}
		newestKept := map[string]bool{}
		for _, im := range images {
			data := im.DataTime
			if data.IsZero() {
				data = im.Created
			}
			k := im.Region + "/" + im.InstanceID
			if im.Managed && im.Status == "Available" && data.Equal(newest[k]) && !deleted[im.ID] {
				newestKept[k] = true
			}
			if !deleted[im.ID] {
				continue
			}
			switch {
			case !im.Managed:
				t.Errorf("deleted %s: not managed", im.ID)
			case im.Region == "cn-shanghai":
				t.Errorf("deleted %s: region not in the policy", im.ID)
			case im.Held:
				t.Errorf("deleted %s: held", im.ID)
			case im.InUse:
				t.Errorf("deleted %s: in use", im.ID)
			case im.Status == "Creating" || im.Status == "Waiting":
				t.Errorf("deleted %s: still %s", im.ID, im.Status)
			case copying[im.ID]:
				t.Errorf("deleted %s: source of a copy in progress", im.ID)
			case im.Status == "Weird":
				t.Errorf("deleted %s: unknown status", im.ID)
			}
		}
		for k := range newest {
			if !newestKept[k] {
				t.Errorf("%s: every newest Available image deleted", k)
			}
		}
	})
}
