package ecs

import (
	"fmt"
	"strings"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

// authorize asks RAM about a call made with a role's STS credentials, with the resources
// the action touches and their tags (ecs:tag/<key>, acs:ResourceTag/<key>), and the tags
// the request sets (acs:RequestTag/<key>). The refusal is ECS's: 403 Forbidden.RAM, with
// the action and resource in the message, which the SDK parses as a ServerError.
func (s *Service) authorize(q *request) *apiError {
	if q.cred.Role == "" || s.env.Authz == nil {
		return nil
	}
	req := core.AuthzRequest{Cred: q.cred, Action: "ecs:" + q.action, Context: requestTags(q)}
	if r := s.regions[q.region]; r != nil {
		r.mu.Lock()
		req.Resources = s.ramResources(q)
		r.mu.Unlock()
	} else {
		req.Resources = s.ramResources(q)
	}
	if d := s.env.Authorize(req); d != nil {
		return errf(403, "Forbidden.RAM", "User not authorized to operate on the specified resource, or this API doesn't support RAM. %s", d.Error())
	}
	return nil
}

func requestTags(q *request) map[string][]string {
	out := map[string][]string{}
	for i := 1; i <= 20; i++ {
		k := q.get(fmt.Sprintf("Tag.%d.Key", i))
		if k == "" {
			continue
		}
		out["acs:RequestTag/"+k] = append(out["acs:RequestTag/"+k], q.get(fmt.Sprintf("Tag.%d.Value", i)))
	}
	return out
}

// ramResources names what an action touches, as RAM's ECS resource ARNs:
// acs:ecs:{region}:{account}:{image|snapshot|instance}/{id}. List and create calls act on
// the type's wildcard. Caller holds the region's lock.
func (s *Service) ramResources(q *request) []core.AuthzResource {
	arn := func(kind, id string) string { return fmt.Sprintf("acs:ecs:%s:%s:%s/%s", q.region, q.account, kind, id) }
	r := s.regions[q.region]
	image := func(id string) core.AuthzResource {
		res := core.AuthzResource{ARN: arn("image", id)}
		if r != nil && r.images[id] != nil {
			res.Keys = core.TagKeys("ecs", r.images[id].Tags)
		}
		return res
	}
	snapshot := func(id string) core.AuthzResource {
		res := core.AuthzResource{ARN: arn("snapshot", id)}
		if r != nil && r.snapshots[id] != nil {
			res.Keys = core.TagKeys("ecs", r.snapshots[id].Tags)
		}
		return res
	}
	instance := func(id string) core.AuthzResource {
		res := core.AuthzResource{ARN: arn("instance", id)}
		if r != nil && r.instances[id] != nil {
			res.Keys = core.TagKeys("ecs", r.instances[id].Tags)
		}
		return res
	}
	switch q.action {
	case "DescribeInstances":
		return []core.AuthzResource{{ARN: arn("instance", "*")}}
	case "DescribeImages":
		return []core.AuthzResource{{ARN: arn("image", "*")}}
	case "DescribeInstanceRamRole":
		return []core.AuthzResource{{ARN: arn("instance", "*")}}
	case "DescribeDisks":
		return []core.AuthzResource{{ARN: arn("disk", "*")}}
	case "DescribeLaunchTemplates", "DescribeLaunchTemplateVersions":
		return []core.AuthzResource{{ARN: arn("launchtemplate", "*")}}
	case "DescribeSnapshots":
		return []core.AuthzResource{{ARN: arn("snapshot", "*")}}
	case "CreateImage":
		out := []core.AuthzResource{{ARN: arn("image", "*")}}
		if id := q.get("InstanceId"); id != "" {
			out = append(out, instance(id))
		}
		if id := q.get("SnapshotId"); id != "" {
			out = append(out, snapshot(id))
		}
		return out
	case "CopyImage", "DeleteImage", "CancelCopyImage":
		return []core.AuthzResource{image(q.get("ImageId"))}
	case "DeleteSnapshot":
		return []core.AuthzResource{snapshot(q.get("SnapshotId"))}
	case "TagResources", "UntagResources", "ListTagResources":
		kind := strings.ToLower(q.get("ResourceType"))
		var out []core.AuthzResource
		for i := 1; i <= 50; i++ {
			id := q.get(fmt.Sprintf("ResourceId.%d", i))
			if id == "" {
				continue
			}
			switch kind {
			case "image":
				out = append(out, image(id))
			case "snapshot":
				out = append(out, snapshot(id))
			case "instance":
				out = append(out, instance(id))
			default:
				out = append(out, core.AuthzResource{ARN: arn(kind, id)})
			}
		}
		if len(out) == 0 {
			out = append(out, core.AuthzResource{ARN: arn(kind, "*")})
		}
		return out
	case "DeleteInstance":
		return []core.AuthzResource{instance(q.get("InstanceId"))}
	case "DeleteInstances", "RunCommand": // InstanceId.N
		var out []core.AuthzResource
		for i := 1; i <= 100; i++ {
			if id := q.get(fmt.Sprintf("InstanceId.%d", i)); id != "" {
				out = append(out, instance(id))
			}
		}
		if len(out) == 0 {
			out = append(out, core.AuthzResource{ARN: arn("instance", "*")})
		}
		return out
	}
	// Actions without a mapping here (other helpers' additions) act on the region.
	return []core.AuthzResource{{ARN: fmt.Sprintf("acs:ecs:%s:%s:*", q.region, q.account)}}
}
