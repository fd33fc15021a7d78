// Command offsite-verify reads RDS backups back from the DR bucket and checks each
// against its manifest (size, CRC-64 of the bytes read, OSS's stored CRC-64, lineage
// metadata): a backup that cannot be read back is not a backup. It streams, so any size
// verifies in constant memory.
//
//	go run ./scripts/offsite-verify -region cn-shanghai -bucket my-rds-dr \
//	    [-prefix rds/] [-instance rm-xxx] [-all] [-manifest KEY] [-endpoint URL]
//
// Without -manifest it verifies, per DB instance under the prefix (or only -instance), the
// newest full backup (-all: every manifest). Credentials come from ALIBABA_CLOUD_ACCESS_KEY_ID,
// ALIBABA_CLOUD_ACCESS_KEY_SECRET and ALIBABA_CLOUD_SECURITY_TOKEN. Exit status 1 when a
// copy does not verify.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
	"github.com/ecsdr/ecs-image-dr/pkg/offsite"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "offsite-verify:", err)
		os.Exit(1)
	}
}

var errUnverified = errors.New("some copies do not verify")

func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	fs := flag.NewFlagSet("offsite-verify", flag.ContinueOnError)
	fs.SetOutput(out)
	region := fs.String("region", "", "DR region of the bucket (required unless -endpoint)")
	bucket := fs.String("bucket", "", "DR bucket (rds.destination.bucket)")
	prefix := fs.String("prefix", "rds/", "rds.destination.prefix")
	instance := fs.String("instance", "", "only this DB instance")
	all := fs.Bool("all", false, "verify every manifest, not only each instance's newest full backup")
	manifest := fs.String("manifest", "", "verify this manifest key only")
	endpoint := fs.String("endpoint", getenv("DR_OSS_ENDPOINT"), "OSS endpoint URL ({region} is replaced; default https://oss-{region}.aliyuncs.com)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *bucket == "" || (*region == "" && *endpoint == "") {
		return errors.New("-bucket and -region (or -endpoint) are required")
	}
	ep := *endpoint
	if ep == "" {
		ep = "https://oss-{region}.aliyuncs.com"
	}
	ep = strings.ReplaceAll(ep, "{region}", *region)
	s, err := ossx.NewMultipart(ep, getenv("ALIBABA_CLOUD_ACCESS_KEY_ID"), getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET"), getenv("ALIBABA_CLOUD_SECURITY_TOKEN"))
	if err != nil {
		return err
	}
	var keys []string
	if *manifest != "" {
		keys = []string{*manifest}
	} else {
		ms, err := offsite.ReadManifests(ctx, s, *bucket, *prefix, nil)
		if err != nil {
			return err
		}
		newest := map[string]offsite.Manifest{}
		for _, m := range ms {
			if *instance != "" && m.Instance != *instance {
				continue
			}
			if *all {
				keys = append(keys, m.ManifestKey)
				continue
			}
			k := m.Region + "/" + m.Instance
			if cur, ok := newest[k]; m.Kind == "full" && (!ok || m.DataTime.After(cur.DataTime)) {
				newest[k] = m
			}
		}
		for _, m := range newest {
			keys = append(keys, m.ManifestKey)
		}
		slices.Sort(keys)
		if len(keys) == 0 {
			return fmt.Errorf("no manifest under %s/%s", *bucket, *prefix)
		}
	}
	bad := 0
	for _, k := range keys {
		c, err := offsite.Verify(ctx, s, *bucket, k)
		if err != nil {
			bad++
			fmt.Fprintf(out, "FAIL %s: %v\n", k, err)
			continue
		}
		m := c.Manifest
		if !c.OK() {
			bad++
			fmt.Fprintf(out, "FAIL %s %s %s (%s): %s\n", m.Instance, m.Kind, m.BackupID, m.Key, strings.Join(c.Problems, "; "))
			continue
		}
		fmt.Fprintf(out, "ok   %s %s %s data %s: %d bytes, crc64 %d = manifest, OSS and lineage agree (%s)\n",
			m.Instance, m.Kind, m.BackupID, m.DataTime.Format("2006-01-02T15:04:05Z"), c.Read, c.CRC64, m.Key)
	}
	if bad > 0 {
		return fmt.Errorf("%w: %d of %d", errUnverified, bad, len(keys))
	}
	return nil
}
