package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/catalog"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/events"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

const (
	src      = "cn-hangzhou"
	dstPlain = "cn-beijing"
	dstKMS   = "cn-shanghai"
	account  = "1234567890123456"
)

var t0 = time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC) // 02:00 Asia/Shanghai on the 24th

// testEnv is one service under test with its fake cloud, clock, sleeps and logs.
type testEnv struct {
	t      *testing.T
	fake   *fakeECS
	cat    *fakeCatalog
	pol    *policy.Policy
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
	logs   *bytes.Buffer
	// ecsOverride, when set, is the ECS the services get (a wrapper of fake); marks
	// their Marks.
	ecsOverride ecsx.API
	marks       Marks
}

func newTestPolicy(t *testing.T, mutate func(*policy.Policy)) *policy.Policy {
	t.Helper()
	p := &policy.Policy{
		Name:     "prod-dr",
		Timezone: "Asia/Shanghai",
		Sources: []policy.Source{{
			Region:      src,
			InstanceIDs: []string{"i-web1", "i-pend", "i-lock", "i-gone"},
			Selectors:   []map[string]string{{"backup": "daily"}},
			Exclude:     policy.Exclude{InstanceIDs: []string{"i-skipme"}, Tags: map[string]string{"env": "dev"}},
		}},
		Destinations: []policy.Destination{{Region: dstPlain}, {Region: dstKMS, Encrypted: true, KMSKeyID: "kms-key-1"}},
		Retention:    policy.Retention{Source: policy.RetentionRule{KeepLast: 2}, Destination: policy.RetentionRule{KeepLast: 1}},
		Tags:         map[string]string{"team": "ops"},
	}
	if mutate != nil {
		mutate(p)
	}
	p.ApplyDefaults()
	if err := p.Validate(); err != nil {
		t.Fatalf("test policy invalid: %v", err)
	}
	return p
}

func newEnv(t *testing.T, mutate func(*policy.Policy)) *testEnv {
	t.Helper()
	e := &testEnv{t: t, cat: &fakeCatalog{}, now: t0, logs: &bytes.Buffer{}}
	e.fake = newFake(e.clock)
	e.pol = newTestPolicy(t, mutate)
	f := e.fake
	f.addInstance(src, ecsx.Instance{ID: "i-web1", Name: "web 1", Status: "Running", ImageID: "m-base"})
	f.addInstance(src, ecsx.Instance{ID: "i-db1", Name: "db", Status: "Stopped", Tags: map[string]string{"backup": "daily"}})
	f.addInstance(src, ecsx.Instance{ID: "i-pend", Status: "Pending"})
	f.addInstance(src, ecsx.Instance{ID: "i-lock", Status: "Running", Locked: true, LockReasons: []string{"security"}})
	f.addInstance(src, ecsx.Instance{ID: "i-dev", Status: "Running", Tags: map[string]string{"backup": "daily", "env": "dev"}})
	f.addInstance(src, ecsx.Instance{ID: "i-skipme", Status: "Running", Tags: map[string]string{"backup": "daily"}})
	f.addInstance(src, ecsx.Instance{ID: "i-other", Status: "Running"})
	return e
}

func (e *testEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *testEnv) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(d)
}

func (e *testEnv) deps() Deps {
	var api ecsx.API = e.fake
	if e.ecsOverride != nil {
		api = e.ecsOverride
	}
	return Deps{
		ECS: api, Policy: e.pol, Marks: e.marks, Now: e.clock, Catalog: e.cat, AccountID: account,
		// No jitter: the recorded sleeps are the back-off ceilings.
		Retry: ecsx.RetryConfig{Jitter: func(d time.Duration) time.Duration { return d }},
		Log:   slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Sleep: func(_ context.Context, d time.Duration) error {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.sleeps = append(e.sleeps, d)
			return nil
		},
	}
}

// records returns the JSON log records matching every key=value of want.
func (e *testEnv) records(want map[string]string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		ok := true
		for k, v := range want {
			ok = ok && rec[k] == v
		}
		if ok {
			out = append(out, rec)
		}
	}
	return out
}

func instancesOf(items []Item) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.Instance)
	}
	return out
}

func find(items []Item, pred func(Item) bool) (Item, bool) {
	for _, it := range items {
		if pred(it) {
			return it, true
		}
	}
	return Item{}, false
}

func sourceImages(e *testEnv) []fakeImage {
	var out []fakeImage
	for _, im := range e.fake.regionImages(src) {
		if im.Tags[policy.TagRole] == policy.RoleSource {
			out = append(out, im)
		}
	}
	return out
}

func TestCreateSelectsAndSkips(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	sum, err := e.deps().Create(context.Background(), t0)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if sum.Slot != "20261124" {
		t.Errorf("slot = %q, want 20261124 (policy timezone Asia/Shanghai)", sum.Slot)
	}
	if got := strings.Join(instancesOf(sum.Started), ","); got != "i-db1,i-web1" {
		t.Errorf("started = %s, want i-db1,i-web1 (listed Running + selected Stopped)", got)
	}
	wantSkip := map[string]string{"i-pend": "status Pending", "i-lock": "locked", "i-gone": "not found"}
	for id, reason := range wantSkip {
		if it, ok := find(sum.Skipped, func(it Item) bool { return it.Instance == id }); !ok || !strings.Contains(it.Reason, reason) {
			t.Errorf("%s: skipped = %+v, want reason containing %q", id, it, reason)
		}
	}
	for _, id := range []string{"i-dev", "i-skipme", "i-other"} {
		if _, ok := find(sum.Started, func(it Item) bool { return it.Instance == id }); ok {
			t.Errorf("%s was imaged though excluded or unselected", id)
		}
	}
	imgs := sourceImages(e)
	if len(imgs) != 2 {
		t.Fatalf("images in %s = %d, want 2", src, len(imgs))
	}
	for _, im := range imgs {
		inst := im.Tags[policy.TagSourceInstance]
		want := map[string]string{policy.TagManagedBy: policy.ManagedByValue, policy.TagPolicy: "prod-dr", policy.TagSlot: "20261124",
			policy.TagRole: policy.RoleSource, policy.TagSourceRegion: src, "team": "ops"}
		for k, v := range want {
			if im.Tags[k] != v {
				t.Errorf("%s: tag %s = %q, want %q", im.ID, k, im.Tags[k], v)
			}
		}
		names := map[string]string{"i-web1": "web 1", "i-db1": "db"} // as in newEnv
		if want := e.pol.ImageName(inst, names[inst], src, "20261124"); im.Name != want {
			t.Errorf("%s: name %q, want %q (the template)", im.ID, im.Name, want)
		}
	}
	if n := len(e.records(map[string]string{"action": "create", "result": "ok", "policy": "prod-dr", "region": src})); n != 2 {
		t.Errorf("create ok log records = %d, want 2", n)
	}
}

func TestCreateIsIdempotentPerSlot(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	d := e.deps()
	if _, err := d.Create(context.Background(), t0); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		setup func()
	}{
		{"duplicate timer while images are Creating", func() {}},
		{"FC retry after images became Available", e.fake.finishAll},
		{"ClientToken forgotten by the service", e.fake.forgetTokens},
	}
	for _, tc := range tests {
		tc.setup()
		sum, err := d.Create(context.Background(), t0.Add(10*time.Minute))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(sum.Started) != 0 {
			t.Errorf("%s: started %v, want none", tc.name, instancesOf(sum.Started))
		}
		if it, ok := find(sum.Skipped, func(it Item) bool { return it.Instance == "i-web1" }); !ok || !strings.Contains(it.Reason, "already exists") {
			t.Errorf("%s: i-web1 skipped = %+v, want already exists", tc.name, it)
		}
	}
	if n := len(sourceImages(e)); n != 2 {
		t.Errorf("images = %d, want 2 after repeated runs", n)
	}
	// The next slot makes new images.
	sum, err := d.Create(context.Background(), t0.Add(24*time.Hour))
	if err != nil || len(sum.Started) != 2 || sum.Slot != "20261125" {
		t.Errorf("next slot: started %v slot %s err %v, want 2 new images", instancesOf(sum.Started), sum.Slot, err)
	}
}

// A retryable failure fails the invocation (FC retries it) and the retry creates only
// what is missing.
func TestCreatePartialFailureThenRetry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	d := e.deps()
	e.fake.failIf["CreateImage"] = func(_, instance string) error {
		if instance == "i-db1" {
			return ecsx.NewError("InternalError", 500, "The request processing has failed due to some unknown error.")
		}
		return nil
	}
	sum, err := d.Create(context.Background(), t0)
	if err == nil || !strings.Contains(err.Error(), "i-db1") || !strings.Contains(err.Error(), "InternalError") {
		t.Fatalf("err = %v, want an error naming i-db1 and its code", err)
	}
	if got := strings.Join(instancesOf(sum.Started), ","); got != "i-web1" {
		t.Errorf("started = %s, want i-web1 (successes stay)", got)
	}
	if len(sum.Failed) != 1 || sum.Failed[0].ErrorCode != "InternalError" {
		t.Errorf("failed = %+v", sum.Failed)
	}
	if len(e.records(map[string]string{"action": "create", "result": "failed", "instance": "i-db1", "error_code": "InternalError"})) != 1 {
		t.Errorf("no failed create record for i-db1 in logs:\n%s", e.logs)
	}
	delete(e.fake.failIf, "CreateImage")
	sum, err = d.Create(context.Background(), t0.Add(time.Minute))
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if got := strings.Join(instancesOf(sum.Started), ","); got != "i-db1" {
		t.Errorf("retry started = %s, want only i-db1", got)
	}
	if n := len(sourceImages(e)); n != 2 {
		t.Errorf("images = %d, want 2 (no duplicates)", n)
	}
}

func TestCreateBacksOffOnThrottling(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(p *policy.Policy) { p.Concurrency = 1 })
	throttled := ecsx.NewError("Throttling.User", 400, "Request was denied due to user flow control.")
	e.fake.failNext("CreateImage", throttled, throttled)
	e.fake.failNext("DescribeInstances", ecsx.NewError("ServiceUnavailable", 503, "x"))
	sum, err := e.deps().Create(context.Background(), t0)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if len(sum.Started) != 2 {
		t.Errorf("started = %v, want 2 after back-off", instancesOf(sum.Started))
	}
	if len(e.sleeps) != 3 || e.sleeps[1] != 500*time.Millisecond || e.sleeps[2] != time.Second {
		t.Errorf("sleeps = %v, want 3 waits (500ms for the 503, then 500ms, 1s for throttling)", e.sleeps)
	}
	if c := e.fake.count("CreateImage"); c != 4 {
		t.Errorf("CreateImage calls = %d, want 4", c)
	}
}

func TestCreateRetryableFailureGivesUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.fake.failIf["CreateImage"] = func(string, string) error { return ecsx.NewError("Throttling.User", 400, "x") }
	d := e.deps()
	// Throttling is retried until the soft deadline; without one (no ctx deadline), it
	// gets ThrottleAttempts tries.
	d.Retry = ecsx.RetryConfig{Attempts: 1, ThrottleAttempts: 3}
	sum, err := d.Create(context.Background(), t0)
	if err == nil || len(sum.Failed) != 2 || !sum.Failed[0].Retryable {
		t.Fatalf("err = %v failed = %+v, want 2 retryable failures", err, sum.Failed)
	}
	if c := e.fake.count("CreateImage"); c != 6 {
		t.Errorf("CreateImage calls = %d, want 3 attempts × 2 instances", c)
	}
}

func TestCreateDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(p *policy.Policy) { p.DryRun = true })
	sum, err := e.deps().Create(context.Background(), t0)
	if err != nil {
		t.Fatal(err)
	}
	if !sum.DryRun || len(sum.Planned) != 2 || len(sum.Started) != 0 {
		t.Errorf("summary = %+v, want 2 planned, none started", sum)
	}
	if c := e.fake.count("CreateImage"); c != 0 {
		t.Errorf("CreateImage called %d times in dry run", c)
	}
	if n := len(e.records(map[string]string{"action": "create", "result": "dry-run"})); n != 2 {
		t.Errorf("dry-run records = %d, want 2", n)
	}
}

func TestCreateStatusChangedSinceListing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.fake.failIf["CreateImage"] = func(_, instance string) error {
		if instance == "i-web1" {
			return ecsx.NewError("IncorrectInstanceStatus", 400, "x")
		}
		return nil
	}
	sum, err := e.deps().Create(context.Background(), t0)
	if err != nil {
		t.Fatalf("Create: %v (a status change is a skip, a retry cannot help)", err)
	}
	if _, ok := find(sum.Skipped, func(it Item) bool { return it.Instance == "i-web1" && it.ErrorCode == "IncorrectInstanceStatus" }); !ok {
		t.Errorf("skipped = %+v, want i-web1 with IncorrectInstanceStatus", sum.Skipped)
	}
}

// imageEvent is an Available event for an image of the test account.
func imageEvent(id, region, image string) events.ImageEvent {
	return events.ImageEvent{ID: id, Source: events.SourceECS, Type: events.TypeImageStateChange, Region: region,
		AccountID: account, ImageID: image, State: ecsx.StatusAvailable}
}

// readySource creates the slot's images and makes them Available; it returns i-web1's.
func readySource(t *testing.T, e *testEnv) fakeImage {
	t.Helper()
	if _, err := e.deps().Create(context.Background(), t0); err != nil {
		t.Fatal(err)
	}
	e.fake.finishAll()
	for _, im := range sourceImages(e) {
		if im.Tags[policy.TagSourceInstance] == "i-web1" {
			return im
		}
	}
	t.Fatal("no image of i-web1")
	return fakeImage{}
}

func copiesOf(e *testEnv, region, source string) []fakeImage {
	var out []fakeImage
	for _, im := range e.fake.regionImages(region) {
		if im.Tags[policy.TagSourceImage] == source {
			out = append(out, im)
		}
	}
	return out
}

func TestHandleEventsCopiesToEveryDestination(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	srcImg := readySource(t, e)
	sum, err := e.deps().HandleEvents(context.Background(), []events.ImageEvent{imageEvent("ev-1", src, srcImg.ID)})
	if err != nil {
		t.Fatalf("HandleEvents: %v", err)
	}
	if len(sum.Copied) != 2 {
		t.Fatalf("copied = %+v, want 2 destinations", sum.Copied)
	}
	for _, tc := range []struct {
		region    string
		encrypted bool
		kms       string
	}{{dstPlain, false, ""}, {dstKMS, true, "kms-key-1"}} {
		cps := copiesOf(e, tc.region, srcImg.ID)
		if len(cps) != 1 {
			t.Fatalf("%s: %d copies, want 1", tc.region, len(cps))
		}
		cp := cps[0]
		want := map[string]string{policy.TagManagedBy: policy.ManagedByValue, policy.TagPolicy: "prod-dr", policy.TagRole: policy.RoleCopy,
			policy.TagSourceImage: srcImg.ID, policy.TagSourceRegion: src, policy.TagSourceInstance: "i-web1", policy.TagSlot: "20261124", "team": "ops"}
		for k, v := range want {
			if cp.Tags[k] != v {
				t.Errorf("%s: tag %s = %q, want %q", tc.region, k, cp.Tags[k], v)
			}
		}
		if cp.Encrypted != tc.encrypted || cp.KMSKeyID != tc.kms || cp.Name != e.pol.CopyName(srcImg.Name, tc.region) {
			t.Errorf("%s: copy encrypted=%v kms=%q name=%q", tc.region, cp.Encrypted, cp.KMSKeyID, cp.Name)
		}
	}
	if n := len(e.records(map[string]string{"action": "copy", "result": "ok", "source_image": srcImg.ID})); n != 2 {
		t.Errorf("copy ok records = %d, want 2", n)
	}
}

func TestHandleEventsDuplicatesMakeNoSecondCopy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	srcImg := readySource(t, e)
	d := e.deps()
	batch := []events.ImageEvent{imageEvent("ev-1", src, srcImg.ID), imageEvent("ev-1", src, srcImg.ID), imageEvent("ev-2", src, srcImg.ID)}
	if _, err := d.HandleEvents(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	// Redelivery while copies are Creating, then after they are Available.
	for i := range 2 {
		sum, err := d.HandleEvents(context.Background(), batch[:1])
		if err != nil {
			t.Fatal(err)
		}
		if len(sum.Copied) != 0 || len(sum.Skipped) != 2 || !strings.Contains(sum.Skipped[0].Reason, "copy exists") {
			t.Errorf("redelivery %d: copied %+v skipped %+v", i, sum.Copied, sum.Skipped)
		}
		e.fake.finishAll()
	}
	if c := e.fake.count("CopyImage"); c != 2 {
		t.Errorf("CopyImage calls = %d, want 2 (one per destination)", c)
	}
}

func TestHandleEventsRejectsAndIgnores(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	srcImg := readySource(t, e)
	e.fake.addImage(src, ecsx.Image{ID: "m-theirs", Name: "theirs", Status: ecsx.StatusAvailable, Created: t0, Tags: map[string]string{"owner": "someone"}})
	e.fake.addImage(src, ecsx.Image{ID: "m-otherpolicy", Name: "op", Status: ecsx.StatusAvailable, Created: t0,
		Tags: map[string]string{policy.TagManagedBy: policy.ManagedByValue, policy.TagPolicy: "other", policy.TagRole: policy.RoleSource}})
	mod := func(ev events.ImageEvent, f func(*events.ImageEvent)) events.ImageEvent { f(&ev); return ev }
	ok := imageEvent("ev", src, srcImg.ID)
	tests := []struct {
		name     string
		ev       events.ImageEvent
		rejected error
		skip     string
	}{
		{"foreign account", mod(ok, func(e *events.ImageEvent) { e.ID, e.AccountID = "a", "999" }), events.ErrForeignAccount, ""},
		{"forged source", mod(ok, func(e *events.ImageEvent) { e.ID, e.Source = "b", "my.app" }), events.ErrUnexpectedSource, ""},
		{"other type", mod(ok, func(e *events.ImageEvent) { e.ID, e.Type = "c", "ecs:Snapshot:CreateSnapshotCompleted" }), events.ErrUnexpectedType, ""},
		{"malformed image id", mod(ok, func(e *events.ImageEvent) { e.ID, e.ImageID = "d", "m-1,m-2" }), events.ErrInvalidImage, ""},
		{"not Available", mod(ok, func(e *events.ImageEvent) { e.ID, e.State = "e", "Creating" }), nil, "event state Creating"},
		{"unknown image", imageEvent("f", src, "m-nothere"), nil, "image not found"},
		{"unmanaged image", imageEvent("g", src, "m-theirs"), nil, "not managed"},
		{"other policy's image", imageEvent("h", src, "m-otherpolicy"), nil, "not managed"},
		{"source image in a destination region", imageEvent("i", dstPlain, srcImg.ID), nil, "image not found"},
	}
	for _, tc := range tests {
		sum, err := e.deps().HandleEvents(context.Background(), []events.ImageEvent{tc.ev})
		if err != nil {
			t.Errorf("%s: err = %v, want acknowledged", tc.name, err)
			continue
		}
		if tc.rejected != nil && (len(sum.Rejected) != 1 || !strings.Contains(sum.Rejected[0].Reason, tc.rejected.Error())) {
			t.Errorf("%s: rejected = %+v, want %v", tc.name, sum.Rejected, tc.rejected)
		}
		if tc.skip != "" && (len(sum.Skipped) != 1 || !strings.Contains(sum.Skipped[0].Reason, tc.skip)) {
			t.Errorf("%s: skipped = %+v, want %q", tc.name, sum.Skipped, tc.skip)
		}
	}
	if c := e.fake.count("CopyImage"); c != 0 {
		t.Errorf("CopyImage called %d times for rejected or foreign events", c)
	}
	if n := len(e.records(map[string]string{"action": "reject"})); n != 4 {
		t.Errorf("reject records = %d, want 4", n)
	}
}

func TestHandleEventsErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		err       error
		wantError bool
	}{
		{"permanent error is acknowledged", ecsx.NewError("QuotaExceed.Image", 403, "The number of images exceeds the limit"), false},
		{"retryable error fails the invocation", ecsx.NewError("InternalError", 500, "x"), true},
		{"copy conflict is retried later", ecsx.NewError("OperationDenied.ImageCopyConflict", 400, "x"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			srcImg := readySource(t, e)
			e.fake.failIf["CopyImage"] = func(string, string) error { return tc.err }
			sum, err := e.deps().HandleEvents(context.Background(), []events.ImageEvent{imageEvent("ev", src, srcImg.ID)})
			if (err != nil) != tc.wantError {
				t.Errorf("err = %v, wantError %v", err, tc.wantError)
			}
			if len(sum.Failed) != 2 || sum.Failed[0].ErrorCode != ecsx.Code(tc.err) {
				t.Errorf("failed = %+v", sum.Failed)
			}
			if c := e.fake.count("CopyImage"); c != 2 {
				t.Errorf("CopyImage calls = %d, want 2 (never retried: no ClientToken)", c)
			}
		})
	}
}

func TestHandleEventsCopyAvailableSyncsCatalog(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	srcImg := readySource(t, e)
	d := e.deps()
	if s, err := d.HandleEvents(context.Background(), []events.ImageEvent{imageEvent("ev-1", src, srcImg.ID)}); err != nil || len(s.Copied) != 2 {
		t.Fatalf("copy: %+v %v", s, err)
	}
	e.advance(30 * time.Minute)
	e.fake.finishAll()
	cp := copiesOf(e, dstPlain, srcImg.ID)[0]
	before := e.fake.count("DescribeImages")
	sum, err := d.HandleEvents(context.Background(), []events.ImageEvent{imageEvent("ev-2", dstPlain, cp.ID)})
	if err != nil {
		t.Fatal(err)
	}
	// O(1) per event: the copy is looked up by id, nothing is listed; its data time comes
	// from its lineage tag (no lookup of the source).
	if n := e.fake.count("DescribeImages") - before; n != 1 {
		t.Errorf("a copy event made %d DescribeImages calls, want 1", n)
	}
	if len(sum.CatalogSynced) != 1 || sum.CatalogSynced[0] != dstPlain {
		t.Fatalf("catalog synced = %v, want [%s]", sum.CatalogSynced, dstPlain)
	}
	s, _ := e.cat.last(dstPlain)
	if s.Policy != "prod-dr" || s.RemoveMissing {
		t.Errorf("sync = %+v", s)
	}
	var got bool
	for _, en := range s.Entries {
		if en.Region == dstPlain && en.InstanceID == "i-web1" {
			got = true
			if en.ImageID != cp.ID || en.Role != policy.RoleCopy || en.SourceImageID != srcImg.ID || en.SourceRegion != src ||
				en.Slot != "20261124" || en.RPOSeconds != 1800 || !en.UpdatedAt.Equal(t0.Add(30*time.Minute)) {
				t.Errorf("catalog entry = %+v", en)
			}
		}
	}
	if !got {
		t.Errorf("no catalog entry for the copy: %+v", s.Entries)
	}
}

func TestReconcileAfterLostEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	readySource(t, e) // no event ever arrives
	d := e.deps()
	sum, err := d.Reconcile(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Copied) != 4 {
		t.Errorf("copied = %d, want 2 images × 2 destinations", len(sum.Copied))
	}
	if len(sum.CatalogSynced) != 2 {
		t.Errorf("catalog synced = %v, want both destinations", sum.CatalogSynced)
	}
	sum, err = d.Reconcile(context.Background())
	if err != nil || len(sum.Copied) != 0 {
		t.Errorf("second reconcile copied %d (err %v), want 0", len(sum.Copied), err)
	}
	if c := e.fake.count("CopyImage"); c != 4 {
		t.Errorf("CopyImage calls = %d, want 4", c)
	}
}

func TestReconcileDoesNotResurrectPrunedCopies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	d := e.deps()
	// Day 1 is copied; day 2 too; then retention removes day 1's copies.
	old := readySource(t, e)
	if _, err := d.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Create(context.Background(), t0.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	e.fake.finishAll()
	if _, err := d.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.fake.finishAll()
	for _, region := range []string{dstPlain, dstKMS} {
		for _, cp := range copiesOf(e, region, old.ID) {
			if err := e.fake.DeleteImage(context.Background(), region, cp.ID, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	before := e.fake.count("CopyImage")
	sum, err := d.Reconcile(context.Background())
	if err != nil || len(sum.Copied) != 0 || e.fake.count("CopyImage") != before {
		t.Errorf("reconcile re-copied pruned images: copied %+v err %v", sum.Copied, err)
	}
}

// A failed copy is recorded as failed, deleted and copied again in the same reconcile pass
// (under the next attempt's name), and its snapshot does not outlive it.
func TestReconcileRecopiesFailedCopyInOnePass(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	srcImg := readySource(t, e)
	d := e.deps()
	if _, err := d.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	failed := copiesOf(e, dstPlain, srcImg.ID)[0]
	e.fake.mu.Lock()
	e.fake.images[dstPlain][failed.ID].Status = ecsx.StatusCreateFailed
	e.fake.mu.Unlock()
	e.fake.finishAll()
	sum, err := d.Reconcile(context.Background())
	if err != nil || len(sum.Copied) != 1 || sum.Copied[0].Region != dstPlain || sum.Copied[0].SourceImage != srcImg.ID {
		t.Fatalf("copied %+v err %v, want one new copy of %s in %s", sum.Copied, err, srcImg.ID, dstPlain)
	}
	if _, ok := e.fake.image(dstPlain, failed.ID); ok {
		t.Errorf("failed copy %s still exists", failed.ID)
	}
	for _, s := range failed.Snapshots {
		if e.fake.hasSnapshot(dstPlain, s) {
			t.Errorf("snapshot %s of the failed copy left behind", s)
		}
	}
	again, _ := e.fake.image(dstPlain, sum.Copied[0].Image)
	if again.Tags[policy.TagAttempt] != "2" || !strings.HasSuffix(again.Name, "-r2") {
		t.Errorf("new copy: name %q attempt %q, want the second attempt", again.Name, again.Tags[policy.TagAttempt])
	}
	if len(e.records(map[string]string{"action": "image-failed", "result": "failed", "image": failed.ID})) != 1 {
		t.Errorf("want one failed record for %s:\n%s", failed.ID, e.logs)
	}
}

func TestCreateCopyRaceNoDuplicateCopies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	srcImg := readySource(t, e)
	d := e.deps()
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == 0 {
				_, _ = d.Reconcile(context.Background())
			} else {
				_, _ = d.HandleEvents(context.Background(), []events.ImageEvent{imageEvent("ev", src, srcImg.ID)})
			}
		}()
	}
	wg.Wait()
	// Concurrent invocations can race between lookup and CopyImage; ECS then refuses the
	// second (name taken in the destination). What must never happen is two copies.
	for _, region := range []string{dstPlain, dstKMS} {
		if n := len(copiesOf(e, region, srcImg.ID)); n != 1 {
			t.Errorf("%s: %d copies of %s, want 1", region, n, srcImg.ID)
		}
	}
}

// cleanupFixture: instance i-web1 in the source region with a series of images, and
// copies in the destination, covering every case cleanup must get right.
func cleanupFixture(t *testing.T, e *testEnv) {
	t.Helper()
	day := 24 * time.Hour
	tags := func(role, slot string, extra ...string) map[string]string {
		m := e.pol.ManagedTags(map[string]string{policy.TagRole: role, policy.TagSourceInstance: "i-web1", policy.TagSlot: slot, policy.TagSourceRegion: src})
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	f := e.fake
	// source region, keepLast 2: newest two Available stay.
	f.addImage(src, ecsx.Image{ID: "m-s1", Name: "s1", Status: "Available", Created: t0.Add(-5 * day), Tags: tags("source", "1"), Snapshots: []string{"s-s1a", "s-s1b"}})
	f.addImage(src, ecsx.Image{ID: "m-s2", Name: "s2", Status: "Available", Created: t0.Add(-4 * day), Tags: tags("source", "2"), Snapshots: []string{"s-s2"}})
	f.addImage(src, ecsx.Image{ID: "m-s3", Name: "s3", Status: "Available", Created: t0.Add(-3 * day), Tags: tags("source", "3"), Snapshots: []string{"s-s3"}})
	f.addImage(src, ecsx.Image{ID: "m-s4", Name: "s4", Status: "Available", Created: t0.Add(-2 * day), Tags: tags("source", "4")})
	f.addImage(src, ecsx.Image{ID: "m-s5", Name: "s5", Status: "Available", Created: t0.Add(-1 * day), Tags: tags("source", "5")})
	f.addImage(src, ecsx.Image{ID: "m-s6", Name: "s6", Status: "Creating", Created: t0, Tags: tags("source", "6")})
	f.addImage(src, ecsx.Image{ID: "m-unmanaged", Name: "u", Status: "Available", Created: t0.Add(-30 * day), Tags: map[string]string{"team": "ops"}})
	f.addImage(src, ecsx.Image{ID: "m-failed", Name: "f", Status: "CreateFailed", Created: t0.Add(-6 * day), Tags: tags("source", "0"), Snapshots: []string{}})
	// m-s2 is in use by an instance; m-s3 is the source of a copy still in progress.
	f.addInstance(src, ecsx.Instance{ID: "i-restored", Status: "Running", ImageID: "m-s2"})
	// destination, keepLast 1.
	f.addImage(dstPlain, ecsx.Image{ID: "m-c3", Name: "c3", Status: "Creating", IsCopied: true, Created: t0.Add(-1 * time.Hour), Tags: tags("copy", "3", policy.TagSourceImage, "m-s3")})
	f.addImage(dstPlain, ecsx.Image{ID: "m-c4", Name: "c4", Status: "Available", IsCopied: true, Created: t0.Add(-2 * day), Tags: tags("copy", "4", policy.TagSourceImage, "m-s4"), Snapshots: []string{"s-c4"}})
	f.addImage(dstPlain, ecsx.Image{ID: "m-c5", Name: "c5", Status: "Available", IsCopied: true, Created: t0.Add(-1 * day), Tags: tags("copy", "5", policy.TagSourceImage, "m-s5")})
}

func TestCleanup(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	cleanupFixture(t, e)
	sum, err := e.deps().Cleanup(context.Background())
	if err != nil {
		t.Fatalf("Cleanup: %v\nplan:\n%s", err, strings.Join(sum.Plan, "\n"))
	}
	deleted := map[string]bool{}
	for _, it := range sum.Deleted {
		deleted[it.Image] = true
	}
	for _, id := range []string{"m-s1", "m-failed", "m-c4"} {
		if !deleted[id] {
			t.Errorf("%s not deleted\nplan:\n%s", id, strings.Join(sum.Plan, "\n"))
		}
	}
	if len(deleted) != 3 {
		t.Errorf("deleted = %v, want exactly m-s1, m-failed, m-c4", deleted)
	}
	keep := map[string]string{
		"m-unmanaged": src, "m-s2": src /* in use */, "m-s3": src /* copy in progress */, "m-s4": src, "m-s5": src,
		"m-s6": src /* creating */, "m-c3": dstPlain, "m-c5": dstPlain, /* newest */
	}
	for id, region := range keep {
		if _, ok := e.fake.image(region, id); !ok {
			t.Errorf("%s was deleted", id)
		}
	}
	for _, s := range []string{"s-s1a", "s-s1b", "s-c4"} {
		if e.fake.hasSnapshot(src, s) || e.fake.hasSnapshot(dstPlain, s) {
			t.Errorf("snapshot %s of a deleted image remains", s)
		}
	}
	if len(sum.SnapshotsDeleted) != 3 {
		t.Errorf("snapshots deleted = %v, want 3", sum.SnapshotsDeleted)
	}
	if e.fake.count("DeleteImage") != 3 {
		t.Errorf("DeleteImage calls = %d, want 3", e.fake.count("DeleteImage"))
	}
	s, ok := e.cat.last(dstPlain)
	if !ok || !s.RemoveMissing {
		t.Fatalf("catalog of %s not synced with removeMissing", dstPlain)
	}
	for _, en := range s.Entries {
		if deleted[en.ImageID] {
			t.Errorf("catalog lists deleted image %s", en.ImageID)
		}
	}
	if n := len(e.records(map[string]string{"action": "delete", "result": "ok", "image": "m-s1"})); n != 3 {
		t.Errorf("delete records for m-s1 (image + 2 snapshots) = %d, want 3", n)
	}
}

func TestCleanupDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(p *policy.Policy) { p.DryRun = true })
	cleanupFixture(t, e)
	sum, err := e.deps().Cleanup(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Planned) != 3 || len(sum.Deleted) != 0 {
		t.Errorf("planned %d deleted %d, want 3 and 0", len(sum.Planned), len(sum.Deleted))
	}
	if e.fake.count("DeleteImage")+e.fake.count("DeleteSnapshot") != 0 || len(e.cat.syncs) != 0 {
		t.Errorf("dry run mutated: DeleteImage %d DeleteSnapshot %d catalog %d", e.fake.count("DeleteImage"),
			e.fake.count("DeleteSnapshot"), len(e.cat.syncs))
	}
	if it, ok := find(sum.Planned, func(it Item) bool { return it.Image == "m-s1" }); !ok || !strings.Contains(it.Reason, "s-s1a") {
		t.Errorf("plan for m-s1 = %+v, want the snapshots named", it)
	}
}

func TestCleanupDeleteOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		imageErr   error
		snapErr    error
		wantDel    int
		wantLeft   int
		wantErr    bool
		wantKeptIn bool
	}{
		{"in use at delete time is kept", ecsx.NewError("ImageUsingByInstance", 403, "x"), nil, 2, 0, false, true},
		{"already gone counts as deleted", ecsx.NewError("InvalidImageId.NotFound", 404, "x"), nil, 3, 0, false, false},
		{"retryable delete failure fails the run", ecsx.NewError("ServiceUnavailable", 503, "x"), nil, 2, 0, true, false},
		{"snapshot still used is left", nil, ecsx.NewError("SnapshotCreatedImage", 403, "x"), 3, 1, false, false},
		{"snapshot delete failure is logged", nil, ecsx.NewError("InternalError", 500, "x"), 3, 1, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			cleanupFixture(t, e)
			if tc.imageErr != nil {
				e.fake.failIf["DeleteImage"] = func(region, id string) error {
					if id == "m-s1" {
						if ecsx.IsNotFound(tc.imageErr) {
							delete(e.fake.images[region], id) // deleted by someone else meanwhile (f.mu is held)
						}
						return tc.imageErr
					}
					return nil
				}
			}
			if tc.snapErr != nil {
				e.fake.failIf["DeleteSnapshot"] = func(_, id string) error {
					if id == "s-s1a" {
						return tc.snapErr
					}
					return nil
				}
			}
			d := e.deps()
			d.Retry = ecsx.RetryConfig{Attempts: 2}
			sum, err := d.Cleanup(context.Background())
			if (err != nil) != tc.wantErr {
				t.Errorf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if len(sum.Deleted) != tc.wantDel || len(sum.SnapshotsLeft) != tc.wantLeft {
				t.Errorf("deleted %d left %+v, want %d and %d", len(sum.Deleted), sum.SnapshotsLeft, tc.wantDel, tc.wantLeft)
			}
			if _, ok := find(sum.Kept, func(it Item) bool { return it.Image == "m-s1" }); ok != tc.wantKeptIn {
				t.Errorf("m-s1 kept = %v, want %v", ok, tc.wantKeptIn)
			}
			for _, it := range sum.SnapshotsLeft {
				if it.Snapshot != "s-s1a" || it.Image != "m-s1" {
					t.Errorf("snapshot left = %+v, want s-s1a of m-s1", it)
				}
			}
			if tc.snapErr != nil && len(e.records(map[string]string{"snapshot": "s-s1a"})) == 0 {
				t.Errorf("snapshot s-s1a left without a log record naming it")
			}
		})
	}
}

func TestCleanupRefusesPartialInventory(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	cleanupFixture(t, e)
	e.fake.failIf["DescribeImages"] = func(region, _ string) error {
		if region == dstPlain {
			return ecsx.NewError("InvalidParameter", 400, "x")
		}
		return nil
	}
	_, err := e.deps().Cleanup(context.Background())
	if err == nil || e.fake.count("DeleteImage") != 0 {
		t.Errorf("err = %v, DeleteImage = %d; want an error and no deletion when a region cannot be listed", err, e.fake.count("DeleteImage"))
	}
}

func TestDepsRequired(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for name, d := range map[string]Deps{"no ECS": {Policy: e.pol}, "no policy": {ECS: e.fake}} {
		if _, err := d.Create(context.Background(), t0); err == nil {
			t.Errorf("%s: Create succeeded", name)
		}
		if _, err := d.Cleanup(context.Background()); err == nil {
			t.Errorf("%s: Cleanup succeeded", name)
		}
	}
	var nilCatalog Deps = e.deps()
	nilCatalog.Catalog = nil
	nilCatalog.Log = nil
	readySource(t, e)
	if sum, err := nilCatalog.Reconcile(context.Background()); err != nil || len(sum.CatalogSynced) != 0 {
		t.Errorf("reconcile without catalog: %v %v", sum.CatalogSynced, err)
	}
}

// syncFirst is a catalog that notes how many images were deleted when each sync ran, and
// can move the soft deadline past once it has synced.
type syncFirst struct {
	*fakeCatalog
	fake        *fakeECS
	deletesSeen []int
	onSync      func()
}

func (c *syncFirst) Sync(ctx context.Context, dest, pol string, entries []catalog.Entry, remove catalog.Scope) error {
	c.deletesSeen = append(c.deletesSeen, c.fake.count("DeleteImage"))
	if c.onSync != nil {
		c.onSync()
	}
	return c.fakeCatalog.Sync(ctx, dest, pol, entries, remove)
}

// Cleanup writes the catalog from the images its plan keeps before its first delete: a
// run stopped at its soft deadline (or killed) during the deletes has its catalog
// written, and it never lists an image the run may delete.
func TestCleanupSyncsCatalogBeforeDeleting(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	cleanupFixture(t, e)
	cat := &syncFirst{fakeCatalog: e.cat, fake: e.fake}
	var past atomic.Bool
	cat.onSync = func() { past.Store(true) } // the deadline passes during the catalog sync
	d := e.deps()
	d.Catalog = cat
	ctx := WithSoftDeadline(context.Background(), t0.Add(time.Minute), func() time.Time {
		if past.Load() {
			return t0.Add(time.Hour)
		}
		return t0
	})
	sum, err := d.Cleanup(ctx)
	if err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	if len(cat.deletesSeen) == 0 || slices.Max(cat.deletesSeen) != 0 {
		t.Fatalf("DeleteImage calls when the catalog synced = %v, want every sync before the first delete", cat.deletesSeen)
	}
	if n := e.fake.count("DeleteImage"); n != 0 || len(sum.Deleted) != 0 {
		t.Errorf("past the soft deadline: %d DeleteImage calls, %d deleted, want none started", n, len(sum.Deleted))
	}
	if left := Remaining(ctx); left["images to delete"] != 3 {
		t.Errorf("remaining = %v, want the 3 planned deletes", left)
	}
	s, ok := e.cat.last(dstPlain)
	if !ok || !s.RemoveMissing || len(s.Entries) == 0 {
		t.Fatalf("catalog of %s: %+v, want a sync with removeMissing", dstPlain, s)
	}
	for _, en := range s.Entries {
		if en.ImageID == "m-s1" || en.ImageID == "m-c4" || en.ImageID == "m-failed" {
			t.Errorf("catalog lists %s, which the plan deletes", en.ImageID)
		}
	}
}

// Past the soft deadline a cleanup starts no catalog sync (it lists the whole catalog and
// could outlast the margin): it is counted as remaining for the next run, like the deletes.
func TestCleanupPastSoftDeadlineLeavesTheCatalogSync(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	cleanupFixture(t, e)
	ctx := WithSoftDeadline(context.Background(), t0.Add(-time.Second), func() time.Time { return t0 })
	if _, err := e.deps().Cleanup(ctx); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	if n := len(e.cat.syncs); n != 0 {
		t.Errorf("%d catalog syncs past the soft deadline, want none", n)
	}
	left := Remaining(ctx)
	if want := len(e.pol.DestinationRegions()); left["catalog syncs"] != want || left["images to delete"] != 3 {
		t.Errorf("remaining = %v, want %d catalog syncs and 3 images to delete", left, want)
	}
	if n := e.fake.count("DeleteImage"); n != 0 {
		t.Errorf("%d DeleteImage calls past the soft deadline", n)
	}
}
