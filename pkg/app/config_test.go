package app

import (
	"github.com/ecsdr/ecs-image-dr/pkg/events"
	"log/slog"
	"slices"
	"strings"
	"testing"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		wantErr []string // every substring must appear
		check   func(t *testing.T, c Config)
	}{
		{
			name: "defaults",
			env:  map[string]string{EnvPolicy: "oss://b/p.yaml"},
			check: func(t *testing.T, c Config) {
				if c.ECSScheme != "HTTPS" || c.SLSLogstore != "ecs-image-dr" || c.LogLevel != slog.LevelInfo {
					t.Errorf("defaults not applied: %+v", c)
				}
				if !slices.Equal(c.AcceptedTypes, events.DefaultTypes) {
					t.Errorf("accepted types %v", c.AcceptedTypes)
				}
				if got := c.OSSEndpointFor("cn-shanghai"); got != "https://oss-cn-shanghai.aliyuncs.com" {
					t.Errorf("oss endpoint %q", got)
				}
			},
		},
		{
			name: "local cloud overrides",
			env: map[string]string{EnvPolicy: "x", EnvECSEndpoint: "127.0.0.1:8787", EnvECSScheme: "http",
				EnvOSSEndpoint: "http://127.0.0.1:8787", EnvAcceptedTypes: "a, b ,", EnvLogLevel: "DEBUG"},
			check: func(t *testing.T, c Config) {
				if c.ECSScheme != "HTTP" || c.ECSEndpoint != "127.0.0.1:8787" || c.LogLevel != slog.LevelDebug {
					t.Errorf("overrides not applied: %+v", c)
				}
				if strings.Join(c.AcceptedTypes, "|") != "a|b" {
					t.Errorf("accepted types %v", c.AcceptedTypes)
				}
				if got := c.OSSEndpointFor("cn-beijing"); got != "http://127.0.0.1:8787" {
					t.Errorf("oss endpoint %q", got)
				}
			},
		},
		{
			name:    "every problem listed",
			env:     map[string]string{EnvECSScheme: "ftp", EnvECSEndpoint: "http://x", EnvOSSEndpoint: "nope", EnvLogLevel: "loud"},
			wantErr: []string{EnvPolicy + ": required", EnvECSScheme, EnvECSEndpoint, EnvOSSEndpoint, EnvLogLevel},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := ConfigFromEnv(envOf(tt.env))
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatal("want an error")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}
