package offsite

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/crc64"
	"io"
	"strconv"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
)

// Check is the result of reading an offsite copy back.
type Check struct {
	Manifest Manifest
	// Read: bytes read back and their CRC-64.
	Read  int64
	CRC64 uint64
	// Problems: every way the copy differs from its manifest (empty: verified).
	Problems []string
}

// OK reports a copy that reads back exactly as its manifest says.
func (c Check) OK() bool { return len(c.Problems) == 0 }

// Verify reads the copy a manifest describes back from the bucket, streaming (constant
// memory), and checks it against the manifest: size, CRC-64 of the bytes read, OSS's
// stored CRC, and the lineage metadata. A backup that cannot be read back is not a backup.
func Verify(ctx context.Context, s ossx.Multipart, bucket, manifestKey string) (Check, error) {
	data, _, err := s.Get(ctx, bucket, manifestKey)
	if err != nil {
		return Check{}, fmt.Errorf("offsite verify: manifest %s: %w", manifestKey, err)
	}
	var c Check
	if err := json.Unmarshal(data, &c.Manifest); err != nil || c.Manifest.Key == "" {
		return Check{}, fmt.Errorf("offsite verify: manifest %s does not parse: %v", manifestKey, err)
	}
	c.Manifest.ManifestKey = manifestKey
	m := c.Manifest
	meta, err := s.Head(ctx, bucket, m.Key)
	if err != nil {
		return c, fmt.Errorf("offsite verify: object %s: %w", m.Key, err)
	}
	body, err := s.Open(ctx, bucket, m.Key, 0)
	if err != nil {
		return c, fmt.Errorf("offsite verify: object %s: %w", m.Key, err)
	}
	defer body.Close()
	h := crc64.New(crcTable)
	c.Read, err = io.Copy(h, body)
	if err != nil {
		return c, fmt.Errorf("offsite verify: read %s: %w", m.Key, err)
	}
	c.CRC64 = h.Sum64()
	want, perr := strconv.ParseUint(m.CRC64, 10, 64)
	add := func(format string, a ...any) { c.Problems = append(c.Problems, fmt.Sprintf(format, a...)) }
	if perr != nil {
		add("manifest crc64 %q is not a number", m.CRC64)
	}
	if c.Read != m.Size {
		add("read %d bytes, manifest says %d", c.Read, m.Size)
	}
	if perr == nil && c.CRC64 != want {
		add("bytes read have crc64 %d, manifest says %d", c.CRC64, want)
	}
	if !meta.HasCRC || meta.CRC64 != want {
		add("OSS reports crc64 %d (present: %v), manifest says %s", meta.CRC64, meta.HasCRC, m.CRC64)
	}
	for k, v := range map[string]string{"rds-instance": m.Instance, "rds-backup-id": m.BackupID, "rds-kind": m.Kind} {
		if meta.Metadata[k] != v {
			add("object metadata %s = %q, manifest says %q", k, meta.Metadata[k], v)
		}
	}
	return c, nil
}
