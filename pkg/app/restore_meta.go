package app

import (
	"context"
	"fmt"

	"github.com/ecsdr/ecs-image-dr/pkg/catalog"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
)

// PutRestoreSpecs implements backup.RestoreMeta over the destination's catalog bucket.
func (c *catalogs) PutRestoreSpecs(ctx context.Context, destRegion, pol, sourceRegion string, specs []catalog.RestoreSpec) error {
	s, err := c.store(destRegion)
	if err != nil {
		return fmt.Errorf("restore metadata %s: %w", destRegion, err)
	}
	if _, err := catalog.PutRestoreSpecs(ctx, s, c.pol.CatalogBucket(destRegion), pol, sourceRegion, specs); err != nil {
		return fmt.Errorf("restore metadata %s: %w", destRegion, err)
	}
	return nil
}

// computeOf returns the restore-side port of the SDK adapter (nil for another API, which
// turns restore metadata off).
func computeOf(api ecsx.API) ecsx.Compute {
	c, _ := api.(ecsx.Compute)
	return c
}
