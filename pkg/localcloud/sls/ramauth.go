package sls

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

// ramActions maps the local SLS's API names to RAM actions where they differ from
// "log:"+name (PutLogs is log:PostLogStoreLogs, GetLogs log:GetLogStoreLogs, and so on).
var ramActions = map[string]string{
	"PutLogs": "log:PostLogStoreLogs", "GetLogs": "log:GetLogStoreLogs", "GetHistograms": "log:GetLogStoreHistogram",
	"ListLogStore": "log:ListLogStores", "ListShards": "log:ListShards",
}

// authorize asks RAM about a call made with a role's STS credentials. Resources:
// acs:log:{region}:{account}:project/{p}[/logstore/{l}|/dashboard/{d}|/job/{j}]. A refusal
// is SLS's 401 Unauthorized naming the action and resource.
func (s *Service) authorize(r *http.Request, action string, c *call) *apiError {
	if c.cred.Role == "" || s.env.Authz == nil {
		return nil
	}
	ram := ramActions[action]
	if ram == "" {
		ram = "log:" + action
	}
	region := DefaultRegion
	s.mu.RLock()
	if p := s.projects[c.project]; p != nil && p.region != "" {
		region = p.region
	}
	s.mu.RUnlock()
	arn := fmt.Sprintf("acs:log:%s:%s:project/%s", region, c.cred.AccountID, c.project)
	if c.project == "" {
		arn = fmt.Sprintf("acs:log:%s:%s:project/*", region, c.cred.AccountID)
	}
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(segs) >= 2 {
		switch segs[0] {
		case "logstores":
			arn += "/logstore/" + segs[1]
		case "dashboards":
			arn += "/dashboard/" + segs[1]
		case "jobs":
			arn += "/job/" + segs[1]
		}
	} else if len(segs) == 1 && segs[0] != "" {
		arn += "/" + strings.TrimSuffix(segs[0], "s") + "/*"
	}
	if d := s.env.Authorize(core.AuthzRequest{Cred: c.cred, Action: ram, Resources: []core.AuthzResource{{ARN: arn}}}); d != nil {
		return errf(401, "Unauthorized", "denied by sts or ram, action: %s, resource: %s", d.Action, d.Resource)
	}
	return nil
}
