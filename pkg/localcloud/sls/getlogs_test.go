package sls_test

import (
	"reflect"
	"strconv"
	"testing"

	sdk "github.com/aliyun/aliyun-log-go-sdk"
)

// seedQueryLogs writes five logs at t0+0s .. t0+4s with ids 1..5.
func seedQueryLogs(t *testing.T, f *fixture) {
	t.Helper()
	f.mustLogstore(t, "qry")
	lg := logGroup("dr", "fc",
		[]string{"id", "1", "function", "create-image", "result", "ok", "region", "cn-hangzhou", "image", "m-aaa1", "duration_ms", "500", "msg", "image created"},
		[]string{"id", "2", "function", "create-image", "result", "failed", "region", "cn-hangzhou", "error_code", "QuotaExceed.Image", "duration_ms", "1500", "msg", "create failed: quota"},
		[]string{"id", "3", "function", "copy-image", "result", "ok", "region", "cn-shanghai", "image", "m-bbb2", "source_image", "m-aaa1", "duration_ms", "2500", "msg", "copy started"},
		[]string{"id", "4", "function", "copy-image", "result", "failed", "region", "cn-beijing", "error_code", "Throttling", "duration_ms", "100", "msg", "copy failed: Timeout waiting"},
		[]string{"id", "5", "function", "cleanup", "result", "ok", "region", "cn-shanghai", "image", "m-aaa1", "duration_ms", "50", "msg", "image deleted"},
	)
	if err := f.client().PutLogs(project, "qry", lg); err != nil {
		t.Fatalf("seed: %v", err)
	}
}

func ids(logs []map[string]string) []string {
	out := []string{}
	for _, l := range logs {
		out = append(out, l["id"])
	}
	return out
}

func TestGetLogsQueries(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	seedQueryLogs(t, f)
	from, to := t0.Unix(), t0.Unix()+60
	tests := []struct {
		query string
		want  []string
	}{
		{"*", []string{"1", "2", "3", "4", "5"}},
		{"", []string{"1", "2", "3", "4", "5"}},
		{"result: failed", []string{"2", "4"}},
		{"result:failed", []string{"2", "4"}},
		{"result: FAILED", []string{"2", "4"}},
		{"result: failed and region: cn-hangzhou", []string{"2"}},
		{"result: failed AND region: cn-hangzhou", []string{"2"}},
		{"result: failed region: cn-hangzhou", []string{"2"}},
		{"region: cn-hangzhou or region: cn-shanghai", []string{"1", "2", "3", "5"}},
		{"not result: ok", []string{"2", "4"}},
		{"result: failed not region: cn-beijing", []string{"2"}},
		{"result: failed and not region: cn-beijing", []string{"2"}},
		{"(function: copy-image or function: cleanup) and result: ok", []string{"3", "5"}},
		{"function: create-image and (result: ok or error_code: QuotaExceed.Image)", []string{"1", "2"}},
		{"not (result: ok or region: cn-beijing)", []string{"2"}},
		{"image: m-aaa*", []string{"1", "5"}},
		{"source_image: m-aaa1", []string{"3"}},
		{"error_code: *", []string{"2", "4"}},
		{"msg: created", []string{"1"}},
		{"msg: creat", []string{}},
		{"msg: creat*", []string{"1", "2"}},
		{`msg: "copy failed"`, []string{"4"}},
		{"timeout", []string{"4"}},
		{"hangzhou", []string{"1", "2"}},
		{`"failed: quota"`, []string{"2"}},
		{"duration_ms > 1000", []string{"2", "3"}},
		{"duration_ms >= 500 and duration_ms < 2000", []string{"1", "2"}},
		{"duration_ms <= 100", []string{"4", "5"}},
		{"duration_ms = 50", []string{"5"}},
		{"__topic__: dr and __source__: fc and id: 3", []string{"3"}},
		{"nosuchkey: x", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			t.Parallel()
			resp, err := f.client().GetLogs(project, "qry", "", from, to, tt.query, 100, 0, false)
			if err != nil {
				t.Fatalf("get logs: %v", err)
			}
			if got := ids(resp.Logs); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ids = %v, want %v", got, tt.want)
			}
			if resp.Progress != "Complete" || resp.Count != int64(len(tt.want)) {
				t.Fatalf("progress %q count %d", resp.Progress, resp.Count)
			}
		})
	}
}

func TestGetLogsPagingAndRange(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	seedQueryLogs(t, f)
	base := t0.Unix()
	tests := []struct {
		name     string
		from, to int64
		lines    int64
		offset   int64
		reverse  bool
		topic    string
		want     []string
	}{
		{name: "range is [from, to)", from: base + 1, to: base + 3, want: []string{"2", "3"}},
		{name: "empty range", from: base + 2, to: base + 2, want: []string{}},
		{name: "reverse", from: base, to: base + 60, reverse: true, want: []string{"5", "4", "3", "2", "1"}},
		{name: "line and offset", from: base, to: base + 60, lines: 2, offset: 1, want: []string{"2", "3"}},
		{name: "reverse line", from: base, to: base + 60, lines: 2, reverse: true, want: []string{"5", "4"}},
		{name: "offset past end", from: base, to: base + 60, offset: 9, want: []string{}},
		{name: "topic filter", from: base, to: base + 60, topic: "other", want: []string{}},
		{name: "topic match", from: base, to: base + 60, topic: "dr", lines: 1, want: []string{"1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, err := f.client().GetLogs(project, "qry", tt.topic, tt.from, tt.to, "*", tt.lines, tt.offset, tt.reverse)
			if err != nil {
				t.Fatalf("get logs: %v", err)
			}
			if got := ids(resp.Logs); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ids = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestGetLogsReplyShape(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	seedQueryLogs(t, f)
	resp, err := f.client().GetLogsV3(project, "qry", &sdk.GetLogRequest{From: t0.Unix(), To: t0.Unix() + 60, Query: "id: 3", Lines: 10})
	if err != nil {
		t.Fatalf("get logs v3: %v", err)
	}
	if !resp.IsComplete() || resp.Meta.Count != 1 || resp.Meta.ProcessedRows != 5 || len(resp.Logs) != 1 {
		t.Fatalf("meta %+v, %d logs", resp.Meta, len(resp.Logs))
	}
	want := map[string]string{
		"__time__": strconv.FormatInt(t0.Unix()+2, 10), "__topic__": "dr", "__source__": "fc",
		"id": "3", "function": "copy-image", "result": "ok", "region": "cn-shanghai",
		"image": "m-bbb2", "source_image": "m-aaa1", "duration_ms": "2500", "msg": "copy started",
	}
	if !reflect.DeepEqual(resp.Logs[0], want) {
		t.Fatalf("log:\n got %v\nwant %v", resp.Logs[0], want)
	}
	wantKeys := []string{"duration_ms", "function", "id", "image", "msg", "region", "result", "source_image"}
	if !reflect.DeepEqual(resp.Meta.Keys, wantKeys) {
		t.Fatalf("meta keys %v, want %v", resp.Meta.Keys, wantKeys)
	}
	// The *ToCompleted helpers return at once because progress is Complete.
	full, err := f.client().GetLogsToCompleted(project, "qry", "", t0.Unix(), t0.Unix()+60, "result: failed", 100, 0, false)
	if err != nil || len(full.Logs) != 2 {
		t.Fatalf("to completed: %v, %v", full, err)
	}
}

func TestGetLogsErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	seedQueryLogs(t, f)
	base := t0.Unix()
	tests := []struct {
		name     string
		logstore string
		query    string
		from, to int64
		lines    int64
		code     string
		status   int32
	}{
		{name: "unbalanced parenthesis", logstore: "qry", query: "(result: ok", from: base, to: base + 9, code: "InvalidQueryString", status: 400},
		{name: "dangling operator", logstore: "qry", query: "result: ok and", from: base, to: base + 9, code: "InvalidQueryString", status: 400},
		{name: "missing value", logstore: "qry", query: "result:", from: base, to: base + 9, code: "InvalidQueryString", status: 400},
		{name: "unterminated phrase", logstore: "qry", query: `msg: "abc`, from: base, to: base + 9, code: "InvalidQueryString", status: 400},
		{name: "analytics search part", logstore: "qry", query: "(result: ok | select count(*) as c", from: base, to: base + 9, code: "InvalidQueryString", status: 400},
		{name: "unsupported function", logstore: "qry", query: "* | select approx_percentile(duration_ms, 0.9) as p", from: base, to: base + 9, code: "ParameterInvalid", status: 400},
		{name: "join", logstore: "qry", query: "* | select a from log join other on a = b", from: base, to: base + 9, code: "ParameterInvalid", status: 400},
		{name: "sub-query", logstore: "qry", query: "* | select x from (select 1 as x)", from: base, to: base + 9, code: "ParameterInvalid", status: 400},
		{name: "window function", logstore: "qry", query: "* | select count(1) over () as c", from: base, to: base + 9, code: "ParameterInvalid", status: 400},
		{name: "ungrouped column", logstore: "qry", query: "* | select result, count(1) as c", from: base, to: base + 9, code: "ParameterInvalid", status: 400},
		{name: "trailing clause", logstore: "qry", query: "* | select count(1) as c union select 1", from: base, to: base + 9, code: "ParameterInvalid", status: 400},
		{name: "not a select", logstore: "qry", query: "* | delete from log", from: base, to: base + 9, code: "ParameterInvalid", status: 400},
		{name: "non-numeric comparison", logstore: "qry", query: "duration_ms > fast", from: base, to: base + 9, code: "InvalidQueryString", status: 400},
		{name: "line over 100", logstore: "qry", query: "*", from: base, to: base + 9, lines: 101, code: "InvalidLine", status: 400},
		{name: "from after to", logstore: "qry", query: "*", from: base + 9, to: base, code: "InvalidTimeRange", status: 400},
		{name: "missing logstore", logstore: "nope", query: "*", from: base, to: base + 9, code: "LogStoreNotExist", status: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := f.client().GetLogs(project, tt.logstore, "", tt.from, tt.to, tt.query, tt.lines, 0, false)
			wantCode(t, err, tt.status, tt.code)
		})
	}
}

func TestGetLogsIndexCaseSensitivity(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	seedQueryLogs(t, f)
	c := f.client()
	idx := sdk.Index{Keys: map[string]sdk.IndexKey{
		"msg": {Token: []string{" ", ":"}, CaseSensitive: true, Type: "text"},
	}}
	if err := c.CreateIndex(project, "qry", idx); err != nil {
		t.Fatalf("create index: %v", err)
	}
	for q, want := range map[string][]string{"msg: Timeout": {"4"}, "msg: timeout": {}, "result: OK": {"1", "3", "5"}} {
		resp, err := c.GetLogs(project, "qry", "", t0.Unix(), t0.Unix()+60, q, 100, 0, false)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if got := ids(resp.Logs); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: ids %v, want %v", q, got, want)
		}
	}
}

func TestGetHistograms(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	seedQueryLogs(t, f)
	resp, err := f.client().GetHistograms(project, "qry", "", t0.Unix(), t0.Unix()+6, "result: failed")
	if err != nil {
		t.Fatalf("histograms: %v", err)
	}
	if !resp.IsComplete() || resp.Count != 2 || len(resp.Histograms) != 6 {
		t.Fatalf("progress %q count %d buckets %d", resp.Progress, resp.Count, len(resp.Histograms))
	}
	var counts []int64
	for _, h := range resp.Histograms {
		counts = append(counts, h.Count)
	}
	if want := []int64{0, 1, 0, 1, 0, 0}; !reflect.DeepEqual(counts, want) {
		t.Fatalf("bucket counts %v, want %v", counts, want)
	}
	if resp.Histograms[1].From != t0.Unix()+1 || resp.Histograms[1].To != t0.Unix()+2 {
		t.Fatalf("bucket 1 = %+v", resp.Histograms[1])
	}
}

func TestGetHistogramsBuckets(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	seedQueryLogs(t, f) // five logs at t0+0s .. t0+4s
	base := t0.Unix()
	tests := []struct {
		name             string
		from, to         int64
		interval         int32
		wantFrom, wantTo []int64
		wantCounts       []int64
		wantCode         string
	}{
		{name: "last bucket is cut at to", from: base, to: base + 7, interval: 3,
			wantFrom: []int64{base, base + 3, base + 6}, wantTo: []int64{base + 3, base + 6, base + 7}, wantCounts: []int64{3, 2, 0}},
		{name: "empty range", from: base, to: base, interval: 3},
		{name: "default interval: at most 60 buckets", from: base, to: base + 121, // step ceil(121/60) = 3: 41 buckets
			wantCounts: append([]int64{3, 2}, make([]int64, 39)...)},
		{name: "too many buckets", from: 0, to: base, interval: 1, wantCode: "ParameterInvalid"},
		{name: "before the epoch", from: -5, to: base, interval: 60, wantCode: "InvalidTimeRange"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, err := f.client().GetHistogramsV2(project, "qry", &sdk.GetHistogramRequest{From: tt.from, To: tt.to, Query: "*", Interval: tt.interval})
			if tt.wantCode != "" {
				wantCode(t, err, 400, tt.wantCode)
				return
			}
			if err != nil {
				t.Fatalf("histograms: %v", err)
			}
			var from, to, counts []int64
			for _, h := range resp.Histograms {
				from, to, counts = append(from, h.From), append(to, h.To), append(counts, h.Count)
			}
			if !reflect.DeepEqual(counts, tt.wantCounts) {
				t.Errorf("counts %v, want %v", counts, tt.wantCounts)
			}
			if tt.wantFrom != nil && (!reflect.DeepEqual(from, tt.wantFrom) || !reflect.DeepEqual(to, tt.wantTo)) {
				t.Errorf("bounds from %v to %v, want from %v to %v", from, to, tt.wantFrom, tt.wantTo)
			}
		})
	}
}
