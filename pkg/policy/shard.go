package policy

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// MaxShards bounds a shard count: FC allows 10 triggers per function, and a timer per
// shard is how shards are scheduled (s.yaml); 64 leaves room for other mechanisms.
const MaxShards = 64

// Shard is one stable slice of a policy's instances: instance i belongs to shard
// fnv32a(i) mod Count. The hash depends on the instance id only, so a shard holds the
// same instances in every run, in every region (an instance's source images and all its
// copies land in the same shard), and the Count shards of a count partition the fleet:
// every instance is in exactly one. The zero value (and Count 1) is the whole fleet.
type Shard struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// ParseShard reads "k/N" (0 <= k < N <= MaxShards); "" is the whole fleet.
func ParseShard(s string) (Shard, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Shard{}, nil
	}
	is, ns, ok := strings.Cut(s, "/")
	k, err1 := strconv.Atoi(strings.TrimSpace(is))
	n, err2 := strconv.Atoi(strings.TrimSpace(ns))
	switch {
	case !ok || err1 != nil || err2 != nil:
		return Shard{}, fmt.Errorf("shard %q: want \"k/N\" (shard k of N, counted from 0), e.g. \"0/8\"", s)
	case n < 1 || n > MaxShards:
		return Shard{}, fmt.Errorf("shard %q: N must be 1..%d", s, MaxShards)
	case k < 0 || k >= n:
		return Shard{}, fmt.Errorf("shard %q: k must be 0..%d", s, n-1)
	}
	return Shard{Index: k, Count: n}, nil
}

// All reports whether s is the whole fleet.
func (s Shard) All() bool { return s.Count <= 1 }

// Contains reports whether instanceID belongs to s.
func (s Shard) Contains(instanceID string) bool {
	if s.All() {
		return true
	}
	return ShardIndex(instanceID, s.Count) == s.Index
}

// ShardIndex is the shard of instanceID among n.
func ShardIndex(instanceID string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(instanceID))
	return int(h.Sum32() % uint32(n))
}

// String is "k/N", or "all" for the whole fleet.
func (s Shard) String() string {
	if s.All() {
		return "all"
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// Buckets is how many shard buckets there are (TagBucket values 00..63). A shard count
// that divides it (1, 2, 4, 8, 16, 32, 64) maps each shard to whole buckets, since
// fnv32a(i) mod N = (fnv32a(i) mod Buckets) mod N when N divides Buckets.
const Buckets = 64

// BucketOf is the TagBucket value of instanceID's images: fnv32a(instanceID) mod Buckets,
// two digits.
func BucketOf(instanceID string) string {
	return fmt.Sprintf("%02d", ShardIndex(instanceID, Buckets))
}

// Buckets are the TagBucket values whose images make up s (ok): b ≡ Index (mod Count),
// each once, ascending. ok is false for the whole fleet (list without a bucket filter) and
// for a count that does not divide Buckets (its shards cut through buckets: list them all
// and keep the shard's images).
func (s Shard) Buckets() (buckets []string, ok bool) {
	if s.All() || Buckets%s.Count != 0 {
		return nil, false
	}
	for b := s.Index; b < Buckets; b += s.Count {
		buckets = append(buckets, fmt.Sprintf("%02d", b))
	}
	return buckets, true
}

// BucketTags reports whether the policy's images carry TagBucket: it is an eleventh tag of
// ours, set where the policy's own tags leave room for it (at most 9 of them). A policy
// that uses all 10 of its tags forgoes it, and its shards list every region in full.
func (p *Policy) BucketTags() bool { return len(p.Tags)+ReservedTagCount+1 <= MaxImageTags }
