package ecsx

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// One HTTP transport per (connect timeout, proxy use) for the whole process, shared by
// every SDK client (ECS and ESS) of every adapter and invocation.
//
// Left alone, the SDK gives each client its own http.Transport with default settings:
// two idle connections per host kept forever (no idle timeout). The adapters pool their
// clients per region but let a client go when the pool is full, and build new adapters
// per invocation, so each dropped client left its keep-alive connections open: two
// goroutines, 8 KB of buffers and a socket each, measured at hundreds of connections
// (tens of MB of the resident set) in a cleanup shard at 5,000 instances. A shared
// transport reuses connections across clients and bounds the idle ones.
//
// The clients see the transport through sharedRoundTripper, not as an *http.Transport:
// the SDK rewrites an *http.Transport's DialContext, TLS and proxy settings on every
// request (sdk.Client.setTimeout, DoActionWithSigner), which on a shared transport would
// be a data race. Those settings are therefore made here once: the connect timeout on the
// dialer, TLS verification on (the SDK's default), the proxy from the environment
// (HTTP_PROXY, HTTPS_PROXY, NO_PROXY) unless the endpoint is explicit (the local cloud,
// Apsara Stack), which is always reached directly, as before. The read timeout stays the
// SDK's own (http.Client.Timeout per client).
const (
	// maxIdlePerHost bounds the idle connections kept per host: enough for the busiest
	// region's workers (concurrency 32) plus the listings. With one endpoint for every
	// region (local cloud) all regions share it; beyond it, connections are closed after use.
	maxIdlePerHost = 64
	maxIdleTotal   = 256
	// idleTimeout closes connections idle this long (a warm FC instance between
	// invocations holds none for long).
	idleTimeout = 30 * time.Second
	// defaultConnectTimeout is the SDK's own default connect timeout.
	defaultConnectTimeout = 5 * time.Second
)

type transportKey struct {
	connect time.Duration
	direct  bool
}

var (
	transportsMu sync.Mutex
	transports   = map[transportKey]*http.Transport{}
)

// sharedRoundTripper hides the shared *http.Transport from the SDK's type assertions.
type sharedRoundTripper struct{ t *http.Transport }

func (s sharedRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	return s.t.RoundTrip(r)
}

// sharedTransport returns the process's transport for a connect timeout (0: the SDK's
// default) and whether the endpoint is reached directly (no proxy).
func sharedTransport(connect time.Duration, direct bool) http.RoundTripper {
	if connect <= 0 {
		connect = defaultConnectTimeout
	}
	k := transportKey{connect: connect, direct: direct}
	transportsMu.Lock()
	defer transportsMu.Unlock()
	t, ok := transports[k]
	if !ok {
		d := &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}
		t = &http.Transport{
			DialContext:         d.DialContext,
			ForceAttemptHTTP2:   true,
			MaxIdleConns:        maxIdleTotal,
			MaxIdleConnsPerHost: maxIdlePerHost,
			IdleConnTimeout:     idleTimeout,
			TLSHandshakeTimeout: 10 * time.Second,
		}
		if !direct {
			t.Proxy = http.ProxyFromEnvironment
		}
		transports[k] = t
	}
	return sharedRoundTripper{t}
}
