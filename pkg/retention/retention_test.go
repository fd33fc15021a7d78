package retention

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

const (
	src  = "cn-hangzhou"
	dst  = "cn-shanghai"
	dst2 = "ap-southeast-1" // has its own retention: keepLast 1
)

func testPolicy(tz string, rule policy.RetentionRule) *policy.Policy {
	return &policy.Policy{
		Name:     "prod",
		Timezone: tz,
		Sources:  []policy.Source{{Region: src, InstanceIDs: []string{"i-1", "i-2"}}},
		Destinations: []policy.Destination{
			{Region: dst},
			{Region: dst2, Retention: &policy.RetentionRule{KeepLast: 1}},
		},
		Retention: policy.Retention{Source: rule, Destination: rule},
	}
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err) // test data only
	}
	return t
}

type opt func(*Image)

func status(s string) opt   { return func(im *Image) { im.Status = s } }
func region(r string) opt   { return func(im *Image) { im.Region = r } }
func instance(i string) opt { return func(im *Image) { im.InstanceID = i } }
func inUse() opt            { return func(im *Image) { im.InUse = true } }
func unmanaged() opt        { return func(im *Image) { im.Managed = false } }
func copyOf(id string) opt {
	return func(im *Image) { im.Role, im.SourceImageID, im.SourceRegion = policy.RoleCopy, id, src }
}
func img(id, created string, opts ...opt) Image {
	im := Image{ID: id, Region: src, InstanceID: "i-1", Name: "dr-i-1-" + id, Status: StatusAvailable,
		Created: ts(created), Role: policy.RoleSource, Managed: true}
	for _, o := range opts {
		o(&im)
	}
	return im
}

// summary renders a decision as "+reason; reason" (keep) or "-reason" (delete).
func summary(d Decision) string {
	sign := "+"
	if d.Delete {
		sign = "-"
	}
	return sign + strings.Join(d.Reasons, "; ")
}

const newest = "newest Available in region"

func TestPlanCleanup(t *testing.T) {
	t.Parallel()
	now := ts("2026-11-23T00:00:00Z")
	for _, tc := range []struct {
		name   string
		tz     string
		rule   policy.RetentionRule
		now    time.Time // zero: now
		images []Image
		want   map[string]string // image id -> summary
	}{
		{
			name: "empty input",
			rule: policy.RetentionRule{KeepLast: 1},
			want: map[string]string{},
		},
		{
			name: "keepLast",
			rule: policy.RetentionRule{KeepLast: 2},
			images: []Image{
				img("m-1", "2026-11-19T02:00:00Z"), img("m-2", "2026-11-20T02:00:00Z"),
				img("m-3", "2026-11-21T02:00:00Z"), img("m-4", "2026-11-22T02:00:00Z"),
			},
			want: map[string]string{
				"m-4": "+" + newest + "; keepLast 2 (#1)",
				"m-3": "+keepLast 2 (#2)",
				"m-2": "-older than all rules",
				"m-1": "-older than all rules",
			},
		},
		{
			name: "keepDays boundary is exclusive",
			rule: policy.RetentionRule{KeepDays: 2},
			images: []Image{
				img("m-new", "2026-11-22T12:00:00Z"),
				img("m-in", "2026-11-21T00:00:00.000000001Z"),
				img("m-edge", "2026-11-21T00:00:00Z"),
				img("m-old", "2026-11-20T23:59:59Z"),
			},
			want: map[string]string{
				"m-new":  "+" + newest + "; keepDays 2",
				"m-in":   "+keepDays 2",
				"m-edge": "-older than all rules",
				"m-old":  "-older than all rules",
			},
		},
		{
			name: "daily in UTC",
			tz:   "UTC",
			rule: policy.RetentionRule{Daily: 2},
			images: []Image{
				img("m-a", "2026-11-21T01:00:00Z"), img("m-b", "2026-11-20T23:30:00Z"),
				img("m-c", "2026-11-20T15:00:00Z"), img("m-d", "2026-11-20T10:00:00Z"),
			},
			want: map[string]string{
				"m-a": "+" + newest + "; daily 2026-11-21",
				"m-b": "+daily 2026-11-20",
				"m-c": "-older than all rules",
				"m-d": "-older than all rules",
			},
		},
		{
			// 23:30 UTC is 07:30 the next day in Shanghai.
			name: "daily in Asia/Shanghai",
			tz:   "Asia/Shanghai",
			rule: policy.RetentionRule{Daily: 2},
			images: []Image{
				img("m-a", "2026-11-21T01:00:00Z"), img("m-b", "2026-11-20T23:30:00Z"),
				img("m-c", "2026-11-20T15:00:00Z"), img("m-d", "2026-11-20T10:00:00Z"),
			},
			want: map[string]string{
				"m-a": "+" + newest + "; daily 2026-11-21",
				"m-b": "-older than all rules",
				"m-c": "+daily 2026-11-20",
				"m-d": "-older than all rules",
			},
		},
		{
			name: "daily skips days without images (restic)",
			rule: policy.RetentionRule{Daily: 3},
			images: []Image{
				img("m-1", "2026-11-22T02:00:00Z"), img("m-2", "2026-11-15T02:00:00Z"),
				img("m-3", "2026-11-01T02:00:00Z"), img("m-4", "2026-10-01T02:00:00Z"),
			},
			want: map[string]string{
				"m-1": "+" + newest + "; daily 2026-11-22",
				"m-2": "+daily 2026-11-15",
				"m-3": "+daily 2026-11-01",
				"m-4": "-older than all rules",
			},
		},
		{
			// 2026 has 53 ISO weeks: Mon 2026-12-28 .. Sun 2027-01-03 is 2026-W53.
			name: "weekly across a year end",
			rule: policy.RetentionRule{Weekly: 3},
			now:  ts("2027-01-06T00:00:00Z"),
			images: []Image{
				img("m-1", "2027-01-05T02:00:00Z"), // 2027-W01
				img("m-2", "2027-01-02T02:00:00Z"), // 2026-W53
				img("m-3", "2026-12-29T02:00:00Z"), // 2026-W53
				img("m-4", "2026-12-27T02:00:00Z"), // Sunday: 2026-W52
				img("m-5", "2026-12-20T02:00:00Z"), // 2026-W51
			},
			want: map[string]string{
				"m-1": "+" + newest + "; weekly 2027-W01",
				"m-2": "+weekly 2026-W53",
				"m-3": "-older than all rules",
				"m-4": "+weekly 2026-W52",
				"m-5": "-older than all rules",
			},
		},
		{
			// Sunday 23:30 UTC is Monday in Shanghai: another ISO week.
			name: "weekly boundary in Asia/Shanghai",
			tz:   "Asia/Shanghai",
			rule: policy.RetentionRule{Weekly: 2},
			images: []Image{
				img("m-1", "2026-11-22T23:30:00Z"), // Mon 2026-11-23 in Shanghai: W48
				img("m-2", "2026-11-22T10:00:00Z"), // Sun 18:00 Shanghai: W47
				img("m-3", "2026-11-17T10:00:00Z"), // W47
			},
			want: map[string]string{
				"m-1": "+" + newest + "; weekly 2026-W48",
				"m-2": "+weekly 2026-W47",
				"m-3": "-older than all rules",
			},
		},
		{
			name: "monthly at month end in UTC",
			tz:   "UTC",
			rule: policy.RetentionRule{Monthly: 2},
			now:  ts("2026-03-03T00:00:00Z"),
			images: []Image{
				img("m-x", "2026-03-02T00:00:00Z"), img("m-y", "2026-02-28T16:30:00Z"),
				img("m-z", "2026-02-27T00:00:00Z"), img("m-w", "2026-01-31T23:00:00Z"),
			},
			want: map[string]string{
				"m-x": "+" + newest + "; monthly 2026-03",
				"m-y": "+monthly 2026-02",
				"m-z": "-older than all rules",
				"m-w": "-older than all rules",
			},
		},
		{
			name: "monthly at month end in Asia/Shanghai",
			tz:   "Asia/Shanghai",
			rule: policy.RetentionRule{Monthly: 2},
			now:  ts("2026-03-03T00:00:00Z"),
			images: []Image{
				img("m-x", "2026-03-02T00:00:00Z"), img("m-y", "2026-02-28T16:30:00Z"),
				img("m-z", "2026-02-27T00:00:00Z"), img("m-w", "2026-01-31T23:00:00Z"),
			},
			want: map[string]string{
				"m-x": "+" + newest + "; monthly 2026-03",
				"m-y": "-older than all rules",
				"m-z": "+monthly 2026-02",
				"m-w": "-older than all rules",
			},
		},
		{
			name: "monthly skips empty months",
			rule: policy.RetentionRule{Monthly: 3},
			images: []Image{
				img("m-nov", "2026-11-01T00:00:00Z"), img("m-aug", "2026-08-31T23:59:59Z"),
				img("m-mar", "2026-03-15T00:00:00Z"), img("m-feb", "2026-02-15T00:00:00Z"),
			},
			want: map[string]string{
				"m-nov": "+" + newest + "; monthly 2026-11",
				"m-aug": "+monthly 2026-08",
				"m-mar": "+monthly 2026-03",
				"m-feb": "-older than all rules",
			},
		},
		{
			// Smaller id counts as newer, whatever the input order.
			name: "equal timestamps broken by id",
			rule: policy.RetentionRule{KeepLast: 1, Daily: 1},
			images: []Image{
				img("m-b", "2026-11-22T02:00:00Z"), img("m-c", "2026-11-22T02:00:00Z"), img("m-a", "2026-11-22T02:00:00Z"),
			},
			want: map[string]string{
				"m-a": "+" + newest + "; keepLast 1 (#1); daily 2026-11-22",
				"m-b": "-older than all rules",
				"m-c": "-older than all rules",
			},
		},
		{
			name: "all failed: nothing Available to keep, failed is garbage unless in use",
			rule: policy.RetentionRule{KeepLast: 5, KeepDays: 30, Daily: 5},
			images: []Image{
				img("m-1", "2026-11-22T02:00:00Z", status(StatusCreateFailed)),
				img("m-2", "2026-11-21T02:00:00Z", status(StatusUnAvailable)),
				img("m-3", "2026-11-20T02:00:00Z", status(StatusCreateFailed), inUse()),
			},
			want: map[string]string{
				"m-1": "-failed image",
				"m-2": "-failed image",
				"m-3": "+in use by an instance",
			},
		},
		{
			name: "failed never counts as newest Available",
			rule: policy.RetentionRule{KeepLast: 1},
			images: []Image{
				img("m-fail", "2026-11-22T02:00:00Z", status(StatusCreateFailed)),
				img("m-ok", "2026-11-01T02:00:00Z"),
				img("m-old", "2026-10-01T02:00:00Z"),
			},
			want: map[string]string{
				"m-fail": "-failed image",
				"m-ok":   "+" + newest + "; keepLast 1 (#1)",
				"m-old":  "-older than all rules",
			},
		},
		{
			name: "protections: in use, in progress, deprecated, unknown status",
			rule: policy.RetentionRule{KeepLast: 1},
			images: []Image{
				img("m-creating", "2026-11-22T03:00:00Z", status(StatusCreating)),
				img("m-waiting", "2026-11-22T02:30:00Z", status(StatusWaiting)),
				img("m-new", "2026-11-22T02:00:00Z"),
				img("m-used", "2026-11-01T02:00:00Z", inUse()),
				img("m-depr", "2026-10-15T02:00:00Z", status(StatusDeprecated)),
				img("m-odd", "2026-10-10T02:00:00Z", status("Frozen")),
				img("m-old", "2026-10-01T02:00:00Z"),
			},
			want: map[string]string{
				"m-creating": "+still Creating",
				"m-waiting":  "+still Waiting",
				"m-new":      "+" + newest + "; keepLast 1 (#1)",
				"m-used":     "+in use by an instance",
				"m-depr":     "-deprecated",
				"m-odd":      `+unknown status "Frozen"`,
				"m-old":      "-older than all rules",
			},
		},
		{
			// The source of a copy still in progress in any region stays; once the copy
			// is Available, the source follows the rules.
			name: "lineage",
			rule: policy.RetentionRule{KeepLast: 1},
			images: []Image{
				img("m-src-new", "2026-11-22T02:00:00Z"),
				img("m-src-busy", "2026-11-10T02:00:00Z"),
				img("m-src-done", "2026-11-09T02:00:00Z"),
				img("m-cp-busy", "2026-11-10T03:00:00Z", region(dst), copyOf("m-src-busy"), status(StatusWaiting)),
				img("m-cp-done", "2026-11-09T03:00:00Z", region(dst), copyOf("m-src-done")),
				img("m-cp2-busy", "2026-11-22T03:00:00Z", region(dst2), copyOf("m-src-new"), status(StatusCreating)),
			},
			want: map[string]string{
				"m-src-new":  "+source of a copy in progress; " + newest + "; keepLast 1 (#1)",
				"m-src-busy": "+source of a copy in progress",
				"m-src-done": "-older than all rules",
				"m-cp-busy":  "+still Waiting",
				"m-cp-done":  "+" + newest + "; keepLast 1 (#1)",
				"m-cp2-busy": "+still Creating",
			},
		},
		{
			// Not ours: kept, and not the "newest Available" either.
			name: "not managed",
			rule: policy.RetentionRule{KeepLast: 1},
			images: []Image{
				img("m-theirs", "2026-11-22T02:00:00Z", unmanaged()),
				img("m-theirs-failed", "2026-11-22T01:00:00Z", unmanaged(), status(StatusCreateFailed)),
				img("m-ours", "2026-11-20T02:00:00Z"),
				img("m-ours-old", "2026-11-19T02:00:00Z"),
			},
			want: map[string]string{
				"m-theirs":        "+not managed",
				"m-theirs-failed": "+not managed",
				"m-ours":          "+" + newest + "; keepLast 1 (#1)",
				"m-ours-old":      "-older than all rules",
			},
		},
		{
			name: "region not in policy: nothing deleted",
			rule: policy.RetentionRule{KeepLast: 1},
			images: []Image{
				img("m-1", "2026-11-22T02:00:00Z", region("eu-central-1")),
				img("m-2", "2026-01-01T02:00:00Z", region("eu-central-1"), status(StatusCreateFailed)),
			},
			want: map[string]string{
				"m-1": "+region not in policy",
				"m-2": "+region not in policy",
			},
		},
		{
			// Source rule keeps 3; dst uses Retention.Destination (same rule); dst2 its
			// own keepLast 1; every instance and region is its own group.
			name: "per region and instance groups",
			rule: policy.RetentionRule{KeepLast: 2},
			images: []Image{
				img("m-1a", "2026-11-22T02:00:00Z"), img("m-1b", "2026-11-21T02:00:00Z"), img("m-1c", "2026-11-20T02:00:00Z"),
				img("m-2a", "2026-11-20T02:00:00Z", instance("i-2")),
				img("m-d1", "2026-11-22T05:00:00Z", region(dst), copyOf("m-1a")),
				img("m-d2", "2026-11-21T05:00:00Z", region(dst), copyOf("m-1b")),
				img("m-d3", "2026-11-20T05:00:00Z", region(dst), copyOf("m-1c")),
				img("m-e1", "2026-11-22T05:00:00Z", region(dst2), copyOf("m-1a")),
				img("m-e2", "2026-11-21T05:00:00Z", region(dst2), copyOf("m-1b")),
			},
			want: map[string]string{
				"m-1a": "+" + newest + "; keepLast 2 (#1)", "m-1b": "+keepLast 2 (#2)", "m-1c": "-older than all rules",
				"m-2a": "+" + newest + "; keepLast 2 (#1)",
				"m-d1": "+" + newest + "; keepLast 2 (#1)", "m-d2": "+keepLast 2 (#2)", "m-d3": "-older than all rules",
				"m-e1": "+" + newest + "; keepLast 1 (#1)", "m-e2": "-older than all rules",
			},
		},
		{
			name: "union of every rule",
			tz:   "UTC",
			rule: policy.RetentionRule{KeepLast: 1, KeepDays: 2, Daily: 2, Weekly: 2, Monthly: 2},
			images: []Image{
				img("m-1", "2026-11-22T12:00:00Z"), // Sun W47
				img("m-2", "2026-11-22T02:00:00Z"),
				img("m-3", "2026-11-21T02:00:00Z"),
				img("m-4", "2026-11-20T02:00:00Z"),
				img("m-5", "2026-11-15T02:00:00Z"), // Sun W46
				img("m-6", "2026-11-10T02:00:00Z"), // W46
				img("m-7", "2026-10-31T02:00:00Z"), // Oct
				img("m-8", "2026-10-01T02:00:00Z"),
				img("m-9", "2026-09-30T02:00:00Z"),
			},
			want: map[string]string{
				"m-1": "+" + newest + "; keepLast 1 (#1); keepDays 2; daily 2026-11-22; weekly 2026-W47; monthly 2026-11",
				"m-2": "+keepDays 2",
				"m-3": "+keepDays 2; daily 2026-11-21",
				"m-4": "-older than all rules",
				"m-5": "+weekly 2026-W46",
				"m-6": "-older than all rules",
				"m-7": "+monthly 2026-10",
				"m-8": "-older than all rules",
				"m-9": "-older than all rules",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := now
			if !tc.now.IsZero() {
				n = tc.now
			}
			tz := tc.tz
			if tz == "" {
				tz = "UTC"
			}
			pol := testPolicy(tz, tc.rule)
			plan := PlanCleanup(tc.images, pol, n)
			got := map[string]string{}
			for _, d := range plan.Decisions {
				if _, dup := got[d.Image.ID]; dup {
					t.Errorf("%s decided twice", d.Image.ID)
				}
				got[d.Image.ID] = summary(d)
			}
			if !reflect.DeepEqual(got, tc.want) {
				for id, w := range tc.want {
					if got[id] != w {
						t.Errorf("%s: got %q, want %q", id, got[id], w)
					}
				}
				for id := range got {
					if _, ok := tc.want[id]; !ok {
						t.Errorf("%s: unexpected decision %q", id, got[id])
					}
				}
			}
			if len(plan.Deletes())+len(plan.Keeps()) != len(tc.images) {
				t.Errorf("deletes %d + keeps %d != %d images", len(plan.Deletes()), len(plan.Keeps()), len(tc.images))
			}
		})
	}
}

func TestPlanOrderAndDeterminism(t *testing.T) {
	t.Parallel()
	images := []Image{
		img("m-3", "2026-11-20T02:00:00Z", instance("i-2")),
		img("m-9", "2026-11-22T02:00:00Z", region(dst), copyOf("m-1")),
		img("m-2", "2026-11-22T02:00:00Z"),
		img("m-1", "2026-11-22T02:00:00Z"),
		img("m-0", "2026-11-21T02:00:00Z"),
	}
	want := []string{"m-1", "m-2", "m-0", "m-3", "m-9"} // cn-hangzhou/i-1, cn-hangzhou/i-2, cn-shanghai
	input := slices.Clone(images)
	pol := testPolicy("UTC", policy.RetentionRule{KeepLast: 1})
	base := PlanCleanup(images, pol, ts("2026-11-23T00:00:00Z"))
	var ids []string
	for _, d := range base.Decisions {
		ids = append(ids, d.Image.ID)
	}
	if !slices.Equal(ids, want) {
		t.Fatalf("order = %v, want %v", ids, want)
	}
	if d := base.Deletes(); len(d) != 2 || d[0].Image.ID != "m-2" || d[1].Image.ID != "m-0" {
		t.Errorf("Deletes = %v", d)
	}
	if s := base.Deletes()[0].String(); s != "delete m-2 (cn-hangzhou i-1 Available 2026-11-22T02:00:00Z): [older than all rules]" {
		t.Errorf("String = %q", s)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		shuffled := slices.Clone(images)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if got := PlanCleanup(shuffled, pol, ts("2026-11-23T00:00:00Z")); !reflect.DeepEqual(got, base) {
			t.Fatalf("plan depends on input order:\n%v\n%v", got, base)
		}
	}
	if !reflect.DeepEqual(images, input) {
		t.Errorf("PlanCleanup changed its input:\n%v\nwant %v", images, input)
	}
}

func TestPlanCleanupNilPolicyDeletesNothing(t *testing.T) {
	t.Parallel()
	plan := PlanCleanup([]Image{img("m-1", "2020-01-01T00:00:00Z", status(StatusCreateFailed))}, nil, ts("2026-11-23T00:00:00Z"))
	if len(plan.Deletes()) != 0 || len(plan.Decisions) != 1 {
		t.Errorf("plan = %+v", plan)
	}
}

// TestPlanInvariants checks the safety rules on random inputs: never delete what is not
// ours, in use, in progress, the source of a copy in progress, or the newest Available
// image of an instance in a region; every image decided exactly once.
func TestPlanInvariants(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(42, 7))
	statuses := []string{StatusAvailable, StatusAvailable, StatusAvailable, StatusCreating, StatusWaiting,
		StatusCreateFailed, StatusUnAvailable, StatusDeprecated}
	regions := []string{src, dst, dst2, "eu-central-1"}
	base := ts("2026-11-23T00:00:00Z")
	for iter := range 300 {
		var images []Image
		for i := range rng.IntN(40) {
			im := Image{
				ID:         fmt.Sprintf("m-%03d", i),
				Region:     regions[rng.IntN(len(regions))],
				InstanceID: fmt.Sprintf("i-%d", rng.IntN(3)),
				Status:     statuses[rng.IntN(len(statuses))],
				Created:    base.Add(-time.Duration(rng.IntN(24*90)) * time.Hour), // collisions on purpose
				Managed:    rng.IntN(10) > 0,
				InUse:      rng.IntN(10) == 0,
			}
			if im.Region != src && len(images) > 0 && rng.IntN(2) == 0 {
				im.SourceImageID = images[rng.IntN(len(images))].ID
			}
			images = append(images, im)
		}
		rule := policy.RetentionRule{KeepLast: rng.IntN(4), KeepDays: rng.IntN(10), Daily: rng.IntN(5),
			Weekly: rng.IntN(3), Monthly: rng.IntN(3)}
		tz := []string{"UTC", "Asia/Shanghai", "America/New_York"}[rng.IntN(3)]
		plan := PlanCleanup(images, testPolicy(tz, rule), base)

		copying := map[string]bool{}
		newestAvail := map[[2]string]Image{}
		for _, im := range images {
			if im.SourceImageID != "" && pending(im.Status) {
				copying[im.SourceImageID] = true
			}
			k := [2]string{im.Region, im.InstanceID}
			if !im.Managed || im.Status != StatusAvailable {
				continue
			}
			cur, ok := newestAvail[k]
			if !ok || im.Created.After(cur.Created) || im.Created.Equal(cur.Created) && im.ID < cur.ID {
				newestAvail[k] = im
			}
		}
		if len(plan.Decisions) != len(images) {
			t.Fatalf("iter %d: %d decisions for %d images", iter, len(plan.Decisions), len(images))
		}
		seen := map[string]bool{}
		for _, d := range plan.Decisions {
			im := d.Image
			if seen[im.ID] {
				t.Fatalf("iter %d: %s decided twice", iter, im.ID)
			}
			seen[im.ID] = true
			if len(d.Reasons) == 0 {
				t.Fatalf("iter %d: %s has no reason", iter, im.ID)
			}
			if !d.Delete {
				continue
			}
			n := newestAvail[[2]string{im.Region, im.InstanceID}]
			switch {
			case !im.Managed, im.InUse, pending(im.Status), copying[im.ID], im.Region == "eu-central-1",
				n.ID == im.ID:
				t.Fatalf("iter %d: unsafe delete %v", iter, d)
			}
		}
	}
}
