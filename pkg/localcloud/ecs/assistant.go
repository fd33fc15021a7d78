package ecs

// Cloud Assistant: RunCommand and DescribeInvocationResults. An invocation runs on each
// target instance for the Duration of the first matching ComputeSeed.Commands rule (on
// the simulated clock), then finishes with the rule's exit code and output. The agent
// only answers on Running instances (InvalidInstance.NotRunning otherwise, as we know
// the code). Output is returned Base64-encoded unless ContentEncoding=PlainText, as the
// real API does.

import (
	"encoding/base64"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

type invocation struct {
	id, commandID, content string
	timeout                time.Duration
	created                time.Time
	results                map[string]*invocationResult // by instance
}

type invocationResult struct {
	instanceID    string
	start, finish time.Time // finish zero: never (Hang)
	exitCode      int
	output        string
}

// status derives the record and invocation status from the clock.
func (ir *invocationResult) status(now time.Time, timeout time.Duration) (record, inv string, exit int64, errCode string) {
	deadline := ir.start.Add(timeout)
	switch {
	case !ir.finish.IsZero() && !now.Before(ir.finish) && !ir.finish.After(deadline):
		if ir.exitCode == 0 {
			return "Finished", "Success", 0, ""
		}
		return "Finished", "Failed", int64(ir.exitCode), ""
	case !now.Before(deadline):
		return "Failed", "Timeout", 0, "InvocationTimeout"
	default:
		return "Running", "Running", 0, ""
	}
}

func (s *Service) runCommand(q *request) (any, *apiError) {
	typ, content := q.get("Type"), q.get("CommandContent")
	switch typ {
	case "":
		return nil, missing("Type")
	case "RunShellScript", "RunBatScript", "RunPowerShellScript":
	default:
		return nil, errf(400, "InvalidCmdType.NotFound", "The specified command type %q does not exist.", typ)
	}
	if content == "" {
		return nil, missing("CommandContent")
	}
	if strings.EqualFold(q.get("ContentEncoding"), "Base64") {
		b, err := base64.StdEncoding.DecodeString(content)
		if err != nil {
			return nil, errf(400, "InvalidCommandContent.Malformed", "The CommandContent is not valid Base64.")
		}
		content = string(b)
	}
	timeoutSec, aerr := q.intParam("Timeout", 60, 10, 86400)
	if aerr != nil {
		return nil, aerr
	}
	idx, aerr := q.indexed("InstanceId", 100)
	if aerr != nil {
		return nil, aerr
	}
	var ids []string
	for _, n := range sortedKeys(idx) {
		ids = append(ids, idx[n][""])
	}
	if len(ids) == 0 {
		return nil, missing("InstanceId.N")
	}
	now := s.env.Clock.Now()
	r := s.regions[q.region]
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		in := r.instances[id]
		if in == nil {
			return nil, errf(404, "InvalidInstance.NotFound", "The specified instance %q does not exist in %s.", id, r.id)
		}
		if in.Status != "Running" {
			return nil, errf(400, "InvalidInstance.NotRunning", "The instance %s is %s; Cloud Assistant needs it Running.", id, in.Status)
		}
	}
	inv := &invocation{id: "t-" + core.RandomHex(12), commandID: "c-" + core.RandomHex(12), content: content,
		timeout: time.Duration(timeoutSec) * time.Second, created: now, results: map[string]*invocationResult{}}
	for _, id := range ids {
		rule := s.commandRule(content, r.instances[id].Tags)
		ir := &invocationResult{instanceID: id, start: now, exitCode: rule.ExitCode, output: rule.Output}
		if !rule.Hang {
			ir.finish = now.Add(cmpDur(time.Duration(rule.Duration), 5*time.Second))
		}
		inv.results[id] = ir
	}
	r.compute.invocations[inv.id] = inv
	return struct {
		RequestId string `json:"RequestId"`
		CommandId string `json:"CommandId"`
		InvokeId  string `json:"InvokeId"`
	}{q.reqID, inv.commandID, inv.id}, nil
}

func cmpDur(a, b time.Duration) time.Duration {
	if a > 0 {
		return a
	}
	return b
}

func (s *Service) commandRule(content string, tags map[string]string) CommandRule {
	for _, r := range s.commands() {
		if r.Contains != "" && !strings.Contains(content, r.Contains) {
			continue
		}
		ok := true
		for k, v := range r.InstanceTags {
			if tags[k] != v {
				ok = false
			}
		}
		if ok {
			return r
		}
	}
	return CommandRule{}
}

func (s *Service) commands() []CommandRule {
	s.cmdMu.Lock()
	defer s.cmdMu.Unlock()
	return s.seed.Compute.Commands
}

type invocationResultJSON struct {
	CommandId          string `json:"CommandId"`
	InvokeId           string `json:"InvokeId"`
	InstanceId         string `json:"InstanceId"`
	InvokeRecordStatus string `json:"InvokeRecordStatus"`
	InvocationStatus   string `json:"InvocationStatus"`
	ExitCode           int64  `json:"ExitCode"`
	Output             string `json:"Output"`
	ErrorCode          string `json:"ErrorCode"`
	ErrorInfo          string `json:"ErrorInfo"`
	StartTime          string `json:"StartTime"`
	FinishedTime       string `json:"FinishedTime"`
}

func (s *Service) describeInvocationResults(q *request) (any, *apiError) {
	pg, aerr := q.pageNumbers()
	if aerr != nil {
		return nil, aerr
	}
	invokeID, instID := q.get("InvokeId"), q.get("InstanceId")
	plain := strings.EqualFold(q.get("ContentEncoding"), "PlainText")
	now := s.env.Clock.Now()
	r := s.regions[q.region]
	r.mu.Lock()
	defer r.mu.Unlock()
	var rows []invocationResultJSON
	for _, id := range slices.Sorted(maps.Keys(r.compute.invocations)) {
		inv := r.compute.invocations[id]
		if invokeID != "" && id != invokeID {
			continue
		}
		for _, iid := range slices.Sorted(maps.Keys(inv.results)) {
			ir := inv.results[iid]
			if instID != "" && iid != instID {
				continue
			}
			rec, st, exit, code := ir.status(now, inv.timeout)
			j := invocationResultJSON{CommandId: inv.commandID, InvokeId: id, InstanceId: iid, InvokeRecordStatus: rec,
				InvocationStatus: st, ExitCode: exit, ErrorCode: code, StartTime: apiTime(ir.start)}
			if rec != "Running" {
				out := ir.output
				if code != "" {
					out, j.ErrorInfo = "", "the command did not finish within its timeout"
				}
				j.Output = out
				if !plain {
					j.Output = base64.StdEncoding.EncodeToString([]byte(out))
				}
				end := ir.finish
				if code != "" {
					end = ir.start.Add(inv.timeout)
				}
				j.FinishedTime = apiTime(end)
			}
			rows = append(rows, j)
		}
	}
	lo, hi := pg.window(len(rows))
	var resp struct {
		RequestId  string `json:"RequestId"`
		Invocation struct {
			PageSize          int64 `json:"PageSize"`
			PageNumber        int64 `json:"PageNumber"`
			TotalCount        int64 `json:"TotalCount"`
			InvocationResults struct {
				InvocationResult []invocationResultJSON `json:"InvocationResult"`
			} `json:"InvocationResults"`
		} `json:"Invocation"`
	}
	resp.RequestId = q.reqID
	resp.Invocation.PageSize, resp.Invocation.PageNumber, resp.Invocation.TotalCount = int64(pg.size), int64(pg.number), int64(len(rows))
	resp.Invocation.InvocationResults.InvocationResult = append([]invocationResultJSON{}, rows[lo:hi]...)
	return resp, nil
}

// SetCommandRules replaces the Cloud Assistant rules (first match wins).
func (s *Service) SetCommandRules(rules []CommandRule) {
	s.cmdMu.Lock()
	defer s.cmdMu.Unlock()
	s.seed.Compute.Commands = slices.Clone(rules)
}
