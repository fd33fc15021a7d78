package backup

import (
	"context"
	"sync"
)

// eachRegion is each run region by region in parallel, n at a time within a region:
// every region has its own API rate budget (ECS flow control is per region, and so are
// the client-side limiters), so one region's work does not queue behind another's. The
// order within a region is kept.
func eachRegion[T any](ctx context.Context, n int, items []T, region func(T) string, fn func(context.Context, T)) {
	by := map[string][]T{}
	var order []string
	for _, it := range items {
		r := region(it)
		if _, ok := by[r]; !ok {
			order = append(order, r)
		}
		by[r] = append(by[r], it)
	}
	if len(order) <= 1 {
		each(ctx, n, items, fn)
		return
	}
	var wg sync.WaitGroup
	for _, r := range order {
		wg.Go(func() { each(ctx, n, by[r], fn) })
	}
	wg.Wait()
}
