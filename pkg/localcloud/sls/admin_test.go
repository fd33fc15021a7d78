package sls_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	sdk "github.com/aliyun/aliyun-log-go-sdk"
)

func TestProjects(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client()
	if _, err := c.CreateProject("newproj", "made by test"); err != nil {
		t.Fatalf("create project: %v", err)
	}
	_, err := c.CreateProject("newproj", "again")
	wantCode(t, err, 400, "ProjectAlreadyExist")
	_, err = c.CreateProject("Bad_Name", "x")
	wantCode(t, err, 400, "ParameterInvalid")
	p, err := c.GetProject("newproj")
	if err != nil || p.Name != "newproj" || p.Description != "made by test" || p.Status != "Normal" || p.Region != "cn-hangzhou" {
		t.Fatalf("get project: %+v, %v", p, err)
	}
	_, err = c.GetProject("missing")
	wantCode(t, err, 404, "ProjectNotExist")
	if ok, err := c.CheckProjectExist("missing"); ok || err != nil {
		t.Fatalf("check missing project = %v, %v", ok, err)
	}
	if err := c.DeleteProject("newproj"); err != nil {
		t.Fatalf("delete project: %v", err)
	}
	if ok, err := c.CheckProjectExist("newproj"); ok || err != nil {
		t.Fatalf("check deleted project = %v, %v", ok, err)
	}
}

func TestLogstoreCRUD(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client()
	if err := c.CreateLogStore(project, "ls-b", 30, 2, true, 8); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := c.CreateLogStoreV2(project, &sdk.LogStore{Name: "ls_a", TTL: 7, ShardCount: 1, AppendMeta: true}); err != nil {
		t.Fatalf("create v2: %v", err)
	}
	tests := []struct {
		name   string
		call   func() error
		status int32
		code   string
	}{
		{"duplicate", func() error { return c.CreateLogStore(project, "ls-b", 30, 2, true, 8) }, 400, "LogStoreAlreadyExist"},
		{"bad name", func() error { return c.CreateLogStore(project, "A", 30, 2, false, 0) }, 400, "ParameterInvalid"},
		{"zero ttl", func() error { return c.CreateLogStore(project, "ls-c", 0, 2, false, 0) }, 400, "ParameterInvalid"},
		{"zero shards", func() error { return c.CreateLogStore(project, "ls-c", 1, 0, false, 0) }, 400, "ParameterInvalid"},
		{"get missing", func() error { _, err := c.GetLogStore(project, "nope"); return err }, 404, "LogStoreNotExist"},
		{"delete missing", func() error { return c.DeleteLogStore(project, "nope") }, 404, "LogStoreNotExist"},
		{"update missing", func() error { return c.UpdateLogStore(project, "nope", 3, 2) }, 404, "LogStoreNotExist"},
		{"missing project", func() error { return c.CreateLogStore("noproj", "ls-c", 1, 1, false, 0) }, 404, "ProjectNotExist"},
		{"shards of missing", func() error { _, err := c.ListShards(project, "nope"); return err }, 404, "LogStoreNotExist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, tt.call(), tt.status, tt.code)
		})
	}

	ls, err := c.GetLogStore(project, "ls-b")
	if err != nil || ls.TTL != 30 || ls.ShardCount != 2 || !ls.AutoSplit || ls.MaxSplitShard != 8 || ls.CreateTime != uint32(t0.Unix()) {
		t.Fatalf("get: %+v, %v", ls, err)
	}
	if err := c.UpdateLogStore(project, "ls-b", 90, 2); err != nil {
		t.Fatalf("update: %v", err)
	}
	if ls, _ := c.GetLogStore(project, "ls-b"); ls == nil || ls.TTL != 90 {
		t.Fatalf("ttl after update: %+v", ls)
	}
	names, err := c.ListLogStore(project)
	if err != nil || !reflect.DeepEqual(names, []string{"ls-b", "ls_a"}) {
		t.Fatalf("list = %v, %v", names, err)
	}
	if page, err := c.ListLogStoreV2(project, 1, 1, ""); err != nil || !reflect.DeepEqual(page, []string{"ls_a"}) {
		t.Fatalf("list page = %v, %v", page, err)
	}
	shards, err := c.ListShards(project, "ls-b")
	if err != nil || len(shards) != 2 {
		t.Fatalf("shards = %v, %v", shards, err)
	}
	if shards[0].InclusiveBeginKey != strings.Repeat("0", 32) || shards[0].ExclusiveBeginKey != "8"+strings.Repeat("0", 31) ||
		shards[1].InclusiveBeginKey != "8"+strings.Repeat("0", 31) || shards[1].Status != "readwrite" {
		t.Fatalf("shard ranges: %+v %+v", *shards[0], *shards[1])
	}
	for name, want := range map[string]bool{"ls-b": true, "nope": false} {
		if ok, err := c.CheckLogstoreExist(project, name); ok != want || err != nil {
			t.Fatalf("check %s = %v, %v", name, ok, err)
		}
	}
	if err := c.DeleteLogStore(project, "ls-b"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	_, err = c.GetLogStore(project, "ls-b")
	wantCode(t, err, 404, "LogStoreNotExist")
}

func TestIndex(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.mustLogstore(t, "idx")
	c := f.client()
	_, err := c.GetIndex(project, "idx")
	wantCode(t, err, 404, "IndexConfigNotExist")
	wantCode(t, c.UpdateIndex(project, "idx", *sdk.CreateDefaultIndex()), 404, "IndexConfigNotExist")
	idx := sdk.Index{
		Keys: map[string]sdk.IndexKey{
			"result":      {Token: []string{" "}, Type: "text", DocValue: true},
			"duration_ms": {Type: "long", DocValue: true},
		},
		Line: sdk.CreateDefaultIndex().Line,
	}
	if err := c.CreateIndex(project, "idx", idx); err != nil {
		t.Fatalf("create index: %v", err)
	}
	wantCode(t, c.CreateIndex(project, "idx", idx), 400, "IndexAlreadyExist")
	got, err := c.GetIndex(project, "idx")
	if err != nil || got.Keys["duration_ms"].Type != "long" || !got.Keys["result"].DocValue || got.Line == nil {
		t.Fatalf("get index: %+v, %v", got, err)
	}
	idx.Keys["region"] = sdk.IndexKey{Token: []string{" "}, Type: "text"}
	if err := c.UpdateIndex(project, "idx", idx); err != nil {
		t.Fatalf("update index: %v", err)
	}
	if got, _ := c.GetIndex(project, "idx"); got == nil || len(got.Keys) != 3 {
		t.Fatalf("keys after update: %+v", got)
	}
	bad := sdk.Index{Keys: map[string]sdk.IndexKey{"x": {Type: "blob"}}}
	wantCode(t, c.UpdateIndex(project, "idx", bad), 400, "ParameterInvalid")
	wantCode(t, c.CreateIndex(project, "nope", idx), 404, "LogStoreNotExist")
	if err := c.DeleteIndex(project, "idx"); err != nil {
		t.Fatalf("delete index: %v", err)
	}
	_, err = c.GetIndex(project, "idx")
	wantCode(t, err, 404, "IndexConfigNotExist")
}

func TestDashboards(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client()
	d := sdk.Dashboard{DashboardName: "dr-overview", DisplayName: "DR overview", ChartList: []sdk.Chart{{
		Title: "failures", Type: "bar",
		Search:  sdk.ChartSearch{Logstore: "x", Query: "result: failed | select region, count(1) as n group by region", Start: "-86400s", End: "now"},
		Display: sdk.ChartDisplay{Width: 5, Height: 5, DisplayName: "failures"},
	}}}
	if err := c.CreateDashboard(project, d); err != nil {
		t.Fatalf("create: %v", err)
	}
	wantCode(t, c.CreateDashboard(project, d), 400, "DashboardAlreadyExist")
	got, err := c.GetDashboard(project, "dr-overview")
	if err != nil || got.DisplayName != "DR overview" || len(got.ChartList) != 1 || got.ChartList[0].Search.Query != d.ChartList[0].Search.Query {
		t.Fatalf("get: %+v, %v", got, err)
	}
	_, err = c.GetDashboard(project, "nope")
	wantCode(t, err, 404, "DashboardNotExist")
	names, items, count, total, err := c.ListDashboardV2(project, "", 0, 10)
	if err != nil || !reflect.DeepEqual(names, []string{"dr-overview"}) || count != 1 || total != 1 || items[0].DisplayName != "DR overview" {
		t.Fatalf("list: %v %v %d %d %v", names, items, count, total, err)
	}
	d.Description = "updated"
	if err := c.UpdateDashboard(project, d); err != nil {
		t.Fatalf("update: %v", err)
	}
	if got, _ := c.GetDashboard(project, "dr-overview"); got == nil || got.Description != "updated" {
		t.Fatalf("after update: %+v", got)
	}
	if err := c.DeleteDashboard(project, "dr-overview"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	wantCode(t, c.DeleteDashboard(project, "dr-overview"), 404, "DashboardNotExist")
}

func TestAlerts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client()
	a := &sdk.Alert{
		Name: "backup-failed", DisplayName: "Backup failed",
		Configuration: &sdk.AlertConfiguration{
			Version: "2.0", Type: "default",
			QueryList:              []*sdk.AlertQuery{{Query: "result: failed | select count(1) as failed", Store: "x", StoreType: "log", Start: "-5m", End: "now"}},
			SeverityConfigurations: []*sdk.SeverityConfiguration{{Severity: sdk.High, EvalCondition: sdk.ConditionConfiguration{Condition: "failed > 0"}}},
		},
		Schedule: &sdk.Schedule{Type: sdk.ScheduleTypeFixedRate, Interval: "5m"},
	}
	if err := c.CreateAlert(project, a); err != nil {
		t.Fatalf("create: %v", err)
	}
	wantCode(t, c.CreateAlert(project, a), 400, "JobAlreadyExist")
	wantCode(t, c.CreateAlertString(project, `{"name":"no-config","type":"Alert"}`), 400, "ParameterInvalid")
	got, err := c.GetAlert(project, "backup-failed")
	if err != nil || !got.IsEnabled() || got.Configuration == nil || got.Configuration.QueryList[0].Query != a.Configuration.QueryList[0].Query ||
		got.Schedule.Interval != "5m" || got.CreateTime != t0.Unix() {
		t.Fatalf("get: %+v, %v", got, err)
	}
	_, err = c.GetAlert(project, "nope")
	wantCode(t, err, 404, "JobNotExist")
	if err := c.DisableAlert(project, "backup-failed"); err != nil {
		t.Fatalf("disable: %v", err)
	}
	if got, _ := c.GetAlert(project, "backup-failed"); got == nil || got.IsEnabled() {
		t.Fatalf("still enabled after disable: %+v", got)
	}
	a.Description = "updated"
	if err := c.UpdateAlert(project, a); err != nil {
		t.Fatalf("update: %v", err)
	}
	if got, _ := c.GetAlert(project, "backup-failed"); got == nil || got.Description != "updated" || got.IsEnabled() {
		t.Fatalf("after update (status kept): %+v", got)
	}
	if err := c.EnableAlert(project, "backup-failed"); err != nil {
		t.Fatalf("enable: %v", err)
	}
	alerts, total, count, err := c.ListAlert(project, "", "", 0, 10)
	if err != nil || total != 1 || count != 1 || alerts[0].Name != "backup-failed" || !alerts[0].IsEnabled() {
		t.Fatalf("list: %v %d %d %v", alerts, total, count, err)
	}
	if err := c.DeleteAlert(project, "backup-failed"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	wantCode(t, c.DeleteAlert(project, "backup-failed"), 404, "JobNotExist")
}

// Bodies that are valid JSON but not objects, and unknown job actions, are refused
// without touching the stored document.
func TestDocUpdateBadInput(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client()
	if err := c.CreateDashboard(project, sdk.Dashboard{DashboardName: "dash", DisplayName: "D", ChartList: []sdk.Chart{}}); err != nil {
		t.Fatalf("create dashboard: %v", err)
	}
	for _, body := range []string{"null", "[]", `"dash"`, "42"} {
		wantCode(t, c.UpdateDashboardString(project, "dash", body), 400, "PostBodyInvalid")
	}
	if got, err := c.GetDashboard(project, "dash"); err != nil || got.DisplayName != "D" {
		t.Fatalf("dashboard after refused updates: %+v, %v", got, err)
	}

	a := &sdk.Alert{Name: "al", Configuration: &sdk.AlertConfiguration{Version: "2.0", Type: "default"},
		Schedule: &sdk.Schedule{Type: sdk.ScheduleTypeFixedRate, Interval: "5m"}}
	if err := c.CreateAlert(project, a); err != nil {
		t.Fatalf("create alert: %v", err)
	}
	f.env.Clock.Advance(time.Hour)
	status, body, _ := f.rawDo(t, "", "PUT", "/jobs/al?action=pause", nil, nil)
	if status != 400 || !strings.Contains(body, `"errorCode":"ParameterInvalid"`) {
		t.Fatalf("unknown action: %d %s", status, body)
	}
	got, err := c.GetAlert(project, "al")
	if err != nil || got.LastModifiedTime != t0.Unix() || !got.IsEnabled() {
		t.Fatalf("alert after a refused action: %+v, %v (want lastModifiedTime %d, enabled)", got, err, t0.Unix())
	}
}
