package obs_test

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	sdk "github.com/aliyun/aliyun-log-go-sdk"
	"google.golang.org/protobuf/proto"

	localsls "github.com/ecsdr/ecs-image-dr/pkg/localcloud/sls"
	"github.com/ecsdr/ecs-image-dr/pkg/obs"
)

// queriesNow is the test's "now": every alert and chart window ends here.
var queriesNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

type rec struct {
	ago time.Duration
	kv  []string
}

func fail(ago time.Duration, function, region, code string) rec {
	return rec{ago, []string{obs.KeyFunction, function, obs.KeyRegion, region, obs.KeyErrorCode, code,
		obs.KeyResult, obs.ResultFailed, obs.KeyAction, "create", obs.KeyInstance, "i-" + function, obs.ContentMsg, "operation failed"}}
}

func done(ago time.Duration, function, result string) rec {
	return rec{ago, []string{obs.KeyFunction, function, obs.KeyResult, result, obs.ContentMsg, "invocation done", obs.KeyDuration, "1200"}}
}

func put(t *testing.T, c sdk.ClientInterface, logstore string, recs ...rec) {
	t.Helper()
	lg := &sdk.LogGroup{Topic: proto.String("dr"), Source: proto.String("fc")}
	for _, r := range recs {
		l := &sdk.Log{Time: proto.Uint32(uint32(queriesNow.Add(-r.ago).Unix()))}
		for i := 0; i < len(r.kv); i += 2 {
			l.Contents = append(l.Contents, &sdk.LogContent{Key: proto.String(r.kv[i]), Value: proto.String(r.kv[i+1])})
		}
		lg.Logs = append(lg.Logs, l)
	}
	if err := c.PutLogs(proj, logstore, lg); err != nil {
		t.Fatalf("put logs: %v", err)
	}
}

// run runs a provisioned query over its relative window ("-15m" .. "now") through the SDK.
func run(t *testing.T, c sdk.ClientInterface, logstore, start, query string) []map[string]string {
	t.Helper()
	d, err := time.ParseDuration(start)
	if err != nil || d >= 0 {
		t.Fatalf("window start %q: %v", start, err)
	}
	resp, err := c.GetLogs(proj, logstore, "", queriesNow.Add(d).Unix(), queriesNow.Unix(), query, 100, 0, false)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	if !resp.HasSQL {
		t.Fatalf("%s: the reply is not an analytic result", query)
	}
	return resp.Logs
}

// sortRows orders rows by their printed form, for queries without order by.
func sortRows(rows []map[string]string) []map[string]string {
	slices.SortFunc(rows, func(a, b map[string]string) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	return rows
}

// TestProvisionedQueriesReturnExpectedRows provisions the dashboard and the three alerts
// on the local SLS, writes records, reads the queries back from SLS and runs each of
// them through the SDK's GetLogs over its own window.
func TestProvisionedQueriesReturnExpectedRows(t *testing.T) {
	t.Parallel()
	l := newLocalSLS(t)
	c := localsls.NewSDKClient(l.addr, cred())
	const ls = "dr-ops"
	cfg := obs.ProvisionConfig{Project: proj, Logstore: ls, Region: "cn-hangzhou"}
	if _, err := obs.Provision(c, cfg); err != nil {
		t.Fatal(err)
	}
	put(t, c, ls,
		// failed operations: in the 15-minute window, and one older that the alert must not count
		fail(2*time.Minute, "create-image", "cn-hangzhou", "QuotaExceed.Image"),
		fail(5*time.Minute, "create-image", "cn-hangzhou", "QuotaExceed.Image"),
		fail(6*time.Minute, "copy-image", "cn-shanghai", "Throttling.User"),
		fail(7*time.Minute, "copy-image", "cn-hangzhou", "Throttling.User"),
		fail(40*time.Minute, "copy-image", "cn-beijing", "Forbidden.RAM"),
		// successful runs of create-image and copy-image; cleanup only failed lately and
		// succeeded 27 hours ago, outside the 26-hour heartbeat window
		done(3*time.Hour, "create-image", obs.ResultOK),
		done(20*time.Hour, "copy-image", obs.ResultOK),
		done(25*time.Hour, "copy-image", obs.ResultOK),
		done(time.Hour, "cleanup", obs.ResultFailed),
		done(27*time.Hour, "cleanup", obs.ResultOK),
		done(5*time.Hour, "rds-offsite", obs.ResultOK),
		done(10*time.Minute, "dr-drill", obs.ResultOK),
		done(20*time.Minute, "dr-drill", obs.ResultOK),
		// RPO monitor: two instances in breach (one twice), one fine, one breach too old
		rec{10 * time.Minute, []string{obs.KeyAction, "rpo", obs.KeyResult, "breach", obs.KeyInstance, "i-1"}},
		rec{70 * time.Minute, []string{obs.KeyAction, "rpo", obs.KeyResult, "breach", obs.KeyInstance, "i-1"}},
		rec{20 * time.Minute, []string{obs.KeyAction, "rpo", obs.KeyResult, "breach", obs.KeyInstance, "i-2"}},
		rec{20 * time.Minute, []string{obs.KeyAction, "rpo", obs.KeyResult, obs.ResultOK, obs.KeyInstance, "i-3"}},
		rec{3 * time.Hour, []string{obs.KeyAction, "rpo", obs.KeyResult, "breach", obs.KeyInstance, "i-4"}},
		// images created on two days
		rec{time.Hour, []string{obs.KeyAction, obs.ActionCreateImage, obs.KeyResult, obs.ResultOK, obs.KeyImage, "m-1"}},
		rec{2 * time.Hour, []string{obs.KeyAction, obs.ActionCreateImage, obs.KeyResult, obs.ResultOK, obs.KeyImage, "m-2"}},
		rec{36 * time.Hour, []string{obs.KeyAction, obs.ActionCreateImage, obs.KeyResult, obs.ResultOK, obs.KeyImage, "m-3"}},
		rec{36 * time.Hour, []string{obs.KeyAction, obs.ActionCreateImage, obs.KeyResult, obs.ResultFailed, obs.KeyImage, "m-4"}},
		rec{3 * time.Hour, []string{obs.KeyAction, obs.ActionCopyImage, obs.KeyResult, obs.ResultOK, obs.KeyImage, "m-5"}},
		rec{50 * time.Hour, []string{obs.KeyAction, obs.ActionDeleteImage, obs.KeyResult, obs.ResultOK, obs.KeyImage, "m-0"}},
		rec{50 * time.Hour, []string{obs.KeyAction, obs.ActionDeleteImage, obs.KeyResult, obs.ResultSkipped, obs.KeyImage, "m-9"}},
	)

	alert := func(name string) *sdk.AlertQuery {
		t.Helper()
		a, err := c.GetAlert(proj, name)
		if err != nil || len(a.Configuration.QueryList) != 1 {
			t.Fatalf("alert %s: %+v, %v", name, a, err)
		}
		return a.Configuration.QueryList[0]
	}

	wantFailed := sortRows([]map[string]string{
		{obs.KeyFunction: "create-image", obs.KeyRegion: "cn-hangzhou", obs.KeyErrorCode: "QuotaExceed.Image", "failed": "2"},
		{obs.KeyFunction: "copy-image", obs.KeyRegion: "cn-shanghai", obs.KeyErrorCode: "Throttling.User", "failed": "1"},
		{obs.KeyFunction: "copy-image", obs.KeyRegion: "cn-hangzhou", obs.KeyErrorCode: "Throttling.User", "failed": "1"},
	})
	t.Run("failed alert: one row per function, region and error code", func(t *testing.T) {
		q := alert(ls + "-backup-failed")
		got := sortRows(run(t, c, ls, q.Start, q.Query))
		if !reflect.DeepEqual(got, wantFailed) {
			t.Fatalf("got %v\nwant %v", got, wantFailed)
		}
	})

	t.Run("the checks fail on a wrong query", func(t *testing.T) {
		q := alert(ls + "-backup-failed")
		// grouped without the error code: the rows no longer match
		wrong := strings.Replace(q.Query, ", "+obs.KeyErrorCode+", count(1)", ", count(1)", 1)
		wrong = strings.Replace(wrong, "group by "+obs.KeyFunction+", "+obs.KeyRegion+", "+obs.KeyErrorCode, "group by "+obs.KeyFunction+", "+obs.KeyRegion, 1)
		if wrong == q.Query {
			t.Fatal("the wrong failed query is the provisioned one")
		}
		if got := sortRows(run(t, c, ls, q.Start, wrong)); reflect.DeepEqual(got, wantFailed) {
			t.Fatalf("wrong failed query passes the check: %v", got)
		}
		// a heartbeat that forgets result: ok counts the failed cleanup run as alive
		hb := alert(ls + "-heartbeat-missing")
		wrong = strings.Replace(hb.Query, " and "+obs.KeyResult+": "+obs.ResultOK, "", 1)
		if wrong == hb.Query {
			t.Fatal("the wrong heartbeat query is the provisioned one")
		}
		rows := run(t, c, ls, hb.Start, wrong)
		if silent := silentFunctions(rows[0]); len(silent) != 0 {
			t.Fatalf("wrong heartbeat query: silent %v, want none (the check would miss cleanup)", silent)
		}
	})

	t.Run("heartbeat alert names exactly the function without a successful run", func(t *testing.T) {
		q := alert(ls + "-heartbeat-missing")
		got := run(t, c, ls, q.Start, q.Query)
		want := []map[string]string{{"create_ok": "1", "copy_ok": "2", "cleanup_ok": "0", "offsite_ok": "1", "drill_ok": "2"}}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		if silent := silentFunctions(got[0]); !reflect.DeepEqual(silent, []string{"cleanup"}) {
			t.Fatalf("silent functions %v, want [cleanup]", silent)
		}
	})

	t.Run("RPO alert counts distinct instances in breach", func(t *testing.T) {
		q := alert(ls + "-rpo-missed")
		got := run(t, c, ls, q.Start, q.Query)
		if want := []map[string]string{{"instances": "2"}}; !reflect.DeepEqual(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})

	d, err := c.GetDashboard(proj, cfg.Logstore+"-overview")
	if err != nil {
		t.Fatal(err)
	}
	ts := func(ago time.Duration) string {
		return queriesNow.Add(-ago).UTC().Format("2006-01-02 15:04:05.000")
	}
	today, yesterday := queriesNow.Truncate(24*time.Hour), queriesNow.Add(-36*time.Hour).Truncate(24*time.Hour)
	twoDaysAgo := queriesNow.Add(-50 * time.Hour).Truncate(24 * time.Hour)
	day := func(t time.Time) string { return t.Format("2006-01-02 15:04:05.000") }
	wantCharts := map[string][]map[string]string{
		"Failures by region (24h)": {
			{obs.KeyRegion: "cn-hangzhou", "failures": "3"}, // two QuotaExceed, one Throttling
			{obs.KeyRegion: "cn-beijing", "failures": "1"},
			{obs.KeyRegion: "cn-shanghai", "failures": "1"},
			{obs.KeyRegion: "null", "failures": "1"}, // the failed cleanup run has no region
		},
		"Images created per day": {{"day": day(yesterday), "images": "1"}, {"day": day(today), "images": "2"}},
		"Images copied per day":  {{"day": day(today), "images": "1"}},
		"Images deleted per day": {{"day": day(twoDaysAgo), "images": "1"}},
	}
	for _, ch := range d.ChartList {
		t.Run("chart "+ch.Title, func(t *testing.T) {
			got := run(t, c, ls, ch.Search.Start, ch.Search.Query)
			if ch.Title == "Latest failures" {
				// newest first, within 24 hours (the failed create 36 hours ago is not)
				wantTimes := []string{ts(2 * time.Minute), ts(5 * time.Minute), ts(6 * time.Minute), ts(7 * time.Minute), ts(40 * time.Minute), ts(time.Hour)}
				var times []string
				for _, r := range got {
					times = append(times, r["at"])
				}
				if !reflect.DeepEqual(times, wantTimes) || got[0][obs.KeyErrorCode] != "QuotaExceed.Image" || got[0][obs.ContentMsg] != "operation failed" {
					t.Fatalf("got %v, want times %v", got, wantTimes)
				}
				return
			}
			want, ok := wantCharts[ch.Title]
			if !ok {
				t.Fatalf("chart %q has no expectation", ch.Title)
			}
			if ch.Title == "Failures by region (24h)" {
				// order by failures desc; ties in any order
				if len(got) != len(want) || !reflect.DeepEqual(got[0], want[0]) || !reflect.DeepEqual(sortRows(got[1:]), want[1:]) {
					t.Fatalf("got %v, want %v", got, want)
				}
				return
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
	}
	if len(d.ChartList) != 5 {
		t.Fatalf("dashboard has %d charts, want 5", len(d.ChartList))
	}
}

// silentFunctions evaluates the heartbeat alert's condition per function: the ones
// whose count of successful runs is below 1.
func silentFunctions(row map[string]string) []string {
	var out []string
	for _, f := range []struct{ name, col string }{{"create-image", "create_ok"}, {"copy-image", "copy_ok"}, {"cleanup", "cleanup_ok"},
		{"rds-offsite", "offsite_ok"}, {"dr-drill", "drill_ok"}} {
		if n, err := strconv.Atoi(row[f.col]); err != nil || n < 1 {
			out = append(out, f.name)
		}
	}
	return out
}
