package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fccontext"

	"github.com/ecsdr/ecs-image-dr/pkg/app"
	"github.com/ecsdr/ecs-image-dr/pkg/backup"
	"github.com/ecsdr/ecs-image-dr/pkg/catalog"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// pendingPayload is copy-image's frequent timer (s.yaml trigger "pending").
func pendingPayload(t time.Time) []byte {
	b, _ := json.Marshal(map[string]string{
		"triggerTime": t.UTC().Format(time.RFC3339),
		"triggerName": "pending",
		"payload":     `{"action":"reconcile","mode":"pending"}`,
	})
	return b
}

// newPendingCloud is the cycle test's account and policy with the catalog buckets made.
func newPendingCloud(t *testing.T, seed *ecs.Seed) (*cloud, *policy.Policy) {
	t.Helper()
	doc, pol := loadPolicy(t, "cycle-policy.yaml")
	c := newCloud(t, cloudOptions{seed: seed, env: map[string]string{app.EnvPolicy: doc}})
	for _, r := range pol.DestinationRegions() {
		if err := c.srv.OSS.CreateBucket(pol.CatalogBucket(r), r); err != nil {
			t.Fatal(err)
		}
	}
	return c, pol
}

// markedImages are the policy's images of region carrying the pending marker.
func (c *cloud) markedImages(region string, pol *policy.Policy) []string {
	var out []string
	for _, im := range c.managed(region, pol) {
		if v, ok := im.Tags[policy.TagPending]; ok {
			out = append(out, im.ID+"="+v)
		}
	}
	return out
}

// With every event lost, the pending timer (every 5 minutes) copies each Available source
// image within 15 simulated minutes, writes each copy's catalog entry once it is
// Available, copies again a copy that failed, and leaves no marker behind.
func TestPendingTimerWhenEventsAreLost(t *testing.T) {
	t.Parallel()
	c, pol := newPendingCloud(t, cycleSeed())
	if err := c.srv.ECS.FailNextCopies(bj, 1); err != nil { // the first copy into Beijing ends CreateFailed
		t.Fatal(err)
	}
	c.clock.AdvanceTo(at(1, 2, 0))
	res := c.mustInvoke("create", app.CreateImage, timerPayload(at(1, 2, 0), "daily", "create"))
	if len(res.Create.Started) != 2 {
		t.Fatalf("create started %+v, want web-1 and db-1", res.Create.Started)
	}
	if got := c.markedImages(hz, pol); len(got) != 2 {
		t.Fatalf("new source images marked: %v, want 2 pending=copy", got)
	}
	avail := map[string]time.Time{}     // source image -> when it became Available (event lost)
	firstCopy := map[string]time.Time{} // source image -> first pending run that copied it
	copies := map[string]int{}
	recopied := 0
	synced := map[string]int{}
	for tick := at(1, 2, 5); !tick.After(at(1, 5, 55)); tick = tick.Add(5 * time.Minute) {
		c.clock.AdvanceTo(tick)
		for _, e := range c.takeEvents() { // EventBridge loses every event
			if id, _ := e.Data["imageId"].(string); e.Region == hz && e.Data["currentState"] == "Available" {
				avail[id] = e.Time
			}
		}
		res := c.mustInvoke("pending "+tick.Format("15:04"), app.CopyImage, pendingPayload(tick))
		if res.Copy == nil || len(res.Copy.Failed) > 0 && !onlyFailedCopies(res.Copy.Failed) {
			t.Fatalf("pending %s: %+v", tick.Format("15:04"), res.Copy)
		}
		for _, it := range res.Copy.Copied {
			if _, ok := firstCopy[it.SourceImage]; !ok {
				firstCopy[it.SourceImage] = tick
			}
			copies[it.SourceImage]++
			if copies[it.SourceImage] > 2 {
				recopied++
			}
		}
		for _, r := range res.Copy.CatalogSynced {
			synced[r]++
		}
	}
	if len(avail) != 2 {
		t.Fatalf("source images Available: %v, want 2", avail)
	}
	for id, av := range avail {
		got, ok := firstCopy[id]
		if !ok {
			t.Errorf("source %s (Available %s) never copied", id, av.Format("15:04:05"))
			continue
		}
		if d := got.Sub(av); d > 15*time.Minute {
			t.Errorf("source %s copied %v after it became Available, want within 15 minutes", id, d)
		}
		if copies[id] < 2 {
			t.Errorf("source %s: %d copies accepted, want both destinations", id, copies[id])
		}
	}
	if recopied != 1 {
		t.Errorf("copies made again: %d, want 1 (the copy into %s that failed)", recopied, bj)
	}
	for _, im := range c.managed(bj, pol) {
		if im.Status == "CreateFailed" {
			t.Errorf("failed copy %s left in %s", im.ID, bj)
		}
	}
	if synced[bj] == 0 || synced[sz] == 0 {
		t.Errorf("catalog written by the pending runs: %v, want both destinations", synced)
	}
	store, err := ossx.New(c.srv.URL(), core.DefaultAccessKeyID, core.DefaultAccessKeySecret, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range pol.DestinationRegions() {
		entries, err := catalog.Read(context.Background(), store, pol.CatalogBucket(r), pol.Name)
		if err != nil {
			t.Fatalf("catalog %s: %v", r, err)
		}
		got := map[string]string{}
		for _, e := range entries {
			if e.Region == r {
				got[e.InstanceID] = e.SourceImageID
			}
		}
		for id := range avail {
			found := false
			for _, s := range got {
				found = found || s == id
			}
			if !found {
				t.Errorf("catalog %s: no entry for the copy of %s: %v", r, id, got)
			}
		}
	}
	for _, r := range []string{hz, bj, sz} {
		if got := c.markedImages(r, pol); len(got) != 0 {
			t.Errorf("%s: markers left after the window: %v", r, got)
		}
	}
}

// onlyFailedCopies: the failed items are failed images (recorded, deleted, made again).
func onlyFailedCopies(items []backup.Item) bool {
	for _, it := range items {
		if it.ErrorCode != "CreateFailed" || !strings.Contains(it.Reason, "ended CreateFailed") {
			return false
		}
	}
	return true
}

// A pending run killed in the middle (its context ends as its first copy is accepted)
// leaves the markers of what it did not finish; the next run finishes it with no second
// copy of anything.
func TestPendingKilledRunIsFinishedByTheNext(t *testing.T) {
	t.Parallel()
	c, pol := newPendingCloud(t, cycleSeed())
	c.clock.AdvanceTo(at(1, 2, 0))
	c.mustInvoke("create", app.CreateImage, timerPayload(at(1, 2, 0), "daily", "create"))
	c.clock.AdvanceTo(at(1, 2, 30)) // both sources Available
	_ = c.takeEvents()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	unsub := c.srv.Env.Bus.Subscribe(func(e core.Event) {
		if e.Region != hz && (e.Data["currentState"] == "Creating" || e.Data["currentState"] == "Waiting") {
			once.Do(cancel) // the first copy is accepted: the process dies
		}
	})
	_, _ = c.handler(app.CopyImage).Handle(c.fcContextFrom(ctx, app.CopyImage), pendingPayload(at(1, 2, 30)))
	unsub()
	if ctx.Err() == nil {
		t.Fatal("the run was not killed: no copy was accepted")
	}
	made := 0
	for _, r := range pol.DestinationRegions() {
		made += len(c.managed(r, pol))
	}
	if got := c.markedImages(hz, pol); len(got) == 0 || made >= 4 {
		t.Fatalf("the killed run left markers %v and made %d of the 4 copies: it was not cut short", got, made)
	}
	c.clock.AdvanceTo(at(1, 2, 35))
	res := c.mustInvoke("next pending", app.CopyImage, pendingPayload(at(1, 2, 35)))
	if len(res.Copy.Failed) > 0 {
		t.Errorf("next run failed items: %+v", res.Copy.Failed)
	}
	if got := c.markedImages(hz, pol); len(got) != 0 {
		t.Errorf("sources still marked after the next run: %v", got)
	}
	for _, r := range pol.DestinationRegions() {
		per := map[string]int{}
		for _, im := range c.managed(r, pol) {
			per[im.Tags[policy.TagSourceImage]]++
		}
		if len(per) != 2 {
			t.Errorf("%s: copies per source %v, want one of each of the 2 sources", r, per)
		}
		for src, n := range per {
			if n != 1 {
				t.Errorf("%s: %d copies of %s, want 1", r, n, src)
			}
		}
	}
}

// The ECS calls of a pending run with nothing pending: one list per region of the
// policy, whatever the number of images the policy has.
func TestPendingIdleRunCostIsFlat(t *testing.T) {
	t.Parallel()
	cost := func(images int) map[string]int {
		seed := cycleSeed()
		for i := range images {
			inst := fmt.Sprintf("i-hz-old-%05d", i)
			tags := map[string]string{policy.TagManagedBy: policy.ManagedByValue, policy.TagPolicy: "it-cycle",
				policy.TagSourceInstance: inst, policy.TagSlot: "20261020", policy.TagRole: policy.RoleSource, policy.TagSourceRegion: hz}
			seed.Images = append(seed.Images, ecs.ImageSeed{ID: fmt.Sprintf("m-hzold%05d", i), Region: hz, Name: "old-" + inst,
				OwnerAlias: "self", SizeGiB: 20, Tags: tags})
			ctags := map[string]string{policy.TagManagedBy: policy.ManagedByValue, policy.TagPolicy: "it-cycle",
				policy.TagSourceInstance: inst, policy.TagSlot: "20261020", policy.TagRole: policy.RoleCopy, policy.TagSourceRegion: hz,
				policy.TagSourceImage: fmt.Sprintf("m-hzold%05d", i)}
			seed.Images = append(seed.Images, ecs.ImageSeed{ID: fmt.Sprintf("m-bjold%05d", i), Region: bj, Name: "old-copy-" + inst,
				OwnerAlias: "self", SizeGiB: 20, Tags: ctags})
		}
		c, _ := newPendingCloud(t, seed)
		calls := map[string]int{}
		var mu sync.Mutex
		proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := r.ParseForm(); err == nil {
				mu.Lock()
				calls[r.Form.Get("Action")]++
				mu.Unlock()
			}
			c.srv.ServeHTTP(w, r)
		}))
		t.Cleanup(proxy.Close)
		u, _ := url.Parse(proxy.URL)
		c.env[app.EnvECSEndpoint] = u.Host
		c.clock.AdvanceTo(at(1, 2, 5))
		res := c.mustInvoke(fmt.Sprintf("idle pending (%d images)", images), app.CopyImage, pendingPayload(at(1, 2, 5)))
		if len(res.Copy.Copied)+len(res.Copy.Failed) != 0 {
			t.Fatalf("idle pending run did something: %+v", res.Copy)
		}
		mu.Lock()
		defer mu.Unlock()
		return calls
	}
	small, large := cost(5), cost(1500)
	for _, calls := range []map[string]int{small, large} {
		if calls["DescribeImages"] != 3 {
			t.Errorf("idle pending run: %d DescribeImages, want 3 (one per region: %s, %s, %s)", calls["DescribeImages"], hz, bj, sz)
		}
	}
	total := func(m map[string]int) int {
		n := 0
		for _, v := range m {
			n += v
		}
		return n
	}
	if total(small) != total(large) {
		t.Errorf("idle pending run: %d ECS calls at 10 images, %d at 3,000: want the same (calls %v and %v)", total(small), total(large), small, large)
	}
	t.Logf("idle pending run ECS calls: %v (10 images), %v (3,000 images)", small, large)
}

// fcContextFrom is fcContext on a parent context the test controls (to kill the run).
func (c *cloud) fcContextFrom(parent context.Context, fn app.Function) context.Context {
	c.emu.Lock()
	c.seq++
	id := c.seq
	c.emu.Unlock()
	sts := c.roleCreds(72 * time.Hour)
	ctx, cancel := context.WithTimeout(parent, 30*time.Second)
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
