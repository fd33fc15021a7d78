package sls_test

import (
	"strings"
	"testing"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	localsls "github.com/ecsdr/ecs-image-dr/pkg/localcloud/sls"
)

// Append is FC's in-process log collection: records land in order, readable like PutLogs'
// (and through GetLogs), and missing stores, bad keys and injected faults are refused.
func TestAppend(t *testing.T) {
	f := newFixture(t)
	f.mustLogstore(t, "fc-logs")
	recs := []localsls.Record{
		{Time: t0, Topic: "fn", Source: "c-1", Contents: map[string]string{"msg": "invocation started", "request_id": "r1"}},
		{Time: t0, Topic: "fn", Source: "c-1", Contents: map[string]string{"message": "FC Invoke End RequestId: r1"}},
	}
	if err := f.svc.Append(project, "fc-logs", recs); err != nil {
		t.Fatal(err)
	}
	recs[0].Contents["msg"] = "mutated after Append" // the store keeps its own copy
	got := f.svc.Logs(project, "fc-logs")
	if len(got) != 2 || got[0].Contents["msg"] != "invocation started" || got[1].Contents["message"] != "FC Invoke End RequestId: r1" || got[0].Topic != "fn" {
		t.Fatalf("stored %+v", got)
	}
	for _, tc := range []struct {
		name, project, logstore string
		recs                    []localsls.Record
		want                    string
	}{
		{"no project", "nope", "fc-logs", recs, "ProjectNotExist"},
		{"no logstore", project, "nope", recs, "LogStoreNotExist"},
		{"empty key", project, "fc-logs", []localsls.Record{{Contents: map[string]string{"": "x"}}}, "empty key"},
	} {
		if err := f.svc.Append(tc.project, tc.logstore, tc.recs); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
	f.env.Faults.Set("sls", localsls.CollectAction, core.FaultRule{ErrorRate: 1, ErrorStatus: 500})
	if err := f.svc.Append(project, "fc-logs", recs); err == nil {
		t.Error("Append ignored an injected collection fault")
	}
	if n := len(f.svc.Logs(project, "fc-logs")); n != 2 {
		t.Errorf("%d records after refused appends, want 2", n)
	}
}
