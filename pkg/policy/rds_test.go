package policy

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

const rdsYAML = validYAML + `rds:
  sources:
    - region: cn-hangzhou
      instanceIds: [rm-bp1aaaa, pgm-bp1bbbb]
      selectors:
        - {env: prod}
  destination:
    region: cn-shanghai
    bucket: prod-rds-offsite
    prefix: db/
    encryption: {sse: KMS, kmsKeyId: key-9}
  backups: {logs: true}
  retention: {keepLast: 3, weekly: 4}
  partSizeMiB: 32
`

func TestRDSSectionParses(t *testing.T) {
	t.Parallel()
	p := mustParse(t, rdsYAML)
	r := p.RDS
	if r == nil || len(r.Sources) != 1 || r.Sources[0].InstanceIDs[1] != "pgm-bp1bbbb" || r.Destination.Encryption.KMSKeyID != "key-9" {
		t.Fatalf("rds section: %+v", r)
	}
	if !r.Backups.CopyFull() || !r.Backups.Logs || r.PartSize() != 32<<20 || r.Destination.KeyPrefix() != "db/" {
		t.Fatalf("rds defaults: full=%v logs=%v part=%d prefix=%q", r.Backups.CopyFull(), r.Backups.Logs, r.PartSize(), r.Destination.KeyPrefix())
	}
	noRDS := mustParse(t, validYAML)
	if noRDS.RDS != nil {
		t.Fatal("a policy without rds has an rds section")
	}
}

func TestRDSSectionProblemsNameTheirFields(t *testing.T) {
	t.Parallel()
	doc := validYAML + `rds:
  sources:
    - region: cn-hangzhou
      instanceIds: [i-notadb, rm-bp1aaaa, rm-bp1aaaa]
      selectors: [{env: "*"}, {}]
    - region: cn-hangzhou
  destination:
    region: cn-hangzhou
    bucket: Bad_Bucket
    prefix: /abs
    encryption: {sse: AES256, kmsKeyId: k}
  backups: {full: false}
  retention: {}
  partSizeMiB: 4096
  unknownKnob: 1
`
	_, err := Parse([]byte(doc))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want a ValidationError, got %v", err)
	}
	var fields []string
	for _, p := range ve.Problems {
		fields = append(fields, p.Field)
	}
	for _, want := range []string{
		"rds.unknownKnob",
	} {
		if !slices.Contains(fields, want) {
			t.Errorf("missing problem for %s in %v", want, fields)
		}
	}
	if t.Failed() {
		return
	}
	// Unknown fields stop parsing before validation; without the unknown field every
	// value problem is listed with its path.
	_, err = Parse([]byte(strings.Replace(doc, "  unknownKnob: 1\n", "", 1)))
	if !errors.As(err, &ve) {
		t.Fatalf("want a ValidationError, got %v", err)
	}
	fields = fields[:0]
	for _, p := range ve.Problems {
		fields = append(fields, p.Field)
	}
	for _, want := range []string{
		"rds.sources[0].instanceIds[0]", "rds.sources[0].instanceIds[2]", "rds.sources[0].selectors[0].env",
		"rds.sources[0].selectors[1]", "rds.sources[1]", "rds.sources[1].region", "rds.destination.region",
		"rds.destination.bucket", "rds.destination.prefix", "rds.destination.encryption.kmsKeyId",
		"rds.backups", "rds.retention", "rds.partSizeMiB",
	} {
		if !slices.Contains(fields, want) {
			t.Errorf("missing problem for %s in %v", want, fields)
		}
	}
}
