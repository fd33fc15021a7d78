package ram

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
)

// APIVersion is RAM's RPC API version; it tells RAM requests apart from ECS and RDS.
const APIVersion = "2015-05-01"

// maxVersions is RAM's limit of versions per custom policy.
const maxVersions = 5

type role struct {
	name, id, arn, trust, description string
	created                           time.Time
	policies                          []string // attached custom policy names, in attach order
}

type policy struct {
	name, description string
	created, updated  time.Time
	versions          []version // oldest first
	defaultVersion    string
	next              int
}

type version struct {
	id      string
	text    string
	doc     *Document
	created time.Time
}

// Service is the local RAM of one account.
type Service struct {
	env *core.Env

	mu       sync.Mutex
	roles    map[string]*role   // by lower-case name
	policies map[string]*policy // by name
}

// New returns an empty RAM and installs it as env's authorizer.
func New(env *core.Env) *Service {
	s := &Service{env: env, roles: map[string]*role{}, policies: map[string]*policy{}}
	env.Authz = s
	return s
}

// IsRAM tells a RAM RPC request from ECS's.
func IsRAM(r *http.Request) bool {
	return r.Header.Get("x-acs-version") == APIVersion || r.URL.Query().Get("Version") == APIVersion
}

// Authorize implements core.Authorizer: the role's attached policies (default versions)
// decide. An unknown role has no policies: everything is refused.
func (s *Service) Authorize(r core.AuthzRequest) *core.Denied {
	return Decide(s.RoleDocuments(r.Cred.Role), r)
}

// RoleDocuments returns the default versions of the policies attached to role.
func (s *Service) RoleDocuments(roleName string) []*Document {
	s.mu.Lock()
	defer s.mu.Unlock()
	ro := s.roles[strings.ToLower(roleName)]
	if ro == nil {
		return nil
	}
	var out []*Document
	for _, pn := range ro.policies {
		if p := s.policies[pn]; p != nil {
			for _, v := range p.versions {
				if v.id == p.defaultVersion {
					out = append(out, v.doc)
				}
			}
		}
	}
	return out
}

// HasRole reports whether the role exists.
func (s *Service) HasRole(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.roles[strings.ToLower(name)] != nil
}

type rpcErr struct {
	status        int
	code, message string
}

func errf(status int, code, format string, a ...any) *rpcErr {
	return &rpcErr{status: status, code: code, message: fmt.Sprintf(format, a...)}
}

func write(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// ServeHTTP serves the RAM RPC API.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := core.NewRequestID()
	resp, e := s.serve(r)
	if e != nil {
		write(w, e.status, map[string]string{"RequestId": reqID, "HostId": "ram.aliyuncs.com", "Code": e.code, "Message": e.message,
			"Recommend": "https://api.aliyun.com/troubleshoot?q=" + e.code + "&product=Ram"})
		return
	}
	resp["RequestId"] = reqID
	write(w, 200, resp)
}

func (s *Service) serve(r *http.Request) (map[string]any, *rpcErr) {
	call, perr := ecs.ParseRPC(s.env, r)
	if perr != nil {
		return nil, errf(perr.Status, perr.Code, "%s", perr.Message)
	}
	if call.SignatureErr != nil && s.env.StrictSignatures {
		return nil, errf(call.SignatureErr.Status, call.SignatureErr.Code, "%s", call.SignatureErr.Message)
	}
	if f := s.env.Faults.Check("ram", call.Action); f.Kind != core.FaultNone {
		if f.Kind == core.FaultThrottle {
			return nil, errf(400, "Throttling.User", "Request was denied due to user flow control.")
		}
		return nil, errf(cmpInt(f.Status, 503), cmpStr(f.Code, "ServiceUnavailable"), "The request has failed due to a temporary failure of the server.")
	}
	h, ok := handlers[call.Action]
	if !ok {
		return nil, errf(404, "InvalidAction.NotFound", "Specified api is not found, please check your url and method: %s.", call.Action)
	}
	// A role may manage RAM too, if its policies say so.
	if call.Cred.Role != "" {
		if d := s.Authorize(core.AuthzRequest{Cred: call.Cred, Action: "ram:" + call.Action,
			Resources: []core.AuthzResource{{ARN: fmt.Sprintf("acs:ram:*:%s:*", call.Account)}}}); d != nil {
			return nil, errf(403, "NoPermission", "%s", d.Error())
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return h(s, call)
}

func cmpInt(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

func cmpStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

type handler func(s *Service, c ecs.RPCCall) (map[string]any, *rpcErr)

var handlers = map[string]handler{
	"CreateRole":          (*Service).createRole,
	"GetRole":             (*Service).getRole,
	"CreatePolicy":        (*Service).createPolicy,
	"GetPolicy":           (*Service).getPolicy,
	"CreatePolicyVersion": (*Service).createPolicyVersion,
	"GetPolicyVersion":    (*Service).getPolicyVersion,
	"ListPolicyVersions":  (*Service).listPolicyVersions,
	"DeletePolicyVersion": (*Service).deletePolicyVersion,
	"AttachPolicyToRole":  (*Service).attachPolicyToRole,
	"ListPoliciesForRole": (*Service).listPoliciesForRole,
}

func required(c ecs.RPCCall, names ...string) *rpcErr {
	for _, n := range names {
		if c.Params.Get(n) == "" {
			return errf(400, "MissingParameter", "The input parameter %q that is mandatory for processing this request is not supplied.", n)
		}
	}
	return nil
}

const timeLayout = "2006-01-02T15:04:05Z"

func (s *Service) roleView(ro *role) map[string]any {
	return map[string]any{"RoleName": ro.name, "RoleId": ro.id, "Arn": ro.arn, "Description": ro.description,
		"AssumeRolePolicyDocument": ro.trust, "CreateDate": ro.created.UTC().Format(timeLayout), "MaxSessionDuration": 3600}
}

func (s *Service) createRole(c ecs.RPCCall) (map[string]any, *rpcErr) {
	if e := required(c, "RoleName", "AssumeRolePolicyDocument"); e != nil {
		return nil, e
	}
	name := c.Params.Get("RoleName")
	if _, _, ok := core.ParseRoleARN("acs:ram::1:role/" + name); !ok {
		return nil, errf(400, "InvalidParameter.RoleName.InvalidChars", "The parameter RoleName %q is invalid.", name)
	}
	if s.roles[strings.ToLower(name)] != nil {
		return nil, errf(409, "EntityAlreadyExists.Role", "The role already exists: %s.", name)
	}
	var trust map[string]any
	if err := json.Unmarshal([]byte(c.Params.Get("AssumeRolePolicyDocument")), &trust); err != nil {
		return nil, errf(400, "MalformedPolicyDocument", "The AssumeRolePolicyDocument is not valid JSON: %v.", err)
	}
	ro := &role{name: name, id: "3" + core.RandomHex(8), arn: fmt.Sprintf("acs:ram::%s:role/%s", c.Account, strings.ToLower(name)),
		trust: c.Params.Get("AssumeRolePolicyDocument"), description: c.Params.Get("Description"), created: s.env.Clock.Now()}
	s.roles[strings.ToLower(name)] = ro
	return map[string]any{"Role": s.roleView(ro)}, nil
}

func (s *Service) getRole(c ecs.RPCCall) (map[string]any, *rpcErr) {
	if e := required(c, "RoleName"); e != nil {
		return nil, e
	}
	ro := s.roles[strings.ToLower(c.Params.Get("RoleName"))]
	if ro == nil {
		return nil, errf(404, "EntityNotExist.Role", "The role does not exist: %s.", c.Params.Get("RoleName"))
	}
	return map[string]any{"Role": s.roleView(ro)}, nil
}

func (s *Service) policyView(p *policy) map[string]any {
	att := 0
	for _, ro := range s.roles {
		if slices.Contains(ro.policies, p.name) {
			att++
		}
	}
	return map[string]any{"PolicyName": p.name, "PolicyType": "Custom", "Description": p.description,
		"DefaultVersion": p.defaultVersion, "AttachmentCount": att,
		"CreateDate": p.created.UTC().Format(timeLayout), "UpdateDate": p.updated.UTC().Format(timeLayout)}
}

func versionView(p *policy, v version) map[string]any {
	return map[string]any{"VersionId": v.id, "PolicyDocument": v.text, "IsDefaultVersion": v.id == p.defaultVersion,
		"CreateDate": v.created.UTC().Format(timeLayout)}
}

func (s *Service) customPolicy(c ecs.RPCCall) (*policy, *rpcErr) {
	if e := required(c, "PolicyName"); e != nil {
		return nil, e
	}
	if t := c.Params.Get("PolicyType"); t != "" && t != "Custom" {
		return nil, errf(404, "EntityNotExist.Policy", "The local RAM holds custom policies only (PolicyType %s).", t)
	}
	p := s.policies[c.Params.Get("PolicyName")]
	if p == nil {
		return nil, errf(404, "EntityNotExist.Policy", "The policy does not exist: %s.", c.Params.Get("PolicyName"))
	}
	return p, nil
}

func (s *Service) parseDoc(c ecs.RPCCall) (*Document, *rpcErr) {
	d, err := ParseDocument(c.Params.Get("PolicyDocument"))
	if err != nil {
		return nil, errf(400, "MalformedPolicyDocument", "The policy document is malformed: %v.", err)
	}
	return d, nil
}

func (s *Service) createPolicy(c ecs.RPCCall) (map[string]any, *rpcErr) {
	if e := required(c, "PolicyName", "PolicyDocument"); e != nil {
		return nil, e
	}
	name := c.Params.Get("PolicyName")
	if s.policies[name] != nil {
		return nil, errf(409, "EntityAlreadyExists.Policy", "The policy already exists: %s.", name)
	}
	d, e := s.parseDoc(c)
	if e != nil {
		return nil, e
	}
	now := s.env.Clock.Now()
	p := &policy{name: name, description: c.Params.Get("Description"), created: now, updated: now, next: 1}
	p.addVersion(c.Params.Get("PolicyDocument"), d, now, true)
	s.policies[name] = p
	return map[string]any{"Policy": s.policyView(p)}, nil
}

func (p *policy) addVersion(text string, d *Document, now time.Time, makeDefault bool) version {
	v := version{id: "v" + strconv.Itoa(p.next), text: text, doc: d, created: now}
	p.next++
	p.versions = append(p.versions, v)
	if makeDefault {
		p.defaultVersion = v.id
	}
	p.updated = now
	return v
}

func (s *Service) getPolicy(c ecs.RPCCall) (map[string]any, *rpcErr) {
	p, e := s.customPolicy(c)
	if e != nil {
		return nil, e
	}
	out := map[string]any{"Policy": s.policyView(p)}
	for _, v := range p.versions {
		if v.id == p.defaultVersion {
			out["DefaultPolicyVersion"] = versionView(p, v)
		}
	}
	return out, nil
}

func (s *Service) createPolicyVersion(c ecs.RPCCall) (map[string]any, *rpcErr) {
	p, e := s.customPolicy(c)
	if e != nil {
		return nil, e
	}
	if e := required(c, "PolicyDocument"); e != nil {
		return nil, e
	}
	d, e := s.parseDoc(c)
	if e != nil {
		return nil, e
	}
	if len(p.versions) >= maxVersions {
		if c.Params.Get("RotateStrategy") != "DeleteOldestNonDefaultVersionWhenLimitExceeded" {
			return nil, errf(409, "LimitExceeded.Policy.Version", "The count of versions of the policy %s exceeds the limit of %d.", p.name, maxVersions)
		}
		for i, v := range p.versions {
			if v.id != p.defaultVersion {
				p.versions = slices.Delete(p.versions, i, i+1)
				break
			}
		}
	}
	v := p.addVersion(c.Params.Get("PolicyDocument"), d, s.env.Clock.Now(), strings.EqualFold(c.Params.Get("SetAsDefault"), "true"))
	return map[string]any{"PolicyVersion": versionView(p, v)}, nil
}

func (s *Service) getPolicyVersion(c ecs.RPCCall) (map[string]any, *rpcErr) {
	p, e := s.customPolicy(c)
	if e != nil {
		return nil, e
	}
	for _, v := range p.versions {
		if v.id == c.Params.Get("VersionId") {
			return map[string]any{"PolicyVersion": versionView(p, v)}, nil
		}
	}
	return nil, errf(404, "EntityNotExist.Policy.Version", "The policy version does not exist: %s.", c.Params.Get("VersionId"))
}

func (s *Service) listPolicyVersions(c ecs.RPCCall) (map[string]any, *rpcErr) {
	p, e := s.customPolicy(c)
	if e != nil {
		return nil, e
	}
	var vs []map[string]any
	for _, v := range p.versions {
		vs = append(vs, versionView(p, v))
	}
	return map[string]any{"PolicyVersions": map[string]any{"PolicyVersion": vs}}, nil
}

func (s *Service) deletePolicyVersion(c ecs.RPCCall) (map[string]any, *rpcErr) {
	p, e := s.customPolicy(c)
	if e != nil {
		return nil, e
	}
	id := c.Params.Get("VersionId")
	if id == p.defaultVersion {
		return nil, errf(400, "DeleteConflict.Policy.Version.Default", "The default version %s cannot be deleted.", id)
	}
	for i, v := range p.versions {
		if v.id == id {
			p.versions = slices.Delete(p.versions, i, i+1)
			return map[string]any{}, nil
		}
	}
	return nil, errf(404, "EntityNotExist.Policy.Version", "The policy version does not exist: %s.", id)
}

func (s *Service) attachPolicyToRole(c ecs.RPCCall) (map[string]any, *rpcErr) {
	if e := required(c, "RoleName", "PolicyName", "PolicyType"); e != nil {
		return nil, e
	}
	p, e := s.customPolicy(c)
	if e != nil {
		return nil, e
	}
	ro := s.roles[strings.ToLower(c.Params.Get("RoleName"))]
	if ro == nil {
		return nil, errf(404, "EntityNotExist.Role", "The role does not exist: %s.", c.Params.Get("RoleName"))
	}
	if slices.Contains(ro.policies, p.name) {
		return nil, errf(409, "EntityAlreadyExists.Role.Policy", "The policy %s is already attached to the role %s.", p.name, ro.name)
	}
	ro.policies = append(ro.policies, p.name)
	return map[string]any{}, nil
}

func (s *Service) listPoliciesForRole(c ecs.RPCCall) (map[string]any, *rpcErr) {
	if e := required(c, "RoleName"); e != nil {
		return nil, e
	}
	ro := s.roles[strings.ToLower(c.Params.Get("RoleName"))]
	if ro == nil {
		return nil, errf(404, "EntityNotExist.Role", "The role does not exist: %s.", c.Params.Get("RoleName"))
	}
	ps := []map[string]any{}
	for _, pn := range ro.policies {
		if p := s.policies[pn]; p != nil {
			ps = append(ps, s.policyView(p))
		}
	}
	return map[string]any{"Policies": map[string]any{"Policy": ps}}, nil
}
