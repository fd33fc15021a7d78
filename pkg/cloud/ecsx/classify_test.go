package ecsx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"syscall"
	"testing"
	"time"
)

// timeoutErr is what http.Client returns for its own Timeout: a *url.Error that is a
// net.Error with Timeout() and (since Go 1.23) also matches context.DeadlineExceeded.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "Client.Timeout exceeded while awaiting headers" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }
func (timeoutErr) Is(err error) bool {
	return err == context.DeadlineExceeded
}

func TestTransportAndContextClassification(t *testing.T) {
	t.Parallel()
	readTimeout := &url.Error{Op: "Post", URL: "http://ecs.local/", Err: timeoutErr{}}
	if !errors.Is(readTimeout, context.DeadlineExceeded) {
		t.Fatal("the test's timeout error must look like the real one (matches DeadlineExceeded)")
	}
	tests := []struct {
		name                 string
		err                  error
		retryable, isTimeout bool
	}{
		{"per-request read timeout", &Error{Op: "DescribeImages", Err: readTimeout}, true, true},
		{"sdk timeout code", NewError("SDK.TimeoutError", 0, "timed out"), true, true},
		{"connection reset", &Error{Op: "CopyImage", Err: &url.Error{Op: "Post", URL: "u", Err: syscall.ECONNRESET}}, true, false},
		{"bare reset", fmt.Errorf("read: %w", syscall.ECONNRESET), true, false},
		{"response cut short", fmt.Errorf("body: %w", io.ErrUnexpectedEOF), true, false},
		{"caller cancelled (inside a url.Error)", &url.Error{Op: "Post", URL: "u", Err: context.Canceled}, false, false},
		{"caller's deadline, as the adapter returns it", &Error{Op: "DescribeImages", Err: context.DeadlineExceeded}, false, false},
		{"plain error", errors.New("boom"), false, false},
	}
	for _, tc := range tests {
		if got := IsRetryable(tc.err); got != tc.retryable {
			t.Errorf("%s: IsRetryable(%v) = %v, want %v", tc.name, tc.err, got, tc.retryable)
		}
		if got := IsTimeout(tc.err); got != tc.isTimeout {
			t.Errorf("%s: IsTimeout(%v) = %v, want %v", tc.name, tc.err, got, tc.isTimeout)
		}
	}
	// The same transport timeout is not retryable once the caller's own context is over.
	ctx, cancel := context.WithCancel(context.Background())
	if !Retryable(ctx, readTimeout) {
		t.Error("Retryable with a live context: want true for a read timeout")
	}
	cancel()
	if Retryable(ctx, readTimeout) {
		t.Error("Retryable with an ended context: want false")
	}
}

func TestQuotaAndDuplicateHelpers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err              error
		quota, duplicate bool
	}{
		{NewError("QuotaExceed.Image", 403, ""), true, false},
		{fmt.Errorf("create: %w", NewError("QuotaExceed.Snapshot", 400, "")), true, false},
		{NewError("QuotaExceed", 400, ""), true, false},
		{NewError("InvalidImageName.Duplicated", 400, ""), false, true},
		{NewError("InvalidImageName.Malformed", 400, ""), false, false},
		{NewError("Throttling.User", 400, ""), false, false},
		{nil, false, false},
	} {
		if IsQuotaExceeded(tc.err) != tc.quota || IsDuplicateName(tc.err) != tc.duplicate {
			t.Errorf("%v: quota=%v duplicate=%v, want %v %v", tc.err, IsQuotaExceeded(tc.err), IsDuplicateName(tc.err), tc.quota, tc.duplicate)
		}
		if (tc.quota || tc.duplicate) && IsRetryable(tc.err) {
			t.Errorf("%v: quota and duplicate-name errors are permanent", tc.err)
		}
	}
}

// Full jitter: every wait is within [0, ceiling], the ceilings double up to Max, and the
// injected source decides where in the range it falls.
func TestRetryFullJitter(t *testing.T) {
	t.Parallel()
	var ceilings, sleeps []time.Duration
	f := &flaky{n: 5, err: NewError("Throttling", 400, "x")}
	api := WithRetry(f, RetryConfig{Attempts: 6, Base: time.Second, Max: 5 * time.Second,
		Jitter: func(d time.Duration) time.Duration { ceilings = append(ceilings, d); return d / 4 },
		Sleep:  func(_ context.Context, d time.Duration) error { sleeps = append(sleeps, d); return nil }})
	if _, err := api.DescribeImages(context.Background(), "r", ImageQuery{}); err != nil {
		t.Fatal(err)
	}
	wantCeil := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	if fmt.Sprint(ceilings) != fmt.Sprint(wantCeil) {
		t.Errorf("ceilings = %v, want %v", ceilings, wantCeil)
	}
	for i, s := range sleeps {
		if s != wantCeil[i]/4 {
			t.Errorf("sleep %d = %v, want the injected jitter %v", i, s, wantCeil[i]/4)
		}
	}
	// A jitter source out of range is clamped into [0, ceiling].
	cfg := RetryConfig{Base: time.Second, Max: time.Second, Jitter: func(d time.Duration) time.Duration { return 10 * d }}
	if got := cfg.backoff(1); got != time.Second {
		t.Errorf("out-of-range jitter: backoff = %v, want clamped to 1s", got)
	}
	cfg.Jitter = func(time.Duration) time.Duration { return -time.Second }
	if got := cfg.backoff(1); got != 0 {
		t.Errorf("negative jitter: backoff = %v, want 0", got)
	}
	// The default source stays in range and is not constant.
	seen := map[time.Duration]bool{}
	for range 200 {
		d := FullJitter(time.Second)
		if d < 0 || d > time.Second {
			t.Fatalf("FullJitter(1s) = %v, out of [0, 1s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 50 {
		t.Errorf("FullJitter gave %d distinct values in 200 draws: not random", len(seen))
	}
}

// A retryable error after the caller's context ended is not retried.
func TestRetryStopsOnEndedContextEvenForRetryableError(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	f := &flaky{n: 10, err: &url.Error{Op: "Post", URL: "u", Err: timeoutErr{}}}
	calls := 0
	wrapped := &hook{API: f, before: func() {
		calls++
		if calls == 2 {
			cancel()
		}
	}}
	api := WithRetry(wrapped, RetryConfig{Attempts: 10, Sleep: func(context.Context, time.Duration) error { return nil }})
	if _, err := api.DescribeImages(ctx, "r", ImageQuery{}); err == nil {
		t.Fatal("want the timeout error")
	}
	if calls != 2 {
		t.Errorf("calls = %d, want 2 (no retry once the context ended)", calls)
	}
}

type hook struct {
	API
	before func()
}

func (h *hook) DescribeImages(ctx context.Context, region string, q ImageQuery) ([]Image, error) {
	h.before()
	return h.API.DescribeImages(ctx, region, q)
}

// Through the real SDK: a server slower than the adapter's Timeout gives a read timeout
// that is retryable, and the retry decorator retries it.
func TestSDKReadTimeoutIsRetried(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	api, err := NewSDK(SDKConfig{Endpoint: srv.URL, Timeout: 50 * time.Millisecond,
		Credentials: func() (string, string, string) { return testAK, testSecret, "" }})
	if err != nil {
		t.Fatal(err)
	}
	_, err = api.DescribeImages(context.Background(), "cn-hangzhou", ImageQuery{IDs: []string{"m-1"}})
	if err == nil || !IsRetryable(err) || !IsTimeout(err) {
		t.Fatalf("read timeout: err = %v retryable=%v timeout=%v, want a retryable timeout", err, IsRetryable(err), IsTimeout(err))
	}
	attempts := 0
	counted := &hook{API: api, before: func() { attempts++ }}
	_, err = WithRetry(counted, RetryConfig{Attempts: 3, Sleep: func(context.Context, time.Duration) error { return nil }}).
		DescribeImages(context.Background(), "cn-hangzhou", ImageQuery{IDs: []string{"m-1"}})
	if err == nil || attempts != 3 {
		t.Errorf("attempts = %d (err %v), want 3: a read timeout is retried", attempts, err)
	}
}
