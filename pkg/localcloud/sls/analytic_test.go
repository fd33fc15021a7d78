package sls_test

import (
	"reflect"
	"testing"
	"time"

	sdk "github.com/aliyun/aliyun-log-go-sdk"
)

// TestGetLogsAnalytics runs the SQL subset over the five seeded logs through the SDK:
// each row comes back as a log whose contents are the selected columns.
func TestGetLogsAnalytics(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	seedQueryLogs(t, f)
	base := t0.Unix()
	day := t0.UTC().Truncate(24 * time.Hour).Format("2006-01-02 15:04:05.000")
	tests := []struct {
		name  string
		query string
		want  []map[string]string
	}{
		{"global count over the search part", "result: failed | select count(*) as n, count(1) as m, count(error_code) as codes",
			[]map[string]string{{"n": "2", "m": "2", "codes": "2"}}},
		{"global aggregate over no rows", "result: nothing | select count(1) as n, max(duration_ms) as top",
			[]map[string]string{{"n": "0", "top": "null"}}},
		{"group, order by alias desc, limit", "* | select function, count(1) as runs group by function order by runs desc, function limit 2",
			[]map[string]string{{"function": "copy-image", "runs": "2"}, {"function": "create-image", "runs": "2"}}},
		{"having and arithmetic", "* | select region, sum(duration_ms) as total, sum(duration_ms) / count(1) as mean group by region having count(1) > 1",
			[]map[string]string{{"region": "cn-hangzhou", "total": "2000", "mean": "1000"}, {"region": "cn-shanghai", "total": "2550", "mean": "1275"}}},
		{"count distinct and count_if", "* | select count(distinct region) as regions, count_if(result = 'failed') as failed, count_if(result <> 'failed') as good",
			[]map[string]string{{"regions": "3", "failed": "2", "good": "3"}}},
		{"rows ordered by a column not selected", "* | select id, from_unixtime(__time__) as at order by __time__ desc limit 2",
			[]map[string]string{{"id": "5", "at": t0.Add(4 * time.Second).UTC().Format("2006-01-02 15:04:05.000")}, {"id": "4", "at": t0.Add(3 * time.Second).UTC().Format("2006-01-02 15:04:05.000")}}},
		{"date_trunc by alias", `* | select date_trunc('day', __time__) as day, count(1) as n from log group by day order by day`,
			[]map[string]string{{"day": day, "n": "5"}}},
		{"is null and unnamed column", "* | select count(1), count_if(error_code is null) as clean",
			[]map[string]string{{"_col0": "5", "clean": "3"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, err := f.client().GetLogs(project, "qry", "", base, base+9, tt.query, 1, 3, false)
			if err != nil {
				t.Fatalf("%s: %v", tt.query, err)
			}
			if !resp.HasSQL || !reflect.DeepEqual(resp.Logs, tt.want) {
				t.Fatalf("%s:\n got %v (hasSQL %v)\nwant %v", tt.query, resp.Logs, resp.HasSQL, tt.want)
			}
		})
	}
	t.Run("where and v3 meta", func(t *testing.T) {
		t.Parallel()
		q := "* | select max(duration_ms) as hi, min(duration_ms) as lo, avg(duration_ms) as mean from log where result = 'ok' and duration_ms >= 100"
		resp, err := f.client().GetLogsV3(project, "qry", &sdk.GetLogRequest{From: base, To: base + 9, Query: q})
		if err != nil {
			t.Fatal(err)
		}
		// Without an index duration_ms is text: max and min are textual, as on SLS.
		want := []map[string]string{{"hi": "500", "lo": "2500", "mean": "1500"}}
		if !reflect.DeepEqual(resp.Logs, want) || !reflect.DeepEqual(resp.Meta.Keys, []string{"hi", "lo", "mean"}) ||
			!resp.Meta.HasSQL || resp.Meta.AggQuery == "" || resp.Meta.WhereQuery != "*" || resp.Meta.Progress != "Complete" {
			t.Fatalf("got %v, meta %+v", resp.Logs, resp.Meta)
		}
	})
}

// TestGetLogsAnalyticsTypedIndex: a key the index types long is a number in SQL.
func TestGetLogsAnalyticsTypedIndex(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	seedQueryLogs(t, f)
	c := f.client()
	idx := sdk.Index{Keys: map[string]sdk.IndexKey{
		"duration_ms": {Type: "long", DocValue: true},
		"result":      {Type: "text", Token: []string{" "}}, // searchable, no statistics
	}, Line: &sdk.IndexLine{Token: []string{" "}}}
	if err := c.CreateIndex(project, "qry", idx); err != nil {
		t.Fatal(err)
	}
	base := t0.Unix()
	resp, err := c.GetLogs(project, "qry", "", base, base+9, "* | select max(duration_ms) as hi, min(duration_ms) as lo, sum(duration_ms) as total", 100, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string]string{{"hi": "2500", "lo": "50", "total": "4650"}}
	if !reflect.DeepEqual(resp.Logs, want) {
		t.Fatalf("got %v, want %v", resp.Logs, want)
	}
}

// TestGetLogsAnalyticsColumnsNeedStatistics: with an index, SQL reads only keys with
// statistics (doc_value) enabled; a typo or a search-only key is refused, not null.
func TestGetLogsAnalyticsColumnsNeedStatistics(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	seedQueryLogs(t, f)
	c := f.client()
	idx := sdk.Index{Keys: map[string]sdk.IndexKey{
		"duration_ms": {Type: "long", DocValue: true},
		"result":      {Type: "text", Token: []string{" "}},
	}}
	if err := c.CreateIndex(project, "qry", idx); err != nil {
		t.Fatal(err)
	}
	base := t0.Unix()
	for _, q := range []string{
		"* | select count(1) as n where result = 'ok'",        // search-only key
		"* | select max(duraton_ms) as hi",                    // typo
		"* | select count(1) as n group by region order by n", // not indexed
	} {
		_, err := c.GetLogs(project, "qry", "", base, base+9, q, 100, 0, false)
		wantCode(t, err, 400, "ParameterInvalid")
	}
	// the search part may still use the search-only key; order by may use an alias
	resp, err := c.GetLogs(project, "qry", "", base, base+9, "result: ok | select count(1) as n, sum(duration_ms) as total order by n", 100, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := []map[string]string{{"n": "3", "total": "3050"}}; !reflect.DeepEqual(resp.Logs, want) {
		t.Fatalf("got %v, want %v", resp.Logs, want)
	}
}
