package ecsx_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx/ecsxtest"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
)

// conformanceTimeout is the adapter's per-request timeout in the conformance runs: long
// enough for a page of 100 on a loaded machine, short enough for the timeout rule.
const conformanceTimeout = 2 * time.Second

// localEnv is the SDK adapter on a fresh local cloud ECS (image quota raised for paging).
func localEnv(t *testing.T) ecsxtest.Env {
	t.Helper()
	env := core.NewEnv(core.NewManualClock(time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC)), nil)
	seed := ecs.DefaultSeed()
	seed.ImageQuota = 1000
	svc, err := ecs.New(env, seed)
	if err != nil {
		t.Fatal(err)
	}
	// hang holds requests of one action until the client gives up, like a hung connection.
	var hang atomic.Value
	hang.Store("")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := hang.Load().(string); a != "" && r.URL.Query().Get("Action") == a {
			<-r.Context().Done()
			return
		}
		svc.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	api, err := ecsx.NewSDK(ecsx.SDKConfig{Endpoint: strings.TrimPrefix(srv.URL, "http://"), Scheme: "HTTP", Timeout: conformanceTimeout,
		Credentials: func() (string, string, string) { return core.DefaultAccessKeyID, core.DefaultAccessKeySecret, "" }})
	if err != nil {
		t.Fatal(err)
	}
	return ecsxtest.Env{
		API: api, Region: "cn-hangzhou", Dest: "cn-beijing",
		AddInstance: func(t *testing.T, region, id, imageID string, tags map[string]string) {
			t.Helper()
			if _, err := svc.AddInstance(region, ecs.InstanceSeed{ID: id, Status: "Running", ImageID: imageID, Tags: tags,
				Disks: []ecs.DiskSeed{{Type: "system", SizeGiB: 20}}}); err != nil {
				t.Fatalf("add instance: %v", err)
			}
		},
		Settle: func(t *testing.T) {
			for range 48 { // hour by hour: a finished copy starts the next queued one
				env.Clock.Advance(time.Hour)
			}
		},
		FailImagesOf: func(t *testing.T, region, id string) {
			t.Helper()
			if err := svc.SetFailImages(region, id, true); err != nil {
				t.Fatal(err)
			}
		},
		TimeoutNext: func(t *testing.T, action string) func() {
			hang.Store(action)
			return func() { hang.Store("") }
		},
	}
}

// The ECS contract against the SDK adapter on the local cloud.
func TestSDKConformsToECSContract(t *testing.T) {
	t.Parallel()
	ecsxtest.Run(t, localEnv)
}

// broken wraps an implementation and breaks one rule on purpose.
type broken struct {
	ecsx.API
	describeImages func(ctx context.Context, region string, q ecsx.ImageQuery) ([]ecsx.Image, error)
	deleteImage    func(ctx context.Context, region, id string, force bool) error
}

func (b broken) DescribeImages(ctx context.Context, region string, q ecsx.ImageQuery) ([]ecsx.Image, error) {
	if b.describeImages != nil {
		return b.describeImages(ctx, region, q)
	}
	return b.API.DescribeImages(ctx, region, q)
}

func (b broken) DeleteImage(ctx context.Context, region, id string, force bool) error {
	if b.deleteImage != nil {
		return b.deleteImage(ctx, region, id, force)
	}
	return b.API.DeleteImage(ctx, region, id, force)
}

// The suite catches an implementation that breaks a rule: each deliberately broken
// wrapper of the SDK adapter fails exactly the rule it breaks (and the same rule passes
// on the unbroken adapter, TestSDKConformsToECSContract).
func TestConformanceSuiteCatchesBrokenImplementations(t *testing.T) {
	t.Parallel()
	rules := map[string]ecsxtest.Rule{}
	for _, r := range ecsxtest.Rules() {
		rules[r.Name] = r
	}
	for _, tc := range []struct {
		rule    string
		breakIt func(api ecsx.API) ecsx.API
	}{
		{"statuses", func(api ecsx.API) ecsx.API { // forgets the all-status listing
			return broken{API: api, describeImages: func(ctx context.Context, region string, q ecsx.ImageQuery) ([]ecsx.Image, error) {
				q.Statuses = nil
				return api.DescribeImages(ctx, region, q)
			}}
		}},
		{"paging", func(api ecsx.API) ecsx.API { // returns the first page only
			return broken{API: api, describeImages: func(ctx context.Context, region string, q ecsx.ImageQuery) ([]ecsx.Image, error) {
				out, err := api.DescribeImages(ctx, region, q)
				return out[:min(len(out), 100)], err
			}}
		}},
		{"tag filters", func(api ecsx.API) ecsx.API { // ignores tag filters
			return broken{API: api, describeImages: func(ctx context.Context, region string, q ecsx.ImageQuery) ([]ecsx.Image, error) {
				q.Tags = nil
				return api.DescribeImages(ctx, region, q)
			}}
		}},
		{"in use", func(api ecsx.API) ecsx.API { // Force-deletes images in use
			return broken{API: api, deleteImage: func(ctx context.Context, region, id string, _ bool) error {
				return api.DeleteImage(ctx, region, id, true)
			}}
		}},
		{"timeouts", func(api ecsx.API) ecsx.API { // turns transport errors into a permanent code
			return broken{API: api, describeImages: func(ctx context.Context, region string, q ecsx.ImageQuery) ([]ecsx.Image, error) {
				out, err := api.DescribeImages(ctx, region, q)
				if err != nil {
					err = ecsx.NewError("InvalidParameter", 400, err.Error())
				}
				return out, err
			}}
		}},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			t.Parallel()
			e := localEnv(t)
			e.API = tc.breakIt(e.API)
			if err := rules[tc.rule].Check(t, e); err == nil {
				t.Errorf("rule %q passed on an implementation that breaks it", tc.rule)
			} else {
				t.Logf("caught: %v", err)
			}
		})
	}
}
