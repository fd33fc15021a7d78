package backup

import (
	"context"
	"sync"
	"testing"
	"time"
)

// Regions run in parallel (a region's item starts while another region's is still
// running), each at most n at a time, in its own order.
func TestEachRegionRunsRegionsInParallel(t *testing.T) {
	t.Parallel()
	type item struct {
		region string
		i      int
	}
	items := []item{{"a", 0}, {"a", 1}, {"a", 2}, {"b", 0}, {"b", 1}, {"b", 2}}
	var mu sync.Mutex
	inFlight, maxInFlight := map[string]int{}, map[string]int{}
	order := map[string][]int{}
	bStarted := make(chan struct{})
	var once sync.Once
	eachRegion(context.Background(), 1, items, func(it item) string { return it.region }, func(_ context.Context, it item) {
		mu.Lock()
		inFlight[it.region]++
		maxInFlight[it.region] = max(maxInFlight[it.region], inFlight[it.region])
		order[it.region] = append(order[it.region], it.i)
		mu.Unlock()
		if it.region == "b" {
			once.Do(func() { close(bStarted) })
		}
		if it.region == "a" && it.i == 0 {
			select {
			case <-bStarted:
			case <-time.After(5 * time.Second):
				t.Error("region b did not start while region a's first item ran: regions are serialized")
			}
		}
		mu.Lock()
		inFlight[it.region]--
		mu.Unlock()
	})
	for _, r := range []string{"a", "b"} {
		if maxInFlight[r] != 1 {
			t.Errorf("region %s: %d at a time, want 1", r, maxInFlight[r])
		}
		if got := order[r]; len(got) != 3 || got[0] != 0 || got[1] != 1 || got[2] != 2 {
			t.Errorf("region %s ran %v, want 0 1 2", r, got)
		}
	}
}
