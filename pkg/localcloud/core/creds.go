package core

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"time"
)

// Default identity of the seeded account. These are local, well-known test values and
// grant nothing outside the local cloud.
const (
	DefaultAccountID       = "1234567890123456"
	DefaultAccessKeyID     = "LTAI5tLocalCloudTestKey"
	DefaultAccessKeySecret = "LocalCloudTestSecret000000000000"
)

// Credential is what an AccessKeyId resolves to.
type Credential struct {
	AccessKeyID     string
	AccessKeySecret string
	AccountID       string
	// SecurityToken is set for STS credentials: requests signed with this key must carry
	// exactly this token (ECS SecurityToken param, SLS x-acs-security-token, OSS
	// x-oss-security-token).
	SecurityToken string
	Expires       time.Time // zero = never
	// Role is the RAM role name of STS credentials minted for a role; "" for the account's
	// own keys. Calls made with role credentials are evaluated by Env.Authz.
	Role string
}

// Credential lookup errors; each service maps them to its own wire error.
var (
	ErrUnknownAccessKey = errors.New("access key id not found")
	ErrTokenMismatch    = errors.New("security token invalid")
	ErrTokenExpired     = errors.New("security token expired")
)

// Creds is the local cloud's credential store: long-term keys and STS tokens.
type Creds struct {
	mu    sync.RWMutex
	keys  map[string]Credential
	clock *Clock
}

// NewCreds returns a store holding the default account key.
func NewCreds(clock *Clock) *Creds {
	c := &Creds{keys: map[string]Credential{}, clock: clock}
	c.Add(Credential{AccessKeyID: DefaultAccessKeyID, AccessKeySecret: DefaultAccessKeySecret, AccountID: DefaultAccountID})
	return c
}

// Add registers (or replaces) a credential.
func (c *Creds) Add(cr Credential) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keys[cr.AccessKeyID] = cr
}

// IssueSTS mints temporary credentials for account, valid for ttl of simulated time, as
// the FC runtime hands a function's role credentials to each invocation.
func (c *Creds) IssueSTS(accountID string, ttl time.Duration) Credential {
	cr := Credential{
		AccessKeyID:     "STS.local" + randHex(10),
		AccessKeySecret: randHex(16),
		AccountID:       accountID,
		SecurityToken:   "CAIS" + randHex(24),
		Expires:         c.clock.Now().Add(ttl),
	}
	c.Add(cr)
	return cr
}

// Lookup resolves an AccessKeyId and checks the security token that came with the request
// ("" when none was sent). The returned credential's secret is what the signature must use.
func (c *Creds) Lookup(accessKeyID, securityToken string) (Credential, error) {
	c.mu.RLock()
	cr, ok := c.keys[accessKeyID]
	c.mu.RUnlock()
	if !ok {
		return Credential{}, ErrUnknownAccessKey
	}
	if cr.SecurityToken != "" || securityToken != "" {
		if cr.SecurityToken != securityToken {
			return Credential{}, ErrTokenMismatch
		}
		if !cr.Expires.IsZero() && c.clock.Now().After(cr.Expires) {
			return Credential{}, ErrTokenExpired
		}
	}
	return cr, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// NewRequestID returns an id shaped like Alibaba Cloud request ids (uppercase UUID).
func NewRequestID() string {
	h := randHex(16)
	b := []byte(h)
	for i := range b {
		if b[i] >= 'a' && b[i] <= 'f' {
			b[i] -= 32
		}
	}
	s := string(b)
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
}

// RandomHex returns n random bytes hex-encoded (2n characters), for resource ids.
func RandomHex(n int) string { return randHex(n) }
