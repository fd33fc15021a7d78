// Package rdsx is the product's port to ApsaraDB RDS: the few calls rds-offsite makes
// (DescribeDBInstances, DescribeBackups, DescribeBinlogFiles) over the official
// alibaba-cloud-sdk-go services/rds client, and the download of backup files from the
// URLs RDS hands out (presigned OSS URLs, read with HTTP Range).
//
// Error contract: every failure is an *Error with the call's context and, for service
// errors, the RDS error code and HTTP status; classification (IsRetryable, IsNotFound,
// IsLinkExpired, IsGone) reads those, never the message. No error carries a URL query,
// signature or token: transport errors keep only their cause, and download URLs are
// never printed (they are credentials until they expire).
package rdsx

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	sdkrds "github.com/aliyun/alibaba-cloud-sdk-go/services/rds"
)

// Instance is a DB instance as the offsite copier sees it.
type Instance struct {
	ID, Region, Engine, EngineVersion string
	// StorageType: local_ssd (physical backups with a download URL) or a cloud disk type
	// (cloud_ssd, cloud_essd*, general_essd: snapshot backups without one).
	StorageType string
	Status      string
}

// File kinds.
const (
	KindFull = "full"
	KindLog  = "log"
)

// File is one backup file: a full backup set or a log (binlog / WAL) file.
type File struct {
	Kind          string // KindFull or KindLog
	ID            string // BackupId, or the log file name
	InstanceID    string
	Region        string
	Engine        string
	EngineVersion string
	Method        string // Physical, Snapshot (full), or "Log"
	// DataTime is when the data was captured: the backup's consistent/end time, or the
	// end of the log file's records. Offsite copies are ordered by it.
	DataTime time.Time
	Start    time.Time
	Size     int64
	// Checksum is RDS's CRC-64 (ECMA) of the file, when reported (HasChecksum).
	Checksum    uint64
	HasChecksum bool
	// URL is the download URL (public or intranet, per Config.Intranet); empty when RDS
	// offers none (snapshot backups of cloud-disk instances). It is a credential.
	URL string
	// LinkExpires is when URL stops working (zero when unknown).
	LinkExpires time.Time
}

// Error is a failed RDS call or download.
type Error struct {
	Op         string // RDS action or "Download"
	Resource   string // instance or backup id
	Region     string
	Code       string // RDS or OSS error code; "" for transport errors
	HTTPStatus int
	RequestID  string
	Message    string
	Err        error // cause, already free of URLs
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("rds: ")
	b.WriteString(e.Op)
	if e.Resource != "" {
		b.WriteString(" " + e.Resource)
	}
	if e.Region != "" {
		b.WriteString(" in " + e.Region)
	}
	b.WriteString(": ")
	switch {
	case e.Code != "":
		fmt.Fprintf(&b, "%s (http %d): %s", e.Code, e.HTTPStatus, e.Message)
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	default:
		fmt.Fprintf(&b, "http %d", e.HTTPStatus)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// ErrorCode is the provider code (for generic code readers).
func (e *Error) ErrorCode() string { return e.Code }

// Code returns the error code of err, or "".
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// IsNotFound: the DB instance does not exist (deleted, or not in that region).
func IsNotFound(err error) bool {
	c := Code(err)
	return strings.HasPrefix(c, "InvalidDBInstanceId.NotFound") || c == "InvalidDBInstanceName.NotFound" || c == "DBInstance.NotFound"
}

// IsLinkExpired: the download URL is past its validity ("Request has expired."); fetch a
// new one with Backups or LogFiles.
func IsLinkExpired(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Op == "Download" && e.HTTPStatus == http.StatusForbidden
}

// IsGone: the file is no longer downloadable (404): the backup left RDS.
func IsGone(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Op == "Download" && e.HTTPStatus == http.StatusNotFound
}

// IsRetryable: throttling, 5xx and transport errors; never after ctx ended.
func IsRetryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) && !isTransport(err) {
		return false
	}
	var e *Error
	if !errors.As(err, &e) {
		return isTransport(err)
	}
	switch {
	case strings.HasPrefix(e.Code, "Throttling"), e.Code == "ServiceUnavailable", e.Code == "InternalError":
		return true
	case e.HTTPStatus >= 500:
		return true
	case e.HTTPStatus > 0:
		return false
	}
	return isTransport(err)
}

func isTransport(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.EPIPE) || errors.Is(err, errTransport)
}

var errTransport = errors.New("transport error")

// clean drops what a transport error says about the URL: *url.Error prints the whole
// request URL (with the signature of a download URL, or of an RPC call).
func clean(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%w: %s: %w", errTransport, ue.Op, ue.Err)
	}
	return err
}

// sdkErr turns an SDK error into *Error.
func sdkErr(op, resource, region string, err error) error {
	if err == nil {
		return nil
	}
	e := &Error{Op: op, Resource: resource, Region: region}
	var se *sdkerrors.ServerError
	var ce *sdkerrors.ClientError
	switch {
	case errors.As(err, &se):
		e.Code, e.HTTPStatus, e.RequestID, e.Message = se.ErrorCode(), se.HttpStatus(), se.RequestId(), se.Message()
	case errors.As(err, &ce):
		// Client errors (timeouts, connection failures) print the request URL: keep the code.
		e.Code = ce.ErrorCode()
		e.Err = errTransport
		if e.Code == "SDK.TimeoutError" || strings.Contains(strings.ToLower(ce.ErrorCode()), "timeout") {
			e.HTTPStatus = http.StatusGatewayTimeout
		}
	default:
		e.Err = clean(err)
	}
	return e
}

// Config builds a Client.
type Config struct {
	// Endpoint is host[:port] for every region (Apsara Stack, the local cloud); empty:
	// the SDK's regional endpoints.
	Endpoint string
	// Scheme is HTTP or HTTPS (default HTTPS).
	Scheme string
	// Credentials returns the invocation's role credentials.
	Credentials func() (ak, secret, token string)
	// Intranet selects BackupIntranetDownloadURL / IntranetDownloadLink.
	Intranet bool
	// HTTP downloads the files (default: a client without overall timeout; each read
	// is bounded by the caller's context).
	HTTP *http.Client
}

// Client implements the calls over the SDK, one SDK client per region.
type Client struct {
	cfg Config
}

// New returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.Credentials == nil {
		return nil, errors.New("rds: credentials are required")
	}
	if cfg.Scheme == "" {
		cfg.Scheme = "HTTPS"
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, ResponseHeaderTimeout: 60 * time.Second,
			MaxIdleConnsPerHost: 4}}
	}
	return &Client{cfg: cfg}, nil
}

func (c *Client) sdk(region string) (*sdkrds.Client, error) {
	ak, secret, token := c.cfg.Credentials()
	cred := credentials.NewStsTokenCredential(ak, secret, token)
	cl, err := sdkrds.NewClientWithOptions(region, sdk.NewConfig().WithScheme(c.cfg.Scheme), cred)
	if err != nil {
		return nil, fmt.Errorf("rds: client for %s: %w", region, err)
	}
	if c.cfg.Endpoint != "" {
		cl.Domain = c.cfg.Endpoint
		cl.SetNoProxy("^" + regexp.QuoteMeta(c.cfg.Endpoint) + "$")
	}
	return cl, nil
}

// Instances lists the region's DB instances with the given ids (none: any) carrying every
// tag of tags (none: any). A listed id that does not exist is simply absent.
func (c *Client) Instances(ctx context.Context, region string, ids []string, tags map[string]string) ([]Instance, error) {
	cl, err := c.sdk(region)
	if err != nil {
		return nil, err
	}
	var out []Instance
	// DescribeDBInstances takes at most 30 ids in DBInstanceId; batch them.
	batches := [][]string{nil}
	if len(ids) > 0 {
		batches = nil
		for i := 0; i < len(ids); i += 30 {
			batches = append(batches, ids[i:min(i+30, len(ids))])
		}
	}
	for _, batch := range batches {
		for pageNo := 1; ; pageNo++ {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			req := sdkrds.CreateDescribeDBInstancesRequest()
			req.RegionId = region
			req.PageSize = requests.NewInteger(100)
			req.PageNumber = requests.NewInteger(pageNo)
			req.DBInstanceId = strings.Join(batch, ",")
			if len(tags) > 0 {
				b, _ := json.Marshal(tags)
				req.Tags = string(b)
			}
			resp, err := cl.DescribeDBInstances(req)
			if err != nil {
				return nil, sdkErr("DescribeDBInstances", "", region, err)
			}
			for _, in := range resp.Items.DBInstance {
				out = append(out, Instance{ID: in.DBInstanceId, Region: region, Engine: in.Engine, EngineVersion: in.EngineVersion,
					StorageType: in.DBInstanceStorageType, Status: in.DBInstanceStatus})
			}
			if len(resp.Items.DBInstance) == 0 || pageNo*100 >= resp.TotalRecordCount {
				break
			}
		}
	}
	slices.SortFunc(out, func(a, b Instance) int { return strings.Compare(a.ID, b.ID) })
	return slices.CompactFunc(out, func(a, b Instance) bool { return a.ID == b.ID }), nil
}

const apiTime = "2006-01-02T15:04:05Z"

func parseAPITime(v string) time.Time {
	for _, l := range []string{apiTime, "2006-01-02T15:04Z", time.RFC3339} {
		if t, err := time.Parse(l, v); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// Backups lists the successful full backups of an instance (backupID "" for all), newest
// first, with fresh download URLs.
func (c *Client) Backups(ctx context.Context, in Instance, backupID string) ([]File, error) {
	cl, err := c.sdk(in.Region)
	if err != nil {
		return nil, err
	}
	var out []File
	for pageNo := 1; ; pageNo++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		req := sdkrds.CreateDescribeBackupsRequest()
		req.RegionId = in.Region
		req.DBInstanceId = in.ID
		req.BackupStatus = "Success"
		req.BackupId = backupID
		req.PageSize = requests.NewInteger(100)
		req.PageNumber = requests.NewInteger(pageNo)
		resp, err := cl.DescribeBackups(req)
		if err != nil {
			return nil, sdkErr("DescribeBackups", in.ID, in.Region, err)
		}
		for _, b := range resp.Items.Backup {
			if b.BackupType != "" && b.BackupType != "FullBackup" {
				continue
			}
			f := File{Kind: KindFull, ID: b.BackupId, InstanceID: in.ID, Region: in.Region, Engine: b.Engine, EngineVersion: b.EngineVersion,
				Method: b.BackupMethod, Start: parseAPITime(b.BackupStartTime), DataTime: parseAPITime(b.BackupEndTime), Size: b.BackupSize,
				URL: b.BackupDownloadURL}
			if b.ConsistentTime > 0 {
				f.DataTime = time.Unix(b.ConsistentTime, 0).UTC()
			}
			if c.cfg.Intranet && b.BackupIntranetDownloadURL != "" {
				f.URL = b.BackupIntranetDownloadURL
			}
			if f.Engine == "" {
				f.Engine, f.EngineVersion = in.Engine, in.EngineVersion
			}
			f.Checksum, f.HasChecksum = parseChecksum(b.Checksum)
			out = append(out, f)
		}
		total, _ := strconv.Atoi(resp.TotalRecordCount)
		if len(resp.Items.Backup) == 0 || pageNo*100 >= total {
			break
		}
	}
	return out, nil
}

func parseChecksum(v string) (uint64, bool) {
	if v == "" {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 10, 64)
	return n, err == nil
}

// LogFiles lists the log backup files whose records overlap [from, to], oldest first.
func (c *Client) LogFiles(ctx context.Context, in Instance, from, to time.Time) ([]File, error) {
	cl, err := c.sdk(in.Region)
	if err != nil {
		return nil, err
	}
	var out []File
	for pageNo := 1; ; pageNo++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		req := sdkrds.CreateDescribeBinlogFilesRequest()
		req.RegionId = in.Region
		req.DBInstanceId = in.ID
		req.StartTime = from.UTC().Format(apiTime)
		req.EndTime = to.UTC().Format(apiTime)
		req.PageSize = requests.NewInteger(100)
		req.PageNumber = requests.NewInteger(pageNo)
		resp, err := cl.DescribeBinlogFiles(req)
		if err != nil {
			return nil, sdkErr("DescribeBinlogFiles", in.ID, in.Region, err)
		}
		for _, l := range resp.Items.BinLogFile {
			f := File{Kind: KindLog, ID: l.LogFileName, InstanceID: in.ID, Region: in.Region, Engine: in.Engine, EngineVersion: in.EngineVersion,
				Method: "Log", Start: parseAPITime(l.LogBeginTime), DataTime: parseAPITime(l.LogEndTime), Size: l.FileSize,
				URL: l.DownloadLink, LinkExpires: parseAPITime(l.LinkExpiredTime)}
			if c.cfg.Intranet && l.IntranetDownloadLink != "" {
				f.URL = l.IntranetDownloadLink
			}
			f.Checksum, f.HasChecksum = parseChecksum(l.Checksum)
			out = append(out, f)
		}
		if len(resp.Items.BinLogFile) == 0 || pageNo*100 >= resp.TotalRecordCount {
			break
		}
	}
	return out, nil
}

// Open starts reading f's file at offset (HTTP Range). The caller closes the body.
func (c *Client) Open(ctx context.Context, f File, offset int64) (io.ReadCloser, error) {
	fail := func(status int, code, msg string, err error) error {
		return &Error{Op: "Download", Resource: f.ID, Region: f.Region, HTTPStatus: status, Code: code, Message: msg, Err: err}
	}
	if f.URL == "" {
		return nil, fail(0, "NoDownloadURL", "RDS offers no download URL for this backup", nil)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.URL, nil)
	if err != nil {
		return nil, fail(0, "InvalidURL", "the download URL does not parse", nil)
	}
	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	res, err := c.cfg.HTTP.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fail(0, "", "", clean(err))
	}
	want := http.StatusOK
	if offset > 0 {
		want = http.StatusPartialContent
	}
	if res.StatusCode != want {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		res.Body.Close()
		var x struct {
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		}
		_ = xml.Unmarshal(body, &x)
		if x.Code == "" {
			x.Code = "Download.HTTP" + strconv.Itoa(res.StatusCode)
		}
		return nil, fail(res.StatusCode, x.Code, x.Message, nil)
	}
	return res.Body, nil
}
