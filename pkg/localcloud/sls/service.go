// Package sls is the local Log Service (SLS): it speaks the wire protocol of
// aliyun-log-go-sdk v0.1.124 (AuthV1 signatures, protobuf LogGroups compressed with lz4,
// zstd, deflate or nothing, JSON admin APIs) so the unmodified SDK, and the functions'
// structured logging built on it, run against it.
//
// The project is in the URL host (http://{project}.{endpoint}/...), as the SDK builds it;
// use DialClient to make such hosts reach this server. State is in memory.
package sls

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

// DefaultRegion is the region a project created through the API reports.
const DefaultRegion = "cn-hangzhou"

// Limits are the PutLogs limits the service enforces.
//
// The PutLogs API documentation gives 10 MB of raw (uncompressed) data and 4096 logs per
// log group; newer material (and the SDK producer, which caps MaxBatchCount at 40960)
// suggests 40960 logs. Both are configurable so a wrong guess is a setting, not a rewrite.
type Limits struct {
	MaxRawBytes     int // x-log-bodyrawsize and the body as sent; default 10 MiB
	MaxLogsPerGroup int // logs in one LogGroup; default 4096
}

// DefaultLimits returns the documented PutLogs limits.
func DefaultLimits() Limits {
	return Limits{MaxRawBytes: 10 << 20, MaxLogsPerGroup: 4096}
}

// Record is one stored log, as a test inspects it.
type Record struct {
	Time     time.Time         // Log.Time plus Log.TimeNs, UTC
	Topic    string            // LogGroup.Topic
	Source   string            // LogGroup.Source
	Tags     map[string]string // LogGroup.LogTags
	Contents map[string]string // Log.Contents (a later duplicate key wins)
}

// Service is the local SLS. It is safe for concurrent use.
type Service struct {
	env *core.Env

	mu       sync.RWMutex
	limits   Limits
	projects map[string]*project
}

type project struct {
	name, description, region, owner string
	created, modified                time.Time
	logstores                        map[string]*logstore
	dashboards                       map[string]*document
	jobs                             map[string]*document
}

type logstore struct {
	meta    logstoreMeta
	index   *indexConfig // nil: no index
	records []Record
}

// document is a stored JSON resource (dashboard, alert job): the body as sent, plus times.
type document struct {
	body              map[string]any
	created, modified time.Time
}

// New returns an empty service with the default limits.
func New(env *core.Env) *Service {
	return &Service{env: env, limits: DefaultLimits(), projects: map[string]*project{}}
}

// SetLimits replaces the PutLogs limits; zero fields keep their defaults.
func (s *Service) SetLimits(l Limits) {
	d := DefaultLimits()
	if l.MaxRawBytes <= 0 {
		l.MaxRawBytes = d.MaxRawBytes
	}
	if l.MaxLogsPerGroup <= 0 {
		l.MaxLogsPerGroup = d.MaxLogsPerGroup
	}
	s.mu.Lock()
	s.limits = l
	s.mu.Unlock()
}

// EnsureProject creates project name in region (DefaultRegion when empty), owned by the
// default account, unless it exists. It is the seeding path: real projects are made once,
// out of band, and the functions only write into them.
func (s *Service) EnsureProject(name, region string) {
	if region == "" {
		region = DefaultRegion
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.projects[name]; ok {
		return
	}
	s.projects[name] = newProject(name, "", region, core.DefaultAccountID, s.env.Clock.Now())
}

func newProject(name, description, region, owner string, now time.Time) *project {
	return &project{
		name: name, description: description, region: region, owner: owner,
		created: now, modified: now,
		logstores:  map[string]*logstore{},
		dashboards: map[string]*document{},
		jobs:       map[string]*document{},
	}
}

// Logs returns a copy of what logstore holds, in arrival order (nil when it does not exist).
func (s *Service) Logs(projectName, logstoreName string) []Record {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p := s.projects[projectName]
	if p == nil {
		return nil
	}
	ls := p.logstores[logstoreName]
	if ls == nil {
		return nil
	}
	out := make([]Record, len(ls.records))
	for i, r := range ls.records {
		out[i] = cloneRecord(r)
	}
	return out
}

func cloneRecord(r Record) Record {
	c := r
	c.Contents = make(map[string]string, len(r.Contents))
	for k, v := range r.Contents {
		c.Contents[k] = v
	}
	if r.Tags != nil {
		c.Tags = make(map[string]string, len(r.Tags))
		for k, v := range r.Tags {
			c.Tags[k] = v
		}
	}
	return c
}

// apiError is an SLS error reply: {"errorCode","errorMessage"} with an HTTP status.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"errorCode"`
	Message string `json:"errorMessage"`
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

func errf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Common errors. Codes and statuses follow the SDK's error_code.go and observed replies;
// the dashboard and job (alert) codes are unverified guesses with the usual SLS shape.
func errProjectNotExist(name string) *apiError {
	return errf(404, "ProjectNotExist", "The Project does not exist : %s", name)
}

func errLogStoreNotExist(name string) *apiError {
	return errf(404, "LogStoreNotExist", "logstore %s does not exist", name)
}

func errIndexConfigNotExist() *apiError {
	return errf(404, "IndexConfigNotExist", "index config doesn't exist")
}

func errBadJSON(err error) *apiError {
	return errf(400, "PostBodyInvalid", "request body is not valid JSON: %v", err)
}

// reply writes a JSON body (nil: empty body) with the request id; every reply carries
// x-log-requestid, which the SDK copies into Error.RequestID.
func reply(w http.ResponseWriter, status int, body any) {
	w.Header().Set("x-log-requestid", requestID())
	if body == nil {
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(status)
		return
	}
	b, err := json.Marshal(body)
	if err != nil {
		status, b = 500, []byte(`{"errorCode":"InternalServerError","errorMessage":"encode reply"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func replyErr(w http.ResponseWriter, e *apiError) { reply(w, e.Status, e) }

// requestID is shaped like SLS request ids: 24 upper-case hex characters.
func requestID() string { return strings.ToUpper(core.RandomHex(12)) }

// projectFromHost returns the text before the first '.' of host, or "" when the host is
// an IP address or has no dot (a request to the bare endpoint, such as ListProject).
func projectFromHost(host string) string {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.Trim(h, "[]")
	if net.ParseIP(h) != nil {
		return ""
	}
	name, _, ok := strings.Cut(h, ".")
	if !ok {
		return ""
	}
	return name
}

// route is a parsed request: the action name (for faults and logs) and its handler.
type route struct {
	action string
	// needProject: the project must exist before the handler runs.
	needProject bool
	serve       func(w http.ResponseWriter, r *http.Request, c *call)
}

// call carries what every handler needs.
type call struct {
	project string
	cred    core.Credential
	body    []byte
	parts   []string // path segments after the resource root
}

// ServeHTTP serves one SLS API request. The project is the text before the first '.' of
// r.Host. Order: route, authenticate, fault injection, then the handler.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt, parts, apiErr := s.match(r)
	if apiErr != nil {
		replyErr(w, apiErr)
		return
	}
	c := &call{project: projectFromHost(r.Host), parts: parts}
	body, apiErr := s.readBody(r, rt.action)
	if apiErr != nil {
		replyErr(w, apiErr)
		return
	}
	c.body = body
	cred, apiErr := s.authenticate(r, body)
	if apiErr != nil {
		s.env.Log.Info("sls: request refused", "action", rt.action, "project", c.project, "code", apiErr.Code, "message", apiErr.Message)
		replyErr(w, apiErr)
		return
	}
	c.cred = cred
	if apiErr := s.authorize(r, rt.action, c); apiErr != nil { // RAM (ramauth.go)
		replyErr(w, apiErr)
		return
	}
	if apiErr := s.fault(r, rt.action); apiErr != nil {
		replyErr(w, apiErr)
		return
	}
	if rt.needProject {
		if c.project == "" {
			replyErr(w, errf(400, "ParameterInvalid", "no project in the request host %q", r.Host))
			return
		}
		s.mu.RLock()
		_, ok := s.projects[c.project]
		s.mu.RUnlock()
		if !ok {
			replyErr(w, errProjectNotExist(c.project))
			return
		}
	}
	rt.serve(w, r, c)
}

// fault applies env.Faults for sls/action: throttling becomes the quota error SLS returns
// (403, WriteQuotaExceed for writes, ReadQuotaExceed for reads); injected errors use the
// rule's status and code (default 503 ServerBusy, 500 InternalServerError).
func (s *Service) fault(r *http.Request, action string) *apiError {
	f := s.env.Faults.Check("sls", action)
	if f.Latency > 0 {
		_ = s.env.Clock.Sleep(r.Context(), f.Latency) // simulated time: the one time model
	}
	switch f.Kind {
	case core.FaultThrottle:
		if isWrite(action) {
			return errf(403, "WriteQuotaExceed", "Write quota is exceeded.")
		}
		return errf(403, "ReadQuotaExceed", "Read quota is exceeded.")
	case core.FaultError:
		code := f.Code
		if code == "" {
			switch {
			case f.Status == 503:
				code = "ServerBusy"
			case f.Status >= 500:
				code = "InternalServerError"
			case f.Status == 403 && isWrite(action):
				code = "WriteQuotaExceed"
			case f.Status == 403:
				code = "ReadQuotaExceed"
			default:
				code = "ParameterInvalid"
			}
		}
		return errf(f.Status, code, "injected fault for %s", action)
	}
	return nil
}

func isWrite(action string) bool { return action == "PutLogs" }

// match resolves method and path to a route. Unknown paths get 404 NotSupported, which
// names the request so a missing emulation is obvious.
func (s *Service) match(r *http.Request) (route, []string, *apiError) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	segs := []string{}
	if path != "" {
		segs = strings.Split(strings.TrimPrefix(path, "/"), "/")
	}
	m := r.Method
	q := r.URL.Query()
	notSupported := errf(404, "NotSupported", "the local SLS does not implement %s %s", m, r.URL.Path)
	if len(segs) == 0 {
		switch m {
		case http.MethodPost:
			return route{"CreateProject", false, s.createProject}, nil, nil
		case http.MethodGet:
			return route{"GetProject", true, s.getProject}, nil, nil
		case http.MethodPut:
			return route{"UpdateProject", true, s.updateProject}, nil, nil
		case http.MethodDelete:
			return route{"DeleteProject", true, s.deleteProject}, nil, nil
		}
		return route{}, nil, notSupported
	}
	rest := segs[1:]
	switch segs[0] {
	case "logstores":
		switch {
		case len(rest) == 0 && m == http.MethodGet:
			return route{"ListLogStore", true, s.listLogstores}, rest, nil
		case len(rest) == 0 && m == http.MethodPost:
			return route{"CreateLogStore", true, s.createLogstore}, rest, nil
		case len(rest) == 1 && m == http.MethodGet && q.Get("type") == "histogram":
			return route{"GetHistograms", true, s.getHistograms}, rest, nil
		case len(rest) == 1 && m == http.MethodGet:
			return route{"GetLogStore", true, s.getLogstore}, rest, nil
		case len(rest) == 1 && m == http.MethodPost:
			return route{"PutLogs", true, s.putLogs}, rest, nil
		case len(rest) == 1 && m == http.MethodPut:
			return route{"UpdateLogStore", true, s.updateLogstore}, rest, nil
		case len(rest) == 1 && m == http.MethodDelete:
			return route{"DeleteLogStore", true, s.deleteLogstore}, rest, nil
		case len(rest) == 2 && rest[1] == "shards" && m == http.MethodGet:
			return route{"ListShards", true, s.listShards}, rest, nil
		case len(rest) == 3 && rest[1] == "shards" && (rest[2] == "lb" || rest[2] == "route") && m == http.MethodPost:
			return route{"PutLogs", true, s.putLogs}, rest, nil
		case len(rest) == 2 && rest[1] == "logs" && m == http.MethodPost:
			return route{"GetLogs", true, s.getLogs}, rest, nil
		case len(rest) == 2 && rest[1] == "index":
			switch m {
			case http.MethodPost:
				return route{"CreateIndex", true, s.createIndex}, rest, nil
			case http.MethodPut:
				return route{"UpdateIndex", true, s.updateIndex}, rest, nil
			case http.MethodGet:
				return route{"GetIndex", true, s.getIndex}, rest, nil
			case http.MethodDelete:
				return route{"DeleteIndex", true, s.deleteIndex}, rest, nil
			}
		}
	case "dashboards":
		return s.matchDocs(m, rest, dashboardKind, notSupported)
	case "jobs":
		return s.matchDocs(m, rest, alertKind, notSupported)
	}
	return route{}, nil, notSupported
}

// readBody reads the request body, refusing more than the PutLogs limit (other APIs get
// the same ceiling; their bodies are small JSON documents).
func (s *Service) readBody(r *http.Request, action string) ([]byte, *apiError) {
	if r.Body == nil {
		return nil, nil
	}
	s.mu.RLock()
	limit := s.limits.MaxRawBytes
	s.mu.RUnlock()
	b, err := readLimited(r, int64(limit))
	if errors.Is(err, errTooLarge) {
		return nil, errf(400, "PostBodyTooLarge", "%s body is larger than %d bytes", action, limit)
	}
	if err != nil {
		return nil, errf(400, "PostBodyInvalid", "read body: %v", err)
	}
	return b, nil
}

var errTooLarge = errors.New("body too large")

// readLimited reads at most limit+1 bytes, so an oversized body is refused without being
// held in memory whole.
func readLimited(r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		// Drain (a bounded amount of) the rest so the client reads the error reply
		// instead of a reset connection while it is still sending.
		_, _ = io.CopyN(io.Discard, r.Body, 64<<20)
		return nil, errTooLarge
	}
	return b, nil
}

// Names: projects 3–63 characters of lower-case letters, digits and '-'; logstores 3–63
// of lower-case letters, digits, '-' and '_'; both start and end with a letter or digit.
var (
	projectNameRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)
	logstoreNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$`)
	docNameRE      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{1,127}$`)
)

// decodeJSON decodes a JSON object body. Anything but an object is refused here: "null"
// would decode into a nil map without error, and handlers write into the maps they decode.
func decodeJSON(body []byte, v any) *apiError {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return errf(400, "PostBodyInvalid", "request body is empty")
	}
	if trimmed[0] != '{' {
		return errf(400, "PostBodyInvalid", "request body must be a JSON object")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errBadJSON(err)
	}
	return nil
}

// projectLocked returns the project of c; callers hold s.mu and the route ensured it exists.
func (s *Service) projectLocked(c *call) (*project, *apiError) {
	p := s.projects[c.project]
	if p == nil {
		return nil, errProjectNotExist(c.project)
	}
	return p, nil
}

func (s *Service) logstoreLocked(c *call, name string) (*logstore, *apiError) {
	p, e := s.projectLocked(c)
	if e != nil {
		return nil, e
	}
	ls := p.logstores[name]
	if ls == nil {
		return nil, errLogStoreNotExist(name)
	}
	return ls, nil
}
