// Command localcloud runs the local cloud in the foreground: ECS, SLS and OSS on one
// loopback address for the unmodified Alibaba Cloud SDKs, with a simulated clock.
//
//	go run ./scripts/localcloud -addr 127.0.0.1:8787 -speed 60
//
// With -s s.yaml (after `make build`) it also runs the project's functions under the local
// FC runtime with their timer and EventBridge triggers.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/bootstrap"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/fc"
	lcsls "github.com/ecsdr/ecs-image-dr/pkg/localcloud/sls"
	"github.com/ecsdr/ecs-image-dr/pkg/obs"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
	"github.com/ecsdr/ecs-image-dr/pkg/sconfig"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8787", "listen address (host:port); keep it on loopback")
	seedPath := flag.String("seed", "", "JSON seed file replacing the default account (regions, instances, quotas)")
	speed := flag.Float64("speed", 1, "simulated seconds per wall second (60 = a minute per second)")
	start := flag.String("start", "", "simulated start time, RFC3339 (default: now)")
	permissive := flag.Bool("permissive", false, "log signature mismatches instead of refusing them")
	sfile := flag.String("s", "", "s.yaml to deploy onto the local FC runtime (run `make build` first)")
	verbose := flag.Bool("v", false, "log every request the local cloud refuses")
	flag.Parse()

	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, *addr, *seedPath, *speed, *start, *permissive, *sfile, log); err != nil {
		fmt.Fprintln(os.Stderr, "localcloud:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends.
func run(ctx context.Context, out io.Writer, addr, seedPath string, speed float64, start string, permissive bool, sfile string, log *slog.Logger) error {
	t0 := time.Now().UTC()
	if start != "" {
		t, err := time.Parse(time.RFC3339, start)
		if err != nil {
			return fmt.Errorf("-start: %w", err)
		}
		t0 = t
	}
	opts := localcloud.Options{
		Clock:          core.NewRealtimeClock(t0, speed),
		Log:            log,
		Permissive:     permissive,
		FunctionOutput: fc.Options{Stdout: out},
	}
	if seedPath != "" {
		seed, err := ecs.LoadSeed(seedPath)
		if err != nil {
			return fmt.Errorf("-seed: %w", err)
		}
		opts.Seed = &seed
	}
	srv, err := localcloud.New(opts)
	if err != nil {
		return err
	}
	if err := srv.Start(addr); err != nil {
		return err
	}
	defer srv.Close()
	cred := srv.Credential()
	fmt.Fprintf(out, "local cloud listening on %s (clock %s, speed %gx)\n", srv.Addr(), t0.Format(time.RFC3339), speed)
	fmt.Fprintf(out, "ECS endpoint: %s   (sdk: client.Domain = %q, scheme HTTP)\n", srv.Addr(), srv.Addr())
	fmt.Fprintf(out, "OSS endpoint: %s\n", srv.URL())
	fmt.Fprintf(out, "SLS endpoint: %s   (dial it with an injected http.Client; project from the Host)\n", srv.Addr())
	fmt.Fprintf(out, "Control:      %s/_localcloud/health\n", srv.URL())
	fmt.Fprintf(out, "AccountId: %s\n", cred.AccountID)
	fmt.Fprintf(out, "AccessKeyId: %s\n", cred.AccessKeyID)
	fmt.Fprintf(out, "AccessKeySecret: %s\n", cred.AccessKeySecret)

	if sfile != "" {
		if err := deploy(ctx, out, srv, sfile, environ(os.Environ())); err != nil {
			return err
		}
	}

	<-ctx.Done()
	fmt.Fprintln(out, "stopping")
	return nil
}

// deploy runs the s.yaml project on the local cloud. ${env()} in s.yaml resolves from the
// caller's environment (DR_POLICY, DR_SLS_PROJECT…), with the endpoints pointed at the
// local cloud. What `s deploy` leaves to the operator is provisioned too: the SLS project
// and logstore the functions log to, and the catalog bucket of each DR region of an
// inline DR_POLICY.
func deploy(ctx context.Context, out io.Writer, srv *localcloud.Server, sfile string, env map[string]string) error {
	local := map[string]string{
		"DR_ECS_ENDPOINT": srv.Addr(),
		"DR_ECS_SCHEME":   "HTTP",
		"DR_OSS_ENDPOINT": srv.URL(),
		"DR_SLS_ENDPOINT": srv.Addr(),
		"DR_RDS_ENDPOINT": srv.Addr(),
	}
	for k, v := range local {
		env[k] = v
	}
	cred := srv.Credential()
	p, err := sconfig.Load(sfile, env, map[string]string{"AccountID": cred.AccountID})
	if err != nil {
		return err
	}
	// What scripts/bootstrap does before `s deploy`: the functions' role and policy.
	if err := srv.EnsureRoles(p, bootstrap.PolicyTemplate, local); err != nil {
		return err
	}
	if err := srv.Deploy(p, filepath.Dir(sfile), local); err != nil {
		return err
	}
	for _, f := range p.Functions {
		fmt.Fprintf(out, "function %s deployed (%d triggers)\n", f.Name, len(f.Triggers))
	}
	if len(p.Functions) == 0 {
		return nil
	}
	fenv := p.Functions[0].Env
	// The logConfig logstores FC collects the functions' stdout into, and the in-process
	// sink's when DR_SLS_PROJECT turns it on.
	var stores [][2]string
	for _, f := range p.Functions {
		stores = append(stores, [2]string{f.LogProject, f.LogLogstore})
	}
	stores = append(stores, [2]string{fenv["DR_SLS_PROJECT"], fenv["DR_SLS_LOGSTORE"]})
	done := map[[2]string]bool{}
	for _, ps := range stores {
		project, logstore := ps[0], ps[1]
		if project == "" || logstore == "" || done[ps] {
			continue
		}
		done[ps] = true
		srv.SLS.EnsureProject(project, p.Functions[0].Region)
		if _, err := obs.Provision(lcsls.NewSDKClient(srv.Addr(), cred),
			obs.ProvisionConfig{Project: project, Logstore: logstore, Region: p.Functions[0].Region}); err != nil {
			return fmt.Errorf("provision sls %s/%s: %w", project, logstore, err)
		}
		fmt.Fprintf(out, "SLS project %s, logstore %s ready\n", project, logstore)
	}
	if pol, err := policy.Parse([]byte(fenv["DR_POLICY"])); err == nil {
		for _, r := range pol.DestinationRegions() {
			// An existing bucket is fine: the local cloud may have been seeded already.
			if err := srv.OSS.CreateBucket(pol.CatalogBucket(r), r); err == nil {
				fmt.Fprintf(out, "catalog bucket %s created in %s\n", pol.CatalogBucket(r), r)
			}
		}
	}
	return ctx.Err()
}

func environ(kv []string) map[string]string {
	m := make(map[string]string, len(kv))
	for _, e := range kv {
		if k, v, ok := strings.Cut(e, "="); ok {
			m[k] = v
		}
	}
	return m
}
