package sls

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// getLogsRequest is the body of POST /logstores/{ls}/logs (the SDK's GetLogRequest).
type getLogsRequest struct {
	From     int64  `json:"from"`
	To       int64  `json:"to"`
	Topic    string `json:"topic"`
	Line     *int64 `json:"line"`
	Offset   int64  `json:"offset"`
	Reverse  bool   `json:"reverse"`
	Query    string `json:"query"`
	PowerSQL bool   `json:"powerSql"`
	FromNs   int32  `json:"fromNs"`
	ToNs     int32  `json:"toNs"`
}

// maxHistogramBuckets bounds the buckets of one GetHistograms reply.
const maxHistogramBuckets = 10000

// maxLines is the per-call cap of GetLogs (line 0..100; absent means 100).
const maxLines = 100

// getLogs serves GetLogs (v3 reply): logs with from <= time < to (nanosecond parts
// included) matching the query, oldest first (reverse: newest first), paged by
// offset/line. The reply is plain JSON: the SDK decompresses only when
// x-log-bodyrawsize is present. Every data value is a JSON string, as the SDK's
// []map[string]string requires. Progress is always Complete, so *ToCompleted calls
// return at once. A logstore without an index is searchable here (real SLS refuses).
func (s *Service) getLogs(w http.ResponseWriter, _ *http.Request, c *call) {
	var req getLogsRequest
	if len(c.body) > 0 {
		if err := json.Unmarshal(c.body, &req); err != nil {
			replyErr(w, errBadJSON(err))
			return
		}
	}
	line := int64(maxLines)
	if req.Line != nil {
		line = *req.Line
	}
	switch {
	case line < 0 || line > maxLines:
		replyErr(w, errf(400, "InvalidLine", "line %d is out of range 0-%d", line, maxLines))
		return
	case req.Offset < 0:
		replyErr(w, errf(400, "InvalidOffset", "offset %d is negative", req.Offset))
		return
	case req.From > req.To:
		replyErr(w, errf(400, "InvalidTimeRange", "from %d is after to %d", req.From, req.To))
		return
	}
	search, sqlText, hasSQL := splitAnalytic(req.Query)
	m, err := parseQuery(search)
	if err != nil {
		replyErr(w, errf(400, "InvalidQueryString", "query %q: %v", req.Query, err))
		return
	}
	var sq *sqlQuery
	if hasSQL {
		if sq, err = parseSQL(sqlText); err != nil {
			replyErr(w, errf(400, "ParameterInvalid", "sql %q: %v", sqlText, err))
			return
		}
	}
	from := time.Unix(req.From, int64(req.FromNs))
	to := time.Unix(req.To, int64(req.ToNs))
	hits, scanned, idx, e := s.searchIndexed(c, c.parts[0], from, to, req.Topic, m)
	if e != nil {
		replyErr(w, e)
		return
	}
	if sq != nil {
		replyAnalytic(w, sq, hits, idx, scanned, search, sqlText)
		return
	}
	if req.Reverse {
		slices.Reverse(hits)
	}
	page := window(hits, int(min(req.Offset, int64(len(hits)))), int(line))
	keySet := map[string]bool{}
	data := make([]map[string]string, len(page))
	for i, r := range page {
		d := make(map[string]string, len(r.Contents)+3+len(r.Tags))
		for k, v := range r.Contents {
			d[k] = v
			keySet[k] = true
		}
		for k, v := range r.Tags {
			d["__tag__:"+k] = v
		}
		d["__time__"] = strconv.FormatInt(r.Time.Unix(), 10)
		d["__topic__"] = r.Topic
		d["__source__"] = r.Source
		data[i] = d
	}
	keys := make([]string, 0, len(keySet))
	for k := range keySet {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	reply(w, 200, map[string]any{
		"meta": map[string]any{
			"progress": "Complete", "count": len(data), "processedRows": scanned,
			"elapsedMillisecond": 0, "hasSQL": false, "whereQuery": req.Query, "aggQuery": "",
			"keys": keys, "isAccurate": true, "telementryType": "logging",
		},
		"data": data,
	})
}

// search returns the records of logstore in [from, to) that match m, sorted by time
// (stable: arrival order among equal times), and how many were in the time range.
func (s *Service) search(c *call, logstoreName string, from, to time.Time, topic string, m matcher) ([]Record, int, *apiError) {
	hits, scanned, _, e := s.searchIndexed(c, logstoreName, from, to, topic, m)
	return hits, scanned, e
}

// searchIndexed is search that also returns the logstore's index (nil: none); an
// index is replaced, never changed in place, so the caller may read it unlocked.
func (s *Service) searchIndexed(c *call, logstoreName string, from, to time.Time, topic string, m matcher) ([]Record, int, *indexConfig, *apiError) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ls, e := s.logstoreLocked(c, logstoreName)
	if e != nil {
		return nil, 0, nil, e
	}
	var hits []Record
	scanned := 0
	for i := range ls.records {
		r := &ls.records[i]
		if r.Time.Before(from) || !r.Time.Before(to) {
			continue
		}
		if topic != "" && r.Topic != topic {
			continue
		}
		scanned++
		if m.match(&evalCtx{rec: r, idx: ls.index}) {
			hits = append(hits, cloneRecord(*r))
		}
	}
	slices.SortStableFunc(hits, func(a, b Record) int { return a.Time.Compare(b.Time) })
	return hits, scanned, ls.index, nil
}

// getHistograms serves GET /logstores/{ls}?type=histogram: counts of matching logs in
// consecutive buckets of [from, to). The SDK reads the total and progress from the
// X-Log-Count and X-Log-Progress headers (it indexes the latter without a check, so
// they are always set). Buckets are interval seconds wide, or about 60 buckets when
// interval is 0.
func (s *Service) getHistograms(w http.ResponseWriter, r *http.Request, c *call) {
	q := r.URL.Query()
	num := func(name string) (int64, *apiError) {
		v := q.Get(name)
		if v == "" {
			return 0, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, errf(400, "ParameterInvalid", "%s %q is not an integer", name, v)
		}
		return n, nil
	}
	from, e1 := num("from")
	to, e2 := num("to")
	interval, e3 := num("interval")
	for _, e := range []*apiError{e1, e2, e3} {
		if e != nil {
			replyErr(w, e)
			return
		}
	}
	switch {
	case from < 0:
		replyErr(w, errf(400, "InvalidTimeRange", "from %d is before the epoch", from))
		return
	case from > to:
		replyErr(w, errf(400, "InvalidTimeRange", "from %d is after to %d", from, to))
		return
	}
	span := to - from
	step := interval
	if step <= 0 {
		step = max(1, span/60+min(span%60, 1)) // ceil(span/60): about 60 buckets
	}
	// Every bucket is allocated, so a tiny interval over a long range (interval=1 since
	// the epoch) must be refused rather than exhaust memory.
	n := span/step + min(span%step, 1)
	if n > maxHistogramBuckets {
		replyErr(w, errf(400, "ParameterInvalid", "interval %d over [%d, %d) makes %d buckets, more than %d", step, from, to, n, maxHistogramBuckets))
		return
	}
	m, err := parseQuery(q.Get("query"))
	if err != nil {
		replyErr(w, errf(400, "InvalidQueryString", "query %q: %v", q.Get("query"), err))
		return
	}
	hits, _, e := s.search(c, c.parts[0], time.Unix(from, 0), time.Unix(to, 0), q.Get("topic"), m)
	if e != nil {
		replyErr(w, e)
		return
	}
	type bucket struct {
		From     int64  `json:"from"`
		To       int64  `json:"to"`
		Count    int64  `json:"count"`
		Progress string `json:"progress"`
	}
	buckets := make([]bucket, n)
	for i := range buckets {
		lo := from + int64(i)*step
		buckets[i] = bucket{From: lo, To: lo + min(step, to-lo), Progress: "Complete"}
	}
	for _, h := range hits {
		i := (h.Time.Unix() - from) / step
		buckets[i].Count++
	}
	w.Header().Set("X-Log-Progress", "Complete")
	w.Header().Set("X-Log-Count", strconv.Itoa(len(hits)))
	reply(w, 200, buckets)
}

// replyAnalytic answers a GetLogs whose query has an analytic part: the rows are the
// result of the SQL over the searched logs, each a log whose contents are the selected
// columns (values as strings), meta.hasSQL is true and meta.keys lists the columns in
// select order; line and offset do not apply (the SQL's limit does).
func replyAnalytic(w http.ResponseWriter, sq *sqlQuery, hits []Record, idx *indexConfig, scanned int, search, sqlText string) {
	data, cols, err := sq.run(hits, idx)
	if err != nil {
		replyErr(w, errf(400, "ParameterInvalid", "sql %q: %v", sqlText, err))
		return
	}
	reply(w, 200, map[string]any{
		"meta": map[string]any{
			"progress": "Complete", "count": len(data), "processedRows": scanned,
			"elapsedMillisecond": 0, "hasSQL": true, "whereQuery": search, "aggQuery": sqlText,
			"keys": cols, "isAccurate": true, "telementryType": "logging",
		},
		"data": data,
	})
}
