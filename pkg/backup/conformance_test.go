package backup

import (
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx/ecsxtest"
)

// fakeEnv is the in-memory fake of these tests as an ecsxtest.Env.
func fakeEnv(t *testing.T) ecsxtest.Env {
	f := newFake(func() time.Time { return t0 })
	return ecsxtest.Env{
		API: f, Region: src, Dest: dstPlain,
		AddInstance: func(_ *testing.T, region, id, imageID string, tags map[string]string) {
			f.addInstance(region, ecsx.Instance{ID: id, Status: ecsx.InstanceRunning, ImageID: imageID, Tags: tags})
		},
		Settle:       func(*testing.T) { f.finishAll() },
		FailImagesOf: func(_ *testing.T, region, id string) { f.failImagesOf(region, id) },
		TimeoutNext: func(_ *testing.T, action string) func() {
			f.failNext(action, ecsxtest.TimeoutError(action))
			return func() {}
		},
	}
}

// The ECS contract (pkg/cloud/ecsx/ecsxtest) against the fake these tests rely on: the
// same rules the SDK adapter passes on the local cloud (pkg/cloud/ecsx).
func TestFakeConformsToECSContract(t *testing.T) {
	t.Parallel()
	ecsxtest.Run(t, fakeEnv)
}
