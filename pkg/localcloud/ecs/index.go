package ecs

import (
	"slices"
	"strings"
)

// Indexes of a region's images, snapshots and instances, so a list call costs
// O(matching items + page size), not O(everything in the region), at fleet scale
// (issue 10: 100,000+ images in a DR region).
//
// Each kind lives in a table: every item in list order (all), a posting set per tag
// key=value, and a few cached views (the items matching one filter, in list order, kept
// exact by every mutation, so page k of a filter is a slice, not a scan and a sort).
// A query picks its candidates from the smallest of: the ids it names, the posting set
// of one of its tag pairs, a cached view, or the whole table. The result, the order and
// the paging are exactly those of a full scan and sort; index_test.go checks that
// against a brute-force model after random mutations.
//
// Every mutation of an indexed field goes through the table (add, remove, update); the
// region's mutex guards the tables like the maps they index.

// listKey orders a list: t descending (newest first), then id ascending. Images and
// snapshots use their creation time; instances use 0 (id order).
type listKey struct {
	t  int64
	id string
}

// sBefore is the order of olist's slice: the reverse of list order, so the newest item,
// the usual insertion, is an append.
func sBefore(a, b listKey) bool {
	if a.t != b.t {
		return a.t < b.t
	}
	return a.id > b.id
}

type entry[T any] struct {
	k listKey
	v *T // nil: removed (a tombstone, compacted before the next read)
}

// olist is a set of items sorted by listKey with lazy removal. An insert that is not
// an append (a back-dated item) into a long list is appended too and the list sorted
// before its next read, so bulk loads in any order cost one sort, not n moves.
type olist[T any] struct {
	e        []entry[T]
	dead     int
	unsorted bool
}

// unsortedFrom is the length from which out-of-order inserts are deferred.
const unsortedFrom = 256

func cmpEntry[T any](a, b entry[T]) int {
	switch {
	case sBefore(a.k, b.k):
		return -1
	case sBefore(b.k, a.k):
		return 1
	}
	return 0
}

// fix sorts deferred inserts in; of equal keys the last inserted wins.
func (l *olist[T]) fix() {
	if !l.unsorted {
		return
	}
	l.unsorted = false
	slices.SortStableFunc(l.e, cmpEntry[T])
	out := l.e[:0]
	for i, e := range l.e {
		if i+1 < len(l.e) && l.e[i+1].k == e.k {
			continue
		}
		out = append(out, e)
	}
	clear(l.e[len(out):])
	l.e = out
	l.dead = 0
	for _, e := range l.e {
		if e.v == nil {
			l.dead++
		}
	}
}

func (l *olist[T]) search(k listKey) (int, bool) {
	l.fix()
	i, j := 0, len(l.e)
	for i < j {
		h := int(uint(i+j) >> 1)
		if sBefore(l.e[h].k, k) {
			i = h + 1
		} else {
			j = h
		}
	}
	return i, i < len(l.e) && l.e[i].k == k
}

func (l *olist[T]) insert(k listKey, v *T) {
	if n := len(l.e); n == 0 || !l.unsorted && sBefore(l.e[n-1].k, k) {
		l.e = append(l.e, entry[T]{k, v})
		return
	}
	if l.unsorted {
		l.e = append(l.e, entry[T]{k, v})
		return
	}
	i, found := l.search(k)
	switch {
	case found:
		if l.e[i].v == nil {
			l.dead--
		}
		l.e[i].v = v
	case len(l.e) >= unsortedFrom:
		l.e = append(l.e, entry[T]{k, v})
		l.unsorted = true
	default:
		l.e = slices.Insert(l.e, i, entry[T]{k, v})
	}
}

func (l *olist[T]) remove(k listKey) {
	i, found := l.search(k)
	if !found || l.e[i].v == nil {
		return
	}
	l.e[i].v = nil
	l.dead++
	if l.dead > 64 && l.dead*2 > len(l.e) {
		l.compact()
	}
}

func (l *olist[T]) contains(k listKey) bool {
	i, found := l.search(k)
	return found && l.e[i].v != nil
}

func (l *olist[T]) live() int {
	l.fix()
	return len(l.e) - l.dead
}

func (l *olist[T]) compact() {
	l.fix()
	if l.dead == 0 {
		return
	}
	l.e = slices.DeleteFunc(l.e, func(e entry[T]) bool { return e.v == nil })
	l.dead = 0
}

// window returns the items [lo, hi) in list order.
func (l *olist[T]) window(lo, hi int) []*T {
	l.compact()
	out := make([]*T, 0, hi-lo)
	for i := lo; i < hi; i++ {
		out = append(out, l.e[len(l.e)-1-i].v)
	}
	return out
}

// each calls f on every item in list order.
func (l *olist[T]) each(f func(*T)) {
	l.fix()
	for i := len(l.e) - 1; i >= 0; i-- {
		if v := l.e[i].v; v != nil {
			f(v)
		}
	}
}

// tagKV is one tag pair, the key of a posting set.
type tagKV struct{ k, v string }

// posting is the set of items carrying one tag pair. Most pairs (a source image id, an
// instance id) are on one item or a few, so a small set is a slice; a big one a map.
type posting[T any] struct {
	few  []*T
	many map[*T]struct{}
}

const postingSmall = 8

func (p *posting[T]) add(v *T) {
	if p.many != nil {
		p.many[v] = struct{}{}
		return
	}
	if slices.Contains(p.few, v) {
		return
	}
	if len(p.few) < postingSmall {
		p.few = append(p.few, v)
		return
	}
	p.many = make(map[*T]struct{}, 2*postingSmall)
	for _, x := range p.few {
		p.many[x] = struct{}{}
	}
	p.many[v] = struct{}{}
	p.few = nil
}

// del removes v and reports whether the set is now empty.
func (p *posting[T]) del(v *T) bool {
	if p.many != nil {
		delete(p.many, v)
		return len(p.many) == 0
	}
	if i := slices.Index(p.few, v); i >= 0 {
		p.few = slices.Delete(p.few, i, i+1)
	}
	return len(p.few) == 0
}

func (p *posting[T]) size() int {
	if p.many != nil {
		return len(p.many)
	}
	return len(p.few)
}

func (p *posting[T]) items() []*T {
	if p.many == nil {
		return slices.Clone(p.few)
	}
	out := make([]*T, 0, len(p.many))
	for v := range p.many {
		out = append(out, v)
	}
	return out
}

// view is the cached result of one filter, kept exact by every mutation of the table.
type view[T any] struct {
	match func(*T) bool
	list  olist[T]
	used  uint64
}

// Cache bounds: views per table, and the candidate count from which a cacheable filter
// gets a view (below it, sorting the candidates of each call is cheap).
const (
	maxViews = 16
	viewMin  = 256
)

// table indexes one kind of item of a region.
type table[T any] struct {
	key     func(*T) listKey
	tags    func(*T) map[string]string
	all     olist[T]
	posting map[tagKV]*posting[T]
	views   map[string]*view[T]
	tick    uint64
}

func newTable[T any](key func(*T) listKey, tags func(*T) map[string]string) *table[T] {
	return &table[T]{key: key, tags: tags, posting: map[tagKV]*posting[T]{}, views: map[string]*view[T]{}}
}

func (t *table[T]) len() int { return t.all.live() }

func (t *table[T]) addPostings(v *T) {
	for k, val := range t.tags(v) {
		p := t.posting[tagKV{k, val}]
		if p == nil {
			p = &posting[T]{}
			t.posting[tagKV{k, val}] = p
		}
		p.add(v)
	}
}

func (t *table[T]) delPostings(v *T) {
	for k, val := range t.tags(v) {
		if p := t.posting[tagKV{k, val}]; p != nil && p.del(v) {
			delete(t.posting, tagKV{k, val})
		}
	}
}

func (t *table[T]) refreshViews(v *T) {
	k := t.key(v)
	for _, vw := range t.views {
		if vw.match(v) {
			vw.list.insert(k, v)
		} else {
			vw.list.remove(k)
		}
	}
}

// add indexes a new item (already in the region's map).
func (t *table[T]) add(v *T) {
	t.all.insert(t.key(v), v)
	t.addPostings(v)
	t.refreshViews(v)
}

// remove unindexes an item (about to leave the region's map).
func (t *table[T]) remove(v *T) {
	k := t.key(v)
	t.all.remove(k)
	t.delPostings(v)
	for _, vw := range t.views {
		vw.list.remove(k)
	}
}

// update runs mutate, which may change any indexed field of v but its key, and keeps
// the indexes exact.
func (t *table[T]) update(v *T, mutate func()) {
	t.delPostings(v)
	mutate()
	t.addPostings(v)
	t.refreshViews(v)
}

// query is one list call against a table.
type query[T any] struct {
	// ids, when non-nil, are the only candidates (lookup resolves one; nil: unknown).
	ids    []string
	lookup func(string) *T
	// eq are tag pairs every result carries (a subset of what match checks): the
	// smallest posting set is the candidate set.
	eq []tagKV
	// match is the whole filter.
	match func(*T) bool
	// cacheKey names the filter for a view; "" when match depends on state outside the
	// item (e.g. image Usage depends on instances), so it must not be cached.
	cacheKey string
}

// run returns the total count of matches and the items [off, off+size) in list order.
func (t *table[T]) run(q query[T], off, size int) (int, []*T) {
	window := func(n int) (int, int) {
		lo := min(off, n)
		return lo, min(lo+size, n)
	}
	sorted := func(cands []*T) (int, []*T) {
		out := cands[:0]
		for _, v := range cands {
			if q.match(v) {
				out = append(out, v)
			}
		}
		slices.SortFunc(out, func(a, b *T) int {
			ka, kb := t.key(a), t.key(b)
			switch {
			case sBefore(kb, ka):
				return -1
			case sBefore(ka, kb):
				return 1
			}
			return 0
		})
		lo, hi := window(len(out))
		return len(out), out[lo:hi]
	}
	if q.ids != nil {
		seen := map[string]bool{}
		var cands []*T
		for _, id := range q.ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			if v := q.lookup(id); v != nil {
				cands = append(cands, v)
			}
		}
		return sorted(cands)
	}
	var best *posting[T]
	for _, kv := range q.eq {
		p := t.posting[kv]
		if p == nil {
			return 0, nil // nothing carries this pair
		}
		if best == nil || p.size() < best.size() {
			best = p
		}
	}
	if q.cacheKey != "" && (best == nil || best.size() >= viewMin) {
		vw := t.views[q.cacheKey]
		if vw == nil {
			vw = t.newView(q, best)
		}
		t.tick++
		vw.used = t.tick
		lo, hi := window(vw.list.live())
		return vw.list.live(), vw.list.window(lo, hi)
	}
	if best != nil {
		return sorted(best.items())
	}
	var out []*T
	t.all.each(func(v *T) {
		if q.match(v) {
			out = append(out, v)
		}
	})
	lo, hi := window(len(out))
	return len(out), out[lo:hi]
}

func (t *table[T]) newView(q query[T], from *posting[T]) *view[T] {
	if len(t.views) >= maxViews {
		var oldest string
		for k, vw := range t.views {
			if oldest == "" || vw.used < t.views[oldest].used {
				oldest = k
			}
		}
		delete(t.views, oldest)
	}
	vw := &view[T]{match: q.match}
	add := func(v *T) {
		if q.match(v) {
			vw.list.e = append(vw.list.e, entry[T]{t.key(v), v})
		}
	}
	if from != nil && from.size() < t.all.live()/4 {
		for _, v := range from.items() {
			add(v)
		}
		slices.SortFunc(vw.list.e, cmpEntry[T])
	} else {
		t.all.compact()
		for _, e := range t.all.e { // already in slice order
			add(e.v)
		}
	}
	t.views[q.cacheKey] = vw
	return vw
}

// filterKey joins the parts of a filter into a view's cache key.
func filterKey(parts ...string) string { return strings.Join(parts, "\x00") }

// tagFilterKey renders Tag.N filters for filterKey.
func tagFilterKey(f []tagParam) string {
	var b strings.Builder
	for _, t := range f {
		b.WriteString(t.Key)
		if t.HasValue && t.Value != "" {
			b.WriteString("=")
			b.WriteString(t.Value)
		}
		b.WriteString("\x01")
	}
	return b.String()
}

// tagEq returns the pairs of f that need an exact value (key-only filters need none).
func tagEq(f []tagParam) []tagKV {
	var out []tagKV
	for _, t := range f {
		if t.HasValue && t.Value != "" {
			out = append(out, tagKV{t.Key, t.Value})
		}
	}
	return out
}
