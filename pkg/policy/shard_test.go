package policy

import (
	"fmt"
	"testing"
)

func TestParseShard(t *testing.T) {
	for in, want := range map[string]Shard{"": {}, "0/1": {0, 1}, "3/8": {3, 8}, " 63/64 ": {63, 64}} {
		got, err := ParseShard(in)
		if err != nil || got != want {
			t.Errorf("ParseShard(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"8/8", "-1/4", "1/0", "1/65", "x", "1-4", "a/b", "1/"} {
		if _, err := ParseShard(in); err == nil {
			t.Errorf("ParseShard(%q): no error", in)
		}
	}
}

// The N shards of a count partition the fleet: every instance in exactly one, the split
// roughly even, and the same answer every time (a stable hash, not a random one).
func TestShardsPartitionTheFleet(t *testing.T) {
	const n, fleet = 8, 20000
	counts := make([]int, n)
	for i := range fleet {
		id := fmt.Sprintf("i-bp1%015d", i)
		in := 0
		for k := range n {
			if (Shard{k, n}).Contains(id) {
				in++
				counts[k]++
			}
		}
		if in != 1 {
			t.Fatalf("%s is in %d shards of %d", id, in, n)
		}
		if !(Shard{}).Contains(id) || !(Shard{0, 1}).Contains(id) {
			t.Fatalf("the whole fleet does not contain %s", id)
		}
	}
	for k, c := range counts {
		if c < fleet/n*8/10 || c > fleet/n*12/10 {
			t.Errorf("shard %d/%d holds %d of %d instances: uneven", k, n, c, fleet)
		}
	}
	if ShardIndex("i-abc", 8) != ShardIndex("i-abc", 8) || ShardIndex("i-abc", 8) != 7&int(fnv32("i-abc")%8) {
		t.Error("the shard of an instance is not its fnv-1a hash mod N")
	}
}

func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// A shard's buckets hold exactly its instances: for every count dividing Buckets, an
// instance's bucket is among the buckets of the shard that contains it, and of no other.
func TestShardBucketsPartitionTheFleet(t *testing.T) {
	for _, n := range []int{2, 4, 8, 16, 32, 64} {
		owner := map[string]int{}
		for k := range n {
			bs, ok := Shard{Index: k, Count: n}.Buckets()
			if !ok || len(bs) != Buckets/n {
				t.Fatalf("shard %d/%d: buckets %v ok=%v, want %d", k, n, bs, ok, Buckets/n)
			}
			for _, b := range bs {
				if o, dup := owner[b]; dup {
					t.Fatalf("bucket %s in shards %d and %d of %d", b, o, k, n)
				}
				owner[b] = k
			}
		}
		if len(owner) != Buckets {
			t.Fatalf("N=%d: %d buckets covered, want %d", n, len(owner), Buckets)
		}
		for i := range 2000 {
			id := fmt.Sprintf("i-%05d", i*7919)
			if got, want := owner[BucketOf(id)], ShardIndex(id, n); got != want {
				t.Fatalf("N=%d: %s in bucket %s of shard %d, but Contains says shard %d", n, id, BucketOf(id), got, want)
			}
		}
	}
	for _, s := range []Shard{{}, {Index: 0, Count: 1}, {Index: 1, Count: 3}, {Index: 4, Count: 10}} {
		if bs, ok := s.Buckets(); ok || bs != nil {
			t.Errorf("%v: buckets %v ok=%v, want none (list everything)", s, bs, ok)
		}
	}
}
