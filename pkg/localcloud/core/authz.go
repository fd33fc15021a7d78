package core

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// AuthzRequest is one emulated API call as RAM evaluates it: the caller, the RAM action
// ("ecs:DeleteImage") and every resource the call touches, each with the condition keys
// that apply to it (ecs:tag/<key>, acs:ResourceTag/<key>...).
type AuthzRequest struct {
	Cred      Credential
	Action    string
	Resources []AuthzResource
	// Context holds request-level condition keys (acs:RequestTag/<key>, acs:SourceIp...).
	Context map[string][]string
}

// AuthzResource is one resource ARN with its own condition keys.
type AuthzResource struct {
	ARN  string
	Keys map[string][]string
}

// TagKeys returns the condition keys of a resource's tags for service ("ecs"):
// <service>:tag/<key> and acs:ResourceTag/<key>.
func TagKeys(service string, tags map[string]string) map[string][]string {
	out := make(map[string][]string, 2*len(tags))
	for k, v := range tags {
		out[service+":tag/"+k] = []string{v}
		out["acs:ResourceTag/"+k] = []string{v}
	}
	return out
}

// Denied is RAM's refusal: which action on which resource no policy allowed (or a Deny
// statement refused). Each service renders it in its own error format.
type Denied struct {
	Action, Resource, Role string
	Explicit               bool // a Deny statement matched
}

func (d *Denied) Error() string {
	kind := "no policy allows it"
	if d.Explicit {
		kind = "an explicit Deny matched"
	}
	return fmt.Sprintf("You are not authorized to do action %s on resource %s (role %s: %s).", d.Action, d.Resource, d.Role, kind)
}

// Authorizer decides every call made with a role's STS credentials. Long-term keys of
// the account (its root identity) are never restricted.
type Authorizer interface {
	Authorize(AuthzRequest) *Denied
}

// Authorize asks env's authorizer (none: everything allowed) and records the refusal.
func (e *Env) Authorize(r AuthzRequest) *Denied {
	if e.Authz == nil || r.Cred.Role == "" {
		return nil
	}
	d := e.Authz.Authorize(r)
	if d != nil {
		e.Log.Info("ram: denied", "role", r.Cred.Role, "action", d.Action, "resource", d.Resource)
	}
	return d
}

var roleARN = regexp.MustCompile(`^acs:ram::(\d+):role/([A-Za-z0-9.\-_]{1,64})$`)

// ParseRoleARN splits acs:ram::<account>:role/<name>. Role names are case-insensitive in
// RAM; the name is returned as written.
func ParseRoleARN(arn string) (account, name string, ok bool) {
	m := roleARN.FindStringSubmatch(strings.TrimSpace(arn))
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

// IssueRoleSTS mints temporary credentials of a role (what FC gets from AssumeRole for a
// function's role): every call made with them is evaluated against the role's policies.
func (c *Creds) IssueRoleSTS(roleARN string, ttl time.Duration) (Credential, error) {
	account, name, ok := ParseRoleARN(roleARN)
	if !ok {
		return Credential{}, fmt.Errorf("role %q is not a RAM role ARN (acs:ram::<account>:role/<name>)", roleARN)
	}
	cr := c.IssueSTS(account, ttl)
	cr.Role = name
	c.Add(cr)
	return cr, nil
}
