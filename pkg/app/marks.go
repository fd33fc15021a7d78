package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/backup"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// ossMarks keeps backup.Marks as small objects in the catalog bucket of the policy's first
// destination region, under state/<policy>/: one listing reads them all. A store that
// cannot be reached makes the runs list in full (slower, never wrong).
type ossMarks struct {
	store func(region string) (ossx.Store, error)
	pol   *policy.Policy
	now   func() time.Time
}

func (m *ossMarks) where() (ossx.Store, string, error) {
	if len(m.pol.Destinations) == 0 {
		return nil, "", errors.New("marks: the policy has no destination region")
	}
	region := m.pol.Destinations[0].Region
	s, err := m.store(region)
	if err != nil {
		return nil, "", fmt.Errorf("marks %s: %w", region, err)
	}
	return s, m.pol.CatalogBucket(region), nil
}

func marksRoot(pol string) string { return "state/" + pol + "/" }

func (m *ossMarks) Marked(ctx context.Context, pol, prefix string) (map[string]bool, error) {
	s, bucket, err := m.where()
	if err != nil {
		return nil, err
	}
	objs, err := s.List(ctx, bucket, marksRoot(pol)+prefix)
	if err != nil {
		return nil, fmt.Errorf("marks: list %s: %w", bucket, err)
	}
	out := make(map[string]bool, len(objs))
	for _, o := range objs {
		out[strings.TrimPrefix(o.Key, marksRoot(pol))] = true
	}
	return out, nil
}

func (m *ossMarks) Mark(ctx context.Context, pol, key string) error {
	s, bucket, err := m.where()
	if err != nil {
		return err
	}
	body := fmt.Appendf(nil, "{\"marked\":%q}\n", m.now().UTC().Format(time.RFC3339))
	if _, err := s.Put(ctx, bucket, marksRoot(pol)+key, body, ossx.PutOptions{ContentType: "application/json"}); err != nil {
		return fmt.Errorf("marks: put %s: %w", bucket, err)
	}
	return nil
}

// MarkBucketsTagged sets, in store (the catalog bucket of the policy's first destination
// region), the marks saying every shard bucket of regions is wholly tagged, as a full
// listing would: for an account seeded with images that all carry their bucket (the
// bench's fleet), so that its shard runs list by tag from the start.
func MarkBucketsTagged(ctx context.Context, store ossx.Store, pol *policy.Policy, regions []string, now time.Time) error {
	m := &ossMarks{store: func(string) (ossx.Store, error) { return store, nil }, pol: pol, now: func() time.Time { return now }}
	for _, r := range regions {
		for _, k := range backup.BucketMarkKeys(r) {
			if err := m.Mark(ctx, pol.Name, k); err != nil {
				return err
			}
		}
	}
	return nil
}
