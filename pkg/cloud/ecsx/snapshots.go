package ecsx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/responses"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
)

// Snapshot is the part of an ECS snapshot the services need.
type Snapshot struct {
	ID, Region, Status string
	Tags               map[string]string
}

// SnapshotQuery filters DescribeSnapshots; empty fields do not filter.
type SnapshotQuery struct {
	// IDs of snapshots (sent in chunks of 100, the API limit).
	IDs []string
	// Tags: a snapshot must carry every pair (at most 20).
	Tags map[string]string
	// Keep, when set, is applied to each snapshot as its page arrives (see ImageQuery.Keep).
	Keep func(Snapshot) bool
}

// Resource types TagResources accepts.
const (
	ResourceImage    = "image"
	ResourceSnapshot = "snapshot"
)

// tagBatch is the ResourceId.N limit of TagResources.
const tagBatch = 50

func chunks(ids []string, n int) [][]string {
	var out [][]string
	for len(ids) > 0 {
		k := min(len(ids), n)
		out = append(out, ids[:k])
		ids = ids[k:]
	}
	return out
}

func (a *sdkAPI) DescribeSnapshots(ctx context.Context, region string, q SnapshotQuery) ([]Snapshot, error) {
	const op = "DescribeSnapshots"
	if err := checkTags(q.Tags); err != nil {
		return nil, &Error{Op: op, Region: region, Err: err}
	}
	c, release, err := a.prepare(ctx, region)
	if err != nil {
		return nil, &Error{Op: op, Region: region, Err: err}
	}
	defer release()
	idChunks := [][]string{nil}
	if len(q.IDs) > 0 {
		idChunks = chunks(q.IDs, 100)
	}
	var out []Snapshot
	in := newInterner()
	var buf []slimSnapshot // one page's items, reused page after page
	for _, ids := range idChunks {
		n := 0
		for page := 1; ; page++ {
			if page > pagesLimit {
				return nil, &Error{Op: op, Region: region, Err: fmt.Errorf("more than %d pages", pagesLimit)}
			}
			if err := a.pace(ctx, region, op); err != nil { // every page is paced
				return nil, &Error{Op: op, Region: region, Err: err}
			}
			req := ecs.CreateDescribeSnapshotsRequest()
			req.RegionId = region
			req.PageNumber = requests.NewInteger(page)
			req.PageSize = requests.NewInteger(100)
			if len(ids) > 0 {
				b, _ := json.Marshal(ids) // a JSON array in a string, like InstanceIds
				req.SnapshotIds = string(b)
			}
			req.Tag = sdkTags(q.Tags, func(k, v string) ecs.DescribeSnapshotsTag { return ecs.DescribeSnapshotsTag{Key: k, Value: v} })
			resp := &describeSnapshotsResponse{BaseResponse: &responses.BaseResponse{}} // slim.go
			resp.Snapshots.Snapshot = reuse(buf)
			if err := c.DoAction(req, resp); err != nil {
				return nil, wrap(op, strings.Join(ids, ","), region, err)
			}
			buf = resp.Snapshots.Snapshot
			for i := range resp.Snapshots.Snapshot {
				snap := resp.Snapshots.Snapshot[i].snapshot(region, in)
				if q.Keep == nil || q.Keep(snap) {
					out = append(out, snap)
				}
			}
			n += len(resp.Snapshots.Snapshot)
			if len(resp.Snapshots.Snapshot) == 0 || n >= resp.TotalCount {
				break
			}
		}
	}
	return out, nil
}

func (a *sdkAPI) TagResources(ctx context.Context, region, resourceType string, ids []string, tags map[string]string) error {
	const op = "TagResources"
	if len(ids) == 0 || len(tags) == 0 {
		return &Error{Op: op, Region: region, Err: errors.New("resource ids and tags are required")}
	}
	if err := checkTags(tags); err != nil {
		return &Error{Op: op, Region: region, Err: err}
	}
	c, release, err := a.prepare(ctx, region)
	if err != nil {
		return &Error{Op: op, Region: region, Err: err}
	}
	defer release()
	for _, batch := range chunks(ids, tagBatch) {
		if err := a.pace(ctx, region, op); err != nil {
			return &Error{Op: op, Region: region, Err: err}
		}
		req := ecs.CreateTagResourcesRequest()
		req.RegionId = region
		req.ResourceType = resourceType
		b := append([]string(nil), batch...)
		req.ResourceId = &b
		req.Tag = sdkTags(tags, func(k, v string) ecs.TagResourcesTag { return ecs.TagResourcesTag{Key: k, Value: v} })
		if _, err := c.TagResources(req); err != nil {
			return wrap(op, strings.Join(batch, ","), region, err)
		}
	}
	return nil
}

func (a *sdkAPI) UntagResources(ctx context.Context, region, resourceType string, ids []string, keys []string) error {
	const op = "UntagResources"
	if len(ids) == 0 || len(keys) == 0 {
		return &Error{Op: op, Region: region, Err: errors.New("resource ids and tag keys are required")}
	}
	if len(keys) > 20 {
		return &Error{Op: op, Region: region, Err: fmt.Errorf("%d tag keys, at most 20", len(keys))}
	}
	c, release, err := a.prepare(ctx, region)
	if err != nil {
		return &Error{Op: op, Region: region, Err: err}
	}
	defer release()
	for _, batch := range chunks(ids, tagBatch) {
		if err := a.pace(ctx, region, op); err != nil {
			return &Error{Op: op, Region: region, Err: err}
		}
		req := ecs.CreateUntagResourcesRequest()
		req.RegionId = region
		req.ResourceType = resourceType
		b := append([]string(nil), batch...)
		req.ResourceId = &b
		k := append([]string(nil), keys...)
		req.TagKey = &k
		if _, err := c.UntagResources(req); err != nil {
			return wrap(op, strings.Join(batch, ","), region, err)
		}
	}
	return nil
}

func (r *retryAPI) DescribeSnapshots(ctx context.Context, region string, q SnapshotQuery) (out []Snapshot, err error) {
	err = r.do(ctx, IsRetryable, func() (e error) { out, e = r.next.DescribeSnapshots(ctx, region, q); return })
	return out, err
}

// TagResources is idempotent (setting a tag twice is a no-op), so every retryable error
// is retried.
func (r *retryAPI) TagResources(ctx context.Context, region, resourceType string, ids []string, tags map[string]string) error {
	return r.do(ctx, IsRetryable, func() error { return r.next.TagResources(ctx, region, resourceType, ids, tags) })
}

// UntagResources is idempotent (removing a tag that is gone is a no-op), so every
// retryable error is retried.
func (r *retryAPI) UntagResources(ctx context.Context, region, resourceType string, ids []string, keys []string) error {
	return r.do(ctx, IsRetryable, func() error { return r.next.UntagResources(ctx, region, resourceType, ids, keys) })
}
