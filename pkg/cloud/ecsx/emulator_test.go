package ecsx_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
)

// The adapter against the ECS emulator: the same contract as against the real service
// (paging, statuses, tags, error codes classified).
func newEmulated(t *testing.T) (ecsx.API, *ecs.Service, *core.Env) {
	t.Helper()
	env := core.NewEnv(core.NewManualClock(time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC)), nil)
	svc, err := ecs.New(env, ecs.DefaultSeed())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)
	api, err := ecsx.NewSDK(ecsx.SDKConfig{Endpoint: strings.TrimPrefix(srv.URL, "http://"), Scheme: "HTTP",
		Credentials: func() (string, string, string) { return core.DefaultAccessKeyID, core.DefaultAccessKeySecret, "" }})
	if err != nil {
		t.Fatal(err)
	}
	return api, svc, env
}

func TestEmulatorPagingAndLifecycle(t *testing.T) {
	t.Parallel()
	api, svc, env := newEmulated(t)
	ctx := context.Background()
	const region = "cn-shenzhen"
	for i := range 230 {
		if _, err := svc.AddInstance(region, ecs.InstanceSeed{ID: fmt.Sprintf("i-sz-%03d", i), Status: "Running",
			Tags: map[string]string{"n": fmt.Sprint(i % 2)}, Disks: []ecs.DiskSeed{{Type: "system", SizeGiB: 20}}}); err != nil {
			t.Fatal(err)
		}
	}
	all, err := api.DescribeInstances(ctx, region, ecsx.InstanceQuery{})
	if err != nil || len(all) != 230 {
		t.Fatalf("DescribeInstances: %d instances, %v; want 230 across pages", len(all), err)
	}
	odd, err := api.DescribeInstances(ctx, region, ecsx.InstanceQuery{Tags: map[string]string{"n": "1"}})
	if err != nil || len(odd) != 115 {
		t.Errorf("tag filter: %d instances, %v; want 115", len(odd), err)
	}
	var ids []string
	for i := range 150 {
		ids = append(ids, fmt.Sprintf("i-sz-%03d", i))
	}
	byID, err := api.DescribeInstances(ctx, region, ecsx.InstanceQuery{IDs: ids})
	if err != nil || len(byID) != 150 {
		t.Errorf("by 150 ids: %d instances, %v", len(byID), err)
	}

	id, err := api.CreateImage(ctx, region, ecsx.CreateImageInput{InstanceID: "i-sz-000", Name: "img-000", ClientToken: "tok-000",
		Tags: map[string]string{"ecs-dr:policy": "p"}})
	if err != nil {
		t.Fatal(err)
	}
	again, err := api.CreateImage(ctx, region, ecsx.CreateImageInput{InstanceID: "i-sz-000", Name: "img-000", ClientToken: "tok-000",
		Tags: map[string]string{"ecs-dr:policy": "p"}})
	if err != nil || again != id {
		t.Errorf("same ClientToken: %q, %v; want %q", again, err, id)
	}
	if imgs, _ := api.DescribeImages(ctx, region, ecsx.ImageQuery{IDs: []string{id}}); len(imgs) != 0 {
		t.Errorf("default Status hid nothing: %+v (Creating must be invisible without Statuses)", imgs)
	}
	imgs, err := api.DescribeImages(ctx, region, ecsx.ImageQuery{IDs: []string{id}, Statuses: ecsx.AllImageStatuses})
	if err != nil || len(imgs) != 1 || imgs[0].Status != ecsx.StatusCreating || imgs[0].Tags["ecs-dr:policy"] != "p" {
		t.Fatalf("all statuses: %+v, %v", imgs, err)
	}
	env.Clock.Advance(time.Hour)
	imgs, err = api.DescribeImages(ctx, region, ecsx.ImageQuery{Tags: map[string]string{"ecs-dr:policy": "p"}})
	if err != nil || len(imgs) != 1 || imgs[0].Status != ecsx.StatusAvailable || len(imgs[0].Snapshots) == 0 || imgs[0].Created.IsZero() {
		t.Fatalf("after build: %+v, %v", imgs, err)
	}
	snap := imgs[0].Snapshots[0]
	if err := api.DeleteSnapshot(ctx, region, snap); ecsx.Code(err) != "SnapshotCreatedImage" || ecsx.IsRetryable(err) {
		t.Errorf("DeleteSnapshot of an image's snapshot: %v", err)
	}
	cp, err := api.CopyImage(ctx, region, ecsx.CopyImageInput{ImageID: id, DestinationRegion: "cn-beijing", Name: "img-000-copy"})
	if err != nil || !strings.HasPrefix(cp, "m-") {
		t.Fatalf("CopyImage: %q, %v", cp, err)
	}
	if err := api.DeleteImage(ctx, region, id, false); err != nil {
		t.Errorf("DeleteImage: %v", err)
	}
	if err := api.DeleteSnapshot(ctx, region, snap); err != nil {
		t.Errorf("DeleteSnapshot after the image: %v", err)
	}
	if err := api.DeleteImage(ctx, region, id, false); !ecsx.IsNotFound(err) {
		t.Errorf("second DeleteImage: %v, want NotFound", err)
	}
}

func TestEmulatorErrorsClassified(t *testing.T) {
	t.Parallel()
	api, _, env := newEmulated(t)
	ctx := context.Background()
	_, err := api.CreateImage(ctx, "cn-hangzhou", ecsx.CreateImageInput{InstanceID: "i-hz-locked-1", Name: "locked-img"})
	if ecsx.Code(err) != "InstanceLockedForSecurity" || ecsx.IsRetryable(err) {
		t.Errorf("locked instance: %v", err)
	}
	_, err = api.CopyImage(ctx, "cn-hangzhou", ecsx.CopyImageInput{ImageID: "m-nothere1", DestinationRegion: "cn-beijing", Name: "x-copy"})
	if !ecsx.IsNotFound(err) {
		t.Errorf("copy of unknown image: %v", err)
	}
	env.Faults.Set("ecs", "DescribeImages", core.FaultRule{FailNext: 1, ErrorStatus: 503})
	_, err = api.DescribeImages(ctx, "cn-hangzhou", ecsx.ImageQuery{})
	if !ecsx.IsRetryable(err) || ecsx.IsThrottled(err) {
		t.Errorf("injected 503: %v (code %q)", err, ecsx.Code(err))
	}
	env.Faults.Now = env.Clock.Now // QPS windows follow wall time; pin them to the test clock
	env.Faults.Set("ecs", "DescribeImages", core.FaultRule{QPS: 1})
	retried := ecsx.WithRetry(api, ecsx.RetryConfig{Attempts: 3, Sleep: func(context.Context, time.Duration) error {
		env.Clock.Advance(time.Second) // a throttled second recovers at the next one
		return nil
	}})
	for i := range 3 {
		if _, err := retried.DescribeImages(ctx, "cn-hangzhou", ecsx.ImageQuery{}); err != nil {
			t.Errorf("call %d under QPS 1 with back-off: %v", i, err)
		}
	}
	if _, err := api.DescribeImages(ctx, "cn-hangzhou", ecsx.ImageQuery{}); !ecsx.IsThrottled(err) {
		t.Errorf("second call in one second under QPS 1: %v, want throttled", err)
	}
}
