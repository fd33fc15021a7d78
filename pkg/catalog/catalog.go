package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
)

// Storage layout (schema 2) and concurrency guarantee
//
// One small object per (policy, kind, subject, region) and restorable thing, in the
// catalog bucket of each DR region:
//
//	catalog/<policy>/v2/images/<instance>/<region>/<data time, 20-digit Unix ns>-<image id>.json
//	catalog/<policy>/v2/databases/<db instance>/<region>/<data time>-<backup id>.json  (issue 13)
//	catalog/<policy>/v2/migrated-from-v1.json   marker: the schema-1 generations were migrated
//
// The key carries the order: the data time (when the protected data was captured, the
// source image's creation time carried as lineage on copies) and the id. Of the objects of
// one (subject, region), the one with the newest data time wins (on a tie the smaller id,
// the choice pkg/backup makes from tags). A listing of the keys alone is therefore the
// catalog's index: reconcile and cleanup diff it against what they see in ECS and write
// only what changed; an event writes one object.
//
// OSS has no conditional PUT (no If-Match on PutObject), so correctness under concurrent
// writers comes from immutability, not from compare-and-set: objects are created with
// x-oss-forbid-overwrite (two writers of one image write the same key; the second gets
// FileAlreadyExists, which means done), and a writer deletes only objects that lose to a
// winner it has listed. Whatever the interleaving, the winner is never deleted, and a
// reader picks the winner among what is present, so losers left behind by a killed writer
// are harmless (the next Sync of that subject and region removes them). This relies on
// OSS's strong read-after-write and list consistency and on the bucket not having
// versioning enabled (x-oss-forbid-overwrite is ignored on versioned buckets).
//
// Guarantee: an entry passed to a Put or Sync that returned nil stays in the catalog until
// an entry with newer data for the same instance and region replaces it, or a Sync with
// removeMissing that did not list it drops that instance and region. An entry written
// concurrently with such a Sync survives it (the Sync deletes only objects it listed).

const (
	schemaVersion = 2
	// workers bounds the concurrent OSS requests of a Read or a Sync.
	workers = 16
)

// Kind is a family of catalog objects.
type Kind string

// Object kinds.
const (
	KindImage    Kind = "images"
	KindDatabase Kind = "databases"
)

// CorruptError reports catalog objects that do not parse. Read returns it with the
// entries it could read (for a corrupt winner, the next object of its instance and region,
// if any); Sync returns it as a warning after migrating a schema-1 catalog whose newest
// generations were corrupt.
type CorruptError struct {
	Bucket string
	Keys   []string
	Err    error // why the first one failed
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("catalog: corrupt object %s in bucket %s: %v", strings.Join(e.Keys, ", "), e.Bucket, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

func corruptError(bucket string, bad []corruptObject) *CorruptError {
	slices.SortFunc(bad, func(a, b corruptObject) int { return strings.Compare(a.key, b.key) })
	ce := &CorruptError{Bucket: bucket, Err: bad[0].err}
	for _, c := range bad {
		ce.Keys = append(ce.Keys, c.key)
	}
	return ce
}

// object is the JSON of one schema-2 object; exactly one of the kinds' fields is set.
type object struct {
	Schema   int            `json:"schema"`
	Policy   string         `json:"policy"`
	Image    *Entry         `json:"image,omitempty"`
	Database *DatabaseEntry `json:"database,omitempty"`
}

// marker is the JSON of the migration marker.
type marker struct {
	Schema         int       `json:"schema"`
	Policy         string    `json:"policy"`
	MigratedAt     time.Time `json:"migratedAt"`
	FromGeneration uint64    `json:"fromGeneration"`
	Entries        int       `json:"entries"`
	Corrupt        []string  `json:"corrupt,omitempty"`
}

var (
	policyNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{2,64}$`)
	// segmentRE: ids and regions become key segments, so no '/' and nothing exotic.
	segmentRE = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)
	minTime   = time.Unix(0, 0)
	maxTime   = time.Unix(0, 1<<63-1)
)

func validatePolicy(policy string) error {
	if !policyNameRE.MatchString(policy) {
		return fmt.Errorf("catalog: policy name %q: want 2-64 letters, digits, '-' or '_'", policy)
	}
	return nil
}

func root(policy string) string { return "catalog/" + policy + "/v2/" }

func kindPrefix(policy string, k Kind) string { return root(policy) + string(k) + "/" }

func groupPrefix(policy string, k Kind, g group) string {
	return kindPrefix(policy, k) + g.subject + "/" + g.region + "/"
}

func markerKey(policy string) string { return root(policy) + "migrated-from-v1.json" }

// group is one (subject, region): an instance (or DB instance) in one region.
type group struct{ subject, region string }

// ref names one stored object, as its key says.
type ref struct {
	group
	dataTime time.Time
	id       string
	key      string
}

func objectKey(policy string, k Kind, r ref) string {
	return fmt.Sprintf("%s%020d-%s.json", groupPrefix(policy, k, r.group), r.dataTime.UnixNano(), r.id)
}

// parseKey reads a key under kindPrefix; ok is false for keys that are not ours.
func parseKey(prefix, key string) (ref, bool) {
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return ref{}, false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 {
		return ref{}, false
	}
	file, ok := strings.CutSuffix(parts[2], ".json")
	if !ok || len(file) < 22 || file[20] != '-' {
		return ref{}, false
	}
	ns, err := strconv.ParseInt(file[:20], 10, 64)
	if err != nil || ns < 0 {
		return ref{}, false
	}
	r := ref{group: group{parts[0], parts[1]}, dataTime: time.Unix(0, ns).UTC(), id: file[21:], key: key}
	if !segmentRE.MatchString(r.subject) || !segmentRE.MatchString(r.region) || !segmentRE.MatchString(r.id) {
		return ref{}, false
	}
	return r, true
}

// beats: a wins over b (newer data; on a tie the smaller id).
func (a ref) beats(b ref) bool {
	if !a.dataTime.Equal(b.dataTime) {
		return a.dataTime.After(b.dataTime)
	}
	return a.id < b.id
}

// ranked returns refs best first.
func ranked(refs []ref) []ref {
	out := slices.Clone(refs)
	slices.SortFunc(out, func(a, b ref) int {
		switch {
		case a.beats(b):
			return -1
		case b.beats(a):
			return 1
		}
		return strings.Compare(a.key, b.key)
	})
	return out
}

// listRefs lists every object of one kind, grouped by subject and region, and keeps the
// groups keep accepts (nil: all). Keys that are not ours are ignored. The listing is read
// page by page (ossx.Each): only the kept refs are held, not every object's listing entry.
func listRefs(ctx context.Context, s ossx.Store, bucket, policy string, k Kind, keep func(group) bool) (map[group][]ref, error) {
	prefix := kindPrefix(policy, k)
	out := map[group][]ref{}
	err := ossx.Each(ctx, s, bucket, prefix, func(o ossx.ObjectInfo) error {
		if r, ok := parseKey(prefix, o.Key); ok && (keep == nil || keep(r.group)) {
			out[r.group] = append(out[r.group], r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func listGroup(ctx context.Context, s ossx.Store, bucket, policy string, k Kind, g group) ([]ref, error) {
	prefix := kindPrefix(policy, k)
	objs, err := s.List(ctx, bucket, groupPrefix(policy, k, g))
	if err != nil {
		return nil, err
	}
	var out []ref
	for _, o := range objs {
		if r, ok := parseKey(prefix, o.Key); ok && r.group == g {
			out = append(out, r)
		}
	}
	return out, nil
}

// Writer keeps the catalogs in one bucket up to date.
type Writer struct {
	store  ossx.Store
	bucket string
	log    *slog.Logger

	// Now stamps the migration marker (default time.Now).
	Now func() time.Time
}

// NewWriter returns a Writer for the catalog bucket.
func NewWriter(s ossx.Store, bucket string, log *slog.Logger) *Writer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Writer{store: s, bucket: bucket, log: log, Now: time.Now}
}

func (w *Writer) now() time.Time {
	if w.Now == nil {
		return time.Now().UTC()
	}
	return w.Now().UTC()
}

// Put records one entry: the event path's one small write, whatever the fleet's size
// (one LIST of the entry's instance and region, one PUT, and a DELETE of what it
// supersedes). Nothing is written if the catalog already holds newer data for that
// instance and region; for the same image, the stored object is refreshed (descriptive
// fields from e, the earliest RPO observation kept, see resolve). It reports whether it
// wrote.
func (w *Writer) Put(ctx context.Context, policy string, e Entry) (bool, error) {
	if err := validatePolicy(policy); err != nil {
		return false, err
	}
	es, err := normalize(policy, []Entry{e})
	if err != nil {
		return false, err
	}
	e = es[0]
	r := refOf(e)
	r.key = objectKey(policy, KindImage, r)
	body, err := encodeImage(policy, e)
	if err != nil {
		return false, err
	}
	wrote, err := putNewest(ctx, w.store, w.bucket, policy, KindImage, r, body, func(old []byte) ([]byte, bool, error) {
		o, perr := parseImage(old, policy, r)
		if perr != nil {
			return body, true, nil // a corrupt object of the same image: replace it
		}
		m, changed := resolve(e, *o)
		if !changed {
			return nil, false, nil
		}
		b, err := encodeImage(policy, m)
		return b, true, err
	})
	if err != nil {
		return false, fmt.Errorf("catalog: put %s %s/%s: %w", policy, e.InstanceID, e.Region, err)
	}
	if wrote {
		w.log.Info("catalog entry written", "bucket", w.bucket, "key", r.key, "policy", policy)
	}
	return wrote, nil
}

// putNewest writes body as r unless an object with newer data exists for r's group, then
// deletes what r supersedes. If the same object exists, same decides whether (and what)
// to overwrite it with. Exposed to the other kinds through their own typed wrappers.
func putNewest(ctx context.Context, s ossx.Store, bucket, policy string, k Kind, r ref, body []byte,
	same func(old []byte) ([]byte, bool, error)) (bool, error) {
	refs, err := listGroup(ctx, s, bucket, policy, k, r.group)
	if err != nil {
		return false, err
	}
	for _, o := range refs {
		if o.key == r.key {
			if same == nil {
				return false, nil
			}
			old, _, err := s.Get(ctx, bucket, o.key)
			if err != nil && !errors.Is(err, ossx.ErrNotFound) {
				return false, err
			}
			if err == nil {
				nb, changed, err := same(old)
				if err != nil || !changed {
					return false, err
				}
				if _, err := s.Put(ctx, bucket, r.key, nb, ossx.PutOptions{ContentType: "application/json"}); err != nil {
					return false, err
				}
				return true, nil
			}
			break // deleted since the listing (superseded): the checks below decide
		}
		if o.beats(r) {
			return false, nil
		}
	}
	_, err = s.Put(ctx, bucket, r.key, body, ossx.PutOptions{ContentType: "application/json", ForbidOverwrite: true})
	if errors.Is(err, ossx.ErrAlreadyExists) {
		return false, nil // a concurrent writer of the same object
	}
	if err != nil {
		return false, err
	}
	// List again: whoever lists last sees every earlier write, so of any set of writers
	// at least one deletes each loser, and the winner is never deleted.
	refs, err = listGroup(ctx, s, bucket, policy, k, r.group)
	if err != nil {
		return true, nil // written; the losers are harmless until the next write
	}
	deleteLosers(ctx, s, bucket, refs)
	return true, nil
}

// deleteLosers deletes every ref of one group but the best. Failures leave harmless
// extra objects, so they are not returned.
func deleteLosers(ctx context.Context, s ossx.Store, bucket string, refs []ref) []string {
	var deleted []string
	for _, o := range ranked(refs)[min(1, len(refs)):] {
		if err := s.Delete(ctx, bucket, o.key); err == nil {
			deleted = append(deleted, o.key)
		}
	}
	return deleted
}

func refOf(e Entry) ref {
	return ref{group: group{e.InstanceID, e.Region}, dataTime: e.dataTime(), id: e.ImageID}
}

func encodeImage(policy string, e Entry) ([]byte, error) {
	b, err := json.Marshal(object{Schema: schemaVersion, Policy: policy, Image: &e})
	if err != nil {
		return nil, fmt.Errorf("catalog: encode %s/%s: %w", e.InstanceID, e.Region, err)
	}
	return b, nil
}

// parseImage decodes an image object and checks it against its key.
func parseImage(data []byte, policy string, r ref) (*Entry, error) {
	var o object
	if err := json.Unmarshal(data, &o); err != nil {
		return nil, fmt.Errorf("decode json: %w", err)
	}
	switch {
	case o.Schema != schemaVersion:
		return nil, fmt.Errorf("schema %d, want %d", o.Schema, schemaVersion)
	case o.Policy != policy:
		return nil, fmt.Errorf("policy %q, want %q", o.Policy, policy)
	case o.Image == nil:
		return nil, errors.New("no image entry")
	}
	es, err := normalize(policy, []Entry{*o.Image})
	if err != nil {
		return nil, err
	}
	e := es[0]
	if got := refOf(e); got.group != r.group || got.id != r.id || !got.dataTime.Equal(r.dataTime) {
		return nil, fmt.Errorf("entry %s/%s=%s (data %s) does not match its key", e.InstanceID, e.Region, e.ImageID, e.dataTime().Format(time.RFC3339Nano))
	}
	return &e, nil
}

// Sync makes the catalog of policy reflect entries (computed from tags by the caller: the
// newest Available image per instance and region). It lists the catalog's keys once and
// writes only what changed: an entry is written when the catalog has nothing as new for
// its instance and region (by data age: DataTime, else CreationTime; on a tie the smaller
// ImageID); an entry for the image already stored writes nothing (the first observation,
// and its RPO, is kept). Superseded objects of the instances/regions it speaks for (those
// given, and with removeMissing every one) are deleted. An instance/region absent from
// entries is removed only if removeMissing is true (after cleanup). Invalid entries are
// refused before anything is written.
//
// The first Sync of a policy migrates its schema-1 catalog, if any: the newest readable
// generation's entries are merged into entries (without removeMissing) and the marker
// catalog/<policy>/v2/migrated-from-v1.json is written once they are; the generations
// are left in place. A corrupt generation is reported as a *CorruptError (a warning).
func (w *Writer) Sync(ctx context.Context, policy string, entries []Entry, removeMissing bool) error {
	var scope Scope
	if removeMissing {
		scope = Everything
	}
	return w.SyncScope(ctx, policy, entries, scope)
}

// Scope says which instances (catalog subjects) a sync speaks for: their entries not
// given are removed. nil speaks for none (upsert only).
type Scope func(instanceID string) bool

// Everything is the scope of a run over the whole fleet.
func Everything(string) bool { return true }

// SyncScope is Sync for a run over part of the fleet (one shard of instances): entries of
// instances in scope that are not given are removed; those of other instances are left
// alone, so the shards of a fleet can rebuild their parts of one catalog independently.
func (w *Writer) SyncScope(ctx context.Context, policy string, entries []Entry, scope Scope) error {
	removeMissing := scope != nil
	if err := validatePolicy(policy); err != nil {
		return err
	}
	incoming, err := normalize(policy, entries)
	if err != nil {
		return err
	}
	mig, err := w.pendingMigration(ctx, policy)
	if err != nil {
		return fmt.Errorf("catalog: sync %s: %w", policy, err)
	}
	if mig != nil {
		// Legacy entries this sync does not speak for are carried over; with a full scope
		// the given entries are the whole truth.
		var carry []Entry
		for _, e := range mig.entries {
			if !removeMissing || !scope(e.InstanceID) {
				carry = append(carry, e)
			}
		}
		incoming = mergeLegacy(incoming, carry)
	}
	given := make(map[group]bool, len(incoming))
	for _, e := range incoming {
		given[refOf(e).group] = true
	}
	// Only the groups this sync speaks for are held: those given and those in scope (a
	// shard's sync reads the whole listing but keeps an eighth of it). The superseded
	// objects of other groups are their own shard's, or the next Put's, to delete.
	groups, err := listRefs(ctx, w.store, w.bucket, policy, KindImage, func(g group) bool {
		return given[g] || (removeMissing && scope(g.subject))
	})
	if err != nil {
		return fmt.Errorf("catalog: sync %s: %w", policy, err)
	}
	var writes []Entry
	for _, e := range incoming {
		r := refOf(e)
		if cur := ranked(groups[r.group]); len(cur) > 0 && (cur[0].id == r.id || cur[0].beats(r)) {
			continue
		}
		writes = append(writes, e)
	}
	var mu sync.Mutex
	var errs []error
	written := 0
	parallel(ctx, len(writes), func(i int) {
		e := writes[i]
		r := refOf(e)
		r.key = objectKey(policy, KindImage, r)
		body, err := encodeImage(policy, e)
		if err == nil {
			_, err = w.store.Put(ctx, w.bucket, r.key, body, ossx.PutOptions{ContentType: "application/json", ForbidOverwrite: true})
			if errors.Is(err, ossx.ErrAlreadyExists) {
				err = nil
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, fmt.Errorf("put %s: %w", r.key, err))
			return
		}
		written++
		groups[r.group] = append(groups[r.group], r)
	})
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("catalog: sync %s: %w", policy, err)
	}
	// Superseded objects, and with removeMissing the instances/regions not given.
	var dels []string
	for g, refs := range groups {
		if removeMissing && !given[g] && scope(g.subject) {
			for _, r := range refs {
				dels = append(dels, r.key)
			}
			continue
		}
		for _, r := range ranked(refs)[1:] {
			dels = append(dels, r.key)
		}
	}
	slices.Sort(dels)
	parallel(ctx, len(dels), func(i int) {
		if err := w.store.Delete(ctx, w.bucket, dels[i]); err != nil {
			w.log.Warn("catalog: delete superseded object failed", "bucket", w.bucket, "key", dels[i], "error", err.Error())
		}
	})
	if written > 0 || len(dels) > 0 {
		w.log.Info("catalog synced", "bucket", w.bucket, "policy", policy, "entries", len(incoming), "written", written, "deleted", len(dels))
	}
	if mig != nil {
		return w.finishMigration(ctx, policy, mig)
	}
	return nil
}

// parallel runs fn(0..n-1) with at most workers in flight; it stops starting new work
// once ctx is done.
func parallel(ctx context.Context, n int, fn func(i int)) {
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(i)
		}()
	}
	wg.Wait()
}

// migration is a schema-1 catalog still to be migrated.
type migration struct {
	from    uint64
	entries []Entry
	corrupt []corruptObject
}

// pendingMigration returns the schema-1 catalog to migrate, or nil when the marker exists.
func (w *Writer) pendingMigration(ctx context.Context, policy string) (*migration, error) {
	done, err := migrated(ctx, w.store, w.bucket, policy)
	if err != nil || done {
		return nil, err
	}
	st, err := loadLegacy(ctx, w.store, w.bucket, policy)
	if err != nil {
		return nil, fmt.Errorf("read schema-1 catalog: %w", err)
	}
	return &migration{from: st.latest, entries: st.entries, corrupt: st.corrupt}, nil
}

func (w *Writer) finishMigration(ctx context.Context, policy string, m *migration) error {
	mk := marker{Schema: schemaVersion, Policy: policy, MigratedAt: w.now(), FromGeneration: m.from, Entries: len(m.entries)}
	for _, c := range m.corrupt {
		mk.Corrupt = append(mk.Corrupt, c.key)
		w.log.Error("catalog: schema-1 generation is corrupt; migrated the newest readable one",
			"bucket", w.bucket, "key", c.key, "error", c.err.Error())
	}
	data, err := json.Marshal(mk)
	if err != nil {
		return fmt.Errorf("catalog: encode marker: %w", err)
	}
	if _, err := w.store.Put(ctx, w.bucket, markerKey(policy), data, ossx.PutOptions{ContentType: "application/json", ForbidOverwrite: true}); err != nil && !errors.Is(err, ossx.ErrAlreadyExists) {
		return fmt.Errorf("catalog: write migration marker: %w", err)
	}
	if m.from > 0 {
		w.log.Info("catalog migrated from schema 1", "bucket", w.bucket, "policy", policy, "generation", m.from, "entries", len(m.entries))
	}
	if len(m.corrupt) > 0 {
		return corruptError(w.bucket, m.corrupt)
	}
	return nil
}

func migrated(ctx context.Context, s ossx.Store, bucket, policy string) (bool, error) {
	_, _, err := s.Get(ctx, bucket, markerKey(policy))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ossx.ErrNotFound):
		// A missing bucket is also NotFound: that is for the caller's next call to say.
		return false, nil
	}
	return false, fmt.Errorf("read migration marker: %w", err)
}

// mergeLegacy adds the schema-1 entries to incoming: for an instance and region in both,
// the newer one (resolve) stays.
func mergeLegacy(incoming, legacy []Entry) []Entry {
	idx := map[group]int{}
	for i, e := range incoming {
		idx[refOf(e).group] = i
	}
	for _, e := range legacy {
		g := refOf(e).group
		if i, ok := idx[g]; ok {
			incoming[i], _ = resolve(incoming[i], e)
			continue
		}
		idx[g] = len(incoming)
		incoming = append(incoming, e)
	}
	return incoming
}

// Read returns the catalog of policy: per instance and region, the entry with the newest
// data, sorted by instance and region (empty if the catalog was never written). It lists
// the keys once and reads the winners in parallel. A schema-1 catalog not yet migrated is
// merged in. Objects that fail to parse are skipped (the next object of their instance
// and region is read instead, if any) and reported as a *CorruptError along with the
// entries; a missing bucket is an error matching ossx.ErrNotFound.
func Read(ctx context.Context, s ossx.Store, bucket, policy string) ([]Entry, error) {
	if err := validatePolicy(policy); err != nil {
		return nil, err
	}
	groups, err := listRefs(ctx, s, bucket, policy, KindImage, nil)
	if err != nil {
		return nil, fmt.Errorf("catalog: read %s: %w", policy, err)
	}
	keys := make([]group, 0, len(groups))
	for g := range groups {
		keys = append(keys, g)
	}
	out := make([]*Entry, len(keys))
	var mu sync.Mutex
	var bad []corruptObject
	var errs []error
	parallel(ctx, len(keys), func(i int) {
		e, corrupt, err := readGroup(ctx, s, bucket, policy, groups[keys[i]])
		mu.Lock()
		defer mu.Unlock()
		out[i], bad = e, append(bad, corrupt...)
		if err != nil {
			errs = append(errs, err)
		}
	})
	if err := cmpErr(ctx, errs); err != nil {
		return nil, fmt.Errorf("catalog: read %s: %w", policy, err)
	}
	var entries []Entry
	for _, e := range out {
		if e != nil {
			entries = append(entries, *e)
		}
	}
	done, err := migrated(ctx, s, bucket, policy)
	if err != nil {
		return nil, fmt.Errorf("catalog: read %s: %w", policy, err)
	}
	if !done {
		st, err := loadLegacy(ctx, s, bucket, policy)
		if err != nil {
			return nil, fmt.Errorf("catalog: read %s: schema-1 catalog: %w", policy, err)
		}
		entries = mergeLegacy(entries, st.entries)
		bad = append(bad, st.corrupt...)
	}
	sortEntries(entries)
	if len(bad) > 0 {
		return entries, corruptError(bucket, bad)
	}
	return entries, nil
}

func cmpErr(ctx context.Context, errs []error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// readGroup reads the best parsable object of one instance and region. An object deleted
// since the listing was superseded: the group is listed again.
func readGroup(ctx context.Context, s ossx.Store, bucket, policy string, refs []ref) (*Entry, []corruptObject, error) {
	var bad []corruptObject
	for range 3 {
		vanished := false
		for _, r := range ranked(refs) {
			data, _, err := s.Get(ctx, bucket, r.key)
			if errors.Is(err, ossx.ErrNotFound) {
				vanished = true
				break
			}
			if err != nil {
				return nil, bad, err
			}
			e, perr := parseImage(data, policy, r)
			if perr != nil {
				bad = append(bad, corruptObject{key: r.key, err: perr})
				continue
			}
			return e, bad, nil
		}
		if !vanished || len(refs) == 0 {
			return nil, bad, nil
		}
		var err error
		if refs, err = listGroup(ctx, s, bucket, policy, KindImage, refs[0].group); err != nil {
			return nil, bad, err
		}
		bad = nil
	}
	return nil, bad, fmt.Errorf("%s/%s: objects kept disappearing", refs[0].subject, refs[0].region)
}

type entryKey struct{ instance, region string }

func keyOf(e Entry) entryKey { return entryKey{e.InstanceID, e.Region} }

// normalize checks entries and returns copies with the policy filled in and times in UTC
// (so equality does not depend on time zones). It refuses entries of another policy,
// without identity or creation time, with ids unfit for a key, and duplicates for one
// instance and region.
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
		case !segmentRE.MatchString(e.InstanceID) || !segmentRE.MatchString(e.Region) || !segmentRE.MatchString(e.ImageID):
			return nil, fmt.Errorf("catalog: entry %d (%q/%q=%q): ids must be 1-128 letters, digits, '.', '_', ':' or '-'", i, e.InstanceID, e.Region, e.ImageID)
		case e.dataTime().Before(minTime) || e.dataTime().After(maxTime):
			return nil, fmt.Errorf("catalog: entry %d (%s/%s): data time %s out of range", i, e.InstanceID, e.Region, e.dataTime())
		}
		if j, dup := seen[keyOf(e)]; dup {
			return nil, fmt.Errorf("catalog: entries %d and %d are both for %s in %s", j, i, e.InstanceID, e.Region)
		}
		seen[keyOf(e)] = i
		e.Policy = policy
		e.CreationTime = e.CreationTime.UTC()
		if !e.DataTime.IsZero() {
			e.DataTime = e.DataTime.UTC()
		}
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
//   - newer data (DataTime, else CreationTime) replaces older;
//   - on a tie the smaller ImageID wins (the same choice pkg/backup makes from tags);
//   - for the same image, descriptive fields come from n, while RPOSeconds/UpdatedAt keep
//     the earliest observation (smallest positive RPOSeconds): RPO is "as achieved when it
//     became restorable", and callers that recompute it at every run (now − source
//     creation) would otherwise turn it into the image's age.
func resolve(n, o Entry) (Entry, bool) {
	switch {
	case n.dataTime().After(o.dataTime()):
		return n, true
	case n.dataTime().Before(o.dataTime()):
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
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func sortEntries(es []Entry) {
	slices.SortFunc(es, func(a, b Entry) int {
		if a.InstanceID != b.InstanceID {
			return strings.Compare(a.InstanceID, b.InstanceID)
		}
		return strings.Compare(a.Region, b.Region)
	})
}
