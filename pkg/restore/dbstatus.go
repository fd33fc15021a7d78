package restore

import (
	"context"
	"fmt"

	"github.com/ecsdr/ecs-image-dr/pkg/catalog"
)

// Pair kinds: what a PairStatus protects.
const (
	KindInstance = "instance" // an ECS instance; its copies are images
	KindDatabase = "database" // an RDS instance; its copies are offsite backup files
)

// DatabaseCatalog is the optional part of a Catalog that holds the offsite database
// backups (rds-offsite's entries). OSSCatalog implements it.
type DatabaseCatalog interface {
	Databases(ctx context.Context, region string) ([]catalog.DatabaseEntry, error)
}

// Databases implements DatabaseCatalog.
func (c OSSCatalog) Databases(ctx context.Context, region string) ([]catalog.DatabaseEntry, error) {
	s, b, err := c.open(region)
	if err != nil {
		return nil, err
	}
	return catalog.ReadDatabases(ctx, s, b, c.Policy.Name)
}

// addDatabasePairs appends one pair per (DB instance, DR region) from the catalog of the
// rds section's destination region: the newest verified offsite backup, its data time and
// its age now (the database's RPO now) against the policy's rpoTarget. A DB pair older
// than the target is stale and counts in Missed like an instance pair. Only DB instances
// the catalog knows are listed (the view does not call RDS).
func (d Deps) addDatabasePairs(ctx context.Context, st *Status) {
	if d.Policy.RDS == nil {
		return
	}
	dc, ok := d.Catalog.(DatabaseCatalog)
	if !ok {
		return
	}
	region := d.Policy.RDS.Destination.Region
	dbs, err := dc.Databases(ctx, region)
	if err != nil {
		st.Warnings = append(st.Warnings, fmt.Sprintf("database entries of %s: %v", region, err))
	}
	target := d.Policy.RPO()
	for _, e := range dbs {
		if e.Region != region {
			continue
		}
		age := st.At.Sub(e.DataTime)
		p := PairStatus{Kind: KindDatabase, InstanceID: e.InstanceID, SourceRegion: e.SourceRegion, Region: e.Region,
			BackupID: e.BackupID, Object: e.Key, DataTime: e.DataTime, AgeSeconds: age.Seconds(), State: StateOK}
		if target > 0 && age > target {
			p.State = StateStale
			p.Problems = append(p.Problems, fmt.Sprintf("stale: newest offsite backup's data is %s old, over the %s target", fmtAge(age), fmtAge(target)))
		}
		if p.State != StateOK {
			st.Missed++
		}
		st.Pairs = append(st.Pairs, p)
	}
}
