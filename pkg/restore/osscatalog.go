package restore

import (
	"context"
	"fmt"

	"github.com/ecsdr/ecs-image-dr/pkg/catalog"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// OSSCatalog is the Catalog over each DR region's catalog bucket.
type OSSCatalog struct {
	Policy *policy.Policy
	// Store returns the OSS client of a region (its endpoint).
	Store func(region string) (ossx.Store, error)
}

func (c OSSCatalog) open(region string) (ossx.Store, string, error) {
	s, err := c.Store(region)
	if err != nil {
		return nil, "", fmt.Errorf("catalog %s: %w", region, err)
	}
	return s, c.Policy.CatalogBucket(region), nil
}

// Index implements Catalog.
func (c OSSCatalog) Index(ctx context.Context, region string) ([]catalog.IndexEntry, error) {
	s, b, err := c.open(region)
	if err != nil {
		return nil, err
	}
	return catalog.Index(ctx, s, b, c.Policy.Name)
}

// Specs implements Catalog.
func (c OSSCatalog) Specs(ctx context.Context, region string) (map[string]catalog.RestoreSpec, error) {
	s, b, err := c.open(region)
	if err != nil {
		return nil, err
	}
	return catalog.ReadRestoreSpecs(ctx, s, b, c.Policy.Name)
}

// Drills implements Catalog.
func (c OSSCatalog) Drills(ctx context.Context, region string) (map[string]catalog.DrillRecord, error) {
	s, b, err := c.open(region)
	if err != nil {
		return nil, err
	}
	return catalog.ReadDrillRecords(ctx, s, b, c.Policy.Name)
}

// PutDrill implements Catalog.
func (c OSSCatalog) PutDrill(ctx context.Context, region string, r catalog.DrillRecord) error {
	s, b, err := c.open(region)
	if err != nil {
		return err
	}
	return catalog.PutDrillRecord(ctx, s, b, r)
}

// Sync implements backup.Catalog (drctl plan and tests run the backup services with it).
func (c OSSCatalog) Sync(ctx context.Context, region, pol string, entries []catalog.Entry, remove catalog.Scope) error {
	s, b, err := c.open(region)
	if err != nil {
		return err
	}
	return catalog.NewWriter(s, b, nil).SyncScope(ctx, pol, entries, remove)
}

// Put implements backup.Catalog.
func (c OSSCatalog) Put(ctx context.Context, region, pol string, e catalog.Entry) error {
	s, b, err := c.open(region)
	if err != nil {
		return err
	}
	_, err = catalog.NewWriter(s, b, nil).Put(ctx, pol, e)
	return err
}

// PutRestoreSpecs implements backup.RestoreMeta.
func (c OSSCatalog) PutRestoreSpecs(ctx context.Context, region, pol, sourceRegion string, specs []catalog.RestoreSpec) error {
	s, b, err := c.open(region)
	if err != nil {
		return err
	}
	_, err = catalog.PutRestoreSpecs(ctx, s, b, pol, sourceRegion, specs)
	return err
}
