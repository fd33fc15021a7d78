package catalog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
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

func (f *fixture) generations(policy string) []string {
	var out []string
	for _, k := range f.svc.Keys(bkt) {
		if strings.HasPrefix(k, generationsPrefix(policy)) {
			out = append(out, strings.TrimPrefix(k, "catalog/"+policy+"/"))
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

func TestSyncReadRoundTrip(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := f.writer(nil)
	ctx := context.Background()
	hz := time.FixedZone("CST", 8*3600)
	in := []Entry{
		ent("i-2", "cn-shanghai", "m-2s", t0),
		ent("i-1", "cn-shanghai", "m-1s", t0.In(hz)), // a zone must not matter
		ent("i-1", "cn-hangzhou", "m-1h", t0.Add(-time.Hour)),
	}
	in[2].Role, in[2].Tags = "source", map[string]string{"dr:policy": "prod"}
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
	if !got[1].CreationTime.Equal(t0) {
		t.Errorf("creation time %v", got[1].CreationTime)
	}
	if gens := f.generations("prod"); !slices.Equal(gens, []string{"gen-00000000000000000001.json"}) {
		t.Fatalf("generations %v", gens)
	}

	// Re-syncing what is stored, even with a new UpdatedAt, writes nothing.
	again := slices.Clone(in)
	again[0].UpdatedAt = again[0].UpdatedAt.Add(time.Hour)
	if err := w.Sync(ctx, "prod", again, false); err != nil {
		t.Fatal(err)
	}
	if gens := f.generations("prod"); len(gens) != 1 {
		t.Fatalf("unchanged sync wrote a generation: %v", gens)
	}
	// Other policies are separate catalogs.
	if es := mustRead(t, f, "staging"); len(es) != 0 {
		t.Fatalf("staging = %v", ids(es))
	}
}

func TestNewerWins(t *testing.T) {
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
		// A caller recomputing RPO at every run (now − source creation) must neither
		// inflate the achieved RPO nor write a generation per run.
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
			if err := w.Sync(ctx, "prod", []Entry{tc.incoming}, false); err != nil {
				t.Fatal(err)
			}
			got := mustRead(t, f, "prod")
			if len(got) != 2 || got[0].ImageID != tc.wantImage || got[0].SizeGiB != tc.wantSize ||
				got[0].RPOSeconds != tc.wantRPO || got[1].ImageID != "m-other" {
				t.Fatalf("Read = %+v", got)
			}
			if wrote := len(f.generations("prod")) == 2; wrote != tc.wantWrite {
				t.Fatalf("new generation written = %v, want %v", wrote, tc.wantWrite)
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
			ab, _ := merge([]Entry{a}, []Entry{b}, false)
			ba, _ := merge([]Entry{b}, []Entry{a}, false)
			if !sameRecord(ab[0], ba[0]) {
				t.Errorf("variants %d,%d: %+v vs %+v", i, j, ab[0], ba[0])
			}
		}
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
		{"duplicate", "prod", []Entry{good, mod(func(e *Entry) { e.ImageID = "m-2" })}, "both for i-1"},
	}
	f := newFixture(t)
	w := f.writer(nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := w.Sync(context.Background(), tc.policy, tc.entries, false)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if keys := f.svc.Keys(bkt); len(keys) != 0 {
		t.Fatalf("invalid syncs wrote %v", keys)
	}
}

func TestCorruptObjectIsReportedAndRebuilt(t *testing.T) {
	t.Parallel()
	garbage := []byte(`{"schema":1,"policy":"prod","generation":2,"entries":[{"instanceId":`)
	tests := []struct {
		name     string
		seedGood bool // a readable generation 1 exists below the corrupt generation 2
		want     []string
	}{
		{"older readable generation is merged", true, []string{"i-a/cn-shanghai=m-a", "i-b/cn-shanghai=m-b", "i-c/cn-shanghai=m-c"}},
		{"only the corrupt generation", false, []string{"i-c/cn-shanghai=m-c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			var logs testutil.Buffer
			w := f.writer(slog.New(slog.NewTextHandler(&logs, nil)))
			ctx := context.Background()
			if tc.seedGood {
				if err := w.Sync(ctx, "prod", []Entry{ent("i-a", "cn-shanghai", "m-a", t0), ent("i-b", "cn-shanghai", "m-b", t0)}, false); err != nil {
					t.Fatal(err)
				}
			}
			badKey := generationKey("prod", 2)
			if err := f.svc.PutObject(bkt, badKey, garbage); err != nil {
				t.Fatal(err)
			}

			// Read reports the corruption and still serves the newest readable generation.
			es, err := Read(ctx, f.store, bkt, "prod")
			var ce *CorruptError
			if !errors.As(err, &ce) || !slices.Equal(ce.Keys, []string{badKey}) {
				t.Fatalf("Read err = %v", err)
			}
			if tc.seedGood && len(es) != 2 {
				t.Fatalf("Read with a corrupt head = %v", ids(es))
			}

			err = w.Sync(ctx, "prod", []Entry{ent("i-c", "cn-shanghai", "m-c", t0)}, false)
			if !errors.As(err, &ce) || !slices.Equal(ce.Keys, []string{badKey}) || ce.Bucket != bkt {
				t.Fatalf("Sync err = %v, want *CorruptError naming %s", err, badKey)
			}
			if !strings.Contains(logs.String(), badKey) || !strings.Contains(logs.String(), "level=ERROR") {
				t.Fatalf("corruption not logged with its key:\n%s", logs.String())
			}
			if got := ids(mustRead(t, f, "prod")); !slices.Equal(got, tc.want) {
				t.Fatalf("rebuilt catalog = %v, want %v", got, tc.want)
			}
			if q, ok := f.svc.Object(bkt, quarantineKey("prod", 2)); !ok || !bytes.Equal(q, garbage) {
				t.Fatalf("quarantine copy = %q, %v", q, ok)
			}
			// Once repaired, syncing is quiet again.
			if err := w.Sync(ctx, "prod", []Entry{ent("i-d", "cn-shanghai", "m-d", t0)}, false); err != nil {
				t.Fatalf("sync after repair: %v", err)
			}
		})
	}
}

// hookStore runs a hook before the first generation write that passes through it, to
// force a precise interleaving with another writer.
type hookStore struct {
	ossx.Store
	mu        sync.Mutex
	beforePut func()
	puts      int
	failPuts  bool
}

func (h *hookStore) Put(ctx context.Context, bucket, key string, data []byte, o ossx.PutOptions) (string, error) {
	if !strings.Contains(key, "/gen-") {
		return h.Store.Put(ctx, bucket, key, data, o)
	}
	h.mu.Lock()
	h.puts++
	hook := h.beforePut
	h.beforePut = nil
	fail := h.failPuts
	h.mu.Unlock()
	if hook != nil {
		hook()
	}
	if fail {
		return "", fmt.Errorf("put %s: %w", key, ossx.ErrAlreadyExists)
	}
	return h.Store.Put(ctx, bucket, key, data, o)
}

func TestLosingWriterMergesAgain(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	b := f.writer(nil)
	if err := b.Sync(ctx, "prod", []Entry{ent("i-0", "cn-shanghai", "m-0", t0)}, false); err != nil {
		t.Fatal(err)
	}
	hs := &hookStore{Store: f.store}
	a := NewWriter(hs, bkt, nil)
	// A has read generation 1; B now writes generation 2 before A's create of 2.
	hs.beforePut = func() {
		if err := b.Sync(ctx, "prod", []Entry{ent("i-b", "cn-shanghai", "m-b", t0)}, false); err != nil {
			t.Errorf("B: %v", err)
		}
	}
	if err := a.Sync(ctx, "prod", []Entry{ent("i-a", "cn-shanghai", "m-a", t0)}, false); err != nil {
		t.Fatal(err)
	}
	if hs.puts != 2 {
		t.Errorf("A put %d generations, want 2 (refused, then merged)", hs.puts)
	}
	want := []string{"i-0/cn-shanghai=m-0", "i-a/cn-shanghai=m-a", "i-b/cn-shanghai=m-b"}
	if got := ids(mustRead(t, f, "prod")); !slices.Equal(got, want) {
		t.Fatalf("catalog = %v, want %v", got, want)
	}
}

// A writer stalled long enough for garbage collection to remove the generation number it
// is about to create succeeds in recreating it below the head; the confirmation re-list
// must notice and merge again, or its entry would be lost.
func TestStaleWriterBelowGarbageCollectedHead(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	b := f.writer(nil)
	b.Keep = 2
	if err := b.Sync(ctx, "prod", []Entry{ent("i-0", "cn-shanghai", "m-0", t0)}, false); err != nil {
		t.Fatal(err)
	}
	hs := &hookStore{Store: f.store}
	a := NewWriter(hs, bkt, nil)
	hs.beforePut = func() {
		for i := range 4 { // generations 2..5; collection removes 1..3
			if err := b.Sync(ctx, "prod", []Entry{ent(fmt.Sprintf("i-b%d", i), "cn-shanghai", "m-b", t0)}, false); err != nil {
				t.Errorf("B: %v", err)
			}
		}
		if _, ok := f.svc.Object(bkt, generationKey("prod", 2)); ok {
			t.Error("setup: generation 2 was not collected")
		}
	}
	if err := a.Sync(ctx, "prod", []Entry{ent("i-a", "cn-shanghai", "m-a", t0)}, false); err != nil {
		t.Fatal(err)
	}
	got := ids(mustRead(t, f, "prod"))
	want := []string{"i-0/cn-shanghai=m-0", "i-a/cn-shanghai=m-a", "i-b0/cn-shanghai=m-b", "i-b1/cn-shanghai=m-b", "i-b2/cn-shanghai=m-b", "i-b3/cn-shanghai=m-b"}
	if !slices.Equal(got, want) {
		t.Fatalf("catalog = %v, want %v", got, want)
	}
}

func TestConcurrentWritersLoseNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	const rounds = 15
	var wg sync.WaitGroup
	errs := make(chan error, 2*rounds)
	for wi, name := range []string{"a", "b"} {
		w := f.writer(nil)
		w.Keep = 2 // exercise garbage collection under contention
		w.MaxAttempts = 200
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				// Each round adds an instance of this writer's own and races the other
				// writer on a shared instance with a newer image.
				shared := ent("i-shared", "cn-shanghai", fmt.Sprintf("m-shared-%02d", 2*r+wi), t0.Add(time.Duration(2*r+wi)*time.Minute))
				own := ent(fmt.Sprintf("i-%s%02d", name, r), "cn-shanghai", "m-"+name, t0)
				if err := w.Sync(ctx, "prod", []Entry{own, shared}, false); err != nil {
					errs <- fmt.Errorf("writer %s round %d: %w", name, r, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := mustRead(t, f, "prod")
	if len(got) != 2*rounds+1 {
		t.Fatalf("catalog has %d entries, want %d: %v", len(got), 2*rounds+1, ids(got))
	}
	for _, e := range got {
		if e.InstanceID == "i-shared" && e.ImageID != fmt.Sprintf("m-shared-%02d", 2*rounds-1) {
			t.Fatalf("shared instance holds %s, want the newest image", e.ImageID)
		}
	}
	if gens := f.generations("prod"); len(gens) > 4 {
		t.Errorf("garbage collection left %d generations: %v", len(gens), gens)
	}
}

func TestGarbageCollectionKeepsNewest(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := f.writer(nil)
	w.Keep = 3
	for i := range 6 {
		if err := w.Sync(context.Background(), "prod", []Entry{ent("i-1", "cn-shanghai", fmt.Sprintf("m-%d", i), t0.Add(time.Duration(i)*time.Hour))}, false); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"gen-00000000000000000004.json", "gen-00000000000000000005.json", "gen-00000000000000000006.json"}
	if gens := f.generations("prod"); !slices.Equal(gens, want) {
		t.Fatalf("generations %v, want %v", gens, want)
	}
	if got := ids(mustRead(t, f, "prod")); !slices.Equal(got, []string{"i-1/cn-shanghai=m-5"}) {
		t.Fatalf("catalog = %v", got)
	}
}

func TestSyncGivesUpWithErrConflict(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	hs := &hookStore{Store: f.store, failPuts: true}
	w := NewWriter(hs, bkt, nil)
	w.MaxAttempts = 3
	err := w.Sync(context.Background(), "prod", []Entry{ent("i-1", "cn-shanghai", "m-1", t0)}, false)
	if !errors.Is(err, ErrConflict) || hs.puts != 3 {
		t.Fatalf("err = %v after %d puts", err, hs.puts)
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
}
