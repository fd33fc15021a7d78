package app_test

// The harness of the integration tests: one local cloud per test, the function handlers
// called in-process with an FC context (as the FC Go runtime does), every cloud call going
// through the official SDKs over HTTP to the local cloud on 127.0.0.1.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fccontext"

	"github.com/ecsdr/ecs-image-dr/pkg/app"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/eventbridge"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
	"github.com/ecsdr/ecs-image-dr/pkg/testutil"
)

// shanghai is the policies' timezone. China has had no DST since 1991, so a fixed zone is
// exact and the tests do not depend on the machine's tzdata.
var shanghai = time.FixedZone("CST", 8*3600)

// at returns day n (1-based, from 2026-11-01) at hh:mm in Shanghai.
func at(n, hh, mm int) time.Time {
	return time.Date(2026, 11, n, hh, mm, 0, 0, shanghai)
}

// cloud is a running local cloud plus the three function handlers configured against it.
type cloud struct {
	t      testing.TB
	srv    *localcloud.Server
	clock  *core.Clock
	env    map[string]string
	stdout *testutil.Buffer

	hmu      sync.Mutex
	handlers map[app.Function]*app.Handler

	emu    sync.Mutex
	events []core.Event
	seq    int

	// editRAMPolicy, when set, changes the rendered role policy before it is applied
	// (a role missing a permission).
	editRAMPolicy func([]byte) []byte
}

type cloudOptions struct {
	start time.Time
	seed  *ecs.Seed
	// env overrides or adds function environment variables ("" deletes one).
	env map[string]string
}

// newCloud starts a local cloud with a manual clock and records the ECS image events of
// its bus. The policy env var must come from opts.env.
func newCloud(t testing.TB, opts cloudOptions) *cloud {
	t.Helper()
	if opts.start.IsZero() {
		opts.start = at(1, 0, 0)
	}
	clock := core.NewManualClock(opts.start)
	srv, err := localcloud.New(localcloud.Options{Clock: clock, Seed: opts.seed})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	c := &cloud{t: t, srv: srv, clock: clock, stdout: &testutil.Buffer{}, handlers: map[app.Function]*app.Handler{}}
	c.env = map[string]string{
		app.EnvECSEndpoint: srv.Addr(),
		app.EnvECSScheme:   "HTTP",
		app.EnvOSSEndpoint: srv.URL(),
		app.EnvSLSEndpoint: srv.Addr(),
	}
	for k, v := range opts.env {
		if v == "" {
			delete(c.env, k)
			continue
		}
		c.env[k] = v
	}
	srv.Env.Bus.Subscribe(func(e core.Event) {
		if e.Source != "acs.ecs" || e.Type != "Image:StateChange" {
			return
		}
		c.emu.Lock()
		c.events = append(c.events, e)
		c.emu.Unlock()
	})
	return c
}

// getenv is the functions' environment.
func (c *cloud) getenv(k string) string { return c.env[k] }

// handler returns fn's handler, built once like an FC instance's cold start.
func (c *cloud) handler(fn app.Function) *app.Handler {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	h := c.handlers[fn]
	if h == nil {
		// The one time model: back-off sleeps on the local cloud's simulated clock.
		h = app.New(fn, c.getenv, c.stdout).WithOptions(app.Options{Clock: c.clock})
		c.handlers[fn] = h
	}
	return h
}

// fcContext is what the FC runtime puts in the context of an invocation: fresh STS
// credentials of the functions' role, evaluated by the local RAM against the project's
// own policy document (on the simulated clock, so they would expire over a multi-day run unless
// reissued, as FC does), the region and the account.
func (c *cloud) fcContext(fn app.Function) context.Context {
	c.emu.Lock()
	c.seq++
	id := c.seq
	c.emu.Unlock()
	sts := c.roleCreds(72 * time.Hour) // the role and policy scripts/bootstrap makes
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	c.t.Cleanup(cancel)
	return fccontext.NewContext(ctx, &fccontext.FcContext{
		RequestID: requestID(fn, id),
		Credentials: fccontext.Credentials{
			AccessKeyId: sts.AccessKeyID, AccessKeySecret: sts.AccessKeySecret, SecurityToken: sts.SecurityToken,
		},
		Function:  fccontext.Function{Name: string(fn)},
		Region:    "cn-hangzhou",
		AccountId: core.DefaultAccountID,
	})
}

func requestID(fn app.Function, n int) string { return fmt.Sprintf("it-%s-%04d", fn, n) }

// invoke runs fn once with payload, as FC would.
func (c *cloud) invoke(fn app.Function, payload []byte) (*app.Result, error) {
	return c.handler(fn).Handle(c.fcContext(fn), payload)
}

// mustInvoke fails the test when the invocation fails.
func (c *cloud) mustInvoke(what string, fn app.Function, payload []byte) *app.Result {
	c.t.Helper()
	res, err := c.invoke(fn, payload)
	if err != nil {
		c.t.Fatalf("%s: %s: %v", what, fn, err)
	}
	if res == nil {
		c.t.Fatalf("%s: %s: nil result", what, fn)
	}
	return res
}

// takeEvents returns (and forgets) the image events published so far that the copy-image
// EventBridge rule of s.yaml would deliver: data.currentState Available, CreateFailed or
// UnAvailable.
func (c *cloud) takeEvents() []core.Event {
	c.emu.Lock()
	defer c.emu.Unlock()
	var out []core.Event
	for _, e := range c.events {
		switch e.Data["currentState"] {
		case "Available", "CreateFailed", "UnAvailable":
			out = append(out, e)
		}
	}
	c.events = nil
	return out
}

// timerPayload is the FC timer event for a trigger due at t (FC writes it in UTC).
func timerPayload(t time.Time, trigger, action string) []byte {
	b, _ := json.Marshal(map[string]string{
		"triggerTime": t.UTC().Format(time.RFC3339),
		"triggerName": trigger,
		"payload":     `{"action":"` + action + `"}`,
	})
	return b
}

// eventPayload is the CloudEvent EventBridge delivers for a bus event.
func eventPayload(t testing.TB, e core.Event) []byte {
	t.Helper()
	b, err := json.Marshal(eventbridge.FromCore(e))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// loadPolicy parses a testdata policy (the tests need its name and bucket names too).
func loadPolicy(t testing.TB, name string) (string, *policy.Policy) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Parse(b)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return string(b), p
}

// readGolden reads a payload from the repository's events/ directory.
func readGolden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// managed returns the images of region the policy made, in every status.
func (c *cloud) managed(region string, pol *policy.Policy) []ecs.Image {
	var out []ecs.Image
	for _, im := range c.srv.ECS.Images(region) {
		if im.Tags[policy.TagManagedBy] == policy.ManagedByValue && im.Tags[policy.TagPolicy] == pol.Name {
			out = append(out, im)
		}
	}
	return out
}

// settle advances the clock in steps until no image of the given regions is Creating or
// Waiting (at most limit of simulated time); it fails the test otherwise.
func (c *cloud) settle(limit time.Duration, regions ...string) {
	c.t.Helper()
	deadline := c.clock.Now().Add(limit)
	for {
		busy := false
		for _, r := range regions {
			for _, im := range c.srv.ECS.Images(r) {
				if im.Status == "Creating" || im.Status == "Waiting" {
					busy = true
				}
			}
		}
		if !busy {
			return
		}
		if !c.clock.Now().Before(deadline) {
			c.t.Fatalf("images still in progress after %v of simulated time", limit)
		}
		c.clock.Advance(10 * time.Minute)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
