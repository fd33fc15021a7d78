// Package rds is the local cloud's ApsaraDB RDS: an RPC (API version 2014-08-15)
// emulator that the unmodified alibaba-cloud-sdk-go services/rds client drives, plus the
// backup download host its BackupDownloadURLs point to.
//
// Served: DescribeDBInstances, DescribeBackups and DescribeBinlogFiles. Requests are
// parsed and signed exactly as ECS's (ecs.ParseRPC: same gateway, same credentials).
//
// Backup files are generated, never stored (content.go): any size, any range, byte-exact
// on every read, with the CRC-64 that DescribeBackups and DescribeBinlogFiles report as
// Checksum (RDS documents the log file Checksum as "CRC64"; the local cloud uses
// CRC-64/ECMA, the CRC OSS reports, for both).
//
// Download URLs are presigned, like the OSS URLs real RDS hands out: they carry Expires
// (simulated clock, LinkTTL after the Describe call, default 1h) and a Signature; an
// expired one answers 403 AccessDenied "Request has expired." in OSS's XML, a missing
// file 404 NoSuchKey. Range requests are served (206), as OSS does.
//
// Storage types: instances on local SSD (local_ssd) make Physical backups with download
// URLs; instances on cloud disks (cloud_ssd, cloud_essd*, general_essd) make Snapshot
// backups without one, as in the real service (their download goes through DBS's
// "advanced download", which the pinned SDK does not have).
//
// Control (core.Env faults use service "rds", actions = API names and "Download"):
// see Control for the admin endpoints (corrupt or expire downloads, expire backups,
// delete instances).
package rds

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
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

// APIVersion is the RDS API version served.
const APIVersion = "2014-08-15"

// DownloadPrefix is the path under which download URLs are served.
const DownloadPrefix = "/_rds/download/"

const hostID = "rds.aliyuncs.com"

// DefaultLinkTTL is how long a download URL stays valid (simulated time).
const DefaultLinkTTL = time.Hour

// Instance is one DB instance.
type Instance struct {
	ID            string            `json:"id"`
	Region        string            `json:"region"`
	Engine        string            `json:"engine"`        // MySQL, PostgreSQL, SQLServer, MariaDB
	EngineVersion string            `json:"engineVersion"` // "8.0"
	StorageType   string            `json:"storageType"`   // local_ssd, cloud_ssd, cloud_essd, cloud_essd2, cloud_essd3, general_essd
	Category      string            `json:"category"`      // Basic, HighAvailability, AlwaysOn, Finance
	Description   string            `json:"description,omitempty"`
	Status        string            `json:"status,omitempty"` // default Running
	Tags          map[string]string `json:"tags,omitempty"`
	Created       time.Time         `json:"created"`
}

// CloudDisk reports whether the instance's storage is a cloud disk (snapshot backups).
func (in Instance) CloudDisk() bool { return in.StorageType != "local_ssd" }

// Backup is one data backup set.
type Backup struct {
	ID         string    `json:"id"`
	InstanceID string    `json:"instanceId"`
	Method     string    `json:"method"` // Physical (with a file) or Snapshot; default by storage type
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Size       int64     `json:"size"`
	Seed       uint64    `json:"seed,omitempty"`
}

// LogFile is one binlog / WAL backup file.
type LogFile struct {
	ID         string    `json:"id"`
	InstanceID string    `json:"instanceId"`
	Name       string    `json:"name"`
	Begin      time.Time `json:"begin"`
	End        time.Time `json:"end"`
	Size       int64     `json:"size"`
	Seed       uint64    `json:"seed,omitempty"`
}

// Service is the RDS emulator (an http.Handler for the RPC endpoint and the downloads).
type Service struct {
	env    *core.Env
	secret []byte

	mu        sync.Mutex
	instances map[string]*Instance
	backups   map[string]*Backup
	logs      map[string]*LogFile
	crcs      map[string]uint64
	corrupt   map[string]int // file id → downloads still to corrupt
	expire    map[string]int // file id → downloads still to refuse as expired
	linkTTL   time.Duration
	next      int64
	served    map[string]int64   // file id → bytes served (inspection)
	offsets   map[string][]int64 // file id → first byte of every GET (inspection)
}

// New returns an empty RDS on env.
func New(env *core.Env) *Service {
	if env.Log == nil {
		env.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{env: env, secret: []byte(core.RandomHex(16)), instances: map[string]*Instance{},
		backups: map[string]*Backup{}, logs: map[string]*LogFile{}, crcs: map[string]uint64{},
		corrupt: map[string]int{}, expire: map[string]int{}, served: map[string]int64{}, offsets: map[string][]int64{},
		linkTTL: DefaultLinkTTL, next: 300000000}
}

// ---- admin (seed, inspection, knobs); no auth, no faults ----

// AddInstance adds a DB instance; Status defaults to Running, Created to now.
func (s *Service) AddInstance(in Instance) error {
	if in.ID == "" || in.Region == "" || in.Engine == "" {
		return fmt.Errorf("rds: add instance: id, region and engine are required")
	}
	if in.StorageType == "" {
		in.StorageType = "local_ssd"
	}
	if in.Status == "" {
		in.Status = "Running"
	}
	if in.Category == "" {
		in.Category = "HighAvailability"
	}
	if in.Created.IsZero() {
		in.Created = s.env.Clock.Now()
	}
	in.Tags = maps.Clone(in.Tags)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.instances[in.ID] != nil {
		return fmt.Errorf("rds: add instance: %s already exists", in.ID)
	}
	s.instances[in.ID] = &in
	return nil
}

// AddBackup adds a backup set of an existing instance and returns it with its id.
func (s *Service) AddBackup(b Backup) (Backup, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.instances[b.InstanceID]
	if in == nil {
		return Backup{}, fmt.Errorf("rds: add backup: unknown instance %q", b.InstanceID)
	}
	if b.Size < 0 || b.End.Before(b.Start) {
		return Backup{}, fmt.Errorf("rds: add backup: size must be >= 0 and end not before start")
	}
	if b.ID == "" {
		s.next++
		b.ID = strconv.FormatInt(s.next, 10)
	}
	if s.backups[b.ID] != nil {
		return Backup{}, fmt.Errorf("rds: add backup: %s already exists", b.ID)
	}
	if b.Method == "" {
		b.Method = "Physical"
		if in.CloudDisk() {
			b.Method = "Snapshot"
		}
	}
	if b.Seed == 0 {
		b.Seed = mix(uint64(len(b.ID))) ^ mix(hashString(b.InstanceID+"/"+b.ID))
	}
	s.backups[b.ID] = &b
	return b, nil
}

// AddLogFile adds a log backup file of an existing instance.
func (s *Service) AddLogFile(l LogFile) (LogFile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.instances[l.InstanceID] == nil {
		return LogFile{}, fmt.Errorf("rds: add log file: unknown instance %q", l.InstanceID)
	}
	if l.ID == "" {
		s.next++
		l.ID = "log-" + strconv.FormatInt(s.next, 10)
	}
	if l.Name == "" {
		l.Name = "mysql-bin." + l.ID[len(l.ID)-6:]
	}
	if l.Seed == 0 {
		l.Seed = mix(hashString(l.InstanceID + "/" + l.ID))
	}
	s.logs[l.ID] = &l
	return l, nil
}

func hashString(s string) uint64 {
	h := sha256.Sum256([]byte(s))
	return uint64(h[0]) | uint64(h[1])<<8 | uint64(h[2])<<16 | uint64(h[3])<<24 | uint64(h[4])<<32 | uint64(h[5])<<40 | uint64(h[6])<<48 | uint64(h[7])<<56
}

// ExpireBackup removes a backup set, as RDS does when its retention ends: it disappears
// from DescribeBackups and its download URLs answer 404.
func (s *Service) ExpireBackup(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.backups[id]
	delete(s.backups, id)
	return ok
}

// DeleteInstance removes an instance with its backups and logs.
func (s *Service) DeleteInstance(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.instances[id]
	delete(s.instances, id)
	for k, b := range s.backups {
		if b.InstanceID == id {
			delete(s.backups, k)
		}
	}
	for k, l := range s.logs {
		if l.InstanceID == id {
			delete(s.logs, k)
		}
	}
	return ok
}

// CorruptDownloads makes the next n downloads of file id (backup or log id) carry
// flipped bytes (one per MiB), with the normal headers: only a checksum catches it.
func (s *Service) CorruptDownloads(id string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.corrupt[id] = n
}

// ExpireDownloads makes the next n download requests of file id answer "Request has
// expired." whatever their Expires, as a URL that outlived its validity does.
func (s *Service) ExpireDownloads(id string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire[id] = n
}

// SetLinkTTL sets the validity of download URLs handed out from now on.
func (s *Service) SetLinkTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.linkTTL = d
}

// Backups returns the backups of an instance ("" for all), oldest first.
func (s *Service) Backups(instanceID string) []Backup {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Backup
	for _, b := range s.backups {
		if instanceID == "" || b.InstanceID == instanceID {
			out = append(out, *b)
		}
	}
	slices.SortFunc(out, func(a, b Backup) int { return cmpBackup(a, b) })
	return out
}

func cmpBackup(a, b Backup) int {
	if c := a.End.Compare(b.End); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// ServedBytes is how many body bytes were served for file id.
func (s *Service) ServedBytes(id string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.served[id]
}

// DownloadOffsets lists the first byte requested by every GET of file id (0 without a
// Range), in order.
func (s *Service) DownloadOffsets(id string) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.offsets[id])
}

// Content returns the generated body of a backup's file.
func (b Backup) Content() Content { return Content{Seed: b.Seed, Size: b.Size} }

// Content returns the generated body of a log file.
func (l LogFile) Content() Content { return Content{Seed: l.Seed, Size: l.Size} }

// checksum returns the (cached) CRC-64 of a file. Callers hold s.mu.
func (s *Service) checksum(id string, c Content) uint64 {
	if v, ok := s.crcs[id]; ok {
		return v
	}
	v := c.CRC64()
	s.crcs[id] = v
	return v
}

// ---- RPC ----

type rpcError = ecs.RPCError

func errf(status int, code, format string, a ...any) *rpcError {
	return &rpcError{Status: status, Code: code, Message: fmt.Sprintf(format, a...)}
}

type call struct {
	ecs.RPCCall
	region string
	host   string // Host of the request: download URLs point back to it
	reqID  string
}

func (c *call) get(k string) string { return c.Params.Get(k) }

var actions = map[string]func(*Service, *call) (any, *rpcError){
	"DescribeDBInstances": (*Service).describeDBInstances,
	"DescribeBackups":     (*Service).describeBackups,
	"DescribeBinlogFiles": (*Service).describeBinlogFiles,
}

// IsRDS reports whether r is meant for this service: an RPC call of API version
// 2014-08-15 or a download URL.
func IsRDS(r *http.Request) bool {
	if strings.HasPrefix(r.URL.Path, DownloadPrefix) {
		return true
	}
	return r.Header.Get("x-acs-version") == APIVersion || r.URL.Query().Get("Version") == APIVersion
}

// ServeHTTP serves the RPC endpoint and the download URLs.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, DownloadPrefix) {
		s.download(w, r)
		return
	}
	reqID := core.NewRequestID()
	defer func() {
		if v := recover(); v != nil {
			s.env.Log.Error("rds: panic serving request", "panic", v, "requestId", reqID)
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

func (s *Service) serve(r *http.Request, reqID string) (any, *rpcError) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		return nil, errf(400, "UnsupportedHTTPMethod", "The HTTP method %s is not supported.", r.Method)
	}
	rc, aerr := ecs.ParseRPC(s.env, r)
	if aerr != nil {
		return nil, aerr
	}
	c := &call{RPCCall: rc, host: r.Host, reqID: reqID}
	// Latency waits on the simulated clock, like ECS's (it waited in real time here).
	if ferr := ecs.GatewayFault(r.Context(), s.env, "rds", c.Action, 0); ferr != nil {
		return nil, ferr
	}
	if c.SignatureErr != nil {
		if s.env.StrictSignatures {
			return nil, c.SignatureErr
		}
		s.env.Log.Warn("rds: signature check failed, serving anyway", "action", c.Action, "code", c.SignatureErr.Code)
	}
	h, ok := actions[c.Action]
	if !ok {
		return nil, errf(404, "InvalidAction.NotFound", "Specified api is not found, please check your url and method: %s.", c.Action)
	}
	if c.Version != APIVersion {
		return nil, errf(400, "InvalidVersion", "Specified parameter Version is not valid: %q (want %s).", c.Version, APIVersion)
	}
	c.region = c.get("RegionId")
	if c.region == "" {
		return nil, errf(400, "MissingParameter", "The input parameter \"RegionId\" that is mandatory for processing this request is not supplied.")
	}
	return h(s, c)
}

func writeJSON(w http.ResponseWriter, status int, reqID string, v any) {
	ecs.WriteRPCJSON(w, status, reqID, hostID, v)
}

func writeError(w http.ResponseWriter, reqID string, e *rpcError) {
	ecs.WriteRPCError(w, reqID, hostID, "Rds", e.Status, e.Code, e.Message)
}

// paging reads PageSize (30..100, default 30) and PageNumber (>= 1, default 1).
func paging(c *call) (size, number int, aerr *rpcError) {
	size, number = 30, 1
	if v := c.get("PageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 30 || n > 100 {
			return 0, 0, errf(400, "InvalidPageSize.Malformed", "The specified parameter PageSize %q is not valid: 30 to 100.", v)
		}
		size = n
	}
	if v := c.get("PageNumber"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, 0, errf(400, "InvalidPageNumber.Malformed", "The specified parameter PageNumber %q is not valid.", v)
		}
		number = n
	}
	return size, number, nil
}

func page[T any](items []T, size, number int) []T {
	from := (number - 1) * size
	if from >= len(items) {
		return []T{}
	}
	return items[from:min(from+size, len(items))]
}

const apiTime = "2006-01-02T15:04:05Z"

type dbInstanceJSON struct {
	DBInstanceId          string `json:"DBInstanceId"`
	RegionId              string `json:"RegionId"`
	ZoneId                string `json:"ZoneId"`
	Engine                string `json:"Engine"`
	EngineVersion         string `json:"EngineVersion"`
	DBInstanceStatus      string `json:"DBInstanceStatus"`
	DBInstanceStorageType string `json:"DBInstanceStorageType"`
	Category              string `json:"Category"`
	DBInstanceDescription string `json:"DBInstanceDescription"`
	DBInstanceType        string `json:"DBInstanceType"`
	CreateTime            string `json:"CreateTime"`
}

func (s *Service) describeDBInstances(c *call) (any, *rpcError) {
	size, number, aerr := paging(c)
	if aerr != nil {
		return nil, aerr
	}
	ids := map[string]bool{}
	for _, id := range strings.Split(c.get("DBInstanceId"), ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids[id] = true
		}
	}
	var tags map[string]string
	if v := c.get("Tags"); v != "" {
		if err := json.Unmarshal([]byte(v), &tags); err != nil {
			return nil, errf(400, "InvalidTags.Format", "The specified parameter Tags is not a JSON object of tag keys and values: %v.", err)
		}
	}
	engine := c.get("Engine")
	s.mu.Lock()
	var list []dbInstanceJSON
	for _, in := range s.instances {
		if in.Region != c.region || (len(ids) > 0 && !ids[in.ID]) || (engine != "" && !strings.EqualFold(engine, in.Engine)) {
			continue
		}
		match := true
		for k, v := range tags {
			if in.Tags[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		list = append(list, dbInstanceJSON{DBInstanceId: in.ID, RegionId: in.Region, ZoneId: in.Region + "-a",
			Engine: in.Engine, EngineVersion: in.EngineVersion, DBInstanceStatus: in.Status,
			DBInstanceStorageType: in.StorageType, Category: in.Category, DBInstanceDescription: in.Description,
			DBInstanceType: "Primary", CreateTime: in.Created.UTC().Format(apiTime)})
	}
	s.mu.Unlock()
	slices.SortFunc(list, func(a, b dbInstanceJSON) int { return strings.Compare(a.DBInstanceId, b.DBInstanceId) })
	p := page(list, size, number)
	return map[string]any{"RequestId": c.reqID, "PageNumber": number, "PageRecordCount": len(p),
		"TotalRecordCount": len(list), "Items": map[string]any{"DBInstance": p}}, nil
}

// instanceIn returns the instance of the call's DBInstanceId in the call's region.
// Callers hold s.mu.
func (s *Service) instanceIn(c *call) (*Instance, *rpcError) {
	id := c.get("DBInstanceId")
	if id == "" {
		return nil, errf(400, "MissingParameter", "The input parameter \"DBInstanceId\" that is mandatory for processing this request is not supplied.")
	}
	in := s.instances[id]
	if in == nil || in.Region != c.region {
		return nil, errf(404, "InvalidDBInstanceId.NotFound", "The specified instance %s is not found.", id)
	}
	return in, nil
}

// parseTimeParam accepts the documented yyyy-MM-ddTHH:mmZ and yyyy-MM-ddTHH:mm:ssZ.
func parseTimeParam(name, v string) (time.Time, *rpcError) {
	for _, layout := range []string{"2006-01-02T15:04Z", apiTime} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errf(400, "InvalidParameter", "The specified parameter %s %q is not valid: want yyyy-MM-ddTHH:mmZ (UTC).", name, v)
}

func (s *Service) link(host, kind, id string, expires time.Time, intranet bool) string {
	exp := strconv.FormatInt(expires.Unix(), 10)
	v := url.Values{"OSSAccessKeyId": {"rds-local"}, "Expires": {exp}, "Signature": {s.sign(kind, id, exp)}}
	if intranet {
		v.Set("intranet", "1")
	}
	return "http://" + host + DownloadPrefix + kind + "/" + id + "?" + v.Encode()
}

func (s *Service) sign(kind, id, exp string) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(kind + "\n" + id + "\n" + exp))
	return hex.EncodeToString(m.Sum(nil))
}

type backupJSON struct {
	BackupId                  string `json:"BackupId"`
	DBInstanceId              string `json:"DBInstanceId"`
	BackupStatus              string `json:"BackupStatus"`
	BackupStartTime           string `json:"BackupStartTime"`
	BackupEndTime             string `json:"BackupEndTime"`
	BackupType                string `json:"BackupType"`
	BackupMode                string `json:"BackupMode"`
	BackupMethod              string `json:"BackupMethod"`
	BackupScale               string `json:"BackupScale"`
	BackupSize                int64  `json:"BackupSize"`
	Checksum                  string `json:"Checksum"`
	BackupDownloadURL         string `json:"BackupDownloadURL"`
	BackupIntranetDownloadURL string `json:"BackupIntranetDownloadURL"`
	BackupLocation            string `json:"BackupLocation"`
	Engine                    string `json:"Engine"`
	EngineVersion             string `json:"EngineVersion"`
	ConsistentTime            int64  `json:"ConsistentTime"`
	HostInstanceID            string `json:"HostInstanceID"`
	StoreStatus               string `json:"StoreStatus"`
	IsAvail                   int    `json:"IsAvail"`
	MetaStatus                string `json:"MetaStatus"`
}

func (s *Service) describeBackups(c *call) (any, *rpcError) {
	size, number, aerr := paging(c)
	if aerr != nil {
		return nil, aerr
	}
	var from, to time.Time
	if v := c.get("StartTime"); v != "" {
		if from, aerr = parseTimeParam("StartTime", v); aerr != nil {
			return nil, aerr
		}
	}
	if v := c.get("EndTime"); v != "" {
		if to, aerr = parseTimeParam("EndTime", v); aerr != nil {
			return nil, aerr
		}
	}
	now := s.env.Clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	in, aerr := s.instanceIn(c)
	if aerr != nil {
		return nil, aerr
	}
	expires := now.Add(s.linkTTL)
	var bs []Backup
	for _, b := range s.backups {
		if b.InstanceID != in.ID || (c.get("BackupId") != "" && c.get("BackupId") != b.ID) {
			continue
		}
		if (!from.IsZero() && b.Start.Before(from)) || (!to.IsZero() && b.Start.After(to)) {
			continue
		}
		if st := c.get("BackupStatus"); st != "" && st != "Success" {
			continue
		}
		bs = append(bs, *b)
	}
	// Newest first, as the console and API list them.
	slices.SortFunc(bs, func(a, b Backup) int { return cmpBackup(b, a) })
	total := len(bs)
	items := make([]backupJSON, 0, size)
	for _, b := range page(bs, size, number) {
		j := backupJSON{BackupId: b.ID, DBInstanceId: b.InstanceID, BackupStatus: "Success",
			BackupStartTime: b.Start.UTC().Format(apiTime), BackupEndTime: b.End.UTC().Format(apiTime),
			BackupType: "FullBackup", BackupMode: "Automated", BackupMethod: b.Method, BackupScale: "DBInstance",
			BackupSize: b.Size, BackupLocation: "OSS", Engine: in.Engine, EngineVersion: in.EngineVersion,
			ConsistentTime: b.End.Unix(), HostInstanceID: "5841973", StoreStatus: "Disabled", IsAvail: 1, MetaStatus: "OK"}
		if b.Method == "Physical" {
			j.Checksum = strconv.FormatUint(s.checksum(b.ID, b.Content()), 10)
			j.BackupDownloadURL = s.link(c.host, "backup", b.ID, expires, false)
			j.BackupIntranetDownloadURL = s.link(c.host, "backup", b.ID, expires, true)
		}
		items = append(items, j)
	}
	return map[string]any{"RequestId": c.reqID, "PageNumber": strconv.Itoa(number), "PageRecordCount": strconv.Itoa(len(items)),
		"TotalRecordCount": strconv.Itoa(total), "TotalBackupSize": 0, "Items": map[string]any{"Backup": items}}, nil
}

type binlogJSON struct {
	LogFileName          string `json:"LogFileName"`
	FileSize             int64  `json:"FileSize"`
	LogBeginTime         string `json:"LogBeginTime"`
	LogEndTime           string `json:"LogEndTime"`
	DownloadLink         string `json:"DownloadLink"`
	IntranetDownloadLink string `json:"IntranetDownloadLink"`
	LinkExpiredTime      string `json:"LinkExpiredTime"`
	Checksum             string `json:"Checksum"`
	HostInstanceID       string `json:"HostInstanceID"`
	RemoteStatus         string `json:"RemoteStatus"`
}

func (s *Service) describeBinlogFiles(c *call) (any, *rpcError) {
	size, number, aerr := paging(c)
	if aerr != nil {
		return nil, aerr
	}
	if c.get("StartTime") == "" || c.get("EndTime") == "" {
		return nil, errf(400, "MissingParameter", "The input parameters \"StartTime\" and \"EndTime\" are mandatory for this request.")
	}
	from, aerr := parseTimeParam("StartTime", c.get("StartTime"))
	if aerr != nil {
		return nil, aerr
	}
	to, aerr := parseTimeParam("EndTime", c.get("EndTime"))
	if aerr != nil {
		return nil, aerr
	}
	if !to.After(from) {
		return nil, errf(400, "InvalidEndTime.Malformed", "The end time must be later than the start time.")
	}
	now := s.env.Clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	in, aerr := s.instanceIn(c)
	if aerr != nil {
		return nil, aerr
	}
	expires := now.Add(s.linkTTL)
	var ls []LogFile
	for _, l := range s.logs {
		// Every file whose records overlap [from, to].
		if l.InstanceID == in.ID && l.End.After(from) && l.Begin.Before(to) {
			ls = append(ls, *l)
		}
	}
	slices.SortFunc(ls, func(a, b LogFile) int {
		if c := a.Begin.Compare(b.Begin); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	var total int64
	for _, l := range ls {
		total += l.Size
	}
	items := make([]binlogJSON, 0, size)
	for _, l := range page(ls, size, number) {
		items = append(items, binlogJSON{LogFileName: l.Name, FileSize: l.Size,
			LogBeginTime: l.Begin.UTC().Format(apiTime), LogEndTime: l.End.UTC().Format(apiTime),
			DownloadLink: s.link(c.host, "log", l.ID, expires, false), IntranetDownloadLink: s.link(c.host, "log", l.ID, expires, true),
			LinkExpiredTime: expires.UTC().Format(apiTime), Checksum: strconv.FormatUint(s.checksum(l.ID, l.Content()), 10),
			HostInstanceID: "5841973", RemoteStatus: "Completed"})
	}
	return map[string]any{"RequestId": c.reqID, "PageNumber": number, "PageRecordCount": len(items),
		"TotalRecordCount": len(ls), "TotalFileSize": total, "Items": map[string]any{"BinLogFile": items}}, nil
}
