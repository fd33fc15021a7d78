package policy

import (
	"fmt"
	"regexp"
	"strings"
)

// RDS is the policy's database section: which ApsaraDB RDS instances have their backup
// files copied to an OSS bucket in the DR region (function rds-offsite), and what is kept
// there.
type RDS struct {
	// Sources: per source region, which DB instances. At least one; each region once.
	Sources []RDSSource `json:"sources" yaml:"sources"`
	// Destination is the DR region's bucket the backup files are copied to.
	Destination RDSDestination `json:"destination" yaml:"destination"`
	// Backups says which backups are copied.
	Backups RDSBackups `json:"backups,omitempty" yaml:"backups,omitempty"`
	// Retention of the offsite copies, per DB instance (the image rules: keepLast,
	// keepDays, daily, weekly, monthly; a union; the newest verified copy is always kept).
	// Log backups are kept as long as the oldest full backup kept needs them.
	Retention RetentionRule `json:"retention" yaml:"retention"`
	// PartSizeMiB is the multipart part size (default 16, 1..1024). Memory use of a copy is
	// about one part; OSS allows 10,000 parts, so the largest file copied is 10,000 parts.
	PartSizeMiB int `json:"partSizeMiB,omitempty" yaml:"partSizeMiB,omitempty"`
	// Intranet downloads from BackupIntranetDownloadURL (the function runs in the source
	// region's VPC); default false, the public URL.
	Intranet bool `json:"intranet,omitempty" yaml:"intranet,omitempty"`
}

// RDSSource selects DB instances of one region.
type RDSSource struct {
	// Region of the DB instances, e.g. "cn-hangzhou".
	Region string `json:"region" yaml:"region"`
	// InstanceIDs protected explicitly ("rm-…", "pgm-…").
	InstanceIDs []string `json:"instanceIds,omitempty" yaml:"instanceIds,omitempty"`
	// Selectors: a DB instance matching every tag of one selector is protected (RDS
	// DescribeDBInstances Tags filter; "*" is not supported there, so values are exact).
	Selectors []map[string]string `json:"selectors,omitempty" yaml:"selectors,omitempty"`
}

// RDSDestination is where the offsite copies go.
type RDSDestination struct {
	// Region of the bucket; never a source region.
	Region string `json:"region" yaml:"region"`
	// Bucket is an OSS bucket in Region (checked at run time: a bucket elsewhere is refused).
	Bucket string `json:"bucket" yaml:"bucket"`
	// Prefix of every object ("" or ending with '/'), default "rds/".
	Prefix string `json:"prefix,omitempty" yaml:"prefix,omitempty"`
	// Encryption of the objects (OSS server-side encryption).
	Encryption *RDSEncryption `json:"encryption,omitempty" yaml:"encryption,omitempty"`
}

// RDSEncryption is OSS server-side encryption of the copies.
type RDSEncryption struct {
	// SSE: AES256 (OSS-managed keys), KMS or SM4.
	SSE string `json:"sse" yaml:"sse"`
	// KMSKeyID: the KMS key (in the destination region) for SSE=KMS; empty means the
	// OSS default KMS key.
	KMSKeyID string `json:"kmsKeyId,omitempty" yaml:"kmsKeyId,omitempty"`
}

// RDSBackups says which backups are copied.
type RDSBackups struct {
	// Full copies full physical backups (default true; set false for logs only).
	Full *bool `json:"full,omitempty" yaml:"full,omitempty"`
	// Logs copies binlog / WAL backup files (MySQL, PostgreSQL, MariaDB).
	Logs bool `json:"logs,omitempty" yaml:"logs,omitempty"`
}

// CopyFull reports whether full backups are copied.
func (b RDSBackups) CopyFull() bool { return b.Full == nil || *b.Full }

// Defaults of the RDS section.
const (
	DefaultRDSPrefix      = "rds/"
	DefaultRDSPartSizeMiB = 16
	maxRDSPartSizeMiB     = 1024
)

// PartSize is the multipart part size in bytes.
func (r *RDS) PartSize() int64 {
	if r.PartSizeMiB == 0 {
		return DefaultRDSPartSizeMiB << 20
	}
	return int64(r.PartSizeMiB) << 20
}

// KeyPrefix is the destination prefix, defaulted.
func (d RDSDestination) KeyPrefix() string {
	if d.Prefix == "" {
		return DefaultRDSPrefix
	}
	return d.Prefix
}

var (
	rdsInstanceIDRe = regexp.MustCompile(`^[a-z]{2,4}-[A-Za-z0-9]{4,64}$`)
	prefixRe        = regexp.MustCompile(`^[A-Za-z0-9!_.*'()/-]*$`)
)

// validateRDS checks the rds section (nothing when absent).
func (p *Policy) validateRDS(v *validator) {
	r := p.RDS
	if r == nil {
		return
	}
	seen := map[string]int{}
	if len(r.Sources) == 0 {
		v.add("rds.sources", "at least one source region is required")
	}
	for i, s := range r.Sources {
		path := fmt.Sprintf("rds.sources[%d]", i)
		validateListedRegion(v, "rds.sources", i, s.Region, seen)
		if len(s.InstanceIDs) == 0 && len(s.Selectors) == 0 {
			v.add(path, "selects nothing (set instanceIds or selectors)")
		}
		dup := map[string]bool{}
		for j, id := range s.InstanceIDs {
			f := fmt.Sprintf("%s.instanceIds[%d]", path, j)
			switch {
			case !rdsInstanceIDRe.MatchString(id):
				v.add(f, "%q is not a DB instance id (rm-…, pgm-…)", id)
			case dup[id]:
				v.add(f, "%q is listed twice", id)
			}
			dup[id] = true
		}
		for j, sel := range s.Selectors {
			sp := fmt.Sprintf("%s.selectors[%d]", path, j)
			if len(sel) == 0 {
				v.add(sp, "selector has no tags (it would match every DB instance in the region)")
			}
			for _, k := range sortedKeys(sel) {
				switch {
				case k == "":
					v.add(sp, "tag key is empty")
				case sel[k] == "*":
					v.add(sp+"."+k, "\"*\" is not supported for DB instances: RDS filters on exact tag values")
				}
			}
		}
	}
	d := r.Destination
	switch {
	case d.Region == "":
		v.add("rds.destination.region", "is required")
	case !ValidRegion(d.Region):
		v.add("rds.destination.region", "%q is not a valid region id", d.Region)
	default:
		if _, src := seen[d.Region]; src {
			v.add("rds.destination.region", "%q is also a source region (a copy in the same region is no DR)", d.Region)
		}
	}
	if !bucketRe.MatchString(d.Bucket) {
		v.add("rds.destination.bucket", "%q is not a valid OSS bucket name (3-63 of a-z, 0-9, '-')", d.Bucket)
	}
	if d.Prefix != "" && (!strings.HasSuffix(d.Prefix, "/") || strings.HasPrefix(d.Prefix, "/") || !prefixRe.MatchString(d.Prefix) || len(d.Prefix) > 512) {
		v.add("rds.destination.prefix", "%q must end with '/', not start with '/', and use only letters, digits and !_.*'()/- (at most 512)", d.Prefix)
	}
	if e := d.Encryption; e != nil {
		switch e.SSE {
		case "AES256", "SM4":
			if e.KMSKeyID != "" {
				v.add("rds.destination.encryption.kmsKeyId", "only valid with sse: KMS")
			}
		case "KMS":
		default:
			v.add("rds.destination.encryption.sse", "%q is not AES256, KMS or SM4", e.SSE)
		}
	}
	if !r.Backups.CopyFull() && !r.Backups.Logs {
		v.add("rds.backups", "copies nothing (full: false and logs: false)")
	}
	validateRule(v, "rds.retention", r.Retention)
	if r.PartSizeMiB < 0 || r.PartSizeMiB > maxRDSPartSizeMiB {
		v.add("rds.partSizeMiB", "%d is out of range 1..%d", r.PartSizeMiB, maxRDSPartSizeMiB)
	}
}

// Source returns the selection of region.
func (r *RDS) Source(region string) (RDSSource, bool) {
	for _, s := range r.Sources {
		if s.Region == region {
			return s, true
		}
	}
	return RDSSource{}, false
}
