package ecs

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

func parseBool(name, v string) (bool, *apiError) {
	switch strings.ToLower(v) {
	case "":
		return false, nil
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, invalidParam(name, v)
}

func (q *request) boolParam(name string) (bool, *apiError) { return parseBool(name, q.get(name)) }

// intParam reads an optional integer in [lo, hi]; absent gives def.
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

// jsonArrayParam reads a parameter that carries a JSON array of strings (InstanceIds,
// SnapshotIds); code is the real error code for a malformed value.
func (q *request) jsonArrayParam(name, code string, max int) ([]string, *apiError) {
	v := q.get(name)
	if v == "" {
		return nil, nil
	}
	var ids []string
	if err := json.Unmarshal([]byte(v), &ids); err != nil {
		return nil, errf(400, code, "The specified parameter %q is not a valid JSON array of strings: %q.", name, v)
	}
	if len(ids) > max {
		return nil, errf(400, code, "The specified parameter %q holds %d items, more than %d.", name, len(ids), max)
	}
	return ids, nil
}

func commaList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// tagParam is one Tag.N.{Key,Value} pair; hasValue distinguishes "" from absent, which
// matters for filters (a key-only filter matches any value).
type tagParam struct {
	Key, Value string
	HasValue   bool
}

var indexedRe = regexp.MustCompile(`^([A-Za-z]+)\.(\d+)(?:\.(.+))?$`)

// indexed collects prefix.N[.field] parameters: index -> field -> value ("" field for
// prefix.N itself). Indexes must be 1..max.
func (q *request) indexed(prefix string, max int) (map[int]map[string]string, *apiError) {
	out := map[int]map[string]string{}
	for k := range q.params {
		m := indexedRe.FindStringSubmatch(k)
		if m == nil || m[1] != prefix {
			continue
		}
		n, err := strconv.Atoi(m[2])
		if err != nil || n < 1 || n > max {
			return nil, errf(400, "InvalidParameter", "The parameter %q is out of range: %s.N allows N from 1 to %d.", k, prefix, max)
		}
		if out[n] == nil {
			out[n] = map[string]string{}
		}
		out[n][m[3]] = q.get(k)
	}
	return out, nil
}

func sortedKeys[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// tags reads Tag.N.Key/Tag.N.Value (N 1-20) in N order.
func (q *request) tags() ([]tagParam, *apiError) {
	idx, aerr := q.indexed("Tag", 20)
	if aerr != nil {
		return nil, aerr
	}
	var out []tagParam
	for _, n := range sortedKeys(idx) {
		f := idx[n]
		v, has := f["Value"]
		out = append(out, tagParam{Key: f["Key"], Value: v, HasValue: has})
	}
	return out, nil
}

// tagsToSet reads Tag.N as tags to write to a resource (CreateImage, CopyImage,
// TagResources) and validates them; no Tag.N gives an empty map.
func (q *request) tagsToSet() (map[string]string, *apiError) {
	tp, aerr := q.tags()
	if aerr != nil {
		return nil, aerr
	}
	return validateTagsToSet(tp)
}

// validateTagsToSet checks tags that will be written to a resource.
func validateTagsToSet(tags []tagParam) (map[string]string, *apiError) {
	seen := map[string]string{}
	for i, t := range tags {
		if t.Key == "" {
			return nil, errf(400, "InvalidTagKey.Malformed", "Tag.%d.Key is empty; a tag key is 1 to 128 characters.", i+1)
		}
		if aerr := checkTagKey(t.Key); aerr != nil {
			return nil, aerr
		}
		if utf8.RuneCountInString(t.Value) > 128 || strings.HasPrefix(t.Value, "acs:") || hasURL(t.Value) {
			return nil, errf(400, "InvalidTagValue.Malformed", "The tag value %q is malformed: at most 128 characters, not starting with acs:, no http(s)://.", t.Value)
		}
		if _, dup := seen[t.Key]; dup {
			return nil, errf(400, "Duplicate.TagKey", "The Tag.N.Key contains duplicate key %q.", t.Key)
		}
		seen[t.Key] = t.Value
	}
	return seen, nil
}

func checkTagKey(k string) *apiError {
	if utf8.RuneCountInString(k) > 128 || strings.HasPrefix(k, "aliyun") || strings.HasPrefix(k, "acs:") || hasURL(k) {
		return errf(400, "InvalidTagKey.Malformed", "The tag key %q is malformed: 1 to 128 characters, not starting with aliyun or acs:, no http(s)://.", k)
	}
	return nil
}

func hasURL(s string) bool { return strings.Contains(s, "http://") || strings.Contains(s, "https://") }

// matchTags ANDs the filters: a filter with a value needs that exact value, a key-only
// filter needs the key.
func matchTags(have map[string]string, want []tagParam) bool {
	for _, t := range want {
		v, ok := have[t.Key]
		if !ok || (t.HasValue && t.Value != "" && v != t.Value) {
			return false
		}
	}
	return true
}

// checkImageName applies the documented rule: 2-128 characters, a letter first, then
// letters, digits, ".", ":", "_", "-"; no http(s)://; not starting with acs: or aliyun.
func checkImageName(param, name string) *apiError {
	bad := func() *apiError {
		return errf(400, "InvalidImageName.Malformed", "The specified %s %q is malformed: 2 to 128 characters, starting with a letter, then letters, digits, '.', ':', '_' or '-'; not starting with acs: or aliyun.", param, name)
	}
	n := utf8.RuneCountInString(name)
	if n < 2 || n > 128 || hasURL(name) || strings.HasPrefix(name, "acs:") || strings.HasPrefix(name, "aliyun") {
		return bad()
	}
	for i, r := range name {
		switch {
		case unicode.IsLetter(r):
		case i == 0:
			return bad()
		case unicode.IsDigit(r), r == '.', r == ':', r == '_', r == '-':
		default:
			return bad()
		}
	}
	return nil
}

func checkDescription(param, d string) *apiError {
	if d == "" {
		return nil
	}
	n := utf8.RuneCountInString(d)
	if n < 2 || n > 256 || strings.HasPrefix(d, "http://") || strings.HasPrefix(d, "https://") {
		return errf(400, "InvalidDescription.Malformed", "The specified %s is malformed: 2 to 256 characters, not starting with http:// or https://.", param)
	}
	return nil
}

// page is the result window of a list call, in one of the two paging modes ECS offers.
type page struct {
	tokenMode  bool
	number     int // PageNumber mode
	size       int
	offset     int
	nextOffset int // token mode: offset of the next page, -1 at the end
}

// paging reads PageNumber/PageSize (default 1/10, size max 100) or NextToken/MaxResults
// (default 10, max 100). Token mode is chosen when either token parameter is present.
func (q *request) paging() (page, *apiError) {
	if q.get("NextToken") != "" || q.get("MaxResults") != "" {
		size, aerr := q.intParam("MaxResults", 10, 1, 100)
		if aerr != nil {
			return page{}, aerr
		}
		off, aerr := decodeToken(q.get("NextToken"))
		if aerr != nil {
			return page{}, aerr
		}
		return page{tokenMode: true, size: size, offset: off}, nil
	}
	return q.pageNumbers()
}

// pageNumbers reads PageNumber/PageSize (default 1/10, size max 100).
func (q *request) pageNumbers() (page, *apiError) {
	size, aerr := q.intParam("PageSize", 10, 1, 100)
	if aerr != nil {
		return page{}, aerr
	}
	num, aerr := q.intParam("PageNumber", 1, 1, 1<<30)
	if aerr != nil {
		return page{}, aerr
	}
	return page{number: num, size: size, offset: (num - 1) * size}, nil
}

// window returns the [lo, hi) bounds of the page in a list of n items.
func (p *page) window(n int) (int, int) {
	lo := min(p.offset, n)
	hi := min(lo+p.size, n)
	p.nextOffset = -1
	if hi < n {
		p.nextOffset = hi
	}
	return lo, hi
}

func (p page) nextToken() string {
	if !p.tokenMode || p.nextOffset < 0 {
		return ""
	}
	return encodeToken(p.nextOffset)
}

// Tokens are opaque to callers; they encode the offset of the next item.
func encodeToken(off int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("ecs-local:%d", off)))
}

func decodeToken(t string) (int, *apiError) {
	if t == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err == nil {
		if s, ok := strings.CutPrefix(string(b), "ecs-local:"); ok {
			if n, err := strconv.Atoi(s); err == nil && n >= 0 {
				return n, nil
			}
		}
	}
	return 0, errf(400, "InvalidNextToken.Malformed", "The specified parameter NextToken %q is not valid.", t)
}
