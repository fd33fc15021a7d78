// Package fc runs real Function Compute 3.0 go1 function binaries the way FC does: each
// function instance is a child process that talks to its own loopback runtime API
// (fc-runtime-go-sdk's /2020-11-11/runtime/invocation/{next,{id}/response,{id}/error}),
// with FC's environment, per-invocation x-fc-* headers and STS credentials from the local
// cloud's credential store, timeouts in simulated time, the memory size (peak RSS per
// invocation, out-of-memory kills), crash detection and the async retry policy. On a
// scaled clock the processes share the local cloud's time (DR_SIMULATED_CLOCK,
// pkg/simclock).
package fc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/simclock"
)

// FunctionSpec is what Deploy needs to know about a go1 function (the subset of FC's
// CreateFunction that matters locally).
type FunctionSpec struct {
	Name    string
	Region  string // default Options.Region
	Handler string // go1: path of the executable inside the code package, usually "main"
	// CodeDir is the directory holding the built linux binary, or a .zip code package
	// (extracted to a temporary directory, file modes kept).
	CodeDir  string
	Timeout  time.Duration // default 3s (fc3); whole seconds, 1s-86400s
	MemoryMB int           // default 512 (fc3); 64-32768, a multiple of 64
	// Env holds user environment variables; keys may not start with FC_ (reserved).
	Env map[string]string
	// Role is the function's RAM role ARN (acs:ram::<account>:role/<name>). With a role,
	// every invocation gets fresh STS credentials (x-fc-access-key-* headers →
	// FcContext.Credentials) and the process gets ALIBABA_CLOUD_* env credentials; without
	// one the function gets no credentials, as in FC.
	Role  string
	Async AsyncConfig
	// Log is the logConfig: with a project and logstore (and Options.Logs set), every
	// stdout and stderr line of the function becomes one entry there (logship.go).
	Log LogConfig
}

// AsyncConfig is FC's asyncInvokeConfig.
type AsyncConfig struct {
	// MaxRetryAttempts is how often a failed async invocation is retried: nil means FC's
	// default 3; allowed 0-8. Use Retries(n) to set it.
	MaxRetryAttempts *int
	// MaxEventAge drops an async invocation not yet successful once it has waited this
	// long in simulated time (env.Clock). 0 = 24h; allowed 1s-30 days.
	MaxEventAge time.Duration
}

// Retries returns a MaxRetryAttempts value.
func Retries(n int) *int { return &n }

// Options configures a Runtime.
type Options struct {
	// Stdout receives every line the functions print (stdout and stderr), prefixed
	// "[<function>] ". Nil discards it.
	Stdout io.Writer
	// AccountID owns the functions and their STS credentials. Default core.DefaultAccountID.
	AccountID string
	// Region is the default FunctionSpec.Region. Default "cn-hangzhou".
	Region string
	// RetryBackoff is the simulated wait (env.Clock.Sleep) before the first async retry;
	// it doubles with each further retry (capped at 30s). Default 200ms.
	RetryBackoff time.Duration
	// CredentialTTL is the simulated lifetime of issued STS credentials. Default 1h. An
	// instance whose environment credentials would expire during an invocation is
	// replaced by a fresh one.
	CredentialTTL time.Duration
	// ReuseCredentials hands every invocation of an instance the role credentials of its
	// environment (issued when it started, valid CredentialTTL), as FC does with the
	// credentials it assumes for a role (valid 36 h), so a warm process may keep clients
	// that sign with them. Off (the default), every invocation gets fresh ones: each
	// invocation is then told apart by its access key (the chaos runs kill by it).
	ReuseCredentials bool
	// MaxInstances bounds the instances of one function. FC runs one invocation per
	// instance and starts another for a concurrent invocation, up to the account's quota,
	// so timers, retries and events of one function run side by side. Default 1: one
	// invocation of a function at a time (the others queue), which keeps small tests
	// deterministic; the fleet day takes more with -fleet-instances.
	MaxInstances int
	// StartTimeout bounds (wall clock) how long a new instance may take to poll the
	// runtime API. Default 10s.
	StartTimeout time.Duration
	// StopGrace is how long Close waits after SIGTERM before killing. Default 2s.
	StopGrace time.Duration
	// MemorySample is how often (wall clock) an invocation's RSS is sampled against the
	// function's memory size (memory.go). Default 25ms.
	MemorySample time.Duration
	// Logs receives the output lines of functions with a LogConfig, as FC's log
	// collection does (nil: not collected).
	Logs LogStore
}

// Status is the outcome of one invocation attempt.
type Status string

// Attempt outcomes.
const (
	StatusOK       Status = "ok"       // the function posted /response
	StatusError    Status = "error"    // the function posted /error (returned error, panic, bad event)
	StatusTimeout  Status = "timeout"  // no result before the deadline; instance killed
	StatusCrash    Status = "crash"    // the process exited (or never came up) mid-invocation
	StatusCanceled Status = "canceled" // the caller's context ended first; instance killed
	StatusOOM      Status = "oom"      // the process's RSS went above the memory size; instance killed
)

// ErrorTypeOOM is the ErrorType of an attempt killed for exceeding its memory size.
const ErrorTypeOOM = "OutOfMemory"

// Invocation records one attempt of one invocation.
type Invocation struct {
	Function   string
	RequestID  string // same for every attempt of one async invocation
	Source     string // e.g. "manual", "timer:daily", "eventbridge:image-ready"
	Async      bool
	RetryCount int // x-fc-retry-count: 0 for the first attempt
	InstanceID string
	Start, End time.Time // simulated time (env.Clock)
	// WallStart and WallEnd are real time: functions run in wall time.
	WallStart, WallEnd time.Time
	Status             Status
	// Response is the body the function posted: its JSON result (ok) or its error JSON
	// (error, e.g. {"errorMessage":"boom","errorType":"errorString"}).
	Response []byte
	// ErrorType and ErrorMessage come from the error JSON, or describe a timeout
	// ("FunctionTimeout"), crash ("ProcessExited") or cancellation ("InvocationCanceled").
	ErrorType, ErrorMessage string
	ExitStatus              string // crash: how the process ended, e.g. "exit status 3"
	OutputTail              string // crash/timeout/oom: the instance's last output lines

	// The function's limits when the attempt ran, and what it used of them (the bench
	// reports one against the other).
	Timeout  time.Duration // simulated time
	MemoryMB int
	// ColdStart: a new instance was started for this attempt.
	ColdStart bool
	// Deadline is the simulated instant the timeout ends (the hand-over to the instance,
	// after a cold start, plus Timeout); the process's x-fc-function-deadline is the wall
	// instant the clock reaches it. Zero if the attempt never reached an instance.
	Deadline time.Time
	// SimDuration and WallDuration run from the hand-over to the end of the attempt, in
	// simulated and in wall time: the timeout applies to SimDuration.
	SimDuration, WallDuration time.Duration
	// PeakRSSKiB is the process's peak resident set during the attempt (its VmHWM, reset
	// before the hand-over, and VmRSS samples); 0 when it could not be measured.
	PeakRSSKiB int64
	// CPU is the process's CPU time (user+system, all threads) from the hand-over to the
	// end of the attempt, at 10 ms resolution; 0 when it could not be measured.
	CPU time.Duration
}

// Runtime is the local FC go1 runtime: deployed functions, their warm instances and the
// record of every invocation attempt.
type Runtime struct {
	env       *core.Env
	opts      Options
	stdout    *lockedWriter
	ctx       context.Context // canceled by Close
	cancel    context.CancelFunc
	asyncWG   sync.WaitGroup
	instances sync.WaitGroup

	mu     sync.Mutex
	fns    map[string]*function
	live   map[*instance]struct{}
	invs   []Invocation
	temps  []string
	closed bool
	busy   int                  // invocations a process is working on (pace)
	byKey  map[string]*instance // in-flight invocations by their STS access key id (kill.go)
	pacing chan struct{}        // closed to stop the pacer; nil while idle

	clockMu      sync.Mutex
	clockFile    string // DR_SIMULATED_CLOCK_FILE of the processes ("" until a scaled clock needs it)
	clockWritten string // the mapping in clockFile
}

type function struct {
	spec    FunctionSpec
	bin     string
	codeDir string
	sem     chan struct{} // a slot per instance (Options.MaxInstances): FC runs one invocation per instance
	imu     sync.Mutex
	idle    []*instance // warm instances not serving an invocation, most recently used last
	retired bool        // replaced by a later Deploy; guarded by Runtime.mu
}

// New returns a runtime with no functions.
func New(env *core.Env, opts Options) *Runtime {
	if opts.Stdout == nil {
		opts.Stdout = io.Discard
	}
	if opts.AccountID == "" {
		opts.AccountID = core.DefaultAccountID
	}
	if opts.Region == "" {
		opts.Region = "cn-hangzhou"
	}
	if opts.RetryBackoff <= 0 {
		opts.RetryBackoff = 200 * time.Millisecond
	}
	if opts.CredentialTTL <= 0 {
		opts.CredentialTTL = time.Hour
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 10 * time.Second
	}
	if opts.StopGrace <= 0 {
		opts.StopGrace = 2 * time.Second
	}
	if opts.MemorySample <= 0 {
		opts.MemorySample = 25 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Runtime{
		env:    env,
		opts:   opts,
		stdout: &lockedWriter{w: opts.Stdout},
		ctx:    ctx,
		cancel: cancel,
		fns:    map[string]*function{},
		live:   map[*instance]struct{}{},
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

var (
	fnNameRe  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,127}$`)
	envKeyRe  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	regionRe  = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)+$`)
	roleARNRe = regexp.MustCompile(`^acs:ram::[0-9]+:role/[A-Za-z0-9._-]+$`)
)

// maxEnvBytes is FC's limit on the total size of a function's environment variables.
const maxEnvBytes = 4096

// Async payload limit for invocations through triggers and InvokeAsync (FC: 128 KB).
const maxAsyncPayload = 128 << 10

// Deploy validates spec and registers the function, replacing an existing one of the same
// name (its instance is stopped once its current invocation ends). No process starts
// until the first invocation.
func (r *Runtime) Deploy(spec FunctionSpec) error {
	if err := r.normalize(&spec); err != nil {
		return fmt.Errorf("deploy function %q: %w", spec.Name, err)
	}
	codeDir, temp := spec.CodeDir, ""
	if st, err := os.Stat(spec.CodeDir); err != nil {
		return fmt.Errorf("deploy function %s: code: %w", spec.Name, err)
	} else if !st.IsDir() {
		if !strings.HasSuffix(strings.ToLower(spec.CodeDir), ".zip") {
			return fmt.Errorf("deploy function %s: code %s is neither a directory nor a .zip package", spec.Name, spec.CodeDir)
		}
		dir, err := extractZip(spec.CodeDir, "")
		if err != nil {
			return fmt.Errorf("deploy function %s: %w", spec.Name, err)
		}
		codeDir, temp = dir, dir
	}
	bin, err := resolveHandler(codeDir, spec.Handler)
	if err != nil {
		if temp != "" {
			_ = os.RemoveAll(temp)
		}
		return fmt.Errorf("deploy function %s: %w", spec.Name, err)
	}
	f := &function{spec: spec, bin: bin, codeDir: codeDir, sem: make(chan struct{}, max(r.opts.MaxInstances, 1))}

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		if temp != "" {
			_ = os.RemoveAll(temp)
		}
		return fmt.Errorf("deploy function %s: runtime closed", spec.Name)
	}
	if temp != "" {
		r.temps = append(r.temps, temp)
	}
	old := r.fns[spec.Name]
	r.fns[spec.Name] = f
	if old != nil {
		old.retired = true
	}
	r.mu.Unlock()
	if old != nil {
		// Wait for the old version's invocations in progress, then stop its instances.
		go func() {
			for range cap(old.sem) {
				old.sem <- struct{}{}
			}
			old.imu.Lock()
			idle := old.idle
			old.idle = nil
			old.imu.Unlock()
			for _, in := range idle {
				in.stop(r.opts.StopGrace)
			}
			for range cap(old.sem) {
				<-old.sem
			}
		}()
	}
	r.env.Log.Info("fc function deployed", "function", spec.Name, "region", spec.Region, "handler", spec.Handler, "timeout", spec.Timeout)
	return nil
}

func (r *Runtime) normalize(s *FunctionSpec) error {
	if !fnNameRe.MatchString(s.Name) {
		return errors.New("name must be 1-128 letters, digits, '_' or '-', not starting with a digit or '-'")
	}
	if s.Region == "" {
		s.Region = r.opts.Region
	}
	if !regionRe.MatchString(s.Region) {
		return fmt.Errorf("region %q is not a region id like cn-hangzhou", s.Region)
	}
	if s.CodeDir == "" {
		return errors.New("code: CodeDir is empty")
	}
	if s.Timeout == 0 {
		s.Timeout = 3 * time.Second
	}
	if s.Timeout < time.Second || s.Timeout > 86400*time.Second || s.Timeout%time.Second != 0 {
		return fmt.Errorf("timeout %s must be whole seconds between 1s and 86400s", s.Timeout)
	}
	if s.MemoryMB == 0 {
		s.MemoryMB = 512
	}
	if s.MemoryMB < 64 || s.MemoryMB > 32768 || s.MemoryMB%64 != 0 {
		return fmt.Errorf("memory %d MB must be a multiple of 64 between 64 and 32768", s.MemoryMB)
	}
	size := 0
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch {
		case !envKeyRe.MatchString(k):
			return fmt.Errorf("env %q: key must be letters, digits and '_', not starting with a digit", k)
		case strings.HasPrefix(k, "FC_"):
			return fmt.Errorf("env %q: keys starting with FC_ are reserved for the platform", k)
		case k == simclock.EnvVar || k == simclock.EnvFile:
			return fmt.Errorf("env %q: reserved: only the local FC runtime sets it (from its clock)", k)
		}
		size += len(k) + len(s.Env[k])
	}
	if size > maxEnvBytes {
		return fmt.Errorf("env: %d bytes of keys and values exceed the 4 KB limit", size)
	}
	if s.Role != "" && !roleARNRe.MatchString(s.Role) {
		return fmt.Errorf("role %q is not a RAM role ARN (acs:ram::<account>:role/<name>)", s.Role)
	}
	if n := s.Async.MaxRetryAttempts; n != nil && (*n < 0 || *n > 8) {
		return fmt.Errorf("async: max retry attempts %d out of range 0-8", *n)
	}
	if s.Async.MaxEventAge == 0 {
		s.Async.MaxEventAge = 24 * time.Hour
	}
	if s.Async.MaxEventAge < time.Second || s.Async.MaxEventAge > 30*24*time.Hour {
		return fmt.Errorf("async: max event age %s out of range 1s-720h", s.Async.MaxEventAge)
	}
	return nil
}

// Function returns the deployed spec of fn (with defaults filled in).
func (r *Runtime) Function(fn string) (FunctionSpec, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f, ok := r.fns[fn]
	if !ok {
		return FunctionSpec{}, false
	}
	return f.spec, true
}

// Functions lists the deployed function names, sorted.
func (r *Runtime) Functions() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.fns))
	for n := range r.fns {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ErrFunctionNotFound is returned for an invocation of a function never deployed.
var ErrFunctionNotFound = errors.New("function not found")

// ErrClosed is returned once the runtime is closed.
var ErrClosed = errors.New("fc runtime closed")

// Invoke runs payload through fn synchronously, with source "manual". A function failure
// (error, timeout, crash) is not a Go error: it is in Invocation.Status. The error is
// non-nil only when the call could not be made (unknown function, runtime closed) or ctx
// ended (then the instance was killed and the attempt is recorded "canceled").
func (r *Runtime) Invoke(ctx context.Context, fn string, payload []byte) (Invocation, error) {
	return r.InvokeWithSource(ctx, fn, payload, "manual")
}

// InvokeWithSource is Invoke with the invocation's source named, e.g. a synchronous
// EventBridge delivery "eventbridge:<rule>".
func (r *Runtime) InvokeWithSource(ctx context.Context, fn string, payload []byte, source string) (Invocation, error) {
	return r.attempt(ctx, fn, core.NewRequestID(), payload, source, false, 0)
}

// InvokeAsync queues payload for fn and returns its request id at once. Failed attempts
// (error, timeout, crash) are retried up to the function's MaxRetryAttempts with
// x-fc-retry-count incremented, after simulated backoffs (Options.RetryBackoff, doubling).
// The invocation counts on env.Tracker from now until its final attempt ends.
func (r *Runtime) InvokeAsync(fn string, payload []byte, source string) (string, error) {
	if len(payload) > maxAsyncPayload {
		return "", fmt.Errorf("invoke %s async: payload of %d bytes exceeds the 128 KB async limit", fn, len(payload))
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return "", fmt.Errorf("invoke %s async: %w", fn, ErrClosed)
	}
	if _, ok := r.fns[fn]; !ok {
		r.mu.Unlock()
		return "", fmt.Errorf("invoke %s async: %w", fn, ErrFunctionNotFound)
	}
	r.env.Tracker.Add(1)
	r.asyncWG.Add(1)
	r.mu.Unlock()
	id := core.NewRequestID()
	go r.runAsync(fn, id, payload, source, r.env.Clock.Now())
	return id, nil
}

func (r *Runtime) runAsync(fn, id string, payload []byte, source string, queued time.Time) {
	defer r.asyncWG.Done()
	defer r.env.Tracker.Done()
	for retry := 0; ; retry++ {
		spec, ok := r.Function(fn)
		if !ok {
			r.env.Log.Warn("fc async invocation dropped: function gone", "function", fn, "requestId", id)
			return
		}
		if age := r.env.Clock.Now().Sub(queued); age > spec.Async.MaxEventAge {
			r.env.Log.Warn("fc async invocation dropped: max event age exceeded", "function", fn, "requestId", id, "age", age)
			return
		}
		inv, err := r.attempt(r.ctx, fn, id, payload, source, true, retry)
		if err != nil {
			r.env.Log.Warn("fc async invocation abandoned", "function", fn, "requestId", id, "err", err)
			return
		}
		if inv.Status == StatusOK {
			return
		}
		retries := 3
		if spec.Async.MaxRetryAttempts != nil {
			retries = *spec.Async.MaxRetryAttempts
		}
		if retry >= retries {
			r.env.Log.Warn("fc async invocation failed after all retries", "function", fn, "requestId", id, "attempts", retry+1, "status", inv.Status)
			return
		}
		backoff := r.opts.RetryBackoff << retry
		if backoff > 30*time.Second || backoff <= 0 {
			backoff = 30 * time.Second
		}
		// Simulated time, like every wait of the local cloud: on a manual clock the wait
		// moves the clock on by the back-off, on a scaled clock it takes backoff/speed.
		if r.env.Clock.Sleep(r.ctx, backoff) != nil {
			return
		}
	}
}

// acquire takes fn's invocation slot, following redeploys.
func (r *Runtime) acquire(ctx context.Context, fn string) (*function, error) {
	for {
		r.mu.Lock()
		f, ok := r.fns[fn]
		closed := r.closed
		r.mu.Unlock()
		if closed {
			return nil, ErrClosed
		}
		if !ok {
			return nil, ErrFunctionNotFound
		}
		select {
		case f.sem <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-r.ctx.Done():
			return nil, ErrClosed
		}
		r.mu.Lock()
		retired := f.retired
		r.mu.Unlock()
		if !retired {
			return f, nil
		}
		<-f.sem
	}
}

func (r *Runtime) attempt(ctx context.Context, fn, id string, payload []byte, source string, async bool, retry int) (Invocation, error) {
	f, err := r.acquire(ctx, fn)
	if err != nil {
		return Invocation{}, fmt.Errorf("invoke %s: %w", fn, err)
	}
	defer func() { <-f.sem }()
	spec := f.spec
	inv := Invocation{
		Function: fn, RequestID: id, Source: source, Async: async, RetryCount: retry,
		Start: r.env.Clock.Now(), WallStart: time.Now(), Timeout: spec.Timeout, MemoryMB: spec.MemoryMB,
	}
	var handSim time.Time // the hand-over to the instance (zero: never reached one)
	var handWall time.Time
	finish := func() Invocation {
		inv.End, inv.WallEnd = r.env.Clock.Now(), time.Now()
		if !handSim.IsZero() {
			inv.SimDuration, inv.WallDuration = inv.End.Sub(handSim), inv.WallEnd.Sub(handWall)
		}
		r.mu.Lock()
		r.invs = append(r.invs, inv)
		r.mu.Unlock()
		r.env.Log.Info("fc invocation", "function", fn, "requestId", id, "source", source, "retry", retry,
			"status", inv.Status, "wallMs", inv.WallEnd.Sub(inv.WallStart).Milliseconds(),
			"simMs", inv.SimDuration.Milliseconds(), "cpuMs", inv.CPU.Milliseconds(), "peakRssKiB", inv.PeakRSSKiB, "error", inv.ErrorMessage)
		return inv
	}

	in, cold, err := r.ensureInstance(ctx, f)
	if err != nil {
		if ctx.Err() != nil {
			inv.Status, inv.ErrorType, inv.ErrorMessage = StatusCanceled, "InvocationCanceled", ctx.Err().Error()
			return finish(), fmt.Errorf("invoke %s: %w", fn, ctx.Err())
		}
		if errors.Is(err, ErrClosed) {
			return Invocation{}, fmt.Errorf("invoke %s: %w", fn, err)
		}
		inv.Status, inv.ErrorType, inv.ErrorMessage = StatusCrash, "ProcessExited", err.Error()
		var ie *instanceError
		if errors.As(err, &ie) {
			inv.InstanceID, inv.ExitStatus, inv.OutputTail = ie.id, ie.exit, ie.tail
		}
		return finish(), nil
	}
	defer r.release(f, in)
	inv.InstanceID, inv.ColdStart = in.id, cold

	// The timeout is simulated time: the invocation ends when the simulated clock passes
	// hand-over + timeout (a clock jump, simulated latency and the process's own scaled
	// waits all count). The process gets the wall instant the clock reaches it as its
	// deadline (x-fc-function-deadline, its ctx deadline): 1:1 on a manual clock, which
	// pace moves along with the wall, timeout/speed on a scaled clock; a wall timer at
	// that instant backs the simulated one up.
	if _, _, err := r.syncClock(); err != nil {
		r.env.Log.Warn("fc simulated clock file not updated", "function", fn, "err", err)
	}
	handSim, handWall = r.env.Clock.Now(), time.Now()
	inv.Deadline = handSim.Add(spec.Timeout)
	deadline := r.env.Clock.WallAt(inv.Deadline)
	expired := make(chan struct{})
	simTimer := r.env.Clock.AfterFunc(inv.Deadline, func() { close(expired) })
	defer simTimer.Stop()
	defer r.pace()()
	h := r.headers(spec, in, id, deadline, retry)
	defer r.trackKey(h, in)()
	p := &pending{id: id, payload: payload, header: h, result: make(chan apiResult, 1)}
	mem := watchMemory(in.cmd.Process.Pid, spec.MemoryMB, r.opts.MemorySample)
	res, out := in.invoke(ctx, p, limits{deadline: deadline, expired: expired, oom: mem.exceeded})
	var overKiB int64
	inv.CPU = mem.cpu()
	inv.PeakRSSKiB, overKiB = mem.stop()
	switch out {
	case outOOM:
		inv.Status, inv.ErrorType = StatusOOM, ErrorTypeOOM
		inv.ErrorMessage = fmt.Sprintf("function exceeded its memory size: RSS %d MB > %d MB; instance killed",
			overKiB>>10, spec.MemoryMB)
		inv.OutputTail = in.out.Tail()
	case outResult:
		inv.Response = res.body
		if res.ok {
			inv.Status = StatusOK
		} else {
			inv.Status = StatusError
			var e struct {
				Message string `json:"errorMessage"`
				Type    string `json:"errorType"`
			}
			if json.Unmarshal(res.body, &e) == nil {
				inv.ErrorType, inv.ErrorMessage = e.Type, e.Message
			} else {
				inv.ErrorMessage = string(res.body)
			}
		}
	case outTimeout:
		inv.Status, inv.ErrorType = StatusTimeout, "FunctionTimeout"
		inv.ErrorMessage = fmt.Sprintf("function timed out after %s", spec.Timeout)
		inv.OutputTail = in.out.Tail()
	case outExited:
		inv.Status, inv.ErrorType = StatusCrash, "ProcessExited"
		inv.ExitStatus, inv.OutputTail = in.exitDesc, in.out.Tail()
		inv.ErrorMessage = "process exited before completing the request: " + in.exitDesc
		if r.ctx.Err() != nil {
			inv.ErrorMessage += " (runtime closed)"
		}
	case outCanceled:
		inv.Status, inv.ErrorType, inv.ErrorMessage = StatusCanceled, "InvocationCanceled", ctx.Err().Error()
		return finish(), fmt.Errorf("invoke %s: %w", fn, ctx.Err())
	}
	return finish(), nil
}

// headers are the /next response headers fc-runtime-go-sdk turns into FcContext. The
// deadline and timeout headers are mandatory: without them the SDK never answers.
func (r *Runtime) headers(spec FunctionSpec, in *instance, id string, deadline time.Time, retry int) map[string][]string {
	h := map[string]string{
		"x-fc-request-id":        id,
		"x-fc-function-deadline": strconv.FormatInt(deadline.UnixMilli(), 10),
		"x-fc-function-timeout":  strconv.Itoa(int(spec.Timeout / time.Second)),
		"x-fc-retry-count":       strconv.Itoa(retry),
		"x-fc-function-name":     spec.Name,
		"x-fc-function-handler":  spec.Handler,
		"x-fc-function-memory":   strconv.Itoa(spec.MemoryMB),
		"x-fc-region":            spec.Region,
		"x-fc-account-id":        r.opts.AccountID,
		"x-fc-qualifier":         "LATEST",
		"content-type":           "application/octet-stream",
	}
	if spec.Role != "" {
		c := in.creds // the instance's (ReuseCredentials); ensureInstance replaced it if they would expire
		if !r.opts.ReuseCredentials || c.AccessKeyID == "" {
			c = r.roleCreds(spec)
		}
		h["x-fc-access-key-id"] = c.AccessKeyID
		h["x-fc-access-key-secret"] = c.AccessKeySecret
		h["x-fc-security-token"] = c.SecurityToken
	}
	out := make(map[string][]string, len(h))
	for k, v := range h {
		out[http.CanonicalHeaderKey(k)] = []string{v}
	}
	return out
}

// instanceError describes an instance that failed to come up.
type instanceError struct {
	id, exit, tail string
	err            error
}

func (e *instanceError) Error() string { return e.err.Error() }
func (e *instanceError) Unwrap() error { return e.err }

// release hands in back to f's warm instances once its invocation is over (an instance
// that exited, killed at a timeout or its memory size, is dropped).
func (r *Runtime) release(f *function, in *instance) {
	if !in.alive() {
		return
	}
	f.imu.Lock()
	f.idle = append(f.idle, in)
	f.imu.Unlock()
}

// ensureInstance takes one of f's warm instances (the most recently used, as FC prefers
// warm ones), or starts one if none is idle; an instance that exited, or whose environment
// credentials would expire during this invocation, is dropped. cold reports a new
// instance. Caller holds a slot of f.sem, so at most cap(f.sem) instances serve at once.
func (r *Runtime) ensureInstance(ctx context.Context, f *function) (in *instance, cold bool, err error) {
	for {
		f.imu.Lock()
		n := len(f.idle)
		if n == 0 {
			f.imu.Unlock()
			break
		}
		in := f.idle[n-1]
		f.idle = f.idle[:n-1]
		f.imu.Unlock()
		switch {
		case !in.alive():
		case !in.credsExpire.IsZero() && r.env.Clock.Now().Add(f.spec.Timeout+time.Minute).After(in.credsExpire):
			in.stop(r.opts.StopGrace)
		default:
			return in, false, nil
		}
	}
	in, err = r.startFor(ctx, f)
	return in, true, err
}

// startFor starts a new instance of f and waits until it polls the runtime API.
func (r *Runtime) startFor(ctx context.Context, f *function) (*instance, error) {
	spec := f.spec
	id := fmt.Sprintf("c-%s-%s-%s", core.RandomHex(4), core.RandomHex(4), core.RandomHex(6))
	env := []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"FC_FUNCTION_NAME=" + spec.Name,
		"FC_REGION=" + spec.Region,
		"FC_ACCOUNT_ID=" + r.opts.AccountID,
		"FC_FUNCTION_HANDLER=" + spec.Handler,
		"FC_FUNCTION_MEMORY_SIZE=" + strconv.Itoa(spec.MemoryMB),
		"FC_TIMEOUT=" + strconv.Itoa(int(spec.Timeout/time.Second)),
		"FC_INSTANCE_ID=" + id,
		"FC_RUNTIME=go1",
		"FC_FUNC_CODE_PATH=" + f.codeDir,
	}
	clock, clockFile, err := r.syncClock()
	if err != nil {
		return nil, &instanceError{id: id, err: err}
	}
	if clock != "" {
		env = append(env, simclock.EnvVar+"="+clock, simclock.EnvFile+"="+clockFile)
	}
	var credsExpire time.Time
	var creds core.Credential
	if spec.Role != "" {
		c := r.roleCreds(spec)
		credsExpire, creds = c.Expires, c
		env = append(env,
			"ALIBABA_CLOUD_ACCESS_KEY_ID="+c.AccessKeyID,
			"ALIBABA_CLOUD_ACCESS_KEY_SECRET="+c.AccessKeySecret,
			"ALIBABA_CLOUD_SECURITY_TOKEN="+c.SecurityToken,
		)
	}
	keys := make([]string, 0, len(spec.Env))
	for k := range spec.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+spec.Env[k])
	}

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	out := newOutput(r.stdout, spec.Name)
	if r.opts.Logs != nil && spec.Log.Project != "" && spec.Log.Logstore != "" {
		fn := spec.Name
		out.logs = &collector{store: r.opts.Logs, cfg: spec.Log, fn: fn, inst: id, warn: func(err error) {
			r.env.Log.Warn("fc log collection failed", "function", fn, "instance", id, "err", err)
		}}
	}
	in, err := startInstance(id, f.bin, f.codeDir, env, out, r.env.Log, func(in *instance) {
		r.mu.Lock()
		delete(r.live, in)
		r.mu.Unlock()
		r.instances.Done()
	})
	if err != nil {
		r.mu.Unlock()
		return nil, &instanceError{id: id, err: err}
	}
	in.credsExpire, in.creds = credsExpire, creds
	r.live[in] = struct{}{}
	r.instances.Add(1)
	r.mu.Unlock()
	r.env.Log.Info("fc instance started", "function", spec.Name, "instance", id, "pid", in.cmd.Process.Pid, "runtimeApi", in.addr,
		"simulatedClock", clock)

	if err := in.waitPolling(ctx, r.opts.StartTimeout); err != nil {
		<-in.exited
		return nil, &instanceError{id: id, exit: in.exitDesc, tail: out.Tail(), err: fmt.Errorf("start instance %s: %w", id, err)}
	}
	return in, nil
}

// Invocations returns every attempt recorded so far, in completion order.
func (r *Runtime) Invocations() []Invocation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Invocation(nil), r.invs...)
}

// Close stops every instance (SIGTERM, then kill after Options.StopGrace), abandons queued
// async invocations (releasing their Tracker count) and removes extracted code packages.
// It returns once no child process is left.
func (r *Runtime) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.cancel()
	live := make([]*instance, 0, len(r.live))
	for in := range r.live {
		live = append(live, in)
	}
	temps := r.temps
	r.temps = nil
	r.mu.Unlock()

	var wg sync.WaitGroup
	for _, in := range live {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in.stop(r.opts.StopGrace)
		}()
	}
	wg.Wait()
	r.asyncWG.Wait()
	r.instances.Wait()
	var errs []error
	for _, d := range temps {
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, fmt.Errorf("remove code dir %s: %w", filepath.Base(d), err))
		}
	}
	return errors.Join(errs...)
}

// pace marks one invocation as worked on by a real process until the returned func is
// called. While any is, a manual clock moves on by the wall time that passes: a process
// sleeps and waits on its own (wall) clock, and in the one time model that time is
// simulated time too, so its back-off opens the next QPS window and its slowness counts
// against its simulated deadline. A real-time clock moves on its own and is left alone.
func (r *Runtime) pace() (done func()) {
	r.mu.Lock()
	r.busy++
	if r.busy == 1 {
		r.pacing = make(chan struct{})
		go r.paceLoop(r.pacing)
	}
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		r.busy--
		if r.busy == 0 {
			close(r.pacing)
			r.pacing = nil
		}
		r.mu.Unlock()
	}
}

func (r *Runtime) paceLoop(stop <-chan struct{}) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			if d := now.Sub(last); d > 0 && r.env.Clock.Speed() == 0 {
				r.env.Clock.Advance(d)
			}
			last = now
		}
	}
}

// syncClock returns the DR_SIMULATED_CLOCK value of the environment's clock (its
// mapping when it is a scaled, real-time clock; "" for a manual clock, whose processes
// keep the wall clock while pace moves the simulated one along with it) and the file
// that holds it for the function processes (DR_SIMULATED_CLOCK_FILE), rewritten first if
// the mapping changed (Advance on a scaled clock). A process re-reads the file at the
// start of every invocation, so a warm instance follows a jump of an idle clock.
func (r *Runtime) syncClock() (value, file string, err error) {
	m, ok := r.env.Clock.Mapping()
	if !ok {
		return "", "", nil
	}
	value = m.String()
	r.clockMu.Lock()
	defer r.clockMu.Unlock()
	if r.clockFile == "" {
		dir, err := os.MkdirTemp("", "localfc-clock-")
		if err != nil {
			return "", "", fmt.Errorf("simulated clock file: %w", err)
		}
		r.mu.Lock()
		r.temps = append(r.temps, dir)
		r.mu.Unlock()
		r.clockFile = filepath.Join(dir, "clock")
	}
	if value != r.clockWritten {
		if err := simclock.WriteFile(r.clockFile, m); err != nil {
			return "", "", err
		}
		r.clockWritten = value
	}
	return value, r.clockFile, nil
}

// roleCreds are the STS credentials of the function's role (what FC gets by assuming
// it): every call made with them is evaluated against the role's RAM policies. The spec's
// role ARN was checked at Deploy.
func (r *Runtime) roleCreds(spec FunctionSpec) core.Credential {
	c, err := r.env.Creds.IssueRoleSTS(spec.Role, r.opts.CredentialTTL)
	if err != nil {
		// Unreachable after Deploy's check; credentials of no role would be unrestricted.
		panic(fmt.Sprintf("fc: role credentials for %s: %v", spec.Name, err))
	}
	return c
}
