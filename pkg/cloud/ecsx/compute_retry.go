package ecsx

import (
	"context"
	"time"
)

type retryCompute struct {
	next Compute
	r    *retryAPI
}

// WithComputeRetry wraps c with the back-off of WithRetry. Reads and deletes retry every
// IsRetryable error; RunInstance too when it carries a ClientToken (a repeat returns the
// same instance), throttling only without one; RunCommand throttling only (it has no
// idempotency token, a repeat would run the command twice).
func WithComputeRetry(c Compute, cfg RetryConfig) Compute {
	return &retryCompute{next: c, r: WithRetry(nil, cfg).(*retryAPI)}
}

func (w *retryCompute) DescribeDisks(ctx context.Context, region string) (out []Disk, err error) {
	err = w.r.do(ctx, IsRetryable, func() (e error) { out, e = w.next.DescribeDisks(ctx, region); return })
	return
}

func (w *retryCompute) DescribeRAMRoles(ctx context.Context, region string, ids []string) (out map[string]string, err error) {
	err = w.r.do(ctx, IsRetryable, func() (e error) { out, e = w.next.DescribeRAMRoles(ctx, region, ids); return })
	return
}

func (w *retryCompute) RunInstance(ctx context.Context, region string, in RunInstanceInput) (id string, err error) {
	retryable := IsThrottled
	if in.ClientToken != "" {
		retryable = IsRetryable
	}
	err = w.r.do(ctx, retryable, func() (e error) { id, e = w.next.RunInstance(ctx, region, in); return })
	return
}

func (w *retryCompute) DeleteInstance(ctx context.Context, region, id string, force bool) error {
	return w.r.do(ctx, IsRetryable, func() error { return w.next.DeleteInstance(ctx, region, id, force) })
}

func (w *retryCompute) DescribeVSwitches(ctx context.Context, region string) (out []VSwitch, err error) {
	err = w.r.do(ctx, IsRetryable, func() (e error) { out, e = w.next.DescribeVSwitches(ctx, region); return })
	return
}

func (w *retryCompute) DescribeSecurityGroups(ctx context.Context, region string) (out []SecurityGroup, err error) {
	err = w.r.do(ctx, IsRetryable, func() (e error) { out, e = w.next.DescribeSecurityGroups(ctx, region); return })
	return
}

func (w *retryCompute) AvailableTypes(ctx context.Context, region, zone string) (out map[string]bool, err error) {
	err = w.r.do(ctx, IsRetryable, func() (e error) { out, e = w.next.AvailableTypes(ctx, region, zone); return })
	return
}

func (w *retryCompute) DescribeInstanceTypes(ctx context.Context, region string) (out []InstanceType, err error) {
	err = w.r.do(ctx, IsRetryable, func() (e error) { out, e = w.next.DescribeInstanceTypes(ctx, region); return })
	return
}

func (w *retryCompute) RunCommand(ctx context.Context, region, instanceID, script string, timeout time.Duration) (id string, err error) {
	err = w.r.do(ctx, IsThrottled, func() (e error) { id, e = w.next.RunCommand(ctx, region, instanceID, script, timeout); return })
	return
}

func (w *retryCompute) DescribeInvocation(ctx context.Context, region, invokeID, instanceID string) (out Invocation, err error) {
	err = w.r.do(ctx, IsRetryable, func() (e error) { out, e = w.next.DescribeInvocation(ctx, region, invokeID, instanceID); return })
	return
}

func (w *retryCompute) TagInstance(ctx context.Context, region, id string, tags map[string]string) error {
	return w.r.do(ctx, IsRetryable, func() error { return w.next.TagInstance(ctx, region, id, tags) })
}
