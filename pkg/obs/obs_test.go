package obs_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	localsls "github.com/ecsdr/ecs-image-dr/pkg/localcloud/sls"
	"github.com/ecsdr/ecs-image-dr/pkg/obs"
	"github.com/ecsdr/ecs-image-dr/pkg/testutil"
)

const (
	proj  = "dr-logs"
	store = "ecs-image-dr"
)

// localSLS is a local SLS with project dr-logs and logstore ecs-image-dr.
type localSLS struct {
	env     *core.Env
	svc     *localsls.Service
	addr    string
	putLogs atomic.Int64
}

func newLocalSLS(t *testing.T) *localSLS {
	t.Helper()
	env := core.NewEnv(core.NewManualClock(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)), nil)
	l := &localSLS{env: env, svc: localsls.New(env)}
	l.svc.EnsureProject(proj, "cn-hangzhou")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/logstores/") && strings.Count(r.URL.Path, "/") == 2 {
			l.putLogs.Add(1)
		}
		l.svc.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	l.addr = srv.Listener.Addr().String()
	if err := localsls.NewSDKClient(l.addr, cred()).CreateLogStore(proj, store, 30, 2, false, 0); err != nil {
		t.Fatalf("create logstore: %v", err)
	}
	return l
}

func cred() core.Credential {
	return core.Credential{AccessKeyID: core.DefaultAccessKeyID, AccessKeySecret: core.DefaultAccessKeySecret}
}

func slsConfig(endpoint string) obs.SLSConfig {
	return obs.SLSConfig{
		Endpoint: endpoint, Project: proj, Logstore: store, Topic: "create-image", Source: "fc-instance-1",
		AccessKeyID: core.DefaultAccessKeyID, AccessKeySecret: core.DefaultAccessKeySecret,
	}
}

func TestRecordsReachSLS(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  func(addr string) obs.SLSConfig
	}{
		// An IP endpoint (how the local cloud is configured) is dialed directly.
		{"ip endpoint", func(addr string) obs.SLSConfig { return slsConfig(addr) }},
		{"injected http client", func(addr string) obs.SLSConfig {
			c := slsConfig(localsls.SDKEndpoint)
			c.HTTPClient = localsls.DialClient(addr)
			return c
		}},
		{"sts credentials", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := newLocalSLS(t)
			cfg := slsConfig(l.addr)
			if tt.cfg != nil {
				cfg = tt.cfg(l.addr)
			} else {
				sts := l.env.Creds.IssueSTS(core.DefaultAccountID, time.Hour)
				cfg.AccessKeyID, cfg.AccessKeySecret, cfg.SecurityToken = sts.AccessKeyID, sts.AccessKeySecret, sts.SecurityToken
			}
			var out testutil.Buffer
			log, sink, err := obs.New(&out, slog.LevelInfo, cfg)
			if err != nil {
				t.Fatalf("new: %v", err)
			}
			fn := log.With(obs.KeyFunction, "create-image", obs.KeyRequestID, "req-1", obs.KeyPolicy, "daily")
			fn.Debug("below the level: neither stdout nor SLS")
			fn.Info("image created",
				obs.KeyAction, obs.ActionCreateImage, obs.KeyRegion, "cn-hangzhou", obs.KeyInstance, "i-abc",
				obs.KeyImage, "m-new", obs.KeySourceImage, "m-src", obs.KeyResult, obs.ResultOK,
				obs.KeyErrorCode, "", obs.DurationMS(1500*time.Millisecond),
				slog.Group("detail", slog.String("zone", "cn-hangzhou-h"), slog.Group("disk", slog.Int("size", 40))),
				"access_key_secret", "do-not-log-me",
			)
			fn.WithGroup("retry").Warn("throttled", obs.KeyResult, obs.ResultFailed, obs.KeyErrorCode, "Throttling.User", "attempt", 2)
			if n := sink.Pending(); n != 2 {
				t.Fatalf("pending = %d, want 2", n)
			}
			if err := sink.Flush(context.Background()); err != nil {
				t.Fatalf("flush: %v", err)
			}
			if n := sink.Pending(); n != 0 {
				t.Fatalf("pending after flush = %d", n)
			}

			c := localsls.NewSDKClient(l.addr, cred())
			now := time.Now().Unix()
			resp, err := c.GetLogs(proj, store, "", now-3600, now+3600, "function: create-image and result: ok and action: "+obs.ActionCreateImage, 100, 0, false)
			if err != nil {
				t.Fatalf("get logs: %v", err)
			}
			if len(resp.Logs) != 1 {
				t.Fatalf("got %d logs, want 1: %v", len(resp.Logs), resp.Logs)
			}
			got := resp.Logs[0]
			tm, err := time.Parse(time.RFC3339Nano, got["time"])
			if err != nil || strconv.FormatInt(tm.Unix(), 10) != got["__time__"] {
				t.Fatalf("time %q does not match __time__ %q (%v)", got["time"], got["__time__"], err)
			}
			delete(got, "time")
			delete(got, "__time__")
			want := map[string]string{
				"__topic__": "create-image", "__source__": "fc-instance-1",
				"level": "INFO", "msg": "image created",
				"function": "create-image", "request_id": "req-1", "policy": "daily",
				"action": obs.ActionCreateImage, "region": "cn-hangzhou", "instance": "i-abc", "image": "m-new",
				"source_image": "m-src", "result": "ok", "error_code": "", "duration_ms": "1500",
				"detail.zone": "cn-hangzhou-h", "detail.disk.size": "40",
				"access_key_secret": "[REDACTED]",
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("log contents:\n got %v\nwant %v", got, want)
			}
			resp, err = c.GetLogs(proj, store, "", now-3600, now+3600, "retry.attempt > 1 and retry.error_code: Throttling.User", 100, 0, false)
			if err != nil || len(resp.Logs) != 1 || resp.Logs[0]["level"] != "WARN" || resp.Logs[0]["retry.result"] != "failed" {
				t.Fatalf("grouped record: %v, %v", resp, err)
			}

			lines := out.JSONLines(t)
			if len(lines) != 2 || lines[0]["msg"] != "image created" || lines[0][obs.KeyDuration] != float64(1500) ||
				lines[0]["access_key_secret"] != "[REDACTED]" || lines[0]["detail"].(map[string]any)["zone"] != "cn-hangzhou-h" {
				t.Fatalf("stdout lines: %v", lines)
			}
		})
	}
}

func TestFlushBatches(t *testing.T) {
	t.Parallel()
	l := newLocalSLS(t)
	log, sink, err := obs.New(&testutil.Buffer{}, slog.LevelInfo, slsConfig(l.addr))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5000 {
		log.Info("tick", "i", i)
	}
	if err := sink.Flush(context.Background()); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if n := l.putLogs.Load(); n != 2 {
		t.Fatalf("PutLogs calls = %d, want 2 (4096 + 904)", n)
	}
	recs := l.svc.Logs(proj, store)
	if len(recs) != 5000 {
		t.Fatalf("stored %d records, want 5000", len(recs))
	}
	for i, r := range recs {
		if r.Contents["i"] != strconv.Itoa(i) {
			t.Fatalf("record %d has i=%s: order lost", i, r.Contents["i"])
		}
	}
	// A second flush with nothing buffered sends nothing.
	if err := sink.Flush(context.Background()); err != nil || l.putLogs.Load() != 2 {
		t.Fatalf("empty flush: %v, %d calls", err, l.putLogs.Load())
	}
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestFlushFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		setup   func(t *testing.T) obs.SLSConfig
		code    string // FlushError.Code
		message string // in the error text
	}{
		{
			name:    "dead endpoint",
			setup:   func(t *testing.T) obs.SLSConfig { return slsConfig(deadAddr(t)) },
			message: "connection refused",
		},
		{
			name: "missing logstore",
			setup: func(t *testing.T) obs.SLSConfig {
				c := slsConfig(newLocalSLS(t).addr)
				c.Logstore = "nope-store"
				return c
			},
			code: "LogStoreNotExist", message: "404 LogStoreNotExist",
		},
		{
			name: "bad signature",
			setup: func(t *testing.T) obs.SLSConfig {
				c := slsConfig(newLocalSLS(t).addr)
				c.AccessKeySecret = "wrong"
				return c
			},
			code: "SignatureNotMatch", message: "401 SignatureNotMatch",
		},
		{
			name: "server busy until the retry timeout",
			setup: func(t *testing.T) obs.SLSConfig {
				l := newLocalSLS(t)
				l.env.Faults.Set("sls", "PutLogs", core.FaultRule{ErrorRate: 1})
				c := slsConfig(l.addr)
				c.RetryTimeout = 300 * time.Millisecond
				return c
			},
			message: "ServerBusy",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out testutil.Buffer
			log, sink, err := obs.New(&out, slog.LevelInfo, tt.setup(t))
			if err != nil {
				t.Fatal(err)
			}
			log.Info("a", obs.KeyResult, obs.ResultOK)
			log.Info("b", obs.KeyResult, obs.ResultOK)
			// The deadline is far away: Flush must come back on its own, with the SDK
			// error, not by running out the context.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err = sink.Flush(ctx)
			var fe *obs.FlushError
			if !errors.As(err, &fe) {
				t.Fatalf("flush error %T %v, want *obs.FlushError", err, err)
			}
			if errors.Is(err, context.DeadlineExceeded) || fe.Code != tt.code || fe.Logs != 2 || !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("flush error: code %q logs %d: %v", fe.Code, fe.Logs, err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
			if n := sink.Pending(); n != 0 {
				t.Fatalf("failed batch should be dropped, %d pending", n)
			}
			lines := out.JSONLines(t)
			last := lines[len(lines)-1]
			if last["level"] != "ERROR" || last["msg"] != "obs: sending records to SLS failed" || last[obs.KeyErrorCode] != tt.code ||
				last["records_failed"] != float64(2) || !strings.Contains(last["error"].(string), tt.message) {
				t.Fatalf("stdout failure record: %v", last)
			}
			if strings.Contains(out.String(), "wrong") {
				t.Fatal("the secret leaked to stdout")
			}
		})
	}
}

func TestFlushHonoursContext(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // hang like a black-holed endpoint until the test ends
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	var out testutil.Buffer
	log, sink, err := obs.New(&out, slog.LevelInfo, slsConfig(srv.Listener.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5000 {
		log.Info("tick", "i", i)
	}
	// Long enough for the first batch to be on the wire on a loaded machine (it was 100 ms,
	// and a busy CI machine sometimes spent that before sending anything).
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err = sink.Flush(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("flush = %v, want the context's deadline", err)
	}
	// The in-flight batch of 4096 is given up; the other 904 wait for the next Flush.
	if n := sink.Pending(); n != 904 {
		t.Fatalf("pending = %d, want 904", n)
	}
	// Another Flush with an expired context sends nothing and keeps them.
	if err := sink.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) || sink.Pending() != 904 {
		t.Fatalf("flush with done ctx: %v, pending %d", err, sink.Pending())
	}
}

func TestBufferCap(t *testing.T) {
	t.Parallel()
	l := newLocalSLS(t)
	cfg := slsConfig(l.addr)
	cfg.MaxBuffered = 10
	var out testutil.Buffer
	log, sink, err := obs.New(&out, slog.LevelInfo, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 15 {
		log.Info("tick", "i", i)
	}
	err = sink.Flush(context.Background())
	if err == nil || !strings.Contains(err.Error(), "5 records dropped") {
		t.Fatalf("flush = %v, want a report of 5 dropped records", err)
	}
	recs := l.svc.Logs(proj, store)
	if len(recs) != 10 || recs[0].Contents["i"] != "5" {
		t.Fatalf("stored %d records starting at %v; want the newest 10", len(recs), recs[0].Contents)
	}
}

func TestStdoutOnly(t *testing.T) {
	t.Parallel()
	var out testutil.Buffer
	log, sink, err := obs.New(&out, slog.LevelDebug, obs.SLSConfig{})
	if err != nil {
		t.Fatal(err)
	}
	log.Debug("hello", obs.KeyFunction, "cleanup")
	if err := sink.Flush(context.Background()); err != nil || sink.Pending() != 0 {
		t.Fatalf("flush without SLS: %v", err)
	}
	var nilSink *obs.Sink
	if err := nilSink.Flush(context.Background()); err != nil {
		t.Fatalf("nil sink flush: %v", err)
	}
	if lines := out.JSONLines(t); len(lines) != 1 || lines[0][obs.KeyFunction] != "cleanup" || lines[0]["level"] != "DEBUG" {
		t.Fatalf("stdout: %v", lines)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	var out testutil.Buffer
	log, sink, err := obs.New(&out, slog.LevelInfo, obs.SLSConfig{Project: "p", Endpoint: "x"})
	if err == nil || !strings.Contains(err.Error(), "Logstore") || !strings.Contains(err.Error(), "AccessKeyID") || !strings.Contains(err.Error(), "AccessKeySecret") {
		t.Fatalf("err = %v, want the missing fields named", err)
	}
	// Still usable: stdout logging, no-op sink.
	log.Error("config broken", "err", err)
	if sink == nil || sink.Flush(context.Background()) != nil {
		t.Fatal("sink should be a no-op")
	}
	if lines := out.JSONLines(t); len(lines) != 1 || lines[0]["msg"] != "config broken" {
		t.Fatalf("stdout: %v", lines)
	}
}
