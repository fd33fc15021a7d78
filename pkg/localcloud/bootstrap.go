package localcloud

import (
	"cmp"
	"fmt"
	"maps"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	sdkram "github.com/aliyun/alibaba-cloud-sdk-go/services/ram"
	"github.com/aliyun/aliyun-oss-go-sdk/oss"

	"github.com/ecsdr/ecs-image-dr/pkg/bootstrap"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	lcsls "github.com/ecsdr/ecs-image-dr/pkg/localcloud/sls"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
	"github.com/ecsdr/ecs-image-dr/pkg/sconfig"
)

// RAMClient returns the official RAM SDK client pointed at this server, signed with the
// account's own key (an administrator).
func (s *Server) RAMClient() (*sdkram.Client, error) {
	cr := s.Credential()
	c, err := sdkram.NewClientWithOptions("cn-hangzhou", sdk.NewConfig().WithScheme("HTTP"),
		credentials.NewAccessKeyCredential(cr.AccessKeyID, cr.AccessKeySecret))
	if err != nil {
		return nil, fmt.Errorf("localcloud: ram client: %w", err)
	}
	c.Domain = s.Addr()
	return c, nil
}

// BootstrapClients are the official SDK clients scripts/bootstrap uses, pointed at this
// server and signed with the account's own key.
func (s *Server) BootstrapClients() (bootstrap.Clients, error) {
	rc, err := s.RAMClient()
	if err != nil {
		return bootstrap.Clients{}, err
	}
	cr := s.Credential()
	return bootstrap.Clients{
		RAM: rc,
		SLS: lcsls.NewSDKClient(s.Addr(), cr),
		OSS: func(string) (*oss.Client, error) { return oss.New(s.URL(), cr.AccessKeyID, cr.AccessKeySecret) },
	}, nil
}

// Bootstrap runs scripts/bootstrap's steps against this server.
func (s *Server) Bootstrap(cfg bootstrap.Config) ([]bootstrap.Step, error) {
	cl, err := s.BootstrapClients()
	if err != nil {
		return nil, err
	}
	return bootstrap.Run(cl, cfg)
}

// EnsureRoles does for the functions of an s.yaml project what scripts/bootstrap does
// before `s deploy`: each distinct role the functions name is created (if missing) with
// the project's own policy template rendered for the functions' configuration (their
// DR_POLICY's config object and catalog buckets, their SLS project and logstore), and the
// policy attached. env overrides function environment variables, as in Deploy.
func (s *Server) EnsureRoles(p *sconfig.Project, template []byte, env map[string]string) error {
	if s.Addr() == "" {
		// Not started (served through the caller's own listener): serve RAM for this call.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("localcloud: listen for ram: %w", err)
		}
		hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = hs.Serve(ln) }()
		defer hs.Close()
		s.ln = ln
		defer func() { s.ln = nil }()
	}
	rc, err := s.RAMClient()
	if err != nil {
		return err
	}
	done := map[string]bool{}
	for _, f := range p.Functions {
		if f.Role == "" || done[f.Role] {
			continue
		}
		done[f.Role] = true
		account, role, ok := core.ParseRoleARN(f.Role)
		if !ok {
			return fmt.Errorf("function %s: role %q is not a RAM role ARN", f.Name, f.Role)
		}
		fenv := maps.Clone(f.Env)
		maps.Copy(fenv, env)
		params := bootstrap.PolicyParams{AccountID: account, SLSProject: cmp.Or(fenv["DR_SLS_PROJECT"], f.LogProject), SLSLogstore: cmp.Or(fenv["DR_SLS_LOGSTORE"], f.LogLogstore, "ecs-image-dr")}
		doc := fenv["DR_POLICY"]
		if loc, ok := strings.CutPrefix(doc, "oss://"); ok {
			params.ConfigBucket, params.PolicyKey, _ = strings.Cut(loc, "/")
			b, _ := s.OSS.Object(params.ConfigBucket, params.PolicyKey)
			doc = string(b)
		}
		if pol, err := policy.Parse([]byte(doc)); err == nil {
			for _, r := range pol.DestinationRegions() {
				params.CatalogBuckets = append(params.CatalogBuckets, pol.CatalogBucket(r))
			}
			if pol.RDS != nil {
				params.OffsiteBuckets = append(params.OffsiteBuckets, pol.RDS.Destination.Bucket)
				params.CatalogBuckets = append(params.CatalogBuckets, pol.CatalogBucket(pol.RDS.Destination.Region))
			}
		}
		rendered, err := bootstrap.RenderPolicy(template, params)
		if err != nil {
			return err
		}
		if _, err := bootstrap.EnsureRole(rc, bootstrap.Config{AccountID: account, RoleName: role, PolicyName: role}, rendered); err != nil {
			return fmt.Errorf("role %s: %w", role, err)
		}
	}
	return nil
}
