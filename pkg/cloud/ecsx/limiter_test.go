package ecsx

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// simClock is a manual clock whose Sleep moves time forward, as the local cloud's does.
type simClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *simClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *simClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	if t := c.now.Add(d); t.After(c.now) {
		c.now = t
	}
	c.mu.Unlock()
	return ctx.Err()
}

// Concurrent callers of one (region, action) get starts at least 1/rate apart; other
// regions and actions have buckets of their own. The clock stands still, so every start
// is exactly now + the reserved wait.
func TestLimiterPacesPerRegionAndAction(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC)
	clk := &simClock{now: t0}
	var mu sync.Mutex
	var slept time.Duration
	l := NewLimiter(Limits{ActionCreateImage: 20}, clk.Now, func(_ context.Context, d time.Duration) error {
		mu.Lock()
		slept += d
		mu.Unlock()
		return nil
	})
	starts := map[string][]time.Time{}
	var wg sync.WaitGroup
	for _, region := range []string{"cn-hangzhou", "cn-shanghai"} {
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 25 {
					d := l.Reserve(region, ActionCreateImage)
					mu.Lock()
					starts[region] = append(starts[region], t0.Add(max(d, 0)))
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	for region, ts := range starts {
		if len(ts) != 200 {
			t.Fatalf("%s: %d calls", region, len(ts))
		}
		slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
		for i := 1; i < len(ts); i++ {
			if gap := ts[i].Sub(ts[i-1]); gap < 50*time.Millisecond {
				t.Fatalf("%s: starts %v apart, want ≥ 50ms", region, gap)
			}
		}
		// Per calendar second of the service's window, never more than the rate.
		per := map[int64]int{}
		for _, ts := range ts {
			per[ts.Unix()]++
		}
		for sec, n := range per {
			if n > 20 {
				t.Errorf("%s: %d calls in second %d, limit 20", region, n, sec)
			}
		}
		if last := ts[len(ts)-1].Sub(t0); last != 199*50*time.Millisecond {
			t.Errorf("%s: last start after %v, want 9.95s", region, last)
		}
	}
	// Wait sleeps the reserved time on the injected sleep.
	if err := l.Wait(context.Background(), "cn-hangzhou", ActionCreateImage); err != nil || slept != 10*time.Second {
		t.Errorf("Wait slept %v (%v), want 10s", slept, err)
	}
	if waits, waited := l.Stats(); waits != 399 || waited < 19*time.Second {
		t.Errorf("waits %d, waited %v", waits, waited)
	}
	// Another action is not held up by CreateImage's queue.
	if d := l.Reserve("cn-hangzhou", ActionDescribeImages); d != 0 {
		t.Errorf("DescribeImages would wait %v", d)
	}
}

func TestLimitsDefaultsAndUnlimited(t *testing.T) {
	t.Parallel()
	l := Limits{ActionCopyImage: 0}
	if l.Rate(ActionCreateImage) != DefaultLimits[ActionCreateImage] || l.Rate(ActionCopyImage) != 0 {
		t.Fatalf("rates %v %v", l.Rate(ActionCreateImage), l.Rate(ActionCopyImage))
	}
	clk := &simClock{now: time.Unix(0, 0)}
	lim := NewLimiter(l, clk.Now, clk.Sleep)
	for range 100 {
		if err := lim.Wait(context.Background(), "r", ActionCopyImage); err != nil {
			t.Fatal(err)
		}
	}
	if !clk.Now().Equal(time.Unix(0, 0)) {
		t.Fatalf("an unlimited action waited until %v", clk.Now())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = lim.Wait(context.Background(), "r", ActionCreateImage)
	if err := lim.Wait(ctx, "r", ActionCreateImage); err == nil {
		t.Fatal("a cancelled wait succeeded")
	}
}

// Throttling is paced, not failed: it is retried past Attempts while the soft deadline
// allows, and returned once the next wait would cross it.
func TestThrottlingRetriedUntilSoftDeadline(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC)
	clk := &simClock{now: t0}
	f := &flaky{n: 12, err: NewError("Throttling.User", 400, "flow control")}
	api := WithRetry(f, RetryConfig{Attempts: 3, Base: time.Second, Max: 4 * time.Second, Sleep: clk.Sleep, Now: clk.Now,
		Jitter: func(d time.Duration) time.Duration { return d }, Deadline: t0.Add(time.Minute)})
	if _, err := api.CreateImage(context.Background(), "r", CreateImageInput{InstanceID: "i", ClientToken: "t"}); err != nil {
		t.Fatalf("12 throttles within a minute failed: %v", err)
	}
	if f.calls != 13 {
		t.Fatalf("calls = %d, want 13", f.calls)
	}
	// 1+2+4+4+… s: the deadline a minute away stops it before the 60 s are spent.
	f = &flaky{n: 1000, err: NewError("Throttling.User", 400, "flow control")}
	clk.now = t0
	api = WithRetry(f, RetryConfig{Attempts: 3, Base: time.Second, Max: 4 * time.Second, Sleep: clk.Sleep, Now: clk.Now,
		Jitter: func(d time.Duration) time.Duration { return d }, Deadline: t0.Add(time.Minute)})
	_, err := api.DescribeImages(context.Background(), "r", ImageQuery{})
	if !IsThrottled(err) || clk.Now().After(t0.Add(time.Minute)) || clk.Now().Before(t0.Add(50*time.Second)) {
		t.Fatalf("err %v at %v", err, clk.Now().Sub(t0))
	}
	// The deadline may come from ctx (minus Margin).
	f = &flaky{n: 1000, err: NewError("Throttling.User", 400, "flow control")}
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(time.Hour))
	defer cancel()
	var slept time.Duration
	api = WithRetry(f, RetryConfig{Base: time.Minute, Max: 10 * time.Minute, Margin: 30 * time.Minute,
		Jitter: func(d time.Duration) time.Duration { return d },
		Sleep:  func(_ context.Context, d time.Duration) error { slept += d; return nil },
		Now:    func() time.Time { return time.Now().Add(slept) }})
	if _, err := api.DescribeImages(ctx, "r", ImageQuery{}); !IsThrottled(err) || slept > 30*time.Minute || slept < 20*time.Minute {
		t.Fatalf("err %v after %v of back-off, want the 30 min before deadline−margin used", err, slept)
	}
	// A 5xx still counts against Attempts.
	f = &flaky{n: 10, err: NewError("ServiceUnavailable", 503, "x")}
	api = WithRetry(f, RetryConfig{Attempts: 3, Sleep: clk.Sleep, Now: clk.Now, Deadline: clk.Now().Add(time.Hour)})
	if _, err := api.DescribeImages(context.Background(), "r", ImageQuery{}); err == nil || f.calls != 3 {
		t.Fatalf("5xx: err %v after %d calls, want 3", err, f.calls)
	}
}

// The SDK adapter calls Pace before every request, every page of a listing included.
func TestPaceHookIsCalledPerPage(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	paced := map[string]int{}
	a := &sdkAPI{cfg: SDKConfig{Pace: func(ctx context.Context, region, action string) error {
		mu.Lock()
		defer mu.Unlock()
		paced[region+"/"+action]++
		return context.Canceled
	}}}
	if _, err := a.CreateImage(context.Background(), "r1", CreateImageInput{InstanceID: "i"}); err == nil {
		t.Fatal("a refused pace did not end the call")
	}
	if paced["r1/CreateImage"] != 1 {
		t.Fatalf("paced %v", paced)
	}
}

func TestPolicyNamesTheLimitedActions(t *testing.T) {
	t.Parallel()
	if !slices.Equal(policy.RateLimitActions, Actions) {
		t.Fatalf("policy.RateLimitActions %v, ecsx.Actions %v", policy.RateLimitActions, Actions)
	}
	for _, a := range Actions {
		if DefaultLimits[a] <= 0 {
			t.Errorf("%s has no default limit", a)
		}
	}
}
