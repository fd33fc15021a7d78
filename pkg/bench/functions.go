package bench

import (
	"archive/zip"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// FunctionFigures are one function binary's size and cold start.
type FunctionFigures struct {
	Function string `json:"function"`
	// ZipBytes: the deployment zip (the stripped linux/amd64 binary named main, deflated).
	ZipBytes int64 `json:"zipBytes"`
	// ColdStart: exec → the first request to the FC runtime API (configuration read,
	// runtime loop reached).
	ColdStart time.Duration `json:"coldStartNs"`
	// IdleRSSKiB: the process's peak RSS at that point (not under load).
	IdleRSSKiB int64  `json:"idleRssKiB"`
	Err        string `json:"error,omitempty"`
}

// RunFunctions builds every function under functions/ (from the repository root dir) and
// measures its zip size and cold start against a minimal runtime API endpoint.
func RunFunctions(root string) []FunctionFigures {
	dirs, _ := filepath.Glob(filepath.Join(root, "functions", "*", "main.go"))
	tmp, err := os.MkdirTemp("", "bench-fn-")
	if err != nil {
		return []FunctionFigures{{Err: err.Error()}}
	}
	defer os.RemoveAll(tmp)
	var out []FunctionFigures
	for _, m := range dirs {
		name := filepath.Base(filepath.Dir(m))
		out = append(out, measureFunction(root, tmp, name))
	}
	return out
}

func measureFunction(root, tmp, name string) FunctionFigures {
	ff := FunctionFigures{Function: name}
	bin := filepath.Join(tmp, name)
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./functions/"+name)
	build.Dir = root
	build.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		ff.Err = fmt.Sprintf("build: %v: %s", err, strings.TrimSpace(string(b)))
		return ff
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		ff.Err = err.Error()
		return ff
	}
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "main", Method: zip.Deflate})
	if err == nil {
		_, err = w.Write(data)
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		ff.Err = err.Error()
		return ff
	}
	ff.ZipBytes = int64(zb.Len())

	// A runtime API that only notes the first poll for an invocation.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ff.Err = err.Error()
		return ff
	}
	polled := make(chan time.Time, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/invocation/next") {
			select {
			case polled <- time.Now():
			default:
			}
			<-r.Context().Done()
			return
		}
		w.WriteHeader(http.StatusOK)
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	cmd := exec.Command(bin)
	cmd.Env = []string{"FC_RUNTIME_API=" + ln.Addr().String(), "FC_SERVER_PORT=9000", "FC_FUNCTION_NAME=" + name,
		"DR_POLICY={}", "FC_REGION=cn-hangzhou"}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		ff.Err = err.Error()
		return ff
	}
	select {
	case t := <-polled:
		ff.ColdStart = t.Sub(start)
	case <-time.After(20 * time.Second):
		ff.Err = "never polled the runtime API"
	}
	// VmHWM of the exec'd image (wait4's ru_maxrss would count the parent's pages the
	// child shared before exec).
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)); err == nil {
		for _, line := range strings.Split(string(st), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				_, _ = fmt.Sscanf(strings.TrimSpace(v), "%d", &ff.IdleRSSKiB)
			}
		}
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	return ff
}
