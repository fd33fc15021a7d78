package localcloud

import (
	"fmt"
	"path/filepath"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/eventbridge"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/fc"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/timer"
	"github.com/ecsdr/ecs-image-dr/pkg/sconfig"
)

// Deploy installs the functions and triggers of an s.yaml project, as `s deploy` would on
// FC: each function's built binary runs under the local FC runtime, timer triggers fire on
// the local clock, and eventbridge triggers become rules on the region's default bus.
// baseDir resolves relative code paths (the directory of s.yaml). env overrides or adds
// function environment variables (the local endpoints).
func (s *Server) Deploy(p *sconfig.Project, baseDir string, env map[string]string) error {
	for _, f := range p.Functions {
		// FC assumes the function's role for every invocation: a role that does not exist
		// is refused at deploy (scripts/bootstrap creates it; EnsureRoles here).
		if f.Role != "" {
			if _, role, ok := core.ParseRoleARN(f.Role); ok && !s.RAM.HasRole(role) {
				return fmt.Errorf("deploy %s: role %s does not exist in RAM: run scripts/bootstrap first", f.Resource, f.Role)
			}
		}
		codeDir := f.CodeDir
		if !filepath.IsAbs(codeDir) {
			codeDir = filepath.Join(baseDir, codeDir)
		}
		// The function process runs in its code directory, as on FC: the path must not
		// depend on the caller's working directory.
		abs, err := filepath.Abs(codeDir)
		if err != nil {
			return fmt.Errorf("deploy %s: code %s: %w", f.Resource, codeDir, err)
		}
		codeDir = abs
		fenv := map[string]string{}
		for k, v := range f.Env {
			fenv[k] = v
		}
		for k, v := range env {
			fenv[k] = v
		}
		spec := fc.FunctionSpec{
			Name: f.Name, Region: f.Region, Handler: f.Handler, CodeDir: codeDir,
			Timeout: f.Timeout, MemoryMB: f.MemoryMB, Env: fenv, Role: f.Role,
			Async: fc.AsyncConfig{MaxRetryAttempts: fc.Retries(f.MaxAsyncRetries)},
			Log:   fc.LogConfig{Project: f.LogProject, Logstore: f.LogLogstore},
		}
		if err := s.FC.Deploy(spec); err != nil {
			return fmt.Errorf("deploy %s: %w", f.Resource, err)
		}
		for _, t := range f.Triggers {
			switch t.Type {
			case "timer":
				if err := s.Timers.Add(timer.Trigger{Function: f.Name, Name: t.Name, Cron: t.Cron, Payload: t.Payload, Enabled: t.Enabled}); err != nil {
					return fmt.Errorf("deploy %s: trigger %s: %w", f.Resource, t.Name, err)
				}
			case "eventbridge":
				// A disabled trigger's pattern is still checked: a bad s.yaml is refused at start-up.
				pat, err := eventbridge.CompilePattern(t.Pattern)
				if err != nil {
					return fmt.Errorf("deploy %s: trigger %s: %w", f.Resource, t.Name, err)
				}
				if !t.Enabled {
					continue
				}
				fn, source := f.Name, "eventbridge:"+t.Name
				rule := eventbridge.Rule{
					Name: f.Name + "-" + t.Name, Region: f.Region, Pattern: pat,
					Target: func(payload []byte) error {
						_, err := s.FC.InvokeAsync(fn, payload, source)
						return err
					},
				}
				if err := s.Bridge.AddRule(rule); err != nil {
					return fmt.Errorf("deploy %s: trigger %s: %w", f.Resource, t.Name, err)
				}
			default:
				return fmt.Errorf("deploy %s: trigger %s: unsupported trigger type %q", f.Resource, t.Name, t.Type)
			}
		}
	}
	return nil
}
