package fc

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"

	"github.com/ecsdr/ecs-image-dr/pkg/testutil"
)

// fnDir holds testdata/fn built once for the whole test binary as "main".
var fnDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "localfc-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tempdir:", err)
		os.Exit(1)
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "main"), "./testdata/fn")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build test function: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	fnDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type fixture struct {
	env *core.Env
	rt  *Runtime
	out *testutil.Buffer
}

func newFixture(t *testing.T, specs ...FunctionSpec) *fixture {
	t.Helper()
	return newFixtureOn(t, core.NewManualClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)), specs...)
}

// newFixtureOn is newFixture on the given clock (closed with the runtime).
func newFixtureOn(t *testing.T, clock *core.Clock, specs ...FunctionSpec) *fixture {
	t.Helper()
	t.Cleanup(clock.Close)
	env := core.NewEnv(clock, nil)
	out := &testutil.Buffer{}
	rt := New(env, Options{Stdout: out, RetryBackoff: 5 * time.Millisecond, StopGrace: 500 * time.Millisecond})
	t.Cleanup(func() {
		if err := rt.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	for _, s := range specs {
		if err := rt.Deploy(s); err != nil {
			t.Fatalf("Deploy %s: %v", s.Name, err)
		}
	}
	return &fixture{env: env, rt: rt, out: out}
}

func spec(name string) FunctionSpec {
	return FunctionSpec{Name: name, Handler: "main", CodeDir: fnDir, Timeout: 5 * time.Second}
}

func invoke(t *testing.T, rt *Runtime, fn, event string) Invocation {
	t.Helper()
	inv, err := rt.Invoke(context.Background(), fn, []byte(event))
	if err != nil {
		t.Fatalf("Invoke %s %s: %v", fn, event, err)
	}
	return inv
}

type echo struct {
	RequestID     string            `json:"requestId"`
	FunctionName  string            `json:"functionName"`
	Handler       string            `json:"handler"`
	Memory        string            `json:"memory"`
	Timeout       int               `json:"timeout"`
	Qualifier     string            `json:"qualifier"`
	Region        string            `json:"region"`
	AccountID     string            `json:"accountId"`
	RetryCount    int               `json:"retryCount"`
	AccessKeyID   string            `json:"accessKeyId"`
	AccessSecret  string            `json:"accessSecret"`
	SecurityToken string            `json:"securityToken"`
	DeadlineMs    int64             `json:"deadlineMs"`
	PID           int               `json:"pid"`
	Event         json.RawMessage   `json:"event"`
	Env           map[string]string `json:"env"`
}

func decodeEcho(t *testing.T, inv Invocation) echo {
	t.Helper()
	if inv.Status != StatusOK {
		t.Fatalf("status = %s (%s: %s), want ok; tail:\n%s", inv.Status, inv.ErrorType, inv.ErrorMessage, inv.OutputTail)
	}
	var e echo
	if err := json.Unmarshal(inv.Response, &e); err != nil {
		t.Fatalf("decode response %s: %v", inv.Response, err)
	}
	return e
}

func TestInvokeDeliversEventAndContext(t *testing.T) {
	t.Parallel()
	s := spec("echo-fn")
	s.Region = "cn-shanghai"
	s.MemoryMB = 128
	s.Role = "acs:ram::" + core.DefaultAccountID + ":role/ecs-image-backup-fc"
	s.Env = map[string]string{"MY_SETTING": "42"}
	f := newFixture(t, s)

	inv := invoke(t, f.rt, "echo-fn", `{"action":"echo","say":"hello from fn"}`)
	e := decodeEcho(t, inv)
	checks := []struct{ name, got, want string }{
		{"request id", e.RequestID, inv.RequestID},
		{"function name", e.FunctionName, "echo-fn"},
		{"handler", e.Handler, "main"},
		{"memory", e.Memory, "128"},
		{"qualifier", e.Qualifier, "LATEST"},
		{"region", e.Region, "cn-shanghai"},
		{"account id", e.AccountID, core.DefaultAccountID},
		{"timeout", fmt.Sprint(e.Timeout), "5"},
		{"env FC_FUNCTION_NAME", e.Env["FC_FUNCTION_NAME"], "echo-fn"},
		{"env FC_REGION", e.Env["FC_REGION"], "cn-shanghai"},
		{"env FC_ACCOUNT_ID", e.Env["FC_ACCOUNT_ID"], core.DefaultAccountID},
		{"env FC_FUNCTION_HANDLER", e.Env["FC_FUNCTION_HANDLER"], "main"},
		{"env FC_FUNCTION_MEMORY_SIZE", e.Env["FC_FUNCTION_MEMORY_SIZE"], "128"},
		{"env FC_TIMEOUT", e.Env["FC_TIMEOUT"], "5"},
		{"env FC_RUNTIME", e.Env["FC_RUNTIME"], "go1"},
		{"env FC_INSTANCE_ID", e.Env["FC_INSTANCE_ID"], inv.InstanceID},
		{"user env", e.Env["MY_SETTING"], "42"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if inv.RequestID == "" || inv.Source != "manual" || inv.Async || inv.RetryCount != 0 {
		t.Errorf("record = %+v, want manual sync attempt 0 with a request id", inv)
	}
	// Per-invocation STS credentials must be live in the local cloud's store.
	cr, err := f.env.Creds.Lookup(e.AccessKeyID, e.SecurityToken)
	if err != nil || cr.AccessKeySecret != e.AccessSecret || cr.AccountID != core.DefaultAccountID {
		t.Errorf("invocation credentials %q/%q not valid STS credentials: %v", e.AccessKeyID, e.SecurityToken, err)
	}
	if _, err := f.env.Creds.Lookup(e.Env["ALIBABA_CLOUD_ACCESS_KEY_ID"], e.Env["ALIBABA_CLOUD_SECURITY_TOKEN"]); err != nil {
		t.Errorf("environment credentials not valid: %v", err)
	}
	// The deadline is set between WallStart and WallEnd, timeout ahead.
	lo, hi := inv.WallStart.Add(5*time.Second).UnixMilli(), inv.WallEnd.Add(5*time.Second).UnixMilli()
	if e.DeadlineMs < lo || e.DeadlineMs > hi {
		t.Errorf("ctx deadline %d ms not within [%d, %d]", e.DeadlineMs, lo, hi)
	}

	// Warm instance: the second invocation reuses the process, with fresh credentials.
	inv2 := invoke(t, f.rt, "echo-fn", `{"action":"echo"}`)
	e2 := decodeEcho(t, inv2)
	if e2.PID != e.PID || inv2.InstanceID != inv.InstanceID {
		t.Errorf("second invocation ran in pid %d (%s), want warm pid %d (%s)", e2.PID, inv2.InstanceID, e.PID, inv.InstanceID)
	}
	if e2.RequestID == e.RequestID || e2.AccessKeyID == e.AccessKeyID {
		t.Error("second invocation reused the request id or the STS credentials")
	}
	if got := f.rt.Invocations(); len(got) != 2 {
		t.Errorf("recorded %d invocations, want 2", len(got))
	}
	// Output is copied from the pipes asynchronously; Close waits until it is drained.
	if err := f.rt.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	out := f.out.String()
	for _, want := range []string{"[echo-fn] hello from fn\n", "[echo-fn] stderr: hello from fn\n", "[echo-fn] FC Invoke Start RequestId: " + inv.RequestID} {
		if !strings.Contains(out, want) {
			t.Errorf("function output lacks %q; got:\n%s", want, out)
		}
	}
}

func TestInvokeWithoutRoleHasNoCredentials(t *testing.T) {
	t.Parallel()
	f := newFixture(t, spec("norole"))
	e := decodeEcho(t, invoke(t, f.rt, "norole", `{}`))
	if e.AccessKeyID != "" || e.SecurityToken != "" || e.Env["ALIBABA_CLOUD_ACCESS_KEY_ID"] != "" {
		t.Errorf("function without role got credentials %q %q %q", e.AccessKeyID, e.SecurityToken, e.Env["ALIBABA_CLOUD_ACCESS_KEY_ID"])
	}
}

func TestInvokeFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		event      string
		timeout    time.Duration
		wantStatus Status
		wantType   string
		wantMsg    string
		wantExit   string
		wantTail   string
		samePID    bool // the instance survives
	}{
		{name: "error return", event: `{"action":"error"}`, wantStatus: StatusError, wantType: "errorString", wantMsg: "boom", samePID: true},
		{name: "panic", event: `{"action":"panic"}`, wantStatus: StatusError, wantType: "string", wantMsg: "kaboom", samePID: true},
		{name: "bad event", event: `{"action":`, wantStatus: StatusError, wantType: "SyntaxError", samePID: true},
		{name: "crash", event: `{"action":"exit","code":3,"say":"about to die"}`, wantStatus: StatusCrash, wantType: "ProcessExited",
			wantMsg: "exit status 3", wantExit: "exit status 3", wantTail: "about to die"},
		{name: "timeout", event: `{"action":"hang","say":"hanging"}`, timeout: time.Second, wantStatus: StatusTimeout,
			wantType: "FunctionTimeout", wantMsg: "timed out after 1s", wantTail: "hanging"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := spec("fail")
			if tc.timeout > 0 {
				s.Timeout = tc.timeout
			}
			f := newFixture(t, s)
			before := decodeEcho(t, invoke(t, f.rt, "fail", `{}`))
			inv := invoke(t, f.rt, "fail", tc.event)
			if inv.Status != tc.wantStatus || inv.ErrorType != tc.wantType || !strings.Contains(inv.ErrorMessage, tc.wantMsg) {
				t.Errorf("got %s %q %q, want %s %q containing %q", inv.Status, inv.ErrorType, inv.ErrorMessage, tc.wantStatus, tc.wantType, tc.wantMsg)
			}
			if inv.ExitStatus != tc.wantExit {
				t.Errorf("exit status = %q, want %q", inv.ExitStatus, tc.wantExit)
			}
			if !strings.Contains(inv.OutputTail, tc.wantTail) {
				t.Errorf("output tail %q lacks %q", inv.OutputTail, tc.wantTail)
			}
			if tc.wantStatus == StatusError && !json.Valid(inv.Response) {
				t.Errorf("error body %q is not the SDK's error JSON", inv.Response)
			}
			if tc.name == "panic" && !bytes.Contains(inv.Response, []byte(`"stackTrace"`)) {
				t.Errorf("panic body lacks stackTrace: %s", inv.Response)
			}
			// The next invocation works: same process after a handled error, a fresh one
			// after a crash or timeout.
			after := decodeEcho(t, invoke(t, f.rt, "fail", `{}`))
			if got := after.PID == before.PID; got != tc.samePID {
				t.Errorf("pid before %d after %d: same = %v, want %v", before.PID, after.PID, got, tc.samePID)
			}
			if !tc.samePID && processAlive(before.PID) {
				t.Errorf("old instance pid %d still alive", before.PID)
			}
		})
	}
}

func TestAsyncRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		retries    *int
		failUntil  int
		wantStatus []Status
	}{
		{"succeeds on third attempt", nil, 2, []Status{StatusError, StatusError, StatusOK}},
		{"default 3 retries exhausted", nil, 10, []Status{StatusError, StatusError, StatusError, StatusError}},
		{"one retry", Retries(1), 10, []Status{StatusError, StatusError}},
		{"no retries", Retries(0), 10, []Status{StatusError}},
		{"first attempt ok", Retries(0), 0, []Status{StatusOK}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := spec("retry")
			s.Async.MaxRetryAttempts = tc.retries
			f := newFixture(t, s)
			id, err := f.rt.InvokeAsync("retry", fmt.Appendf(nil, `{"action":"failUntil","code":%d}`, tc.failUntil), "timer:daily")
			if err != nil {
				t.Fatalf("InvokeAsync: %v", err)
			}
			if f.env.Tracker.InFlight() != 1 {
				t.Errorf("tracker in flight = %d right after InvokeAsync, want 1", f.env.Tracker.InFlight())
			}
			if !f.env.Tracker.WaitIdle(30 * time.Second) {
				t.Fatal("async invocation never finished")
			}
			invs := f.rt.Invocations()
			if len(invs) != len(tc.wantStatus) {
				t.Fatalf("got %d attempts, want %d: %+v", len(invs), len(tc.wantStatus), invs)
			}
			for i, inv := range invs {
				if inv.Status != tc.wantStatus[i] || inv.RetryCount != i || inv.RequestID != id || !inv.Async || inv.Source != "timer:daily" {
					t.Errorf("attempt %d = %s retry %d id %s async %v source %q, want %s retry %d id %s async timer:daily",
						i, inv.Status, inv.RetryCount, inv.RequestID, inv.Async, inv.Source, tc.wantStatus[i], i, id)
				}
			}
			if last := invs[len(invs)-1]; last.Status == StatusOK {
				if e := decodeEcho(t, last); e.RetryCount != len(invs)-1 {
					t.Errorf("handler saw retry count %d, want %d", e.RetryCount, len(invs)-1)
				}
			}
		})
	}
}

func TestAsyncRetriesAfterCrash(t *testing.T) {
	t.Parallel()
	s := spec("crashy")
	s.Async.MaxRetryAttempts = Retries(1)
	f := newFixture(t, s)
	if _, err := f.rt.InvokeAsync("crashy", []byte(`{"action":"exit","code":2}`), "eventbridge:image-ready"); err != nil {
		t.Fatal(err)
	}
	if !f.env.Tracker.WaitIdle(30 * time.Second) {
		t.Fatal("async invocation never finished")
	}
	invs := f.rt.Invocations()
	if len(invs) != 2 || invs[0].Status != StatusCrash || invs[1].Status != StatusCrash || invs[0].InstanceID == invs[1].InstanceID {
		t.Errorf("attempts = %+v, want two crashes on two instances", invs)
	}
}

func TestInvokeErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, spec("known"))
	if _, err := f.rt.Invoke(context.Background(), "unknown", nil); !errors.Is(err, ErrFunctionNotFound) {
		t.Errorf("Invoke unknown = %v, want ErrFunctionNotFound", err)
	}
	if _, err := f.rt.InvokeAsync("unknown", nil, "manual"); !errors.Is(err, ErrFunctionNotFound) {
		t.Errorf("InvokeAsync unknown = %v, want ErrFunctionNotFound", err)
	}
	if _, err := f.rt.InvokeAsync("known", make([]byte, 129<<10), "manual"); err == nil || !strings.Contains(err.Error(), "128 KB") {
		t.Errorf("InvokeAsync oversized = %v, want the 128 KB limit", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(200 * time.Millisecond)
		cancel()
	}()
	inv, err := f.rt.Invoke(ctx, "known", []byte(`{"action":"hang"}`))
	if !errors.Is(err, context.Canceled) || inv.Status != StatusCanceled {
		t.Errorf("canceled Invoke = %s, %v; want canceled, context.Canceled", inv.Status, err)
	}
	decodeEcho(t, invoke(t, f.rt, "known", `{}`))
}

func TestDeployValidation(t *testing.T) {
	t.Parallel()
	env := core.NewEnv(core.NewManualClock(time.Unix(0, 0)), nil)
	rt := New(env, Options{})
	defer rt.Close()
	noExec := t.TempDir()
	if err := os.WriteFile(filepath.Join(noExec, "main"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	mod := func(f func(*FunctionSpec)) FunctionSpec {
		s := spec("ok")
		f(&s)
		return s
	}
	tests := []struct {
		name string
		spec FunctionSpec
		want string
	}{
		{"reserved env key", mod(func(s *FunctionSpec) { s.Env = map[string]string{"FC_REGION": "x"} }), `env "FC_REGION": keys starting with FC_ are reserved`},
		{"bad env key", mod(func(s *FunctionSpec) { s.Env = map[string]string{"MY-VAR": "x"} }), `env "MY-VAR": key must be`},
		{"env too large", mod(func(s *FunctionSpec) { s.Env = map[string]string{"BIG": strings.Repeat("x", 5000)} }), "exceed the 4 KB limit"},
		{"bad name", mod(func(s *FunctionSpec) { s.Name = "9lives" }), "name must be"},
		{"empty name", mod(func(s *FunctionSpec) { s.Name = "" }), "name must be"},
		{"bad region", mod(func(s *FunctionSpec) { s.Region = "Hangzhou" }), `region "Hangzhou"`},
		{"fractional timeout", mod(func(s *FunctionSpec) { s.Timeout = 1500 * time.Millisecond }), "timeout 1.5s must be whole seconds"},
		{"timeout too long", mod(func(s *FunctionSpec) { s.Timeout = 25 * time.Hour }), "between 1s and 86400s"},
		{"memory", mod(func(s *FunctionSpec) { s.MemoryMB = 100 }), "memory 100 MB must be a multiple of 64"},
		{"retries", mod(func(s *FunctionSpec) { s.Async.MaxRetryAttempts = Retries(9) }), "max retry attempts 9 out of range 0-8"},
		{"event age", mod(func(s *FunctionSpec) { s.Async.MaxEventAge = time.Millisecond }), "max event age 1ms out of range"},
		{"role", mod(func(s *FunctionSpec) { s.Role = "ecs-backup" }), `role "ecs-backup" is not a RAM role ARN`},
		{"no code", mod(func(s *FunctionSpec) { s.CodeDir = "" }), "CodeDir is empty"},
		{"missing code", mod(func(s *FunctionSpec) { s.CodeDir = filepath.Join(noExec, "nope") }), "no such file"},
		{"missing handler", mod(func(s *FunctionSpec) { s.Handler = "bootstrap" }), `handler "bootstrap"`},
		{"empty handler", mod(func(s *FunctionSpec) { s.Handler = "" }), "handler is empty"},
		{"escaping handler", mod(func(s *FunctionSpec) { s.Handler = "../main" }), "must be a relative path inside"},
		{"not executable", mod(func(s *FunctionSpec) { s.CodeDir = noExec }), "is not executable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := rt.Deploy(tc.spec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Deploy = %v, want error containing %q", err, tc.want)
			}
		})
	}
	if err := rt.Deploy(spec("ok")); err != nil {
		t.Fatalf("valid Deploy: %v", err)
	}
	got, _ := rt.Function("ok")
	if got.MemoryMB != 512 || got.Region != "cn-hangzhou" || got.Async.MaxEventAge != 24*time.Hour {
		t.Errorf("defaults not applied: %+v", got)
	}
}

func TestDeployZipAndRedeploy(t *testing.T) {
	t.Parallel()
	zipPath := filepath.Join(t.TempDir(), "code.zip")
	writeZip(t, zipPath, filepath.Join(fnDir, "main"))
	s := spec("zipped")
	s.CodeDir = zipPath
	f := newFixture(t, s)
	first := decodeEcho(t, invoke(t, f.rt, "zipped", `{}`))

	// Redeploying replaces the function: the old instance goes, the new config applies.
	s2 := spec("zipped")
	s2.CodeDir, s2.Handler = zipPath, "bootstrap"
	s2.Env = map[string]string{"MY_SETTING": "v2"}
	if err := f.rt.Deploy(s2); err != nil {
		t.Fatalf("redeploy: %v", err)
	}
	second := decodeEcho(t, invoke(t, f.rt, "zipped", `{}`))
	if second.Env["MY_SETTING"] != "v2" || second.PID == first.PID || second.Handler != "bootstrap" {
		t.Errorf("after redeploy: env %q pid %d (old %d), want v2 on a new instance", second.Env["MY_SETTING"], second.PID, first.PID)
	}
}

func writeZip(t *testing.T, zipPath, bin string) {
	t.Helper()
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	zf, err := os.Create(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(zf)
	h := &zip.FileHeader{Name: "main", Method: zip.Store}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	// cmd/build-fc-zip style "bootstrap" symlink to the binary.
	lh := &zip.FileHeader{Name: "bootstrap"}
	lh.SetMode(os.ModeSymlink | 0o777)
	if w, err = zw.CreateHeader(lh); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, "main"); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zf.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestZipRejectsEscapingEntries(t *testing.T) {
	t.Parallel()
	type entry struct {
		name string
		mode os.FileMode
		body string
	}
	link := func(name, target string) entry { return entry{name, os.ModeSymlink | 0o777, target} }
	const escapes, beneath = "escapes the code directory", "lies beneath symlink"
	tests := []struct {
		name    string
		entries []entry
		want    string
	}{
		{"parent path", []entry{{"../evil", 0o644, "x"}}, escapes},
		{"absolute path", []entry{{"/etc/evil", 0o644, "x"}}, escapes},
		{"symlink out", []entry{link("bootstrap", "../../etc/passwd")}, escapes},
		{"absolute symlink", []entry{link("bootstrap", "/bin/sh")}, escapes},
		// Each link alone stays inside; the second is created through the first and
		// points beside the code directory.
		{"symlink chain", []entry{link("a/b", ".."), link("a/b/c", ".."), {"a/b/c/evil", 0o644, "x"}}, beneath},
		{"file through a symlink", []entry{link("up", "."), {"up/main", 0o755, "x"}}, beneath},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			p := filepath.Join(dir, "evil.zip")
			var buf bytes.Buffer
			zw := zip.NewWriter(&buf)
			for _, e := range tc.entries {
				h := &zip.FileHeader{Name: e.name}
				h.SetMode(e.mode)
				w, err := zw.CreateHeader(h)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.WriteString(w, e.body)
			}
			if err := zw.Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			parent := filepath.Join(dir, "extract")
			if err := os.Mkdir(parent, 0o755); err != nil {
				t.Fatal(err)
			}
			if _, err := extractZip(p, parent); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("extractZip = %v, want an error containing %q", err, tc.want)
			}
			if left, _ := os.ReadDir(parent); len(left) != 0 {
				t.Errorf("failed extraction left %d entries behind", len(left))
			}
		})
	}
}

func TestCloseStopsInstancesAndAsync(t *testing.T) {
	t.Parallel()
	env := core.NewEnv(core.NewManualClock(time.Unix(0, 0)), nil)
	rt := New(env, Options{RetryBackoff: time.Hour, StopGrace: 500 * time.Millisecond})
	s := spec("closing")
	s.Async.MaxRetryAttempts = Retries(8)
	for _, name := range []string{"a", "b"} {
		s.Name = name
		if err := rt.Deploy(s); err != nil {
			t.Fatal(err)
		}
	}
	pa := decodeEcho(t, invoke(t, rt, "a", `{}`)).PID
	pb := decodeEcho(t, invoke(t, rt, "b", `{}`)).PID
	// An async invocation parked in a one-hour backoff must not keep Close waiting.
	if _, err := rt.InvokeAsync("a", []byte(`{"action":"error"}`), "manual"); err != nil {
		t.Fatal(err)
	}
	if err := rt.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, pid := range []int{pa, pb} {
		if processAlive(pid) {
			t.Errorf("pid %d still alive after Close", pid)
		}
	}
	if n := env.Tracker.InFlight(); n != 0 {
		t.Errorf("tracker in flight after Close = %d, want 0", n)
	}
	if _, err := rt.Invoke(context.Background(), "a", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Invoke after Close = %v, want ErrClosed", err)
	}
}

func TestRuntimeAPIResults(t *testing.T) {
	t.Parallel()
	env := core.NewEnv(core.NewManualClock(time.Unix(0, 0)), nil)
	in := &instance{id: "c-test", log: env.Log}
	p := &pending{id: "req-1", result: make(chan apiResult, 1)}
	in.current = p
	post := func(id string, ok bool, body string) int {
		r := httptest.NewRequest("POST", apiPrefix+id+"/error", strings.NewReader(body))
		r.SetPathValue("id", id)
		w := httptest.NewRecorder()
		in.handleResult(w, r, ok)
		return w.Code
	}
	if code := post("other", true, `{}`); code != 404 {
		t.Errorf("result for a request not in progress = %d, want 404", code)
	}
	if code := post("req-1", false, `{"errorMessage":"x"}`); code != 200 {
		t.Errorf("result for the current request = %d, want 200", code)
	}
	if res := <-p.result; res.ok || string(res.body) != `{"errorMessage":"x"}` {
		t.Errorf("delivered %+v", res)
	}
	if code := post("req-1", true, `{}`); code != 404 {
		t.Errorf("second result for the same request = %d, want 404", code)
	}
}

func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	// A zombie still answers signal 0; check its state.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(b))
	return len(fields) > 2 && fields[2] != "Z"
}

// With MaxInstances N, concurrent invocations of one function run side by side on up to N
// instances (FC scales out) and the rest queue; warm instances are reused. The default
// (1) runs them one at a time.
func TestMaxInstancesRunsInvocationsSideBySide(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ max, want int }{{0, 1}, {2, 2}} {
		clock := core.NewManualClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
		t.Cleanup(clock.Close)
		rt := New(core.NewEnv(clock, nil), Options{StopGrace: 500 * time.Millisecond, MaxInstances: tc.max})
		t.Cleanup(func() { _ = rt.Close() })
		if err := rt.Deploy(spec("slow-fn")); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		invs := make([]Invocation, 3)
		for i := range invs {
			wg.Go(func() { invs[i] = invoke(t, rt, "slow-fn", `{"action":"alloc","seconds":1}`) })
		}
		wg.Wait()
		overlap, instances := 0, map[string]bool{}
		for _, a := range invs {
			if a.Status != StatusOK {
				t.Fatalf("max %d: status %s: %s", tc.max, a.Status, a.ErrorMessage)
			}
			instances[a.InstanceID] = true
			n := 0 // running when a started (a counts itself)
			for _, b := range invs {
				if !b.WallStart.After(a.WallStart) && a.WallStart.Before(b.WallEnd) {
					n++
				}
			}
			overlap = max(overlap, n)
		}
		if overlap != tc.want || len(instances) != tc.want {
			t.Errorf("MaxInstances %d: %d invocations at once on %d instances, want %d and %d",
				tc.max, overlap, len(instances), tc.want, tc.want)
		}
		again := invoke(t, rt, "slow-fn", `{"action":"echo"}`)
		if again.ColdStart || !instances[again.InstanceID] {
			t.Errorf("MaxInstances %d: the next invocation ran on %s (cold %v), want a warm one of %v", tc.max, again.InstanceID, again.ColdStart, instances)
		}
	}
}
