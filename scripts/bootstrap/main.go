// Command bootstrap prepares an Alibaba Cloud account for the first `s deploy`, with the
// official SDKs and idempotently (a second run reports every step "exists"):
//
//   - the functions' RAM role (trusting fc.aliyuncs.com) and its custom policy, rendered
//     from scripts/ram-policy.json for the names below (a changed policy becomes a new
//     default version), attached to the role;
//   - the SLS project and logstore FC collects the functions' stdout into (s.yaml's
//     logConfig: FC refuses a logConfig whose project or logstore is missing), with the
//     JSON index, the dashboard and the alerts;
//   - the config bucket with the DR policy uploaded (s.yaml's default DR_POLICY), and the
//     catalog bucket of every destination region of that policy.
//
// Names default to unique ones per account (SLS project names are unique per region,
// bucket names globally). Credentials come from the environment only
// (ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET, optional
// ALIBABA_CLOUD_SECURITY_TOKEN), an administrator's, never the functions'.
//
//	go run ./scripts/bootstrap -account 1234567890123456 -region cn-hangzhou -policy events/policy.example.yaml
//	go run ./scripts/bootstrap -local 127.0.0.1:8080 -account 1234567890123456 -policy events/policy.example.yaml
//	go run ./scripts/bootstrap -account 1234567890123456 -policy p.yaml -print-policy   # the RAM policy only
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ram"
	sls "github.com/aliyun/aliyun-log-go-sdk"
	"github.com/aliyun/aliyun-oss-go-sdk/oss"

	"github.com/ecsdr/ecs-image-dr/pkg/bootstrap"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	localsls "github.com/ecsdr/ecs-image-dr/pkg/localcloud/sls"
)

func main() {
	if err := run(os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bootstrap:", err)
		os.Exit(1)
	}
}

func run(args []string, getenv func(string) string, out io.Writer) error {
	fs := flag.NewFlagSet("bootstrap", flag.ContinueOnError)
	fs.SetOutput(out)
	account := fs.String("account", getenv("ALIBABA_CLOUD_ACCOUNT_ID"), "account id (the names' suffix, the ARNs' account)")
	region := fs.String("region", "cn-hangzhou", "region of the functions, the SLS project and the config bucket")
	policyFile := fs.String("policy", "", "DR policy document to upload (YAML or JSON; required)")
	role := fs.String("role", "", "RAM role name (default ecs-image-dr-fc)")
	project := fs.String("sls-project", "", "SLS project (default ecs-image-dr-<account>)")
	logstore := fs.String("logstore", "", "SLS logstore (default ecs-image-dr)")
	configBucket := fs.String("config-bucket", "", "bucket of the DR policy (default ecs-image-dr-config-<account>)")
	action := fs.String("action-policy", "", "SLS alert action policy that notifies a person (DingTalk webhook, email, SMS; default ecs-image-dr-notify)")
	local := fs.String("local", "", "host:port of the local cloud instead of Alibaba Cloud")
	printPolicy := fs.Bool("print-policy", false, "print the rendered RAM policy and change nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *account == "" || *policyFile == "" {
		return errors.New("-account and -policy are required")
	}
	doc, err := os.ReadFile(*policyFile)
	if err != nil {
		return err
	}
	cfg := bootstrap.Defaults(*account, *region)
	cfg.PolicyTemplate, cfg.DRPolicy = bootstrap.PolicyTemplate, doc
	for dst, v := range map[*string]string{&cfg.RoleName: *role, &cfg.SLSProject: *project, &cfg.SLSLogstore: *logstore, &cfg.ConfigBucket: *configBucket} {
		if v != "" {
			*dst = v
		}
	}
	cfg.PolicyName = cfg.RoleName
	cfg.ActionPolicyID = *action
	if *printPolicy {
		b, err := cfg.PolicyDocument()
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(out, "%s\n", b)
		return err
	}
	ak, sk, token := getenv("ALIBABA_CLOUD_ACCESS_KEY_ID"), getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET"), getenv("ALIBABA_CLOUD_SECURITY_TOKEN")
	if ak == "" || sk == "" {
		return errors.New("ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET must be set")
	}
	cl, err := clients(*local, *region, ak, sk, token)
	if err != nil {
		return err
	}
	steps, err := bootstrap.Run(cl, cfg)
	for _, s := range steps {
		fmt.Fprintln(out, s)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "role %s ready: deploy with `s deploy -y` (s.yaml's defaults name these resources)\n", cfg.RoleARN())
	return nil
}

func clients(local, region, ak, sk, token string) (bootstrap.Clients, error) {
	var cred auth.Credential = credentials.NewAccessKeyCredential(ak, sk)
	if token != "" {
		cred = credentials.NewStsTokenCredential(ak, sk, token)
	}
	conf := sdk.NewConfig()
	if local != "" {
		conf = conf.WithScheme("HTTP")
	} else {
		conf = conf.WithScheme("HTTPS")
	}
	rc, err := ram.NewClientWithOptions(region, conf, cred)
	if err != nil {
		return bootstrap.Clients{}, fmt.Errorf("ram client: %w", err)
	}
	ossOpts := []oss.ClientOption{}
	if token != "" {
		ossOpts = append(ossOpts, oss.SecurityToken(token))
	}
	if local != "" {
		rc.Domain = local
		sc := localsls.NewSDKClient(local, core.Credential{AccessKeyID: ak, AccessKeySecret: sk, SecurityToken: token})
		return bootstrap.Clients{RAM: rc, SLS: sc, OSS: func(string) (*oss.Client, error) {
			return oss.New("http://"+local, ak, sk, ossOpts...)
		}}, nil
	}
	sc := sls.CreateNormalInterfaceV2("https://"+region+".log.aliyuncs.com", sls.NewStaticCredentialsProvider(ak, sk, token))
	return bootstrap.Clients{RAM: rc, SLS: sc, OSS: func(r string) (*oss.Client, error) {
		return oss.New("https://oss-"+strings.TrimPrefix(r, "oss-")+".aliyuncs.com", ak, sk, ossOpts...)
	}}, nil
}
