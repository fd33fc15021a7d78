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
