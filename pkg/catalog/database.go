package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
)

// DatabaseEntry is the newest restorable backup of one database instance in one region
// (rds-offsite writes it). It is stored as its own object kind, KindDatabase, with the same
// layout and the same newest-by-data-age rule as images (see the package's storage notes):
// one object per (policy, DB instance, region) under
//
//	catalog/<policy>/v2/databases/<db instance>/<region>/<data time>-<backup id>.json
//
// written with PutDatabase (putNewest) and read with ReadDatabases.
//
// Region is the DR region holding the offsite copy (the catalog's region); SourceRegion
// is the DB instance's. Only verified copies are entered (size and CRC-64 checked against
// RDS's checksum and OSS's CRC of the stored object): an entry is a restorable backup.
type DatabaseEntry struct {
	Policy        string `json:"policy"`
	InstanceID    string `json:"instanceId"`
	Region        string `json:"region"`
	SourceRegion  string `json:"sourceRegion"`
	Engine        string `json:"engine"`
	EngineVersion string `json:"engineVersion,omitempty"`
	BackupID      string `json:"backupId"`
	Method        string `json:"method"` // Physical
	Bucket        string `json:"bucket"`
	Key           string `json:"key"`
	Manifest      string `json:"manifest"`
	Size          int64  `json:"size"`
	CRC64         string `json:"crc64"`
	// DataTime: when the backup's data was captured (its consistent time).
	DataTime time.Time `json:"dataTime"`
	// LogsUntil: the end of the newest log backup copied offsite after DataTime (zero
	// without log copies); a point-in-time restore reaches up to it.
	LogsUntil time.Time `json:"logsUntil,omitzero"`
	// CopiedAt: when the copy was verified; RPOSeconds = CopiedAt − DataTime (or
	// LogsUntil when later), the achieved recovery point at that time.
	CopiedAt   time.Time `json:"copiedAt"`
	RPOSeconds int64     `json:"rpoSeconds"`
}

func (e DatabaseEntry) validate(policy string) error {
	switch {
	case e.Policy != "" && e.Policy != policy:
		return fmt.Errorf("catalog: database entry policy %q, want %q", e.Policy, policy)
	case !segmentRE.MatchString(e.InstanceID), !segmentRE.MatchString(e.Region), !segmentRE.MatchString(e.BackupID):
		return fmt.Errorf("catalog: database entry %q/%q/%q: instance, region and backup id must be 1-128 of A-Za-z0-9._:-", e.InstanceID, e.Region, e.BackupID)
	case e.DataTime.IsZero():
		return fmt.Errorf("catalog: database entry %s: dataTime is zero", e.InstanceID)
	}
	return nil
}

func dbRef(e DatabaseEntry) ref {
	return ref{group: group{e.InstanceID, e.Region}, dataTime: e.DataTime.UTC(), id: e.BackupID}
}

// PutDatabase records the newest verified offsite backup of a DB instance. Nothing is
// written if the catalog holds newer data for it; the same backup is refreshed (LogsUntil
// and RPO move as logs are copied). It reports whether it wrote.
func (w *Writer) PutDatabase(ctx context.Context, policy string, e DatabaseEntry) (bool, error) {
	if err := validatePolicy(policy); err != nil {
		return false, err
	}
	if err := e.validate(policy); err != nil {
		return false, err
	}
	e.Policy = policy
	r := dbRef(e)
	r.key = objectKey(policy, KindDatabase, r)
	body, err := json.Marshal(object{Schema: schemaVersion, Policy: policy, Database: &e})
	if err != nil {
		return false, fmt.Errorf("catalog: encode database %s: %w", e.InstanceID, err)
	}
	wrote, err := putNewest(ctx, w.store, w.bucket, policy, KindDatabase, r, body, func(old []byte) ([]byte, bool, error) {
		var o object
		if json.Unmarshal(old, &o) != nil || o.Database == nil {
			return body, true, nil
		}
		if o.Database.LogsUntil.Equal(e.LogsUntil) && o.Database.Key == e.Key {
			return nil, false, nil
		}
		return body, true, nil
	})
	if err != nil {
		return false, fmt.Errorf("catalog: put database %s/%s: %w", e.InstanceID, e.Region, err)
	}
	return wrote, nil
}

// ReadDatabases returns the newest parsable database entry of every DB instance and
// region in the bucket, by instance and region.
func ReadDatabases(ctx context.Context, s ossx.Store, bucket, policy string) ([]DatabaseEntry, error) {
	if err := validatePolicy(policy); err != nil {
		return nil, err
	}
	groups, err := listRefs(ctx, s, bucket, policy, KindDatabase, nil)
	if err != nil {
		return nil, fmt.Errorf("catalog: read databases %s: %w", policy, err)
	}
	var out []DatabaseEntry
	var bad []corruptObject
	for _, refs := range groups {
		for _, r := range ranked(refs) {
			data, _, err := s.Get(ctx, bucket, r.key)
			if errors.Is(err, ossx.ErrNotFound) {
				continue // superseded since the listing
			}
			if err != nil {
				return nil, fmt.Errorf("catalog: read databases %s: %w", policy, err)
			}
			var o object
			if err := json.Unmarshal(data, &o); err != nil || o.Database == nil || o.Policy != policy {
				if err == nil {
					err = errors.New("no database entry of this policy")
				}
				bad = append(bad, corruptObject{key: r.key, err: err})
				continue
			}
			out = append(out, *o.Database)
			break
		}
	}
	slices.SortFunc(out, func(a, b DatabaseEntry) int {
		return strings.Compare(a.InstanceID+"/"+a.Region, b.InstanceID+"/"+b.Region)
	})
	if len(bad) > 0 {
		return out, corruptError(bucket, bad)
	}
	return out, nil
}
