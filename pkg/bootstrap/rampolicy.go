// Package bootstrap prepares an account for the first `s deploy`, with the official SDKs
// (RAM, SLS, OSS) and idempotently: the functions' role and its least-privilege policy,
// the SLS project and logstore (JSON index, dashboard, alerts), the config and catalog
// buckets, and the DR policy document in the config bucket. scripts/bootstrap is its
// command; the local cloud serves every call it makes, so tests run it end to end.
//
// It is an operator's tool: the function binaries never import it.
package bootstrap

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// PolicyTemplate is the role's policy template. scripts/ram-policy.json is the same
// file for operators (a test keeps the two identical).
//
//go:embed ram-policy.json
var PolicyTemplate []byte

// PolicyParams fill the placeholders of the RAM policy template (scripts/ram-policy.json):
// ${AccountID}, ${ConfigBucket}, ${PolicyKey}, ${SLSProject}, ${SLSLogstore}, and the
// list placeholders ${CatalogBucket} and ${OffsiteBucket} (the rds section's DR bucket),
// whose resources are repeated once per bucket.
type PolicyParams struct {
	AccountID      string
	ConfigBucket   string // "" when the DR policy is not read from OSS
	PolicyKey      string
	CatalogBuckets []string
	OffsiteBuckets []string
	SLSProject     string
	SLSLogstore    string
}

// RenderPolicy returns the policy document for p. A resource whose placeholder has no
// value (no config bucket, no catalog bucket) is left out, and a statement left without
// resources is dropped: the role gets nothing it will not use.
func RenderPolicy(template []byte, p PolicyParams) ([]byte, error) {
	var doc struct {
		Version   string           `json:"Version"`
		Statement []map[string]any `json:"Statement"`
	}
	if err := json.Unmarshal(template, &doc); err != nil {
		return nil, fmt.Errorf("ram policy template: %w", err)
	}
	if p.AccountID == "" {
		return nil, fmt.Errorf("ram policy: account id is required")
	}
	single := map[string]string{
		"${AccountID}": p.AccountID, "${ConfigBucket}": p.ConfigBucket, "${PolicyKey}": p.PolicyKey,
		"${SLSProject}": p.SLSProject, "${SLSLogstore}": p.SLSLogstore,
	}
	var out []map[string]any
	for i, st := range doc.Statement {
		var res []string
		switch r := st["Resource"].(type) {
		case string:
			res = []string{r}
		case []any:
			for _, x := range r {
				s, ok := x.(string)
				if !ok {
					return nil, fmt.Errorf("ram policy template: Statement[%d].Resource holds a non-string", i)
				}
				res = append(res, s)
			}
		default:
			return nil, fmt.Errorf("ram policy template: Statement[%d] has no Resource", i)
		}
		var rendered []string
		for _, r := range res {
			expanded := []string{r}
			for ph, list := range map[string][]string{"${CatalogBucket}": p.CatalogBuckets, "${OffsiteBucket}": p.OffsiteBuckets} {
				if strings.Contains(r, ph) {
					expanded = nil
					for _, b := range list {
						expanded = append(expanded, strings.ReplaceAll(r, ph, b))
					}
				}
			}
		next:
			for _, e := range expanded {
				for k, v := range single {
					if strings.Contains(e, k) {
						if v == "" {
							continue next
						}
						e = strings.ReplaceAll(e, k, v)
					}
				}
				if strings.Contains(e, "${") {
					return nil, fmt.Errorf("ram policy template: unknown placeholder in %q", e)
				}
				if !slices.Contains(rendered, e) {
					rendered = append(rendered, e)
				}
			}
		}
		if len(rendered) == 0 {
			continue
		}
		st["Resource"] = rendered
		out = append(out, st)
	}
	doc.Statement = out
	return json.MarshalIndent(doc, "", "  ")
}
