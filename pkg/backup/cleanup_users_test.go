package backup

import (
	"context"
	"strings"
	"testing"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

func deletedIDs(sum CleanupSummary) map[string]bool {
	out := map[string]bool{}
	for _, it := range sum.Deleted {
		out[it.Image] = true
	}
	return out
}

// An operator's hold tag keeps any image of ours, whatever the rule and whatever its
// status; without the tag the same images are deleted (the contrast run).
func TestCleanupKeepsHeldImages(t *testing.T) {
	t.Parallel()
	for _, held := range []bool{false, true} {
		e := newEnv(t, nil)
		cleanupFixture(t, e)
		if held {
			for region, id := range map[string]string{src: "m-s1", dstPlain: "m-c4"} {
				im, _ := e.fake.image(region, id)
				im.Tags[policy.TagHold] = policy.HoldValue
				e.fake.addImage(region, im.Image)
			}
			im, _ := e.fake.image(src, "m-failed")
			im.Tags[policy.TagHold] = policy.HoldValue
			e.fake.addImage(src, im.Image)
		}
		sum, err := e.deps().Cleanup(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		del := deletedIDs(sum)
		for _, id := range []string{"m-s1", "m-c4", "m-failed"} {
			if del[id] == held {
				t.Errorf("held=%v: %s deleted=%v\nplan:\n%s", held, id, del[id], strings.Join(sum.Plan, "\n"))
			}
			if held {
				it, ok := find(sum.Kept, func(it Item) bool { return it.Image == id })
				if !ok || !strings.Contains(it.Reason, "held (ecs-dr:hold=true)") {
					t.Errorf("%s kept as %+v, want the hold as reason", id, it)
				}
			}
		}
	}
}

// Launch template versions and scaling configurations make an image "in use", recorded
// with what uses it.
func TestCleanupKeepsImagesUsedByTemplatesAndScalingConfigs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	cleanupFixture(t, e)
	d := e.deps()
	d.Users = ecsx.JoinUsers(ecsx.InstanceUsers(e.fake), ecsx.UsersFunc(func(_ context.Context, region string) ([]ecsx.ImageUse, error) {
		switch region {
		case dstPlain:
			return []ecsx.ImageUse{{ImageID: "m-c4", User: "launch template lt-1 (failover) version 2"}}, nil
		case src:
			return []ecsx.ImageUse{{ImageID: "m-s1", User: "scaling configuration asc-1 (group asg-1)"}}, nil
		}
		return nil, nil
	}))
	sum, err := d.Cleanup(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	del := deletedIDs(sum)
	if !del["m-failed"] || del["m-c4"] || del["m-s1"] || len(del) != 1 {
		t.Fatalf("deleted %v, want only m-failed\nplan:\n%s", del, strings.Join(sum.Plan, "\n"))
	}
	for id, user := range map[string]string{"m-c4": "launch template lt-1 (failover) version 2", "m-s1": "scaling configuration asc-1"} {
		it, ok := find(sum.Kept, func(it Item) bool { return it.Image == id })
		if !ok || !strings.Contains(it.Reason, "in use by "+user) {
			t.Errorf("%s kept as %+v, want 'in use by %s'", id, it, user)
		}
	}
	// Instances still count (the fixture's m-s2 runs i-restored).
	if it, ok := find(sum.Kept, func(it Item) bool { return it.Image == "m-s2" }); !ok || !strings.Contains(it.Reason, "in use by instance i-restored") {
		t.Errorf("m-s2 kept as %+v", it)
	}
}

// A region whose users cannot be listed deletes nothing (any image may be in use there),
// says so in a failed record, and the invocation fails for a retryable cause; the other
// regions go on.
func TestCleanupRefusesRegionWithUnknownUsers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	cleanupFixture(t, e)
	d := e.deps()
	d.Users = ecsx.UsersFunc(func(ctx context.Context, region string) ([]ecsx.ImageUse, error) {
		if region == dstPlain {
			return nil, ecsx.NewError("ServiceUnavailable", 503, "ess down")
		}
		return ecsx.InstanceUsers(e.fake).ImageUses(ctx, region)
	})
	sum, err := d.Cleanup(context.Background())
	if err == nil {
		t.Error("no error: a retryable listing failure must fail the invocation so FC retries")
	}
	del := deletedIDs(sum)
	if del["m-c4"] || !del["m-s1"] || !del["m-failed"] {
		t.Fatalf("deleted %v, want m-s1 and m-failed (source region) and nothing in %s", del, dstPlain)
	}
	if it, ok := find(sum.Kept, func(it Item) bool { return it.Image == "m-c4" }); !ok || !strings.Contains(it.Reason, "refused: the users of images in "+dstPlain+" could not be listed") {
		t.Errorf("m-c4 kept as %+v", it)
	}
	f, ok := find(sum.Failed, func(it Item) bool { return it.Region == dstPlain })
	if !ok || !f.Retryable || f.ErrorCode != "ServiceUnavailable" || !strings.Contains(f.Reason, "no deletion in this region") {
		t.Errorf("failed record %+v, want a retryable one naming the refusal", f)
	}
	if n := len(e.records(map[string]string{"action": "list-users", "result": "failed"})); n != 1 {
		t.Errorf("%d list-users failed records, want 1", n)
	}
	// The retry wrapper was applied: it slept between attempts.
	if len(e.sleeps) == 0 {
		t.Error("a 503 listing users was not retried")
	}
}
