// Package ecs is the local cloud's ECS service: an RPC (API version 2014-05-26) emulator
// that the unmodified alibaba-cloud-sdk-go services/ecs client drives over HTTP. State is
// kept per region (the RegionId parameter), images and copies progress on the injectable
// clock of core.Env, and every image state change is published on core.Env.Bus.
//
// The account is single: every request, whatever key signed it, sees the same resources,
// owned by core.DefaultAccountID.
//
// Choices where the real service is ambiguous or unknown:
//   - Copy concurrency (Seed.CopyConcurrency, default 5) is counted per destination region,
//     where the copies and their Waiting queue are visible.
//   - Deleting the source of a running copy is allowed (real ECS allows it); the copy
//     still completes.
//   - A second CopyImage of one source into one destination while a copy is Waiting or
//     Creating answers OperationDenied.ImageCopyConflict 400 (Seed.AllowConcurrentCopies
//     turns it off); copies of one source into different regions run together.
//   - CreateImage ClientToken conflicts answer IdempotenceParamNotMatch 400 (see createImage).
//   - DeleteImage of an unknown id is a 404 unless Seed.IgnoreUnknownImageOnDelete.
//   - DescribeImages with an unknown ImageId returns an empty list.
//   - Timestamps (InvalidTimeStamp.Expired) and nonce reuse (SignatureNonceUsed) are not
//     checked: the simulated clock and the wall clock differ by design.
//   - DryRun=true answers DryRunOperation before the action's own validation.
//   - Faults are applied before the signature check, as a throttling gateway would.
//   - Image progress is derived from the clock on every read; snapshots of a building image
//     report the image's progress.
//   - Creating-to-Available completions are env.Clock callbacks, not env.Tracker work:
//     they only happen when the clock moves, so WaitIdle must not wait for them.
package ecs

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

// APIVersion is the only ECS API version served.
const APIVersion = "2014-05-26"

const hostID = "ecs.aliyuncs.com"

// Service is the ECS emulator. It is an http.Handler serving the RPC endpoint "/".
type Service struct {
	env     *core.Env
	seed    Seed
	account string

	cmdMu sync.Mutex // guards seed.Compute.Commands (SetCommandRules)

	internMu sync.Mutex
	strs     map[string]string // interned tag strings (internTags)

	// regions is fixed at New (read without a lock); each region has its own mutex.
	regions map[string]*region
	order   []string // region ids in seed order (DescribeRegions)
}

// New builds the service from seed (validated; zero fields take their defaults).
func New(env *core.Env, seed Seed) (*Service, error) {
	if env == nil || env.Clock == nil || env.Creds == nil || env.Faults == nil || env.Bus == nil {
		return nil, fmt.Errorf("new ecs service: env with clock, creds, faults and bus is required")
	}
	if err := seed.Validate(); err != nil {
		return nil, fmt.Errorf("new ecs service: %w", err)
	}
	seed = seed.withDefaults()
	if env.Log == nil {
		env.Log = slog.New(slog.DiscardHandler)
	}
	s := &Service{env: env, seed: seed, account: core.DefaultAccountID, regions: map[string]*region{}}
	now := env.Clock.Now()
	for _, r := range seed.Regions {
		q := seed.ImageQuota
		if v, ok := seed.RegionImageQuota[r.ID]; ok {
			q = v
		}
		s.regions[r.ID] = newRegion(r.ID, r.LocalName, q)
		s.order = append(s.order, r.ID)
	}
	for _, in := range seed.Instances {
		s.regions[in.Region].addInstance(newInstance(in, now))
	}
	for _, im := range seed.Images {
		s.addSeedImage(im, now)
	}
	s.initCompute(seed.Compute, now)
	return s, nil
}

func newInstance(in InstanceSeed, now time.Time) *instance {
	out := &instance{Instance{ID: in.ID, RegionID: in.Region, ZoneID: in.ZoneID, Name: in.Name, Status: in.Status,
		InstanceType: in.InstanceType, OSType: in.OSType, ImageID: in.ImageID, LockReason: in.LockReason,
		FailImages: in.FailImages, CreationTime: now, Tags: maps.Clone(in.Tags), InstanceNet: in.InstanceNet}}
	out.SecurityGroupIDs = slices.Clone(in.SecurityGroupIDs)
	out.StartTime = now
	if out.Tags == nil {
		out.Tags = map[string]string{}
	}
	if out.Status == "" {
		out.Status = "Running"
	}
	if out.ZoneID == "" {
		out.ZoneID = in.Region + "-a"
	}
	if out.InstanceType == "" {
		out.InstanceType = "ecs.g7.large"
	}
	if out.OSType == "" {
		out.OSType = "linux"
	}
	if out.ImageID == "" {
		out.ImageID = SystemImageID
	}
	data := 0
	for _, d := range in.Disks {
		dk := Disk{ID: d.ID, Type: d.Type, SizeGiB: d.SizeGiB, Device: d.Device, Category: d.Category}
		if dk.ID == "" {
			dk.ID = "d-" + core.RandomHex(10)
		}
		if dk.Device == "" {
			if d.Type == "system" {
				dk.Device = "/dev/xvda"
			} else {
				data++
				dk.Device = "/dev/xvd" + string(rune('a'+data))
			}
		}
		if dk.Category == "" {
			dk.Category = "cloud_essd"
		}
		out.Disks = append(out.Disks, dk)
	}
	return out
}

func (s *Service) addSeedImage(im ImageSeed, now time.Time) {
	r := s.regions[im.Region]
	img := &image{Image: Image{ID: im.ID, RegionID: im.Region, Name: im.Name, Status: im.Status, OwnerAlias: im.OwnerAlias,
		SizeGiB: im.SizeGiB, CreationTime: im.CreationTime, SourceInstanceID: im.SourceInstanceID, OSType: im.OSType,
		Architecture: "x86_64", Platform: "Aliyun", Tags: s.internTags(im.Tags)}}
	if img.Status == "" {
		img.Status = "Available"
	}
	if img.OwnerAlias == "" {
		img.OwnerAlias = "self"
	}
	if img.SizeGiB == 0 {
		img.SizeGiB = 40
	}
	if img.CreationTime.IsZero() {
		img.CreationTime = now
	}
	if img.OSType == "" {
		img.OSType = "linux"
	}
	if img.Tags == nil {
		img.Tags = map[string]string{}
	}
	if img.OwnerAlias == "self" {
		// A custom image owns its snapshot, like one made by CreateImage.
		sn := &snapshot{Snapshot: Snapshot{ID: newSnapshotID(), RegionID: im.Region, Status: "accomplished", Progress: 100,
			SourceDiskType: "system", SourceDiskSizeGiB: img.SizeGiB, Category: "standard", Usage: "image",
			ImageID: img.ID, CreationTime: img.CreationTime, Tags: map[string]string{}}}
		r.addSnapshot(sn)
		img.Disks = []ImageDisk{{SnapshotID: sn.ID, Device: "/dev/xvda", Type: "system", SizeGiB: img.SizeGiB}}
	}
	r.addImage(img)
}

func newImageID() string    { return "m-" + core.RandomHex(10) }
func newSnapshotID() string { return "s-" + core.RandomHex(10) }

// apiError is an ECS error as the wire carries it.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return fmt.Sprintf("%s (%d): %s", e.Code, e.Status, e.Message) }

func errf(status int, code, format string, a ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, a...)}
}

func missing(name string) *apiError {
	return errf(400, "MissingParameter", "The input parameter %q that is mandatory for processing this request is not supplied.", name)
}

func invalidParam(name, value string) *apiError {
	return errf(400, "InvalidParameter", "The specified parameter %q is not valid: %q.", name, value)
}

type errorBody struct {
	RequestId string `json:"RequestId"`
	HostId    string `json:"HostId"`
	Code      string `json:"Code"`
	Message   string `json:"Message"`
	Recommend string `json:"Recommend"`
}

func writeJSON(w http.ResponseWriter, status int, reqID string, v any) {
	WriteRPCJSON(w, status, reqID, hostID, v)
}

func writeError(w http.ResponseWriter, reqID string, e *apiError) {
	WriteRPCError(w, reqID, hostID, "Ecs", e.Status, e.Code, e.Message)
}

// WriteRPCJSON writes one RPC reply (or error body) as the gateway of host renders it: JSON
// with the x-acs-request-id header. The ESS and RDS emulators share it with ECS.
func WriteRPCJSON(w http.ResponseWriter, status int, reqID, host string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = 500
		b = []byte(fmt.Sprintf(`{"RequestId":%q,"HostId":%q,"Code":"InternalError","Message":"marshal response"}`, reqID, host))
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.Header().Set("x-acs-request-id", reqID)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// WriteRPCError writes an RPC error in the shape the SDKs parse (RequestId, HostId, Code,
// Message, Recommend) for product (Ecs, Ess, Rds…).
func WriteRPCError(w http.ResponseWriter, reqID, host, product string, status int, code, message string) {
	WriteRPCJSON(w, status, reqID, host, errorBody{RequestId: reqID, HostId: host, Code: code, Message: message,
		Recommend: "https://api.aliyun.com/troubleshoot?q=" + url.QueryEscape(code) + "&product=" + product})
}

// request is one parsed RPC call.
type request struct {
	params  url.Values // query merged with the form body (the body wins, as in the SDK signer)
	action  string
	region  string
	account string
	reqID   string
	cred    core.Credential // the signing credential (its Role decides RAM evaluation)
}

func (q *request) get(k string) string { return q.params.Get(k) }

type handler func(s *Service, q *request) (any, *apiError)

var actions = map[string]handler{
	"DescribeRegions":   (*Service).describeRegions,
	"DescribeInstances": (*Service).describeInstances,
	"CreateImage":       (*Service).createImage,
	"DescribeImages":    (*Service).describeImages,
	"CopyImage":         (*Service).copyImage,
	"CancelCopyImage":   (*Service).cancelCopyImage,
	"DeleteImage":       (*Service).deleteImage,
	"DescribeSnapshots": (*Service).describeSnapshots,
	"DeleteSnapshot":    (*Service).deleteSnapshot,
	"TagResources":      (*Service).tagResources,
	"UntagResources":    (*Service).untagResources,
	"ListTagResources":  (*Service).listTagResources,
	// launchtemplates.go
	"CreateLaunchTemplate":           (*Service).createLaunchTemplate,
	"CreateLaunchTemplateVersion":    (*Service).createLaunchTemplateVersion,
	"DescribeLaunchTemplates":        (*Service).describeLaunchTemplates,
	"DescribeLaunchTemplateVersions": (*Service).describeLaunchTemplateVersions,
	"DeleteLaunchTemplate":           (*Service).deleteLaunchTemplate,
}

// maxBody bounds what an RPC request may carry; ECS calls are a few kilobytes.
const maxBody = 1 << 20

// ServeHTTP serves the RPC endpoint: POST or GET "/?Action=...", signature v1 (query
// parameter Signature) or v3 (Authorization: ACS3-HMAC-SHA256 ...).
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := core.NewRequestID()
	// The cloud's clock, as every real response carries it: the functions bound payload
	// times by it, so on the local cloud it is the simulated clock.
	w.Header().Set("Date", s.env.Clock.Now().UTC().Format(http.TimeFormat))
	defer func() {
		if v := recover(); v != nil {
			s.env.Log.Error("ecs: panic serving request", "panic", v, "requestId", reqID)
			writeError(w, reqID, errf(500, "InternalError", "The request processing has failed due to some unknown error."))
		}
	}()
	resp, aerr := s.serve(r, reqID)
	if aerr != nil {
		writeError(w, reqID, aerr)
		return
	}
	writeJSON(w, 200, reqID, resp)
}

func (s *Service) serve(r *http.Request, reqID string) (any, *apiError) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		return nil, errf(400, "UnsupportedHTTPMethod", "The HTTP method %s is not supported.", r.Method)
	}
	if r.URL.Path != "/" && r.URL.Path != "" {
		return nil, errf(404, "InvalidAction.NotFound", "Specified api is not found, please check your url and method: path %s.", r.URL.Path)
	}
	query, params, body, aerr := readParams(r)
	if aerr != nil {
		return nil, aerr
	}
	q := &request{params: params, reqID: reqID, account: s.account}
	v3 := strings.HasPrefix(r.Header.Get("Authorization"), v3Algorithm)
	q.action = params.Get("Action")
	version := params.Get("Version")
	if v3 {
		if h := r.Header.Get("x-acs-action"); h != "" {
			q.action = h
		}
		if h := r.Header.Get("x-acs-version"); h != "" {
			version = h
		}
	}
	if q.action == "" {
		return nil, missing("Action")
	}

	// Faults come first: a throttled or failing gateway answers before any work.
	if ferr := GatewayFault(r.Context(), s.env, "ecs", q.action, s.seed.ThrottleStatus); ferr != nil {
		return nil, &apiError{Status: ferr.Status, Code: ferr.Code, Message: ferr.Message}
	}

	if v3 {
		aerr = s.verifyV3(r, query, body, q)
	} else {
		aerr = s.verifyV1(r.Method, params, q)
	}
	if aerr != nil {
		if s.env.StrictSignatures {
			return nil, aerr
		}
		s.env.Log.Warn("ecs: signature check failed, serving anyway (StrictSignatures off)", "action", q.action, "code", aerr.Code, "message", aerr.Message)
	}

	h, ok := actions[q.action]
	if !ok {
		return nil, errf(404, "InvalidAction.NotFound", "Specified api is not found, please check your url and method: %s.", q.action)
	}
	if version != APIVersion {
		return nil, errf(400, "InvalidVersion", "Specified parameter Version is not valid: %q (want %s).", version, APIVersion)
	}
	q.region = params.Get("RegionId")
	if q.action != "DescribeRegions" {
		if q.region == "" {
			return nil, missing("RegionId")
		}
		if s.regions[q.region] == nil {
			return nil, errf(404, "InvalidRegionId.NotFound", "The specified RegionId %q does not exist.", q.region)
		}
	}
	if dry := params.Get("DryRun"); dry != "" {
		b, aerr := parseBool("DryRun", dry)
		if aerr != nil {
			return nil, aerr
		}
		if b {
			return nil, errf(400, "DryRunOperation", "Request validation has been passed with DryRun flag set.")
		}
	}
	s.env.Log.Debug("ecs: request", "action", q.action, "region", q.region, "requestId", reqID)
	if aerr := s.authorize(q); aerr != nil { // RAM (ramauth.go)
		return nil, aerr
	}
	return h(s, q)
}

// publishAll sends events after the service lock is released: subscribers may call back.
func (s *Service) publishAll(evs []core.Event) {
	for _, e := range evs {
		s.env.Bus.Publish(e)
	}
}

func (s *Service) imageEvent(regionID, imageID, state string) core.Event {
	return core.Event{
		Source:    "acs.ecs",
		Type:      "Image:StateChange",
		Region:    regionID,
		AccountID: s.account,
		Resource:  fmt.Sprintf("acs:ecs:%s:%s:image/%s", regionID, s.account, imageID),
		Time:      s.env.Clock.Now(),
		Data:      map[string]any{"imageId": imageID, "currentState": state},
	}
}

// ---- inspection and admin ----

// Images returns every image of region in every status (DescribeImages hides all but
// Available by default), sorted by id.
func (s *Service) Images(regionID string) []Image {
	r := s.regions[regionID]
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := s.env.Clock.Now()
	out := make([]Image, 0, len(r.images))
	for _, im := range r.images {
		out = append(out, im.snapshotCopy(now))
	}
	slices.SortFunc(out, func(a, b Image) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Snapshots returns every snapshot of region, sorted by id.
func (s *Service) Snapshots(regionID string) []Snapshot {
	r := s.regions[regionID]
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := s.env.Clock.Now()
	out := make([]Snapshot, 0, len(r.snapshots))
	for _, sn := range r.snapshots {
		out = append(out, r.snapshotView(sn, now))
	}
	slices.SortFunc(out, func(a, b Snapshot) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (r *region) snapshotView(sn *snapshot, now time.Time) Snapshot {
	out := sn.Snapshot
	out.Tags = maps.Clone(sn.Tags)
	if out.Status == "progressing" {
		if im := r.images[sn.ImageID]; im != nil {
			out.Progress = im.progress(now)
		}
	}
	return out
}

// Instances returns every instance of region, sorted by id.
func (s *Service) Instances(regionID string) []Instance {
	r := s.regions[regionID]
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Instance, 0, len(r.instances))
	for _, in := range r.instances {
		c := in.Instance
		c.Tags = maps.Clone(in.Tags)
		c.Disks = slices.Clone(in.Disks)
		c.SecurityGroupIDs = slices.Clone(in.SecurityGroupIDs)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Instance) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// SetInstanceStatus changes an instance's status (Pending, Running, Starting, Stopping, Stopped).
func (s *Service) SetInstanceStatus(regionID, instanceID, status string) error {
	if !instanceStatuses[status] {
		return fmt.Errorf("set instance status: unknown status %q", status)
	}
	r := s.regions[regionID]
	if r == nil {
		return fmt.Errorf("set instance status: unknown region %q", regionID)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	in := r.instances[instanceID]
	if in == nil {
		return fmt.Errorf("set instance status: unknown instance %q in %s", instanceID, regionID)
	}
	r.updateInstance(in, func() { in.Status = status })
	return nil
}

// AddInstance adds an instance to region (in.Region is ignored) and returns its id.
// Launching from a custom image (in.ImageID) makes that image "in use" for DeleteImage.
func (s *Service) AddInstance(regionID string, in InstanceSeed) (string, error) {
	in.Region = regionID
	r := s.regions[regionID]
	if r == nil {
		return "", fmt.Errorf("add instance: unknown region %q", regionID)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	regions := map[string]bool{regionID: true}
	if errs := validateInstanceSeed("instance", in, regions, false); len(errs) > 0 {
		return "", fmt.Errorf("add instance: %w", errs[0])
	}
	if in.ID == "" {
		in.ID = "i-" + core.RandomHex(10)
	}
	if r.instances[in.ID] != nil {
		return "", fmt.Errorf("add instance: instance %q already exists in %s", in.ID, regionID)
	}
	if in.ImageID != "" && r.images[in.ImageID] == nil {
		return "", fmt.Errorf("add instance: unknown image %q in %s", in.ImageID, regionID)
	}
	inst := newInstance(in, s.env.Clock.Now())
	r.defaultNetLocked(&inst.Instance)
	r.addInstance(inst)
	return in.ID, nil
}

// SetImageQuota sets the custom-image quota of region.
func (s *Service) SetImageQuota(regionID string, n int) {
	if r := s.regions[regionID]; r != nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.quota = n
	}
}
