package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	sdkecs "github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/fc"
	lcsls "github.com/ecsdr/ecs-image-dr/pkg/localcloud/sls"
	"github.com/ecsdr/ecs-image-dr/pkg/obs"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// The functions as s.yaml names them.
const (
	fnCreate  = "ecs-image-dr-create-image"
	fnCopy    = "ecs-image-dr-copy-image"
	fnCleanup = "ecs-image-dr-cleanup"
	fnOffsite = "ecs-image-dr-rds-offsite"
	fnDrill   = "ecs-image-dr-dr-drill"
)

var (
	buildOnce sync.Once
	builtS    string // s.yaml next to dist/<fn>/main
	buildErr  error
)

// projectS builds the real function binaries (for the host, so the test runs anywhere)
// into a temp dir once per test binary, with the repo's own s.yaml copied next to them:
// its code paths (./dist/<fn>) resolve there, so the test deploys what `s deploy` does.
func projectS(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		builtS, buildErr = build()
	})
	if buildErr != nil {
		t.Fatalf("build the functions: %v", buildErr)
	}
	return builtS
}

func build() (string, error) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return "", err
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("find the go tool: %w", err)
	}
	// Not t.TempDir: the binaries are shared by every test; TestMain removes the dir.
	dir, err := os.MkdirTemp("", "demo-test-")
	if err != nil {
		return "", err
	}
	tempDirs = append(tempDirs, dir)
	fns, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		return "", err
	}
	for _, fn := range fns {
		if !fn.IsDir() {
			continue
		}
		out := filepath.Join(dir, "dist", fn.Name(), "main")
		cmd := exec.Command(goTool, "build", "-o", out, "./functions/"+fn.Name())
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if msg, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build %s: %w\n%s", fn.Name(), err, msg)
		}
	}
	s, err := os.ReadFile(filepath.Join(root, "s.yaml"))
	if err != nil {
		return "", err
	}
	sfile := filepath.Join(dir, "s.yaml")
	return sfile, os.WriteFile(sfile, s, 0o644)
}

var tempDirs []string

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range tempDirs {
		_ = os.RemoveAll(d)
	}
	os.Exit(code)
}

// decode reads a function's JSON result.
func decode(t *testing.T, inv fc.Invocation) result {
	t.Helper()
	var r result
	if err := json.Unmarshal(inv.Response, &r); err != nil {
		t.Fatalf("%s %s: result %q: %v", inv.Function, inv.Source, inv.Response, err)
	}
	return r
}

// TestRunWithTrouble runs six simulated days with every kind of trouble up to the
// duplicated-events day, through the real binaries, and checks what happened against
// what must happen.
func TestRunWithTrouble(t *testing.T) {
	t.Parallel()
	sfile := projectS(t)
	var out bytes.Buffer
	const days = 6
	rep, err := Run(context.Background(), Options{SFile: sfile, Days: days, Out: &out})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	rep.Print(&out)
	if len(rep.Violations) > 0 {
		t.Fatalf("invariants violated:\n%s\n%s", strings.Join(rep.Violations, "\n"), out.String())
	}
	if want := DayAt(days, 6, 0); !rep.End.Equal(want) {
		t.Errorf("End = %s, want %s", rep.End, want)
	}

	// Invocation counts per function and trigger. Per day: one create, one reconcile, one
	// cleanup; an image-ready event per Hangzhou source image (2 protected instances there;
	// Shanghai's images raise events on Shanghai's bus, which has no rule: reconcile copies
	// them). Day 4 drops every event, day 5 adds the forged event, day 6 doubles events.
	type key struct{ fn, source string }
	counts := map[key]int{}
	for _, inv := range rep.Invocations {
		if inv.Status != fc.StatusOK {
			t.Errorf("%s %s at %s: %s %s: %s", inv.Function, inv.Source, stamp(inv.Start), inv.Status, inv.ErrorType, inv.ErrorMessage)
		}
		counts[key{inv.Function, inv.Source}]++
	}
	want := map[key]int{
		{fnCreate, "timer:daily"}: days,
		// Every 5 minutes from 02:00 to 05:55.
		{fnCopy, "timer:pending"}: 48 * days,
		// Day 3: web-1's image fails; its CreateFailed event is delivered too (+1).
		{fnCopy, "eventbridge:image-ready"}: 2*3 + 1 + 0 + (2 + 1) + 2*2,
		// 00:30, 06:30, 12:30 and 18:30 of days 1..5, and 00:30 of day 6 (the run ends at 06:00).
		{fnOffsite, "timer:every-6h"}: 4*(days-1) + 1,
		{fnDrill, "timer:drill"}:      6 * days,
		{fnDrill, "timer:rpo"}:        days,
	}
	// The deep reconcile and cleanup run in 8 shards each (s.yaml): each shard's timer once a day.
	for k := range 8 {
		want[key{fnCopy, fmt.Sprintf("timer:reconcile-%d", k)}] = days
	}
	for k := range 8 {
		want[key{fnCleanup, fmt.Sprintf("timer:shard-%d", k)}] = days
	}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("%s from %s: %d invocations, want %d", k.fn, k.source, counts[k], n)
		}
	}
	if len(counts) != len(want) {
		t.Errorf("invocations by function and source = %v, want only %v", counts, want)
	}

	// Every source image is copied exactly once to each destination, whatever the events
	// did; what each copy-image invocation did on the days that matter.
	copies := map[string]int{} // source image/region -> copies started
	var dropDayTimers, dupDayCopied, dupDaySkipped, rejected, cleanupDeleted int
	leftDay5, collectedDay6 := map[string]bool{}, map[string]bool{}
	for _, inv := range rep.Invocations {
		r := decode(t, inv)
		day := dayOf(inv.Start)
		if r.Cleanup != nil {
			cleanupDeleted += len(r.Cleanup.Deleted)
			switch day {
			case 5:
				for _, it := range r.Cleanup.SnapshotsLeft {
					leftDay5[it.Region+"/"+it.Snapshot] = true
				}
			case 6:
				for _, s := range r.Cleanup.SnapshotsDeleted {
					collectedDay6[s] = true
				}
			}
		}
		if r.Copy == nil {
			continue
		}
		for _, c := range r.Copy.Copied {
			copies[c.SourceImage+"/"+c.Region]++
		}
		switch {
		case day == 4 && (strings.HasPrefix(inv.Source, "timer:reconcile-") || inv.Source == "timer:pending"):
			dropDayTimers += len(r.Copy.Copied)
		case day == 6 && inv.Source == "eventbridge:image-ready":
			dupDayCopied += len(r.Copy.Copied)
			dupDaySkipped += len(r.Copy.Skipped)
		}
		if len(r.Copy.Rejected) > 0 {
			rejected++
			if len(r.Copy.Rejected) != 1 || !strings.Contains(r.Copy.Rejected[0].Reason, "forged-0001") ||
				inv.Source != "eventbridge:image-ready" || !inv.Start.Equal(DayAt(5, 10, 0)) {
				t.Errorf("unexpected rejection at %s from %s: %+v", stamp(inv.Start), inv.Source, r.Copy.Rejected)
			}
			if len(r.Copy.Copied) != 0 {
				t.Errorf("the forged event started copies: %+v", r.Copy.Copied)
			}
		}
	}
	const instances, destinations = 3, 2
	if got, want := len(copies), days*instances*destinations; got != want {
		t.Errorf("%d (source image, region) pairs copied, want %d", got, want)
	}
	for k, n := range copies {
		if n != 1 {
			t.Errorf("%s copied %d times", k, n)
		}
	}
	if dropDayTimers != instances*destinations {
		t.Errorf("the copy timers on the drop day copied %d, want %d (every image the lost events missed)", dropDayTimers, instances*destinations)
	}
	if dupDayCopied != 2*destinations || dupDaySkipped != 2*destinations {
		t.Errorf("duplicated-events day: copied %d, skipped %d; want %d and %d", dupDayCopied, dupDaySkipped, 2*destinations, 2*destinations)
	}
	if rejected != 1 {
		t.Errorf("%d invocations rejected an event, want 1 (the forged one)", rejected)
	}
	// Day 5's cleanup could delete no snapshot; day 6's collects every one it left.
	if len(leftDay5) == 0 {
		t.Error("day 5's cleanup left no snapshot: the killed-cleanup trouble did nothing")
	}
	for s := range leftDay5 {
		if !collectedDay6[s] {
			t.Errorf("snapshot %s left by day 5's cleanup was not collected on day 6 (collected %v)", s, collectedDay6)
		}
	}

	// Deletions: keepLast 3 in the sources starts pruning on day 4, one image per
	// instance per day, except web-1's day-1 image, which is in use from day 2. The
	// destinations (daily 5 + weekly 2) prune nothing before day 7.
	// Plus web-1's day-3 image that ended CreateFailed, deleted by copy-image when it made
	// the next attempt.
	wantDeleted := 2 + 3 + 3
	if len(rep.Deleted) != wantDeleted+1 || cleanupDeleted != wantDeleted {
		t.Errorf("deleted %d images (cleanup reported %d), want %d (+1 failed image): %v", len(rep.Deleted), cleanupDeleted, wantDeleted, rep.Deleted)
	}
	for id, region := range rep.Deleted {
		if region != "cn-hangzhou" && region != "cn-shanghai" {
			t.Errorf("image %s deleted in %s, a destination", id, region)
		}
	}

	// The final table: every protected instance in its source region and both destinations.
	if len(rep.Rows) != instances*(1+destinations) {
		t.Errorf("%d rows, want %d", len(rep.Rows), instances*(1+destinations))
	}
	for _, row := range rep.Rows {
		if row.NewestSlot != "20261106" {
			t.Errorf("%s in %s: newest slot %s", row.Instance, row.Region, row.NewestSlot)
		}
	}
	// The DR catalog of each destination, read through the OSS SDK, names every instance
	// in every region.
	if len(rep.Catalogs) != destinations {
		t.Fatalf("%d catalogs, want %d", len(rep.Catalogs), destinations)
	}
	for _, rc := range rep.Catalogs {
		if len(rc.Entries) != instances*(1+destinations) {
			t.Errorf("catalog in %s: %d entries, want %d", rc.Region, len(rc.Entries), instances*(1+destinations))
		}
	}

	checkSLSRecords(t, rep)
	checkOutput(t, out.String())
}

// checkSLSRecords: the functions' own records reached SLS, each carrying the function and
// the FC request id, and the sample query through GetLogs agrees with the records.
func checkSLSRecords(t *testing.T, rep *Report) {
	t.Helper()
	if len(rep.SLSRecords) == 0 {
		t.Fatal("no SLS records")
	}
	requests := map[string]bool{}
	for _, inv := range rep.Invocations {
		requests[inv.RequestID] = true
	}
	created, deleted, deleteOK, failedImages := 0, 0, 0, 0
	runtimeLines := 0
	seen := map[string]int{}
	for _, r := range rep.SLSRecords {
		// One log path: a record stored twice (FC's collection and an SDK sink) is a defect.
		if seen[fmt.Sprint(r)]++; seen[fmt.Sprint(r)] == 2 {
			t.Errorf("record stored twice in SLS: %v", r)
		}
		// FC's log collection also stores the runtime SDK's own lines (FC Invoke
		// Start/End RequestId: ...), tagged with FC's requestId field.
		if strings.HasPrefix(r["message"], "FC Invoke ") {
			runtimeLines++
			if !requests[r["requestId"]] || !strings.Contains(r["message"], "RequestId: "+r["requestId"]) {
				t.Errorf("runtime line with an unknown or another request's id: %v", r)
			}
			continue
		}
		if r[obs.KeyFunction] == "" || !requests[r[obs.KeyRequestID]] {
			t.Errorf("record without a function or a known request id: %v", r)
		}
		switch {
		case r[obs.KeyAction] == obs.ActionCreateImage && r[obs.KeyResult] == obs.ResultOK:
			created++
			// copy-image makes the next attempt of an image whose failure event it got.
			if r[obs.KeyFunction] != "create-image" && r[obs.KeyFunction] != "copy-image" || r[obs.KeyInstance] == "" || r[obs.KeyImage] == "" {
				t.Errorf("create record lacks function, instance or image: %v", r)
			}
		case r[obs.KeyAction] == "image-failed":
			failedImages++
			if r[obs.KeyResult] != obs.ResultFailed || r[obs.KeyInstance] != "i-hz-web-1" {
				t.Errorf("image-failed record: %v", r)
			}
		case r[obs.KeyAction] == obs.ActionDeleteImage:
			deleted++
			// Only cleanup deletes by retention; copy-image deletes only a failed image.
			if r[obs.KeyFunction] != "cleanup" && !(r[obs.KeyFunction] == "copy-image" && strings.Contains(r["reason"], "failed image") ||
				r[obs.KeyFunction] == "copy-image" && r["snapshot"] != "") {
				t.Errorf("delete record from %q: %v", r[obs.KeyFunction], r)
			}
			if r[obs.KeyResult] == obs.ResultOK && r["snapshot"] == "" {
				deleteOK++
			}
		}
	}
	if runtimeLines == 0 {
		t.Error("no FC Invoke lines in SLS: FC's log collection of stdout did not run")
	}
	if want := 6*3 + 1; created != want {
		t.Errorf("%d create/ok records, want %d (one per image started, the retry of the failed one included)", created, want)
	}
	if failedImages != 1 {
		t.Errorf("%d image-failed records in SLS, want 1 (web-1's day-3 image)", failedImages)
	}
	if deleted == 0 {
		t.Error("no delete records")
	}
	// Every image deletion was logged once, and GetLogs through the SDK finds exactly those.
	if rep.SLSQuery != SampleQuery || rep.SLSQueryHits != deleteOK || deleteOK != len(rep.Deleted) {
		t.Errorf("GetLogs %q matched %d; the records hold %d image delete/ok; %d images were deleted",
			rep.SLSQuery, rep.SLSQueryHits, deleteOK, len(rep.Deleted))
	}
}

// checkOutput: the demo output fits a 100-column terminal and says what it should.
func checkOutput(t *testing.T, out string) {
	t.Helper()
	for i, l := range strings.Split(out, "\n") {
		if n := utf8.RuneCountInString(l); n > width {
			t.Errorf("output line %d is %d columns: %q", i+1, n, l)
		}
	}
	for _, s := range []string{
		"trouble to inject", "day 4  11-04 00:00  EventBridge drops every event",
		"--- day 6  Fri 2026-11-06 ---",
		"  02:00  create-image  daily",
		"rejected 1 (event forged-0001",
		"=== DR catalog as read in cn-beijing (oss://demo-dr-catalog-cn-beijing) ===",
		"=== DR catalog as read in cn-shenzhen",
		`GetLogs "action: delete and result: ok and not snapshot: *" → 9 records`,
		"invariants: OK",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
	if strings.Contains(out, "** EventBridge normal again; ECS throttles") {
		t.Error("the output shows day 7's trouble in a 6-day run")
	}
}

// sdkClient is the ECS SDK client a sabotage uses, as any API caller would.
func sdkClient(srv *localcloud.Server, region string) (*sdkecs.Client, error) {
	return srv.ECSClient(region)
}

// forceDelete deletes image id in region through the ECS API, in use or not.
func forceDelete(srv *localcloud.Server, region, id string) error {
	c, err := sdkClient(srv, region)
	if err != nil {
		return err
	}
	req := sdkecs.CreateDeleteImageRequest()
	req.Scheme = "http"
	req.RegionId, req.ImageId, req.Force = region, id, "true"
	_, err = c.DeleteImage(req)
	return err
}

// findImage returns the managed image of instance in region with role and slot.
func findImage(srv *localcloud.Server, region, instance, role, slot string) (string, map[string]string, error) {
	for _, im := range srv.ECS.Images(region) {
		if im.Tags[policy.TagSourceInstance] == instance && im.Tags[policy.TagRole] == role && im.Tags[policy.TagSlot] == slot {
			return im.ID, im.Tags, nil
		}
	}
	return "", nil, fmt.Errorf("no %s image of %s for slot %s in %s", role, instance, slot, region)
}

// TestInvariantsCatchSabotage proves each invariant check can fail: a run with one piece
// of deliberate damage must report a violation naming it.
func TestInvariantsCatchSabotage(t *testing.T) {
	t.Parallel()
	sfile := projectS(t)
	const days = 4 // ends 11-04 06:00, after day 4's cleanup
	tests := []struct {
		name string
		at   time.Time
		do   func(ctx context.Context, srv *localcloud.Server) error
		want []string
	}{
		{
			// Day 4 loses every event; without the copy timers nothing copies day 4.
			name: "copy timers removed before the drop day",
			at:   DayAt(3, 12, 0),
			do: func(_ context.Context, srv *localcloud.Server) error {
				for k := range 8 {
					if !srv.Timers.Remove(fnCopy, fmt.Sprintf("reconcile-%d", k)) {
						return fmt.Errorf("no reconcile-%d timer", k)
					}
				}
				if !srv.Timers.Remove(fnCopy, "pending") {
					return errors.New("no pending timer")
				}
				return nil
			},
			want: []string{
				"i-hz-web-1 in cn-beijing: newest restorable image is from slot 20261103, want the last slot 20261104",
				"i-sh-app-1 in cn-shenzhen: newest restorable image is from slot 20261103",
			},
		},
		{
			name: "newest DR copy force-deleted after the cycle",
			// After the day's last deep-reconcile shard (05:55), which would copy it again.
			at: DayAt(4, 5, 59),
			do: func(_ context.Context, srv *localcloud.Server) error {
				id, _, err := findImage(srv, "cn-beijing", "i-hz-web-1", policy.RoleCopy, "20261104")
				if err != nil {
					return err
				}
				return forceDelete(srv, "cn-beijing", id)
			},
			want: []string{
				"i-hz-web-1: DR catalog in cn-beijing names",
				"i-hz-web-1: newest source image",
				"orphaned snapshot",
			},
		},
		{
			name: "hand-made golden image deleted",
			at:   DayAt(2, 9, 0),
			do: func(_ context.Context, srv *localcloud.Server) error {
				return forceDelete(srv, "cn-hangzhou", manualImage)
			},
			want: []string{"unmanaged image m-manual-golden-0001 in cn-hangzhou was deleted", "unmanaged image m-manual-golden-0001 is gone"},
		},
		{
			name: "image in use deleted",
			at:   DayAt(3, 9, 0),
			do: func(_ context.Context, srv *localcloud.Server) error {
				for _, in := range srv.ECS.Instances("cn-hangzhou") {
					if in.Name == "restored-web" {
						return forceDelete(srv, "cn-hangzhou", in.ImageID)
					}
				}
				return errors.New("no instance restored-web")
			},
			want: []string{"was deleted while an instance used it", "in-use image"},
		},
		{
			name: "a second copy of the same slot made by hand",
			at:   DayAt(4, 5, 0),
			do: func(_ context.Context, srv *localcloud.Server) error {
				_, tags, err := findImage(srv, "cn-beijing", "i-hz-db-1", policy.RoleCopy, "20261104")
				if err != nil {
					return err
				}
				src, _, err := findImage(srv, "cn-hangzhou", "i-hz-db-1", policy.RoleSource, "20261104")
				if err != nil {
					return err
				}
				c, err := sdkClient(srv, "cn-hangzhou")
				if err != nil {
					return err
				}
				req := sdkecs.CreateCopyImageRequest()
				req.Scheme = "http"
				req.RegionId, req.ImageId, req.DestinationRegionId, req.DestinationImageName = "cn-hangzhou", src, "cn-beijing", "by-hand"
				var ts []sdkecs.CopyImageTag
				for k, v := range tags {
					ts = append(ts, sdkecs.CopyImageTag{Key: k, Value: v})
				}
				req.Tag = &ts
				_, err = c.CopyImage(req)
				return err
			},
			want: []string{"i-hz-db-1 in cn-beijing: 2 images for slot 20261104 (duplicates)"},
		},
		{
			name: "cleanup timer removed",
			at:   DayAt(1, 1, 0),
			do: func(_ context.Context, srv *localcloud.Server) error {
				for k := range 8 {
					if !srv.Timers.Remove(fnCleanup, fmt.Sprintf("shard-%d", k)) {
						return fmt.Errorf("no cleanup shard-%d timer", k)
					}
				}
				return nil
			},
			want: []string{"i-hz-db-1 in cn-hangzhou keeps 4 images, retention allows at most 3"},
		},
		{
			name: "FC's log collection loses every line",
			at:   DayAt(3, 12, 0),
			do: func(_ context.Context, srv *localcloud.Server) error {
				srv.Env.Faults.Set("sls", lcsls.CollectAction, core.FaultRule{ErrorRate: 1, ErrorStatus: 500})
				return nil
			},
			want: []string{"ecs-image-dr-create-image (timer:daily, request ", "left no record in SLS"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rep, err := Run(context.Background(), Options{SFile: sfile, Days: days, Quiet: true,
				Sabotage: []Sabotage{{At: tt.at, What: tt.name, Do: tt.do}}})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			all := strings.Join(rep.Violations, "\n")
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("violations lack %q; got:\n%s", w, all)
				}
			}
			if strings.Contains(all, "scenario step") {
				t.Errorf("the sabotage itself failed:\n%s", all)
			}
			if rep.Check() == nil {
				t.Error("Check() = nil with violations")
			}
			var out bytes.Buffer
			rep.Print(&out)
			if !strings.Contains(out.String(), "VIOLATED") {
				t.Errorf("Print does not say VIOLATED:\n%s", out.String())
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	t.Parallel()
	noBinaries := filepath.Join(t.TempDir(), "s.yaml")
	s, err := os.ReadFile(filepath.Join("..", "..", "s.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(noBinaries, s, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, sfile, want string
	}{
		{"no s.yaml", filepath.Join(t.TempDir(), "missing.yaml"), "missing.yaml"},
		{"no binaries", noBinaries, "make build"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rep, err := Run(context.Background(), Options{SFile: tt.sfile, Days: 1})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run = %v, %v; want an error mentioning %q", rep, err, tt.want)
			}
		})
	}
}

func TestWrap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, head, text string
		w                int
		want             []string
	}{
		{"fits", "ab ", "one two", 20, []string{"ab one two"}},
		{"empty text", "head  ", "", 20, []string{"head"}},
		{"breaks at spaces", "> ", strings.Repeat("word ", 10), 24, []string{
			"> word word word word", "  word word word word", "  word word"}},
		{"cuts a long word", "", strings.Repeat("x", 45), 20, []string{strings.Repeat("x", 20), strings.Repeat("x", 20), "xxxxx"}},
		{"runes not bytes", "", "→→→ ééé", 7, []string{"→→→ ééé"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := wrap(tt.head, tt.text, tt.w)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("wrap = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSummaries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		inv  fc.Invocation
		want string
	}{
		{"one image to two regions", okInv(`{"kind":"copy","copy":{"copied":[
			{"region":"cn-beijing","sourceImage":"m-4fe7ad6e2bdf1e670ca3"},{"region":"cn-shenzhen","sourceImage":"m-4fe7ad6e2bdf1e670ca3"}],
			"catalogSynced":["cn-beijing"]}}`), "copied 2: m-4fe7ad6e2b… → beijing,shenzhen; catalog synced"},
		{"three images grouped", okInv(`{"kind":"copy","copy":{"copied":[
			{"region":"cn-beijing","sourceImage":"m-1"},{"region":"cn-beijing","sourceImage":"m-2"},{"region":"cn-beijing","sourceImage":"m-3"}]}}`),
			"copied 3: 3 images → beijing"},
		{"skips with one reason", okInv(`{"kind":"copy","copy":{"skipped":[{"reason":"copy exists"},{"reason":"copy exists"}]}}`),
			"copied 0, skipped 2 (copy exists)"},
		{"skips with two reasons", okInv(`{"kind":"create","create":{"started":[{}],"skipped":[{"reason":"locked"},{"reason":"gone"},{"reason":"locked"}]}}`),
			"started 1, skipped 3 (gone ×1; locked ×2)"},
		{"cleanup", okInv(`{"kind":"cleanup","cleanup":{"kept":[{},{}],"deleted":[{"reason":"old"}],"snapshotsDeleted":["a","b"]}}`),
			"kept 2, deleted 1 (old) + 2 snapshots"},
		{"failure with code", okInv(`{"kind":"copy","copy":{"failed":[{"reason":"copy","errorCode":"Throttling.User"}]}}`),
			"copied 0, failed 1 (copy Throttling.User)"},
		{"note", okInv(`{"kind":"copy","note":"event ignored"}`), "copy: event ignored"},
		{"error", fc.Invocation{Status: fc.StatusError, ErrorType: "errorString", ErrorMessage: "boom"}, "errorString: boom"},
		{"garbage", okInv(`{`), "unreadable result: unexpected end of JSON input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := summarize(tt.inv); got != tt.want {
				t.Errorf("summarize = %q, want %q", got, tt.want)
			}
		})
	}
}

func okInv(resp string) fc.Invocation {
	return fc.Invocation{Status: fc.StatusOK, Response: []byte(resp)}
}

func TestFlattenPattern(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{`{"source":["acs.ecs"],"type":["ecs:Image:StateChange"],"data":{"currentState":["Available"]}}`,
			"data.currentState=Available source=acs.ecs type=ecs:Image:StateChange"},
		{`{"source":["a","b"]}`, "source=a|b"},
		{`not json`, "not json"},
	}
	for _, tt := range tests {
		if got := flattenPattern(tt.in); got != tt.want {
			t.Errorf("flattenPattern(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDayAt(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		day, hh, mm int
		want        string
	}{
		{1, 0, 0, "2026-11-01T00:00:00+08:00"},
		{4, 3, 30, "2026-11-04T03:30:00+08:00"},
	} {
		got := DayAt(tt.day, tt.hh, tt.mm)
		if got.Format(time.RFC3339) != tt.want || dayOf(got) != tt.day {
			t.Errorf("DayAt(%d,%d,%d) = %s (day %d), want %s", tt.day, tt.hh, tt.mm, got.Format(time.RFC3339), dayOf(got), tt.want)
		}
	}
}
