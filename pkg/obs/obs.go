// Package obs is the functions' structured logging: log/slog records written as JSON lines
// to stdout (which FC collects) and, when an SLS project is configured, buffered and sent
// to a logstore with PutLogs when the handler calls Sink.Flush.
//
// Contract: one record per decision and per cloud call outcome, using the Key* attribute
// names (and the Action*/Result* values) below, so the logstore index, the dashboard and
// the alert made by Provision can query them. Logging never fails a backup: Flush
// reports its errors on stdout and returns them for the caller to ignore.
package obs

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/redact"
)

// Attribute keys every function uses.
const (
	KeyFunction    = "function"     // create-image, copy-image, cleanup
	KeyRequestID   = "request_id"   // FC invocation request id
	KeyPolicy      = "policy"       // policy name
	KeyAction      = "action"       // one of the Action* values
	KeyRegion      = "region"       // region the action is about
	KeyInstance    = "instance"     // ECS instance id
	KeyImage       = "image"        // image id (created, copied, deleted)
	KeySourceImage = "source_image" // source image id of a copy
	KeyResult      = "result"       // one of the Result* values
	KeyErrorCode   = "error_code"   // provider error code (Throttling.User, QuotaExceed.Image...)
	KeyDuration    = "duration_ms"  // integer milliseconds; see DurationMS
)

// Values of KeyAction that the dashboard counts (the ones pkg/backup writes; it also
// writes keep, skip, reject and catalog, which the dashboard does not chart).
const (
	ActionCreateImage = "create"
	ActionCopyImage   = "copy"
	ActionDeleteImage = "delete"
)

// Values of KeyResult. The alert fires on ResultFailed.
const (
	ResultOK      = "ok"
	ResultFailed  = "failed"
	ResultSkipped = "skipped"
)

// Keys of the fixed contents every SLS log carries besides the attributes.
const (
	ContentTime  = "time"  // RFC 3339 with nanoseconds, UTC
	ContentLevel = "level" // DEBUG, INFO, WARN, ERROR
	ContentMsg   = "msg"
)

// DurationMS is the KeyDuration attribute for d, in whole milliseconds (the index types
// it long, so it must be an integer, not Duration's "1.5s").
func DurationMS(d time.Duration) slog.Attr { return slog.Int64(KeyDuration, d.Milliseconds()) }

// redacted replaces the value of attributes whose key looks like a credential, on stdout
// and in SLS alike. ClientToken-style keys (idempotency tokens) are not secrets and stay.
const redacted = "[REDACTED]"

func isSecretKey(key string) bool {
	k := strings.ToLower(key)
	for _, s := range []string{"secret", "password", "passwd", "security_token", "securitytoken", "sts_token", "authorization", "credential"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// New returns a logger writing JSON lines at level and above to w and, when
// cfg.Project != "", buffering each record for SLS; call Sink.Flush before the handler
// returns. The Sink is never nil (without a project its Flush does nothing). On a bad
// cfg, New still returns a working stdout-only logger and a no-op Sink with the error, so
// a caller may log the problem and carry on.
func New(w io.Writer, level slog.Leveler, cfg SLSConfig) (*slog.Logger, *Sink, error) {
	// Redaction by value: whatever an error or a message carries, the invocation's own
	// credentials never reach stdout or SLS (redaction by key and by shape catch the rest).
	secrets := redact.NewSecrets(append([]string{cfg.AccessKeyID, cfg.AccessKeySecret, cfg.SecurityToken}, cfg.Redact...)...)
	out := slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if isSecretKey(a.Key) {
				return slog.String(a.Key, redacted)
			}
			return scrubAttr(secrets, a)
		},
	})
	sink, err := newSink(cfg, out)
	if err != nil {
		return slog.New(out), &Sink{}, err
	}
	h := &handler{out: out, level: level, secrets: secrets}
	if sink.client != nil {
		h.sink = sink
	}
	return slog.New(h), sink, nil
}

// scrubAttr removes credentials from a value on its way to stdout: strings and errors by
// shape and value; other values (structs, slices) through their JSON form.
func scrubAttr(secrets *redact.Secrets, a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, secrets.Scrub(v.String()))
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, secrets.Scrub(x.Error()))
		case fmt.Stringer:
			return slog.String(a.Key, secrets.Scrub(x.String()))
		case []byte:
			return slog.String(a.Key, secrets.Scrub(string(x)))
		default:
			b, err := json.Marshal(x)
			if err != nil {
				return slog.String(a.Key, secrets.Scrub(fmt.Sprint(x)))
			}
			return slog.Any(a.Key, json.RawMessage(secrets.Scrub(string(b))))
		}
	}
	return a
}

// handler tees records to the JSON handler and the sink.
type handler struct {
	out     slog.Handler
	secrets *redact.Secrets
	sink    *Sink
	level   slog.Leveler
	prefix  string    // open groups, "a.b."
	attrs   []content // WithAttrs, already flattened
}

type content struct{ k, v string }

func (h *handler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	err := h.out.Handle(ctx, r)
	if h.sink == nil {
		return err
	}
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	cs := make([]content, 0, 3+len(h.attrs)+r.NumAttrs())
	cs = append(cs,
		content{ContentTime, t.UTC().Format(time.RFC3339Nano)},
		content{ContentLevel, r.Level.String()},
		content{ContentMsg, h.secrets.Scrub(r.Message)},
	)
	cs = append(cs, h.attrs...)
	n := len(cs)
	r.Attrs(func(a slog.Attr) bool {
		cs = flatten(cs, h.prefix, a)
		return true
	})
	for i := n; i < len(cs); i++ {
		cs[i].v = h.secrets.Scrub(cs[i].v)
	}
	h.sink.add(t, cs)
	return err
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.out = h.out.WithAttrs(as)
	c.attrs = append([]content(nil), h.attrs...)
	n := len(c.attrs)
	for _, a := range as {
		c.attrs = flatten(c.attrs, h.prefix, a)
	}
	for i := n; i < len(c.attrs); i++ {
		c.attrs[i].v = h.secrets.Scrub(c.attrs[i].v)
	}
	return &c
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.out = h.out.WithGroup(name)
	c.prefix = h.prefix + name + "."
	return &c
}

// flatten appends a as SLS contents: groups become dotted keys ("a.b"), empty groups and
// empty attributes vanish, as slog's own handlers do. An attribute with an empty key is
// left out: SLS refuses a content without a key, and that would lose the whole batch.
func flatten(dst []content, prefix string, a slog.Attr) []content {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return dst
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p = prefix + a.Key + "."
		}
		for _, g := range a.Value.Group() {
			dst = flatten(dst, p, g)
		}
		return dst
	}
	if a.Key == "" {
		return dst
	}
	if isSecretKey(a.Key) {
		return append(dst, content{prefix + a.Key, redacted})
	}
	return append(dst, content{prefix + a.Key, valueString(a.Value)})
}

func valueString(v slog.Value) string {
	switch v.Kind() {
	case slog.KindString:
		return v.String()
	case slog.KindTime:
		return v.Time().UTC().Format(time.RFC3339Nano)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return x.Error()
		case fmt.Stringer:
			return x.String()
		case []byte:
			return string(x)
		default:
			if b, err := json.Marshal(x); err == nil {
				return string(b)
			}
			return fmt.Sprint(x)
		}
	}
	return v.String() // ints, floats, bools, durations
}
