// Package ess is the local cloud's Auto Scaling (ESS) service: an RPC (API version
// 2014-08-28) emulator that the unmodified alibaba-cloud-sdk-go services/ess client drives
// over HTTP, on the same endpoint, signature checks and fault injection as ECS (the
// requests are told apart by their Version). It models what the product needs to see:
// scaling groups (minimal) and their scaling configurations, whose ImageId makes an image
// "in use" for the product's cleanup.
//
// Actions: CreateScalingGroup, CreateScalingConfiguration, DescribeScalingConfigurations,
// DeleteScalingConfiguration. Modelled choices:
//   - DescribeScalingConfigurations without ScalingGroupId lists every configuration of
//     the region (ScalingGroupId is optional on the API page); PageSize is 1-50, default
//     10; ScalingConfigurationId.N and ScalingConfigurationName.N take at most 10 values,
//     unknown ids are ignored, and names match Active configurations only, as documented.
//   - The first configuration of a group is Active, later ones Inactive; an Active
//     configuration cannot be deleted (IncorrectScalingConfigurationLifecycleState 403).
//   - CreateScalingConfiguration checks that ImageId exists in the region's ECS images
//     (InvalidImageId.NotFound 404; the code is unverified).
//   - ECS DeleteImage does NOT refuse an image a scaling configuration names: the
//     DeleteImage page documents no such error, so the configuration is left pointing at a
//     missing image and the next scale-out fails. The product must keep such images itself.
//   - Error codes not found on the API pages (marked in the handlers) are best guesses.
package ess

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
)

// APIVersion is the ESS API version served.
const APIVersion = "2014-08-28"

const hostID = "ess.aliyuncs.com"

// Service is the ESS emulator, an http.Handler for the RPC endpoint "/".
type Service struct {
	env *core.Env
	ecs *ecs.Service

	mu      sync.Mutex
	groups  map[string]*ScalingGroup         // id -> group
	configs map[string]*ScalingConfiguration // id -> configuration
}

// ScalingGroup is a scaling group (only what the product's tests need).
type ScalingGroup struct {
	ID, Name, RegionID string
	MinSize, MaxSize   int
	CreationTime       time.Time
}

// ScalingConfiguration is one scaling configuration of a group.
type ScalingConfiguration struct {
	ID, Name, RegionID, GroupID string
	ImageID, InstanceType       string
	LifecycleState              string // Active or Inactive
	CreationTime                time.Time
	Tags                        map[string]string
}

// New builds the service; ecsSvc answers which images and regions exist.
func New(env *core.Env, ecsSvc *ecs.Service) *Service {
	if env.Log == nil {
		env.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{env: env, ecs: ecsSvc, groups: map[string]*ScalingGroup{}, configs: map[string]*ScalingConfiguration{}}
}

// IsESS reports whether an RPC request is addressed to ESS (its API version).
func IsESS(r *http.Request) bool {
	return r.URL.Query().Get("Version") == APIVersion || r.Header.Get("x-acs-version") == APIVersion
}

type apiError struct {
	Status        int
	Code, Message string
}

func errf(status int, code, format string, a ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, a...)}
}

func missing(name string) *apiError {
	return errf(400, "MissingParameter", "The input parameter %q that is mandatory for processing this request is not supplied.", name)
}

type request struct {
	params  url.Values
	action  string
	region  string
	account string
	reqID   string
}

func (q *request) get(k string) string { return q.params.Get(k) }

func (q *request) intParam(name string, def, lo, hi int) (int, *apiError) {
	v := q.get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, errf(400, "InvalidParameter", "The specified parameter %q is not valid: %q (want an integer from %d to %d).", name, v, lo, hi)
	}
	return n, nil
}

// repeated reads Name.1, Name.2, … in N order.
func (q *request) repeated(name string) []string {
	var ns []int
	for k := range q.params {
		if rest, ok := strings.CutPrefix(k, name+"."); ok {
			if n, err := strconv.Atoi(rest); err == nil && n > 0 {
				ns = append(ns, n)
			}
		}
	}
	slices.Sort(ns)
	out := make([]string, 0, len(ns))
	for _, n := range ns {
		out = append(out, q.get(name+"."+strconv.Itoa(n)))
	}
	return out
}

type handler func(s *Service, q *request) (any, *apiError)

var actions = map[string]handler{
	"CreateScalingGroup":            (*Service).createScalingGroup,
	"CreateScalingConfiguration":    (*Service).createScalingConfiguration,
	"DescribeScalingConfigurations": (*Service).describeScalingConfigurations,
	"DeleteScalingConfiguration":    (*Service).deleteScalingConfiguration,
}

// ServeHTTP serves one RPC call.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := core.NewRequestID()
	defer func() {
		if v := recover(); v != nil {
			s.env.Log.Error("ess: panic serving request", "panic", v, "requestId", reqID)
			ecs.WriteRPCError(w, reqID, hostID, "Ess", 500, "InternalError", "The request processing has failed due to some unknown error.")
		}
	}()
	resp, aerr := s.serve(r, reqID)
	if aerr != nil {
		ecs.WriteRPCError(w, reqID, hostID, "Ess", aerr.Status, aerr.Code, aerr.Message)
		return
	}
	ecs.WriteRPCJSON(w, 200, reqID, hostID, resp)
}

func (s *Service) serve(r *http.Request, reqID string) (any, *apiError) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		return nil, errf(400, "UnsupportedHTTPMethod", "The HTTP method %s is not supported.", r.Method)
	}
	rc, perr := ecs.ParseRPC(s.env, r) // ECS's gateway: same encoding, signatures, credentials
	if perr != nil {
		return nil, &apiError{Status: perr.Status, Code: perr.Code, Message: perr.Message}
	}
	q := &request{params: rc.Params, reqID: reqID, action: rc.Action, account: rc.Account}
	// Faults first, as a throttling gateway answers before any work.
	if ferr := ecs.GatewayFault(r.Context(), s.env, "ess", q.action, 0); ferr != nil {
		return nil, &apiError{Status: ferr.Status, Code: ferr.Code, Message: ferr.Message}
	}
	if se := rc.SignatureErr; se != nil {
		if s.env.StrictSignatures {
			return nil, &apiError{Status: se.Status, Code: se.Code, Message: se.Message}
		}
		s.env.Log.Warn("ess: signature check failed, serving anyway (StrictSignatures off)", "action", q.action, "code", se.Code)
	}
	h, ok := actions[q.action]
	if !ok {
		return nil, errf(404, "InvalidAction.NotFound", "Specified api is not found, please check your url and method: %s.", q.action)
	}
	q.region = q.get("RegionId")
	if q.region == "" {
		return nil, missing("RegionId")
	}
	if !s.ecs.HasRegion(q.region) {
		return nil, errf(404, "InvalidRegionId.NotFound", "The specified RegionId %q does not exist.", q.region)
	}
	s.env.Log.Debug("ess: request", "action", q.action, "region", q.region, "requestId", reqID)
	return h(s, q)
}

func apiTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04Z") }

// ---- CreateScalingGroup ----

type createScalingGroupResponse struct {
	RequestId      string `json:"RequestId"`
	ScalingGroupId string `json:"ScalingGroupId"`
}

func (s *Service) createScalingGroup(q *request) (any, *apiError) {
	if q.get("MinSize") == "" {
		return nil, missing("MinSize")
	}
	if q.get("MaxSize") == "" {
		return nil, missing("MaxSize")
	}
	minSize, aerr := q.intParam("MinSize", 0, 0, 2000)
	if aerr != nil {
		return nil, aerr
	}
	maxSize, aerr := q.intParam("MaxSize", 0, 0, 2000)
	if aerr != nil {
		return nil, aerr
	}
	if minSize > maxSize {
		return nil, errf(400, "InvalidParameter.Conflict", "MinSize %d is greater than MaxSize %d.", minSize, maxSize)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	name := q.get("ScalingGroupName")
	for _, g := range s.groups {
		if name != "" && g.RegionID == q.region && g.Name == name {
			// Code unverified.
			return nil, errf(400, "ScalingGroupName.Duplicate", "The scaling group name %q is already used in %s.", name, q.region)
		}
	}
	g := &ScalingGroup{ID: "asg-" + core.RandomHex(10), Name: name, RegionID: q.region, MinSize: minSize, MaxSize: maxSize,
		CreationTime: s.env.Clock.Now()}
	if g.Name == "" {
		g.Name = g.ID
	}
	s.groups[g.ID] = g
	return createScalingGroupResponse{RequestId: q.reqID, ScalingGroupId: g.ID}, nil
}

// ---- CreateScalingConfiguration ----

type createScalingConfigurationResponse struct {
	RequestId              string `json:"RequestId"`
	ScalingConfigurationId string `json:"ScalingConfigurationId"`
}

func (s *Service) createScalingConfiguration(q *request) (any, *apiError) {
	gid := q.get("ScalingGroupId")
	if gid == "" {
		return nil, missing("ScalingGroupId")
	}
	imageID := q.get("ImageId")
	if imageID == "" {
		return nil, missing("ImageId")
	}
	itype := q.get("InstanceType")
	if types := q.repeated("InstanceTypes"); itype == "" && len(types) > 0 {
		itype = types[0]
	}
	if itype == "" {
		return nil, missing("InstanceType")
	}
	var tags map[string]string
	if t := q.get("Tags"); t != "" { // a JSON object string, e.g. {"k":"v"}
		if err := json.Unmarshal([]byte(t), &tags); err != nil {
			return nil, errf(400, "InvalidParameter", "The specified parameter Tags is not a JSON object: %q.", t)
		}
	}
	if !s.ecs.HasImage(q.region, imageID) {
		return nil, errf(404, "InvalidImageId.NotFound", "The specified image %q does not exist in %s.", imageID, q.region)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[gid]
	if g == nil || g.RegionID != q.region {
		return nil, errf(404, "InvalidScalingGroupId.NotFound", "The specified scaling group %q does not exist in %s.", gid, q.region)
	}
	name := q.get("ScalingConfigurationName")
	active := true
	for _, c := range s.configs {
		if c.GroupID != gid {
			continue
		}
		if c.LifecycleState == "Active" {
			active = false
		}
		if name != "" && c.Name == name {
			// Code unverified.
			return nil, errf(400, "ScalingConfigurationName.Duplicate", "The scaling configuration name %q is already used in group %s.", name, gid)
		}
	}
	c := &ScalingConfiguration{ID: "asc-" + core.RandomHex(10), Name: name, RegionID: q.region, GroupID: gid, ImageID: imageID,
		InstanceType: itype, LifecycleState: "Inactive", CreationTime: s.env.Clock.Now(), Tags: tags}
	if active {
		c.LifecycleState = "Active"
	}
	if c.Name == "" {
		c.Name = c.ID
	}
	s.configs[c.ID] = c
	return createScalingConfigurationResponse{RequestId: q.reqID, ScalingConfigurationId: c.ID}, nil
}

// ---- DescribeScalingConfigurations ----

type tagJSON struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type scalingConfigurationJSON struct {
	ScalingConfigurationId   string `json:"ScalingConfigurationId"`
	ScalingConfigurationName string `json:"ScalingConfigurationName"`
	ScalingGroupId           string `json:"ScalingGroupId"`
	ImageId                  string `json:"ImageId"`
	InstanceType             string `json:"InstanceType"`
	LifecycleState           string `json:"LifecycleState"`
	CreationTime             string `json:"CreationTime"`
	Tags                     struct {
		Tag []tagJSON `json:"Tag"`
	} `json:"Tags"`
}

type describeScalingConfigurationsResponse struct {
	RequestId             string `json:"RequestId"`
	TotalCount            int    `json:"TotalCount"`
	PageNumber            int    `json:"PageNumber"`
	PageSize              int    `json:"PageSize"`
	ScalingConfigurations struct {
		ScalingConfiguration []scalingConfigurationJSON `json:"ScalingConfiguration"`
	} `json:"ScalingConfigurations"`
}

func (s *Service) describeScalingConfigurations(q *request) (any, *apiError) {
	size, aerr := q.intParam("PageSize", 10, 1, 50)
	if aerr != nil {
		return nil, aerr
	}
	num, aerr := q.intParam("PageNumber", 1, 1, 1<<30)
	if aerr != nil {
		return nil, aerr
	}
	ids, names := q.repeated("ScalingConfigurationId"), q.repeated("ScalingConfigurationName")
	if len(ids) > 10 || len(names) > 10 {
		return nil, errf(400, "InvalidParameter", "At most 10 ScalingConfigurationId.N and 10 ScalingConfigurationName.N values are allowed.")
	}
	gid := q.get("ScalingGroupId")
	s.mu.Lock()
	defer s.mu.Unlock()
	var match []*ScalingConfiguration
	for _, c := range s.configs {
		switch {
		case c.RegionID != q.region,
			gid != "" && c.GroupID != gid,
			len(ids) > 0 && !slices.Contains(ids, c.ID),
			len(names) > 0 && (c.LifecycleState != "Active" || !slices.Contains(names, c.Name)):
			continue
		}
		match = append(match, c)
	}
	slices.SortFunc(match, func(a, b *ScalingConfiguration) int { return strings.Compare(a.ID, b.ID) })
	lo := min((num-1)*size, len(match))
	hi := min(lo+size, len(match))
	resp := describeScalingConfigurationsResponse{RequestId: q.reqID, TotalCount: len(match), PageNumber: num, PageSize: size}
	resp.ScalingConfigurations.ScalingConfiguration = []scalingConfigurationJSON{}
	for _, c := range match[lo:hi] {
		cj := scalingConfigurationJSON{ScalingConfigurationId: c.ID, ScalingConfigurationName: c.Name, ScalingGroupId: c.GroupID,
			ImageId: c.ImageID, InstanceType: c.InstanceType, LifecycleState: c.LifecycleState, CreationTime: apiTime(c.CreationTime)}
		cj.Tags.Tag = []tagJSON{}
		for _, k := range slices.Sorted(maps.Keys(c.Tags)) {
			cj.Tags.Tag = append(cj.Tags.Tag, tagJSON{Key: k, Value: c.Tags[k]})
		}
		resp.ScalingConfigurations.ScalingConfiguration = append(resp.ScalingConfigurations.ScalingConfiguration, cj)
	}
	return resp, nil
}

// ---- DeleteScalingConfiguration ----

type emptyResponse struct {
	RequestId string `json:"RequestId"`
}

func (s *Service) deleteScalingConfiguration(q *request) (any, *apiError) {
	id := q.get("ScalingConfigurationId")
	if id == "" {
		return nil, missing("ScalingConfigurationId")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.configs[id]
	if c == nil || c.RegionID != q.region {
		return nil, errf(404, "InvalidScalingConfigurationId.NotFound", "The specified scaling configuration %q does not exist in %s.", id, q.region)
	}
	if c.LifecycleState == "Active" {
		return nil, errf(403, "IncorrectScalingConfigurationLifecycleState", "The specified scaling configuration %q is active in its scaling group.", id)
	}
	delete(s.configs, id)
	return emptyResponse{RequestId: q.reqID}, nil
}

// ---- inspection ----

// ScalingConfigurations returns every configuration of region, sorted by id.
func (s *Service) ScalingConfigurations(regionID string) []ScalingConfiguration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ScalingConfiguration
	for _, c := range s.configs {
		if c.RegionID == regionID {
			cc := *c
			cc.Tags = maps.Clone(c.Tags)
			out = append(out, cc)
		}
	}
	slices.SortFunc(out, func(a, b ScalingConfiguration) int { return strings.Compare(a.ID, b.ID) })
	return out
}
