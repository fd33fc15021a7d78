package ecsx

import (
	"context"
	"math/rand/v2"
	"time"
)

// RetryConfig bounds WithRetry.
type RetryConfig struct {
	// Attempts is the total number of tries per call (default 5).
	Attempts int
	// Base is the first back-off ceiling (default 500 ms); it doubles per retry up to Max
	// (default 20 s). The wait itself is full jitter: uniform in [0, ceiling], so many
	// invocations throttled together do not retry in lockstep.
	Base, Max time.Duration
	// Jitter returns a duration uniform in [0, d] (default math/rand/v2); tests inject a
	// deterministic one (e.g. the identity, which turns jitter off).
	Jitter func(d time.Duration) time.Duration
	// Sleep waits d or until ctx ends (default: a timer); tests inject a recorder.
	Sleep func(ctx context.Context, d time.Duration) error

	// Throttling is not a failure while time remains: a throttled call is retried (full
	// jitter, same ceilings) without counting against Attempts until the next wait would
	// end after the soft deadline. The soft deadline is Deadline, else ctx's deadline
	// minus Margin (default DefaultMargin), compared on Now (default time.Now: give the
	// clock Sleep waits on). With neither, throttling gets ThrottleAttempts tries
	// (default 30) so a call cannot spin forever.
	Deadline         time.Time
	Margin           time.Duration
	Now              func() time.Time
	ThrottleAttempts int
}

// DefaultMargin is kept free before an invocation's deadline: no throttled call is
// retried into it, so the run has time to record what remains and flush its records.
const DefaultMargin = 15 * time.Second

// softDeadline is when throttled retries stop; ok is false when no deadline is known.
func (c RetryConfig) softDeadline(ctx context.Context) (time.Time, bool) {
	if !c.Deadline.IsZero() {
		return c.Deadline, true
	}
	if dl, ok := ctx.Deadline(); ok {
		return dl.Add(-c.Margin), true
	}
	return time.Time{}, false
}

// SleepContext waits d or until ctx is done.
func SleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type retryAPI struct {
	next API
	cfg  RetryConfig
}

// WithRetry wraps api with bounded exponential back-off. It is the only retry loop: the
// SDK adapter leaves the SDK's AutoRetry off (which would retry 5xx but never throttling).
//
// What is retried, per call:
//   - reads and deletes (DescribeInstances, DescribeImages, DeleteImage, DeleteSnapshot):
//     every IsRetryable error; deletes are idempotent (NotFound afterwards means gone);
//   - CreateImage: every IsRetryable error; the ClientToken makes a repeat of a call that
//     did reach the service return the same image;
//   - CopyImage: throttling only. CopyImage has no ClientToken in the SDK, so repeating
//     a call that failed after reaching the service (5xx, timeout) could start a second
//     copy; that error goes back to the caller, whose next run looks for the copy first.
func WithRetry(api API, cfg RetryConfig) API {
	if cfg.Attempts <= 0 {
		cfg.Attempts = 5
	}
	if cfg.Base <= 0 {
		cfg.Base = 500 * time.Millisecond
	}
	if cfg.Max <= 0 {
		cfg.Max = 20 * time.Second
	}
	if cfg.Sleep == nil {
		cfg.Sleep = SleepContext
	}
	if cfg.Jitter == nil {
		cfg.Jitter = FullJitter
	}
	if cfg.Margin <= 0 {
		cfg.Margin = DefaultMargin
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ThrottleAttempts <= 0 {
		cfg.ThrottleAttempts = 30
	}
	return &retryAPI{next: api, cfg: cfg}
}

// FullJitter returns a duration uniform in [0, d].
func FullJitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(d) + 1))
}

// ceiling returns the back-off ceiling before retry n (n ≥ 1): min(Max, Base·2^(n-1)).
func (c RetryConfig) ceiling(n int) time.Duration {
	d := c.Base
	for i := 1; i < n && d < c.Max; i++ {
		d *= 2
	}
	return min(d, c.Max)
}

// backoff returns the wait before retry n: full jitter under the ceiling, clamped to it
// whatever the injected Jitter returns.
func (c RetryConfig) backoff(n int) time.Duration {
	ceil := c.ceiling(n)
	return min(max(c.Jitter(ceil), 0), ceil)
}

func (r *retryAPI) do(ctx context.Context, retryable func(error) bool, call func() error) error {
	var err error
	attempt, throttled := 1, 0
	for {
		err = call()
		// ctx.Err: once the invocation's own context has ended, no error is worth a retry
		// (a transport error cannot tell its own timeout from the caller's deadline).
		if err == nil || ctx.Err() != nil || !retryable(err) {
			return err
		}
		var wait time.Duration
		if IsThrottled(err) {
			// Paced, not failed: throttling is retried until the soft deadline.
			throttled++
			wait = r.cfg.backoff(throttled)
			if dl, ok := r.cfg.softDeadline(ctx); ok {
				if r.cfg.Now().Add(wait).After(dl) {
					return err
				}
			} else if throttled >= r.cfg.ThrottleAttempts {
				return err
			}
		} else {
			if attempt >= r.cfg.Attempts {
				return err
			}
			wait = r.cfg.backoff(attempt)
			attempt++
		}
		if serr := r.cfg.Sleep(ctx, wait); serr != nil {
			return err // the context ended while waiting; the last call error says more
		}
	}
}

func (r *retryAPI) DescribeInstances(ctx context.Context, region string, q InstanceQuery) (out []Instance, err error) {
	err = r.do(ctx, IsRetryable, func() (e error) { out, e = r.next.DescribeInstances(ctx, region, q); return })
	return out, err
}

func (r *retryAPI) DescribeImages(ctx context.Context, region string, q ImageQuery) (out []Image, err error) {
	err = r.do(ctx, IsRetryable, func() (e error) { out, e = r.next.DescribeImages(ctx, region, q); return })
	return out, err
}

func (r *retryAPI) CreateImage(ctx context.Context, region string, in CreateImageInput) (id string, err error) {
	retryable := IsRetryable
	if in.ClientToken == "" {
		retryable = IsThrottled
	}
	err = r.do(ctx, retryable, func() (e error) { id, e = r.next.CreateImage(ctx, region, in); return })
	return id, err
}

func (r *retryAPI) CopyImage(ctx context.Context, region string, in CopyImageInput) (id string, err error) {
	err = r.do(ctx, IsThrottled, func() (e error) { id, e = r.next.CopyImage(ctx, region, in); return })
	return id, err
}

func (r *retryAPI) DeleteImage(ctx context.Context, region, imageID string, force bool) error {
	return r.do(ctx, IsRetryable, func() error { return r.next.DeleteImage(ctx, region, imageID, force) })
}

func (r *retryAPI) DeleteSnapshot(ctx context.Context, region, snapshotID string) error {
	return r.do(ctx, IsRetryable, func() error { return r.next.DeleteSnapshot(ctx, region, snapshotID) })
}
