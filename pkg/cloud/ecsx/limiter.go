package ecsx

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// ECS actions, as the limiter and the policy's rateLimits name them.
const (
	ActionDescribeInstances = "DescribeInstances"
	ActionDescribeImages    = "DescribeImages"
	ActionCreateImage       = "CreateImage"
	ActionCopyImage         = "CopyImage"
	ActionDeleteImage       = "DeleteImage"
	ActionDeleteSnapshot    = "DeleteSnapshot"
	ActionDescribeSnapshots = "DescribeSnapshots"
	ActionTagResources      = "TagResources"
	ActionUntagResources    = "UntagResources"
)

// Actions are the ECS actions the product calls.
var Actions = []string{ActionDescribeInstances, ActionDescribeImages, ActionCreateImage, ActionCopyImage, ActionDeleteImage, ActionDeleteSnapshot,
	ActionDescribeSnapshots, ActionTagResources, ActionUntagResources}

// Limits are client-side call rates per ECS action, in calls per second, applied per
// region: every (region, action) has its own token bucket. An action absent from Limits
// takes its DefaultLimits value; a rate ≤ 0 there means unlimited.
type Limits map[string]float64

// DefaultLimits are the client-side rates when the policy sets none. ECS flow control is
// per account, per region and per API, and its numbers are not published for every API
// (they differ by account and can be raised through a quota request), so the defaults
// stay at or under the flow-control thresholds commonly granted to an account: 20 calls/s
// for image creation and deletion, 10 for CopyImage (a scarcer, cross-region action),
// 20 for the Describe calls (list pages carry 100 items each). Raise them in the policy
// (rateLimits) when the account's quota is higher; every function of the policy shares
// the account's quota, so leave room for the other functions that run at the same time.
var DefaultLimits = Limits{
	ActionDescribeInstances: 20,
	ActionDescribeImages:    20,
	ActionCreateImage:       20,
	ActionCopyImage:         10,
	ActionDeleteImage:       20,
	ActionDeleteSnapshot:    20,
	ActionDescribeSnapshots: 20,
	ActionTagResources:      20,
	ActionUntagResources:    20,
}

// Rate returns the rate for action: l's, else DefaultLimits'.
func (l Limits) Rate(action string) float64 {
	if r, ok := l[action]; ok {
		return r
	}
	return DefaultLimits[action]
}

// String renders the limits sorted by action, for logs.
func (l Limits) String() string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := ""
	for _, k := range keys {
		s += fmt.Sprintf("%s=%g ", k, l[k])
	}
	return s
}

// Limiter paces calls per (region, action) with token buckets of burst 1: calls of one
// bucket start at least 1/rate apart, so no calendar second of the service's flow-control
// window ever sees more than rate calls from this invocation. It waits on the injected
// clock (Now and Sleep), so on the local cloud's simulated clock pacing costs simulated
// time only. Its Wait is the SDK adapter's Pace hook (SDKConfig.Pace), called before every
// request, each page of a listing included.
type Limiter struct {
	limits Limits
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) error

	mu      sync.Mutex
	buckets map[string]*bucket

	waits  atomic.Int64 // calls that had to wait
	waited atomic.Int64 // total wait, ns
}

type bucket struct {
	interval time.Duration
	next     time.Time // earliest start of the next call
}

// NewLimiter returns a limiter over limits (nil: DefaultLimits); now and sleep default to
// the wall clock.
func NewLimiter(limits Limits, now func() time.Time, sleep func(ctx context.Context, d time.Duration) error) *Limiter {
	if now == nil {
		now = time.Now
	}
	if sleep == nil {
		sleep = SleepContext
	}
	return &Limiter{limits: limits, now: now, sleep: sleep, buckets: map[string]*bucket{}}
}

// Wait blocks until a call of action in region may start, or ctx ends. A reservation is
// taken before sleeping, so concurrent callers queue in order.
func (l *Limiter) Wait(ctx context.Context, region, action string) error {
	d := l.Reserve(region, action)
	if d <= 0 {
		return ctx.Err()
	}
	return l.sleep(ctx, d)
}

// Reserve takes the next start of a call of action in region and returns how long to wait
// for it (≤ 0: now). The caller must wait that long before the call.
func (l *Limiter) Reserve(region, action string) time.Duration {
	rate := l.limits.Rate(action)
	if rate <= 0 {
		return 0
	}
	l.mu.Lock()
	k := region + "/" + action
	b := l.buckets[k]
	if b == nil {
		b = &bucket{interval: time.Duration(float64(time.Second) / rate)}
		l.buckets[k] = b
	}
	now := l.now()
	start := b.next
	if start.Before(now) {
		start = now
	}
	b.next = start.Add(b.interval)
	l.mu.Unlock()
	d := start.Sub(now)
	if d > 0 {
		l.waits.Add(1)
		l.waited.Add(int64(d))
	}
	return d
}

// Stats reports how many calls waited and for how long in total.
func (l *Limiter) Stats() (waits int64, waited time.Duration) {
	return l.waits.Load(), time.Duration(l.waited.Load())
}
