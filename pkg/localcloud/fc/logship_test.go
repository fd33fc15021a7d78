package fc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

// memLogs is a LogStore that keeps what it is given, per project/logstore.
type memLogs struct {
	mu      sync.Mutex
	entries map[string][]LogEntry
	fail    error
}

func (m *memLogs) AppendLogs(project, logstore string, es []LogEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	if m.entries == nil {
		m.entries = map[string][]LogEntry{}
	}
	m.entries[project+"/"+logstore] = append(m.entries[project+"/"+logstore], es...)
	return nil
}

func (m *memLogs) get(key string) []LogEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]LogEntry(nil), m.entries[key]...)
}

// onceEach checks that every want line reached the logstore exactly once for request id:
// a line missing (lost on the kill) or stored twice is reported.
func onceEach(entries []LogEntry, requestID string, want map[string]func(map[string]string) bool) error {
	var errs []error
	for name, match := range want {
		n := 0
		for _, e := range entries {
			if e.Contents["requestId"] == requestID && match(e.Contents) {
				n++
			}
		}
		if n != 1 {
			errs = append(errs, fmt.Errorf("%s: %d entries of request %s, want exactly 1", name, n, requestID))
		}
	}
	return errors.Join(errs...)
}

func TestLogCollectionKeepsLinesOfKilledInvocations(t *testing.T) {
	t.Parallel()
	env := core.NewEnv(core.NewManualClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)), nil)
	logs := &memLogs{}
	rt := New(env, Options{Logs: logs, StopGrace: 500 * time.Millisecond})
	t.Cleanup(func() { _ = rt.Close() })
	collected := spec("collected")
	collected.Timeout = time.Second
	collected.Log = LogConfig{Project: "proj", Logstore: "store"}
	if err := rt.Deploy(collected); err != nil {
		t.Fatal(err)
	}
	if err := rt.Deploy(spec("uncollected")); err != nil {
		t.Fatal(err)
	}

	// The start record is a JSON line; the function then hangs and the runtime kills it at
	// the timeout, or it exits mid-invocation.
	start := `{\"level\":\"INFO\",\"action\":\"start\",\"attempt\":2}`
	cases := []struct {
		event      string
		wantStatus Status
	}{
		{`{"action":"hang","say":"` + start + `"}`, StatusTimeout},
		{`{"action":"exit","code":3,"say":"` + start + `"}`, StatusCrash},
	}
	for _, tc := range cases {
		inv := invoke(t, rt, "collected", tc.event)
		if inv.Status != tc.wantStatus {
			t.Fatalf("status %s, want %s (%s)", inv.Status, tc.wantStatus, inv.ErrorMessage)
		}
		entries := logs.get("proj/store")
		want := map[string]func(map[string]string) bool{
			"start record (stdout JSON)": func(c map[string]string) bool {
				return c["action"] == "start" && c["attempt"] == "2" && c["level"] == "INFO" &&
					c["stream"] == "stdout" && c["functionName"] == "collected" && c["instanceID"] == inv.InstanceID && c["message"] == ""
			},
			"stderr line (not JSON)": func(c map[string]string) bool {
				return c["stream"] == "stderr" && strings.HasPrefix(c["message"], "stderr: {") && c["action"] == ""
			},
		}
		if err := onceEach(entries, inv.RequestID, want); err != nil {
			t.Errorf("%s invocation: %v\nentries: %+v", tc.wantStatus, err, entries)
		}
		// The check fails when a line is stored twice or lost.
		if onceEach(append(entries, entries...), inv.RequestID, want) == nil {
			t.Error("onceEach accepts duplicated entries")
		}
		if onceEach(nil, inv.RequestID, want) == nil {
			t.Error("onceEach accepts lost entries")
		}
		for _, e := range entries {
			if e.Topic != "collected" || e.Source == "" || e.Time.IsZero() {
				t.Errorf("entry lacks topic, source or time: %+v", e)
			}
		}
	}

	// A function without a logConfig is not collected.
	invoke(t, rt, "uncollected", `{"say":"not collected"}`)
	logs.mu.Lock()
	all := logs.entries
	logs.mu.Unlock()
	for key, es := range all {
		for _, e := range es {
			if e.Topic == "uncollected" {
				t.Errorf("%s holds an entry of a function without logConfig: %+v", key, e)
			}
		}
	}

	// A logstore refusing entries does not fail the invocation (FC's collection is out
	// of band): the function still answers.
	logs.mu.Lock()
	logs.fail = errors.New("LogStoreNotExist")
	logs.mu.Unlock()
	if inv, err := rt.Invoke(context.Background(), "collected", []byte(`{"say":"x"}`)); err != nil || inv.Status != StatusOK {
		t.Errorf("invoke with a failing logstore: %v %s", err, inv.Status)
	}
}

func TestRuntimeMarker(t *testing.T) {
	for line, want := range map[string]string{
		"FC Invoke Start RequestId: A-1":                                "A-1",
		"FC Invoke End RequestId: A-1":                                  "A-1",
		"FC Invoke End RequestId: A-2, Error: Unhandled function error": "A-2",
		"FC Initialize Start RequestId: B":                              "B",
		"FC Invoke End RequestId: ":                                     "",
		"fc Invoke Start RequestId: A":                                  "",
		`{"msg":"FC Invoke Start RequestId: A"}`:                        "",
		"hello":                                                         "",
	} {
		got, ok := runtimeMarker(line)
		if got != want || ok != (want != "") {
			t.Errorf("runtimeMarker(%q) = %q %v, want %q", line, got, ok, want)
		}
	}
	// The marker's id wins over the instance's current request id.
	c := &collector{fn: "f", inst: "c-1", requestID: "NEXT"}
	if e := c.entry("FC Invoke End RequestId: PREV", "stdout"); e.Contents["requestId"] != "PREV" {
		t.Errorf("End line tagged %q, want PREV", e.Contents["requestId"])
	}
	if e := c.entry("plain", "stdout"); e.Contents["requestId"] != "NEXT" || e.Contents["message"] != "plain" {
		t.Errorf("plain line: %v", e.Contents)
	}
}
