// Package localcloud assembles the local cloud: one HTTP endpoint that serves ECS, ESS and RDS (RPC),
// SLS and OSS to the unmodified official SDKs, plus the FC runtime that runs the real
// function binaries, FC timers and EventBridge rules read from s.yaml, all on one
// simulated clock with injectable faults.
//
// Requests are told apart the way the SDKs send them: SLS requests carry
// x-log-apiversion, ECS RPC requests carry an Action (query, form or x-acs-action header),
// everything else is OSS (path-style /bucket/key). ESS requests are RPC requests with
// ESS's API version (2014-08-28). Control endpoints live under
// /_localcloud/, apart from the emulated APIs.
package localcloud

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	sdkecs "github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ess"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/eventbridge"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/fc"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/oss"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ram"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/rds"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/sls"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/timer"
)

// DefaultStart is where a manual clock starts unless told otherwise.
var DefaultStart = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// Options configure a Server.
type Options struct {
	// Clock: nil means a manual clock at DefaultStart (tests advance it).
	Clock *core.Clock
	// Seed for ECS; the zero value means ecs.DefaultSeed().
	Seed *ecs.Seed
	// Log receives the local cloud's own records (nil: discarded).
	Log *slog.Logger
	// Permissive: log signature mismatches instead of refusing (default strict).
	Permissive bool
	// FunctionOutput receives the stdout/stderr of function processes (nil: discarded).
	FunctionOutput fc.Options
	// Delivery configures EventBridge delivery (retries, duplicates, drops...).
	Delivery eventbridge.Delivery
}

// Server is a running (or startable) local cloud.
type Server struct {
	Env *core.Env
	ECS *ecs.Service
	ESS *ess.Service
	SLS *sls.Service
	OSS *oss.Service
	RDS *rds.Service
	// RAM holds roles and policies and evaluates every call made with a role's STS
	// credentials (the functions' credentials); the account's own keys are not restricted.
	RAM    *ram.Service
	FC     *fc.Runtime
	Timers *timer.Scheduler
	Bridge *eventbridge.Bridge

	ln   net.Listener
	http *http.Server
}

// New builds a local cloud; call Start (or use it as an http.Handler).
func New(opts Options) (*Server, error) {
	clock := opts.Clock
	if clock == nil {
		clock = core.NewManualClock(DefaultStart)
	}
	env := core.NewEnv(clock, opts.Log)
	env.StrictSignatures = !opts.Permissive
	seed := ecs.DefaultSeed()
	if opts.Seed != nil {
		seed = *opts.Seed
	}
	ecsSvc, err := ecs.New(env, seed)
	if err != nil {
		return nil, fmt.Errorf("localcloud: ecs seed: %w", err)
	}
	s := &Server{
		Env: env,
		ECS: ecsSvc,
		ESS: ess.New(env, ecsSvc),
		SLS: sls.New(env),
		OSS: oss.New(env),
		RDS: rds.New(env),
		RAM: ram.New(env),
	}
	fopts := opts.FunctionOutput
	if fopts.Logs == nil {
		fopts.Logs = fcLogs{sls: s.SLS} // FC's log collection of functions with a logConfig
	}
	s.FC = fc.New(env, fopts)
	s.Bridge = eventbridge.New(env, opts.Delivery)
	s.Timers = timer.NewScheduler(env, s.fireTimer)
	return s, nil
}

// fireTimer is how a timer trigger invokes its function: asynchronously, as FC does.
func (s *Server) fireTimer(t timer.Trigger, event []byte) {
	if _, err := s.FC.InvokeAsync(t.Function, event, "timer:"+t.Name); err != nil {
		s.Env.Log.Error("timer invoke failed", "function", t.Function, "trigger", t.Name, "err", err)
	}
}

// Start listens on addr ("127.0.0.1:0" for any free port) and serves in the background.
func (s *Server) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("localcloud: listen %s: %w", addr, err)
	}
	s.ln = ln
	s.http = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.Env.Log.Error("localcloud: serve", "err", err)
		}
	}()
	return nil
}

// Addr is the host:port the server listens on ("" before Start).
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// URL is "http://" + Addr().
func (s *Server) URL() string { return "http://" + s.Addr() }

// Close stops function processes, timers and the listener.
func (s *Server) Close() error {
	s.Timers.Stop()
	errFC := s.FC.Close()
	var errHTTP error
	if s.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		errHTTP = s.http.Shutdown(ctx)
	}
	s.Env.Clock.Close()
	return errors.Join(errFC, errHTTP, s.OSS.Close())
}

// ServeHTTP routes a request to the service it was meant for.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/_localcloud/rds/"):
		s.RDS.Control(w, r)
	case strings.HasPrefix(r.URL.Path, "/_localcloud/"):
		s.control(w, r)
	case r.Header.Get("x-log-apiversion") != "" || strings.HasPrefix(r.Header.Get("Authorization"), "LOG "):
		s.SLS.ServeHTTP(w, r)
	case ram.IsRAM(r): // before ECS: RPC too, told apart by API version
		s.RAM.ServeHTTP(w, r)
	case rds.IsRDS(r): // before ECS: both are RPC, told apart by API version
		s.RDS.ServeHTTP(w, r)
	case isECS(r) && ess.IsESS(r):
		s.ESS.ServeHTTP(w, r) // same RPC gateway, told apart by API version
	case isECS(r):
		s.ECS.ServeHTTP(w, r)
	default:
		s.OSS.ServeHTTP(w, r)
	}
}

// isECS: RPC requests carry Action in the query (v1 and CommonRequest), in a form body, or
// in the x-acs-action header (v3). OSS never sends either.
func isECS(r *http.Request) bool {
	if r.Header.Get("x-acs-action") != "" || r.URL.Query().Get("Action") != "" {
		return true
	}
	if r.URL.Path == "/" && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") &&
		!strings.HasPrefix(r.Header.Get("Authorization"), "OSS") {
		return true
	}
	return false
}

// Credential returns the seeded account's long-term key.
func (s *Server) Credential() core.Credential {
	cr, _ := s.Env.Creds.Lookup(core.DefaultAccessKeyID, "")
	return cr
}

// ECSClient returns the unmodified ECS SDK client for region, pointed at this server.
func (s *Server) ECSClient(region string) (*sdkecs.Client, error) {
	return ecs.NewSDKClient(s.Addr(), region, s.Credential())
}

// NewECSClientFor returns an ECS SDK client pointed at srv that signs with cred.
func NewECSClientFor(srv *Server, region string, cred core.Credential) (*sdkecs.Client, error) {
	return ecs.NewSDKClient(srv.Addr(), region, cred)
}
