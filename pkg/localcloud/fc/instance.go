package fc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

// apiPrefix is the runtime API the SDK talks to: http://$FC_RUNTIME_API/2020-11-11/runtime/invocation/.
const apiPrefix = "/2020-11-11/runtime/invocation/"

// maxResultBody bounds what a function may post as response or error (FC's synchronous
// response limit is 32 MB).
const maxResultBody = 32 << 20

// instance is one running function process with its own loopback runtime API.
type instance struct {
	id   string
	out  *output
	cmd  *exec.Cmd
	srv  *http.Server
	addr string
	log  *slog.Logger
	// credsExpire is when the ALIBABA_CLOUD_* credentials in the process environment
	// expire (simulated time); zero when the function has no role.
	credsExpire time.Time
	// creds are those environment credentials (Options.ReuseCredentials hands them to
	// every invocation); zero without a role.
	creds core.Credential

	work     chan *pending // handed to the pending GET /next
	polled   chan struct{} // closed at the first GET /next: the SDK loop is up
	pollOnce sync.Once
	exited   chan struct{} // closed once the process is gone and its output drained
	exitDesc string        // e.g. "exit status 3", "signal: killed"; valid after exited

	mu      sync.Mutex
	current *pending // delivered by /next, waiting for /response or /error
}

type pending struct {
	id      string
	payload []byte
	header  http.Header
	result  chan apiResult // buffered: the poster never blocks
}

type apiResult struct {
	ok   bool // /response (true) or /error (false)
	body []byte
}

// startInstance launches bin with env (FC_RUNTIME_API is added here) and serves its
// runtime API. onExit runs once the process is gone.
func startInstance(id, bin, dir string, env []string, out *output, log *slog.Logger, onExit func(*instance)) (*instance, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for runtime api: %w", err)
	}
	in := &instance{
		id:     id,
		out:    out,
		addr:   ln.Addr().String(),
		log:    log,
		work:   make(chan *pending),
		polled: make(chan struct{}),
		exited: make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+apiPrefix+"next", in.handleNext)
	mux.HandleFunc("POST "+apiPrefix+"{id}/response", func(w http.ResponseWriter, r *http.Request) { in.handleResult(w, r, true) })
	mux.HandleFunc("POST "+apiPrefix+"{id}/error", func(w http.ResponseWriter, r *http.Request) { in.handleResult(w, r, false) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusNotFound, "unknown runtime api call "+r.Method+" "+r.URL.Path)
	})
	in.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = in.srv.Serve(ln) }()

	stdout, stderr := &stream{o: out, name: "stdout"}, &stream{o: out, name: "stderr"}
	cmd, err := startProcess(bin, func() *exec.Cmd {
		cmd := exec.Command(bin)
		cmd.Dir = dir
		cmd.Env = append(env, "FC_RUNTIME_API="+in.addr)
		cmd.Stdout, cmd.Stderr = stdout, stderr
		// A grandchild holding the pipes open must not keep Wait (and the crash report) hanging.
		cmd.WaitDelay = time.Second
		return cmd
	})
	if err != nil {
		_ = in.srv.Close()
		return nil, err
	}
	in.cmd = cmd
	go func() {
		err := cmd.Wait()
		stdout.flush()
		stderr.flush()
		switch {
		case cmd.ProcessState != nil:
			in.exitDesc = cmd.ProcessState.String()
		case err != nil:
			in.exitDesc = err.Error()
		}
		_ = in.srv.Close()
		close(in.exited)
		if onExit != nil {
			onExit(in)
		}
	}()
	return in, nil
}

func apiError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"errorMessage": msg})
}

// handleNext long-polls until the runtime hands over an invocation. The SDK keeps one GET
// outstanding at all times (it re-polls as soon as it dispatched a handler goroutine);
// the runtime only sends the next invocation after the previous one's result arrived,
// so an instance runs one invocation at a time as in FC.
func (in *instance) handleNext(w http.ResponseWriter, r *http.Request) {
	in.pollOnce.Do(func() { close(in.polled) })
	select {
	case p := <-in.work:
		in.mu.Lock()
		in.current = p
		in.mu.Unlock()
		in.out.setRequest(p.id)
		for k, v := range p.header {
			w.Header()[k] = v
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(p.payload)
	case <-r.Context().Done():
	}
}

func (in *instance) handleResult(w http.ResponseWriter, r *http.Request, ok bool) {
	id := r.PathValue("id")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxResultBody))
	if err != nil {
		apiError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("read result of %s: %v", id, err))
		return
	}
	in.mu.Lock()
	p := in.current
	if p == nil || p.id != id {
		in.mu.Unlock()
		in.log.Warn("fc runtime api: result for an invocation not in progress", "instance", in.id, "requestId", id)
		apiError(w, http.StatusNotFound, "invocation "+id+" is not in progress")
		return
	}
	in.current = nil
	in.mu.Unlock()
	p.result <- apiResult{ok: ok, body: body}
	w.WriteHeader(http.StatusOK)
}

type outcome int

const (
	outResult   outcome = iota // /response or /error arrived
	outTimeout                 // deadline passed; the instance was killed
	outExited                  // process exited mid-invocation
	outCanceled                // ctx canceled; the instance was killed
	outOOM                     // the memory size was exceeded; the instance was killed
)

// limits end an invocation early: the wall deadline, the simulated one (expired closed)
// and the memory size (oom closed).
type limits struct {
	deadline     time.Time
	expired, oom <-chan struct{}
}

// waitPolling waits until the SDK loop is up (first GET /next).
func (in *instance) waitPolling(ctx context.Context, limit time.Duration) error {
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-in.polled:
		return nil
	case <-in.exited:
		return fmt.Errorf("instance exited before polling the runtime api (%s)", in.exitDesc)
	case <-t.C:
		in.kill()
		return fmt.Errorf("instance did not poll the runtime api within %s", limit)
	case <-ctx.Done():
		in.kill()
		return ctx.Err()
	}
}

// invoke hands p to the instance and waits for its result until a limit ends it.
func (in *instance) invoke(ctx context.Context, p *pending, lim limits) (apiResult, outcome) {
	t := time.NewTimer(time.Until(lim.deadline))
	defer t.Stop()
	select {
	case in.work <- p:
	case <-in.exited:
		return apiResult{}, outExited
	case <-t.C:
		in.kill()
		return apiResult{}, outTimeout
	case <-lim.expired:
		in.kill()
		return apiResult{}, outTimeout
	case <-lim.oom:
		in.kill()
		return apiResult{}, outOOM
	case <-ctx.Done():
		in.kill()
		return apiResult{}, outCanceled
	}
	select {
	case res := <-p.result:
		return res, outResult
	case <-in.exited:
		// A result posted just before the exit still counts.
		select {
		case res := <-p.result:
			return res, outResult
		default:
			return apiResult{}, outExited
		}
	case <-t.C:
		in.kill()
		return apiResult{}, outTimeout
	case <-lim.expired:
		in.kill()
		return apiResult{}, outTimeout
	case <-lim.oom:
		in.kill()
		return apiResult{}, outOOM
	case <-ctx.Done():
		in.kill()
		return apiResult{}, outCanceled
	}
}

// kill ends the process at once and waits for it.
func (in *instance) kill() { in.stop(0) }

// stop asks the process to exit (SIGTERM), kills it after grace, and waits until it is
// gone. Safe to call repeatedly and after the process exited.
func (in *instance) stop(grace time.Duration) {
	select {
	case <-in.exited:
		return
	default:
	}
	if grace > 0 {
		_ = in.cmd.Process.Signal(syscall.SIGTERM)
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-in.exited:
			return
		case <-t.C:
		}
	}
	if err := in.cmd.Process.Kill(); err != nil && !errors.Is(err, exec.ErrWaitDelay) {
		in.log.Debug("fc kill instance", "instance", in.id, "err", err)
	}
	<-in.exited
}

func (in *instance) alive() bool {
	select {
	case <-in.exited:
		return false
	default:
		return true
	}
}

// startProcess starts the command build makes, retrying a few times on ETXTBSY: a binary
// just extracted from a code package can still be open for writing in a child that another
// goroutine forked meanwhile (golang.org/issue/22315), which makes exec fail with "text
// file busy" until that child has exec'd. Each try builds a fresh Cmd (one cannot be reused).
func startProcess(bin string, build func() *exec.Cmd) (*exec.Cmd, error) {
	const tries = 50
	for i := 1; ; i++ {
		cmd := build()
		err := cmd.Start()
		if err == nil {
			return cmd, nil
		}
		if !errors.Is(err, syscall.ETXTBSY) || i == tries {
			return nil, fmt.Errorf("start %s: %w", bin, err)
		}
		time.Sleep(time.Duration(i) * 2 * time.Millisecond) // real time: a process start, not a simulated wait
	}
}
