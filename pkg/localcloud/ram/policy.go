// Package ram is the local cloud's RAM: roles, custom policies with versions, and the
// evaluation of every call made with a role's STS credentials against the role's policies
// (core.Authorizer). The API speaks RPC (version 2015-05-01) behind the same gateway and
// signatures as ECS, so the official services/ram SDK drives it.
//
// The policy language is Alibaba Cloud's (Version "1"): Effect Allow|Deny, Action and
// Resource (string or list, '*' and '?' wildcards), Condition blocks of operator → key →
// values. A Deny wins over an Allow; with no matching Allow the call is refused.
package ram

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

// Document is a parsed policy document.
type Document struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one policy statement.
type Statement struct {
	Effect    string                           `json:"Effect"`
	Action    StringList                       `json:"Action"`
	Resource  StringList                       `json:"Resource"`
	Condition map[string]map[string]StringList `json:"Condition,omitempty"`
}

// StringList accepts a JSON string or a list of strings.
type StringList []string

// UnmarshalJSON takes "x" or ["x","y"].
func (l *StringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = StringList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("want a string or a list of strings: %w", err)
	}
	*l = many
	return nil
}

// Operators the local RAM knows. A document using another one is refused at CreatePolicy,
// as a typo there would silently never match.
var operators = map[string]bool{
	"StringEquals": true, "StringNotEquals": true, "StringEqualsIgnoreCase": true,
	"StringNotEqualsIgnoreCase": true, "StringLike": true, "StringNotLike": true,
	"Bool": true, "Null": true,
}

// ParseDocument parses and checks a policy document.
func ParseDocument(text string) (*Document, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields()
	var d Document
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("policy document: %w", err)
	}
	if d.Version != "1" {
		return nil, fmt.Errorf("policy document: Version %q, want \"1\"", d.Version)
	}
	if len(d.Statement) == 0 {
		return nil, fmt.Errorf("policy document: no Statement")
	}
	for i, s := range d.Statement {
		if s.Effect != "Allow" && s.Effect != "Deny" {
			return nil, fmt.Errorf("policy document: Statement[%d].Effect %q, want Allow or Deny", i, s.Effect)
		}
		if len(s.Action) == 0 || len(s.Resource) == 0 {
			return nil, fmt.Errorf("policy document: Statement[%d] needs Action and Resource", i)
		}
		for _, a := range s.Action {
			if a != "*" && !strings.Contains(a, ":") {
				return nil, fmt.Errorf("policy document: Statement[%d].Action %q is not service:Action", i, a)
			}
		}
		for op, keys := range s.Condition {
			if !operators[op] {
				return nil, fmt.Errorf("policy document: Statement[%d].Condition operator %q is not supported", i, op)
			}
			if len(keys) == 0 {
				return nil, fmt.Errorf("policy document: Statement[%d].Condition %s is empty", i, op)
			}
		}
	}
	return &d, nil
}

// match is a case-sensitive glob with '*' (any run) and '?' (one character); path.Match
// would stop '*' at '/', which RAM does not.
func match(pattern, s string) bool {
	if pattern == "*" {
		return true
	}
	// Translate to path.Match over a string without '/': replace '/' in both by a byte
	// that cannot appear in ARNs and patterns.
	const sep = "\x00"
	ok, err := path.Match(escapeBrackets(strings.ReplaceAll(pattern, "/", sep)), strings.ReplaceAll(s, "/", sep))
	return err == nil && ok
}

// escapeBrackets keeps '[' and '\' literal (RAM has no character classes).
func escapeBrackets(p string) string { return bracketEscaper.Replace(p) }

// bracketEscaper is built once: a Replacer is safe for concurrent use, and building one
// per call cost the local cloud a few percent of its CPU at fleet scale.
var bracketEscaper = strings.NewReplacer(`\`, `\\`, `[`, `\[`)

// Decision is the outcome for one action on one resource.
type Decision int

// Outcomes.
const (
	ImplicitDeny Decision = iota
	Allow
	ExplicitDeny
)

// Evaluate decides action on one resource under the documents. keys are the condition
// keys of the call and the resource (names compared case-insensitively).
func Evaluate(docs []*Document, action, resource string, keys map[string][]string) Decision {
	lk := make(map[string][]string, len(keys))
	for k, v := range keys {
		lk[strings.ToLower(k)] = v
	}
	out := ImplicitDeny
	for _, d := range docs {
		for _, s := range d.Statement {
			if !s.matches(action, resource, lk) {
				continue
			}
			if s.Effect == "Deny" {
				return ExplicitDeny
			}
			out = Allow
		}
	}
	return out
}

func (s Statement) matches(action, resource string, keys map[string][]string) bool {
	if !slices.ContainsFunc(s.Action, func(p string) bool { return match(strings.ToLower(p), strings.ToLower(action)) }) {
		return false
	}
	if !slices.ContainsFunc(s.Resource, func(p string) bool { return match(p, resource) }) {
		return false
	}
	for op, conds := range s.Condition {
		for key, want := range conds {
			got, present := keys[strings.ToLower(key)]
			if !condition(op, want, got, present) {
				return false
			}
		}
	}
	return true
}

// condition evaluates one operator: positive operators need a present key with a value
// matching any wanted value; negated ones hold when no value matches (a missing key too).
func condition(op string, want []string, got []string, present bool) bool {
	anyMatch := func(eq func(w, g string) bool) bool {
		for _, g := range got {
			for _, w := range want {
				if eq(w, g) {
					return true
				}
			}
		}
		return false
	}
	switch op {
	case "StringEquals":
		return present && anyMatch(func(w, g string) bool { return w == g })
	case "StringNotEquals":
		return !anyMatch(func(w, g string) bool { return w == g })
	case "StringEqualsIgnoreCase":
		return present && anyMatch(strings.EqualFold)
	case "StringNotEqualsIgnoreCase":
		return !anyMatch(strings.EqualFold)
	case "StringLike":
		return present && anyMatch(match)
	case "StringNotLike":
		return !anyMatch(match)
	case "Bool":
		return present && anyMatch(strings.EqualFold)
	case "Null":
		// "true": the key must be absent; "false": present.
		return len(want) > 0 && strings.EqualFold(want[0], "true") != present
	}
	return false
}

// Decide evaluates a whole request: every resource must be allowed. The first refused
// resource is returned.
func Decide(docs []*Document, r core.AuthzRequest) *core.Denied {
	if len(r.Resources) == 0 {
		r.Resources = []core.AuthzResource{{ARN: "*"}}
	}
	for _, res := range r.Resources {
		keys := map[string][]string{}
		for k, v := range r.Context {
			keys[k] = v
		}
		for k, v := range res.Keys {
			keys[k] = v
		}
		switch Evaluate(docs, r.Action, res.ARN, keys) {
		case Allow:
			continue
		case ExplicitDeny:
			return &core.Denied{Action: r.Action, Resource: res.ARN, Role: r.Cred.Role, Explicit: true}
		default:
			return &core.Denied{Action: r.Action, Resource: res.ARN, Role: r.Cred.Role}
		}
	}
	return nil
}
