package app

import (
	"context"
	"strings"
	"sync"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// What a warm instance keeps from one invocation to the next. FC runs many invocations in
// one process (a warm instance) and a Go process keeps its globals, so the SDK clients,
// and with them their HTTP transports and open keep-alive connections (a TLS handshake
// each on the real endpoints), are built once instead of at every invocation, as is an
// inline policy's parse. What may change between invocations is not kept:
//   - credentials: FC passes the role's STS credentials with every invocation and rotates
//     them before they expire. Clients are kept per credentials: when FC hands over new
//     ones, new clients sign with them (the previous set stays for an invocation still
//     running with them, then goes);
//   - the pacing: every invocation paces its own requests at its policy's rates (the
//     limiter travels in the invocation's context, see paceFrom);
//   - a policy in OSS (oss://...) is read again at every invocation: an operator's edit
//     applies from the next run. An inline policy (or a file of the code package) can
//     only change with a new deployment, which starts new instances.
//
// A cold instance has none of it: the first invocation builds everything.

// warmClients are the clients of one credentials set.
type warmClients struct {
	creds Credentials
	ecs   ecsx.API
	users ecsx.ImageUsers

	mu  sync.Mutex
	oss map[string]ossx.Store // by endpoint
}

// keptCredentialSets: the current set and the one before it (an invocation that started
// with it may still be running when FC's rotated credentials arrive).
const keptCredentialSets = 2

// warm is a Handler's cache (the zero value is empty).
type warm struct {
	mu      sync.Mutex
	clients []*warmClients // oldest first

	polMu    sync.Mutex
	polValue string
	pol      *policy.Policy
}

// clientsFor returns the clients signing with creds, building them on first use.
func (h *Handler) clientsFor(creds Credentials) (*warmClients, error) {
	h.warm.mu.Lock()
	defer h.warm.mu.Unlock()
	for _, c := range h.warm.clients {
		if c.creds == creds {
			return c, nil
		}
	}
	cfg := ecsx.SDKConfig{
		Endpoint: h.cfg.ECSEndpoint, Scheme: h.cfg.ECSScheme,
		Credentials: func() (string, string, string) {
			return creds.AccessKeyID, creds.AccessKeySecret, creds.SecurityToken
		},
		Pace: paceFrom,
	}
	api, err := ecsx.NewSDK(cfg)
	if err != nil {
		return nil, err
	}
	// Cleanup keeps images used by instances, launch templates and scaling configurations.
	users, err := ecsx.NewSDKUsers(cfg, "")
	if err != nil {
		return nil, err
	}
	c := &warmClients{creds: creds, ecs: api, users: users, oss: map[string]ossx.Store{}}
	if len(h.warm.clients) >= keptCredentialSets {
		h.warm.clients = h.warm.clients[1:]
	}
	h.warm.clients = append(h.warm.clients, c)
	return c, nil
}

// store returns the OSS client of endpoint.
func (c *warmClients) store(endpoint string) (ossx.Store, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.oss[endpoint]; ok {
		return s, nil
	}
	s, err := ossx.New(endpoint, c.creds.AccessKeyID, c.creds.AccessKeySecret, c.creds.SecurityToken)
	if err != nil {
		return nil, err
	}
	c.oss[endpoint] = s
	return s, nil
}

type paceKey struct{}

// withPace gives the invocation's requests their limiter.
func withPace(ctx context.Context, l *ecsx.Limiter) context.Context {
	return context.WithValue(ctx, paceKey{}, l)
}

// paceFrom is the kept clients' SDKConfig.Pace: it waits on the limiter of the
// invocation whose context the request carries (none: not paced).
func paceFrom(ctx context.Context, region, action string) error {
	if l, ok := ctx.Value(paceKey{}).(*ecsx.Limiter); ok && l != nil {
		return l.Wait(ctx, region, action)
	}
	return nil
}

// loadPolicy is policy.Load, keeping the parse of a value that cannot change while the
// instance lives (inline or a file of the code package); an oss:// policy is read at every
// invocation. Failures are not kept.
func (h *Handler) loadPolicy(ctx context.Context, value string, fetch func(ctx context.Context, url string) ([]byte, error)) (*policy.Policy, error) {
	if strings.HasPrefix(strings.TrimSpace(value), "oss://") {
		return policy.Load(ctx, value, fetch)
	}
	h.warm.polMu.Lock()
	defer h.warm.polMu.Unlock()
	if h.warm.pol != nil && h.warm.polValue == value {
		return h.warm.pol, nil
	}
	p, err := policy.Load(ctx, value, fetch)
	if err != nil {
		return nil, err
	}
	h.warm.polValue, h.warm.pol = value, p
	return p, nil
}
