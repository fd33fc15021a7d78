package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/testutil"
)

func warmHandler(t *testing.T) *Handler {
	t.Helper()
	env := map[string]string{EnvECSEndpoint: "127.0.0.1:1", EnvECSScheme: "HTTP", EnvOSSEndpoint: "http://127.0.0.1:1",
		EnvPolicy: "oss://bucket/policy.yaml"}
	return New(CopyImage, func(k string) string { return env[k] }, &testutil.Buffer{})
}

// A warm instance keeps its clients while FC hands it the same credentials, builds new
// ones when they rotate (the new ones sign with the new credentials), and keeps only the
// current and the previous set.
func TestWarmClientsFollowTheCredentials(t *testing.T) {
	t.Parallel()
	h := warmHandler(t)
	a := Credentials{"STS.a", "secret-a", "token-a"}
	b := Credentials{"STS.b", "secret-b", "token-b"}
	c := Credentials{"STS.c", "secret-c", "token-c"}
	ca, err := h.clientsFor(a)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := h.clientsFor(a); again != ca {
		t.Error("same credentials: the clients were built again")
	}
	sa, err := ca.store("http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := ca.store("http://127.0.0.1:1"); again != sa {
		t.Error("same endpoint: the OSS client was built again")
	}
	cb, _ := h.clientsFor(b)
	if cb == ca || cb.creds != b {
		t.Fatalf("rotated credentials: got the clients of %q", cb.creds.AccessKeyID)
	}
	if again, _ := h.clientsFor(a); again != ca {
		t.Error("the previous set must stay for an invocation still running with it")
	}
	h.clientsFor(c)
	if len(h.warm.clients) != keptCredentialSets {
		t.Fatalf("kept %d credential sets, want %d", len(h.warm.clients), keptCredentialSets)
	}
	for _, w := range h.warm.clients {
		if w.creds == a {
			t.Error("the oldest set was not let go")
		}
	}
}

// The kept clients pace with the limiter of the invocation whose context a request
// carries; a context without one is not paced.
func TestPaceFromTheInvocationContext(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC)
	var slept time.Duration
	l := ecsx.NewLimiter(ecsx.Limits{"CreateImage": 2}, func() time.Time { return now },
		func(_ context.Context, d time.Duration) error { slept += d; return nil })
	ctx := withPace(context.Background(), l)
	for range 3 {
		if err := paceFrom(ctx, "cn-hangzhou", "CreateImage"); err != nil {
			t.Fatal(err)
		}
	}
	if slept < 900*time.Millisecond {
		t.Errorf("3 calls at 2/s slept %v, want about 1s", slept)
	}
	slept = 0
	for range 3 {
		_ = paceFrom(context.Background(), "cn-hangzhou", "CreateImage")
	}
	if slept != 0 {
		t.Errorf("no limiter in the context, slept %v", slept)
	}
}

// An inline policy is parsed once per instance; one in OSS is read at every invocation
// (an operator's edit applies from the next run); a failure is not kept.
func TestPolicyKeptOnlyWhenItCannotChange(t *testing.T) {
	t.Parallel()
	h := warmHandler(t)
	doc := "name: p1\nsources:\n  - region: cn-hangzhou\n    selectors:\n      - backup: daily\ndestinations:\n  - region: cn-beijing\nretention:\n  source:\n    keepLast: 2\n  destination:\n    keepLast: 3\n"
	fetches := 0
	fetch := func(context.Context, string) ([]byte, error) { fetches++; return []byte(doc), nil }
	ctx := context.Background()
	p1, err := h.loadPolicy(ctx, doc, fetch)
	if err != nil {
		t.Fatal(err)
	}
	if p2, _ := h.loadPolicy(ctx, doc, fetch); p2 != p1 {
		t.Error("inline policy parsed again")
	}
	for range 2 {
		if _, err := h.loadPolicy(ctx, "oss://bucket/policy.yaml", fetch); err != nil {
			t.Fatal(err)
		}
	}
	if fetches != 2 {
		t.Errorf("oss policy read %d times in 2 invocations", fetches)
	}
	bad := strings.Replace(doc, "name: p1", "name: p1\nbogus: 1", 1)
	for range 2 {
		if _, err := h.loadPolicy(ctx, bad, fetch); err == nil {
			t.Fatal("a broken policy loaded")
		}
	}
	if p3, _ := h.loadPolicy(ctx, doc, fetch); p3 == nil || p3.Name != "p1" {
		t.Errorf("after a failure: %+v", p3)
	}
}
