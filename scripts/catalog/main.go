// Command catalog prints the DR catalog of a policy: per instance and region, the newest
// restorable image.
//
//	ALIBABA_CLOUD_ACCESS_KEY_ID=… ALIBABA_CLOUD_ACCESS_KEY_SECRET=… \
//	  go run ./scripts/catalog -endpoint https://oss-cn-shanghai.aliyuncs.com \
//	  -bucket prod-dr-catalog-cn-shanghai -policy prod
//
// ALIBABA_CLOUD_SECURITY_TOKEN is used when set (STS credentials). Against the local cloud
// use -endpoint http://127.0.0.1:8787 and its well-known test keys.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/catalog"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr, time.Now); err != nil {
		fmt.Fprintln(os.Stderr, "catalog:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, now func() time.Time) error {
	fs := flag.NewFlagSet("catalog", flag.ContinueOnError)
	fs.SetOutput(stderr)
	endpoint := fs.String("endpoint", "", "OSS endpoint, e.g. https://oss-cn-shanghai.aliyuncs.com or http://127.0.0.1:8787")
	bucket := fs.String("bucket", "", "catalog bucket (default name: <policy>-dr-catalog-<region>)")
	pol := fs.String("policy", "", "policy name")
	timeout := fs.Duration("timeout", time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for name, v := range map[string]string{"-endpoint": *endpoint, "-bucket": *bucket, "-policy": *pol} {
		if v == "" {
			return fmt.Errorf("%s is required", name)
		}
	}
	ak, sk := getenv("ALIBABA_CLOUD_ACCESS_KEY_ID"), getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
	if ak == "" || sk == "" {
		return errors.New("set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET")
	}
	store, err := ossx.New(*endpoint, ak, sk, getenv("ALIBABA_CLOUD_SECURITY_TOKEN"))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	entries, err := catalog.Read(ctx, store, *bucket, *pol)
	var corrupt *catalog.CorruptError
	if errors.As(err, &corrupt) {
		// Still worth showing: these are the entries of the newest readable generation.
		fmt.Fprintln(stderr, "warning:", err)
	} else if err != nil {
		return err
	}
	catalog.PrintTable(stdout, entries, now())
	return nil
}
