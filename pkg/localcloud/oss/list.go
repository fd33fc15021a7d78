package oss

import (
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

type contentsXML struct {
	Key          string    `xml:"Key"`
	LastModified string    `xml:"LastModified"`
	ETag         string    `xml:"ETag"`
	Type         string    `xml:"Type"`
	Size         int64     `xml:"Size"`
	StorageClass string    `xml:"StorageClass"`
	Owner        *ownerXML `xml:"Owner,omitempty"`
}

type prefixXML struct {
	Prefix string `xml:"Prefix"`
}

// listItem is one entry of a listing page: an object or a common prefix.
type listItem struct {
	key    string
	obj    *object
	prefix bool
}

// continuation tokens are opaque to clients; ours is the last item of the previous page,
// base64url-encoded so it survives the SDK's QueryUnescape of NextContinuationToken
// (standard base64's "+" would come back as a space).
func encodeToken(after string) string { return base64.RawURLEncoding.EncodeToString([]byte(after)) }

func decodeToken(tok string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	return string(b), err == nil
}

// listObjects serves ListObjects (v1, marker) and ListObjectsV2 (continuation-token,
// start-after). Items are keys and, with a delimiter, common prefixes; both count toward
// max-keys, and paging resumes strictly after the last item returned.
func (s *Service) listObjects(req *request, v2 bool) *apiError {
	q := req.r.URL.Query()
	encoding := q.Get("encoding-type")
	if encoding != "" && encoding != "url" {
		return errInvalidArgument("encoding-type must be url, got " + strconv.Quote(encoding) + ".")
	}
	maxKeys, aerr := parseMaxKeys(q.Get("max-keys"), 100, 1000)
	if aerr != nil {
		return aerr
	}
	prefix, delimiter := q.Get("prefix"), q.Get("delimiter")
	after := q.Get("marker")
	token := q.Get("continuation-token")
	if v2 {
		after = q.Get("start-after")
		if token != "" {
			var ok bool
			if after, ok = decodeToken(token); !ok {
				return errInvalidArgument("The continuation token provided is incorrect.")
			}
		}
	}

	s.mu.RLock()
	b, aerr := s.bucketFor(req, req.bucket)
	if aerr != nil {
		s.mu.RUnlock()
		return aerr
	}
	// The first key at or after prefix and after the marker, then in order while the
	// prefix holds.
	start := sort.SearchStrings(b.keys, prefix)
	if after != "" {
		i := sort.SearchStrings(b.keys, after)
		if i < len(b.keys) && b.keys[i] == after {
			i++
		}
		start = max(start, i)
	}
	var items []listItem
	for _, k := range b.keys[min(start, len(b.keys)):] {
		if len(items) > maxKeys || !strings.HasPrefix(k, prefix) {
			break
		}
		if delimiter != "" {
			if i := strings.Index(k[len(prefix):], delimiter); i >= 0 {
				cp := k[:len(prefix)+i+len(delimiter)]
				// Skip a prefix already returned (on this page or, when it is the marker
				// or sorts before it, on an earlier one).
				if cp <= after || (len(items) > 0 && items[len(items)-1].key == cp) {
					continue
				}
				items = append(items, listItem{key: cp, prefix: true})
				continue
			}
		}
		items = append(items, listItem{key: k, obj: b.objects[k]})
	}
	s.mu.RUnlock()

	truncated := len(items) > maxKeys
	if truncated {
		items = items[:maxKeys]
	}
	esc := func(v string) string {
		if encoding == "url" {
			return escapeURL(v)
		}
		return v
	}
	owner := &ownerXML{ID: req.cred.AccountID, DisplayName: req.cred.AccountID}
	var contents []contentsXML
	var prefixes []prefixXML
	for _, it := range items {
		if it.prefix {
			prefixes = append(prefixes, prefixXML{Prefix: esc(it.key)})
			continue
		}
		c := contentsXML{Key: esc(it.key), LastModified: it.obj.lastModified.Format(ossTime), ETag: it.obj.etag,
			Type: it.obj.objectType(), Size: it.obj.length(), StorageClass: "Standard"}
		if !v2 || q.Get("fetch-owner") == "true" {
			c.Owner = owner
		}
		contents = append(contents, c)
	}
	last := ""
	if truncated {
		last = items[len(items)-1].key
	}
	if v2 {
		out := struct {
			XMLName               xml.Name      `xml:"ListBucketResult"`
			Name                  string        `xml:"Name"`
			Prefix                string        `xml:"Prefix"`
			StartAfter            string        `xml:"StartAfter,omitempty"`
			ContinuationToken     string        `xml:"ContinuationToken,omitempty"`
			MaxKeys               int           `xml:"MaxKeys"`
			Delimiter             string        `xml:"Delimiter"`
			EncodingType          string        `xml:"EncodingType,omitempty"`
			IsTruncated           bool          `xml:"IsTruncated"`
			NextContinuationToken string        `xml:"NextContinuationToken,omitempty"`
			KeyCount              int           `xml:"KeyCount"`
			Contents              []contentsXML `xml:"Contents"`
			CommonPrefixes        []prefixXML   `xml:"CommonPrefixes"`
		}{Name: req.bucket, Prefix: esc(prefix), StartAfter: esc(q.Get("start-after")), ContinuationToken: token,
			MaxKeys: maxKeys, Delimiter: esc(delimiter), EncodingType: encoding, IsTruncated: truncated,
			KeyCount: len(items), Contents: contents, CommonPrefixes: prefixes}
		if truncated {
			out.NextContinuationToken = encodeToken(last)
		}
		s.writeXML(req, http.StatusOK, out)
		return nil
	}
	out := struct {
		XMLName        xml.Name      `xml:"ListBucketResult"`
		Name           string        `xml:"Name"`
		Prefix         string        `xml:"Prefix"`
		Marker         string        `xml:"Marker"`
		MaxKeys        int           `xml:"MaxKeys"`
		Delimiter      string        `xml:"Delimiter"`
		EncodingType   string        `xml:"EncodingType,omitempty"`
		IsTruncated    bool          `xml:"IsTruncated"`
		NextMarker     string        `xml:"NextMarker,omitempty"`
		Contents       []contentsXML `xml:"Contents"`
		CommonPrefixes []prefixXML   `xml:"CommonPrefixes"`
	}{Name: req.bucket, Prefix: esc(prefix), Marker: esc(after), MaxKeys: maxKeys, Delimiter: esc(delimiter),
		EncodingType: encoding, IsTruncated: truncated, Contents: contents, CommonPrefixes: prefixes}
	if truncated {
		out.NextMarker = esc(last)
	}
	s.writeXML(req, http.StatusOK, out)
	return nil
}
