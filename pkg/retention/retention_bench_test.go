package retention_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/policy"
	"github.com/ecsdr/ecs-image-dr/pkg/retention"
)

// Benchmark fleet: instances × regions × days, one image per instance, region and day at
// 02:00 Asia/Shanghai, the way the create-image timer and the copies leave them. Every
// 20th image (staggered per instance) ended CreateFailed, so even the shortest history
// has something to delete.
const (
	benchInstances = 100
	benchSource    = "cn-hangzhou"
	benchFailEvery = 20
)

var benchDestinations = []string{"cn-shanghai", "cn-beijing", "cn-shenzhen", "ap-southeast-1"}

// The source rule keeps a week (keepLast 7 and daily 7 select the same images when there
// is one a day); the destination rule keeps two weeks plus the newest of 4 ISO weeks.
var (
	benchSourceRule = policy.RetentionRule{KeepLast: 7, Daily: 7}
	benchDestRule   = policy.RetentionRule{KeepDays: 14, Weekly: 4}
)

func benchPolicy(tb testing.TB) *policy.Policy {
	tb.Helper()
	ids := make([]string, benchInstances)
	for i := range ids {
		ids[i] = benchInstanceID(i)
	}
	p := &policy.Policy{
		Name:      "prod-web",
		Timezone:  "Asia/Shanghai",
		Sources:   []policy.Source{{Region: benchSource, InstanceIDs: ids}},
		Retention: policy.Retention{Source: benchSourceRule, Destination: benchDestRule},
	}
	for _, r := range benchDestinations {
		p.Destinations = append(p.Destinations, policy.Destination{Region: r})
	}
	p.ApplyDefaults()
	if err := p.Validate(); err != nil {
		tb.Fatalf("benchmark policy: %v", err)
	}
	return p
}

func benchInstanceID(i int) string { return fmt.Sprintf("i-bp1bench%08d", i) }

func benchFailed(inst, day int) bool { return (inst+day)%benchFailEvery == benchFailEvery-1 }

// benchFleet returns the images and the time cleanup runs (an hour after the newest).
func benchFleet(days int) ([]retention.Image, time.Time) {
	loc, _ := time.LoadLocation("Asia/Shanghai") // embedded by pkg/policy (time/tzdata)
	newest := time.Date(2026, 11, 24, 2, 0, 0, 0, loc)
	now := newest.Add(time.Hour)
	regions := append([]string{benchSource}, benchDestinations...)
	images := make([]retention.Image, 0, benchInstances*len(regions)*days)
	for inst := range benchInstances {
		id := benchInstanceID(inst)
		for day := range days {
			created := newest.AddDate(0, 0, -day)
			slot := created.Format("20060102")
			status := retention.StatusAvailable
			if benchFailed(inst, day) {
				status = retention.StatusCreateFailed
			}
			srcID := fmt.Sprintf("m-src-%d-%d", inst, day)
			for _, r := range regions {
				im := retention.Image{ID: srcID, Region: r, InstanceID: id, Name: "dr-" + id + "-" + slot,
					Status: status, Created: created, Role: policy.RoleSource, Managed: true,
					SnapshotIDs: []string{"s-" + srcID}}
				if r != benchSource {
					im.ID, im.Role = fmt.Sprintf("m-cp-%s-%d-%d", r, inst, day), policy.RoleCopy
					im.SourceImageID, im.SourceRegion = srcID, benchSource
					im.Created = created.Add(10 * time.Minute)
				}
				images = append(images, im)
			}
		}
	}
	return images, now
}

// benchExpectedDeletes counts the deletions from the rules alone, independently of the
// planner: failed images go; of the Available ones the source keeps the 7 newest, a
// destination those younger than 14 days plus the newest of each of the 4 newest ISO
// weeks (in the policy zone).
func benchExpectedDeletes(days int) int {
	loc, _ := time.LoadLocation("Asia/Shanghai")
	newest := time.Date(2026, 11, 24, 2, 0, 0, 0, loc)
	del := 0
	for inst := range benchInstances {
		srcKept, lastWeek, weeks := 0, "", 0
		for day := range days { // newest first
			if benchFailed(inst, day) {
				del += 1 + len(benchDestinations)
				continue
			}
			if srcKept < benchSourceRule.KeepLast {
				srcKept++
			} else {
				del++
			}
			y, w := newest.AddDate(0, 0, -day).ISOWeek()
			weekKeep := false
			if wk := fmt.Sprint(y, "-", w); wk != lastWeek {
				lastWeek, weeks = wk, weeks+1
				weekKeep = weeks <= benchDestRule.Weekly
			}
			if day >= benchDestRule.KeepDays && !weekKeep {
				del += len(benchDestinations)
			}
		}
	}
	return del
}

// BenchmarkPlanCleanup plans cleanup over a fleet of 100 instances in 5 regions with N
// days of history: 1,000 images (2 days) and 10,000 (20 days).
func BenchmarkPlanCleanup(b *testing.B) {
	pol := benchPolicy(b)
	for _, days := range []int{2, 20} {
		images, now := benchFleet(days)
		b.Run(fmt.Sprintf("images=%d", len(images)), func(b *testing.B) {
			want := benchExpectedDeletes(days)
			plan := retention.PlanCleanup(images, pol, now)
			if got := len(plan.Deletes()); got != want || len(plan.Decisions) != len(images) {
				b.Fatalf("plan: %d decisions, %d deletes; want %d decisions, %d deletes", len(plan.Decisions), got, len(images), want)
			}
			for b.Loop() {
				plan = retention.PlanCleanup(images, pol, now)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(images)), "ns/image")
			b.ReportMetric(float64(want), "deletes")
		})
	}
}
