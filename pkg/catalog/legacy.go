package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
)

// The first catalog shape (schema 1), read only for migration: a chain of immutable
// generation objects, each holding every entry of the policy,
//
//	catalog/<policy>/gen-<20-digit generation>.json   {"schema":1,"policy":…,"generation":N,"entries":[…]}
//
// the current catalog being the highest generation that parses. Every change rewrote the
// whole catalog (10.9 MB per event at 5,000 instances), which is why it was replaced.
// Writer.Sync migrates it (see migrate) and leaves the generations in place.

const legacySchema = 1

// legacyDocument is the JSON of one generation.
type legacyDocument struct {
	Schema     int       `json:"schema"`
	Policy     string    `json:"policy"`
	Generation uint64    `json:"generation"`
	WrittenAt  time.Time `json:"writtenAt"`
	Entries    []Entry   `json:"entries"`
}

func generationsPrefix(policy string) string { return "catalog/" + policy + "/gen-" }

func generationKey(policy string, gen uint64) string {
	return fmt.Sprintf("%s%020d.json", generationsPrefix(policy), gen)
}

// errVanished: a listed generation was deleted before it could be read; list again.
var errVanished = errors.New("catalog generation vanished")

type corruptObject struct {
	key string
	err error
}

type legacyState struct {
	latest  uint64 // highest generation present (0: none)
	entries []Entry
	corrupt []corruptObject // generations above the one entries came from, newest first
}

// loadLegacy reads the newest schema-1 generation that parses.
func loadLegacy(ctx context.Context, s ossx.Store, bucket, policy string) (legacyState, error) {
	for range 5 {
		st, err := loadLegacyOnce(ctx, s, bucket, policy)
		if errors.Is(err, errVanished) {
			continue
		}
		return st, err
	}
	return legacyState{}, fmt.Errorf("catalog: legacy generations of %s kept disappearing", policy)
}

func loadLegacyOnce(ctx context.Context, s ossx.Store, bucket, policy string) (legacyState, error) {
	gens, err := listGenerations(ctx, s, bucket, policy)
	if err != nil {
		return legacyState{}, err
	}
	var st legacyState
	if len(gens) == 0 {
		return st, nil
	}
	st.latest = gens[len(gens)-1]
	for i := len(gens) - 1; i >= 0; i-- {
		key := generationKey(policy, gens[i])
		data, _, err := s.Get(ctx, bucket, key)
		if errors.Is(err, ossx.ErrNotFound) {
			return legacyState{}, errVanished
		}
		if err != nil {
			return legacyState{}, err
		}
		doc, perr := parseLegacy(data, policy, gens[i])
		if perr != nil {
			st.corrupt = append(st.corrupt, corruptObject{key: key, err: perr})
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

func parseLegacy(data []byte, policy string, gen uint64) (*legacyDocument, error) {
	var doc legacyDocument
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("decode json: %w", err)
	}
	switch {
	case doc.Schema != legacySchema:
		return nil, fmt.Errorf("schema %d, want %d", doc.Schema, legacySchema)
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
