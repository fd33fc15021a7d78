package sls

import (
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ---- projects ----

func (s *Service) createProject(w http.ResponseWriter, _ *http.Request, c *call) {
	var in struct {
		ProjectName string `json:"projectName"`
		Description string `json:"description"`
	}
	if e := decodeJSON(c.body, &in); e != nil {
		replyErr(w, e)
		return
	}
	if in.ProjectName == "" {
		in.ProjectName = c.project
	}
	if c.project != "" && in.ProjectName != c.project {
		replyErr(w, errf(400, "ParameterInvalid", "projectName %q does not match the project in the host (%q)", in.ProjectName, c.project))
		return
	}
	if !projectNameRE.MatchString(in.ProjectName) {
		replyErr(w, errf(400, "ParameterInvalid", "invalid project name %q: 3-63 lower-case letters, digits and '-', starting and ending with a letter or digit", in.ProjectName))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.projects[in.ProjectName]; ok {
		replyErr(w, errf(400, "ProjectAlreadyExist", "Project %s already exist", in.ProjectName))
		return
	}
	s.projects[in.ProjectName] = newProject(in.ProjectName, in.Description, DefaultRegion, c.cred.AccountID, s.env.Clock.Now())
	reply(w, 200, nil)
}

func (s *Service) getProject(w http.ResponseWriter, _ *http.Request, c *call) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, e := s.projectLocked(c)
	if e != nil {
		replyErr(w, e)
		return
	}
	// The SDK's LogProject has string times (unix seconds).
	reply(w, 200, map[string]any{
		"projectName":    p.name,
		"description":    p.description,
		"status":         "Normal",
		"owner":          p.owner,
		"region":         p.region,
		"createTime":     strconv.FormatInt(p.created.Unix(), 10),
		"lastModifyTime": strconv.FormatInt(p.modified.Unix(), 10),
	})
}

func (s *Service) updateProject(w http.ResponseWriter, _ *http.Request, c *call) {
	var in struct {
		Description string `json:"description"`
	}
	if e := decodeJSON(c.body, &in); e != nil {
		replyErr(w, e)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, e := s.projectLocked(c)
	if e != nil {
		replyErr(w, e)
		return
	}
	p.description, p.modified = in.Description, s.env.Clock.Now()
	reply(w, 200, nil)
}

func (s *Service) deleteProject(w http.ResponseWriter, _ *http.Request, c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.projects, c.project)
	reply(w, 200, nil)
}

// ---- logstores ----

// logstoreMeta is the logstore document of GET /logstores/{name}, with the SDK's LogStore
// field names.
type logstoreMeta struct {
	Name           string `json:"logstoreName"`
	TTL            int    `json:"ttl"`
	ShardCount     int    `json:"shardCount"`
	WebTracking    bool   `json:"enable_tracking"`
	AutoSplit      bool   `json:"autoSplit"`
	MaxSplitShard  int    `json:"maxSplitShard"`
	AppendMeta     bool   `json:"appendMeta"`
	TelemetryType  string `json:"telemetryType"`
	HotTTL         int32  `json:"hot_ttl,omitempty"`
	Mode           string `json:"mode,omitempty"`
	CreateTime     int64  `json:"createTime"`
	LastModifyTime int64  `json:"lastModifyTime"`
}

func (m *logstoreMeta) validate() *apiError {
	switch {
	case !logstoreNameRE.MatchString(m.Name):
		return errf(400, "ParameterInvalid", "invalid logstore name %q: 3-63 lower-case letters, digits, '-' and '_', starting and ending with a letter or digit", m.Name)
	case m.TTL < 1 || m.TTL > 3650:
		return errf(400, "ParameterInvalid", "ttl %d is out of range 1-3650 days", m.TTL)
	case m.ShardCount < 1 || m.ShardCount > 256:
		return errf(400, "ParameterInvalid", "shardCount %d is out of range 1-256", m.ShardCount)
	case m.MaxSplitShard < 0 || m.MaxSplitShard > 256:
		return errf(400, "ParameterInvalid", "maxSplitShard %d is out of range 0-256", m.MaxSplitShard)
	case m.Mode != "" && m.Mode != "standard" && m.Mode != "query":
		return errf(400, "ParameterInvalid", "mode %q is not standard or query", m.Mode)
	}
	return nil
}

func (s *Service) createLogstore(w http.ResponseWriter, _ *http.Request, c *call) {
	var m logstoreMeta
	if e := decodeJSON(c.body, &m); e != nil {
		replyErr(w, e)
		return
	}
	if e := m.validate(); e != nil {
		replyErr(w, e)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, e := s.projectLocked(c)
	if e != nil {
		replyErr(w, e)
		return
	}
	if _, ok := p.logstores[m.Name]; ok {
		replyErr(w, errf(400, "LogStoreAlreadyExist", "logstore %s already exists", m.Name))
		return
	}
	now := s.env.Clock.Now().Unix()
	m.CreateTime, m.LastModifyTime = now, now
	if m.Mode == "" {
		m.Mode = "standard"
	}
	if m.TelemetryType == "" {
		m.TelemetryType = "None"
	}
	p.logstores[m.Name] = &logstore{meta: m}
	reply(w, 200, nil)
}

func (s *Service) getLogstore(w http.ResponseWriter, _ *http.Request, c *call) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ls, e := s.logstoreLocked(c, c.parts[0])
	if e != nil {
		replyErr(w, e)
		return
	}
	reply(w, 200, ls.meta)
}

func (s *Service) updateLogstore(w http.ResponseWriter, _ *http.Request, c *call) {
	var in logstoreMeta
	if e := decodeJSON(c.body, &in); e != nil {
		replyErr(w, e)
		return
	}
	if in.Name != "" && in.Name != c.parts[0] {
		replyErr(w, errf(400, "ParameterInvalid", "logstoreName %q does not match the path (%q)", in.Name, c.parts[0]))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ls, e := s.logstoreLocked(c, c.parts[0])
	if e != nil {
		replyErr(w, e)
		return
	}
	m := ls.meta
	// The shard count and mode cannot be changed by an update; the rest can.
	m.TTL, m.AutoSplit, m.MaxSplitShard, m.AppendMeta, m.WebTracking, m.HotTTL = in.TTL, in.AutoSplit, in.MaxSplitShard, in.AppendMeta, in.WebTracking, in.HotTTL
	if e := m.validate(); e != nil {
		replyErr(w, e)
		return
	}
	m.LastModifyTime = s.env.Clock.Now().Unix()
	ls.meta = m
	reply(w, 200, nil)
}

func (s *Service) deleteLogstore(w http.ResponseWriter, _ *http.Request, c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, e := s.projectLocked(c)
	if e != nil {
		replyErr(w, e)
		return
	}
	if _, ok := p.logstores[c.parts[0]]; !ok {
		replyErr(w, errLogStoreNotExist(c.parts[0]))
		return
	}
	delete(p.logstores, c.parts[0])
	reply(w, 200, nil)
}

// listLogstores serves GET /logstores[?offset=&size=&logstoreName=]: sorted names.
func (s *Service) listLogstores(w http.ResponseWriter, r *http.Request, c *call) {
	q := r.URL.Query()
	offset, size, e := paging(q.Get("offset"), q.Get("size"), 500)
	if e != nil {
		replyErr(w, e)
		return
	}
	filter := q.Get("logstoreName")
	s.mu.RLock()
	p, e := s.projectLocked(c)
	var names []string
	if p != nil {
		for n := range p.logstores {
			if strings.Contains(n, filter) {
				names = append(names, n)
			}
		}
	}
	s.mu.RUnlock()
	if e != nil {
		replyErr(w, e)
		return
	}
	slices.Sort(names)
	page := window(names, offset, size)
	reply(w, 200, map[string]any{"count": len(page), "total": len(names), "logstores": page})
}

// paging parses offset and size (size 0 or absent: max).
func paging(offsetStr, sizeStr string, max int) (offset, size int, e *apiError) {
	var err error
	if offsetStr != "" {
		if offset, err = strconv.Atoi(offsetStr); err != nil || offset < 0 {
			return 0, 0, errf(400, "ParameterInvalid", "offset %q is not a non-negative integer", offsetStr)
		}
	}
	size = max
	if sizeStr != "" {
		if size, err = strconv.Atoi(sizeStr); err != nil || size < 0 {
			return 0, 0, errf(400, "ParameterInvalid", "size %q is not a non-negative integer", sizeStr)
		}
		if size == 0 || size > max {
			size = max
		}
	}
	return offset, size, nil
}

func window[T any](all []T, offset, size int) []T {
	if offset >= len(all) {
		return []T{}
	}
	end := min(offset+size, len(all))
	return all[offset:end]
}

// listShards splits the 128-bit hash space evenly between the logstore's shards, as a
// fresh logstore does.
func (s *Service) listShards(w http.ResponseWriter, _ *http.Request, c *call) {
	s.mu.RLock()
	ls, e := s.logstoreLocked(c, c.parts[0])
	var n int
	var created int64
	if ls != nil {
		n, created = ls.meta.ShardCount, ls.meta.CreateTime
	}
	s.mu.RUnlock()
	if e != nil {
		replyErr(w, e)
		return
	}
	space := new(big.Int).Lsh(big.NewInt(1), 128)
	key := func(i int) string {
		if i == n {
			return strings.Repeat("f", 32)
		}
		k := new(big.Int).Mul(space, big.NewInt(int64(i)))
		k.Div(k, big.NewInt(int64(n)))
		return fmt.Sprintf("%032x", k)
	}
	shards := make([]map[string]any, n)
	for i := range n {
		shards[i] = map[string]any{
			"shardID": i, "status": "readwrite",
			"inclusiveBeginKey": key(i), "exclusiveEndKey": key(i + 1),
			"createTime": created,
		}
	}
	reply(w, 200, shards)
}

// ---- index ----

// indexConfig is a logstore's index: the document as sent, and what queries use of it.
type indexConfig struct {
	raw      map[string]any
	keys     map[string]indexKey
	line     *indexToken
	modified time.Time
}

type indexToken struct {
	Token         []string `json:"token"`
	CaseSensitive bool     `json:"caseSensitive"`
}

type indexKey struct {
	indexToken
	Type     string `json:"type"`
	DocValue bool   `json:"doc_value"` // statistics enabled: the key is a column in SQL
}

func parseIndex(body []byte, now time.Time) (*indexConfig, *apiError) {
	var raw map[string]any
	if e := decodeJSON(body, &raw); e != nil {
		return nil, e
	}
	var in struct {
		Keys map[string]indexKey `json:"keys"`
		Line *indexToken         `json:"line"`
	}
	if e := decodeJSON(body, &in); e != nil {
		return nil, e
	}
	if len(in.Keys) == 0 && in.Line == nil {
		return nil, errf(400, "ParameterInvalid", "index config needs a line (full-text) index or at least one key")
	}
	for name, k := range in.Keys {
		if name == "" {
			return nil, errf(400, "ParameterInvalid", "index key with an empty name")
		}
		switch k.Type {
		case "text", "long", "double", "json":
		default:
			return nil, errf(400, "ParameterInvalid", "index key %q has type %q; want text, long, double or json", name, k.Type)
		}
	}
	return &indexConfig{raw: raw, keys: in.Keys, line: in.Line, modified: now}, nil
}

func (s *Service) createIndex(w http.ResponseWriter, _ *http.Request, c *call) {
	s.putIndex(w, c, true)
}

func (s *Service) updateIndex(w http.ResponseWriter, _ *http.Request, c *call) {
	s.putIndex(w, c, false)
}

func (s *Service) putIndex(w http.ResponseWriter, c *call, create bool) {
	idx, e := parseIndex(c.body, s.env.Clock.Now())
	if e != nil {
		replyErr(w, e)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ls, e := s.logstoreLocked(c, c.parts[0])
	if e != nil {
		replyErr(w, e)
		return
	}
	switch {
	case create && ls.index != nil:
		replyErr(w, errf(400, "IndexAlreadyExist", "log store index is already created"))
		return
	case !create && ls.index == nil:
		replyErr(w, errIndexConfigNotExist())
		return
	}
	ls.index = idx
	reply(w, 200, nil)
}

func (s *Service) getIndex(w http.ResponseWriter, _ *http.Request, c *call) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ls, e := s.logstoreLocked(c, c.parts[0])
	if e != nil {
		replyErr(w, e)
		return
	}
	if ls.index == nil {
		replyErr(w, errIndexConfigNotExist())
		return
	}
	out := make(map[string]any, len(ls.index.raw)+1)
	for k, v := range ls.index.raw {
		out[k] = v
	}
	out["lastModifyTime"] = ls.index.modified.Unix()
	reply(w, 200, out)
}

func (s *Service) deleteIndex(w http.ResponseWriter, _ *http.Request, c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ls, e := s.logstoreLocked(c, c.parts[0])
	if e != nil {
		replyErr(w, e)
		return
	}
	if ls.index == nil {
		replyErr(w, errIndexConfigNotExist())
		return
	}
	ls.index = nil
	reply(w, 200, nil)
}
