package core

import (
	"sync"
	"time"
)

// MaxSkew is how far a signed request's timestamp (ECS Timestamp / x-acs-date, SLS and
// OSS Date) may be from the gateway's wall clock: 15 minutes, as the real gateways
// allow. It is compared with real time, never the simulated clock: the SDKs stamp wall
// time, and the simulated clock is what the product sees, not what the gateway checks.
const MaxSkew = 15 * time.Minute

// Nonces remembers the SignatureNonce of each signed RPC request for MaxSkew of wall time,
// so a replayed request is refused (SignatureNonceUsed) while its timestamp still passes.
type Nonces struct {
	Now  func() time.Time // wall clock (default time.Now)
	mu   sync.Mutex
	seen map[string]time.Time // key: access key id + "/" + nonce -> expiry
	n    int
}

// NewNonces returns an empty nonce cache on the wall clock.
func NewNonces() *Nonces { return &Nonces{Now: time.Now, seen: map[string]time.Time{}} }

// Use records the nonce and reports whether it was fresh (false: used within MaxSkew).
func (c *Nonces) Use(accessKeyID, nonce string) bool {
	now := c.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	key := accessKeyID + "/" + nonce
	if exp, ok := c.seen[key]; ok && now.Before(exp) {
		return false
	}
	c.seen[key] = now.Add(MaxSkew)
	if c.n++; c.n%1024 == 0 { // sweep expired entries now and then
		for k, exp := range c.seen {
			if !now.Before(exp) {
				delete(c.seen, k)
			}
		}
	}
	return true
}

// Skewed reports whether t is more than MaxSkew from the wall clock.
func (c *Nonces) Skewed(t time.Time) bool {
	d := c.Now().Sub(t)
	return d > MaxSkew || d < -MaxSkew
}
