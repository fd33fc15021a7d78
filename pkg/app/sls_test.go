package app_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/app"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
	lcsls "github.com/ecsdr/ecs-image-dr/pkg/localcloud/sls"
	"github.com/ecsdr/ecs-image-dr/pkg/obs"
)

const (
	slsProject  = "it-ecs-image-dr"
	slsLogstore = "ecs-image-dr"
)

// slsCloud is a local cloud with the SLS project and logstore provisioned the way
// scripts/provision-sls does, and the functions logging to them.
func slsCloud(t testing.TB, env map[string]string) *cloud {
	t.Helper()
	doc, pol := loadPolicy(t, "cycle-policy.yaml")
	all := map[string]string{app.EnvPolicy: doc, app.EnvSLSProject: slsProject, app.EnvSLSLogstore: slsLogstore}
	for k, v := range env {
		all[k] = v
	}
	seed := ecs.DefaultSeed()
	c := newCloud(t, cloudOptions{seed: &seed, env: all})
	for _, r := range pol.DestinationRegions() {
		if err := c.srv.OSS.CreateBucket(pol.CatalogBucket(r), r); err != nil {
			t.Fatal(err)
		}
	}
	c.srv.SLS.EnsureProject(slsProject, hz)
	if _, err := obs.Provision(lcsls.NewSDKClient(c.srv.Addr(), c.srv.Credential()),
		obs.ProvisionConfig{Project: slsProject, Logstore: slsLogstore, Region: hz}); err != nil {
		t.Fatal(err)
	}
	return c
}

// createAndCopy runs a create invocation and, unless createOnly, once the images are
// Available, the copy invocation of web-1's image event; it returns the request ids.
func (c *cloud) createAndCopy(createOnly bool) (createID, copyID string) {
	c.t.Helper()
	c.clock.AdvanceTo(at(1, 2, 0))
	res := c.mustInvoke("create", app.CreateImage, timerPayload(at(1, 2, 0), "daily", "create"))
	if res.Create == nil || len(res.Create.Started) != 2 {
		c.t.Fatalf("create: %+v", res.Create)
	}
	createID = requestID(app.CreateImage, c.seq)
	if createOnly {
		return createID, ""
	}
	c.clock.AdvanceTo(at(1, 2, 30))
	for _, e := range c.takeEvents() {
		if e.Data["imageId"] != res.Create.Started[1].Image { // web-1 (items are sorted by instance)
			continue
		}
		res := c.mustInvoke("copy", app.CopyImage, eventPayload(c.t, e))
		if res.Copy == nil || len(res.Copy.Copied) != 2 {
			c.t.Fatalf("copy: %+v", res.Copy)
		}
		copyID = requestID(app.CopyImage, c.seq)
	}
	if copyID == "" {
		c.t.Fatal("no Available event for web-1's image")
	}
	return createID, copyID
}

// Issue 5 item 1: every decision of an invocation is a record in SLS with the shared keys,
// queryable with the SDK's GetLogs; the final record carries the duration.
func TestSLSRecordsOfCreateAndCopy(t *testing.T) {
	t.Parallel()
	c := slsCloud(t, nil)
	wallStart := time.Now()
	createID, copyID := c.createAndCopy(false)

	byReq := map[string][]lcsls.Record{}
	for _, r := range c.srv.SLS.Logs(slsProject, slsLogstore) {
		byReq[r.Contents[obs.KeyRequestID]] = append(byReq[r.Contents[obs.KeyRequestID]], r)
	}
	tests := []struct {
		reqID    string
		fn       app.Function
		action   string
		regions  []string // of the action records
		wantKeys []string // on every action record
		others   []string // further actions that must be recorded
	}{
		{reqID: createID, fn: app.CreateImage, action: obs.ActionCreateImage, regions: []string{hz, hz},
			wantKeys: []string{obs.KeyInstance, obs.KeyImage, obs.KeyDuration}, others: []string{"skip"}},
		{reqID: copyID, fn: app.CopyImage, action: obs.ActionCopyImage, regions: []string{bj, sz},
			wantKeys: []string{obs.KeyInstance, obs.KeyImage, obs.KeySourceImage, obs.KeyDuration}},
	}
	for _, tt := range tests {
		recs := byReq[tt.reqID]
		if len(recs) == 0 {
			t.Fatalf("%s: no SLS records for request %s (have %d request ids)", tt.fn, tt.reqID, len(byReq))
		}
		var regions []string
		actions := map[string]bool{}
		for _, r := range recs {
			if r.Topic != string(tt.fn) || r.Source != tt.reqID {
				t.Errorf("%s: record topic %q source %q, want the function and the request id", tt.fn, r.Topic, r.Source)
			}
			for _, k := range []string{obs.KeyFunction, obs.KeyRequestID, obs.KeyResult, obs.ContentMsg, obs.ContentLevel} {
				if r.Contents[k] == "" {
					t.Errorf("%s: record %q lacks %s: %v", tt.fn, r.Contents[obs.ContentMsg], k, r.Contents)
				}
			}
			if r.Contents[obs.KeyFunction] != string(tt.fn) {
				t.Errorf("%s: record function %q", tt.fn, r.Contents[obs.KeyFunction])
			}
			a := r.Contents[obs.KeyAction]
			actions[a] = true
			if a == "" {
				continue
			}
			if r.Contents[obs.KeyPolicy] != "it-cycle" || r.Contents[obs.KeyRegion] == "" {
				t.Errorf("%s: %s record lacks policy or region: %v", tt.fn, a, r.Contents)
			}
			if a != tt.action {
				continue
			}
			regions = append(regions, r.Contents[obs.KeyRegion])
			if r.Contents[obs.KeyResult] != obs.ResultOK {
				t.Errorf("%s: %s result %q", tt.fn, a, r.Contents[obs.KeyResult])
			}
			for _, k := range tt.wantKeys {
				if r.Contents[k] == "" {
					t.Errorf("%s: %s record lacks %s: %v", tt.fn, a, k, r.Contents)
				}
			}
		}
		slices.Sort(regions)
		if !slices.Equal(regions, tt.regions) {
			t.Errorf("%s: %s records in regions %v, want %v", tt.fn, tt.action, regions, tt.regions)
		}
		for _, a := range tt.others {
			if !actions[a] {
				t.Errorf("%s: no %q record (actions %v)", tt.fn, a, actions)
			}
		}
		last := recs[len(recs)-1].Contents
		if last[obs.ContentMsg] != "invocation done" || last[obs.KeyResult] != obs.ResultOK || last[obs.KeyPolicy] != "it-cycle" {
			t.Errorf("%s: final record %v, want \"invocation done\" ok with the policy", tt.fn, last)
		}
		if ms, err := strconv.ParseInt(last[obs.KeyDuration], 10, 64); err != nil || ms < 0 {
			t.Errorf("%s: final record %s = %q, want whole milliseconds", tt.fn, obs.KeyDuration, last[obs.KeyDuration])
		}
	}

	// The same through the official SDK's GetLogs, as an operator's query would. Record
	// times are wall-clock (the functions stamp them), not simulated.
	client := lcsls.NewSDKClient(c.srv.Addr(), c.srv.Credential())
	resp, err := client.GetLogs(slsProject, slsLogstore, string(app.CreateImage), wallStart.Add(-time.Minute).Unix(),
		time.Now().Add(time.Minute).Unix(), "action: create and result: ok", 100, 0, false)
	if err != nil {
		t.Fatalf("GetLogs: %v", err)
	}
	var insts []string
	for _, l := range resp.Logs {
		insts = append(insts, l[obs.KeyInstance])
		if l[obs.KeyRequestID] != createID || !strings.HasPrefix(l[obs.KeyImage], "m-") {
			t.Errorf("GetLogs: record %v", l)
		}
	}
	slices.Sort(insts)
	if resp.Count != 2 || !slices.Equal(insts, []string{db, web}) {
		t.Errorf("GetLogs: count %d instances %v, want the 2 created", resp.Count, insts)
	}
}

// Logging is not worth a failed backup: with SLS refusing the records, the invocations
// succeed and the failure is on stdout.
func TestSLSOutageDoesNotFailTheInvocation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		env         map[string]string
		fault       bool
		wantCode    string
		invocations int
	}{
		// The SDK retries 5xx until the sink's 3 s retry timeout (wall time): one invocation.
		{name: "PutLogs answers 500", fault: true, invocations: 1},
		{name: "project does not exist", env: map[string]string{app.EnvSLSProject: "no-such-project"}, wantCode: "ProjectNotExist", invocations: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := slsCloud(t, tt.env)
			if tt.fault {
				c.srv.Env.Faults.Set("sls", "PutLogs", core.FaultRule{ErrorRate: 1, ErrorStatus: 500})
			}
			c.createAndCopy(tt.invocations == 1) // fails the test on an invocation error

			if n := len(c.srv.SLS.Logs(slsProject, slsLogstore)); n != 0 {
				t.Errorf("%d records reached SLS", n)
			}
			failures := 0
			for _, r := range c.stdout.JSONLines(t) {
				if r["msg"] != "obs: sending records to SLS failed" {
					continue
				}
				failures++
				if tt.wantCode != "" && r[obs.KeyErrorCode] != tt.wantCode {
					t.Errorf("failure record code %v, want %s: %v", r[obs.KeyErrorCode], tt.wantCode, r)
				}
				if n, _ := r["records_failed"].(float64); n <= 0 {
					t.Errorf("failure record does not count the failed records: %v", r)
				}
			}
			if failures != tt.invocations {
				t.Errorf("%d SLS failure records on stdout, want one per invocation (%d):\n%s", failures, tt.invocations, c.stdout)
			}
			// stdout still has every decision.
			if !strings.Contains(c.stdout.String(), `"action":"create"`) || !strings.Contains(c.stdout.String(), `"msg":"invocation done"`) {
				t.Errorf("stdout lacks the invocation's records:\n%s", c.stdout)
			}
		})
	}
}
