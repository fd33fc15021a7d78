package oss

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"
)

// The ordered key index behind listings (bucket.keys) agrees with the objects themselves
// through random puts, copies, deletes and batch deletes: every listing by prefix,
// marker and page size, through the official SDK, returns exactly the stored keys that
// match, in order.
func TestListIndexFollowsEveryChange(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.bucket(t, "index")
	rng := rand.New(rand.NewPCG(7, 11))
	key := func() string { return fmt.Sprintf("p%d/%02d/k%03d", rng.IntN(3), rng.IntN(20), rng.IntN(200)) }
	for step := range 600 {
		switch op := rng.IntN(10); {
		case op < 5:
			if err := b.PutObject(key(), strings.NewReader("x")); err != nil {
				t.Fatal(err)
			}
		case op < 6:
			keys := f.svc.Keys("index")
			if len(keys) > 0 {
				if _, err := b.CopyObject(keys[rng.IntN(len(keys))], key()); err != nil {
					t.Fatal(err)
				}
			}
		case op < 8:
			if err := b.DeleteObject(key()); err != nil {
				t.Fatal(err)
			}
		default:
			if _, err := b.DeleteObjects([]string{key(), key(), key()}, oss.DeleteObjectsQuiet(true)); err != nil {
				t.Fatal(err)
			}
		}
		if step%50 != 49 {
			continue
		}
		stored := f.svc.Keys("index")
		for _, prefix := range []string{"", "p1/", "p2/1", "p0/07/k1", "zz"} {
			var want []string
			for _, k := range stored {
				if strings.HasPrefix(k, prefix) {
					want = append(want, k)
				}
			}
			var got []string
			marker := ""
			for pages := 0; ; pages++ {
				r, err := b.ListObjects(oss.Prefix(prefix), oss.Marker(marker), oss.MaxKeys(1+rng.IntN(40)))
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range r.Objects {
					got = append(got, o.Key)
				}
				if !r.IsTruncated || pages > 1000 {
					break
				}
				marker = r.NextMarker
			}
			if !slices.Equal(got, want) {
				t.Fatalf("step %d prefix %q: listed %d keys, stored %d\nlisted %v\nstored %v", step, prefix, len(got), len(want), got, want)
			}
		}
	}
}
