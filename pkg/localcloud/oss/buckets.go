package oss

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ossTime is the timestamp format of OSS XML bodies.
const ossTime = "2006-01-02T15:04:05.000Z"

type ownerXML struct {
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName"`
}

func (s *Service) writeXML(req *request, status int, v any) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	if err := xml.NewEncoder(&buf).Encode(v); err != nil {
		s.fail(req, &apiError{Status: http.StatusInternalServerError, Code: "InternalError", Message: "encode response: " + err.Error()})
		return
	}
	h := req.w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	req.w.WriteHeader(status)
	_, _ = req.w.Write(buf.Bytes())
}

type bucketXML struct {
	CreationDate     string `xml:"CreationDate"`
	ExtranetEndpoint string `xml:"ExtranetEndpoint"`
	IntranetEndpoint string `xml:"IntranetEndpoint"`
	Location         string `xml:"Location"`
	Name             string `xml:"Name"`
	Region           string `xml:"Region"`
	StorageClass     string `xml:"StorageClass"`
}

func (b *bucket) xml() bucketXML {
	return bucketXML{CreationDate: b.created.UTC().Format(ossTime),
		ExtranetEndpoint: "oss-" + b.region + ".aliyuncs.com", IntranetEndpoint: "oss-" + b.region + "-internal.aliyuncs.com",
		Location: "oss-" + b.region, Name: b.name, Region: b.region, StorageClass: b.storageClass}
}

func (s *Service) listBuckets(req *request) *apiError {
	q := req.r.URL.Query()
	maxKeys, aerr := parseMaxKeys(q.Get("max-keys"), 100, 1000)
	if aerr != nil {
		return aerr
	}
	prefix, marker := q.Get("prefix"), q.Get("marker")
	s.mu.RLock()
	var names []string
	for n, b := range s.buckets {
		if b.owner == req.cred.AccountID && strings.HasPrefix(n, prefix) && n > marker {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	type result struct {
		XMLName     xml.Name    `xml:"ListAllMyBucketsResult"`
		Prefix      string      `xml:"Prefix,omitempty"`
		Marker      string      `xml:"Marker,omitempty"`
		MaxKeys     int         `xml:"MaxKeys,omitempty"`
		IsTruncated bool        `xml:"IsTruncated,omitempty"`
		NextMarker  string      `xml:"NextMarker,omitempty"`
		Owner       ownerXML    `xml:"Owner"`
		Buckets     []bucketXML `xml:"Buckets>Bucket"`
	}
	out := result{Prefix: prefix, Marker: marker, Owner: ownerXML{ID: req.cred.AccountID, DisplayName: req.cred.AccountID}}
	if len(names) > maxKeys {
		names = names[:maxKeys]
		out.IsTruncated, out.MaxKeys, out.NextMarker = true, maxKeys, names[maxKeys-1]
	}
	for _, n := range names {
		out.Buckets = append(out.Buckets, s.buckets[n].xml())
	}
	s.mu.RUnlock()
	s.writeXML(req, http.StatusOK, out)
	return nil
}

func (s *Service) putBucket(req *request) *apiError {
	body, err := io.ReadAll(io.LimitReader(req.r.Body, 64<<10))
	if err != nil {
		return errInvalidArgument("read request body: " + err.Error())
	}
	storageClass, region := "Standard", ""
	if len(bytes.TrimSpace(body)) > 0 {
		var cfg struct {
			XMLName            xml.Name `xml:"CreateBucketConfiguration"`
			StorageClass       string   `xml:"StorageClass"`
			LocationConstraint string   `xml:"LocationConstraint"`
		}
		if err := xml.Unmarshal(body, &cfg); err != nil {
			return errMalformedXML(err.Error())
		}
		if aerr := checkStorageClass(cfg.StorageClass); aerr != nil {
			return aerr
		}
		if cfg.StorageClass != "" {
			storageClass = cfg.StorageClass
		}
		region = strings.TrimPrefix(cfg.LocationConstraint, "oss-")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.buckets[req.bucket]; ok {
		return &apiError{Status: http.StatusConflict, Code: "BucketAlreadyExists",
			Message: "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.",
			EC:      "0015-00000104", BucketName: req.bucket}
	}
	if region == "" {
		region = s.defaultRegion
	}
	s.buckets[req.bucket] = &bucket{name: req.bucket, region: region, owner: req.cred.AccountID,
		created: s.env.Clock.Now(), storageClass: storageClass, objects: map[string]*object{}}
	req.w.Header().Set("Location", "/"+req.bucket)
	req.w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Service) deleteBucket(req *request) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, aerr := s.bucketFor(req, req.bucket)
	if aerr != nil {
		return aerr
	}
	if len(b.objects) > 0 {
		return &apiError{Status: http.StatusConflict, Code: "BucketNotEmpty",
			Message: "The bucket you tried to delete is not empty.", EC: "0015-00000301", BucketName: req.bucket}
	}
	delete(s.buckets, req.bucket)
	req.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) getBucketInfo(req *request) *apiError {
	s.mu.RLock()
	b, aerr := s.bucketFor(req, req.bucket)
	if aerr != nil {
		s.mu.RUnlock()
		return aerr
	}
	bx := b.xml()
	s.mu.RUnlock()
	type info struct {
		XMLName xml.Name `xml:"BucketInfo"`
		Bucket  struct {
			AccessMonitor      string   `xml:"AccessMonitor"`
			CreationDate       string   `xml:"CreationDate"`
			ExtranetEndpoint   string   `xml:"ExtranetEndpoint"`
			IntranetEndpoint   string   `xml:"IntranetEndpoint"`
			Location           string   `xml:"Location"`
			StorageClass       string   `xml:"StorageClass"`
			DataRedundancyType string   `xml:"DataRedundancyType"`
			Name               string   `xml:"Name"`
			Region             string   `xml:"Region"`
			Versioning         string   `xml:"Versioning,omitempty"`
			Owner              ownerXML `xml:"Owner"`
			ACL                string   `xml:"AccessControlList>Grant"`
		} `xml:"Bucket"`
	}
	var out info
	o := &out.Bucket
	o.AccessMonitor, o.CreationDate, o.ExtranetEndpoint, o.IntranetEndpoint = "Disabled", bx.CreationDate, bx.ExtranetEndpoint, bx.IntranetEndpoint
	o.Location, o.StorageClass, o.DataRedundancyType, o.Name, o.Region = bx.Location, bx.StorageClass, "LRS", bx.Name, bx.Region
	o.Owner = ownerXML{ID: req.cred.AccountID, DisplayName: req.cred.AccountID}
	o.ACL = "private"
	s.writeXML(req, http.StatusOK, out)
	return nil
}

func (s *Service) getBucketLocation(req *request) *apiError {
	s.mu.RLock()
	b, aerr := s.bucketFor(req, req.bucket)
	if aerr != nil {
		s.mu.RUnlock()
		return aerr
	}
	loc := "oss-" + b.region
	s.mu.RUnlock()
	s.writeXML(req, http.StatusOK, struct {
		XMLName xml.Name `xml:"LocationConstraint"`
		Value   string   `xml:",chardata"`
	}{Value: loc})
	return nil
}

func parseMaxKeys(v string, def, limit int) (int, *apiError) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > limit {
		return 0, errInvalidArgument("max-keys must be an integer between 1 and " + strconv.Itoa(limit) + ", got " + strconv.Quote(v) + ".")
	}
	return n, nil
}

// clockTime is the simulated time truncated to what HTTP dates carry, so Last-Modified
// and If-Modified-Since compare exactly.
func clockTime(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }
