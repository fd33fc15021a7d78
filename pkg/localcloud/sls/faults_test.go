package sls_test

import (
	"strings"
	"testing"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

func TestFaults(t *testing.T) {
	t.Parallel()
	t.Run("throttled write", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		f.mustLogstore(t, "flt")
		f.env.Faults.Set("sls", "PutLogs", core.FaultRule{QPS: 1})
		c := f.client()
		if err := c.PutLogs(project, "flt", logGroup("", "", []string{"n", "1"})); err != nil {
			t.Fatalf("first put: %v", err)
		}
		// The manual clock stands still, so the second call is in the same second.
		wantCode(t, c.PutLogs(project, "flt", logGroup("", "", []string{"n", "2"})), 403, "WriteQuotaExceed")
		if n := len(f.svc.Logs(project, "flt")); n != 1 {
			t.Fatalf("stored %d logs, want 1", n)
		}
	})
	t.Run("throttled read", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		f.mustLogstore(t, "flt")
		f.env.Faults.Set("sls", "GetLogs", core.FaultRule{QPS: 1})
		c := f.client()
		if _, err := c.GetLogs(project, "flt", "", 0, 1, "*", 10, 0, false); err != nil {
			t.Fatalf("first get: %v", err)
		}
		_, err := c.GetLogs(project, "flt", "", 0, 1, "*", 10, 0, false)
		wantCode(t, err, 403, "ReadQuotaExceed")
	})
	t.Run("injected 4xx code", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		f.env.Faults.Set("sls", "*", core.FaultRule{FailNext: 1, ErrorStatus: 403, ErrorCode: "ProjectForbidden"})
		_, err := f.client().ListLogStore(project)
		wantCode(t, err, 403, "ProjectForbidden")
		if _, err := f.client().ListLogStore(project); err != nil {
			t.Fatalf("fault should be spent: %v", err)
		}
	})
	t.Run("503 on the wire", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		f.env.Faults.Set("sls", "ListLogStore", core.FaultRule{FailNext: 1})
		status, body, hdr := f.rawDo(t, "", "GET", "/logstores", map[string]string{"x-log-bodyrawsize": "0"}, nil)
		if status != 503 || !strings.Contains(body, `"errorCode":"ServerBusy"`) || hdr.Get("x-log-requestid") == "" {
			t.Fatalf("got %d %s", status, body)
		}
		f.env.Faults.Set("sls", "ListLogStore", core.FaultRule{FailNext: 1, ErrorStatus: 500})
		status, body, _ = f.rawDo(t, "", "GET", "/logstores", map[string]string{"x-log-bodyrawsize": "0"}, nil)
		if status != 500 || !strings.Contains(body, `"errorCode":"InternalServerError"`) {
			t.Fatalf("got %d %s", status, body)
		}
	})
	t.Run("503 is retried by the SDK", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		f.mustLogstore(t, "flt")
		f.env.Faults.Set("sls", "PutLogs", core.FaultRule{FailNext: 1})
		before := f.requests.Load()
		if err := f.client().PutLogs(project, "flt", logGroup("", "", []string{"n", "1"})); err != nil {
			t.Fatalf("put after one 503: %v", err)
		}
		if n := f.requests.Load() - before; n != 2 {
			t.Fatalf("requests = %d, want 2 (one 503, one retry)", n)
		}
		if n := len(f.svc.Logs(project, "flt")); n != 1 {
			t.Fatalf("stored %d logs, want 1", n)
		}
	})
}

func TestUnknownRoute(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	status, body, _ := f.rawDo(t, "", "GET", "/machinegroups", map[string]string{"x-log-bodyrawsize": "0"}, nil)
	if status != 404 || !strings.Contains(body, "NotSupported") || !strings.Contains(body, "/machinegroups") {
		t.Fatalf("got %d %s", status, body)
	}
}
