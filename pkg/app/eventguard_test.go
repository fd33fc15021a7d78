package app_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/ecsdr/ecs-image-dr/pkg/app"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/eventbridge"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// Bad events on a live local cloud: each is rejected with a record that says why, and the
// cloud is left exactly as it was. A duplicate of a good event makes no second copy.
func TestEventsAreChecked(t *testing.T) {
	t.Parallel()
	doc, pol := loadPolicy(t, "cycle-policy.yaml")
	c := newCloud(t, cloudOptions{seed: cycleSeed(), env: map[string]string{app.EnvPolicy: doc}})
	for _, r := range pol.DestinationRegions() {
		if err := c.srv.OSS.CreateBucket(pol.CatalogBucket(r), r); err != nil {
			t.Fatal(err)
		}
	}
	c.clock.AdvanceTo(at(1, 2, 0))
	c.mustInvoke("create", app.CreateImage, timerPayload(at(1, 2, 0), "daily", "create"))
	c.clock.AdvanceTo(at(1, 2, 30))
	avail := c.takeEvents()
	if len(avail) == 0 {
		t.Fatal("no Available event")
	}
	good := avail[0]

	mutate := func(f func(ev *eventbridge.CloudEvent)) []byte {
		ev := eventbridge.FromCore(good)
		f(&ev)
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	deep := `{"specversion":"1.0","source":"acs.ecs","data":` + strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40) + "}"
	huge := mutate(func(ev *eventbridge.CloudEvent) { ev.Subject = strings.Repeat("x", 200<<10) })
	tests := []struct {
		name, reason string
		payload      []byte
	}{
		{"another account", "foreign account", mutate(func(ev *eventbridge.CloudEvent) {
			ev.AliyunAccountID = "999999999999"
			ev.Subject = strings.Replace(ev.Subject, ":"+good.AccountID+":", ":999999999999:", 1)
		})},
		{"another source", "unexpected event source", mutate(func(ev *eventbridge.CloudEvent) { ev.Source = "acs.evil" })},
		{"a region not in the policy", "not in the policy", mutate(func(ev *eventbridge.CloudEvent) {
			ev.AliyunRegionID = "ap-southeast-1"
			ev.Subject = strings.Replace(ev.Subject, ":"+hz+":", ":ap-southeast-1:", 1)
		})},
		{"a huge payload", "too large", huge},
		{"a deeply nested payload", "nested too deeply", []byte(deep)},
		{"invalid UTF-8", "not valid UTF-8", append(mutate(func(ev *eventbridge.CloudEvent) {}), []byte("\xff\xfe")...)},
	}
	snapshot := func() map[string][]ecs.Image {
		out := map[string][]ecs.Image{}
		for _, r := range []string{hz, bj, sz, "ap-southeast-1"} {
			out[r] = c.srv.ECS.Images(r)
		}
		return out
	}
	for _, tt := range tests {
		before := snapshot()
		mark := len(c.stdout.JSONLines(t))
		res, err := c.invoke(app.CopyImage, tt.payload)
		if err != nil {
			t.Errorf("%s: the invocation failed (%v): a bad event must be acknowledged", tt.name, err)
			continue
		}
		if after := snapshot(); !reflect.DeepEqual(before, after) {
			t.Errorf("%s: the cloud changed", tt.name)
		}
		reason := res.Note
		if res.Copy != nil {
			if len(res.Copy.Copied) != 0 || len(res.Copy.Rejected) != 1 {
				t.Errorf("%s: copy summary %+v, want one rejected event and no copy", tt.name, res.Copy)
			} else {
				reason = res.Copy.Rejected[0].Reason
			}
		}
		if !strings.Contains(reason, tt.reason) {
			t.Errorf("%s: reason %q, want it to say %q", tt.name, reason, tt.reason)
		}
		found := false
		for _, rec := range c.stdout.JSONLines(t)[mark:] {
			if rec["action"] == "reject" && strings.Contains(fmt.Sprint(rec["reason"]), tt.reason) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no reject record saying %q:\n%s", tt.name, tt.reason, c.stdout)
		}
	}

	// Duplicates: the same event twice in one batch, then again in a later invocation.
	payload := eventPayload(t, good)
	batch := []byte("[" + string(payload) + "," + string(payload) + "]")
	c.mustInvoke("batch", app.CopyImage, batch)
	c.mustInvoke("again", app.CopyImage, payload)
	for _, d := range pol.DestinationRegions() {
		n := 0
		for _, im := range c.managed(d, pol) {
			if im.Tags[policy.TagSourceImage] == good.Data["imageId"] {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: %d copies of %v after a duplicated event, want 1", d, n, good.Data["imageId"])
		}
	}
}
