package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	localoss "github.com/ecsdr/ecs-image-dr/pkg/localcloud/oss"
	"github.com/ecsdr/ecs-image-dr/pkg/testutil"
)

const bkt = "prod-dr-catalog-cn-shanghai"

var t0 = time.Date(2024, 5, 1, 2, 0, 0, 0, time.UTC)

type fixture struct {
	svc   *localoss.Service
	store ossx.Store
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	env := core.NewEnv(core.NewManualClock(t0), nil)
	svc := localoss.New(env)
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)
	if err := svc.CreateBucket(bkt, "cn-shanghai"); err != nil {
		t.Fatal(err)
	}
	s, err := ossx.New(srv.URL, core.DefaultAccessKeyID, core.DefaultAccessKeySecret, "")
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{svc: svc, store: s}
}

func (f *fixture) writer(log *slog.Logger) *Writer {
	w := NewWriter(f.store, bkt, log)
	w.Now = func() time.Time { return t0 }
	return w
}

// objects are the schema-2 image objects of policy, as paths under its images/ prefix.
func (f *fixture) objects(policy string) []string {
	var out []string
	for _, k := range f.svc.Keys(bkt) {
		if rest, ok := strings.CutPrefix(k, kindPrefix(policy, KindImage)); ok {
			out = append(out, rest)
		}
	}
	return out
}

func ent(inst, region, image string, created time.Time) Entry {
	return Entry{InstanceID: inst, Region: region, ImageID: image, ImageName: "dr-" + inst, Role: "copy",
		SourceImageID: "m-src", SourceRegion: "cn-hangzhou", CreationTime: created, SizeGiB: 40,
		RPOSeconds: 1800, UpdatedAt: created.Add(30 * time.Minute)}
}

func ids(es []Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.InstanceID+"/"+e.Region+"="+e.ImageID)
	}
	return out
}

func mustRead(t *testing.T, f *fixture, policy string) []Entry {
	t.Helper()
	es, err := Read(context.Background(), f.store, bkt, policy)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return es
}

// countingStore counts requests and bytes written.
type countingStore struct {
	ossx.Store
	gets, puts, lists, deletes atomic.Int64
	putBytes                   atomic.Int64
	beforePut                  func(key string)
}

func (c *countingStore) Get(ctx context.Context, b, k string) ([]byte, string, error) {
	c.gets.Add(1)
	return c.Store.Get(ctx, b, k)
}

func (c *countingStore) Put(ctx context.Context, b, k string, d []byte, o ossx.PutOptions) (string, error) {
	c.puts.Add(1)
	c.putBytes.Add(int64(len(d)))
	if c.beforePut != nil {
		c.beforePut(k)
	}
	return c.Store.Put(ctx, b, k, d, o)
}

func (c *countingStore) List(ctx context.Context, b, p string) ([]ossx.ObjectInfo, error) {
	c.lists.Add(1)
	return c.Store.List(ctx, b, p)
}

func (c *countingStore) Delete(ctx context.Context, b, k string) error {
	c.deletes.Add(1)
	return c.Store.Delete(ctx, b, k)
}

func TestSyncReadRoundTrip(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cs := &countingStore{Store: f.store}
	w := NewWriter(cs, bkt, nil)
	ctx := context.Background()
	hz := time.FixedZone("CST", 8*3600)
	in := []Entry{
		ent("i-2", "cn-shanghai", "m-2s", t0),
		ent("i-1", "cn-shanghai", "m-1s", t0.In(hz)), // a zone must not matter
		ent("i-1", "cn-hangzhou", "m-1h", t0.Add(-time.Hour)),
	}
	in[2].Role, in[2].Tags = "source", map[string]string{"dr:policy": "prod"}
	in[1].DataTime = t0.Add(-2 * time.Hour).In(hz)
	if err := w.Sync(ctx, "prod", in, false); err != nil {
		t.Fatal(err)
	}
	got := mustRead(t, f, "prod")
	if want := []string{"i-1/cn-hangzhou=m-1h", "i-1/cn-shanghai=m-1s", "i-2/cn-shanghai=m-2s"}; !slices.Equal(ids(got), want) {
		t.Fatalf("Read = %v, want %v", ids(got), want)
	}
	for _, e := range got {
		if e.Policy != "prod" {
			t.Errorf("%s: policy %q not filled in", e.InstanceID, e.Policy)
		}
	}
	if got[0].Tags["dr:policy"] != "prod" || got[0].Role != "source" || got[0].RPOSeconds != 1800 || got[0].SizeGiB != 40 {
		t.Errorf("fields lost: %+v", got[0])
	}
	if !got[1].CreationTime.Equal(t0) || !got[1].DataTime.Equal(t0.Add(-2*time.Hour)) {
		t.Errorf("times %v / %v", got[1].CreationTime, got[1].DataTime)
	}
	// One object per instance and region, keyed by data time and image.
	want := []string{
		fmt.Sprintf("i-1/cn-hangzhou/%020d-m-1h.json", t0.Add(-time.Hour).UnixNano()),
		fmt.Sprintf("i-1/cn-shanghai/%020d-m-1s.json", t0.Add(-2*time.Hour).UnixNano()),
		fmt.Sprintf("i-2/cn-shanghai/%020d-m-2s.json", t0.UnixNano()),
	}
	if objs := f.objects("prod"); !slices.Equal(objs, want) {
		t.Fatalf("objects %v, want %v", objs, want)
	}

	// Re-syncing what is stored, even with a new UpdatedAt, writes nothing.
	puts := cs.puts.Load()
	again := slices.Clone(in)
	again[0].UpdatedAt = again[0].UpdatedAt.Add(time.Hour)
	if err := w.Sync(ctx, "prod", again, false); err != nil {
		t.Fatal(err)
	}
	if cs.puts.Load() != puts || cs.deletes.Load() != 0 {
		t.Fatalf("unchanged sync wrote %d objects and deleted %d", cs.puts.Load()-puts, cs.deletes.Load())
	}
	// Other policies are separate catalogs.
	if es := mustRead(t, f, "staging"); len(es) != 0 {
		t.Fatalf("staging = %v", ids(es))
	}
}

// Data age is the order: a copy that finished later but holds older data (its source
// image is older) never replaces newer data, through Put or Sync.
func TestDataAgeWinsNotCompletionTime(t *testing.T) {
	t.Parallel()
	newer := ent("i-1", "cn-shanghai", "m-newdata", t0)
	newer.DataTime = t0.Add(-time.Hour)
	older := ent("i-1", "cn-shanghai", "m-olddata", t0.Add(time.Hour)) // copy finished later
	older.DataTime = t0.Add(-24 * time.Hour)
	for _, via := range []string{"put", "sync"} {
		t.Run(via, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			w := f.writer(nil)
			ctx := context.Background()
			for _, e := range []Entry{newer, older} {
				var err error
				if via == "put" {
					_, err = w.Put(ctx, "prod", e)
				} else {
					err = w.Sync(ctx, "prod", []Entry{e}, false)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if got := ids(mustRead(t, f, "prod")); !slices.Equal(got, []string{"i-1/cn-shanghai=m-newdata"}) {
				t.Fatalf("catalog = %v", got)
			}
			if objs := f.objects("prod"); len(objs) != 1 {
				t.Fatalf("objects %v", objs)
			}
		})
	}
}

func TestPutNewerWins(t *testing.T) {
	t.Parallel()
	base := ent("i-1", "cn-shanghai", "m-b", t0) // RPO 1800 s, observed at t0+30m
	with := func(f func(*Entry)) Entry { e := base; f(&e); return e }
	tests := []struct {
		name      string
		incoming  Entry
		wantImage string
		wantSize  int
		wantRPO   int64
		wantWrite bool
	}{
		{"newer image replaces", with(func(e *Entry) { e.ImageID, e.CreationTime, e.RPOSeconds = "m-new", t0.Add(time.Hour), 600 }), "m-new", 40, 600, true},
		{"older image is ignored", with(func(e *Entry) { e.ImageID, e.CreationTime = "m-old", t0.Add(-time.Hour) }), "m-b", 40, 1800, false},
		{"same time, smaller id wins", with(func(e *Entry) { e.ImageID = "m-a" }), "m-a", 40, 1800, true},
		{"same time, larger id loses", with(func(e *Entry) { e.ImageID = "m-c" }), "m-b", 40, 1800, false},
		{"same image refreshes fields", with(func(e *Entry) { e.SizeGiB = 80 }), "m-b", 80, 1800, true},
		{"same image gains restore metadata", with(func(e *Entry) { e.Restore = &RestoreSpec{} }), "m-b", 40, 1800, true},
		// A caller recomputing RPO at every run (now − source creation) must neither
		// inflate the achieved RPO nor write at every run.
		{"same image, later observation", with(func(e *Entry) { e.RPOSeconds, e.UpdatedAt = 9000, t0.Add(2*time.Hour) }), "m-b", 40, 1800, false},
		{"same image, earlier observation", with(func(e *Entry) { e.RPOSeconds, e.UpdatedAt = 900, t0.Add(15*time.Minute) }), "m-b", 40, 900, true},
		{"same image, unknown RPO", with(func(e *Entry) { e.RPOSeconds = 0 }), "m-b", 40, 1800, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			w := f.writer(nil)
			ctx := context.Background()
			other := ent("i-2", "cn-shanghai", "m-other", t0)
			if err := w.Sync(ctx, "prod", []Entry{base, other}, false); err != nil {
				t.Fatal(err)
			}
			wrote, err := w.Put(ctx, "prod", tc.incoming)
			if err != nil {
				t.Fatal(err)
			}
			got := mustRead(t, f, "prod")
			if len(got) != 2 || got[0].ImageID != tc.wantImage || got[0].SizeGiB != tc.wantSize ||
				got[0].RPOSeconds != tc.wantRPO || got[1].ImageID != "m-other" {
				t.Fatalf("Read = %+v", got)
			}
			if wrote != tc.wantWrite {
				t.Fatalf("wrote = %v, want %v", wrote, tc.wantWrite)
			}
			if objs := f.objects("prod"); len(objs) != 2 {
				t.Fatalf("superseded object left: %v", objs)
			}
		})
	}
}

// resolve must not depend on who writes first, or concurrent writers would not converge.
func TestResolveIsOrderIndependent(t *testing.T) {
	t.Parallel()
	variants := []Entry{
		ent("i-1", "r", "m-b", t0),
		ent("i-1", "r", "m-a", t0),
		ent("i-1", "r", "m-c", t0.Add(time.Minute)),
		ent("i-1", "r", "m-c", t0.Add(-time.Minute)),
	}
	early := ent("i-1", "r", "m-b", t0)
	early.RPOSeconds, early.UpdatedAt = 60, t0.Add(time.Minute)
	sameRPOLater := early
	sameRPOLater.UpdatedAt = early.UpdatedAt.Add(time.Hour)
	variants = append(variants, early, sameRPOLater)
	for i, a := range variants {
		for j, b := range variants {
			ab, _ := resolve(a, b)
			ba, _ := resolve(b, a)
			if !sameRecord(ab, ba) {
				t.Errorf("variants %d,%d: %+v vs %+v", i, j, ab, ba)
			}
		}
	}
}

// The event path's cost does not grow with the catalog: one Put costs the same requests
// and bytes with 1 or 2,000 instances in the catalog.
func TestPutCostIsFlat(t *testing.T) {
	t.Parallel()
	cost := func(n int) [5]int64 {
		f := newFixture(t)
		ctx := context.Background()
		var seed []Entry
		for i := range n {
			seed = append(seed, ent(fmt.Sprintf("i-%05d", i), "cn-shanghai", fmt.Sprintf("m-%05d", i), t0))
		}
		if err := f.writer(nil).Sync(ctx, "prod", seed, false); err != nil {
			t.Fatal(err)
		}
		cs := &countingStore{Store: f.store}
		w := NewWriter(cs, bkt, nil)
		if _, err := w.Put(ctx, "prod", ent("i-00000", "cn-shanghai", "m-next", t0.Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
		return [5]int64{cs.gets.Load(), cs.puts.Load(), cs.lists.Load(), cs.deletes.Load(), cs.putBytes.Load()}
	}
	small, big := cost(1), cost(2000)
	if small != big {
		t.Fatalf("cost with 1 instance %v, with 2000 %v (gets, puts, lists, deletes, bytes)", small, big)
	}
	if big[1] != 1 || big[4] > 2048 {
		t.Fatalf("one event wrote %d objects, %d bytes", big[1], big[4])
	}
}

// Writers racing on one instance and region (events, reconcile, cleanup), each with its
// own image: the newest data wins, and once they are done one object is left.
func TestConcurrentWritersConverge(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	const writers = 24
	perm := rand.New(rand.NewPCG(1, 2)).Perm(writers)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := ent("i-shared", "cn-shanghai", fmt.Sprintf("m-%02d", perm[i]), t0.Add(time.Duration(perm[i])*time.Minute))
			own := ent(fmt.Sprintf("i-own%02d", i), "cn-shanghai", "m-own", t0)
			var err error
			if i%3 == 0 {
				err = f.writer(nil).Sync(ctx, "prod", []Entry{e, own}, false)
			} else {
				if _, err = f.writer(nil).Put(ctx, "prod", e); err == nil {
					_, err = f.writer(nil).Put(ctx, "prod", own)
				}
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := mustRead(t, f, "prod")
	if len(got) != writers+1 {
		t.Fatalf("catalog has %d entries, want %d: %v", len(got), writers+1, ids(got))
	}
	shared := got[slices.IndexFunc(got, func(e Entry) bool { return e.InstanceID == "i-shared" })]
	if want := fmt.Sprintf("m-%02d", writers-1); shared.ImageID != want {
		t.Fatalf("shared instance holds %s, want %s", shared.ImageID, want)
	}
	n := 0
	for _, o := range f.objects("prod") {
		if strings.HasPrefix(o, "i-shared/") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d objects left for the shared instance", n)
	}
}

// The one ordering that could lose data: an older writer puts after a newer writer's
// clean-up listing. The older writer's own listing must then delete itself, never the
// newer object; the check fails if putNewest deleted by "not mine" instead of "loses".
func TestStaleWriterDeletesOnlyItself(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	newer, older := ent("i-1", "r1", "m-new", t0.Add(time.Hour)), ent("i-1", "r1", "m-old", t0)
	cs := &countingStore{Store: f.store}
	cs.beforePut = func(key string) {
		if strings.HasSuffix(key, "-m-old.json") {
			cs.beforePut = nil
			if _, err := f.writer(nil).Put(ctx, "prod", newer); err != nil {
				t.Error(err)
			}
		}
	}
	wrote, err := NewWriter(cs, bkt, nil).Put(ctx, "prod", older)
	if err != nil || !wrote {
		t.Fatalf("Put = %v, %v", wrote, err)
	}
	if got := ids(mustRead(t, f, "prod")); !slices.Equal(got, []string{"i-1/r1=m-new"}) {
		t.Fatalf("catalog = %v", got)
	}
	if objs := f.objects("prod"); len(objs) != 1 {
		t.Fatalf("objects %v", objs)
	}
}

func TestRemoveMissing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := f.writer(nil)
	ctx := context.Background()
	a, b := ent("i-a", "cn-shanghai", "m-a", t0), ent("i-b", "cn-shanghai", "m-b", t0)
	if err := w.Sync(ctx, "prod", []Entry{a, b}, false); err != nil {
		t.Fatal(err)
	}
	a2 := ent("i-a", "cn-shanghai", "m-a2", t0.Add(24*time.Hour))
	if err := w.Sync(ctx, "prod", []Entry{a2}, false); err != nil {
		t.Fatal(err)
	}
	if got := ids(mustRead(t, f, "prod")); !slices.Equal(got, []string{"i-a/cn-shanghai=m-a2", "i-b/cn-shanghai=m-b"}) {
		t.Fatalf("without removeMissing: %v", got)
	}
	if err := w.Sync(ctx, "prod", []Entry{a2}, true); err != nil {
		t.Fatal(err)
	}
	if got := ids(mustRead(t, f, "prod")); !slices.Equal(got, []string{"i-a/cn-shanghai=m-a2"}) {
		t.Fatalf("with removeMissing: %v", got)
	}
	if objs := f.objects("prod"); len(objs) != 1 {
		t.Fatalf("objects left: %v", objs)
	}
	if err := w.Sync(ctx, "prod", nil, true); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, f, "prod"); len(got) != 0 {
		t.Fatalf("empty removeMissing sync left %v", ids(got))
	}
}

func TestInvalidInputWritesNothing(t *testing.T) {
	t.Parallel()
	good := ent("i-1", "cn-shanghai", "m-1", t0)
	mod := func(f func(*Entry)) Entry { e := good; f(&e); return e }
	tests := []struct {
		name    string
		policy  string
		entries []Entry
		want    string
	}{
		{"bad policy name", "prod/x", []Entry{good}, "policy name"},
		{"empty policy name", "", []Entry{good}, "policy name"},
		{"other policy", "prod", []Entry{mod(func(e *Entry) { e.Policy = "staging" })}, `policy "staging"`},
		{"no instance", "prod", []Entry{mod(func(e *Entry) { e.InstanceID = "" })}, "instanceId is empty"},
		{"no region", "prod", []Entry{mod(func(e *Entry) { e.Region = "" })}, "region is empty"},
		{"no image", "prod", []Entry{mod(func(e *Entry) { e.ImageID = "" })}, "imageId is empty"},
		{"no creation time", "prod", []Entry{mod(func(e *Entry) { e.CreationTime = time.Time{} })}, "creationTime is zero"},
		{"slash in an id", "prod", []Entry{mod(func(e *Entry) { e.InstanceID = "i-1/../x" })}, "ids must be"},
		{"data before 1970", "prod", []Entry{mod(func(e *Entry) { e.DataTime = time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC) })}, "out of range"},
		{"duplicate", "prod", []Entry{good, mod(func(e *Entry) { e.ImageID = "m-2" })}, "both for i-1"},
	}
	f := newFixture(t)
	w := f.writer(nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := w.Sync(context.Background(), tc.policy, tc.entries, false)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Sync err = %v, want %q", err, tc.want)
			}
			if len(tc.entries) > 1 {
				return // a duplicate is a Sync-only mistake
			}
			if _, err := w.Put(context.Background(), tc.policy, tc.entries[0]); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Put err = %v, want %q", err, tc.want)
			}
		})
	}
	for _, k := range f.svc.Keys(bkt) {
		if strings.Contains(k, "/images/") {
			t.Fatalf("invalid input wrote %s", k)
		}
	}
}

// A corrupt winner is reported and skipped (the next object of its instance and region
// is served); a Put of the same image replaces it.
func TestCorruptObjectIsReported(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := f.writer(nil)
	ctx := context.Background()
	old, cur := ent("i-1", "r1", "m-old", t0), ent("i-1", "r1", "m-cur", t0.Add(time.Hour))
	if err := w.Sync(ctx, "prod", []Entry{old, ent("i-2", "r1", "m-2", t0)}, false); err != nil {
		t.Fatal(err)
	}
	r := refOf(cur)
	badKey := objectKey("prod", KindImage, r)
	if err := f.svc.PutObject(bkt, badKey, []byte(`{"schema":2,"policy":"prod","image":{"instanceId":`)); err != nil {
		t.Fatal(err)
	}
	es, err := Read(ctx, f.store, bkt, "prod")
	var ce *CorruptError
	if !errors.As(err, &ce) || !slices.Equal(ce.Keys, []string{badKey}) || ce.Bucket != bkt {
		t.Fatalf("Read err = %v", err)
	}
	if got := ids(es); !slices.Equal(got, []string{"i-1/r1=m-old", "i-2/r1=m-2"}) {
		t.Fatalf("Read with a corrupt winner = %v", got)
	}
	// An object whose body disagrees with its key is corrupt too.
	moved := ent("i-3", "r1", "m-3", t0)
	b, _ := encodeImage("prod", moved)
	if err := f.svc.PutObject(bkt, objectKey("prod", KindImage, refOf(ent("i-9", "r1", "m-3", t0))), b); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(ctx, f.store, bkt, "prod"); !errors.As(err, &ce) || len(ce.Keys) != 2 {
		t.Fatalf("mismatched key: %v", err)
	}
	if _, err := w.Put(ctx, "prod", cur); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.PutObject(bkt, objectKey("prod", KindImage, refOf(ent("i-9", "r1", "m-3", t0))), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	_ = w.Sync(ctx, "prod", nil, true) // removes i-9 and the leftovers
	if got := ids(mustRead(t, f, "prod")); len(got) != 0 {
		t.Fatalf("after removeMissing: %v", got)
	}
}

// writeLegacy stores a schema-1 generation as the first catalog shape wrote it.
func writeLegacy(t *testing.T, f *fixture, policy string, gen uint64, entries []Entry) {
	t.Helper()
	for i := range entries {
		entries[i].Policy = policy
	}
	b, err := json.Marshal(legacyDocument{Schema: 1, Policy: policy, Generation: gen, WrittenAt: t0, Entries: entries})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.PutObject(bkt, generationKey(policy, gen), b); err != nil {
		t.Fatal(err)
	}
}

func TestMigrationFromGenerations(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var logs testutil.Buffer
	w := f.writer(slog.New(slog.NewTextHandler(&logs, nil)))
	ctx := context.Background()
	writeLegacy(t, f, "prod", 1, []Entry{ent("i-gone", "r1", "m-gone", t0)})
	writeLegacy(t, f, "prod", 2, []Entry{ent("i-a", "r1", "m-a", t0), ent("i-b", "r1", "m-b-old", t0)})
	badKey := generationKey("prod", 3)
	if err := f.svc.PutObject(bkt, badKey, []byte(`{"schema":1,`)); err != nil {
		t.Fatal(err)
	}

	// Before migration, Read serves the newest readable generation (and names the bad one).
	es, err := Read(ctx, f.store, bkt, "prod")
	var ce *CorruptError
	if !errors.As(err, &ce) || !slices.Equal(ce.Keys, []string{badKey}) {
		t.Fatalf("Read err = %v", err)
	}
	if got := ids(es); !slices.Equal(got, []string{"i-a/r1=m-a", "i-b/r1=m-b-old"}) {
		t.Fatalf("Read before migration = %v", got)
	}

	// The first Sync migrates, merging by data age, and reports the corrupt generation.
	err = w.Sync(ctx, "prod", []Entry{ent("i-b", "r1", "m-b-new", t0.Add(time.Hour)), ent("i-c", "r1", "m-c", t0)}, false)
	if !errors.As(err, &ce) || !slices.Equal(ce.Keys, []string{badKey}) {
		t.Fatalf("Sync err = %v, want the corrupt generation as a warning", err)
	}
	if !strings.Contains(logs.String(), badKey) || !strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("corruption not logged:\n%s", logs.String())
	}
	want := []string{"i-a/r1=m-a", "i-b/r1=m-b-new", "i-c/r1=m-c"}
	if got := ids(mustRead(t, f, "prod")); !slices.Equal(got, want) {
		t.Fatalf("after migration = %v, want %v", got, want)
	}
	if objs := f.objects("prod"); len(objs) != 3 {
		t.Fatalf("objects %v", objs)
	}
	mk, ok := f.svc.Object(bkt, markerKey("prod"))
	if !ok || !strings.Contains(string(mk), `"fromGeneration":3`) && !strings.Contains(string(mk), `"fromGeneration":2`) {
		t.Fatalf("marker %q", mk)
	}
	if _, ok := f.svc.Object(bkt, generationKey("prod", 2)); !ok {
		t.Fatal("the schema-1 generations must stay in place")
	}
	// Migrated once: the schema-1 catalog no longer counts (a removal sticks).
	if err := w.Sync(ctx, "prod", []Entry{ent("i-c", "r1", "m-c", t0)}, true); err != nil {
		t.Fatal(err)
	}
	if got := ids(mustRead(t, f, "prod")); !slices.Equal(got, []string{"i-c/r1=m-c"}) {
		t.Fatalf("after removeMissing = %v", got)
	}
}

func TestReadMissingBucket(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, err := Read(context.Background(), f.store, "no-such-bucket", "prod")
	if !errors.Is(err, ossx.ErrNotFound) {
		t.Fatalf("err = %v", err)
	}
	w := NewWriter(f.store, "no-such-bucket", nil)
	if err := w.Sync(context.Background(), "prod", []Entry{ent("i-1", "r", "m", t0)}, false); !errors.Is(err, ossx.ErrNotFound) {
		t.Fatalf("sync err = %v", err)
	}
	if _, err := w.Put(context.Background(), "prod", ent("i-1", "r", "m", t0)); !errors.Is(err, ossx.ErrNotFound) {
		t.Fatalf("put err = %v", err)
	}
}
