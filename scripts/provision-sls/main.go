// Command provision-sls creates, idempotently, the SLS resources of ECS image disaster
// recovery: the logstore, its index, a dashboard and an alert on failed operations.
// A second run changes nothing and reports every resource as "exists".
//
// Credentials come from the environment only (ALIBABA_CLOUD_ACCESS_KEY_ID,
// ALIBABA_CLOUD_ACCESS_KEY_SECRET, optional ALIBABA_CLOUD_SECURITY_TOKEN).
//
//	provision-sls -project my-logs -logstore ecs-image-dr -region cn-hangzhou
//	provision-sls -local 127.0.0.1:8080 -project dr -create-project   # the local cloud
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	sls "github.com/aliyun/aliyun-log-go-sdk"

	localsls "github.com/ecsdr/ecs-image-dr/pkg/localcloud/sls"
	"github.com/ecsdr/ecs-image-dr/pkg/obs"
)

func main() {
	if err := run(os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "provision-sls:", err)
		os.Exit(1)
	}
}

func run(args []string, getenv func(string) string, out io.Writer) error {
	fs := flag.NewFlagSet("provision-sls", flag.ContinueOnError)
	fs.SetOutput(out)
	endpoint := fs.String("endpoint", "", "SLS endpoint host (default {region}.log.aliyuncs.com; "+localsls.SDKEndpoint+" with -local)")
	project := fs.String("project", "", "SLS project (required)")
	logstore := fs.String("logstore", "ecs-image-dr", "logstore the functions write to")
	region := fs.String("region", "cn-hangzhou", "region of the project")
	local := fs.String("local", "", "host:port of the local cloud to dial instead of the endpoint")
	createProject := fs.Bool("create-project", false, "create the project when it does not exist")
	ttl := fs.Int("ttl", 90, "retention of a new logstore, in days")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *project == "" {
		return errors.New("-project is required")
	}
	ak, sk := getenv("ALIBABA_CLOUD_ACCESS_KEY_ID"), getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
	if ak == "" || sk == "" {
		return errors.New("ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET must be set")
	}
	ep := *endpoint
	if ep == "" {
		ep = *region + ".log.aliyuncs.com"
		if *local != "" {
			ep = localsls.SDKEndpoint
		}
	}
	c := sls.CreateNormalInterfaceV2(ep, sls.NewStaticCredentialsProvider(ak, sk, getenv("ALIBABA_CLOUD_SECURITY_TOKEN")))
	c.SetRetryTimeout(10 * time.Second)
	if *local != "" {
		c.SetHTTPClient(localsls.DialClient(*local))
	}
	steps, err := obs.Provision(c, obs.ProvisionConfig{
		Project: *project, Logstore: *logstore, Region: *region, TTLDays: *ttl, CreateProject: *createProject,
	})
	for _, s := range steps {
		fmt.Fprintln(out, s)
	}
	return err
}
