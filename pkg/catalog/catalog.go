package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
)

// Storage layout and concurrency guarantee
//
// The catalog of a policy is a chain of immutable generation objects in the catalog
// bucket:
//
//	catalog/<policy>/gen-<20-digit generation>.json      {"schema":1,"policy":…,"generation":N,"entries":[…]}
//	catalog/<policy>/quarantine/gen-<generation>.json    copies of generations that failed to parse
//
// The current catalog is the highest generation. A writer lists the generations, reads
// the highest one, merges its entries into it, and creates generation N+1 with
// x-oss-forbid-overwrite: true. OSS has no conditional PUT (no If-Match on PutObject), so
// create-only is the one atomic compare-and-set it offers: of two writers that read the
// same generation, exactly one creates N+1; the other gets FileAlreadyExists, re-reads
// and re-merges. After its create the writer lists again and counts its write as done
// only if N+1 is still the highest generation; otherwise (a stale writer recreated a
// number that garbage collection had removed) it merges again. Old generations beyond
// Keep are deleted after a successful write; the highest generation ever written is never
// deleted, so a number can only be recreated below it, where the re-check catches it.
//
// Guarantee: an entry passed to a Sync that returned nil (or a *CorruptError) stays in the
// catalog until a strictly newer image for the same instance and region replaces it, or a
// Sync with removeMissing drops that instance/region. Concurrent writers lose nothing;
// merging is idempotent, so repeating a Sync is always safe. This relies on OSS's strong
// read-after-write and list consistency, and on the bucket not having versioning enabled
// (x-oss-forbid-overwrite is ignored on versioned buckets).
//
// removeMissing is only as fresh as the caller's view: an instance/region that another
// writer adds between the caller computing entries and its Sync is removed, and comes back
// with that writer's next Sync (copy and reconcile runs re-sync what they see).

const (
	schemaVersion = 1
	// DefaultKeep is how many generations survive garbage collection.
	DefaultKeep = 5
	// DefaultMaxAttempts bounds a Sync's conflict loop.
	DefaultMaxAttempts = 10
)

// ErrConflict: a Sync or Read lost its race more than MaxAttempts times in a row.
var ErrConflict = errors.New("catalog: too many concurrent writers")

// CorruptError reports catalog objects that do not parse. From Sync it is a warning: the
// catalog was rebuilt (entries given ∪ the newest generation that parses) and written
// as a new generation, and the bad objects were copied under quarantine/. From Read it
// comes with the entries of the newest generation that parses.
type CorruptError struct {
	Bucket string
	Keys   []string // newest first
	Err    error    // why the newest one failed
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("catalog: corrupt object %s in bucket %s: %v", strings.Join(e.Keys, ", "), e.Bucket, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// corruptError names the corrupt generations (newest first) of a bucket.
func corruptError(bucket string, bad []corruptObject) *CorruptError {
	ce := &CorruptError{Bucket: bucket, Err: bad[0].err}
	for _, c := range bad {
		ce.Keys = append(ce.Keys, c.key)
	}
	return ce
}

// document is the JSON of one generation.
type document struct {
	Schema     int       `json:"schema"`
	Policy     string    `json:"policy"`
	Generation uint64    `json:"generation"`
	WrittenAt  time.Time `json:"writtenAt"`
	Entries    []Entry   `json:"entries"`
}

var policyNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{2,64}$`)

func validatePolicy(policy string) error {
	if !policyNameRE.MatchString(policy) {
		return fmt.Errorf("catalog: policy name %q: want 2-64 letters, digits, '-' or '_'", policy)
	}
	return nil
}

func generationsPrefix(policy string) string { return "catalog/" + policy + "/gen-" }

func generationKey(policy string, gen uint64) string {
	return fmt.Sprintf("%s%020d.json", generationsPrefix(policy), gen)
}

func quarantineKey(policy string, gen uint64) string {
	return fmt.Sprintf("catalog/%s/quarantine/gen-%020d.json", policy, gen)
}

// Writer keeps the catalogs in one bucket up to date.
type Writer struct {
	store  ossx.Store
	bucket string
	log    *slog.Logger

	// Now stamps each generation's writtenAt (default time.Now).
	Now func() time.Time
	// Keep is how many generations survive garbage collection (default DefaultKeep, min 2).
	Keep int
	// MaxAttempts bounds the conflict loop (default DefaultMaxAttempts).
	MaxAttempts int
}

// NewWriter returns a Writer for the catalog bucket.
func NewWriter(s ossx.Store, bucket string, log *slog.Logger) *Writer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Writer{store: s, bucket: bucket, log: log, Now: time.Now, Keep: DefaultKeep, MaxAttempts: DefaultMaxAttempts}
}

// Sync makes the catalog of policy reflect entries (computed from tags by the caller: the
// newest Available image per instance and region). An entry replaces the stored one for
// its instance and region only if its image is newer (CreationTime; on a tie the smaller
// ImageID; the same image refreshes the stored fields but keeps the earliest RPO
// observation, see resolve). An
// instance/region absent from entries is removed only if removeMissing is true (after
// cleanup). Invalid entries are refused before anything is written. A stored generation
// that fails to parse is logged, quarantined and reported as a *CorruptError (a warning:
// the catalog was rebuilt from entries merged with the newest generation that parses);
// it is never silently replaced by less. See the package's storage notes for the
// concurrency guarantee.
func (w *Writer) Sync(ctx context.Context, policy string, entries []Entry, removeMissing bool) error {
	if err := validatePolicy(policy); err != nil {
		return err
	}
	incoming, err := normalize(policy, entries)
	if err != nil {
		return err
	}
	var warn *CorruptError
	quarantined := map[uint64]bool{}
	attempts := max(w.MaxAttempts, 1)
	for attempt := 1; attempt <= attempts; attempt++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("catalog: sync %s: %w", policy, err)
		}
		st, err := load(ctx, w.store, w.bucket, policy)
		if errors.Is(err, errVanished) {
			continue
		}
		if err != nil {
			return fmt.Errorf("catalog: sync %s: %w", policy, err)
		}
		if len(st.corrupt) > 0 {
			warn = w.quarantine(ctx, policy, st.corrupt, quarantined)
		}
		merged, changed := merge(st.entries, incoming, removeMissing)
		if !changed && len(st.corrupt) == 0 {
			return warnOrNil(warn)
		}
		next := st.latest + 1
		doc := document{Schema: schemaVersion, Policy: policy, Generation: next, WrittenAt: w.now(), Entries: merged}
		data, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return fmt.Errorf("catalog: sync %s: encode: %w", policy, err)
		}
		key := generationKey(policy, next)
		_, err = w.store.Put(ctx, w.bucket, key, data, ossx.PutOptions{ContentType: "application/json", ForbidOverwrite: true})
		if errors.Is(err, ossx.ErrAlreadyExists) {
			w.log.Debug("catalog generation taken by a concurrent writer, merging again", "bucket", w.bucket, "key", key, "attempt", attempt)
			continue
		}
		if err != nil {
			return fmt.Errorf("catalog: sync %s: %w", policy, err)
		}
		gens, err := listGenerations(ctx, w.store, w.bucket, policy)
		if err != nil {
			return fmt.Errorf("catalog: sync %s: confirm generation %d: %w", policy, next, err)
		}
		if len(gens) == 0 || gens[len(gens)-1] != next {
			w.log.Debug("catalog generation superseded before confirmation, merging again", "bucket", w.bucket, "key", key)
			continue
		}
		w.log.Info("catalog written", "bucket", w.bucket, "key", key, "policy", policy, "entries", len(merged), "attempt", attempt)
		w.collect(ctx, policy, gens, next)
		return warnOrNil(warn)
	}
	return fmt.Errorf("catalog: sync %s: %w (%d attempts)", policy, ErrConflict, attempts)
}

func warnOrNil(w *CorruptError) error {
	if w == nil {
		return nil
	}
	return w
}

func (w *Writer) now() time.Time {
	if w.Now == nil {
		return time.Now().UTC()
	}
	return w.Now().UTC()
}

// quarantine logs each corrupt generation and copies it aside (create-only, so the first
// copy is kept) before a newer generation supersedes it and garbage collection removes it.
func (w *Writer) quarantine(ctx context.Context, policy string, bad []corruptObject, done map[uint64]bool) *CorruptError {
	for _, c := range bad {
		if done[c.gen] {
			continue
		}
		done[c.gen] = true
		qkey := quarantineKey(policy, c.gen)
		w.log.Error("catalog object is corrupt; rebuilding from the entries given and the newest readable generation",
			"bucket", w.bucket, "key", c.key, "error", c.err.Error(), "quarantine_key", qkey)
		if _, err := w.store.Put(ctx, w.bucket, qkey, c.data, ossx.PutOptions{ContentType: "application/octet-stream", ForbidOverwrite: true}); err != nil && !errors.Is(err, ossx.ErrAlreadyExists) {
			w.log.Warn("catalog quarantine copy failed", "bucket", w.bucket, "key", qkey, "error", err.Error())
		}
	}
	return corruptError(w.bucket, bad)
}

// collect deletes generations more than Keep behind newest. Failures only leave extra
// objects behind, so they are logged, not returned.
func (w *Writer) collect(ctx context.Context, policy string, gens []uint64, newest uint64) {
	keep := uint64(max(w.Keep, 2))
	if newest <= keep {
		return
	}
	for _, g := range gens {
		if g > newest-keep {
			break
		}
		key := generationKey(policy, g)
		if err := w.store.Delete(ctx, w.bucket, key); err != nil {
			w.log.Warn("catalog garbage collection failed", "bucket", w.bucket, "key", key, "error", err.Error())
		}
	}
}

// Read returns the catalog of policy: the entries of its newest generation, sorted by
// instance and region (empty if the catalog was never written). If newer generations
// fail to parse, it returns the entries of the newest one that does together with a
// *CorruptError naming the bad objects; a missing bucket is an error matching
// ossx.ErrNotFound.
func Read(ctx context.Context, s ossx.Store, bucket, policy string) ([]Entry, error) {
	if err := validatePolicy(policy); err != nil {
		return nil, err
	}
	for range DefaultMaxAttempts {
		st, err := load(ctx, s, bucket, policy)
		if errors.Is(err, errVanished) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("catalog: read %s: %w", policy, err)
		}
		if len(st.corrupt) > 0 {
			return st.entries, corruptError(bucket, st.corrupt)
		}
		return st.entries, nil
	}
	return nil, fmt.Errorf("catalog: read %s: %w (generations kept disappearing)", policy, ErrConflict)
}

// errVanished: a listed generation was deleted before it could be read (garbage
// collection by a concurrent writer); list again.
var errVanished = errors.New("catalog generation vanished")

type corruptObject struct {
	gen  uint64
	key  string
	data []byte
	err  error
}

type state struct {
	latest  uint64 // highest generation number present (0: none)
	entries []Entry
	corrupt []corruptObject // generations above the one entries came from, newest first
}

func load(ctx context.Context, s ossx.Store, bucket, policy string) (state, error) {
	gens, err := listGenerations(ctx, s, bucket, policy)
	if err != nil {
		return state{}, err
	}
	var st state
	if len(gens) == 0 {
		return st, nil
	}
	st.latest = gens[len(gens)-1]
	for i := len(gens) - 1; i >= 0; i-- {
		key := generationKey(policy, gens[i])
		data, _, err := s.Get(ctx, bucket, key)
		if errors.Is(err, ossx.ErrNotFound) {
			return state{}, errVanished
		}
		if err != nil {
			return state{}, err
		}
		doc, perr := parse(data, policy, gens[i])
		if perr != nil {
			st.corrupt = append(st.corrupt, corruptObject{gen: gens[i], key: key, data: data, err: perr})
			continue
		}
		st.entries = doc.Entries
		return st, nil
	}
	return st, nil
}

func listGenerations(ctx context.Context, s ossx.Store, bucket, policy string) ([]uint64, error) {
	prefix := generationsPrefix(policy)
	objs, err := s.List(ctx, bucket, prefix)
	if err != nil {
		return nil, err
	}
	var gens []uint64
	for _, o := range objs {
		num, ok := strings.CutSuffix(strings.TrimPrefix(o.Key, prefix), ".json")
		if !ok || len(num) != 20 {
			continue // not ours: ignore rather than guess
		}
		g, err := strconv.ParseUint(num, 10, 64)
		if err != nil || g == 0 {
			continue
		}
		gens = append(gens, g)
	}
	sort.Slice(gens, func(i, j int) bool { return gens[i] < gens[j] })
	return gens, nil
}

func parse(data []byte, policy string, gen uint64) (*document, error) {
	var doc document
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("decode json: %w", err)
	}
	switch {
	case doc.Schema != schemaVersion:
		return nil, fmt.Errorf("schema %d, want %d", doc.Schema, schemaVersion)
	case doc.Policy != policy:
		return nil, fmt.Errorf("policy %q, want %q", doc.Policy, policy)
	case doc.Generation != gen:
		return nil, fmt.Errorf("generation %d in a gen-%d object", doc.Generation, gen)
	}
	entries, err := normalize(policy, doc.Entries)
	if err != nil {
		return nil, err
	}
	doc.Entries = entries
	return &doc, nil
}

type entryKey struct{ instance, region string }

func keyOf(e Entry) entryKey { return entryKey{e.InstanceID, e.Region} }

// normalize checks entries and returns copies with the policy filled in and times in UTC
// (so equality does not depend on time zones). It refuses entries of another policy,
// without identity or creation time, and duplicates for one instance and region.
func normalize(policy string, entries []Entry) ([]Entry, error) {
	out := make([]Entry, 0, len(entries))
	seen := map[entryKey]int{}
	for i, e := range entries {
		switch {
		case e.Policy != "" && e.Policy != policy:
			return nil, fmt.Errorf("catalog: entry %d: policy %q, want %q", i, e.Policy, policy)
		case e.InstanceID == "":
			return nil, fmt.Errorf("catalog: entry %d: instanceId is empty", i)
		case e.Region == "":
			return nil, fmt.Errorf("catalog: entry %d (%s): region is empty", i, e.InstanceID)
		case e.ImageID == "":
			return nil, fmt.Errorf("catalog: entry %d (%s/%s): imageId is empty", i, e.InstanceID, e.Region)
		case e.CreationTime.IsZero():
			return nil, fmt.Errorf("catalog: entry %d (%s/%s): creationTime is zero", i, e.InstanceID, e.Region)
		}
		if j, dup := seen[keyOf(e)]; dup {
			return nil, fmt.Errorf("catalog: entries %d and %d are both for %s in %s", j, i, e.InstanceID, e.Region)
		}
		seen[keyOf(e)] = i
		e.Policy = policy
		e.CreationTime = e.CreationTime.UTC()
		if !e.UpdatedAt.IsZero() {
			e.UpdatedAt = e.UpdatedAt.UTC()
		}
		e.Tags = maps.Clone(e.Tags)
		out = append(out, e)
	}
	return out, nil
}

// resolve returns what the catalog keeps for one instance and region given the stored
// entry o and an incoming n, and whether that differs from o. The choice of image and of
// RPO observation is commutative and idempotent, so writers converge whatever their
// order (descriptive fields of one image, such as tags, are last-writer-wins):
//   - a newer image (CreationTime) replaces an older one;
//   - on a tie the smaller ImageID wins (the same choice pkg/backup makes from tags);
//   - for the same image, descriptive fields come from n, while RPOSeconds/UpdatedAt keep
//     the earliest observation (smallest positive RPOSeconds): RPO is "as achieved when it
//     became restorable", and callers that recompute it at every run (now − source
//     creation) would otherwise turn it into the image's age and write a generation each
//     time.
func resolve(n, o Entry) (Entry, bool) {
	switch {
	case n.CreationTime.After(o.CreationTime):
		return n, true
	case n.CreationTime.Before(o.CreationTime):
		return o, false
	case n.ImageID != o.ImageID:
		if n.ImageID < o.ImageID {
			return n, true
		}
		return o, false
	}
	r := n
	if earlierObservation(o, n) {
		r.RPOSeconds, r.UpdatedAt = o.RPOSeconds, o.UpdatedAt
	}
	return r, !sameRecord(r, o)
}

// earlierObservation: a's RPO observation is at least as early as b's (0 = unknown).
func earlierObservation(a, b Entry) bool {
	switch {
	case a.RPOSeconds <= 0:
		return false
	case b.RPOSeconds <= 0:
		return true
	}
	if a.RPOSeconds != b.RPOSeconds {
		return a.RPOSeconds < b.RPOSeconds
	}
	return !a.UpdatedAt.After(b.UpdatedAt)
}

func sameRecord(a, b Entry) bool {
	return a.Policy == b.Policy && a.InstanceID == b.InstanceID && a.Region == b.Region &&
		a.ImageID == b.ImageID && a.ImageName == b.ImageName && a.Role == b.Role &&
		a.SourceImageID == b.SourceImageID && a.SourceRegion == b.SourceRegion && a.Slot == b.Slot &&
		a.CreationTime.Equal(b.CreationTime) && a.SizeGiB == b.SizeGiB && maps.Equal(a.Tags, b.Tags) &&
		a.RPOSeconds == b.RPOSeconds && a.UpdatedAt.Equal(b.UpdatedAt)
}

// merge applies incoming to stored and reports whether anything changed. The result is
// sorted by instance and region.
func merge(stored, incoming []Entry, removeMissing bool) ([]Entry, bool) {
	m := make(map[entryKey]Entry, len(stored)+len(incoming))
	for _, e := range stored {
		m[keyOf(e)] = e
	}
	changed := false
	given := make(map[entryKey]bool, len(incoming))
	for _, e := range incoming {
		k := keyOf(e)
		given[k] = true
		o, ok := m[k]
		if !ok {
			m[k] = e
			changed = true
			continue
		}
		if r, diff := resolve(e, o); diff {
			m[k] = r
			changed = true
		}
	}
	if removeMissing {
		for k := range m {
			if !given[k] {
				delete(m, k)
				changed = true
			}
		}
	}
	out := make([]Entry, 0, len(m))
	for _, e := range m {
		out = append(out, e)
	}
	sortEntries(out)
	return out, changed
}

func sortEntries(es []Entry) {
	sort.Slice(es, func(i, j int) bool {
		if es[i].InstanceID != es[j].InstanceID {
			return es[i].InstanceID < es[j].InstanceID
		}
		return es[i].Region < es[j].Region
	})
}
