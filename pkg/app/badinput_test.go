package app_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aliyun/fc-runtime-go-sdk/fccontext"

	"github.com/ecsdr/ecs-image-dr/pkg/app"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
	"github.com/ecsdr/ecs-image-dr/pkg/testutil"
)

// countingCloud stands in for every endpoint (ECS, OSS) and counts the requests it gets:
// bad input must be refused before any cloud call.
func countingCloud(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		// A permanent ECS-style error: a retryable one would make the control case wait
		// out the back-off.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"RequestId":"it-counting","Code":"Forbidden.ShouldNotBeCalled","Message":"bad input reached the cloud"}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// withCreds is an FC context with role credentials; nothing checks them here.
func withCreds() context.Context {
	return fccontext.NewContext(context.Background(), &fccontext.FcContext{
		RequestID:   "it-bad-input",
		Credentials: fccontext.Credentials{AccessKeyId: "STS.itlocal", AccessKeySecret: "it-secret", SecurityToken: "it-token"},
		Region:      "cn-hangzhou",
		AccountId:   "1234567890123456",
	})
}

func TestBadInputIsRefusedBeforeAnyCloudCall(t *testing.T) {
	t.Parallel()
	validDoc, _ := loadPolicy(t, "cycle-policy.yaml")
	invalidPath, err := filepath.Abs(filepath.Join("testdata", "invalid-policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	invalidDoc := string(mustRead(t, invalidPath))
	// Every problem of invalid-policy.yaml, by field path.
	invalidFields := []string{"name:", "sources[0].region:", "destinations[0].kmsKeyId:", "retention.source.keepLast:",
		"retention.source:", "retention.destination:"}

	tests := []struct {
		name    string
		fn      app.Function
		env     map[string]string // on top of the counting endpoints and a valid policy
		noCreds bool
		payload []byte
		// wantErr: every substring must be in the error; empty means the event is
		// acknowledged (nil error) with Result.Kind wantKind.
		wantErr  []string
		wantKind string
		wantLog  string // a stdout record message
		// control: a good invocation that must reach the counting endpoint (it answers 403),
		// which proves the zero counts above mean something.
		control bool
		// check replaces the acknowledged-bad-event checks for a good event that must
		// still make no call.
		check func(t *testing.T, res *app.Result)
	}{
		{name: "Creating event to copy-image", fn: app.CopyImage, payload: readGolden(t, "ecs-image-creating.json"),
			check: func(t *testing.T, res *app.Result) {
				if res.Kind != "image-events" || res.Copy == nil || len(res.Copy.Skipped) != 1 || len(res.Copy.Copied) != 0 {
					t.Errorf("result %+v copy %+v, want one skipped event", res, res.Copy)
				}
			}},
		// A permanent refusal is recorded as failed but does not fail the invocation (an FC
		// retry would be refused the same way).
		{name: "control: valid timer reaches the cloud", fn: app.CreateImage, control: true,
			payload: readGolden(t, "timer-create-image.json"), wantLog: "create failed",
			check: func(t *testing.T, res *app.Result) {
				if res.Create == nil || len(res.Create.Failed) == 0 || res.Create.Failed[0].ErrorCode != "Forbidden.ShouldNotBeCalled" || res.Create.Failed[0].Retryable {
					t.Errorf("result %+v, want a permanent failed item with the cloud's code", res.Create)
				}
			}},
		{name: "invalid inline policy, create", fn: app.CreateImage, env: map[string]string{app.EnvPolicy: invalidDoc},
			payload: readGolden(t, "timer-create-image.json"), wantErr: append([]string{"policy:", "6 problems"}, invalidFields...),
			wantLog: "policy invalid"},
		{name: "invalid policy file, cleanup", fn: app.Cleanup, env: map[string]string{app.EnvPolicy: invalidPath},
			payload: readGolden(t, "timer-cleanup.json"), wantErr: invalidFields, wantLog: "policy invalid"},
		{name: "invalid policy, copy event", fn: app.CopyImage, env: map[string]string{app.EnvPolicy: invalidDoc},
			payload: readGolden(t, "ecs-image-available.json"), wantErr: invalidFields, wantLog: "policy invalid"},
		{name: "ECS scheme ftp", fn: app.CreateImage, env: map[string]string{app.EnvECSScheme: "ftp"},
			payload: readGolden(t, "timer-create-image.json"), wantErr: []string{"configuration", app.EnvECSScheme, `"FTP"`},
			wantLog: "invocation failed"},
		{name: "no policy and bad log level", fn: app.CopyImage, env: map[string]string{app.EnvPolicy: "", app.EnvLogLevel: "loud"},
			payload: readGolden(t, "timer-copy-reconcile.json"), wantErr: []string{app.EnvPolicy + ": required", app.EnvLogLevel}},
		{name: "missing credentials", fn: app.CreateImage, noCreds: true,
			payload: readGolden(t, "timer-create-image.json"), wantErr: []string{"no credentials", "RAM role"}, wantLog: "invocation failed"},

		{name: "not JSON", fn: app.CopyImage, payload: []byte("image m-1 is ready"), wantKind: "malformed", wantLog: "event rejected"},
		{name: "truncated JSON", fn: app.CopyImage, payload: []byte(`{"id":"e1","source":"acs.ecs",`), wantKind: "malformed", wantLog: "event rejected"},
		{name: "empty payload", fn: app.CopyImage, payload: nil, wantKind: "malformed", wantLog: "event rejected"},
		{name: "empty batch", fn: app.CopyImage, payload: []byte(`[]`), wantKind: "malformed", wantLog: "event rejected"},
		{name: "unknown object shape", fn: app.CopyImage, payload: []byte(`{"hello":"world"}`), wantKind: "malformed", wantLog: "event rejected"},
		{name: "cloud event without id and type", fn: app.CopyImage, payload: []byte(`{"source":"acs.ecs","specversion":"1.0"}`),
			wantKind: "malformed", wantLog: "event rejected"},
		{name: "data is a string", fn: app.CopyImage, wantKind: "malformed", wantLog: "event rejected",
			payload: []byte(`{"id":"e1","source":"acs.ecs","specversion":"1.0","type":"ecs:Image:StateChange","data":"m-1"}`)},
		{name: "subject contradicts data", fn: app.CopyImage, wantKind: "malformed", wantLog: "event rejected",
			payload: []byte(`{"id":"e1","source":"acs.ecs","specversion":"1.0","type":"ecs:Image:StateChange",` +
				`"subject":"acs:ecs:cn-hangzhou:1234567890123456:image/m-other","aliyunregionid":"cn-hangzhou",` +
				`"data":{"imageId":"m-1","currentState":"Available"}}`)},
		{name: "timer without triggerTime", fn: app.Cleanup, payload: []byte(`{"triggerTime":"","triggerName":"daily"}`),
			wantKind: "malformed", wantLog: "event rejected"},
		{name: "image event to create-image", fn: app.CreateImage, payload: readGolden(t, "ecs-image-available.json"),
			wantKind: "rejected", wantLog: "event rejected"},
		{name: "image event batch to cleanup", fn: app.Cleanup, payload: readGolden(t, "ecs-image-available-batch.json"),
			wantKind: "rejected", wantLog: "event rejected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, calls := countingCloud(t)
			env := map[string]string{
				app.EnvPolicy:      validDoc,
				app.EnvECSEndpoint: strings.TrimPrefix(srv.URL, "http://"),
				app.EnvECSScheme:   "HTTP",
				app.EnvOSSEndpoint: srv.URL,
			}
			for k, v := range tt.env {
				env[k] = v
			}
			stdout := &testutil.Buffer{}
			h := app.New(tt.fn, func(k string) string { return env[k] }, stdout)
			ctx := withCreds()
			if tt.noCreds {
				ctx = context.Background()
			}
			res, err := h.Handle(ctx, tt.payload)

			if n := calls.Load(); (n != 0) != tt.control {
				t.Errorf("%d cloud calls (control %v)", n, tt.control)
			}
			if res == nil {
				t.Fatalf("nil result (err %v)", err)
			}
			if res.Function != string(tt.fn) {
				t.Errorf("result function %q, want %q", res.Function, tt.fn)
			}
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error; result %+v", res)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error does not mention %q:\n%v", w, err)
					}
				}
			} else if tt.check != nil {
				if err != nil {
					t.Fatal(err)
				}
				tt.check(t, res)
			} else {
				if err != nil {
					t.Fatalf("want the event acknowledged, got %v", err)
				}
				if res.Kind != tt.wantKind || res.Note == "" {
					t.Errorf("result kind %q note %q, want kind %q and a note saying why", res.Kind, res.Note, tt.wantKind)
				}
				if res.Create != nil || res.Copy != nil || res.Cleanup != nil {
					t.Errorf("an acknowledged bad event ran a service: %+v", res)
				}
			}
			if tt.wantLog != "" {
				wantReqID := "it-bad-input"
				if tt.noCreds {
					wantReqID = ""
				}
				n := 0
				for _, r := range stdout.JSONLines(t) {
					if r["msg"] == tt.wantLog && r["function"] == string(tt.fn) && r["request_id"] == wantReqID {
						n++
						// The error text goes under "error", the key the SLS index has (obs.IndexConfig).
						if msg, _ := r["error"].(string); tt.wantLog == "invocation failed" && (err == nil || msg != err.Error()) {
							t.Errorf("%q record: error = %v, want the invocation's error %v", tt.wantLog, r["error"], err)
						}
					}
				}
				want := 1
				if tt.wantLog == "policy invalid" {
					want = len(invalidFields) // one record per problem, each queryable
				}
				if n != want {
					t.Errorf("%d %q records on stdout, want %d:\n%s", n, tt.wantLog, want, stdout)
				}
			}
		})
	}
}

// Forged events are refused (logged and acknowledged) and copy nothing; a duplicated batch
// about a real image makes one copy per destination.
func TestCopyImageEventFiltering(t *testing.T) {
	t.Parallel()
	doc, pol := loadPolicy(t, "cycle-policy.yaml")
	seed := ecs.DefaultSeed()
	c := newCloud(t, cloudOptions{seed: &seed, env: map[string]string{app.EnvPolicy: doc}})
	for _, r := range pol.DestinationRegions() {
		if err := c.srv.OSS.CreateBucket(pol.CatalogBucket(r), r); err != nil {
			t.Fatal(err)
		}
	}
	copies := func() int { return len(c.managed(bj, pol)) + len(c.managed(sz, pol)) }

	// The golden forged event names another account's image.
	res := c.mustInvoke("golden forged event", app.CopyImage, readGolden(t, "ecs-image-forged.json"))
	if res.Copy == nil || len(res.Copy.Rejected) != 1 || !strings.Contains(res.Copy.Rejected[0].Reason, "foreign account") {
		t.Fatalf("golden forged event: result %+v", res.Copy)
	}

	// A real managed Available source image to forge events about.
	c.clock.AdvanceTo(at(1, 2, 0))
	c.mustInvoke("create", app.CreateImage, timerPayload(at(1, 2, 0), "daily", "create"))
	c.clock.AdvanceTo(at(1, 2, 30))
	c.takeEvents() // EventBridge lost them: only the payloads below arrive
	var real string
	for _, im := range c.managed(hz, pol) {
		if im.Tags[policy.TagSourceInstance] == web && im.Status == "Available" {
			real = im.ID
		}
	}
	if real == "" {
		t.Fatal("no Available source image of web-1")
	}
	forged := strings.ReplaceAll(string(readGolden(t, "ecs-image-forged.json")), "m-bp1evil000000000001", real)
	ours := strings.ReplaceAll(forged, "9999888877776666", "1234567890123456") // the filter checks the account first
	for _, tt := range []struct{ name, payload, reason string }{
		{"foreign account", forged, "foreign account"},
		{"foreign source", strings.Replace(ours, `"source": "acs.ecs"`, `"source": "acs.evil"`, 1), "unexpected event source"},
		{"other type", strings.ReplaceAll(ours, "ecs:Image:StateChange", "ecs:Instance:StateChange"), "unexpected event type"},
	} {
		res := c.mustInvoke(tt.name, app.CopyImage, []byte(tt.payload))
		if res.Copy == nil || len(res.Copy.Rejected) != 1 || !strings.Contains(res.Copy.Rejected[0].Reason, tt.reason) {
			t.Errorf("%s: result %+v, want one rejection for %q", tt.name, res.Copy, tt.reason)
		}
		if n := copies(); n != 0 {
			t.Fatalf("%s: %d images appeared in the destinations", tt.name, n)
		}
	}

	// The golden duplicated batch (same event id twice) about the real image.
	batch := strings.ReplaceAll(string(readGolden(t, "ecs-image-available-batch.json")), "m-bp1dr0000000000001", real)
	for round := range 2 {
		res := c.mustInvoke("duplicated batch", app.CopyImage, []byte(batch))
		if res.Copy == nil {
			t.Fatalf("round %d: result %+v", round, res)
		}
		wantCopied := map[int]int{0: 2, 1: 0}[round] // redelivery: the copies exist
		if len(res.Copy.Copied) != wantCopied || len(res.Copy.Failed) != 0 || len(res.Copy.Rejected) != 0 {
			t.Errorf("round %d: copied %+v failed %+v rejected %+v, want %d copies", round, res.Copy.Copied, res.Copy.Failed, res.Copy.Rejected, wantCopied)
		}
		for _, dest := range []string{bj, sz} {
			var got []string
			for _, im := range c.managed(dest, pol) {
				if im.Tags[policy.TagSourceImage] == real {
					got = append(got, im.ID)
				}
			}
			if len(got) != 1 {
				t.Errorf("round %d: %s has copies %v of %s, want exactly one", round, dest, got, real)
			}
		}
	}
}

// The policy may live in OSS (DR_POLICY=oss://bucket/key); a missing object is a clear error.
func TestPolicyFromOSS(t *testing.T) {
	t.Parallel()
	doc, pol := loadPolicy(t, "cycle-policy.yaml")
	seed := ecs.DefaultSeed()
	c := newCloud(t, cloudOptions{seed: &seed, env: map[string]string{app.EnvPolicy: "oss://it-config/policies/dr.yaml"}})
	if err := c.srv.OSS.CreateBucket("it-config", hz); err != nil {
		t.Fatal(err)
	}
	if err := c.srv.OSS.PutObject("it-config", "policies/dr.yaml", []byte(doc)); err != nil {
		t.Fatal(err)
	}
	c.clock.AdvanceTo(at(1, 2, 0))
	res := c.mustInvoke("create with the policy in OSS", app.CreateImage, timerPayload(at(1, 2, 0), "daily", "create"))
	if res.Policy != pol.Name || res.Create == nil || len(res.Create.Started) != 2 {
		t.Fatalf("result %+v create %+v, want policy %s and two images", res, res.Create, pol.Name)
	}

	c.env[app.EnvPolicy] = "oss://it-config/policies/missing.yaml"
	h := app.New(app.CreateImage, c.getenv, c.stdout) // a new instance reads the new env
	res, err := h.Handle(c.fcContext(app.CreateImage), timerPayload(at(2, 2, 0), "daily", "create"))
	if err == nil {
		t.Fatalf("missing policy object: no error, result %+v", res)
	}
	for _, w := range []string{"oss://it-config/policies/missing.yaml", "NoSuchKey"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not mention %q: %v", w, err)
		}
	}
	if n := len(c.managed(hz, pol)); n != 2 {
		t.Errorf("%d managed images after the failed run, want the 2 of day 1", n)
	}
}
