package obs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	sls "github.com/aliyun/aliyun-log-go-sdk"
	"github.com/gogo/protobuf/proto"

	"github.com/ecsdr/ecs-image-dr/pkg/redact"
)

// SLSConfig says where records go. Project "" means stdout only.
type SLSConfig struct {
	// Endpoint is host[:port] (or http(s)://host[:port]), e.g. cn-hangzhou-intranet.log.aliyuncs.com.
	// The SDK puts the project in front of the host. With an IP or localhost endpoint
	// (the local cloud) and no HTTPClient, New dials the endpoint whatever the host says.
	Endpoint string
	Project  string
	Logstore string
	Topic    string // LogGroup topic (__topic__), e.g. the function name
	Source   string // LogGroup source (__source__)
	// Credentials: the function's role credentials from the FC context (STS). Update them
	// per invocation with Sink.SetCredentials.
	AccessKeyID, AccessKeySecret, SecurityToken string
	// Redact lists further values never to write (stdout or SLS); the credentials above
	// are always redacted, with or without a project.
	Redact []string
	// HTTPClient is optional (the local cloud's DialClient, a proxy...).
	HTTPClient *http.Client
	// RetryTimeout bounds the SDK's own retries of 5xx replies (default 3 s; the SDK's 90 s
	// would eat the function's time when SLS is down).
	RetryTimeout time.Duration
	// RequestTimeout bounds each HTTP request when HTTPClient is nil (default 5 s).
	RequestTimeout time.Duration
	// MaxBuffered caps the records held between flushes (default 20000); beyond it the
	// oldest are dropped and the next Flush reports how many.
	MaxBuffered int
}

// PutLogs limits the sink stays under: the documented 4096 logs per LogGroup, and a raw
// size well below the 5 MB log group / 10 MB request limits.
const (
	maxBatchLogs  = 4096
	maxBatchBytes = 3 << 20
)

// Sink buffers records for SLS. Its methods are safe for concurrent use, and a nil or
// zero Sink is a no-op.
type Sink struct {
	client            sls.ClientInterface // nil: no SLS
	project, logstore string
	topic, source     string
	stdout            slog.Handler
	maxBuffered       int

	flushMu sync.Mutex // one Flush at a time
	mu      sync.Mutex
	buf     []*sls.Log
	dropped int
	stream  *streamer // nil unless Stream runs (stream.go)
}

func newSink(cfg SLSConfig, stdout slog.Handler) (*Sink, error) {
	if cfg.Project == "" {
		return &Sink{}, nil
	}
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"Endpoint", cfg.Endpoint}, {"Logstore", cfg.Logstore},
		{"AccessKeyID", cfg.AccessKeyID}, {"AccessKeySecret", cfg.AccessKeySecret},
	} {
		if strings.TrimSpace(f.v) == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("obs: sls config for project %s: missing %s", cfg.Project, strings.Join(missing, ", "))
	}
	if cfg.RetryTimeout <= 0 {
		cfg.RetryTimeout = 3 * time.Second
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 5 * time.Second
	}
	if cfg.MaxBuffered <= 0 {
		cfg.MaxBuffered = 20000
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = httpClientFor(cfg.Endpoint, cfg.RequestTimeout)
	}
	c := sls.CreateNormalInterfaceV2(cfg.Endpoint, sls.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.AccessKeySecret, cfg.SecurityToken))
	c.SetHTTPClient(hc)
	c.SetRetryTimeout(cfg.RetryTimeout)
	return &Sink{
		client: c, project: cfg.Project, logstore: cfg.Logstore, topic: cfg.Topic, source: cfg.Source,
		stdout: stdout, maxBuffered: cfg.MaxBuffered,
	}, nil
}

// httpClients are the clients of httpClientFor by endpoint and timeout: a process (an FC
// instance) keeps one per endpoint, so the invocations of a warm instance reuse its
// keep-alive connections instead of opening (and leaving idle) new ones every time.
var httpClients sync.Map // httpClientKey -> *http.Client

type httpClientKey struct {
	endpoint string
	timeout  time.Duration
}

// httpClientFor returns the client for endpoint, shared in the process. The SDK addresses
// http://{project}.{endpoint}/, which for an IP or localhost endpoint (the local cloud)
// does not resolve; there the dialer dials the endpoint itself and only the Host header
// carries the project. Proxies from the environment are honoured for real endpoints.
func httpClientFor(endpoint string, timeout time.Duration) *http.Client {
	key := httpClientKey{endpoint, timeout}
	if c, ok := httpClients.Load(key); ok {
		return c.(*http.Client)
	}
	c, _ := httpClients.LoadOrStore(key, newHTTPClient(endpoint, timeout))
	return c.(*http.Client)
}

func newHTTPClient(endpoint string, timeout time.Duration) *http.Client {
	hostport := endpoint
	if u, err := url.Parse(endpoint); err == nil && u.Host != "" {
		hostport = u.Host
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	if net.ParseIP(strings.Trim(host, "[]")) != nil || host == "localhost" {
		addr := hostport
		if host == hostport { // no port
			addr = net.JoinHostPort(host, "80")
		}
		d := &net.Dialer{Timeout: timeout}
		t.Proxy = nil
		t.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		}
	}
	return &http.Client{Transport: t, Timeout: timeout}
}

// SetCredentials replaces the credentials for later flushes (FC hands each invocation
// fresh STS credentials).
func (s *Sink) SetCredentials(accessKeyID, accessKeySecret, securityToken string) {
	if s == nil || s.client == nil {
		return
	}
	s.client.ResetAccessKeyToken(accessKeyID, accessKeySecret, securityToken)
}

// Pending reports the records waiting for Flush.
func (s *Sink) Pending() int {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.buf)
}

func (s *Sink) add(t time.Time, cs []content) {
	l := &sls.Log{Time: proto.Uint32(uint32(t.Unix())), TimeNs: proto.Uint32(uint32(t.Nanosecond()))}
	l.Contents = make([]*sls.LogContent, len(cs))
	for i, c := range cs {
		l.Contents[i] = &sls.LogContent{Key: proto.String(c.k), Value: proto.String(c.v)}
	}
	s.mu.Lock()
	s.buf = append(s.buf, l)
	s.dropOldestLocked()
	s.stream.pokeLocked(len(s.buf))
	s.mu.Unlock()
}

// dropOldestLocked keeps the newest maxBuffered records and counts the rest as dropped.
func (s *Sink) dropOldestLocked() {
	if over := len(s.buf) - s.maxBuffered; over > 0 {
		s.buf = s.buf[over:]
		s.dropped += over
	}
}

// Flush sends every buffered record with PutLogs, in batches of at most 4096 logs. It
// stops at the first failed batch (SLS is likely down: further calls would only spend the
// function's time) and at ctx's end, which it honours even while a call is in flight (the
// call finishes on its own, bounded by the SDK's retry and request timeouts). A failed
// batch is dropped; batches not yet attempted stay buffered for the next Flush. Errors
// are written to stdout as a record and returned: callers should ignore them, since a
// failure to log must never fail a backup.
func (s *Sink) Flush(ctx context.Context) error {
	if s == nil || s.client == nil {
		return nil
	}
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.mu.Lock()
	logs, dropped := s.buf, s.dropped
	s.buf, s.dropped = nil, 0
	s.mu.Unlock()

	batches := split(logs)
	var errs []error
	failed := 0
	for i, b := range batches {
		if err := ctx.Err(); err != nil {
			s.requeue(batches[i:])
			errs = append(errs, s.wrap(0, err))
			break
		}
		done := make(chan error, 1)
		lg := &sls.LogGroup{Logs: b, Topic: proto.String(s.topic), Source: proto.String(s.source)}
		go func() { done <- s.client.PutLogs(s.project, s.logstore, lg) }()
		var err error
		select {
		case err = <-done:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			failed += len(b)
			s.requeue(batches[i+1:])
			errs = append(errs, s.wrap(len(b), err))
			break
		}
	}
	if dropped > 0 {
		errs = append(errs, fmt.Errorf("obs: %d records dropped before flush: buffer of %d full", dropped, s.maxBuffered))
	}
	err := errors.Join(errs...)
	if err != nil {
		s.report(err, failed, dropped)
	}
	return err
}

// split cuts logs into batches under the PutLogs limits.
func split(logs []*sls.Log) [][]*sls.Log {
	var out [][]*sls.Log
	start, size := 0, 0
	for i, l := range logs {
		n := l.Size()
		if i > start && (i-start >= maxBatchLogs || size+n > maxBatchBytes) {
			out = append(out, logs[start:i])
			start, size = i, 0
		}
		size += n
	}
	if start < len(logs) {
		out = append(out, logs[start:])
	}
	return out
}

// requeue puts unsent batches back in front of what was logged meanwhile.
func (s *Sink) requeue(batches [][]*sls.Log) {
	var back []*sls.Log
	for _, b := range batches {
		back = append(back, b...)
	}
	if len(back) == 0 {
		return
	}
	s.mu.Lock()
	s.buf = append(back, s.buf...)
	s.dropOldestLocked()
	s.mu.Unlock()
}

// FlushError is a failed PutLogs: Status and Code come from the SLS reply (0 and "" for
// transport errors, deadlines, and 5xx replies the SDK retried until its retry timeout,
// whose last reply only survives in the message). Its message is one line, unlike the SDK's indented JSON.
type FlushError struct {
	Project, Logstore string
	Logs              int // records in the failed batch (0: none attempted)
	Status            int // HTTP status, 0 when there was no reply
	Code              string
	Err               error
}

func (e *FlushError) Error() string {
	detail := e.Err.Error()
	var se *sls.Error
	if errors.As(e.Err, &se) {
		if se.HTTPCode > 0 {
			detail = fmt.Sprintf("%d %s: %s", se.HTTPCode, se.Code, se.Message)
		} else {
			detail = se.Message // the SDK's "ClientError" wrapper of a transport error
		}
	}
	// One line: the SDK's errors are indented JSON, which would split a stdout record. A
	// transport error's text holds the request URL: no credential may ride along.
	detail = redact.String(strings.Join(strings.Fields(detail), " "))
	return fmt.Sprintf("obs: put %d logs to sls %s/%s: %s", e.Logs, e.Project, e.Logstore, detail)
}

func (e *FlushError) Unwrap() error { return e.Err }

func (s *Sink) wrap(n int, err error) error {
	fe := &FlushError{Project: s.project, Logstore: s.logstore, Logs: n, Err: err}
	// The SDK wraps transport errors and its own retry timeout as HTTPCode -1
	// "ClientError"; only a real reply has a status and a code.
	var se *sls.Error
	if errors.As(err, &se) && se.HTTPCode > 0 {
		fe.Status, fe.Code = int(se.HTTPCode), se.Code
	}
	return fe
}

// report writes the flush failure to stdout only: sending it to SLS would fail the same way.
func (s *Sink) report(err error, failed, dropped int) {
	r := slog.NewRecord(time.Now(), slog.LevelError, "obs: sending records to SLS failed", 0)
	code := ""
	var fe *FlushError
	if errors.As(err, &fe) {
		code = fe.Code
	}
	r.AddAttrs(
		slog.String("error", err.Error()),
		slog.String(KeyErrorCode, code),
		slog.Int("records_failed", failed),
		slog.Int("records_dropped", dropped),
		slog.Int("records_pending", s.Pending()),
		slog.String("sls_project", s.project),
		slog.String("sls_logstore", s.logstore),
	)
	_ = s.stdout.Handle(context.Background(), r)
}
