package rds

import (
	"crypto/hmac"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

type ossError struct {
	XMLName    xml.Name `xml:"Error"`
	Code       string   `xml:"Code"`
	Message    string   `xml:"Message"`
	RequestId  string   `xml:"RequestId"`
	HostId     string   `xml:"HostId"`
	Expires    string   `xml:"Expires,omitempty"`
	ServerTime string   `xml:"ServerTime,omitempty"`
}

func writeOSSError(w http.ResponseWriter, status int, e ossError) {
	e.RequestId = core.NewRequestID()
	e.HostId = "rdsbak-local.oss.aliyuncs.com"
	b, _ := xml.Marshal(e)
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("x-oss-request-id", e.RequestId)
	w.WriteHeader(status)
	_, _ = w.Write(append([]byte(xml.Header), b...))
}

// counting counts the body bytes actually served.
type counting struct {
	io.ReadSeeker
	n int64
}

func (c *counting) Read(p []byte) (int, error) {
	n, err := c.ReadSeeker.Read(p)
	c.n += int64(n)
	return n, err
}

// download serves GET/HEAD /_rds/download/{backup|log}/{id}?Expires=&Signature=, the way
// OSS serves a presigned URL: Range → 206, x-oss-hash-crc64ecma of the whole file.
func (s *Service) download(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeOSSError(w, http.StatusMethodNotAllowed, ossError{Code: "MethodNotAllowed", Message: "The specified method is not allowed against this resource."})
		return
	}
	kind, id, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, DownloadPrefix), "/")
	q := r.URL.Query()
	exp := q.Get("Expires")
	if !hmac.Equal([]byte(s.sign(kind, id, exp)), []byte(q.Get("Signature"))) {
		writeOSSError(w, http.StatusForbidden, ossError{Code: "SignatureDoesNotMatch", Message: "The request signature we calculated does not match the signature you provided."})
		return
	}
	f := s.env.Faults.Check("rds", "Download")
	if f.Latency > 0 { // simulated time, like the RPC gateway's latency
		if err := s.env.Clock.Sleep(r.Context(), f.Latency); err != nil {
			return
		}
	}
	if f.Kind != core.FaultNone {
		status := f.Status
		if status == 0 || f.Kind == core.FaultThrottle {
			status = http.StatusServiceUnavailable
		}
		writeOSSError(w, status, ossError{Code: "ServiceUnavailable", Message: "Please reduce your request rate."})
		return
	}
	now := s.env.Clock.Now()
	expUnix, _ := strconv.ParseInt(exp, 10, 64)
	expired := func() {
		writeOSSError(w, http.StatusForbidden, ossError{Code: "AccessDenied", Message: "Request has expired.",
			Expires: time.Unix(expUnix, 0).UTC().Format("2006-01-02T15:04:05.000Z"), ServerTime: now.UTC().Format("2006-01-02T15:04:05.000Z")})
	}
	s.mu.Lock()
	var (
		content Content
		modTime time.Time
		found   bool
	)
	switch kind {
	case "backup":
		if b := s.backups[id]; b != nil && b.Method == "Physical" {
			content, modTime, found = b.Content(), b.End, true
		}
	case "log":
		if l := s.logs[id]; l != nil {
			content, modTime, found = l.Content(), l.End, true
		}
	}
	forcedExpiry := s.expire[id] > 0
	if forcedExpiry {
		s.expire[id]--
	}
	corrupt := s.corrupt[id] > 0
	if corrupt && r.Method == http.MethodGet {
		s.corrupt[id]--
	}
	var crc uint64
	if found {
		crc = s.checksum(id, content)
		if r.Method == http.MethodGet {
			var off int64
			if v, ok := strings.CutPrefix(r.Header.Get("Range"), "bytes="); ok {
				off, _ = strconv.ParseInt(strings.SplitN(v, "-", 2)[0], 10, 64)
			}
			s.offsets[id] = append(s.offsets[id], off)
		}
	}
	s.mu.Unlock()
	if forcedExpiry || now.Unix() > expUnix {
		expired()
		return
	}
	if !found {
		writeOSSError(w, http.StatusNotFound, ossError{Code: "NoSuchKey", Message: "The specified key does not exist."})
		return
	}
	rd := content.NewReader()
	if corrupt {
		rd.corruptEvery = 1 << 20
	}
	body := &counting{ReadSeeker: rd}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("ETag", fmt.Sprintf(`"%016X"`, crc))
	h.Set("x-oss-hash-crc64ecma", strconv.FormatUint(crc, 10))
	h.Set("x-oss-object-type", "Normal")
	http.ServeContent(w, r, "", modTime, body)
	s.mu.Lock()
	s.served[id] += body.n
	s.mu.Unlock()
}

// Control serves the admin endpoints under /_localcloud/rds/ (JSON in and out):
//
//	GET  /_localcloud/rds/backups?instance=ID            backups (all instances without ?instance)
//	POST /_localcloud/rds/instances                       body: Instance
//	POST /_localcloud/rds/backups                         body: Backup → the stored Backup (with id)
//	POST /_localcloud/rds/logs                            body: LogFile
//	POST /_localcloud/rds/backups/expire?id=ID            the backup leaves RDS (retention)
//	POST /_localcloud/rds/instances/delete?id=ID          the instance is released with its backups
//	POST /_localcloud/rds/downloads/corrupt?id=ID&n=1     the next n downloads carry flipped bytes
//	POST /_localcloud/rds/downloads/expire?id=ID&n=1      the next n downloads answer "Request has expired."
func (s *Service) Control(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	bad := func(err error) { reply(http.StatusBadRequest, map[string]string{"error": err.Error()}) }
	decode := func(v any) bool {
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(v); err != nil {
			bad(fmt.Errorf("body: %w", err))
			return false
		}
		return true
	}
	n := 1
	if v := q.Get("n"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 0 {
			bad(fmt.Errorf("n: want a non-negative integer"))
			return
		}
	}
	switch r.Method + " " + strings.TrimPrefix(r.URL.Path, "/_localcloud/rds") {
	case "GET /backups":
		reply(http.StatusOK, s.Backups(q.Get("instance")))
	case "POST /instances":
		var in Instance
		if !decode(&in) {
			return
		}
		if err := s.AddInstance(in); err != nil {
			bad(err)
			return
		}
		reply(http.StatusOK, in)
	case "POST /backups":
		var b Backup
		if !decode(&b) {
			return
		}
		out, err := s.AddBackup(b)
		if err != nil {
			bad(err)
			return
		}
		reply(http.StatusOK, out)
	case "POST /logs":
		var l LogFile
		if !decode(&l) {
			return
		}
		out, err := s.AddLogFile(l)
		if err != nil {
			bad(err)
			return
		}
		reply(http.StatusOK, out)
	case "POST /backups/expire":
		reply(http.StatusOK, map[string]bool{"expired": s.ExpireBackup(q.Get("id"))})
	case "POST /instances/delete":
		reply(http.StatusOK, map[string]bool{"deleted": s.DeleteInstance(q.Get("id"))})
	case "POST /downloads/corrupt":
		s.CorruptDownloads(q.Get("id"), n)
		reply(http.StatusOK, map[string]int{"corrupt": n})
	case "POST /downloads/expire":
		s.ExpireDownloads(q.Get("id"), n)
		reply(http.StatusOK, map[string]int{"expire": n})
	default:
		reply(http.StatusNotFound, map[string]string{"error": "unknown rds control endpoint " + r.Method + " " + r.URL.Path})
	}
}
