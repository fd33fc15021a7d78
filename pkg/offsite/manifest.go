package offsite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/rdsx"
)

// Layout in the DR bucket, under the policy's prefix (default "rds/"):
//
//	<prefix><region>/<instance>/<kind>/<data time 20060102T150405Z>-<id>            the file
//	<prefix><region>/<instance>/manifests/<kind>/<data time>-<id>.json               its manifest
//
// A manifest is written only after the file was verified; it is the proof that the file
// is a backup, and what scripts/offsite-verify checks a download against.

// Manifest describes one verified offsite copy.
type Manifest struct {
	Schema        int       `json:"schema"`
	Policy        string    `json:"policy"`
	Kind          string    `json:"kind"` // full or log
	Instance      string    `json:"instance"`
	Region        string    `json:"region"` // the DB instance's region
	Engine        string    `json:"engine"`
	EngineVersion string    `json:"engineVersion,omitempty"`
	Method        string    `json:"method"`
	BackupID      string    `json:"backupId"` // backup id, or log file name
	BackupStart   time.Time `json:"backupStart"`
	DataTime      time.Time `json:"dataTime"`
	Size          int64     `json:"size"`
	// CRC64 is the file's CRC-64/ECMA as decimal: RDS's Checksum, equal to OSS's CRC of
	// the stored object.
	CRC64    string    `json:"crc64"`
	Bucket   string    `json:"bucket"`
	Key      string    `json:"key"`
	ETag     string    `json:"etag"`
	SSE      string    `json:"sse,omitempty"`
	CopiedAt time.Time `json:"copiedAt"`
	// ManifestKey is where this manifest lives (not stored).
	ManifestKey string `json:"-"`
}

const keyTime = "20060102T150405Z"

var unsafe = regexp.MustCompile(`[^A-Za-z0-9._-]`)

func safe(s string) string { return unsafe.ReplaceAllString(s, "_") }

func manifestID(f rdsx.File) string { return f.Kind + "/" + f.ID }

func (r *run) instancePrefix(region, instance string) string {
	return r.prefix + safe(region) + "/" + safe(instance) + "/"
}

func (r *run) dataKey(f rdsx.File) string {
	return r.instancePrefix(f.Region, f.InstanceID) + f.Kind + "/" + f.DataTime.UTC().Format(keyTime) + "-" + safe(f.ID)
}

func (r *run) manifestKey(f rdsx.File) string {
	return r.instancePrefix(f.Region, f.InstanceID) + "manifests/" + f.Kind + "/" + f.DataTime.UTC().Format(keyTime) + "-" + safe(f.ID) + ".json"
}

// manifests lists and reads the manifests of one instance. An unreadable manifest is
// ignored (its file is copied again and the manifest rewritten).
func (r *run) manifests(ctx context.Context, in rdsx.Instance) ([]Manifest, error) {
	return ReadManifests(ctx, r.Store, r.bucket, r.instancePrefix(in.Region, in.ID)+"manifests/", r.log)
}

// ReadManifests reads every manifest under prefix (scripts/offsite-verify uses it too).
func ReadManifests(ctx context.Context, s ossx.Store, bucket, prefix string, log interface {
	Warn(string, ...any)
}) ([]Manifest, error) {
	objs, err := s.List(ctx, bucket, prefix)
	if err != nil {
		return nil, err
	}
	var out []Manifest
	for _, o := range objs {
		if !strings.HasSuffix(o.Key, ".json") {
			continue
		}
		data, _, err := s.Get(ctx, bucket, o.Key)
		if errors.Is(err, ossx.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var m Manifest
		if err := json.Unmarshal(data, &m); err != nil || m.Schema != 1 || m.Key == "" || m.BackupID == "" {
			if log != nil {
				log.Warn("offsite: unreadable manifest ignored", "key", o.Key, "error", fmt.Sprint(err))
			}
			continue
		}
		m.ManifestKey = o.Key
		out = append(out, m)
	}
	return out, nil
}

func (r *run) writeManifest(ctx context.Context, f rdsx.File, meta ossx.Meta, copiedAt time.Time) (*Manifest, error) {
	m := Manifest{Schema: 1, Policy: r.Policy.Name, Kind: f.Kind, Instance: f.InstanceID, Region: f.Region, Engine: f.Engine,
		EngineVersion: f.EngineVersion, Method: f.Method, BackupID: f.ID, BackupStart: f.Start.UTC(), DataTime: f.DataTime.UTC(),
		Size: meta.Size, CRC64: strconv.FormatUint(meta.CRC64, 10), Bucket: r.bucket, Key: r.dataKey(f), ETag: meta.ETag,
		SSE: meta.SSE, CopiedAt: copiedAt.UTC(), ManifestKey: r.manifestKey(f)}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if _, err := r.Store.Put(ctx, r.bucket, m.ManifestKey, data, ossx.PutOptions{ContentType: "application/json"}); err != nil {
		return nil, err
	}
	return &m, nil
}

// lineage is the object metadata of a copy.
func (r *run) lineage(f rdsx.File) map[string]string {
	md := map[string]string{
		"rds-instance":      f.InstanceID,
		"rds-source-region": f.Region,
		"rds-backup-id":     f.ID,
		"rds-backup-time":   f.DataTime.UTC().Format(time.RFC3339),
		"rds-engine":        f.Engine + " " + f.EngineVersion,
		"rds-method":        f.Method,
		"rds-kind":          f.Kind,
		"dr-policy":         r.Policy.Name,
	}
	if f.HasChecksum {
		md["rds-checksum"] = strconv.FormatUint(f.Checksum, 10)
	}
	return md
}
