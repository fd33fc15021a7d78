package ecsx

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// flaky fails the first n calls of every method with err, then succeeds.
type flaky struct {
	n     int
	err   error
	calls int
}

func (f *flaky) fail() error {
	f.calls++
	if f.calls <= f.n {
		return f.err
	}
	return nil
}

func (f *flaky) DescribeInstances(context.Context, string, InstanceQuery) ([]Instance, error) {
	return []Instance{{ID: "i-1"}}, f.fail()
}
func (f *flaky) CreateImage(context.Context, string, CreateImageInput) (string, error) {
	return "m-1", f.fail()
}
func (f *flaky) DescribeImages(context.Context, string, ImageQuery) ([]Image, error) {
	return []Image{{ID: "m-1"}}, f.fail()
}
func (f *flaky) CopyImage(context.Context, string, CopyImageInput) (string, error) {
	return "m-2", f.fail()
}
func (f *flaky) DeleteImage(context.Context, string, string, bool) error { return f.fail() }
func (f *flaky) DeleteSnapshot(context.Context, string, string) error    { return f.fail() }
func (f *flaky) DescribeSnapshots(context.Context, string, SnapshotQuery) ([]Snapshot, error) {
	return nil, f.fail()
}
func (f *flaky) TagResources(context.Context, string, string, []string, map[string]string) error {
	return f.fail()
}
func (f *flaky) UntagResources(context.Context, string, string, []string, []string) error {
	return f.fail()
}

func TestWithRetry(t *testing.T) {
	t.Parallel()
	throttled := NewError("Throttling.User", 400, "flow control")
	unavailable := NewError("ServiceUnavailable", 503, "x")
	quota := NewError("QuotaExceed.Image", 403, "x")
	tests := []struct {
		name      string
		call      func(API) error
		failures  int
		err       error
		wantCalls int
		wantErr   bool
	}{
		{"describe recovers from throttling", func(a API) error { _, e := a.DescribeImages(context.Background(), "r", ImageQuery{}); return e }, 2, throttled, 3, false},
		{"describe gives up after attempts", func(a API) error { _, e := a.DescribeInstances(context.Background(), "r", InstanceQuery{}); return e }, 10, unavailable, 4, true},
		{"permanent error is not retried", func(a API) error { return a.DeleteImage(context.Background(), "r", "m", false) }, 1, quota, 1, true},
		{"create with token retries 5xx", func(a API) error {
			_, e := a.CreateImage(context.Background(), "r", CreateImageInput{InstanceID: "i", ClientToken: "t"})
			return e
		}, 1, unavailable, 2, false},
		{"create without token does not retry 5xx", func(a API) error {
			_, e := a.CreateImage(context.Background(), "r", CreateImageInput{InstanceID: "i"})
			return e
		}, 1, unavailable, 1, true},
		{"copy retries throttling", func(a API) error { _, e := a.CopyImage(context.Background(), "r", CopyImageInput{}); return e }, 1, throttled, 2, false},
		{"copy never retries 5xx (no ClientToken)", func(a API) error { _, e := a.CopyImage(context.Background(), "r", CopyImageInput{}); return e }, 1, unavailable, 1, true},
		{"snapshot delete retries wrapped 5xx", func(a API) error { return a.DeleteSnapshot(context.Background(), "r", "s") }, 1, fmt.Errorf("outer: %w", unavailable), 2, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &flaky{n: tc.failures, err: tc.err}
			var sleeps []time.Duration
			api := WithRetry(f, RetryConfig{Attempts: 4, Base: time.Second, Max: 3 * time.Second,
				Jitter: func(d time.Duration) time.Duration { return d }, // the ceilings themselves
				Sleep:  func(_ context.Context, d time.Duration) error { sleeps = append(sleeps, d); return nil }})
			err := tc.call(api)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if f.calls != tc.wantCalls {
				t.Errorf("calls = %d, want %d", f.calls, tc.wantCalls)
			}
			want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}[:tc.wantCalls-1]
			if fmt.Sprint(sleeps) != fmt.Sprint(want) {
				t.Errorf("sleeps = %v, want %v (doubling, capped)", sleeps, want)
			}
		})
	}
}

func TestWithRetryStopsWhenContextEnds(t *testing.T) {
	t.Parallel()
	f := &flaky{n: 10, err: NewError("Throttling", 400, "x")}
	ctx, cancel := context.WithCancel(context.Background())
	api := WithRetry(f, RetryConfig{Attempts: 10, Sleep: func(ctx context.Context, _ time.Duration) error { cancel(); return ctx.Err() }})
	_, err := api.DescribeImages(ctx, "r", ImageQuery{})
	if !IsThrottled(err) || f.calls != 1 {
		t.Errorf("err = %v calls = %d, want the throttling error after 1 call", err, f.calls)
	}
}

func TestClassificationTable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err                            error
		code                           string
		throttled, notFound, retryable bool
	}{
		{nil, "", false, false, false},
		{NewError("Throttling", 400, ""), "Throttling", true, false, true},
		{NewError("Throttling.Api", 400, ""), "Throttling.Api", true, false, true},
		{fmt.Errorf("copy: %w", NewError("InvalidImageId.NotFound", 404, "")), "InvalidImageId.NotFound", false, true, false},
		{NewError("InvalidSnapshotId.NotFound", 404, ""), "InvalidSnapshotId.NotFound", false, true, false},
		{NewError("IncorrectImageStatus", 400, ""), "IncorrectImageStatus", false, false, false},
		{NewError("SignatureDoesNotMatch", 400, ""), "SignatureDoesNotMatch", false, false, false},
		{NewError("QuotaExceed.Image", 500, "odd status"), "QuotaExceed.Image", false, false, false},
		{NewError("SomethingNew", 504, ""), "SomethingNew", false, false, true},
		{NewError("SomethingNew", 400, ""), "SomethingNew", false, false, false},
		{context.DeadlineExceeded, "", false, false, false},
		{fmt.Errorf("plain"), "", false, false, false},
	}
	for _, tc := range tests {
		if Code(tc.err) != tc.code || IsThrottled(tc.err) != tc.throttled || IsNotFound(tc.err) != tc.notFound || IsRetryable(tc.err) != tc.retryable {
			t.Errorf("%v: code=%q throttled=%v notFound=%v retryable=%v", tc.err, Code(tc.err), IsThrottled(tc.err), IsNotFound(tc.err), IsRetryable(tc.err))
		}
	}
}
