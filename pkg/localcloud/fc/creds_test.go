package fc

import (
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/testutil"
)

// With ReuseCredentials a warm instance's invocations get the role credentials of its
// environment, as FC passes the credentials it assumed for the role; near their expiry the
// instance is replaced and the next invocation has new ones.
func TestReuseCredentialsOnAWarmInstance(t *testing.T) {
	t.Parallel()
	clock := core.NewManualClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	t.Cleanup(clock.Close)
	env := core.NewEnv(clock, nil)
	rt := New(env, Options{Stdout: &testutil.Buffer{}, StopGrace: 500 * time.Millisecond,
		CredentialTTL: time.Hour, ReuseCredentials: true})
	t.Cleanup(func() { _ = rt.Close() })
	s := spec("echo-fn")
	s.Role = "acs:ram::" + core.DefaultAccountID + ":role/ecs-image-backup-fc"
	if err := rt.Deploy(s); err != nil {
		t.Fatal(err)
	}
	e1 := decodeEcho(t, invoke(t, rt, "echo-fn", `{"action":"echo"}`))
	e2 := decodeEcho(t, invoke(t, rt, "echo-fn", `{"action":"echo"}`))
	if e1.PID != e2.PID {
		t.Fatalf("second invocation not warm: pid %d then %d", e1.PID, e2.PID)
	}
	if e1.AccessKeyID == "" || e2.AccessKeyID != e1.AccessKeyID || e1.AccessKeyID != e1.Env["ALIBABA_CLOUD_ACCESS_KEY_ID"] {
		t.Errorf("warm invocations got %q then %q, environment %q: want the instance's credentials each time",
			e1.AccessKeyID, e2.AccessKeyID, e1.Env["ALIBABA_CLOUD_ACCESS_KEY_ID"])
	}
	if _, err := env.Creds.Lookup(e2.AccessKeyID, e2.SecurityToken); err != nil {
		t.Errorf("reused credentials not valid: %v", err)
	}
	clock.Advance(time.Hour - s.Timeout) // less than timeout + 1 min left
	e3 := decodeEcho(t, invoke(t, rt, "echo-fn", `{"action":"echo"}`))
	if e3.PID == e1.PID || e3.AccessKeyID == e1.AccessKeyID {
		t.Errorf("credentials near expiry: pid %d key %q, want a new instance with new credentials", e3.PID, e3.AccessKeyID)
	}
}
