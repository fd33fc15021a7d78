package app

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ecsdr/ecs-image-dr/pkg/testutil"
)

// DR_CPU_PROFILE_DIR is honoured only on the local cloud (loopback ECS endpoint); there
// the process writes gzipped pprof files, rotated at the end of an invocation once one
// covers profileSpan, and never before. Not parallel: the CPU profiler is per process.
func TestCPUProfileFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	env := func(endpoint string) func(string) string {
		return func(k string) string {
			return map[string]string{EnvCPUProfileDir: dir, EnvECSEndpoint: endpoint}[k]
		}
	}
	var out testutil.Buffer
	if p := profilerFromEnv(env("ecs.cn-hangzhou.aliyuncs.com"), &out, CopyImage); p != nil {
		p.stop()
		t.Fatal("profiling started with a non-loopback ECS endpoint")
	}
	if !strings.Contains(out.String(), "cpu profiling ignored") {
		t.Errorf("no warning for the ignored variable: %q", out.String())
	}
	if files, _ := os.ReadDir(dir); len(files) != 0 {
		t.Fatalf("files written while ignored: %v", files)
	}
	if p := profilerFromEnv(func(string) string { return "" }, &out, CopyImage); p != nil {
		p.stop()
		t.Fatal("profiling started without the variable")
	}

	p := profilerFromEnv(env("127.0.0.1:8080"), &out, CopyImage)
	if p == nil {
		t.Fatalf("profiling not started on loopback: %q", out.String())
	}
	defer p.stop()
	p.invocationDone() // the first file covers less than profileSpan: no rotation
	p.mu.Lock()
	seq := p.seq
	p.mu.Unlock()
	if seq != 1 {
		t.Fatalf("rotated after a short invocation: seq %d", seq)
	}
	p.rotate()
	p.stop()
	files, err := filepath.Glob(filepath.Join(dir, "copy-image-*.pprof"))
	if err != nil || len(files) != 2 {
		t.Fatalf("want 2 profile files after one rotation, got %v (%v)", files, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
			t.Errorf("%s is not a gzipped pprof profile (%d bytes)", f, len(b))
		}
	}
}
