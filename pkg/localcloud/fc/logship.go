package fc

import (
	"encoding/json"
	"strings"
	"time"
)

// LogConfig is FC's logConfig: the SLS project and logstore FC collects the function's
// stdout and stderr into. Empty: the output is not collected.
type LogConfig struct {
	Project, Logstore string
}

// LogEntry is one collected output line, as FC's log collection writes it with
// logBeginRule None: one entry per line.
type LogEntry struct {
	Time   time.Time // when the runtime read the line (wall clock, as the functions log)
	Topic  string    // the function name (__topic__)
	Source string    // the instance id (__source__)
	// Contents: a JSON object line's fields (strings as they are, other values as JSON
	// text), as FC's JSON index makes them queryable, or "message" for any other line;
	// plus FC's own fields where the line has none of that name: functionName,
	// instanceID, qualifier, requestId and stream (stdout or stderr).
	Contents map[string]string
}

// LogStore receives the collected lines: the local SLS, in-process (no network hop, so
// a line the process printed before it was killed is not lost on the way).
type LogStore interface {
	AppendLogs(project, logstore string, entries []LogEntry) error
}

// collector ships an instance's lines to its function's logstore.
type collector struct {
	store     LogStore
	cfg       LogConfig
	fn, inst  string
	warned    bool
	warn      func(err error)
	requestID string // the invocation the instance last received (guarded by output.mu)
}

// entry turns one line into its log entry.
func (c *collector) entry(line, streamName string) LogEntry {
	contents := map[string]string{}
	var obj map[string]any
	if t := strings.TrimSpace(line); strings.HasPrefix(t, "{") && json.Unmarshal([]byte(t), &obj) == nil {
		for k, v := range obj {
			if k == "" {
				continue
			}
			if s, ok := v.(string); ok {
				contents[k] = s
				continue
			}
			b, _ := json.Marshal(v)
			contents[k] = string(b)
		}
	} else {
		contents["message"] = line
	}
	reqID := c.requestID
	if id, ok := runtimeMarker(line); ok {
		// The SDK's own "FC Invoke Start/End RequestId: X" names its request: an End line
		// read after the next invocation was handed over still belongs to X.
		reqID = id
	}
	fcFields := map[string]string{
		"functionName": c.fn, "instanceID": c.inst, "qualifier": "LATEST",
		"requestId": reqID, "stream": streamName,
	}
	for k, v := range fcFields {
		if _, taken := contents[k]; !taken && v != "" {
			contents[k] = v
		}
	}
	return LogEntry{Time: time.Now(), Topic: c.fn, Source: c.inst, Contents: contents}
}

// ship writes one line; the caller holds output.mu, so lines keep their order.
func (c *collector) ship(line, streamName string) {
	if err := c.store.AppendLogs(c.cfg.Project, c.cfg.Logstore, []LogEntry{c.entry(line, streamName)}); err != nil {
		if !c.warned && c.warn != nil {
			c.warned = true
			c.warn(err)
		}
	}
}

// runtimeMarker returns the request id of a line fc-runtime-go-sdk prints around each
// invocation: "FC Invoke Start RequestId: X", "FC Invoke End RequestId: X[, Error: ...]"
// (also Initialize, PreStop, PreFreeze).
func runtimeMarker(line string) (string, bool) {
	rest, ok := strings.CutPrefix(line, "FC ")
	if !ok {
		return "", false
	}
	_, after, ok := strings.Cut(rest, " RequestId: ")
	if !ok {
		return "", false
	}
	id, _, _ := strings.Cut(after, ",")
	id = strings.TrimSpace(id)
	return id, id != "" && !strings.ContainsAny(id, " \t")
}
